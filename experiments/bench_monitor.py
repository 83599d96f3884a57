"""Benchmark: what `lifecycle monitor` and the ledger add to `score-all` on 1M users.

One process, one synthetic workspace: a feature table of ``--users`` users at
``--cutoffs`` training cutoffs (the monitor's default reference, ``monitor.reference_cutoffs``)
plus a latest cutoff and one before them (the comparison made one gap earlier reads it), the same distribution at every cutoff; the three champions of
``bench_batch_scoring.synthetic_models`` (churn, conversion, LTV with quantiles).

- score-all (the baseline): :func:`serving.batch.score_users` on the latest cutoff's rows and
  :func:`serving.batch.write_scores` (the scores table). Feast retrieval and model loading
  come on top in a real `score-all`, so the ratios below are upper bounds;
- ledger: :func:`serving.ledger.append` of those scores;
- monitor samples: what `score-all` adds for the monitor,
  :func:`serving.monitor_sample.keep_samples` (the latest cutoff's sampled feature rows and
  the sampled score columns, taken from memory), counted as the monitor's cost;
- monitor: :func:`serving.monitor.monitor` as `lifecycle monitor` runs it: the first run
  (which reads and scores the reference samples, makes the comparison one gap earlier, and
  keeps them) and a later run (reads them
  back), both reading the samples score-all kept; and a later run without them
  (``monitor_unkept``: the latest cutoff read from the feature table, the score columns from
  the scores table, as after a `forget` or before any score-all).

The machine is shared, so besides wall-clock seconds each step's CPU seconds of this process
(``time.process_time``, every thread) are measured; the ratios use both, all from this run.

    .venv/bin/python experiments/bench_monitor.py                          # 1M users
    .venv/bin/python experiments/bench_monitor.py --doc docs/loop.md       # and record it
    .venv/bin/python experiments/bench_monitor.py --quick                  # CI: 5k users
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


TARGET = 0.10  # issue 13: ledger and monitor add under 10% to score-all


class Clock:
    """Wall-clock and CPU seconds (this process, every thread) of one step."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def seconds(self) -> dict[str, float]:
        return {"wall": round(self.wall, 2), "cpu": round(self.cpu, 2)}


def bench(users: int, cutoff_count: int, max_rows: int | None, home: Path) -> dict[str, Any]:
    """Every step's seconds (wall and CPU) on one synthetic workspace under ``home``."""
    from bench_batch_scoring import synthetic_models

    from lifecycle.settings import Settings
    from serving import batch, ledger
    from serving.monitor import KEPT, monitor, read_rows
    from serving.monitor_sample import keep_samples

    quick = users <= 5_000
    # one cutoff before the training ones: the comparison made one gap earlier reaches it
    cutoffs = list(pd.date_range("2025-01-01", periods=cutoff_count + 2, freq="21D", tz="UTC"))
    settings = Settings(home=home)
    if max_rows:
        settings.monitor.max_rows = max_rows
    table_path = settings.workspace.feature_table(settings.dataset)
    started = time.perf_counter()
    write_feature_table(table_path, users, cutoffs)
    print(
        f"feature table: {users:,} users x {len(cutoffs)} cutoffs "
        f"({table_path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - started:.1f} s"
    )
    champions = synthetic_models(rows=5_000 if quick else 20_000)
    trained = [f"{t:%Y-%m-%d}" for t in cutoffs[1:-1]]
    for task, bundle in champions.bundles.items():
        bundle.data_window = {"trained_on": {"cutoffs": trained, "rows": users * len(trained)}}
        # a label spec names its task and horizon (features.labels.LabelSpec)
        bundle.label = {"horizon_days": 90, **bundle.label, "task": task}
    metadata = {
        "as_of": f"{cutoffs[-1]:%Y-%m-%d}",
        "dataset": settings.dataset,
        "model_versions": champions.versions,
        "labels": {task: bundle.label for task, bundle in champions.bundles.items()},
    }

    # in user id order, as score-all retrieves them (serving.batch.known_users)
    latest = read_rows(table_path, [cutoffs[-1]], None).sort_values("user_id", ignore_index=True)
    reasons_top = 100 if quick else batch.REASONS_TOP
    with Clock() as score_all:
        scores = batch.score_users(champions, latest, reasons_top=reasons_top)
        scores_table = batch.write_scores(settings.workspace.scores_dir, scores, metadata)
    with Clock() as appended:
        ledger.append(settings.workspace, settings.dataset, scores, metadata, retention_days=730)
    with Clock() as sampled:
        kept = keep_samples(
            settings,
            champions,
            latest,
            scores,
            metadata,
            feature_table=table_path,
            scores_table=scores_table,
            latest_cutoff=True,
        )
    assert len(kept) == 2, kept
    del latest, scores
    runs = []
    for _ in range(2):  # the first run reads and scores the reference samples and keeps them
        with Clock() as run:
            result = monitor(settings, champions=champions)
        runs.append(run)
    assert result.scores_as_of == metadata["as_of"], result.notes  # the scores were compared
    assert set(result.read_from.values()) == {KEPT}, result.read_from
    assert all(col.usual_psi is not None for col in result.columns), result.notes  # mirrored
    for sample in kept:
        sample.unlink()
    with Clock() as unkept:
        alone = monitor(settings, champions=champions)
    assert KEPT not in alone.read_from.values()
    assert alone.to_dict() == result.to_dict()  # the same answer either way
    return {
        "users": users,
        "reference_cutoffs": cutoff_count,
        "max_rows": settings.monitor.max_rows,
        "columns": len(result.columns),
        "drifting": result.drifting,
        "seconds": {
            "score_all": score_all.seconds(),
            "ledger": appended.seconds(),
            "monitor_sample": sampled.seconds(),
            "monitor_first": runs[0].seconds(),
            "monitor_later": runs[1].seconds(),
            "monitor_unkept": unkept.seconds(),
        },
    }


