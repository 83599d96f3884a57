"""Benchmark: `lifecycle monitor` on 1M users against scoring the same 1M users.

One process, one synthetic workspace: a feature table of ``--users`` users at
``--cutoffs`` training cutoffs (the monitor's default reference, ``monitor.reference_cutoffs``)
plus a latest cutoff, the same distribution at every cutoff; the three champions of
``bench_batch_scoring.synthetic_models`` (churn, conversion, LTV with quantiles).

- scoring: :func:`serving.batch.score_users` on the latest cutoff's rows (what `score-all`
  runs after Feast retrieval; score-all's retrieval and write come on top, so the ratio
  below is an upper bound of monitor / score-all);
- monitor: :func:`serving.monitor.monitor` against that scores table, the first run (which
  scores the reference sample once and keeps it) and a later run (reads it back).

    .venv/bin/python experiments/bench_monitor.py              # 1M users
    .venv/bin/python experiments/bench_monitor.py --quick      # CI: 5k users
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def write_feature_table(path: Path, users: int, cutoffs: list[pd.Timestamp]) -> None:
    """``users`` synthetic rows per cutoff, written one cutoff at a time (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from bench_batch_scoring import synthetic_users

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for seed, cutoff in enumerate(cutoffs):
        frame = synthetic_users(users, seed=100 + seed)
        frame.insert(1, "as_of", pd.Series([cutoff] * users, dtype="datetime64[us, UTC]"))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=200_000)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--cutoffs", type=int, default=6, help="training cutoffs (reference)")
    parser.add_argument("--max-rows", type=int, help="rows a side [settings monitor.max_rows]")
    parser.add_argument("--quick", action="store_true", help="5k users: for CI")
    args = parser.parse_args()

    from bench_batch_scoring import synthetic_models

    from lifecycle.settings import Settings
    from serving.batch import ScoresTable, score_users
    from serving.monitor import monitor, read_rows

    users = 5_000 if args.quick else args.users
    cutoffs = list(pd.date_range("2025-01-01", periods=args.cutoffs + 1, freq="21D", tz="UTC"))
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as home:
        settings = Settings(home=Path(home))
        if args.max_rows:
            settings.monitor.max_rows = args.max_rows
        table_path = settings.workspace.feature_table(settings.dataset)
        started = time.perf_counter()
        write_feature_table(table_path, users, cutoffs)
        print(
            f"feature table: {users:,} users x {len(cutoffs)} cutoffs "
            f"({table_path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - started:.1f} s"
        )
        champions = synthetic_models(rows=5_000 if args.quick else 20_000)
        trained = [f"{t:%Y-%m-%d}" for t in cutoffs[:-1]]
        for task, bundle in champions.bundles.items():
            bundle.data_window = {"trained_on": {"cutoffs": trained, "rows": users * len(trained)}}
            # a label spec names its task and horizon (features.labels.LabelSpec)
            bundle.label = {"horizon_days": 90, **bundle.label, "task": task}

        latest = read_rows(table_path, [cutoffs[-1]], None)
        reasons_top = 100 if args.quick else None  # None: serving.batch.REASONS_TOP
        started = time.perf_counter()
        scores = (
            score_users(champions, latest)
            if reasons_top is None
            else score_users(champions, latest, reasons_top=reasons_top)
        )
        scoring = time.perf_counter() - started
        del latest
        table = ScoresTable(
            scores, {"as_of": f"{cutoffs[-1]:%Y-%m-%d}", "model_versions": champions.versions}
        )

        runs = []
        for _ in range(2):  # the first run scores the reference sample and keeps it
            started = time.perf_counter()
            result = monitor(settings, champions=champions, scores=table)
            runs.append(time.perf_counter() - started)
        columns = len(result.columns)
        print(f"monitor.max_rows: {settings.monitor.max_rows:,} a side")
        print(f"scoring {users:,} users (score_users, 3 champions): {scoring:8.2f} s")
        print(
            f"monitor, first run ({columns} columns, reference scores computed): {runs[0]:8.2f} s"
        )
        print(f"monitor, later runs (reference scores kept):           {runs[1]:8.2f} s")
        print(f"drifting on identically distributed cutoffs: {result.drifting or 'none'}")
        print(
            f"ratio monitor / scoring: first run {runs[0] / scoring:.3f}x, later runs "
            f"{runs[1] / scoring:.3f}x (aim < 0.10x)"
        )


if __name__ == "__main__":
    main()
