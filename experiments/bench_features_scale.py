"""Offline features at scale: 1M demo users, tens of millions of events, never one pandas frame.

Steps, each in its own subprocess so its peak RSS (``ru_maxrss``) is its own:

1. ``generate_demo`` writes users and events Parquet (streamed in weekly batches);
2. ``compute_features(events.parquet, cutoffs, users=users.parquet, out=...)`` runs in
   DuckDB over the Parquet files with ``memory_limit`` set (spilling to a temp directory
   when needed) and writes the feature table straight to Parquet.

    .venv/bin/python experiments/bench_features_scale.py                      # 1M users, 3 cutoffs
    .venv/bin/python experiments/bench_features_scale.py --quick              # 20k users (CI smoke)
    .venv/bin/python experiments/bench_features_scale.py --memory-limit 1GB --keep /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lifecycle.workspace import EVENTS_FILE, USERS_FILE

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def step_demo(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from features.demo import generate_demo

    began = time.perf_counter()
    summary = generate_demo(args.users, args.seed, work / "demo")
    return {
        "seconds": round(time.perf_counter() - began, 1),
        "users": summary.users,
        "events": summary.events,
        "events_mb": round(summary.events_path.stat().st_size / 2**20, 1),
    }


def step_features(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    from features.asof import compute_features, connect

    end = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=1095)  # the demo's default
    starts = pd.date_range(end - pd.DateOffset(months=args.cutoffs + 1), end, freq="MS")
    cutoffs = [t for t in starts if t + pd.DateOffset(months=1) <= end][-args.cutoffs :]
    con = connect()
    spill = work / "duckdb_spill"
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET temp_directory = '{spill}'")
    out = work / "features.parquet"
    began = time.perf_counter()
    compute_features(
        work / "demo" / EVENTS_FILE,
        cutoffs,
        users=work / "demo" / USERS_FILE,
        out=out,
        con=con,
    )
    seconds = time.perf_counter() - began
    rows, users = con.execute(
        f"SELECT count(*), count(DISTINCT user_id) FROM read_parquet('{out}')"
    ).fetchone()
    return {
        "seconds": round(seconds, 1),
        "cutoffs": [f"{t:%Y-%m-%d}" for t in cutoffs],
        "rows": rows,
        "users": users,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "table_mb": round(out.stat().st_size / 2**20, 1),
    }


STEPS = {"demo": step_demo, "features": step_features}


def child(step: str, work: Path, args: argparse.Namespace) -> None:
    result = STEPS[step](work, args)
    result["peak_rss_mb"] = round(_peak_rss_mb())
    print(json.dumps(result))


def run_step(step: str, work: Path, argv: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, *argv, "--child", step, "--work", str(work)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cutoffs", type=int, default=3, help="last N matured month starts")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20,000 users (CI smoke)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.users = 20_000
    if args.child:
        child(args.child, args.work, args)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    forwarded = [a for a in argv if a not in ("--json",)]
    try:
        results = {step: run_step(step, work, forwarded) for step in STEPS}
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    demo, features = results["demo"], results["features"]
    print(
        f"demo: {demo['users']:,} users, {demo['events']:,} events ({demo['events_mb']} MB Parquet)"
    )
    print(f"{'step':10} {'seconds':>8} {'peak RSS MB':>12}  note")
    print(f"{'demo':10} {demo['seconds']:>8.1f} {demo['peak_rss_mb']:>12,}  generate_demo")
    print(
        f"{'features':10} {features['seconds']:>8.1f} {features['peak_rss_mb']:>12,}  "
        f"{features['rows']:,} rows x {len(features['cutoffs'])} cutoffs "
        f"({features['cutoffs'][0]}..{features['cutoffs'][-1]}), DuckDB memory_limit "
        f"{features['memory_limit']}, {features['threads']} threads"
    )


if __name__ == "__main__":
    main()