def ratios(run: dict[str, Any], clock: str) -> dict[str, float]:
    """Each step's seconds over score-all's, on one clock ("wall" or "cpu"); "both" is what
    the ledger and the monitor add: the ledger, the samples score-all keeps and a later run."""
    seconds = run["seconds"]
    base = seconds["score_all"][clock]
    names = ("ledger", "monitor_sample", "monitor_later", "monitor_unkept")
    steps = {name: seconds[name][clock] / base for name in names}
    return {**steps, "both": steps["ledger"] + steps["monitor_sample"] + steps["monitor_later"]}


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    run = document["run"]
    seconds = run["seconds"]
    wall, cpu = ratios(run, "wall"), ratios(run, "cpu")
    rows = [
        ("score-all: score + write (baseline)", "score_all", 1.0, 1.0),
        ("ledger append", "ledger", wall["ledger"], cpu["ledger"]),
        ("monitor samples kept by score-all", "monitor_sample", None, None),
        ("monitor, first run (keeps the reference)", "monitor_first", None, None),
        ("monitor, later runs", "monitor_later", wall["monitor_later"], cpu["monitor_later"]),
        ("monitor, later run without the kept samples", "monitor_unkept", None, None),
    ]
    lines = [
        f"| {run['users']:,} users | wall s | CPU s | wall ratio | CPU ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key, by_wall, by_cpu in rows:
        if by_wall is None:
            by_wall = seconds[key]["wall"] / seconds["score_all"]["wall"]
            by_cpu = seconds[key]["cpu"] / seconds["score_all"]["cpu"]
        lines.append(
            f"| {label} | {seconds[key]['wall']:.2f} | {seconds[key]['cpu']:.2f} | "
            f"{by_wall:.3f}x | {by_cpu:.3f}x |"
        )
    lines += [
        f"| **ledger + samples + monitor later** (aim < {TARGET:.2f}x) | | | "
        f"**{wall['both']:.3f}x** | "
        f"**{cpu['both']:.3f}x** |",
        "",
        f"{run['columns']} columns compared, {run['max_rows']:,} rows a side; drifting on "
        f"identically distributed cutoffs: {', '.join(run['drifting']) or 'none'}. One run, "
        f"{measured_on(document['machine'])}; CPU seconds are this process's, every thread.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--cutoffs", type=int, default=6, help="training cutoffs (reference)")
    parser.add_argument("--max-rows", type=int, help="rows a side [settings monitor.max_rows]")
    parser.add_argument("--quick", action="store_true", help="5k users: for CI")
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    args = parser.parse_args(argv)
    from docblocks import machine, record, shown_command

    users = 5_000 if args.quick else args.users
    measured_from = machine()  # the load before this run adds its own
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as home:
        run = bench(users, args.cutoffs, args.max_rows, Path(home))
    seconds = run["seconds"]
    print(json.dumps(run, indent=2))
    print(
        f"scoring {users:,} users (score_users + write_scores, 3 champions): "
        f"{seconds['score_all']['wall']:8.2f} s"
    )
    print(f"drifting on identically distributed cutoffs: {', '.join(run['drifting']) or 'none'}")
    for clock in ("wall", "cpu"):
        share = ratios(run, clock)
        print(
            f"ratio to score-all ({clock}): ledger {share['ledger']:.3f}x, samples "
            f"{share['monitor_sample']:.3f}x, monitor later runs {share['monitor_later']:.3f}x "
            f"(without the samples {share['monitor_unkept']:.3f}x), both "
            f"{share['both']:.3f}x (aim < {TARGET:.2f}x)"
        )
    if args.doc:
        command = shown_command("bench_monitor.py", argv)
        document = {"machine": measured_from, "run": run}
        record(args.doc, "bench_monitor", "bench_monitor.py", command, document, render_doc)


if __name__ == "__main__":
    main()
