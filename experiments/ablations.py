"""The ablations of docs/decisions.md: the backtest run again with each choice of the method
undone, one at a time, next to the method as it is.

Every variant runs ``lifecycle.backtest.run_backtest`` (the same call as ``lifecycle
backtest --dataset online_retail --cutoff 2011-09-09 --horizon 91``) in one workspace holding
the imported data set. A choice that a setting can flip is undone by that setting
(``LIFECYCLE_*`` values of the variant); one that no user should want undone by a
``training.pipeline.Method`` set for the variant's run only. Each variant's scores are paired
with the current method's on the same users: kept minus undone, with a 95% paired bootstrap
interval, for AUC of P(active), Spearman and Gini of the LTV, and AUC of the served
``p_alive`` for buying again (customers only). With ``--doc`` the results go to
docs/results/ablations.json and the doc's ``ablations`` block is rendered from them.

    uv run python experiments/ablations.py                                 # print the tables
    uv run python experiments/ablations.py --doc docs/decisions.md         # into the doc
    uv run python experiments/ablations.py --only no_refit --doc docs/decisions.md
    uv run python experiments/ablations.py --quick --json /tmp/ablations.json   # tiny, for CI
    uv run python experiments/ablations.py --case backtest-online_retail-august --json /tmp/a.json
    uv run python experiments/ablations.py --case backtest-online_retail-monthly --cutoff 2011-07-01

``--only NAME`` re-runs that variant and the current method it is paired with, and keeps the
other variants' recorded results (the runs are seeded: the current method reproduces).
``--case`` pairs the variants on another case of experiments/backtests.py (the August
origin, before the season: a new choice is judged on both origins); the doc's block is the
September one, so such a run prints and writes ``--json`` only; so does ``--cutoff``, which
pairs them at another origin of the case (its horizon).
``--quick`` runs two variants on a demo product of 1,000 users (backtests.py's quick case):
its numbers check the script, not the method.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASE = "backtest-online_retail"  # experiments/backtests.py's case: data set, cutoff, horizon
CURRENT = "current"
# The choices that the judged scores show (the backtest's metrics of the served method).
METRICS = {
    "spearman": ("Spearman", ".3f"),
    "normalized_gini": ("Gini", ".3f"),
    "auc": ("AUC P(active)", ".3f"),
    "total_error": ("total error", "+.1%"),
    "ece": ("ECE", ".3f"),
    "inside_p10_p90": ("in P10-P90", ".0%"),
    "p_alive_auc": ("AUC p_alive", ".3f"),
}
# Paired differences, kept minus undone: the metric, its score column, its outcome.
PAIRED = {
    "auc": ("P(active)", "active"),
    "spearman": ("ltv", "value"),
    "normalized_gini": ("ltv", "value"),
    "p_alive_auc": ("p_alive", "bought"),
}
QUICK_RESAMPLES = 200
QUICK_VARIANTS = (CURRENT, "no_refit")


@dataclass(frozen=True)
class Variant:
    kept: str  # the choice of the current method, in the doc's words
    undone: str  # what the variant does instead
    env: tuple[tuple[str, str], ...] = ()  # settings that undo it (LIFECYCLE_*)
    method: dict[str, Any] = field(default_factory=dict)  # training.pipeline.Method fields


MODELS = "LIFECYCLE_TRAINING__MODELS__"
VARIANTS = {
    CURRENT: Variant("the method as it is", ""),
    "churn_lookback_90": Variant(
        "churn for every known user, lapsed ones included",
        "churn for users active in the 90 days before the cutoff",
        (("LIFECYCLE_LABELS__CHURN_LOOKBACK_DAYS", "90"),),
    ),
    "monthly_cutoffs": Variant(
        "weekly cutoffs counted back from the scoring date",
        "cutoffs on the first of each month",
        (("LIFECYCLE_FEATURES__CUTOFF_FREQUENCY", "MS"),),
    ),
    "no_refit": Variant(
        "register the refit on every matured cutoff",
        "register the evaluated model (learned before the validation and test cutoffs)",
        method={"refit": False},
    ),
    "churn_31_leaves_rate_0.1": Variant(
        "churn: 15 leaves at learning rate 0.05",
        "churn: 31 leaves at learning rate 0.1",
        ((f"{MODELS}CHURN__NUM_LEAVES", "31"), (f"{MODELS}CHURN__LEARNING_RATE", "0.1")),
    ),
    "rate_0.02_100_per_leaf": Variant(
        "tree settings of lifecycle.tasks and training.models",
        "learning rate 0.02 and 100 rows per leaf (churn, LTV and its purchase part)",
        tuple(
            (f"{MODELS}{model}__{name}", value)
            for model in ("CHURN", "LTV", "LTV_PURCHASE")
            for name, value in (("LEARNING_RATE", "0.02"), ("MIN_DATA_IN_LEAF", "100"))
        ),
    ),
    "always_calibrate": Variant(
        "the LTV's purchase part: LightGBM's own probabilities where calibration does not "
        "transfer out of time",
        "isotonic calibration always",
        method={"calibration_check": "none"},
    ),
    "uncalibrated_churn": Variant(
        "churn and conversion calibrated always",
        "LightGBM's own probabilities where calibration does not transfer out of time, as "
        "for the LTV's purchase part",
        method={"calibration_check": "all"},
    ),
    "bgnbd_p_alive": Variant(
        "MBG/NBD for the served p_alive and expected purchases",
        "BG/NBD",
        method={"purchase_process": "BGNBD"},
    ),
    "boost_from_process": Variant(
        "boosting from LightGBM's average (the purchase process's quantities are no input)",
        "boosting from the MBG/NBD prediction: each booster starts at the purchase process's "
        "log-odds of its event or log of the value given a purchase (LightGBM init_score, "
        "fitted at each row's cutoff)",
        method={"boost_from_process": True},
    ),
    "stale_rules": Variant(
        "a baseline rule that wins the gate served fitted on the users of the latest cutoff",
        "fitted on the matured cutoffs (RFM edges on all of them, BG/NBD on the test cutoffs')",
        method={"fresh_rules": False},
    ),
    "transferred_calibration": Variant(
        "the deployed refit calibrated on its own recipe's out-of-fold scores",
        "calibrated on the evaluated model's test scores",
        method={"deployed_calibration": "transferred"},
    ),
    "uncalibrated_refit": Variant(
        "the deployed refit calibrated on its own recipe's out-of-fold scores",
        "LightGBM's own probabilities",
        method={"deployed_calibration": "none"},
    ),
    "long_windows": Variant(
        "LightGBM learns from no feature of a window that no user had outlived at the cutoffs "
        "learned from, where a user of the latest cutoff has",
        "learning from every feature",
        method={"long_windows": True},
    ),
    "no_blend": Variant(
        "the LTV blended with BG/NBD + Gamma-Gamma where the test cutoffs prefer it",
        "LightGBM's LTV alone",
        method={"blend": False},
    ),
}


def method_of(variant: Variant) -> Any:
    """The ``training.pipeline.Method`` of a variant's trainings."""
    from lifecycle import btyd
    from training.pipeline import Method

    values = dict(variant.method)
    if "purchase_process" in values:
        values["purchase_process"] = getattr(btyd, values["purchase_process"])
    return Method(**values)


