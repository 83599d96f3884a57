"""Benchmark: score and rank 1M users with the 3 champion models vs compiled predict.

Both sides use the same feature matrix in the same process, with the champions' trees
compiled (``lifecycle.compiled``, as ``lifecycle score-all`` does from 200k users on):

- compiled predict: every booster the three models hold (churn, conversion, LTV with its
  purchase and quantile boosters) on a ready float64 matrix, through its compiled trees
  (the floor); LightGBM's ``booster.predict`` of the same is printed beside it;
- batch scoring: :func:`serving.batch.score_users` (the one scoring path: feature coding,
  calibration, intervals, value at risk, lifecycle stages, RFM segments, super users, churn
  reasons for the top users of each ranking) plus ranking the at-risk list.

The comparison is like for like: the same rows, every booster once on each side (LTV's
purchase part and quantile boosters included), through the same compiled trees with the same
threads (lleaves on every core from 512 rows on, in ``lifecycle.compiled``). Both are CPU
seconds of this process. Writing the Parquet table is not timed on either side (``score-all``
times it apart, as ``write``). The reasons' own cost (TreeSHAP of the explained rows, then
their words) is timed again apart and printed, with the ratio of scoring without it.

Models: the champions of a trained workspace (``--home``, as left by ``lifecycle run`` or
``lifecycle train all``); without one, small LightGBM models are fitted on synthetic data
with the real feature names (``--synthetic-models``). Users: rows drawn with replacement from
the workspace's feature table at its latest cutoff (so trees take realistic paths), or
synthetic rows. Peak memory is the resident set's high-water mark above the level before
scoring, sampled every 5 ms, next to the feature matrix's size. ``--quick`` scores in chunks of
1,000 rows (several chunks, as a million users in chunks of 50,000) and measures memory in a
second, untimed pass by traced allocations (``tracemalloc``: numpy and Python objects, exact):
the resident set of a 2 MiB matrix moves by a few MiB of allocator noise from run to run.

    .venv/bin/python experiments/bench_batch_scoring.py --home workspace          # 1M users
    .venv/bin/python experiments/bench_batch_scoring.py --quick                   # CI: 5k users
    .venv/bin/python experiments/bench_batch_scoring.py --home workspace --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


class TracedMemory:
    """Peak of traced allocations (numpy arrays, Python objects) above the level at entry."""

    def __enter__(self) -> TracedMemory:
        tracemalloc.start()
        self.base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *_: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    @property
    def above_base(self) -> int:
        return self.peak - self.base


class PeakMemory:
    """Resident-set high-water mark above the level at entry, sampled in a thread."""

    def __enter__(self) -> PeakMemory:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def above_base(self) -> int:
        return self.peak - self.base


def workspace_models(home: Path) -> tuple[Any, pd.DataFrame | None]:
    from features.store import store_paths
    from lifecycle.settings import load_settings
    from serving.scoring import load_champions

    settings = load_settings(home=home)
    champions = load_champions(settings)
    if champions.unavailable:
        raise SystemExit(
            f"{home}: {'; '.join(champions.unavailable.values())} (or use --synthetic-models)"
        )
    table = store_paths(settings).feature_table
    latest = None
    if table.is_file():
        frame = pd.read_parquet(table)
        latest = frame[frame["as_of"] == frame["as_of"].max()].reset_index(drop=True)
    return champions, latest


def drawn_users(real: pd.DataFrame, users: int) -> pd.DataFrame:
    """``users`` rows drawn with replacement from ``real`` (seed 0), each a distinct user
    (new ids): a large population of real rows (feature rows, scores rows)."""
    picks = np.random.default_rng(0).integers(0, len(real), users)
    drawn = real.iloc[picks].reset_index(drop=True)
    drawn["user_id"] = [f"u{i:07d}" for i in range(users)]  # distinct users
    return drawn


def synthetic_users(rows: int, seed: int = 0) -> pd.DataFrame:
    """Feature rows with the real names: counts, recencies, money, channel and attributes."""
    from features.asof import feature_names

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {name: rng.gamma(0.8, 20, rows) for name in feature_names((7, 30, 90, 365))}
    )
    frame["activated"] = (rng.random(rows) < 0.6).astype(float)
    frame.loc[rng.random(rows) < 0.5, "orders_total"] = 0.0
    frame["user_id"] = [f"u{i:07d}" for i in range(rows)]
    frame["channel"] = rng.choice(["organic", "paid_search", "social", "referral", "email"], rows)
    frame["country"] = rng.choice(["GB", "US", "DE"], rows)
    frame["device"] = rng.choice(["ios", "android", "web"], rows)
    return frame


def synthetic_models(seed: int = 0, rows: int = 20_000, rounds: int = 60) -> Any:
    """Small churn, conversion and LTV bundles (LTV with quantile boosters) on synthetic data,
    ``rounds`` trees per booster."""
    import lightgbm as lgb

    from lifecycle.bundle import ModelBundle
    from serving.scoring import Champions

    train = synthetic_users(rows, seed + 1)
    categories = {col: sorted(train[col].unique()) for col in ("channel", "country", "device")}
    names = [c for c in train.columns if c != "user_id"]
    template = ModelBundle("churn", None, names, categories, "churn_v1", {}, {})
    matrix = template.matrix(train).to_numpy()
    rng = np.random.default_rng(seed)
    logits = -0.03 * train["sessions_90d"].to_numpy() + 0.02 * train["recency_days"].to_numpy() - 1
    churned = (rng.random(len(train)) < 1 / (1 + np.exp(-logits))).astype(float)
    value = np.maximum(0, train["revenue_365d"].to_numpy() * rng.gamma(1, 1, len(train)) - 10)
    # one thread, as training/models.py fits fewer than 50,000 rows: on a busy 2-core box two
    # threads spin on OpenMP barriers (2-12 CPU-s for these boosters, one thread 1.6)
    params = {
        "verbose": -1,
        "num_leaves": 31,
        "learning_rate": 0.05,
        "seed": seed,
        "num_threads": 1,
    }

    def fit(target: np.ndarray, objective: str, **extra: float) -> Any:
        data = lgb.Dataset(matrix, target, feature_name=names, free_raw_data=False)
        return lgb.train({**params, "objective": objective, **extra}, data, rounds)

    champions = Champions()
    for task, target in (("churn", churned), ("conversion", 1 - churned)):
        champions.bundles[task] = ModelBundle(
            task,
            fit(target, "binary"),
            names,
            categories,
            f"{task}_v1",
            {"task": task, "horizon_days": 90}
            | ({"lookback_days": 10_000} if task == "churn" else {"target": "first_purchase"}),
            {},
        )
    champions.bundles["ltv"] = ModelBundle(
        "ltv",
        fit(value, "regression"),
        names,
        categories,
        "ltv_v1",
        {"task": "ltv", "horizon_days": 365},
        {},
        quantile_boosters={q: fit(value, "quantile", alpha=q) for q in (0.1, 0.5, 0.9)},
    )
    champions.versions = {task: "synthetic" for task in champions.bundles}
    return champions


def pure_predict(champions: Any, matrix: np.ndarray, *, compiled: bool = True) -> float:
    """CPU seconds (``process_time``: every thread of this process, no other process) to run
    every booster of the champions on ``matrix``: through the bundle's one booster call
    (compiled trees where made), or LightGBM's ``predict``."""
    started = time.process_time()
    for bundle in champions.bundles.values():
        for booster in bundle.booster_files().values():
            if compiled:
                bundle.predict_trees(booster, matrix)
            else:
                booster.predict(matrix)
    return time.process_time() - started


