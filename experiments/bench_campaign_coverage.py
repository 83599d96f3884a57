"""Benchmark: how often the campaign report's 95% interval covers the true effect.

Each simulation generates a small demo product with its randomized win-back campaigns
(:mod:`features.demo_campaigns`, a new seed each time), reads every member's outcomes with
the report's code (:func:`serving.campaigns.campaign_outcomes`, the label code on the
events), measures targeted vs control (:func:`serving.campaigns.measure`) and checks the
interval against the true effect on the members (both potential outcomes are known).

Baseline, measured in the same run: the effect an operator would claim without a control
group (the targeted users' retention, conversion or revenue, credited wholly to the
campaign, with its own 95% interval). Its coverage shows what the hold-out is for.

    .venv/bin/python experiments/bench_campaign_coverage.py            # 100 simulations (goal >= 95%)
    .venv/bin/python experiments/bench_campaign_coverage.py --quick    # CI: 3 small simulations
    .venv/bin/python experiments/bench_campaign_coverage.py --doc docs/loop.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import contract as c
from features.demo import EVENTS_FILE, METADATA_FILE, USERS_FILE, generate_demo
from features.demo_campaigns import CAMPAIGNS_FILE, true_effects
from serving.campaigns import MEASURES, Campaign, campaign_outcomes, measure

GOAL = 0.95
Z = 1.959964


def simulate(seed: int, users: int, days: int, root: Path) -> list[dict[str, object]]:
    """One demo with its campaigns; per campaign and measure: truth, interval, baseline."""
    out = root / f"demo-{seed}"
    generate_demo(users, seed, out, days=days, future_days=0, campaigns=True)
    truth = pd.read_parquet(out / CAMPAIGNS_FILE)
    runs = json.loads((out / METADATA_FILE).read_text())["campaigns"]["runs"]
    rows = []
    for run in runs:
        members = truth[truth["campaign"] == run["name"]]
        campaign = Campaign(
            run["name"],
            members[[c.USER_ID, "control"]].reset_index(drop=True),
            {"as_of": run["as_of"], "horizon_days": run["horizon_days"]},
        )
        outcomes = campaign_outcomes(
            out / EVENTS_FILE,
            out / USERS_FILE,
            campaign.as_of,
            campaign.horizon_days,
            members[c.USER_ID],
            not_activity_types=(),  # the demo's events are all activity
        )
        effects = measure(campaign, outcomes)
        expected = true_effects(members)
        targeted = outcomes[~outcomes[c.USER_ID].isin(members.loc[members["control"], c.USER_ID])]
        for name, effect in effects.items():
            naive = targeted[name].to_numpy(float)
            naive_se = naive.std(ddof=1) / math.sqrt(len(naive))
            rows.append(
                {
                    "seed": seed,
                    "campaign": run["name"],
                    "measure": name,
                    "members": len(members),
                    "truth": expected[name],
                    "estimate": effect.difference,
                    "covered": effect.covers(expected[name]),
                    "width": effect.high - effect.low,
                    "baseline_covered": abs(naive.mean() - expected[name]) <= Z * naive_se,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=100)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument(
        "--days", type=int, default=1_095, help="observed days (>= 392 for two campaigns)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 simulations of 1,000 users over 500 days (CI)"
    )
    parser.add_argument("--doc", type=Path, help="write the bench_campaign_coverage block here")
    args = parser.parse_args(argv)
    if args.quick and args.doc:
        parser.error("--quick measures CI sizes: the doc keeps the full-size run (drop --doc)")
    if args.quick:
        args.simulations, args.users, args.days = 3, 1_000, 500
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.simulations):
            rows += simulate(seed, args.users, args.days, Path(root))
    seconds = time.perf_counter() - started
    table = pd.DataFrame(rows)
    summary = {}
    print(
        f"{args.simulations} simulations, {len(table) // len(MEASURES)} campaigns, "
        f"{args.users:,} users and {args.days} days each, {table['members'].mean():.0f} members per campaign "
        f"on average; {seconds:.1f} s ({seconds / args.simulations:.2f} s per simulation)"
    )
    for name in MEASURES:
        part = table[table["measure"] == name]
        coverage = float(part["covered"].mean())
        baseline = float(part["baseline_covered"].mean())
        summary[name] = {
            "coverage": coverage,
            "intervals": len(part),
            "baseline_coverage": baseline,
            "ratio_to_goal": coverage / GOAL,
            "mean_width": float(part["width"].mean()),
            "mean_error": float((part["estimate"] - part["truth"]).mean()),
        }
        print(
            f"  {name:<10} coverage {coverage:.1%} of {len(part)} intervals "
            f"(x{coverage / GOAL:.3f} the {GOAL:.0%} goal; {'met' if coverage >= GOAL else 'MISSED'}); "
            f"no-control baseline {baseline:.1%} (report / baseline x{coverage / max(baseline, 1e-9):.1f}); "
            f"mean width {part['width'].mean():.3g}, mean error {summary[name]['mean_error']:+.3g}"
        )
    if args.doc:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from docblocks import record

        results = {
            "simulations": args.simulations,
            "users": args.users,
            "days": args.days,
            "campaigns": len(table) // len(MEASURES),
            "mean_members": float(table["members"].mean()),
            "seconds": seconds,
            "measures": summary,
        }
        command = f"python experiments/bench_campaign_coverage.py --doc {args.doc}"
        record(
            args.doc,
            "bench_campaign_coverage",
            "bench_campaign_coverage.py",
            command,
            results,
            render_doc,
        )
    return summary


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The coverage table of docs/loop.md."""
    lines = [
        f"{results['simulations']} seeded demo simulations of {results['users']:,} users over "
        f"{results['days']:,} days, {results['campaigns']} campaigns "
        f"({results['mean_members']:.0f} members per campaign on average):",
        "",
        "| measure | intervals | coverage | mean width | mean error | no-control baseline coverage |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["measures"].items():
        label = "revenue (per user)" if name == "revenue" else name
        lines.append(
            f"| {label} | {row['intervals']} | {row['coverage']:.1%} | {row['mean_width']:.3g} "
            f"| {row['mean_error']:+.3g} | {row['baseline_coverage']:.1%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
