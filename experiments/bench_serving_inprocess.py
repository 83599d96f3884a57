"""In-process scoring latency against the floor measured in the same run (``bench_serving.py``).

The floor is what one answer cannot do without: a primary-key lookup of the user's
features in the online store, every champion booster's predict on one numpy row, and
building the response. Each case is timed per call on the calling thread's CPU clock
(other processes on a shared machine do not count) and on the wall clock; ratios are of
CPU p50s. Cases: 1 churn-eligible user with its reasons computed, without reasons, and
100 users with the reasons precomputed by ``score-all``.
"""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = {
    "floor": "floor: key lookup + predict on a numpy row + response",
    "one_reasons": "1 user, reasons computed",
    "one_plain": "1 user, no reasons",
    "hundred_precomputed": "100 users, reasons precomputed",
}
AIMS_MS = {"one_reasons": 1.0, "one_plain": 0.35, "hundred_precomputed": 5.0}  # issue 17


def timed(call: Callable[[], Any], seconds: float, warmup: int = 20) -> dict[str, float]:
    """p50 of CPU and wall time per call, over ``seconds`` of calls."""
    for _ in range(warmup):
        call()
    cpu, wall = [], []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        c0, w0 = time.thread_time(), time.perf_counter()
        call()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    cpu.sort()
    wall.sort()
    return {
        "calls": len(cpu),
        "cpu_p50_ms": cpu[len(cpu) // 2] * 1e3,
        "wall_p50_ms": wall[len(wall) // 2] * 1e3,
    }


def eligible_users(scores_path: Path, count: int) -> list[str]:
    """Churn-eligible users of the latest batch scores (those with reasons to explain)."""
    import pandas as pd

    frame = pd.read_parquet(scores_path, columns=["user_id", "churn_probability"])
    ids = frame.loc[frame["churn_probability"].notna(), "user_id"].astype(str).tolist()
    random.Random(4).shuffle(ids)
    return ids[:count]


def floor_call(scorer: Any, user_id: str) -> Callable[[], Any]:
    """Key lookup of one user's features, each booster on one numpy row, one response."""
    import numpy as np

    from features.online_store import entity_keys
    from features.store import _read_plan, _row_store
    from serving.schemas import ScoreResponse, UserScore

    state = scorer.state
    store = state.store
    online = _row_store(store)
    service = next(iter(sorted(state.champions.services)))
    plan = _read_plan(store, service)
    key = entity_keys(plan.text_names[0], [user_id], store.config.entity_key_serialization_version)
    rows = []
    for bundle in state.champions.bundles.values():
        row = np.zeros((1, len(bundle.feature_names)))
        boosters = [bundle.booster, *bundle.quantile_boosters.values()]
        if bundle.purchase_booster is not None:
            boosters.append(bundle.purchase_booster)
        rows += [(booster, row) for booster in boosters]
    versions = dict(state.champions.versions)

    def call() -> Any:
        online.read_rows(store.config, plan.reads, key)
        scores = [float(b.predict(x, num_threads=1)[0]) for b, x in rows]
        return ScoreResponse(
            users=[
                UserScore(
                    user_id=user_id,
                    status="scored",
                    model_versions=versions,
                    churn_probability=scores[0],
                    lifecycle_stage="active",
                )
            ],
            model_versions=versions,
            model_kinds={},
            unavailable={},
        )

    return call


def measure(home: Path, seconds: float) -> dict[str, Any]:
    """Every case and the floor, in this process, against the trained workspace ``home``."""
    from lifecycle.settings import load_settings
    from serving.scorer import Scorer

    settings = load_settings(home=home)
    scorer = Scorer(settings)
    scorer.load()
    ids = eligible_users(settings.workspace.latest_scores, 200)
    one, hundred = ids[0], ids[:100]
    # Before issue 17 the scorer had no reasons option: reasons always computed.
    modes = "reasons" in inspect.signature(scorer.score).parameters
    cases = {
        "floor": floor_call(scorer, one),
        "one_reasons": lambda: (
            scorer.score([one], reasons="fresh") if modes else scorer.score([one])
        ),
        "one_plain": lambda: scorer.score([one], reasons="none"),
        "hundred_precomputed": lambda: (
            scorer.score(hundred, reasons="auto") if modes else scorer.score(hundred)
        ),
    }
    if not modes:
        cases["one_plain"] = _without_reasons(scorer, one)
    results = {name: timed(call, seconds) for name, call in cases.items()}
    scorer.close()
    floor_ms = results["floor"]["cpu_p50_ms"]
    for row in results.values():
        row["over_floor"] = round(row["cpu_p50_ms"] / floor_ms, 2) if floor_ms else float("nan")
    return {"cases": results, "precomputed": modes}


def _without_reasons(scorer: Any, user_id: str) -> Callable[[], Any]:
    """The pre-issue-17 scorer with its one scoring call told not to explain."""
    import functools

    import serving.scoring as scoring

    original = scoring.score_frame

    def call() -> Any:
        scoring.score_frame = functools.partial(original, reasons=False)
        try:
            return scorer.score([user_id])
        finally:
            scoring.score_frame = original

    return call


def lines(result: dict[str, Any]) -> list[str]:
    """The table and the aims, as markdown lines."""
    cases = result["cases"]
    out = [
        "| in process | CPU p50 ms | wall p50 ms | x floor | aim ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in cases.items():
        aim = AIMS_MS.get(name)
        out.append(
            f"| {CASES[name]} | {row['cpu_p50_ms']:.3f} | {row['wall_p50_ms']:.3f} | "
            f"{row['over_floor']:.1f} | {'' if aim is None else f'<= {aim}'} |"
        )
    return out