def compile_champions(champions: Any, cache: Path, home: Path | None) -> float:
    """Compile (or load from ``cache``) every champion's trees; the CPU seconds it took. A
    workspace's champions under the names a server and ``score-all`` give them (so their
    cached files serve), synthetic ones under the task's name."""
    started = time.process_time()
    if home is not None:
        from lifecycle.settings import load_settings
        from serving.scoring import compile_champions as compile_served

        compile_served(load_settings(home=home), champions)
    else:
        for task, bundle in champions.bundles.items():
            bundle.compile_trees(cache, f"{task}-v{champions.versions.get(task, 'bench')}")
    return time.process_time() - started


def render_doc(name: str, document: dict[str, Any]) -> str:
    """The doc's paragraph: scoring and ranking against pure predict, and peak memory."""
    from docblocks import measured_on

    d = document
    ratio = d["total_seconds"] / d["pure_predict_seconds"]
    memory = d["peak_above_start_mib"] / d["matrix_mib"]
    if "every_ranking_seconds" not in d:  # recorded before CPU time and the at-risk ranking
        return (
            f"{measured_on(d['machine'])}: {d['users']:,} users ({d['source']}), the three "
            f"champions ({sum(d['trees'].values()):,} trees, compiled): scoring, segments, "
            f"reasons for the top {d['reasons_top']:,} of each ranking and ranking took "
            f"{d['total_seconds']:.1f} s against {d['pure_predict_seconds']:.1f} s of compiled "
            f"predict on the same matrix (**{ratio:.2f}x**, aim 1.5x; compiled predict timed "
            f"before and after scoring, {d['pure_before_seconds']:.1f} s and "
            f"{d['pure_after_seconds']:.1f} s; LightGBM's own predict "
            f"{d['lightgbm_predict_seconds']:.1f} s); peak memory "
            f"{d['peak_above_start_mib']:,.0f} MiB, **{memory:.2f}x** the "
            f"{d['matrix_mib']:,.0f} MiB feature matrix (aim 2x).\n"
        )
    every = d["every_ranking_seconds"] / d["pure_predict_seconds"]
    lightgbm = f"LightGBM's own predict {d['lightgbm_predict_seconds']:.1f} s"
    if "lightgbm_rows" in d and d["lightgbm_rows"] < d["users"]:
        lightgbm += f", timed on {d['lightgbm_rows']:,} rows and scaled"
    if "reasons_seconds" in d:  # recorded since the reasons' share is timed apart
        without = (d["total_seconds"] - d["reasons_seconds"]) / d["pure_predict_seconds"]
        return (
            f"{measured_on(d['machine'])}; CPU seconds of this process (`time.process_time`, "
            f"all its threads, no other process): {d['users']:,} users ({d['source']}), the "
            f"three champions ({sum(d['trees'].values()):,} trees, compiled): scoring, "
            f"segments, churn reasons for the top {d['reasons_top']:,} of the at-risk list (by "
            f"value at risk) and ranking took {d['total_seconds']:.1f} s against "
            f"{d['pure_predict_seconds']:.1f} s of compiled predict of every booster on the "
            f"same rows (**{ratio:.2f}x**, aim 1.5x; compiled predict timed before and after "
            f"scoring, {d['pure_before_seconds']:.1f} s and {d['pure_after_seconds']:.1f} s; "
            f"{lightgbm}). The reasons alone (TreeSHAP of {d['reasons']:,} users, then their "
            f"words) took {d['reasons_seconds']:.1f} s of it: without them "
            f"{without:.2f}x. Peak memory {d['peak_above_start_mib']:,.0f} MiB, "
            f"**{memory:.2f}x** the {d['matrix_mib']:,.0f} MiB feature matrix (aim 2x). With "
            f"reasons for the top {d['reasons_top']:,} of every ranking a list can take "
            f"({d['every_ranking_reasons']:,} users, `score_users`' default): "
            f"{d['every_ranking_seconds']:.1f} s, {every:.2f}x.\n"
        )
    return (
        f"{measured_on(d['machine'])}; CPU seconds of this process (`time.process_time`, all "
        f"its threads, no other process): {d['users']:,} users ({d['source']}), the three "
        f"champions ({sum(d['trees'].values()):,} trees, compiled): scoring, segments, churn "
        f"reasons for the top {d['reasons_top']:,} of the at-risk list (by value at risk) and "
        f"ranking took {d['total_seconds']:.1f} s against {d['pure_predict_seconds']:.1f} s of "
        f"compiled predict on the same matrix (**{ratio:.2f}x**, aim 1.5x; compiled predict "
        f"timed before and after scoring, {d['pure_before_seconds']:.1f} s and "
        f"{d['pure_after_seconds']:.1f} s; LightGBM's own predict "
        f"{d['lightgbm_predict_seconds']:.1f} s); peak memory "
        f"{d['peak_above_start_mib']:,.0f} MiB, **{memory:.2f}x** the "
        f"{d['matrix_mib']:,.0f} MiB feature matrix (aim 2x). With reasons for the top "
        f"{d['reasons_top']:,} of every ranking a list can take ({d['every_ranking_reasons']:,} "
        f"users, `score_users`' default): {d['every_ranking_seconds']:.1f} s, {every:.2f}x.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument(
        "--home", type=Path, help="a trained workspace (its champions and features)"
    )
    parser.add_argument("--synthetic-models", action="store_true")
    parser.add_argument("--reasons-top", type=int, default=None, help="[serving.batch.REASONS_TOP]")
    parser.add_argument("--quick", action="store_true", help="5k users, synthetic models: for CI")
    parser.add_argument(
        "--lightgbm-rows",
        type=int,
        default=100_000,
        help="rows LightGBM's own predict (printed for reference only) is timed on, then scaled "
        "to all users: on 1M rows it alone takes minutes",
    )
    parser.add_argument("--doc", type=Path, help="write the result into this doc's block")
    args = parser.parse_args()
    from docblocks import machine

    meta = machine()

    from serving import batch
    from serving.lists import at_risk

    users = 5_000 if args.quick else args.users
    reasons_top = batch.REASONS_TOP if args.reasons_top is None else args.reasons_top
    chunk_rows = batch.CHUNK_ROWS
    if args.quick:  # reasons are a fixed cost per list row: scale them with the users
        reasons_top = min(reasons_top, 100)
        chunk_rows = 1_000  # several chunks, as a million users are scored
    source = "synthetic rows"
    if args.home and not (args.synthetic_models or args.quick):
        champions, real = workspace_models(args.home)
    else:
        champions, real = synthetic_models(rows=5_000 if args.quick else 20_000), None
    if real is not None and len(real):
        features = drawn_users(real, users)
        source = f"rows drawn from {len(real):,} real users of {args.home}"
    else:
        features = synthetic_users(users)
    churn = champions.bundles["churn"]
    matrix = churn.matrix(features).to_numpy(dtype="float64")
    trees = {
        task: sum(booster.num_trees() for booster in b.booster_files().values())
        for task, b in champions.bundles.items()
    }
    print(f"users: {users:,} ({source}); models: {champions.versions}; trees: {trees}")
    print(
        f"feature matrix: {matrix.shape[0]:,} x {matrix.shape[1]} float64 = {matrix.nbytes / 2**20:,.0f} MiB"
    )

    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        from lifecycle.workspace import Workspace

        home = args.home if args.home and not (args.quick or args.synthetic_models) else None
        cache = Workspace(home).compiled_dir if home else Path(scratch)
        compile_seconds = compile_champions(champions, cache, home)
    print(f"compiled trees ready in {compile_seconds:.1f} s (cache {cache})")
    pure_predict(champions, matrix[:1000])  # warm up (thread pool, first-call costs)
    lightgbm_rows = min(args.lightgbm_rows, users)
    lightgbm = pure_predict(champions, matrix[:lightgbm_rows], compiled=False)
    lightgbm *= users / lightgbm_rows  # cost per row is flat: no per-call cost at 100k rows
    pure_before = pure_predict(champions, matrix)
    # Warm up scoring too, on enough rows to predict in threads: its first call imports and
    # builds what later calls reuse (modules, thread pools and their malloc arenas: a few
    # MiB that would otherwise count as a small run's peak memory).
    listed = ("value_at_risk",)  # the at-risk list's ranking: the goal's "top 5,000"
    options = {"reasons_top": reasons_top, "reasons_by": listed, "chunk_rows": chunk_rows}
    batch.score_users(champions, features.iloc[:1000], **options)
    with PeakMemory() as memory:
        started, wall = time.process_time(), time.perf_counter()
        scores = batch.score_users(champions, features, **options)
        scored = time.process_time() - started
        ranked = at_risk(scores, limit=1000)
        total = time.process_time() - started
        wall = time.perf_counter() - wall
    measured = "resident set"
    if args.quick:
        with TracedMemory() as memory:
            at_risk(batch.score_users(champions, features, **options), limit=1000)
        measured = "traced allocations"
    # The same with reasons for the top of every ranking a list can be ranked by (the
    # default of score_users): what explaining more users costs. Not in the CI smoke run.
    every_ranking, every_reasons = float("nan"), 0
    if not args.quick:
        started = time.process_time()
        every = batch.score_users(champions, features, reasons_top=reasons_top)
        at_risk(every, limit=1000)
        every_ranking = time.process_time() - started
        every_reasons = int(every["reasons"].notna().sum())
        del every
    # The reasons' share: the same rows explained again, alone (TreeSHAP, then words).
    from serving.churn_reasons import top_reasons

    explained_rows = batch.reason_rows(scores, reasons_top, listed)
    started = time.process_time()
    top_reasons(churn, features.iloc[explained_rows], np.ones(len(explained_rows), dtype=bool))
    reasons_seconds = time.process_time() - started
    # Measured before and after scoring: on a shared machine the load changes during a run.
    pure_after = pure_predict(champions, matrix)
    pure = (pure_before + pure_after) / 2
    reasons = int(scores["reasons"].notna().sum())
    print(
        f"LightGBM predict (all boosters):     {lightgbm:8.2f} s  "
        f"(timed on {lightgbm_rows:,} rows, scaled to {users:,})"
    )
    print(
        f"compiled predict (all boosters):     {pure:8.2f} s  "
        f"(mean of {pure_before:.2f} s before and {pure_after:.2f} s after scoring)"
    )
    print(
        f"score + segments + reasons + rank:    {total:8.2f} s  (scoring {scored:.2f} s, "
        f"ranking {total - scored:.2f} s; reasons for {reasons:,} users; wall {wall:.2f} s)"
    )
    print(f"ratio to compiled predict: {total / pure:.2f}x (aim <= 1.5x)")
    print(
        f"of which reasons for {len(explained_rows):,} users: {reasons_seconds:.2f} s; without "
        f"them {(total - reasons_seconds) / pure:.2f}x"
    )
    print(
        f"with reasons for the top {reasons_top:,} of every ranking ({every_reasons:,} users): "
        f"{every_ranking:.2f} s, {every_ranking / pure:.2f}x"
    )
    print(f"ratio to LightGBM predict: {total / lightgbm:.2f}x")
    print(
        f"peak memory above start ({measured}, chunks of {chunk_rows:,} rows): "
        f"{memory.above_base / 2**20:,.1f} MiB = "
        f"{memory.above_base / matrix.nbytes:.2f}x the feature matrix (aim <= 2x)"
    )
    print(
        f"top of the list: {ranked['user_id'].iloc[0]} value at risk {ranked['value_at_risk'].iloc[0]:.2f}"
    )
    if args.doc:
        from docblocks import record, shown_command

        document = {
            "machine": meta,
            "users": users,
            "source": source.replace(str(args.home), "a trained workspace")
            if args.home
            else source,
            "trees": trees,
            "reasons_top": reasons_top,
            "reasons": reasons,
            "every_ranking_seconds": round(every_ranking, 2),
            "every_ranking_reasons": every_reasons,
            "total_seconds": round(total, 2),
            "scoring_seconds": round(scored, 2),
            "pure_predict_seconds": round(pure, 2),
            "pure_before_seconds": round(pure_before, 2),
            "pure_after_seconds": round(pure_after, 2),
            "lightgbm_predict_seconds": round(lightgbm, 2),
            "lightgbm_rows": lightgbm_rows,
            "reasons_seconds": round(reasons_seconds, 2),
            "compile_seconds": round(compile_seconds, 2),
            "peak_above_start_mib": round(memory.above_base / 2**20, 1),
            "matrix_mib": round(matrix.nbytes / 2**20, 1),
        }
        command = shown_command("bench_batch_scoring.py", None)
        record(
            args.doc, "bench_batch_scoring", "bench_batch_scoring.py", command, document, render_doc
        )


if __name__ == "__main__":
    main()