def scores_of(path: Path) -> dict[str, np.ndarray]:
    """The judged columns of a backtest's scores table, by user: P(active) as the backtest
    takes it (an unscored user is not active), the LTV and the served p_alive."""
    import pandas as pd

    from features import contract as c

    scores = pd.read_parquet(path).set_index(c.USER_ID).sort_index()
    churn = scores["churn_probability"].to_numpy(dtype=float)
    return {
        "user_id": scores.index.to_numpy(),
        "P(active)": np.where(np.isnan(churn), 0.0, 1.0 - churn),
        "ltv": scores["ltv"].to_numpy(dtype=float),
        "p_alive": scores["p_alive"].to_numpy(dtype=float)
        if "p_alive" in scores
        else np.full(len(scores), np.nan),
    }


def run_variants(
    names: list[str], case: Any, data_root: Path, log: Callable[[str], None], *, resamples: int
) -> dict[str, Any]:
    """Import the case's data set once, backtest each variant, pair each with the current."""
    from backtests import setup_command
    from quality import environment, lifecycle, settings_for

    from lifecycle.backtest import run_backtest
    from lifecycle.backtest_inputs import backtest_labels, parse_cutoff
    from lifecycle.backtest_judge import MODEL, outcomes
    from lifecycle.workspace import EVENTS_FILE, USERS_FILE
    from training import evaluation
    from training.pipeline import METHOD

    variants: dict[str, Any] = {}
    failed: dict[str, str] = {}
    judged: dict[str, dict[str, np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="lifecycle-ablations-") as tmp:
        home = Path(tmp) / "workspace"
        with environment({"LIFECYCLE_HOME": str(home), **dict(case.env)}):
            lifecycle(home, *setup_command(case, data_root, Path(tmp)))
            for name in names:
                variant = VARIANTS[name]
                settings = settings_for(home, dict(case.env) | dict(variant.env))
                out = Path(tmp) / name
                token = METHOD.set(method_of(variant))
                started = time.perf_counter()
                try:
                    result = run_backtest(
                        settings,
                        [case.cutoff],
                        dataset=case.dataset,
                        horizon_days=case.horizon_days,
                        out=out,
                        resamples=1,  # the pairs below are bootstrapped, not the baselines
                        progress=lambda message, name=name: log(f"{name}: {message}"),
                    )
                except Exception as error:  # the other variants still count; rerun with --only
                    if name == CURRENT:
                        raise
                    failed[name] = f"{type(error).__name__}: {error}"
                    log(f"{name}: FAILED: {failed[name]}")
                    continue
                finally:
                    METHOD.reset(token)
                (cutoff,) = result.cutoffs
                judged[name] = scores_of(Path(cutoff.scratch["scores"]))
                shutil.rmtree(out)
                metrics = cutoff.verdict["methods"][MODEL]
                variants[name] = {
                    "kept": variant.kept,
                    "undone": variant.undone,
                    "settings": dict(variant.env),
                    "method": dict(variant.method),
                    "metrics": {k: metrics[k] for k in METRICS if k in metrics},
                    "served": {
                        task: info.get("served_kind") for task, info in cutoff.models.items()
                    },
                    "seconds": round(time.perf_counter() - started, 1),
                }
                log(f"{name}: {variants[name]['metrics']}")
            source = settings.workspace.dataset_dir(case.dataset)
            labels = backtest_labels(settings.labels, case.horizon_days)
            truth = outcomes(
                source / EVENTS_FILE, source / USERS_FILE, parse_cutoff(case.cutoff), labels
            )
    current = judged[CURRENT]
    truth = truth.reindex(current["user_id"])
    outcome = {
        "active": truth["active"].eq(True).to_numpy(dtype=float),
        "bought": truth["bought"].eq(True).to_numpy(dtype=float),
        "value": truth["value"].fillna(0.0).to_numpy(dtype=float),
    }
    metric_of = {**evaluation.BOOTSTRAPPED, "p_alive_auc": evaluation.roc_auc}
    customers = np.isfinite(current["p_alive"])
    if customers.any():
        variants[CURRENT]["metrics"]["p_alive_auc"] = metric_of["p_alive_auc"](
            outcome["bought"][customers], current["p_alive"][customers]
        )
    differences: dict[str, dict[str, Any]] = {}
    for name, scored in judged.items():
        if name == CURRENT:
            continue
        if not np.array_equal(scored["user_id"], current["user_id"]):
            raise RuntimeError(f"{name}: scored other users than the current method")
        rows = customers & np.isfinite(scored["p_alive"])
        if rows.any():
            variants[name]["metrics"]["p_alive_auc"] = metric_of["p_alive_auc"](
                outcome["bought"][rows], scored["p_alive"][rows]
            )
        differences[name] = {}
        for metric, (column, target) in PAIRED.items():
            keep = rows if column == "p_alive" else np.ones(len(rows), dtype=bool)
            if not keep.any():
                continue
            interval = evaluation.paired_bootstrap(
                metric_of[metric],
                outcome[target][keep],
                current[column][keep],
                {name: scored[column][keep]},
                resamples=resamples,
                seed=0,
            )[name]
            differences[name][metric] = interval
    return {
        "dataset": case.dataset,
        "cutoff": case.cutoff,
        "horizon_days": case.horizon_days,
        "command": case.command(),
        "users": len(current["user_id"]),
        "customers": int(customers.sum()),
        "resamples": resamples,
        "variants": variants,
        "differences": differences,
        "failed": failed,
    }


# --- the tables ---------------------------------------------------------------------------


def _cell(value: Any, fmt: str) -> str:
    if not isinstance(value, int | float) or value != value:
        return ""
    return format(value, fmt)


def _served(served: dict[str, str | None]) -> str:
    """What the backtest scored with where it was not LightGBM (a baseline won the gate)."""
    others = [
        f"{task}: {kind or 'not trained'}" for task, kind in served.items() if kind != "lightgbm"
    ]
    return ", ".join(others) or "LightGBM"


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The block of docs/decisions.md: each variant's metrics, then the paired differences."""
    variants = results["variants"]
    meta = results.get("machine")
    lines = [
        f"{results['dataset']}, cutoff {results['cutoff']}, {results['horizon_days']} days "
        f"(`{results['command']}`; {results['users']:,} users known, "
        f"{results['customers']:,} of them customers"
        + (f"; {measured_on(meta)}" if meta else "")
        + "): each row below the first undoes one choice and runs the whole backtest again.",
        "",
        "| variant | " + " | ".join(label for label, _ in METRICS.values()) + " | served |",
        "|---|" + "---:|" * len(METRICS) + "---|",
    ]
    for variant, run in variants.items():
        label = "**current method**" if variant == CURRENT else f"`{variant}`: {run['undone']}"
        cells = [_cell(run["metrics"].get(k), fmt) for k, (_, fmt) in METRICS.items()]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_served(run['served'])} |")
    lines += [
        "",
        f"Current method minus the variant, 95% paired bootstrap interval "
        f"({results['resamples']:,} resamples of users; AUC p_alive: customers only):",
        "",
        "| variant | " + " | ".join(METRICS[k][0] for k in PAIRED) + " |",
        "|---|" + "---|" * len(PAIRED),
    ]
    for variant, by_metric in results["differences"].items():
        cells = []
        for key in PAIRED:
            d = by_metric.get(key)
            cells.append(f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" if d else "")
        lines.append(f"| `{variant}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def measured_on(meta: dict[str, Any]) -> str:
    from docblocks import measured_on as words

    return words(meta)


def merged(recorded: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """A re-run of some variants over the recorded results of the others, in VARIANTS order."""
    variants = recorded["variants"] | fresh["variants"]
    differences = recorded["differences"] | fresh["differences"]
    return fresh | {
        "variants": {k: variants[k] for k in VARIANTS if k in variants},
        "differences": {k: differences[k] for k in VARIANTS if k in differences},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", choices=sorted(VARIANTS), help="re-run these")
    parser.add_argument("--data-root", type=Path, help="public data [settings data_root]")
    parser.add_argument("--doc", type=Path, help="write the ablations block into this doc")
    parser.add_argument("--quick", action="store_true", help="CI sizes (two variants, demo)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--case", default=CASE, help=f"a case of experiments/backtests.py (default {CASE})"
    )
    parser.add_argument(
        "--cutoff", help="pair at this origin of the case instead (its horizon; with --case)"
    )
    args = parser.parse_args(argv)
    if args.cutoff and (args.doc or args.quick):
        parser.error(
            f"--cutoff {args.cutoff}: the doc's block is {CASE}'s (drop --doc and --quick)"
        )
    if args.quick and args.doc:
        parser.error("--quick measures CI sizes: the doc keeps the full-size runs (drop --doc)")
    if args.case != CASE and (args.doc or args.quick):
        parser.error(f"--case {args.case}: the doc's block is {CASE}'s (drop --doc and --quick)")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "experiments"))
    from backtests import CASES, quick_cases
    from docblocks import load_results, machine, record, results_path

    from lifecycle.backtest import RESAMPLES
    from lifecycle.settings import load_settings

    data_root = args.data_root or load_settings().data_root
    if not data_root.is_absolute():
        data_root = (ROOT / data_root).resolve()
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    if args.quick:
        case, names, resamples = (
            quick_cases()["backtest-demo"],
            list(QUICK_VARIANTS),
            QUICK_RESAMPLES,
        )
    else:
        if args.case not in CASES:
            parser.error(f"--case {args.case}: not a case of backtests.py ({', '.join(CASES)})")
        case, resamples = CASES[args.case], RESAMPLES
        if args.cutoff:
            case = dataclasses.replace(case, cutoff=args.cutoff, later_cutoffs=())
        names = [CURRENT, *(n for n in args.only or VARIANTS if n != CURRENT)]
    meta = machine()
    results = run_variants(names, case, data_root, log, resamples=resamples) | {"machine": meta}
    failed = results.pop("failed")
    if (args.only or failed) and args.doc and results_path("ablations").is_file():
        results = merged(load_results("ablations")["results"], results)
    print(render_doc("ablations", results))
    if args.doc:
        command = f"python experiments/ablations.py --doc {args.doc}"
        record(args.doc, "ablations", "ablations.py", command, results, render_doc)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    for name, why in failed.items():
        print(f"{name} failed (rerun it with --only {name}): {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
