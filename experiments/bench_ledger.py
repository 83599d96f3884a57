"""Benchmark: the time the prediction ledger adds to `score-all` (target: under 10% on large N).

Both sides run in the same process on the same users, alternately, ``--repeats`` times
(median reported):

- score-all without the ledger: :func:`serving.batch.score_users` (the one scoring path:
  scores, intervals, segments, reasons for the top users) and :func:`serving.batch.write_scores`
  (the Parquet scores table, atomically). Feature retrieval from Feast and model loading are
  left out, so this baseline is smaller than a real `score-all` and the ratio an upper bound;
- the ledger: :func:`serving.ledger.append` of those scores (one partition, atomically,
  retention applied) over a ledger that already holds ``--history`` as-of dates.

Models and users are synthetic with the real feature names (``bench_batch_scoring``).

    .venv/bin/python experiments/bench_ledger.py                # 1M users
    .venv/bin/python experiments/bench_ledger.py --quick        # CI: 5k users
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET = 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--history", type=int, default=12, help="as-of dates already in the ledger")
    parser.add_argument("--quick", action="store_true", help="5k users, 1 repeat: for CI")
    args = parser.parse_args()

    from bench_batch_scoring import synthetic_models, synthetic_users

    from lifecycle.workspace import Workspace
    from serving import batch, ledger

    users = 5_000 if args.quick else args.users
    repeats = 1 if args.quick else args.repeats
    reasons_top = 100 if args.quick else batch.REASONS_TOP
    champions = synthetic_models(rows=5_000 if args.quick else 20_000)
    for task, bundle in champions.bundles.items():  # scoring reads the task from the label
        bundle.label = {"task": task, "horizon_days": 90, **bundle.label}
    features = synthetic_users(users)
    as_of = pd.Timestamp("2025-06-01")
    labels = {task: bundle.label for task, bundle in champions.bundles.items()}
    metadata = {
        "as_of": f"{as_of:%Y-%m-%d}",
        "model_versions": champions.versions,
        "labels": labels,
    }
    print(f"users: {users:,}; repeats: {repeats}; ledger history: {args.history} as-of dates")

    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as root:
        workspace = Workspace(Path(root))
        history = batch.score_users(champions, features.head(1_000), reasons_top=0)
        for weeks in range(args.history, 0, -1):
            earlier = {**metadata, "as_of": f"{as_of - pd.Timedelta(weeks=weeks):%Y-%m-%d}"}
            ledger.append(workspace, "bench", history, earlier, retention_days=730)
        without, added = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            scores = batch.score_users(champions, features, reasons_top=reasons_top)
            batch.write_scores(workspace.scores_dir, scores, metadata)
            without.append(time.perf_counter() - started)
            started = time.perf_counter()
            appended = ledger.append(workspace, "bench", scores, metadata, retention_days=730)
            added.append(time.perf_counter() - started)
        size = appended.path.stat().st_size
    base, extra = statistics.median(without), statistics.median(added)
    print(f"score-all without the ledger (score + write): {base:8.2f} s")
    print(f"ledger append ({appended.rows:,} rows, {size / 2**20:,.1f} MiB):    {extra:8.2f} s")
    print(f"N {users:,}: ledger adds {extra / base:.1%} to score-all (aim < {TARGET:.0%})")


if __name__ == "__main__":
    main()
