"""Benchmark the feature store: feature engineering, Feast retrieval vs plain joins, online store.

Steps, each in its own subprocess, so its peak RSS and CPU are its own (``--one-child``: shared):

1. ``compute_features`` of the demo users at monthly cutoffs (the last ``--cutoffs`` month
   starts followed by a full month of observed events);
2. Feast historical retrieval (``historical_features`` through ``churn_v1``) of every
   (user_id, as_of) row of that feature table, through our ASOF offline store (the
   default) and through Feast's own DuckDB (ibis) offline store;
3. same-run baselines producing the same rows and columns: a DuckDB ``ASOF LEFT JOIN``
   and a pandas ``merge_asof``, TTL applied as Feast does; values are checked cell by
   cell against both Feast retrievals (NaN == NaN); and scoring one date (the latest
   cutoff's users only) through both offline stores, checked against each other (ours reads
   only the source rows such a request can reach);
4. materializing every user's latest row into our one-row-per-user SQLite online store
   and into Feast's stock one, each into a fresh online db;
5. online lookup latency (1 and 100 random known users) from our store, through
   ``online_features`` and through Feast's ``get_online_features``.

    .venv/bin/python experiments/bench_feature_store.py [--users 100000] [--cutoffs 12] [--json]
    .venv/bin/python experiments/bench_feature_store.py --users 2000 --cutoffs 3   # CI smoke, < 60 s
    .venv/bin/python experiments/bench_feature_store.py --doc docs/benchmarks.md   # into the doc

The table goes to stdout; with ``--json`` it goes to stderr and stdout gets the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.workspace import EVENTS_FILE, USERS_FILE

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "churn_v1"
STORES = {"rows": "sqlite", "feast": "sqlite-feast"}  # online store kinds, by home suffix
LATEST = ("feast_asof_latest", "feast_ibis_latest")  # scoring one date: ours, Feast's

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.settings import Settings


# --- measuring (runs in the children) -------------------------------------------------------


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


class Probe:
    """Collects one step's numbers: RSS once imports are done, timings, counts."""

    def __init__(self) -> None:
        self.result: dict[str, Any] = {}

    def imported(self) -> None:
        self.result["import_rss_mb"] = round(_peak_rss_mb(), 1)

    @contextmanager
    def timed(self, key: str = "seconds") -> Iterator[None]:
        began = time.perf_counter()
        yield
        self.result[key] = round(time.perf_counter() - began, 3)


