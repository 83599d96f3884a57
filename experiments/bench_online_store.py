"""Online stores side by side: our one-row-per-user SQLite store vs Feast's Redis store, in one run.

One demo workspace; for each store the same Feast repository is applied with that store
selected by settings, every user's latest row is materialized (timed), and
``features.store.online_features`` through ``churn_v1`` is timed for 1 and 100 random
known users (p50/p99 over ``--reps`` calls after ``--warmup``). Redis is a fresh
``redis-server`` on a free loopback port, started and stopped here.

    .venv/bin/python experiments/bench_online_store.py                # 20,000 users
    .venv/bin/python experiments/bench_online_store.py --quick        # CI smoke, ~1 min
    .venv/bin/python experiments/bench_online_store.py --users 100000 --json
    .venv/bin/python experiments/bench_online_store.py --doc docs/scale.md  # its table
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "churn_v1"


def _prepare(home: Path, users: int, seed: int) -> None:
    from click.testing import CliRunner

    from lifecycle.cli import main

    for args in (
        ["demo-data", "--users", str(users), "--seed", str(seed)],
        ["features", "build"],
    ):
        result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])
        if result.exit_code != 0:
            raise SystemExit(f"{args}: {result.output}")


def _latencies(call: Callable[[list[str]], Any], users: list[str], size: int, args: Any) -> dict:
    import numpy as np

    rng = np.random.default_rng(args.seed)
    samples = []
    for i in range(args.warmup + args.reps):
        batch = [users[j] for j in rng.choice(len(users), size, replace=False)]
        began = time.perf_counter_ns()
        call(batch)
        if i >= args.warmup:
            samples.append((time.perf_counter_ns() - began) / 1e6)
    values = np.asarray(samples)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
    }


def measure(home: Path, environ: dict[str, str], args: Any) -> dict[str, Any]:
    """Apply, materialize and look up with the store the settings select."""
    from features import contract as c
    from features.store import (
        apply,
        latest_feature_rows,
        materialize,
        online_features,
        open_store,
        store_paths,
    )
    from lifecycle.settings import load_settings

    settings = load_settings(home=home, environ=environ)
    apply(settings)
    began = time.perf_counter()
    done = materialize(settings)
    seconds = time.perf_counter() - began
    store = open_store(settings)
    users = latest_feature_rows(store_paths(settings))[c.USER_ID].tolist()
    found = online_features(store, users[:100], SERVICE).found
    if not found.all():
        raise SystemExit(
            f"{settings.feast.online_store}: {int((~found).sum())} known users missing"
        )
    result: dict[str, Any] = {"materialize_s": round(seconds, 2), "users": done["users"]}
    for size in (1, 100):
        result[f"x{size}"] = _latencies(
            lambda batch: online_features(store, batch, SERVICE), users, size, args
        )
    return result


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's table: materialize time and lookup latency per store, and the ratios."""
    from docblocks import measured_on

    sqlite, redis = results["sqlite"], results["redis"]
    lines = [
        f"{measured_on(results['machine'])}, {results['users']:,} demo users, "
        f"{results['reps']} lookups per size through `{SERVICE}`:",
        "",
        "| store | materialize | 1 user p50 / p99 | 100 users p50 / p99 |",
        "|---|---:|---:|---:|",
    ]
    for label, r in (
        ("SQLite (our bulk path)", sqlite),
        ("Redis (Feast's layout, a user per HSET)", redis),
    ):
        lines.append(
            f"| {label} | {r['materialize_s']:.2f} s | {r['x1']['p50_ms']:.2f} / "
            f"{r['x1']['p99_ms']:.2f} ms | {r['x100']['p50_ms']:.1f} / {r['x100']['p99_ms']:.1f} ms |"
        )
    lines += [
        "",
        f"Redis against SQLite in this run: materialize {redis['materialize_s'] / sqlite['materialize_s']:.1f}x,"
        f" 1-user lookup p50 {redis['x1']['p50_ms'] / sqlite['x1']['p50_ms']:.1f}x, 100-user lookup p50 "
        f"{redis['x100']['p50_ms'] / sqlite['x100']['p50_ms']:.1f}x.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2,000 users, 50 reps (CI smoke)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.reps, args.warmup = 2_000, 50, 5
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    sys.path.insert(0, str(ROOT / "tests"))
    from docblocks import machine, record, shown_command
    from services import redis_server  # the same launcher the tests use

    results: dict[str, Any] = {"machine": machine(), "users": args.users, "reps": args.reps}
    with tempfile.TemporaryDirectory(prefix="bench-online-") as tmp:
        home = Path(tmp) / "workspace"
        began = time.perf_counter()
        _prepare(home, args.users, args.seed)
        results["setup_s"] = round(time.perf_counter() - began, 1)
        results["sqlite"] = measure(home, {}, args)
        with redis_server(Path(tmp) / "redis") as connection:
            results["redis"] = measure(
                home,
                {
                    "LIFECYCLE_FEAST__ONLINE_STORE": "redis",
                    "LIFECYCLE_FEAST__REDIS_CONNECTION": connection,
                },
                args,
            )
    if args.doc:
        command = shown_command("bench_online_store.py", argv)
        record(
            args.doc, "bench_online_store", "bench_online_store.py", command, results, render_doc
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"online stores, {args.users:,} users, {args.reps} lookups per size, service {SERVICE}")
    print(
        f"{'store':8} {'materialize s':>13} {'x1 p50':>8} {'x1 p99':>8} {'x100 p50':>9} {'x100 p99':>9}"
    )
    for name in ("sqlite", "redis"):
        r = results[name]
        print(
            f"{name:8} {r['materialize_s']:>13.2f} {r['x1']['p50_ms']:>8.2f} {r['x1']['p99_ms']:>8.2f}"
            f" {r['x100']['p50_ms']:>9.2f} {r['x100']['p99_ms']:>9.2f}   (ms)"
        )


if __name__ == "__main__":
    main()
