"""Benchmark the churn reasons a list computes for users the scores table did not explain.

A list reaching below `score-all --reasons-top N` (a filter, a long --top) explains its
users at list time (``serving.list_reasons``): TreeSHAP contributions of the churn model,
then each user's reasons in words (``serving.churn_reasons.worded_reasons``, a Python loop
over the features that raised the risk). This times that path, ``list_reasons._computed``
for every user the latest scores table scored, read-only, and splits its CPU seconds
(``time.process_time``) between the words and the contributions (the baseline, measured in
the same calls): the words are worth vectorising only if they are the bulk.

    python experiments/bench_list_reasons.py --home <trained workspace> [--runs 3]
    python experiments/bench_list_reasons.py --home <trained workspace> --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def bench(home: Path, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from lifecycle import bundle
    from lifecycle.settings import load_settings
    from serving import churn_reasons, list_reasons
    from serving.batch import latest_scores

    settings = load_settings(home=home, environ={"LIFECYCLE_SERVING__COMPILE_TREES": "false"})
    table = latest_scores(settings)
    users = table.frame.loc[table.frame["churn_probability"].notna(), "user_id"]
    version = str(table.metadata["model_versions"]["churn"])
    spent = {"words": 0.0, "contributions": 0.0}
    words, contributions = churn_reasons.worded_reasons, bundle.ModelBundle.contributions_matrix

    def timed_words(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return words(*args, **kwargs)
        finally:
            spent["words"] += time.process_time() - started

    def timed_contributions(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return contributions(self, *args, **kwargs)
        finally:
            spent["contributions"] += time.process_time() - started

    churn_reasons.worded_reasons = timed_words  # type: ignore[assignment]
    bundle.ModelBundle.contributions_matrix = timed_contributions  # type: ignore[method-assign]
    samples: dict[str, list[float]] = {"total": [], "words": [], "contributions": []}
    try:
        list_reasons._computed(settings, table, ("churn", version), users.head(50))  # warm
        for _ in range(runs):
            spent.update(words=0.0, contributions=0.0)
            started = time.process_time()
            found, why = list_reasons._computed(settings, table, ("churn", version), users)
            samples["total"].append(time.process_time() - started)
            samples["words"].append(spent["words"])
            samples["contributions"].append(spent["contributions"])
            if found is None:
                raise SystemExit(f"no reasons computed: {why}")
    finally:
        churn_reasons.worded_reasons = words  # type: ignore[assignment]
        bundle.ModelBundle.contributions_matrix = contributions  # type: ignore[method-assign]
    median = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "users": len(users),
        "runs": runs,
        "cpu_total": round(median["total"], 2),
        "cpu_words": round(median["words"], 2),
        "cpu_contributions": round(median["contributions"], 2),
        "words_ms_per_user": round(median["words"] * 1000 / len(users), 3),
        "words_share": round(median["words"] / median["total"], 2),
        "words_to_contributions": round(median["words"] / median["contributions"], 2),
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    total = document["cpu_total"]
    return "\n".join(
        [
            f"| reasons of {document['users']:,} users at list time | CPU s | share |",
            "|---|---:|---:|",
            f"| all (features read, contributions, words, JSON) | {total:.2f} | 1.00 |",
            f"| TreeSHAP contributions (baseline) | {document['cpu_contributions']:.2f} | "
            f"{document['cpu_contributions'] / total:.2f} |",
            f"| reasons in words ({document['words_ms_per_user']:.3f} ms a user) | "
            f"{document['cpu_words']:.2f} | {document['words_share']:.2f} |",
            "",
            f"Medians of {document['runs']} runs, {measured_on(document['machine'])}: the words "
            f"cost {document['words_to_contributions']:.2f}x the contributions.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=os.environ.get("LIFECYCLE_HOME"),
        help="a trained workspace with a scores table [env LIFECYCLE_HOME]",
    )
    parser.add_argument("--runs", type=int, default=3)
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import doc_arguments, machine, record_run

    doc_arguments(parser)
    args = parser.parse_args(argv)
    if args.home is None:
        parser.error("--home (or LIFECYCLE_HOME): a trained workspace")

    measured_from = machine()
    document = {"machine": measured_from, **bench(args.home, args.runs)}
    print(
        f"{document['users']:,} users: {document['cpu_total']:.2f} CPU-s, of which "
        f"contributions {document['cpu_contributions']:.2f} s, words {document['cpu_words']:.2f}"
        f" s ({document['words_ms_per_user']:.3f} ms a user, {document['words_share']:.0%}; "
        f"{document['words_to_contributions']:.2f}x the contributions)"
    )
    if args.doc:
        record_run("bench_list_reasons.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