class Run:
    """Paths and parameters shared by parent and children."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(args.workdir)
        self.demo = self.workdir / "demo"
        self.out = self.workdir / "out"
        self.results = self.workdir / "results"

    def home(self, store: str = "rows") -> Path:
        return self.workdir / f"home-{store}"

    def settings(self, store: str = "rows", offline: str = "duckdb-asof") -> Settings:
        from lifecycle.settings import load_settings

        return load_settings(
            environ={},
            home=self.home(store),
            feast={"online_store": STORES[store], "offline_store": offline},
        )

    def feature_table(self, store: str = "rows") -> Path:
        from features.store import store_paths

        return store_paths(self.settings(store)).feature_table


def matured_cutoffs(start: str, days: int, count: int) -> list[Any]:
    """The last ``count`` month starts after ``start`` followed by a full month of observed events."""
    import pandas as pd

    begin = pd.Timestamp(start, tz="UTC")
    end = begin + pd.Timedelta(days=days)
    starts = pd.date_range(begin + pd.Timedelta(days=1), end, freq="MS")
    matured = [t for t in starts if t + pd.DateOffset(months=1) <= end]
    if len(matured) < count:
        raise SystemExit(f"only {len(matured)} matured month starts in {days} days, asked {count}")
    return matured[-count:]


def _entity_rows(table: Path) -> pd.DataFrame:
    """Every (user_id, as_of) of the feature table: the rows the retrievals are asked for."""
    import pyarrow.parquet as pq

    from features import contract as c
    from features.asof import AS_OF

    rows = pq.read_table(table, columns=[c.USER_ID, AS_OF]).to_pandas()
    rows[AS_OF] = rows[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return rows


def step_demo(run: Run, probe: Probe) -> None:
    from features.demo import generate_demo

    probe.imported()
    with probe.timed():
        summary = generate_demo(run.args.users, run.args.seed, run.demo, days=run.args.days)
    probe.result |= {"rows": summary.events, "note": f"{summary.users:,} users, events"}


def step_features(run: Run, probe: Probe) -> None:
    import duckdb

    from features.asof import compute_features

    probe.imported()
    cutoffs = matured_cutoffs("2024-01-01", run.args.days, run.args.cutoffs)
    table = run.feature_table()
    with probe.timed():
        compute_features(
            run.demo / EVENTS_FILE,
            cutoffs,
            users=run.demo / USERS_FILE,
            out=table,
        )
    rows, users = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT user_id) FROM read_parquet('{table}')")
        .fetchone()
    )
    probe.result |= {
        "rows": rows,
        "users": users,
        "cutoffs": [f"{t:%Y-%m-%d}" for t in cutoffs],
        "note": f"{len(cutoffs)} cutoffs {cutoffs[0]:%Y-%m-%d}..{cutoffs[-1]:%Y-%m-%d}",
    }


def step_apply(run: Run, probe: Probe) -> None:
    """Fresh registry and online db for both stores (the second home shares the table file)."""
    from features.feast_loader import load_feast
    from features.store import apply

    load_feast()
    probe.imported()
    source = run.feature_table()
    for store in STORES:
        shutil.rmtree(run.home(store) / "feast", ignore_errors=True)
        target = run.feature_table(store)
        if target != source:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            os.link(source, target)
        with probe.timed(f"{store}_seconds"):
            summary = apply(run.settings(store))
    probe.result |= {
        "seconds": probe.result["rows_seconds"],
        "note": f"views {', '.join(summary['feature_views'])}",
    }


def step_feast_historical(
    run: Run, probe: Probe, offline: str, name: str, latest: bool = False
) -> None:
    """``historical_features`` through the given offline store; output ``out/<name>.parquet``.
    ``latest``: only the latest cutoff's rows, as scoring asks."""
    from features.asof import AS_OF
    from features.feast_loader import load_feast
    from features.store import historical_features, open_store

    load_feast()
    probe.imported()
    with probe.timed("open_seconds"):
        store = open_store(run.settings(offline=offline))
    entity_rows = _entity_rows(run.feature_table())
    if latest:
        entity_rows = entity_rows[entity_rows[AS_OF] == entity_rows[AS_OF].max()]
    with probe.timed():
        got = historical_features(store, entity_rows, SERVICE)
    got.frame.to_parquet(run.out / f"{name}.parquet")
    probe.result |= {
        "rows_in": len(entity_rows),
        "rows": len(got.frame),
        "rows_without_features": got.missing,
        "feature_names": got.feature_names,
        "note": f"{SERVICE}: {len(got.feature_names)} features, {got.missing} rows without features",
    }


def _stored_columns(table: Path) -> list[str]:
    import pyarrow.parquet as pq

    from features import contract as c
    from features.asof import AS_OF

    return [n for n in pq.read_schema(table).names if n not in (c.USER_ID, AS_OF)]


