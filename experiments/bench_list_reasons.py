"""Benchmark the churn reasons a list computes for users the scores table did not explain.

A list reaching below `score-all --reasons-top N` (a filter, a long --top) explains its
users at list time (``serving.list_reasons``): TreeSHAP contributions of the churn model,
then each user's reasons in words (``serving.churn_reasons.worded_reasons``, a Python loop
over the features that raised the risk). This times that path, ``list_reasons._computed``
for every user the latest scores table scored, read-only, in CPU seconds
(``time.process_time``), two ways in the same run: the baseline with
``serving.compile_trees`` off, LightGBM's ``pred_contrib`` (what every list used before
2026-12-07), and now, the precomputed TreeSHAP of ``lifecycle.treeshap`` that score-all and
``/score`` explain with. Each is split between the contributions and the words, and the two
ways' reasons are compared user by user: the same features, values and words, the
contributions equal to 1e-9. The TreeSHAP of the list's model is saved beside its compiled
trees since 2026-12-07 (``TreeShap.cached``): a third way, ``built``, neither reads nor
writes the saved file (each list built it, as before) to time what that saves, for every
user and for a list of 10 users, where it is most of the difference. The workspace is
read only, but for that file where no server, score-all or list of this model saved it.

    python experiments/bench_list_reasons.py --home <trained workspace> [--runs 3]
    python experiments/bench_list_reasons.py --home <trained workspace> --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WAYS = ("baseline", "built", "now")
SMALL_LIST = 10


def _same(baseline: str | None, now: str | None) -> tuple[bool, float]:
    """Whether two users' reasons (JSON) say the same (features, values, words), and the
    largest relative difference of their contributions."""
    if baseline is None or now is None:
        return baseline == now, 0.0
    before, after = json.loads(baseline), json.loads(now)

    def said(reasons: list[dict[str, Any]]) -> list[tuple[Any, ...]]:  # NaN (null) as None
        return [
            (r["feature"], r["value"] if r["value"] == r["value"] else None, r["text"])
            for r in reasons
        ]

    words = said(before) == said(after)
    worst = max(
        (
            abs(a["contribution"] - b["contribution"]) / max(abs(b["contribution"]), 1e-300)
            for a, b in zip(after, before, strict=False)
        ),
        default=0.0,
    )
    return words and len(before) == len(after), worst


def bench(home: Path, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from lifecycle import bundle
    from lifecycle.settings import load_settings
    from lifecycle.treeshap import TreeShap
    from lifecycle.treeshap_native import kernel
    from serving import churn_reasons, list_reasons
    from serving.batch import latest_scores

    now = load_settings(home=home, environ={})
    baseline = {"LIFECYCLE_SERVING__COMPILE_TREES": "false"}
    settings = {"baseline": load_settings(home=home, environ=baseline), "built": now, "now": now}

    saved = TreeShap._read, TreeShap._write

    def forget_saved(way: str) -> None:  # "built": as before, each list builds its TreeSHAP
        built = way == "built"
        TreeShap._read = (lambda path: None) if built else saved[0]  # type: ignore[method-assign]
        TreeShap._write = (lambda self, path: None) if built else saved[1]  # type: ignore[method-assign]

    table = latest_scores(settings["now"])
    users = table.frame.loc[table.frame["churn_probability"].notna(), "user_id"]
    version = str(table.metadata["model_versions"]["churn"])
    started = time.process_time()
    kernel()  # the TreeSHAP kernel, compiled once per process (a list's first explanation)
    kernel_cpu = time.process_time() - started
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
    samples: dict[str, list[float]] = {
        f"{way}_{part}": [] for way in WAYS for part in ("total", "words", "contributions", "small")
    }
    found: dict[str, Any] = {}
    try:
        for way in WAYS:  # warm
            list_reasons._computed(settings[way], table, ("churn", version), users.head(50))
        for _ in range(runs):
            for way in WAYS:
                forget_saved(way)
                started = time.process_time()
                list_reasons._computed(
                    settings[way], table, ("churn", version), users.head(SMALL_LIST)
                )
                samples[f"{way}_small"].append(time.process_time() - started)
                forget_saved(way)
                spent.update(words=0.0, contributions=0.0)
                started = time.process_time()
                found[way], why = list_reasons._computed(
                    settings[way], table, ("churn", version), users
                )
                samples[f"{way}_total"].append(time.process_time() - started)
                samples[f"{way}_words"].append(spent["words"])
                samples[f"{way}_contributions"].append(spent["contributions"])
                if found[way] is None:
                    raise SystemExit(f"no reasons computed: {why}")
    finally:
        forget_saved("now")
        churn_reasons.worded_reasons = words  # type: ignore[assignment]
        bundle.ModelBundle.contributions_matrix = contributions  # type: ignore[method-assign]
    compared = [_same(b, n) for b, n in zip(found["baseline"], found["now"], strict=True)]
    median = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "users": len(users),
        "runs": runs,
        "cpu_baseline": round(median["baseline_total"], 2),
        "cpu_now": round(median["now_total"], 2),
        "ratio": round(median["now_total"] / median["baseline_total"], 2),
        "contributions_baseline": round(median["baseline_contributions"], 2),
        "contributions_now": round(median["now_contributions"], 2),
        "cpu_built": round(median["built_total"], 2),
        "saved_ratio": round(median["now_total"] / median["built_total"], 2),
        "small_users": SMALL_LIST,
        "small_baseline_ms": round(median["baseline_small"] * 1000),
        "small_built_ms": round(median["built_small"] * 1000),
        "small_now_ms": round(median["now_small"] * 1000),
        "small_ratio": round(median["now_small"] / median["built_small"], 2),
        "cpu_words": round(median["now_words"], 2),
        "words_ms_per_user": round(median["now_words"] * 1000 / len(users), 3),
        "kernel_cpu": round(kernel_cpu, 2),
        "same_words": all(same for same, _ in compared),
        "contribution_rel_diff": float(f"{max(d for _, d in compared):.1e}"),
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    users = f"{document['users']:,}"
    same = "the same" if document["same_words"] else "**not** the same"
    return "\n".join(
        [
            f"| reasons of {users} users at list time (CPU s) | baseline: LightGBM "
            "`pred_contrib` | now: precomputed TreeSHAP | ratio |",
            "|---|---:|---:|---:|",
            f"| all (model loaded, features read, contributions, words, JSON) | "
            f"{document['cpu_baseline']:.2f} | {document['cpu_now']:.2f} | "
            f"**{document['ratio']:.2f}x** |",
            f"| TreeSHAP contributions | {document['contributions_baseline']:.2f} | "
            f"{document['contributions_now']:.2f} | "
            f"{document['contributions_now'] / max(document['contributions_baseline'], 1e-9):.2f}x |",
            "",
            f"| reasons of a list of {document['small_users']} users (CPU ms) | TreeSHAP built "
            "for each list (before) | now: saved per model version | ratio |",
            "|---|---:|---:|---:|",
            f"| all (model loaded, features read, TreeSHAP, contributions, words) | "
            f"{document['small_built_ms']} | {document['small_now_ms']} | "
            f"**{document['small_ratio']:.2f}x** |",
            f"| all {users} users (CPU s) | {document['cpu_built']:.2f} | "
            f"{document['cpu_now']:.2f} | {document['saved_ratio']:.2f}x |",
            "",
            f"Medians of {document['runs']} runs, {measured_on(document['machine'])}. The reasons "
            f"in words took {document['cpu_words']:.2f} s ({document['words_ms_per_user']:.3f} ms "
            f"a user); the TreeSHAP kernel compiles once per process "
            f"({document['kernel_cpu']:.2f} s, not in the runs). Every user's reasons are "
            f"{same} both ways (features, values, words); the contributions differ by "
            f"{document['contribution_rel_diff']:.1e} relative at most. LightGBM's `pred_contrib` "
            f"took {document['small_baseline_ms']} ms for the {document['small_users']} users.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import home_argument, machine, parse_arguments, record_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home_argument(parser, "a trained workspace with a scores table")
    args = parse_arguments(parser, argv, runs=3)

    measured_from = machine()
    document = {"machine": measured_from, **bench(args.home, args.runs)}
    print(
        f"{document['users']:,} users: {document['cpu_baseline']:.2f} -> "
        f"{document['cpu_now']:.2f} CPU-s ({document['ratio']:.2f}x the baseline, LightGBM's "
        f"pred_contrib in the same run); contributions {document['contributions_baseline']:.2f}"
        f" -> {document['contributions_now']:.2f} s, words {document['cpu_words']:.2f} s; "
        f"{document['small_users']} users: TreeSHAP built {document['small_built_ms']} ms -> "
        f"saved {document['small_now_ms']} ms ({document['small_ratio']:.2f}x); "
        f"same reasons: {document['same_words']} (contributions to "
        f"{document['contribution_rel_diff']:.1e})"
    )
    if not document["same_words"] or not math.isfinite(document["ratio"]):
        raise SystemExit("the two ways' reasons differ")
    if args.doc:
        record_run("bench_list_reasons.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
