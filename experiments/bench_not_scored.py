"""Benchmark the scores table's /score words: ``not_scored`` and ``outlook_apart`` of N users.

``serving.batch.score_users`` (what ``lifecycle score-all`` runs) writes for every user
/score's ``not_scored`` (why a task's population leaves the user out, JSON text) and
``outlook_apart`` (the two purchase outlooks apart). This times, on the same rows, in CPU
seconds of this process (``time.process_time``):

- the baseline: ``not_scored`` as it was written before 2026-12-07, a dict and a
  ``json.dumps(..., sort_keys=True)`` per user left out (``serving.not_scored.not_scored``,
  /score's per-user path, then dumped user by user);
- now: ``serving.not_scored.not_scored_json``, the text put together task by task;
- ``serving.outlook_apart.outlook_apart_column`` (words only where the two are apart);
- ``score_users`` itself on the same rows (scoring, segments, churn reasons for the top
  5,000 of the at-risk list by value at risk, as ``bench_batch_scoring.py`` times it; trees
  compiled as ``score-all`` compiles them, from 200,000 users on), so each column's share
  of the whole is printed.

The two ways' texts are compared row by row. Rows are drawn with replacement from the
workspace's feature table at its latest cutoff, each under a new user id (as
``bench_batch_scoring.py`` draws them), scored by its champions with their labels.

    python experiments/bench_not_scored.py --home <trained workspace>              # 1M users
    python experiments/bench_not_scored.py --home <trained workspace> --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docblocks import home_argument, machine, measured_on, parse_arguments, record_run


def cpu(call: Any) -> tuple[float, Any]:
    started = time.process_time()
    out = call()
    return time.process_time() - started, out


def bench(home: Path, users: int, runs: int) -> dict[str, Any]:
    from bench_batch_scoring import drawn_users, workspace_models

    from lifecycle.settings import load_settings
    from serving import batch
    from serving.not_scored import not_scored, not_scored_json
    from serving.outlook_apart import outlook_apart_column
    from serving.scoring import compile_champions

    champions, real = workspace_models(home)
    # score-all's trees: compiled from COMPILE_PAYS_ROWS users on, else those already compiled
    settings = load_settings(home=home)
    compile_champions(settings, champions, cached_only=users < batch.COMPILE_PAYS_ROWS)
    if real is None or not len(real):
        raise SystemExit(f"{home}: no feature table to draw users from")
    features = drawn_users(real, users)
    labels, tasks = champions.labels, list(champions.answered)

    def column(name: str) -> np.ndarray:
        import pandas as pd

        if name not in features:
            raise KeyError(name)
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    def baseline() -> list[str | None]:
        found = not_scored(labels, tasks, column, len(features))
        return [None if why is None else json.dumps(why, sort_keys=True) for why in found]

    options = {"reasons_top": 5_000, "reasons_by": ("value_at_risk",)}
    batch.score_users(champions, features.iloc[:1000], **options)  # warm up
    scoring, scores = cpu(lambda: batch.score_users(champions, features, **options))
    times: dict[str, list[float]] = {"baseline": [], "now": [], "outlook": []}
    same = True
    for _ in range(runs):
        seconds, before = cpu(baseline)
        times["baseline"].append(seconds)
        seconds, now = cpu(lambda: not_scored_json(labels, tasks, features))
        times["now"].append(seconds)
        same = same and now == before and now == scores["not_scored"].tolist()
        seconds, _ = cpu(lambda: outlook_apart_column(scores))
        times["outlook"].append(seconds)
    median = {way: statistics.median(values) for way, values in times.items()}
    return {
        "machine": machine(),
        "users": users,
        "drawn_from": len(real),
        "tasks": tasks,
        "runs": runs,
        "not_scored_rows": int(scores["not_scored"].notna().sum()),
        "outlook_apart_rows": int(scores["outlook_apart"].notna().sum()),
        "score_users_cpu": round(scoring, 2),
        "baseline_cpu": round(median["baseline"], 3),
        "now_cpu": round(median["now"], 3),
        "outlook_cpu": round(median["outlook"], 3),
        "ratio": round(median["now"] / median["baseline"], 3),
        "same_text": same,
    }


def render_doc(name: str, d: dict[str, Any]) -> str:
    """The block: the two ways of ``not_scored`` and their share of scoring the same rows."""
    whole = d["score_users_cpu"]
    before = whole - d["now_cpu"] + d["baseline_cpu"]  # the same scoring with the old words
    return (
        f"| `not_scored` of {d['users']:,} users (CPU s) | baseline: a dict and a `json.dumps` "
        "per user | now: put together task by task | ratio |\n"
        "|---|---:|---:|---:|\n"
        f"| the column ({d['not_scored_rows']:,} users left out by a task) | "
        f"{d['baseline_cpu']:.2f} | {d['now_cpu']:.2f} | **{d['ratio']:.2f}x** |\n"
        f"| its share of `score_users` on the same rows | {d['baseline_cpu'] / before:.1%} of "
        f"{before:.1f} | {d['now_cpu'] / whole:.1%} of {whole:.1f} | |\n\n"
        f"Medians of {d['runs']} runs, {measured_on(d['machine'])}; rows drawn from "
        f"{d['drawn_from']:,} real users of a trained workspace (tasks "
        f"{', '.join(d['tasks'])}), `score_users` with churn reasons for the top 5,000 of the "
        f"at-risk list timed once. Both ways' texts are the same for every user: "
        f"{'yes' if d['same_text'] else 'NO'}. `outlook_apart` (words for the "
        f"{d['outlook_apart_rows']:,} users whose two outlooks are apart) took "
        f"{d['outlook_cpu']:.2f} s, {d['outlook_cpu'] / whole:.1%}.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home_argument(parser, "a trained workspace (its champions and feature table)")
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parse_arguments(parser, argv, runs=3)
    d = bench(args.home, args.users, args.runs)
    print(render_doc("bench_not_scored", d))
    if args.doc:
        record_run("bench_not_scored.py", args, argv, d, render_doc)


if __name__ == "__main__":
    main()
