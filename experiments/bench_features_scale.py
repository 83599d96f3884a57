"""Offline features at scale: 1M demo users, tens of millions of events, never one pandas frame.

Steps, each in its own subprocess so its peak RSS (``ru_maxrss``) is its own:

1. ``generate_demo`` writes users and events Parquet (streamed in weekly batches);
2. ``compute_features(events.parquet, cutoffs, users=users.parquet, out=...)`` runs in
   DuckDB over the Parquet files with ``memory_limit`` set (spilling to a temp directory
   when needed) and writes the feature table straight to Parquet;
3. the same-run baseline: one DuckDB pass over the same events (count, sum and last time
   per user and cutoff) under the same limits: the floor of reading the log once per
   cutoff, to which the feature step is compared.

    .venv/bin/python experiments/bench_features_scale.py                      # 1M users, 3 cutoffs
    .venv/bin/python experiments/bench_features_scale.py --quick              # 20k users (CI smoke)
    .venv/bin/python experiments/bench_features_scale.py --memory-limit 1GB --keep /tmp/scale
    .venv/bin/python experiments/bench_features_scale.py --doc docs/scale.md  # its table
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


def _cutoffs(args: argparse.Namespace) -> list[Any]:
    import pandas as pd

    end = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=1095)  # the demo's default
    starts = pd.date_range(end - pd.DateOffset(months=args.cutoffs + 1), end, freq="MS")
    return [t for t in starts if t + pd.DateOffset(months=1) <= end][-args.cutoffs :]


def _duckdb(work: Path, args: argparse.Namespace) -> Any:
    from features.asof import connect

    con = connect()
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET temp_directory = '{work / 'duckdb_spill'}'")
    return con


def step_scan(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Baseline: per cutoff, one grouped pass over the events at or before it."""
    events = work / "demo" / EVENTS_FILE
    con = _duckdb(work, args)
    began = time.perf_counter()
    rows = 0
    for cutoff in _cutoffs(args):
        rows += con.execute(
            "SELECT count(*) FROM (SELECT user_id, count(*), sum(amount), max(event_time) "
            f"FROM read_parquet('{events}') WHERE event_time <= ? GROUP BY user_id)",
            [cutoff.to_pydatetime()],
        ).fetchone()[0]
    return {"seconds": round(time.perf_counter() - began, 1), "rows": rows}


def step_features(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from features.asof import compute_features

    cutoffs = _cutoffs(args)
    con = _duckdb(work, args)
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


STEPS = {"demo": step_demo, "scan": step_scan, "features": step_features}


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


def _without(argv: list[str], options: dict[str, int]) -> list[str]:
    """``argv`` less the given options (each with its number of values): the steps' own."""
    kept, skip = [], 0
    for word in argv:
        if skip:
            skip -= 1
        elif word.split("=", 1)[0] in options:
            skip = 0 if "=" in word else options[word]
        else:
            kept.append(word)
    return kept


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
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
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
    forwarded = _without(argv, {"--json": 0, "--doc": 1})
    from docblocks import machine, record, shown_command

    results: dict[str, Any] = {"machine": machine()}
    try:
        results.update({step: run_step(step, work, forwarded) for step in STEPS})
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.doc:
        command = shown_command("bench_features_scale.py", argv)
        record(
            args.doc,
            "bench_features_scale",
            "bench_features_scale.py",
            command,
            results,
            render_doc,
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    demo, features = results["demo"], results["features"]
    print(
        f"demo: {demo['users']:,} users, {demo['events']:,} events ({demo['events_mb']} MB Parquet)"
    )
    print(f"{'step':10} {'seconds':>8} {'peak RSS MB':>12}  note")
    print(f"{'demo':10} {demo['seconds']:>8.1f} {demo['peak_rss_mb']:>12,}  generate_demo")
    scan = results["scan"]
    print(
        f"{'scan':10} {scan['seconds']:>8.1f} {scan['peak_rss_mb']:>12,}  baseline: one pass per cutoff"
    )
    print(
        f"{'features':10} {features['seconds']:>8.1f} {features['peak_rss_mb']:>12,}  "
        f"{features['rows']:,} rows x {len(features['cutoffs'])} cutoffs "
        f"({features['cutoffs'][0]}..{features['cutoffs'][-1]}), DuckDB memory_limit "
        f"{features['memory_limit']}, {features['threads']} threads"
    )


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's table: each step's time and peak memory, features against one scan."""
    from docblocks import measured_on

    demo, scan, features = results["demo"], results["scan"], results["features"]
    cutoffs = features["cutoffs"]
    lines = [
        f"{measured_on(results['machine'])}: {demo['users']:,} demo users, "
        f"{demo['events']:,} events ({demo['events_mb']:,} MB Parquet), {len(cutoffs)} cutoffs "
        f"({cutoffs[0]} to {cutoffs[-1]}), DuckDB `memory_limit={features['memory_limit']}`, "
        f'{features["threads"]} threads; "one scan" is the same-run baseline (one grouped pass '
        "over the events per cutoff):",
        "",
        "| step | time | peak RSS | vs one scan |",
        "|---|---:|---:|---:|",
        f"| generate the demo | {demo['seconds']:,.1f} s | {demo['peak_rss_mb']:,} MB | |",
        f"| one scan (baseline) | {scan['seconds']:,.1f} s | {scan['peak_rss_mb']:,} MB | 1.0x |",
        f"| every feature, {features['rows']:,} rows | {features['seconds']:,.1f} s | "
        f"{features['peak_rss_mb']:,} MB | {features['seconds'] / max(scan['seconds'], 0.1):.1f}x |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
