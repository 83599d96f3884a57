"""Uplift on hillstrom: Qini and AUUC of each learner against random and response targeting.

For each outcome, the same seeded split as ``lifecycle train-uplift`` (60/20/20; the
learner is chosen on valid), every learner and the response model (outcome among treated
users) are scored on the held-out 20% with paired bootstrap intervals (customers resampled).
No MLflow: the numbers only (``lifecycle train-uplift`` prints the same table and registers).

    uv run python experiments/uplift_hillstrom.py                      # all 64,000, visit + conversion + spend
    uv run python experiments/uplift_hillstrom.py --outcome visit --markdown
    uv run python experiments/uplift_hillstrom.py --quick              # 8,000 rows, visit, 30 draws: for CI
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def markdown(evaluation: object) -> list[str]:
    """One table row per ranking: Qini and AUUC with intervals, Qini over the response model."""
    from training.uplift import RESPONSE

    e = evaluation
    t = e.test  # type: ignore[attr-defined]
    outcome = e.campaign.outcome_name  # type: ignore[attr-defined]
    rows = []
    for name in (*e.fitted.bundles, RESPONSE):  # type: ignore[attr-defined]
        over = t.qini_over_baseline.get(name)
        chosen = " (chosen)" if name == e.chosen else ""  # type: ignore[attr-defined]
        rows.append(
            f"| {outcome} | {name}{chosen} | {t.qini[name].text(5)} | {t.auuc[name].text(5)} "
            f"| {over.text(5) if over else '-'} |"
        )
    rows.append(f"| {outcome} | random | 0 | {t.random_auuc.text(5)} | - |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcome", action="append", choices=["visit", "conversion", "spend"])
    parser.add_argument("--rows", type=int, default=None, help="a random sample [all 64,000]")
    parser.add_argument(
        "--draws", type=int, default=500, help="bootstrap draws [500, as train-uplift]"
    )
    parser.add_argument("--seed", type=int, default=7, help="split seed [settings training.seed]")
    parser.add_argument("--arm", help="one treated arm, e.g. 'Mens E-Mail' [both e-mails]")
    parser.add_argument("--markdown", action="store_true", help="print a README table")
    parser.add_argument("--quick", action="store_true", help="8,000 rows, visit, 30 draws")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.draws, args.outcome = 8000, 30, ["visit"]
    outcomes = args.outcome or ["visit", "conversion", "spend"]

    from features.adapters import HILLSTROM_FILE, hillstrom
    from training.uplift import evaluate
    from training.uplift_campaign import campaign_from_frame

    root = Path(os.environ.get("LIFECYCLE_DATA_ROOT", REPO.parent / "shared" / "data"))
    table = hillstrom(root / HILLSTROM_FILE).frame
    if args.rows:
        table = table.sample(args.rows, random_state=0).reset_index(drop=True)
    header = [
        "| outcome | ranking | Qini [95% CI] | AUUC [95% CI] | Qini - response [95% CI] |",
        "|---|---|---|---|---|",
    ]
    table_rows: list[str] = []
    for outcome in outcomes:
        started = time.perf_counter()
        campaign = campaign_from_frame(table, str(root / HILLSTROM_FILE), outcome, args.arm)
        evaluation = evaluate(campaign, args.seed, draws=args.draws, dataset="hillstrom")
        seconds = time.perf_counter() - started
        if args.markdown:
            table_rows += markdown(evaluation)
        else:
            print("\n".join(evaluation.lines()))
        verdict = "promoted" if evaluation.promote else "not promoted"
        print(f"{outcome}: {verdict}: {evaluation.reason()} ({seconds:.0f} s)", file=sys.stderr)
    if args.markdown:
        print("\n".join(header + table_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
