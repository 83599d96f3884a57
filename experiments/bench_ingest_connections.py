"""Benchmark one ingest's DuckDB connections: one per ingest against one per step.

An ingest opened a DuckDB connection for each step (the file's whole-table rules, the
event types, the amounts, the refund and currency columns, the users meeting the events,
an append's merge, its ids spelt apart, the dataset's range): ~15 ms of CPU each, 5 for a
fresh ingest and 9 for an append. Each step now works in a cursor (0.15 ms) of the
ingest's one connection (``features.duckdb_memory.cursor``). The baseline, in the same
process and run, is the same code with every step's cursor replaced by a connection of its
own, as before: the runs alternate, and each reports the median CPU seconds
(``time.process_time``) of ``lifecycle ingest``'s function over ``--runs`` runs.

- ``fresh``: a synthetic 10,000-row events CSV (``bench_ingest_stream.write_events_csv``)
  ingested into a new dataset;
- ``append``: a 200-row file of other users and days appended to that dataset (the
  dataset ingested again before each run, untimed);
- ``users``: the fresh ingest with a users file of its users (a sign-up time, a channel,
  a plan and an email), as `lifecycle ingest --users` runs it: the users' attributes judged
  as features too (``features.identifiers.users_file_not_features``), which opened a
  connection of its own until 2026-12-07 and now works in the ingest's.

    python experiments/bench_ingest_connections.py [--rows 10000] [--runs 7]
    python experiments/bench_ingest_connections.py --doc docs/benchmarks.md   # into the doc
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def _counted(opened: list[int]) -> Iterator[None]:
    """Count the connections DuckDB opens (the real ones, counted)."""
    import duckdb

    real = duckdb.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened[0] += 1
        return real(*args, **kwargs)

    duckdb.connect = counting
    try:
        yield
    finally:
        duckdb.connect = real


def bench(rows: int, runs: int, folder: Path) -> dict[str, Any]:
    from bench_ingest_stream import write_events_csv

    from features.ingest import ingest_events

    events, later, users = folder / "events.csv", folder / "later.csv", folder / "users.csv"
    write_events_csv(events, rows)
    write_events_csv(later, 200, seed=11)
    write_users_csv(users, max(rows // 40, 10))
    datasets = folder / "datasets"
    ingest_events(events, datasets / "warm")  # imports and first calls, untimed
    samples: dict[str, dict[str, list[float]]] = {}
    connections: dict[str, dict[str, int]] = {}
    for i in range(runs):
        for variant in ("one connection", "connection per step"):
            patch = _patched() if variant == "connection per step" else contextlib.nullcontext()
            with patch:
                for case in ("fresh", "append", "users"):
                    dataset = datasets / f"{case}-{i}-{variant.split()[0]}"
                    if case == "append":
                        ingest_events(events, dataset)
                    opened = [0]
                    with _counted(opened):
                        started = time.process_time()
                        if case == "fresh":
                            ingest_events(events, dataset)
                        elif case == "users":  # the command's settings: none allowed, none out
                            ingest_events(events, dataset, users_path=users, attributes=((), ()))
                        else:
                            ingest_events(later, dataset, mode="append")
                        spent = time.process_time() - started
                    samples.setdefault(case, {}).setdefault(variant, []).append(spent)
                    connections.setdefault(case, {})[variant] = opened[0]
                    shutil.rmtree(datasets, ignore_errors=True)
    check = _users_check(events, users, folder / "checked", runs)
    cases = []
    for case, by_variant in samples.items():
        new = statistics.median(by_variant["one connection"])
        old = statistics.median(by_variant["connection per step"])
        cases.append(
            {
                "case": case,
                "rows": 200 if case == "append" else rows,
                "connections_before": connections[case]["connection per step"],
                "connections_now": connections[case]["one connection"],
                "cpu_before": round(old, 3),
                "cpu_now": round(new, 3),
                "ratio": round(new / old, 2),
            }
        )
    return {"runs": runs, "cases": cases, "users_check": check}


def _users_check(events: Path, users: Path, dataset: Path, runs: int) -> dict[str, float]:
    """CPU milliseconds of the users' attributes judged as features alone, in a connection
    of its own (before) and in a cursor of an open one (now), medians of 5 x ``runs``."""
    import duckdb

    from features.identifiers import users_file_not_features
    from features.ingest import ingest_events

    ingest_events(events, dataset, users_path=users)
    table = dataset / "users.parquet"
    spent: dict[str, list[float]] = {"before": [], "now": []}
    with duckdb.connect() as con:
        for _ in range(5 * runs):
            for way, given in (("before", None), ("now", con)):
                started = time.process_time()
                users_file_not_features(table, con=given)
                spent[way].append(time.process_time() - started)
    before, now = (statistics.median(spent[w]) * 1000 for w in ("before", "now"))
    return {"ms_before": round(before, 1), "ms_now": round(now, 1)}


def write_users_csv(path: Path, users: int) -> None:
    """A users file of ``write_events_csv``'s users u1..uN."""
    lines = ["user_id,signup_time,channel,plan,email"]
    for i in range(1, users + 1):
        plan, channel = ("free", "pro")[i % 2], ("ads", "organic", "referral")[i % 3]
        lines.append(f"u{i},2022-{i % 12 + 1:02d}-01,{channel},{plan},user{i}@example.com")
    path.write_text("\n".join(lines) + "\n")


