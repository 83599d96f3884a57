"""Benchmark the demo generator: wall time, events/s, peak memory and file sizes per size.

Each size runs in its own subprocess so peak RSS belongs to that size alone. The same-run
baseline writes a random frame with as many rows and the same columns to Parquet, so the
ratio says how much the simulation costs on top of merely writing its output.

    uv run python experiments/bench_demo_data.py --users 10000 --users 1000000 [--json]
    uv run python experiments/bench_demo_data.py --users 10000 --users 1000000 \
        --doc docs/benchmarks.md     # the table of docs/benchmarks.md, and its results
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _random_events(rows: int, user_ids: pa.Array, rng: np.random.Generator) -> pa.Table:
    user = user_ids.take(pa.array(rng.integers(0, len(user_ids), rows)))
    amount = rng.gamma(2.5, 14.0, rows)
    monetary = rng.random(rows) < 0.05
    kinds = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, 5, rows).astype(np.int32)),
        pa.array(["signup", "activation", "session", "purchase", "refund"]),
    ).cast(pa.string())
    return pa.table(
        {
            "user_id": user,
            "event_time": pa.array(np.sort(rng.integers(1.7e15, 1.77e15, rows))).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "event_type": kinds,
            "amount": pa.array(amount, mask=~monetary),
            "currency": pa.array(np.where(monetary, "GBP", None), type=pa.string()),
            "order_id": pa.array(np.where(monetary, "u0000001-1", None), type=pa.string()),
        }
    )


def measure(users: int, seed: int) -> dict[str, float | int]:
    """Generate once and write the random baseline once; runs inside the child process."""
    sys.path.insert(0, str(ROOT))
    from features.demo import generate_demo

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        out_dir = Path(scratch) / "demo"
        began = time.perf_counter()
        summary = generate_demo(users, seed, out_dir)
        seconds = time.perf_counter() - began
        peak_rss_mb = _peak_rss_mb()
        sizes = {
            f"{path.stem}_mb": path.stat().st_size / 2**20
            for path in (summary.users_path, summary.events_path, summary.ground_truth_path)
        }

        rng = np.random.default_rng(seed)
        user_ids = pa.array([f"u{i:07d}" for i in range(1, users + 1)])
        baseline_path = Path(scratch) / "baseline.parquet"
        began = time.perf_counter()
        # Written in the same chunk size as the generator, so memory stays comparable.
        with pq.ParquetWriter(
            baseline_path, _random_events(1, user_ids, rng).schema, compression="zstd"
        ) as writer:
            for offset in range(0, summary.events, 1_000_000):
                rows = min(1_000_000, summary.events - offset)
                writer.write_table(_random_events(rows, user_ids, rng))
        baseline_seconds = time.perf_counter() - began
    return {
        "users": users,
        "events": summary.events,
        "seconds": round(seconds, 3),
        "events_per_second": round(summary.events / seconds),
        "peak_rss_mb": round(peak_rss_mb, 1),
        **{name: round(size, 2) for name, size in sizes.items()},
        "baseline_write_seconds": round(baseline_seconds, 3),
        "ratio_to_baseline": round(seconds / baseline_seconds, 2),
        "revenue": summary.revenue,
        "paying_users": summary.paying_users,
    }


def run_in_subprocess(users: int, seed: int) -> dict[str, float | int]:
    """A fresh interpreter per size so ru_maxrss is not inherited from a bigger run."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", "--users", str(users), "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(completed.stdout)


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's table: one line per size, and the memory each extra user costs."""
    from docblocks import measured_on

    runs = results["runs"]
    lines = [
        f"{measured_on(results['machine'])}, seed {results['seed']}, the default "
        'three years; "write-only" is writing an equally sized random table to Parquet in '
        "the same run:",
        "",
        "| users | events | time | events/s | peak RSS | vs write-only |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['users']:,} | {run['events']:,} | {run['seconds']:.1f} s | "
            f"{run['events_per_second'] / 1000:,.0f}k | {run['peak_rss_mb']:,.0f} MB | "
            f"{run['ratio_to_baseline']:.1f}x |"
        )
    if len(runs) > 1:
        small, large = min(runs, key=lambda r: r["users"]), max(runs, key=lambda r: r["users"])
        per_user_kb = (
            (large["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / (large["users"] - small["users"])
        )
        lines += [
            "",
            f"Peak memory grows by about {per_user_kb:.1f} KB per user from {small['users']:,} "
            f"to {large['users']:,} users ({small['peak_rss_mb']:,.0f} to "
            f"{large['peak_rss_mb']:,.0f} MB), whatever the number of events.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, action="append", help="repeatable; default 10000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine, parse_arguments, record_run

    args = parse_arguments(parser, argv)
    sizes = args.users or [10_000]

    if args.child:
        print(json.dumps(measure(sizes[0], args.seed)))
        return
    meta = machine()
    results = [run_in_subprocess(users, args.seed) for users in sizes]
    if args.doc:
        document = {"machine": meta, "seed": args.seed, "runs": results}
        record_run("bench_demo_data.py", args, argv, document, render_doc)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'users':>10} {'events':>12} {'seconds':>9} {'events/s':>11} {'peak RSS MB':>12} "
        f"{'events MB':>10} {'users MB':>9} {'truth MB':>9} {'write-only s':>13} {'ratio':>6}"
    )
    for row in results:
        print(
            f"{row['users']:>10,} {row['events']:>12,} {row['seconds']:>9.2f} "
            f"{row['events_per_second']:>11,} {row['peak_rss_mb']:>12.0f} "
            f"{row['events_mb']:>10.1f} {row['users_mb']:>9.1f} {row['ground_truth_mb']:>9.1f} "
            f"{row['baseline_write_seconds']:>13.2f} {row['ratio_to_baseline']:>6.1f}"
        )


if __name__ == "__main__":
    main()
