"""Uplift on the demo: learned from its randomized win-back campaigns, checked against the truth.

A demo with campaigns (``demo.campaigns``) is generated, ingested and its as-of features
built; its campaign lists become the uplift table as ``lifecycle train-uplift --from-list``
builds it (``serving.campaign_uplift``: outcomes after each campaign's date, features at
it). Per outcome, the same seeded split and learners as ``train-uplift``, judged on the
held-out 20% by Qini against random and response targeting (paired bootstrap), next to the
oracle: the members ranked by their true win-back probability (``campaigns.parquet``). And
whether the chosen learner recovers the known effect ordering of the ten user types
(channel x engagement): Spearman of the types' true effect and their mean predicted uplift.

    uv run python experiments/uplift_demo.py --users 40000 --doc docs/loop.md
    uv run python experiments/uplift_demo.py --home WS     # WS: a built demo workspace with campaigns
    uv run python experiments/uplift_demo.py --quick       # 3,000 users, visit, 30 draws: for CI
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ORACLE = "oracle (true effect)"
TYPE_COLUMNS = ("channel", "engagement")


def build_demo(home: Path, users: int, seed: int, design: Any = None) -> None:
    """Demo data with campaigns (``design``: a ``CampaignDesign``, default the demo's) ->
    ingest -> as-of feature table, with default settings."""
    from features.asof import build_feature_table
    from features.contract import ColumnMapping
    from features.demo import generate_demo
    from features.ingest import ingest_events
    from lifecycle.settings import load_settings

    settings = load_settings(home=home, environ={})
    demo_dir, demo = settings.workspace.demo_dir(), settings.demo
    generate_demo(
        users=users,
        seed=seed,
        out_dir=demo_dir,
        start=demo.start,
        days=demo.days,
        future_days=demo.future_days,
        campaigns=True,
        campaign_design=design,
    )
    data_dir = settings.workspace.dataset_dir("demo")
    ingest_events(
        demo_dir / "events.parquet",
        data_dir,
        mapping=ColumnMapping(),
        users_path=demo_dir / "users.parquet",
        max_bad_fraction=settings.ingest.max_bad_fraction,
    )
    build_feature_table(
        data_dir / "events.parquet",
        data_dir / "users.parquet",
        settings.workspace.feature_table("demo"),
        windows=settings.features.windows_days,
        frequency=settings.features.cutoff_frequency,
        memory_limit=settings.features.memory_limit,
    )


def demo_table(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The uplift table of the demo's campaign lists, and the truth of each of its rows."""
    from features.demo_campaigns import CAMPAIGN_LISTS_DIR, CAMPAIGNS_FILE, CampaignDesign
    from lifecycle.settings import load_settings
    from serving.campaign_uplift import campaign_uplift_table, list_campaign

    settings = load_settings(home=home, environ={})
    demo_dir = settings.workspace.demo_dir()
    horizon = CampaignDesign().horizon_days
    lists = sorted((demo_dir / CAMPAIGN_LISTS_DIR).glob("*.csv"))
    table = campaign_uplift_table(
        settings, [list_campaign(path, horizon, "demo") for path in lists], "demo"
    )
    truth = pd.read_parquet(demo_dir / CAMPAIGNS_FILE)
    keyed = truth.set_index(["campaign", "user_id"])
    rows = keyed.loc[list(zip(table["arm"], table["user_id"], strict=True))].reset_index()
    return table, rows


def type_ordering(truth: pd.DataFrame, uplift: np.ndarray) -> dict[str, Any]:
    """Per user type: the true win-back probability and the mean predicted uplift."""
    frame = truth[list(TYPE_COLUMNS)].assign(
        true_effect=truth["effect_probability"].to_numpy(), predicted=uplift
    )
    types = (
        frame.groupby(list(TYPE_COLUMNS))
        .agg(
            true_effect=("true_effect", "mean"),
            predicted=("predicted", "mean"),
            rows=("predicted", "size"),
        )
        .reset_index()
        .sort_values("true_effect", ascending=False)
    )
    spearman = float(types["true_effect"].rank().corr(types["predicted"].rank()))
    return {"spearman": spearman, "types": types.to_dict(orient="records")}


def evaluate_outcome(
    table: pd.DataFrame, truth: pd.DataFrame, outcome: str, seed: int, draws: int
) -> dict[str, Any]:
    from training.uplift import RESPONSE, evaluate
    from training.uplift_campaign import campaign_from_frame
    from training.uplift_metrics import compare_rankings

    started = time.perf_counter()
    campaign = campaign_from_frame(table, "demo campaigns", outcome)
    # campaign_from_frame orders rows by user id (stably): put the truth in the same order
    order = np.argsort(table["user_id"].astype(str).to_numpy(), kind="stable")
    truth = truth.iloc[order].reset_index(drop=True)
    evaluation = evaluate(campaign, seed, draws=draws, dataset="demo")
    test = campaign.subset(evaluation.split.test)
    test_truth = truth.iloc[evaluation.split.test].reset_index(drop=True)
    chosen = evaluation.fitted.bundles[evaluation.chosen]
    scores = {name: b.predict(test.features) for name, b in evaluation.fitted.bundles.items()}
    scores[RESPONSE] = evaluation.fitted.response.predict(test.matrix())
    scores[ORACLE] = test_truth["effect_probability"].to_numpy()
    comparison = compare_rankings(
        test.outcome, test.treated, scores, RESPONSE, draws=draws, seed=seed
    )
    rankings = {
        name: {
            "qini": comparison.qini[name].to_dict(),
            "auuc": comparison.auuc[name].to_dict(),
            "qini_over_response": comparison.qini_over_baseline[name].to_dict()
            if name in comparison.qini_over_baseline
            else None,
        }
        for name in scores
    }
    return {
        "outcome": outcome,
        "rows": len(campaign.outcome),
        "split": evaluation.split.sizes(),
        "chosen": evaluation.chosen,
        "promoted": evaluation.promote,
        "reason": evaluation.reason(),
        "test_ate": 2 * comparison.random_auuc.value,
        "random_auuc": comparison.random_auuc.to_dict(),
        "rankings": rankings,
        "types_test": type_ordering(test_truth, chosen.predict(test.features)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _interval(est: dict[str, float] | None, digits: int = 4) -> str:
    if est is None:
        return "-"
    return f"{est['value']:.{digits}f} [{est['low']:.{digits}f}, {est['high']:.{digits}f}]"


def render_doc(name: str, results: dict[str, Any]) -> str:
    """Qini per ranking and outcome, then the user types' true and recovered effects."""
    from docblocks import measured_on

    lines = [
        f"{measured_on(results['machine'])}: demo of {results['users']:,} users (seed "
        f"{results['seed']}), {results['members']:,} members of {results['campaigns']} "
        f"campaigns; test 20% ({results['outcomes'][0]['split']['test']:,} members), "
        f"{results['draws']} bootstrap draws:",
        "",
        "| outcome | ranking | Qini [95% CI] | Qini - response [95% CI] | types' Spearman |",
        "|---|---|---|---|---|",
    ]
    for run in results["outcomes"]:
        for ranking, est in run["rankings"].items():
            chosen = " (chosen)" if ranking == run["chosen"] else ""
            spearman = f"{run['types_test']['spearman']:.2f}" if chosen else ""
            lines.append(
                f"| {run['outcome']} | {ranking}{chosen} | {_interval(est['qini'])} | "
                f"{_interval(est['qini_over_response'])} | {spearman} |"
            )
    # conversion: the outcome a won-back order moves one for one
    first = next(
        (r for r in results["outcomes"] if r["outcome"] == "conversion"), results["outcomes"][0]
    )
    lines += [
        "",
        f"User types ({first['outcome']}, test members): true win-back probability and the "
        f"chosen {first['chosen']}'s mean predicted uplift:",
        "",
        "| channel | engagement | true effect | predicted uplift | members |",
        "|---|---|---|---|---|",
    ]
    for row in first["types_test"]["types"]:
        lines.append(
            f"| {row['channel']} | {row['engagement']} | {row['true_effect']:.2f} | "
            f"{row['predicted']:+.3f} | {row['rows']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40_000, help="demo users [40,000]")
    parser.add_argument("--seed", type=int, default=5, help="demo seed [5]")
    parser.add_argument("--split-seed", type=int, default=7, help="[settings training.seed]")
    parser.add_argument("--outcome", action="append", choices=["visit", "conversion", "spend"])
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws [200]")
    parser.add_argument("--home", type=Path, help="a workspace with the demo already built")
    parser.add_argument("--doc", type=Path, help="write the tables into this doc's block")
    parser.add_argument("--quick", action="store_true", help="3,000 users, visit, 30 draws")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.draws, args.outcome = 3000, 30, ["visit"]
    outcomes = args.outcome or ["visit", "conversion"]

    from docblocks import machine, record, shown_command

    from features.demo import METADATA_FILE

    meta = machine()
    with tempfile.TemporaryDirectory(prefix="uplift-demo-") as tmp:
        home = args.home or Path(tmp) / "workspace"
        if args.home is None:
            started = time.perf_counter()
            build_demo(home, args.users, args.seed)
            print(f"demo built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        else:  # the demo's own record of its size and seed
            built = json.loads((home / "demo" / METADATA_FILE).read_text())["parameters"]
            args.users, args.seed = built["users"], built["seed"]
        table, truth = demo_table(home)
        runs = [evaluate_outcome(table, truth, o, args.split_seed, args.draws) for o in outcomes]
    for run in runs:
        print(f"{run['outcome']}: chosen {run['chosen']}; {run['reason']} ({run['seconds']} s)")
        for ranking, est in run["rankings"].items():
            print(
                f"  {ranking:<28} Qini {_interval(est['qini'])}  over response "
                f"{_interval(est['qini_over_response'])}"
            )
        print(f"  user types' Spearman (test): {run['types_test']['spearman']:.2f}")
    results = {
        "machine": meta,
        "users": args.users,
        "seed": args.seed,
        "split_seed": args.split_seed,
        "draws": args.draws,
        "campaigns": int(table["arm"].nunique()),
        "members": len(table),
        "outcomes": runs,
    }
    if args.doc:
        command = shown_command("uplift_demo.py", argv)
        record(args.doc, "uplift_demo", "uplift_demo.py", command, results, render_doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