def _patched() -> contextlib.AbstractContextManager[None]:
    """The baseline: every step's cursor a connection of its own, as before 2026-12-07 (the
    file's rules run in a cursor of the ingest's connection, as they ran in one of theirs)."""
    import features.duckdb_memory as memory

    stack = contextlib.ExitStack()
    real = memory.cursor

    @contextlib.contextmanager
    def own(con: Any) -> Iterator[Any]:
        import duckdb

        with duckdb.connect() as fresh:
            yield fresh

    for module in list(sys.modules.values()):  # duckdb_memory itself: a step importing late
        if getattr(module, "__name__", "").startswith("features.") and (
            getattr(module, "cursor", None) is real
        ):
            stack.enter_context(_swapped(module, "cursor", own))
    return stack


@contextlib.contextmanager
def _swapped(module: Any, name: str, value: Any) -> Iterator[None]:
    held = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, held)


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    lines = [
        "| ingest | rows | connections before | now | CPU s before | now | now / before |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in document["cases"]:
        lines.append(
            f"| {case['case']} | {case['rows']:,} | {case['connections_before']} | "
            f"{case['connections_now']} | {case['cpu_before']:.3f} | {case['cpu_now']:.3f} | "
            f"**{case['ratio']:.2f}** |"
        )
    lines += [
        "",
        f"Median CPU seconds (`time.process_time`) of `lifecycle ingest`'s function over "
        f"{document['runs']} alternating runs, {measured_on(document['machine'])}; "
        '"before" is the same code with each step in a connection of its own. Of the users '
        "case, the users' attributes judged as features took "
        f"{document['users_check']['ms_before']:.1f} ms of CPU in a connection of their own "
        f"(`ingest --users` before 2026-12-07), {document['users_check']['ms_now']:.1f} ms "
        "in a cursor of the ingest's.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine, parse_arguments, record_run

    args = parse_arguments(parser, argv, runs=7)

    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-connections-") as tmp:
        document = {"machine": measured_from, **bench(args.rows, args.runs, Path(tmp))}
    for case in document["cases"]:
        print(
            f"{case['case']:>6} ({case['rows']:,} rows): {case['connections_before']} -> "
            f"{case['connections_now']} connections, CPU {case['cpu_before']:.3f} s -> "
            f"{case['cpu_now']:.3f} s: {case['ratio']:.2f}x the baseline"
        )
    check = document["users_check"]
    print(
        f"the users' attributes judged: {check['ms_before']:.1f} ms CPU in a connection of "
        f"their own -> {check['ms_now']:.1f} ms in a cursor of the ingest's "
        f"({check['ms_now'] / check['ms_before']:.2f}x)"
    )
    if args.doc:
        record_run("bench_ingest_connections.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
