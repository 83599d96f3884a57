"""In-process scoring latency against the floor measured in the same run (``bench_serving.py``).

The floor is what one answer cannot do without: a primary-key lookup of the user's
features in the online store, every champion booster's predict on one numpy row, and
building the response. Each case is timed per call on the calling thread's CPU clock
(other processes on a shared machine do not count) and on the wall clock; ratios are of
CPU p50s. Cases: 1 churn-eligible user with its reasons computed, without reasons, and
100 users with the reasons precomputed by ``score-all``.

Every case runs twice on the same scorer: first with the boosters predicting through
LightGBM, then with their trees compiled (``lifecycle.compiled``, compiled once before
measuring, as a server does after it is ready). The floor is the compiled one (issue 17);
each engine's own floor is printed beside it.

    LIFECYCLE_HOME=<trained workspace> .venv/bin/python experiments/bench_serving_inprocess.py \
        --seconds 5 --doc docs/benchmarks.md
    python experiments/bench_serving_inprocess.py --home <trained workspace> --seconds 0.05 \
        --no-compile     # LightGBM only, in seconds: what CI runs (tests/test_benchmark_scripts.py)
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = {
    "floor": "floor: key lookup + predict on a numpy row + response",
    "floor_reasons": "floor with reasons: the floor + TreeSHAP of the churn model on the row",
    "one_reasons": "1 user, reasons computed",
    "one_plain": "1 user, no reasons",
    "hundred_precomputed": "100 users, reasons precomputed",
}
AIMS_MS = {"one_reasons": 1.0, "one_plain": 0.35, "hundred_precomputed": 5.0}  # issue 17
# The same aims as ratios to a floor of the same run, which is what issue 17 counts ("ratios
# in one run"): 1 user with reasons within 2.5x of the floor that includes TreeSHAP (its
# own words); the others its aims in ms over its floor without reasons, about 0.10 ms
# (lookup 19 µs, compiled trees 37-47 µs, response 18 µs).
AIMS_X_FLOOR = {
    "one_reasons": ("floor_reasons", 2.5),
    "one_plain": ("floor", 3.5),
    "hundred_precomputed": ("floor", 50.0),
}
ENGINES = {"lightgbm": "LightGBM", "compiled": "compiled trees"}
# Since lifecycle.treeshap: built with the compiled trees, so the LightGBM rows explain
# through LightGBM's pred_contrib and the compiled ones through the precomputed leaves.
TABLES_ENGINE = "compiled trees, precomputed TreeSHAP"


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


def floor_call(scorer: Any, user_id: str, *, explain: bool = False) -> Callable[[], Any]:
    """Key lookup of one user's features, each booster on one numpy row, one response
    (``explain``: and the churn model's contributions for the row, as reasons need)."""
    import numpy as np

    from serving.schemas import ScoreResponse, UserScore

    state = scorer.state
    store = state.store
    service = next(iter(sorted(state.champions.services)))
    plan = store.read_plan(service)
    key = store.keys(plan, [user_id])
    rows = []
    for bundle in state.champions.bundles.values():
        row = np.zeros((1, len(bundle.feature_names)))
        boosters = [bundle.booster, *bundle.quantile_boosters.values()]
        if bundle.purchase_booster is not None:
            boosters.append(bundle.purchase_booster)
        rows += [(bundle, booster, row) for booster in boosters]
    versions = dict(state.champions.versions)
    churn = state.champions.bundles["churn"]
    churn_row = np.zeros((1, len(churn.feature_names)))

    def call() -> Any:
        store.read(plan, key)
        # predict_trees: the compiled trees once compiled, else LightGBM on one thread
        scores = [float(bundle.predict_trees(b, x)[0]) for bundle, b, x in rows]
        if explain:  # the tables once built with the compiled trees, else pred_contrib
            churn.contributions_matrix(churn_row)
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


def measure(home: Path, seconds: float, compile_trees: bool = True) -> dict[str, Any]:
    """Every case and the floor, in this process, against the trained workspace ``home``:
    through LightGBM, then (``compile_trees``) with the champions' trees compiled."""
    from lifecycle.settings import load_settings
    from serving.scorer import Scorer
    from serving.scoring import compile_champions

    # The scorer must not compile in the background while LightGBM is measured.
    lightgbm_only = {**os.environ, "LIFECYCLE_SERVING__COMPILE_TREES": "false"}
    settings = load_settings(home=home, environ=lightgbm_only)
    scorer = Scorer(settings)
    scorer.load()
    ids = eligible_users(settings.workspace.latest_scores, 200)
    one, hundred = ids[0], ids[:100]
    # Before issue 17 the scorer had no reasons option: reasons always computed.
    modes = "reasons" in inspect.signature(scorer.score).parameters
    cases = {
        "floor": lambda: floor_call(scorer, one),
        "floor_reasons": lambda: floor_call(scorer, one, explain=True),
        "one_reasons": lambda: (
            lambda: scorer.score([one], reasons="fresh") if modes else scorer.score([one])
        ),
        "one_plain": lambda: (
            (lambda: scorer.score([one], reasons="none"))
            if modes
            else _without_reasons(scorer, one)
        ),
        "hundred_precomputed": lambda: (
            lambda: scorer.score(hundred, reasons="auto") if modes else scorer.score(hundred)
        ),
    }
    engines = {"lightgbm": {name: timed(make(), seconds) for name, make in cases.items()}}
    state = scorer.state
    assert state is not None
    started = time.process_time()
    if compile_trees:  # minutes of CPU the first time, and the trees cached in the workspace
        compile_champions(load_settings(home=home), state.champions, background=False)
    compile_s = time.process_time() - started
    compiled = sum(len(b.compiled) for b in state.champions.bundles.values())
    tables = sum(
        getattr(b, "shap_tables", None) is not None for b in state.champions.bundles.values()
    )
    if compiled:
        engines["compiled"] = {name: timed(make(), seconds) for name, make in cases.items()}
    floor_ms = engines["compiled" if compiled else "lightgbm"]["floor"]["cpu_p50_ms"]
    for rows in engines.values():
        own_floor = rows["floor"]["cpu_p50_ms"]
        for row in rows.values():
            row["over_floor"] = round(row["cpu_p50_ms"] / floor_ms, 2)
            row["over_own_floor"] = round(row["cpu_p50_ms"] / own_floor, 2)
    boosters = sum(len(b.booster_files()) for b in state.champions.bundles.values())
    return {
        "engines": engines,
        "precomputed": modes,
        "boosters": boosters,
        "compiled_boosters": compiled,
        "compile_cpu_s": round(compile_s, 2),
        "shap_tables": tables,
    }


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
    """The table and the aims, as markdown lines (one engine in results from before
    compiled trees were measured here: ``cases``)."""
    if "engines" not in result:
        return _table({"": result["cases"]}, with_engine=False)
    return _table(result["engines"], with_engine=True, tables=bool(result.get("shap_tables")))


def _table(
    engines: dict[str, dict[str, Any]], *, with_engine: bool, tables: bool = False
) -> list[str]:
    engine_head, engine_rule = ("engine | ", "---|") if with_engine else ("", "")
    out = [
        f"| in process | {engine_head}CPU p50 ms | wall p50 ms | x floor | aim ms |",
        f"|---|{engine_rule}---:|---:|---:|---:|",
    ]
    for engine, cases in engines.items():
        for name, row in cases.items():
            aim = AIMS_MS.get(name)
            label = TABLES_ENGINE if tables and engine == "compiled" else ENGINES.get(engine, "")
            cell = f"{label} | " if with_engine else ""
            out.append(
                f"| {CASES[name]} | {cell}{row['cpu_p50_ms']:.3f} | {row['wall_p50_ms']:.3f} | "
                f"{row['over_floor']:.1f} | {'' if aim is None else f'<= {aim}'} |"
            )
    return out


def render_doc(name: str, document: dict[str, Any]) -> str:
    """The in-process table of both engines, with what was compiled and the aims met."""
    from docblocks import measured_on

    result = document["in_process"]
    engines = result["engines"]
    best = engines.get("compiled", engines["lightgbm"])
    met = [
        f"{CASES[case]} {best[case]['cpu_p50_ms']:.2f} ms "
        f"({'met' if best[case]['cpu_p50_ms'] <= aim else 'missed'}, aim {aim} ms)"
        for case, aim in AIMS_MS.items()
    ]
    for case, (floor, aim) in AIMS_X_FLOOR.items():
        if floor in best:  # results from before the floor with reasons was measured: none
            ratio = best[case]["cpu_p50_ms"] / best[floor]["cpu_p50_ms"]
            met.append(
                f"{CASES[case]} {ratio:.1f}x the {CASES[floor].split(':')[0]} "
                f"({'met' if ratio <= aim else 'missed'}, aim {aim:g}x)"
            )
    return "\n".join(
        [
            f"{measured_on(document['machine'])}; per-thread CPU time (`time.thread_time`) "
            f"p50 over {document['seconds']:.0f} s per case, {document['users']:,} users; "
            f"{result['compiled_boosters']} of {result['boosters']} boosters compiled "
            f"(compiled or read from the cache in {result['compile_cpu_s']:.1f} CPU-s, before "
            "measuring"
            + (
                f", with the precomputed TreeSHAP (lifecycle.treeshap) of {result['shap_tables']} model"
                if result.get("shap_tables")
                else ""
            )
            + '); "x floor" is against the compiled floor:',
            "",
            *lines(result),
            "",
            f"With compiled trees: {'; '.join(met)}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from docblocks import home_argument, machine, parse_arguments, record_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    home_argument(parser, "a trained workspace", fallback="workspace")
    parser.add_argument("--seconds", type=float, default=5.0, help="of calls per case")
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="measure through LightGBM only (the compiled trees cost minutes of CPU)",
    )
    args = parse_arguments(parser, argv)
    home = args.home.resolve()

    meta = machine()
    result = measure(home, args.seconds, compile_trees=not args.no_compile)
    print("\n".join(lines(result)))
    if args.doc:
        import pyarrow.parquet as pq

        from lifecycle.settings import load_settings

        scores = load_settings(home=home).workspace.latest_scores
        users = pq.ParquetFile(scores).metadata.num_rows
        document = {
            "machine": meta,
            "seconds": args.seconds,
            "users": users,
            "in_process": result,
        }
        record_run("bench_serving_inprocess.py", args, argv, document, render_doc)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