def step_duckdb_asof(run: Run, probe: Probe) -> None:
    """The plain join, TTL as Feast applies it (a row exactly TTL old still counts), in SQL."""
    import duckdb

    from features import contract as c
    from features.asof import AS_OF

    probe.imported()
    table = run.feature_table()
    entity_rows = _entity_rows(table)
    ttl_days = run.settings().feast.ttl_days
    fresh = f"f.{AS_OF} >= e.{AS_OF} - INTERVAL {ttl_days} DAY"
    stored = ", ".join(
        f'CASE WHEN {fresh} THEN f."{n}" END AS "{n}"' for n in _stored_columns(table)
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("entity_rows", entity_rows)
    sql = f"""
        SELECT e.{c.USER_ID}, e.{AS_OF}, {stored}
        FROM entity_rows e ASOF LEFT JOIN read_parquet('{table}') f
        ON e.{c.USER_ID} = f.{c.USER_ID} AND e.{AS_OF} >= f.{AS_OF}"""
    with probe.timed():
        frame = con.execute(sql).df()
    frame.to_parquet(run.out / "duckdb.parquet")
    probe.result |= {"rows_in": len(entity_rows), "rows": len(frame), "note": "ASOF LEFT JOIN"}


def step_pandas_asof(run: Run, probe: Probe) -> None:
    import pandas as pd

    from features import contract as c
    from features.asof import AS_OF

    probe.imported()
    table = run.feature_table()
    entity_rows = _entity_rows(table)
    ttl = pd.Timedelta(days=run.settings().feast.ttl_days)
    with probe.timed():
        with probe.timed("read_seconds"):
            features = pd.read_parquet(table)
            features[AS_OF] = features[AS_OF].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        frame = pd.merge_asof(
            entity_rows.sort_values(AS_OF, kind="stable"),
            features.sort_values(AS_OF, kind="stable"),
            on=AS_OF,
            by=c.USER_ID,
            tolerance=ttl,
            direction="backward",
        )
    frame.to_parquet(run.out / "pandas.parquet")
    probe.result |= {"rows_in": len(entity_rows), "rows": len(frame), "note": "merge_asof"}


def _mismatches(left: pd.DataFrame, right: pd.DataFrame, columns: list[str]) -> dict[str, int]:
    """Cells that differ per column (NaN/None equal each other); both frames row-aligned."""
    import numpy as np
    import pandas as pd

    counts = {}
    for name in columns:
        if name not in left or name not in right:
            counts[name] = len(left)
            continue
        a, b = left[name], right[name]
        if pd.api.types.is_numeric_dtype(a) or pd.api.types.is_numeric_dtype(b):
            x = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            x, y = a.astype(object), b.astype(object)
            same = (x.isna() & y.isna()) | (x == y).fillna(False).astype(bool)
        counts[name] = int((~np.asarray(same)).sum())
    return {k: v for k, v in counts.items() if v}


def step_verify(run: Run, probe: Probe) -> None:
    """Both Feast retrievals and pandas vs DuckDB, and the two stores' scoring of one date
    against each other: same keys, same values cell by cell."""
    import pandas as pd

    from features import contract as c
    from features.asof import AS_OF

    probe.imported()
    names = json.loads((run.results / "feast_asof.json").read_text())["feature_names"]
    keys = [c.USER_ID, AS_OF]
    frames = {}
    for name in ("feast_asof", "feast_ibis", "duckdb", "pandas", *LATEST):
        frame = pd.read_parquet(run.out / f"{name}.parquet")
        frame[AS_OF] = pd.to_datetime(frame[AS_OF], utc=True).astype("datetime64[us, UTC]")
        frames[name] = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    pairs = [(n, "duckdb") for n in ("feast_asof", "feast_ibis", "pandas")]
    for name, against in [*pairs, LATEST]:
        base, other = frames[against], frames[name]
        same_keys = len(other) == len(base) and bool((other[keys] == base[keys]).all(axis=None))
        bad = _mismatches(other, base, names) if same_keys else {"<rows differ>": len(other)}
        probe.result[f"{name}_vs_{against}"] = {
            "same_rows": same_keys,
            "cells": len(base) * len(names),
            "mismatching_cells": sum(bad.values()),
            "by_column": bad,
        }
    probe.result |= {
        "rows": len(frames["duckdb"]),
        "note": f"{len(names)} columns compared",
    }


def step_materialize(run: Run, probe: Probe, store: str) -> None:
    import sqlite3

    from features.feast_loader import load_feast
    from features.store import materialize, store_paths

    load_feast()
    probe.imported()
    settings = run.settings(store)
    with probe.timed():
        summary = materialize(settings)
    with sqlite3.connect(store_paths(settings).online_db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    layout = "(user, view) rows" if store == "rows" else "(user, feature) rows"
    probe.result |= {
        "rows": summary["users"],
        "online_rows": rows,
        "users_per_second": round(summary["users"] / probe.result["seconds"]),
        "note": f"{STORES[store]}: {rows:,} {layout}",
    }


def _latencies(call: Callable[[list[str]], Any], users: list[str], size: int, run: Run) -> dict:
    import numpy as np

    rng = np.random.default_rng(run.args.seed)
    samples = []
    for i in range(run.args.warmup + run.args.reps):
        batch = [users[j] for j in rng.choice(len(users), size, replace=False)]
        began = time.perf_counter_ns()
        call(batch)
        if i >= run.args.warmup:
            samples.append((time.perf_counter_ns() - began) / 1e6)
    values = np.asarray(samples)
    return {
        "users": size,
        "reps": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
    }


def step_online(run: Run, probe: Probe) -> None:
    """Lookup latency from our store, plus parity of 100 users with the feature table."""
    import duckdb

    from features import contract as c
    from features.feast_loader import load_feast
    from features.store import online_features, open_store, service, store_paths

    load_feast()
    probe.imported()
    settings = run.settings()
    store = open_store(settings)
    table = store_paths(settings).feature_table
    latest = duckdb.sql(
        f"SELECT * FROM read_parquet('{table}') "
        "QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY as_of DESC) = 1"
    ).df()
    users = latest[c.USER_ID].tolist()
    feature_service = service(store, SERVICE)
    refs = [
        f"{p.name_to_use()}:{f.name}"
        for p in feature_service.feature_view_projections
        for f in p.features
    ]

    def rows(batch: list[str]) -> list[dict[str, str]]:
        return [{c.USER_ID: u} for u in batch]

    variants: dict[str, Callable[[list[str]], Any]] = {
        "online_features(service)": lambda b: online_features(store, b, SERVICE),
        "get_online_features(service)": lambda b: store.get_online_features(
            features=feature_service, entity_rows=rows(b)
        ).to_dict(),
        "get_online_features(refs)": lambda b: store.get_online_features(
            features=refs, entity_rows=rows(b)
        ).to_dict(),
    }
    probe.result["latency"] = {
        f"{name} x{size}": _latencies(call, users, size, run)
        for name, call in variants.items()
        for size in (1, 100)
    }
    sample = latest.sample(min(100, len(latest)), random_state=run.args.seed).reset_index(drop=True)
    got = online_features(store, sample[c.USER_ID].tolist(), SERVICE)
    names = [n for n in got.frame.columns if n != c.USER_ID]
    bad = _mismatches(got.frame, sample, names)
    probe.result |= {
        "rows": len(users),
        "parity_users": len(sample),
        "parity_found": int(got.found.sum()),
        "parity_mismatching_cells": sum(bad.values()),
        "parity_by_column": bad,
        "note": f"{len(refs)} features; online == latest offline row for {len(sample)} users: "
        f"{sum(bad.values())} mismatching cells",
    }


STEPS: dict[str, tuple[str, Callable[[Run, Probe], None]]] = {
    "demo": ("setup: generate_demo", step_demo),
    "features": ("1 compute_features", step_features),
    "apply": ("setup: feast apply", step_apply),
    "feast_asof": (
        "2 Feast historical, ASOF store",
        lambda run, probe: step_feast_historical(run, probe, "duckdb-asof", "feast_asof"),
    ),
    "feast_ibis": (
        "2 Feast historical, Feast's duckdb",
        lambda run, probe: step_feast_historical(run, probe, "duckdb", "feast_ibis"),
    ),
    "feast_asof_latest": (
        "2 scoring one date, ASOF store",
        lambda run, probe: step_feast_historical(run, probe, "duckdb-asof", LATEST[0], True),
    ),
    "feast_ibis_latest": (
        "2 scoring one date, Feast's duckdb",
        lambda run, probe: step_feast_historical(run, probe, "duckdb", LATEST[1], True),
    ),
    "duckdb_asof": ("3 DuckDB ASOF LEFT JOIN", step_duckdb_asof),
    "pandas_asof": ("3 pandas merge_asof", step_pandas_asof),
    "verify": ("3 verify Feast/pandas vs DuckDB", step_verify),
    "materialize_rows": (
        "4 materialize, row-per-user sqlite",
        lambda run, probe: step_materialize(run, probe, "rows"),
    ),
    "materialize_feast": (
        "4 materialize, Feast sqlite",
        lambda run, probe: step_materialize(run, probe, "feast"),
    ),
    "online": ("5 online lookups (our store)", step_online),
}


def child(run: Run, step: str) -> None:
    """Run one step in this (fresh) interpreter and write its numbers to ``results/<step>.json``."""
    sys.path.insert(0, str(ROOT))
    probe = Probe()
    STEPS[step][1](run, probe)
    probe.result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    (run.results / f"{step}.json").write_text(json.dumps(probe.result, indent=2, default=str))


# --- orchestrating and reporting (the parent) -----------------------------------------------


def run_steps(run: Run, steps: list[str], argv: list[str]) -> dict[str, dict[str, Any]]:
    """``steps`` in one fresh interpreter (one step each, but for ``--one-child``)."""
    for step in steps:
        print(f"... {STEPS[step][0]}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            *argv,
            "--child",
            ",".join(steps),
            "--workdir",
            str(run.workdir),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-8000:])
        raise SystemExit(f"step(s) {steps} failed with exit code {completed.returncode}")
    took = round(time.perf_counter() - began, 2)
    results = {step: json.loads((run.results / f"{step}.json").read_text()) for step in steps}
    return {step: result | {"process_seconds": took} for step, result in results.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000, help="demo users [100000]")
    parser.add_argument("--cutoffs", type=int, default=12, help="monthly cutoffs [12]")
    parser.add_argument("--days", type=int, default=730, help="demo days of history [730]")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reps", type=int, help="timed online lookups per case [300; 50 below 10,000 users]"
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed online lookups first")
    parser.add_argument("--workdir", help="kept; default a temporary directory, removed after")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    parser.add_argument("--doc", type=Path, help="write the tables into this doc's block")
    parser.add_argument(
        "--one-child",
        action="store_true",
        help="every step in one child process, Feast imported once (the test's smoke run): "
        "quicker, but a step's peak RSS is then the run's so far, not its own",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # its steps, comma-separated
    args = parser.parse_args(argv)
    if args.one_child and args.doc:
        parser.error("--one-child measures no step's own peak RSS: not for --doc")
    if args.reps is None:  # the smoke size stays under a minute
        args.reps = 300 if args.users >= 10_000 else 50
    if args.child:
        for step in args.child.split(","):
            child(Run(args), step)
        return
    scratch = None
    if args.workdir is None:
        scratch = tempfile.mkdtemp(prefix="bench-feature-store-")
        args.workdir = scratch
    run = Run(args)
    run.out.mkdir(parents=True, exist_ok=True)
    run.results.mkdir(parents=True, exist_ok=True)
    passed = [
        *("--users", str(args.users), "--cutoffs", str(args.cutoffs), "--days", str(args.days)),
        *("--seed", str(args.seed), "--reps", str(args.reps), "--warmup", str(args.warmup)),
    ]
    from docblocks import machine, record, shown_command

    meta = machine()
    try:
        began = time.perf_counter()
        groups = [list(STEPS)] if args.one_child else [[step] for step in STEPS]
        results = {k: v for group in groups for k, v in run_steps(run, group, passed).items()}
        total = round(time.perf_counter() - began, 1)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    from bench_feature_store_summary import report, summarize

    summary = summarize(results)
    labels = {step: label for step, (label, _) in STEPS.items()}
    report(results, summary, args, sys.stderr if args.json else sys.stdout, labels)
    shared = (
        " (--one-child: peak RSS is the run's so far, not each step's)" if args.one_child else ""
    )
    print(
        f"\ntotal {total} s, workdir {args.workdir}{' (removed)' if scratch else ''}{shared}",
        file=sys.stderr if args.json else sys.stdout,
    )
    parameters = {k: v for k, v in vars(args).items() if k not in ("child", "json", "workdir")}
    document = {"parameters": parameters, "steps": results, **summary, "total_seconds": total}
    if args.json:
        print(json.dumps(document, indent=2, default=str))
    if args.doc:
        command = shown_command("bench_feature_store.py", argv)
        document = json.loads(json.dumps(document | {"machine": meta}, default=str))
        from bench_feature_store_doc import render_doc

        record(
            args.doc,
            "bench_feature_store",
            "bench_feature_store.py",
            command,
            document,
            render_doc,
            renderer="bench_feature_store_doc",
        )


if __name__ == "__main__":
    main()
