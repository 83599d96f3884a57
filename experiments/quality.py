"""Model quality on the demo product and the real data sets: the quality table of docs/quality.md.

Every model is compared with its baselines on the same rows, and on the demo with an
ORACLE built from the generator's ground truth:

- demo, test window: the normal pipeline (demo-data, features build/apply, ``train_task``)
  tested on its latest matured cutoffs (:func:`tested`). The oracle, a LightGBM of the
  same kind, is fitted on the same train/valid rows with the user's latent traits added to the features
  (engagement rate, purchase propensity, mean order value, base churn hazard,
  reactivation propensity, activation, channel): the ceiling with perfect knowledge of
  who the user is, short of knowing the future's randomness.
- demo, observed end: the model just trained (the deployed refit) scores everyone at the serving cutoff (the day after
  the last event) and is judged on the outcomes the generator simulated after the end
  but never wrote as events (no activity in 90 days; a first purchase in 90 days;
  revenue minus refunds in the LTV horizon): a true out-of-time test.
- online_retail (``lifecycle import online-retail``): churn (90 days), conversion as
  one-time -> repeat buyer, 90-day LTV; tested on the latest matured cutoffs (its test window).
- telco_churn (``lifecycle import telco-churn``): churn from the snapshot table,
  stratified k-fold CV (``training/snapshot.py``), mean over folds.

    uv run python experiments/quality.py --out quality.md          # full size
    uv run python experiments/quality.py --doc docs/quality.md     # full size, into the doc
    uv run python experiments/quality.py --quick --out /tmp/q.md   # tiny, for CI
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from quick import NO_PLOTS, QUICK_ROUNDS, UNCOMPILED, few_rounds, single_threaded_models

from lifecycle.workspace import EVENTS_FILE

ROOT = Path(__file__).resolve().parents[1]
LATENT = (
    "engagement_rate",
    "purchase_propensity",
    "mean_order_value",
    "base_churn_hazard",
    "reactivation_propensity",
    "activated",
)
PRIMARY = {
    "churn": ("auc", "pr_auc"),
    "conversion": ("auc", "pr_auc"),
    "ltv": ("normalized_gini", "spearman"),
}
MODEL = "lightgbm"
ORACLE = "oracle"
RETAIL_ENV = {
    "LIFECYCLE_LABELS__CONVERSION_TARGET": "repeat_purchase",
    "LIFECYCLE_LABELS__LTV_HORIZON_DAYS": "90",
}


@dataclass(frozen=True)
class Sizes:
    demo_users: int
    retail_customer_share: float  # share of online_retail customers kept
    telco_rows: int | None  # None: all rows
    folds: int
    demo_env: dict[str, str] = field(default_factory=dict)  # settings for the demo run
    training_env: dict[str, str] = field(default_factory=dict)  # settings of every training
    snapshot_env: dict[str, str] = field(default_factory=dict)  # telco's cross-validation

    @classmethod
    def of(cls, quick: bool, demo_users: int) -> Sizes:
        if quick:
            # A shorter history and a 90-day LTV horizon: fewer cutoffs, still matured. A
            # tenth of online_retail's customers (~440; conversion tested on 569 one-time
            # buyers) trains every task as a quarter did, for 3.5 CPU-s less.
            return cls(
                demo_users=min(demo_users, 1000),
                retail_customer_share=0.1,
                telco_rows=1000,
                folds=3,
                demo_env={
                    "LIFECYCLE_DEMO__DAYS": "450",
                    "LIFECYCLE_LABELS__LTV_HORIZON_DAYS": "90",
                },
                training_env=UNCOMPILED | NO_PLOTS | few_rounds(),
                snapshot_env=NO_PLOTS,
            )
        return cls(demo_users=demo_users, retail_customer_share=1.0, telco_rows=None, folds=5)


@dataclass
class Row:
    """One line of the table: a model and its comparisons on the same rows."""

    dataset: str
    task: str
    evaluation: str
    rows: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> metrics
    error: str = ""

    @property
    def primary(self) -> str:
        return PRIMARY[self.task][0]

    def baselines(self) -> list[str]:
        return [m for m in self.metrics if m not in (MODEL, ORACLE)]

    def losses(self) -> list[str]:
        """Baselines the model does not beat on the primary metric."""
        ours = self.metrics[MODEL][self.primary]
        return [b for b in self.baselines() if not ours > self.metrics[b][self.primary]]

    def verdict(self) -> str:
        if self.error:
            return f"not run: {self.error}"
        losses = self.losses()
        if not losses:
            return "yes"
        return "NO: " + ", ".join(
            f"{b} {self.metrics[b][self.primary]:.3f} >= {self.metrics[MODEL][self.primary]:.3f}"
            for b in losses
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "task": self.task,
            "evaluation": self.evaluation,
            "rows": self.rows,
            "metrics": self.metrics,
            "verdict": self.verdict(),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Row:
        """The row ``to_dict`` wrote (the verdict is derived again, the error kept)."""
        verdict = record.get("verdict", "")
        error = verdict.removeprefix("not run: ") if verdict.startswith("not run: ") else ""
        return cls(
            record["dataset"],
            record["task"],
            record["evaluation"],
            int(record["rows"]),
            record["metrics"],
            error,
        )


# --- running the project's own commands ---------------------------------------------------


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set LIFECYCLE_* variables for a block (the CLI and settings read them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def lifecycle(home: Path, *args: str) -> None:
    """Run a ``lifecycle`` command in process, failing loudly on a non-zero exit."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args], env=dict(os.environ))
    if result.exit_code != 0:
        raise RuntimeError(
            f"lifecycle {' '.join(args)} failed: {result.output}{result.exception or ''}"
        )


def settings_for(home: Path, env: dict[str, str] | None = None) -> Any:
    from lifecycle.settings import load_settings

    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    return load_settings(home=home, environ=environ | (env or {}))


def metric_dict(
    task: str, y: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Metrics of model, baselines and oracle (probabilities: the model and the oracle)."""
    from training import evaluation
    from training.evaluation import metrics_of

    out = metrics_of(task, y, {k: v for k, v in scores.items() if k != ORACLE})
    if ORACLE in scores:
        out[ORACLE] = (
            evaluation.ltv_metrics(y, scores[ORACLE])
            if task == "ltv"
            else evaluation.classification_metrics(y, scores[ORACLE])
        )
    return out


# --- demo ---------------------------------------------------------------------------------


def run_demo(home: Path, sizes: Sizes, seed: int, log: Callable[[str], None]) -> list[Row]:
    from training.pipeline import train_task

    log(f"demo: generating {sizes.demo_users:,} users (seed {seed}), features, Feast")
    with environment(sizes.demo_env):
        lifecycle(home, "demo-data", "--users", str(sizes.demo_users), "--seed", str(seed))
        lifecycle(home, "features", "build", "--dataset", "demo")
        lifecycle(home, "features", "apply", "--dataset", "demo")
    settings = settings_for(home, sizes.demo_env | sizes.training_env)
    truth = pd.read_parquet(settings.workspace.demo_dir() / "ground_truth.parquet")
    rows = []
    for task in ("churn", "conversion", "ltv"):
        log(f"demo: training {task}")
        try:
            result = train_task(settings, task, dataset="demo")
        except Exception as error:  # a tiny demo may be untrainable: the table says so
            rows.append(Row("demo", task, "test window", 0, error=str(error).splitlines()[0]))
            continue
        log(f"demo: {task} oracle and observed-end check")
        oracle_bundle, test_row = latent_oracle(settings, task, truth, result)
        rows.append(test_row)
        rows.append(observed_end(settings, task, truth, result, oracle_bundle))
    return rows


def _with_latent(frame: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    from features import contract as c

    latent = truth[[c.USER_ID, *LATENT]].assign(activated=truth["activated"].astype(float))
    latent = latent.rename(columns={n: f"latent_{n}" for n in LATENT})
    return frame.merge(latent, on=c.USER_ID, how="left", validate="many_to_one")


def latent_oracle(settings: Any, task: str, truth: pd.DataFrame, result: Any) -> tuple[Any, Row]:
    """Fit the latent-trait oracle on the pipeline's own train/valid rows; test on its test rows."""
    from features.labels import LABEL
    from training.datasets import build_training_set
    from training.models import fit_bundle, model_specs
    from training.time_splits import time_split

    training = build_training_set(settings, task, dataset="demo")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    assert split == result.split, "the oracle must use the pipeline's split"
    frame = _with_latent(training.frame, truth)
    names = training.feature_names + [f"latent_{n}" for n in LATENT]
    train, valid, test = split.parts(frame).values()  # in this order
    bundle = fit_bundle(
        task,
        train,
        valid,
        label=LABEL,
        feature_names=names,
        service="oracle",
        label_spec=training.spec.to_dict(),
        data_window=split.to_dict(),
        seed=settings.training.seed,
        specs=model_specs(settings),  # the pipeline's hyperparameters: --quick's round cap too
    )
    y = test[LABEL].to_numpy(dtype=float)
    metrics = dict(result.metrics)
    metrics[ORACLE] = metric_dict(task, y, {ORACLE: bundle.predict(test)})[ORACLE]
    row = Row("demo", task, tested(split), len(test), metrics)
    return bundle, row


def tested(split: Any) -> str:
    """``test FIRST..LAST``: a split's test window, as `lifecycle models` and the report say."""
    from training.promotion import tested_window

    return tested_window(f"{split.test_cutoff:%Y-%m-%d}", split.test)


def observed_end(
    settings: Any, task: str, truth: pd.DataFrame, result: Any, oracle_bundle: Any
) -> Row:
    """Champion scores at the serving cutoff vs the outcomes simulated after the observed end."""
    from features import contract as c
    from features.asof import AS_OF
    from features.labels import label_spec
    from features.store import historical_features, open_store, store_paths
    from lifecycle import registry
    from lifecycle.bundle import ModelBundle
    from training import baselines

    paths = store_paths(settings, "demo")
    table = pd.read_parquet(paths.feature_table, columns=[c.USER_ID, AS_OF])
    end = table[AS_OF].max()
    entities = table.loc[table[AS_OF] == end, [c.USER_ID, AS_OF]].reset_index(drop=True)
    client = registry.client(settings)
    name = registry.model_name("demo", task)
    # The version just trained (the deployed refit), champion or not: the gate is judged apart.
    with tempfile.TemporaryDirectory() as tmp:
        bundle = ModelBundle.load(registry.bundle_path(client, name, result.version, Path(tmp)))
    retrieved = historical_features(open_store(settings, "demo"), entities, bundle.service)
    outcomes = ["future_active_90d", "future_purchases_90d", "future_revenue_90d"]
    outcomes += ["future_revenue", "future_refund_amount"]
    frame = retrieved.frame.merge(truth[[c.USER_ID, *outcomes]], on=c.USER_ID, how="left")
    data = settings.workspace.dataset_dir("demo")
    spec = label_spec(task, settings.labels, events=data / EVENTS_FILE)
    if task == "churn":
        # Eligible as the label defines it (every known user unless a lookback is set).
        frame = frame[spec.eligible(frame)]
        y = (~frame["future_active_90d"].astype(bool)).to_numpy(dtype=float)
        what = "no activity in the 90 days after the end"
    elif task == "conversion":
        frame = frame[spec.eligible(frame)]
        y = (frame["future_purchases_90d"] > 0).to_numpy(dtype=float)
        what = "first purchase in the 90 days after the end"
    else:
        if spec.horizon_days not in (90, settings.demo.future_days):
            raise ValueError(f"no ground truth for a {spec.horizon_days}-day LTV horizon")
        gross = frame["future_revenue_90d"] if spec.horizon_days == 90 else frame["future_revenue"]
        refunds = 0.0 if spec.horizon_days == 90 else frame["future_refund_amount"]
        y = np.maximum((gross - refunds).to_numpy(dtype=float), 0.0)
        what = f"revenue minus refunds in the {spec.horizon_days} days after the end"
    frame = frame.reset_index(drop=True)
    scores = {MODEL: bundle.predict(frame)}
    if task == "ltv":
        events = settings.workspace.events("demo")
        scores["last_period_value"] = baselines.last_period_value(
            frame, spec.horizon_days, settings.features.windows_days
        )
        scores["bgnbd_gamma_gamma"] = baselines.bgnbd_value(events, frame, spec.horizon_days)
    else:
        # RFM quintile edges from the scored population itself: no label is read.
        scores |= baselines.classification_baselines(task, frame, frame)
    scores[ORACLE] = oracle_bundle.predict(_with_latent(frame, truth))
    metrics = metric_dict(task, y, scores)
    return Row("demo", task, f"observed end {end:%Y-%m-%d}: {what}", len(frame), metrics)


# --- online retail ------------------------------------------------------------------------


def retail_source(data_root: Path, share: float, workdir: Path) -> Path:
    """The online_retail file, or a customer sample of it (quick mode) written next to workdir."""
    from features.adapters import ONLINE_RETAIL_FILE

    source = data_root / ONLINE_RETAIL_FILE
    if share >= 1.0:
        return source
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    customers = pd.Series(raw["CustomerID"].unique())
    kept = set(customers.sample(frac=share, random_state=0))
    sample = workdir / "online_retail_sample.csv.gz"
    with gzip.open(sample, "wt") as handle:
        raw[raw["CustomerID"].isin(kept)].to_csv(handle, index=False)
    return sample


def run_online_retail(
    home: Path, data_root: Path, sizes: Sizes, log: Callable[[str], None]
) -> list[Row]:
    from training.pipeline import train_task

    log("online_retail: import, features, Feast")
    source = retail_source(data_root, sizes.retail_customer_share, home.parent)
    with environment(RETAIL_ENV):
        lifecycle(home, "import", "online-retail", str(source), "--dataset", "online_retail")
        lifecycle(home, "features", "build", "--dataset", "online_retail")
        lifecycle(home, "features", "apply", "--dataset", "online_retail")
    settings = settings_for(home, RETAIL_ENV | sizes.training_env)
    rows = []
    for task in ("churn", "conversion", "ltv"):
        log(f"online_retail: training {task}")
        try:
            result = train_task(settings, task, dataset="online_retail")
        except Exception as error:
            rows.append(
                Row("online_retail", task, "test window", 0, error=str(error).splitlines()[0])
            )
            continue
        label = {
            "churn": "90-day churn",
            "conversion": "one-time -> repeat buyer in 90 days",
            "ltv": "90-day LTV",
        }
        rows.append(
            Row(
                "online_retail",
                task,
                f"{label[task]}, {tested(result.split)}",
                int(result.metrics[MODEL]["n"]),
                dict(result.metrics),
            )
        )
    return rows


# --- telco --------------------------------------------------------------------------------


def run_telco(home: Path, data_root: Path, sizes: Sizes, log: Callable[[str], None]) -> list[Row]:
    from features.adapters import TELCO_CHURN_FILE
    from training.snapshot import train_snapshot

    source = data_root / TELCO_CHURN_FILE
    if sizes.telco_rows is not None:
        raw = pd.read_csv(source, dtype=str, keep_default_na=False)
        source = home.parent / "telco_sample.csv"
        raw.sample(n=min(sizes.telco_rows, len(raw)), random_state=0).to_csv(source, index=False)
    log(f"telco_churn: import and {sizes.folds}-fold CV")
    lifecycle(home, "import", "telco-churn", str(source), "--dataset", "telco_churn")
    settings = settings_for(home, sizes.snapshot_env)
    result = train_snapshot(settings, "telco_churn", folds=sizes.folds)
    summary = result.cv.summary()
    return [
        Row(
            "telco_churn",
            "churn",
            f"{sizes.folds}-fold stratified CV (mean; sd of AUC {summary[MODEL]['auc_sd']:.3f})",
            result.cv.rows,
            summary,
        )
    ]


# --- the table ----------------------------------------------------------------------------


def _pair(metrics: dict[str, float], task: str) -> str:
    first, second = PRIMARY[task]
    return f"{metrics[first]:.3f} / {metrics[second]:.3f}"


def table_lines(rows: list[Row]) -> list[str]:
    """The quality table: one line per dataset and task."""
    lines = [
        "| dataset | task | evaluated on | metric | LightGBM | baselines | oracle | rows | beats every baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.error:
            lines.append(
                f"| {r.dataset} | {r.task} | {r.evaluation} | | | | | | not run: {r.error} |"
            )
            continue
        first, second = PRIMARY[r.task]
        base = "<br>".join(f"{b} {_pair(r.metrics[b], r.task)}" for b in r.baselines())
        oracle = _pair(r.metrics[ORACLE], r.task) if ORACLE in r.metrics else "n/a"
        verdict = r.verdict()
        lines.append(
            f"| {r.dataset} | {r.task} | {r.evaluation} | {first} / {second} | "
            f"**{_pair(r.metrics[MODEL], r.task)}** | {base} | {oracle} | {r.rows:,} | {verdict} |"
        )
    return lines


def markdown(rows: list[Row], header: str) -> str:
    lines = [header, "", *table_lines(rows), "", "Per row:"]
    for r in rows:
        lines.append(f"- {r.dataset} {r.task} ({r.evaluation}): " + _sentence(r))
    lines += [
        "",
        "The ORACLE (demo only) is a LightGBM fitted on the same train/valid rows with the "
        "generator's latent traits per user added to the features (engagement rate, purchase "
        "propensity, mean order value, base churn hazard, reactivation propensity, activation). "
        "It is the ceiling with perfect knowledge of who each user is; what it cannot predict "
        "is the randomness of the future itself. Rule baselines are rankings, so only ranking "
        "metrics apply to them; the LightGBM, logistic regression and oracle probabilities are "
        "calibrated and also reported with Brier and ECE in `--json`.",
    ]
    return "\n".join(lines) + "\n"


def _sentence(r: Row) -> str:
    if r.error:
        return f"not run ({r.error})."
    ours = r.metrics[MODEL][r.primary]
    losses = r.losses()
    gap = ""
    if ORACLE in r.metrics:
        gap = f" The oracle reaches {r.metrics[ORACLE][r.primary]:.3f}."
    if not losses:
        best = max((r.metrics[b][r.primary] for b in r.baselines()), default=float("nan"))
        return f"LightGBM {r.primary} {ours:.3f} beats every baseline (best {best:.3f}).{gap}"
    return (
        f"LightGBM {r.primary} {ours:.3f} does NOT beat "
        + ", ".join(f"{b} ({r.metrics[b][r.primary]:.3f})" for b in losses)
        + f".{gap}"
    )


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's quality block from recorded results (``--doc``): the run's header, the table."""
    rows = [Row.from_dict(record) for record in results["rows"]]
    return "\n".join([f"{results['header']}:", "", *table_lines(rows)]) + "\n"


DATASETS = ("demo", "online_retail", "telco_churn")


def remeasured(recorded: dict[str, Any], fresh: list[dict[str, Any]], took: str) -> dict[str, Any]:
    """A re-run of some data sets (``--only``) over the recorded rows of the others; the
    header keeps the full run's line and says which rows are newer, and when."""
    again = {row["dataset"] for row in fresh}
    rows = [row for row in recorded["rows"] if row["dataset"] not in again] + fresh
    rows.sort(key=lambda row: DATASETS.index(row["dataset"]))
    notes = recorded.get("remeasured", {}) | {dataset: took for dataset in again}
    notes = {dataset: notes[dataset] for dataset in DATASETS if dataset in notes}
    base = recorded.get("full_run_header", recorded["header"])
    header = base + "".join(f"; {dataset} {when}" for dataset, when in notes.items())
    return {"header": header, "full_run_header": base, "remeasured": notes, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--users", type=int, default=20_000, help="demo users (default 20,000)")
    parser.add_argument("--seed", type=int, default=7, help="demo seed (default 7)")
    parser.add_argument("--data-root", type=Path, help="public data [settings data_root]")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--json", type=Path, help="write every metric as JSON here")
    parser.add_argument(
        "--doc",
        type=Path,
        help="write the table into this doc's 'quality' block and the results to docs/results/",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=DATASETS,
        help="run only these",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sizes = Sizes.of(args.quick, args.users)
    if args.quick:
        single_threaded_models()
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine

    meta = machine()  # the load at the start, as the other experiments record it
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="lifecycle-quality-") as tmp:
        home = Path(tmp) / "workspace"
        from lifecycle.settings import load_settings

        data_root = args.data_root or load_settings(home=home).data_root
        if not data_root.is_absolute():
            data_root = (ROOT / data_root).resolve()
        with environment({"LIFECYCLE_HOME": str(home)}):
            only = set(args.only or DATASETS)
            rows: list[Row] = []
            if "demo" in only:
                rows += run_demo(home, sizes, args.seed, log)
            if "online_retail" in only:
                rows += run_online_retail(home, data_root, sizes, log)
            if "telco_churn" in only:
                rows += run_telco(home, data_root, sizes, log)
    mode = f"quick (CI sizes, {QUICK_ROUNDS} rounds at most)" if args.quick else "full size"
    header = (
        f"Quality ({mode}: demo {sizes.demo_users:,} users seed {args.seed}"
        + "".join(f", {k}={v}" for k, v in sizes.demo_env.items())
        + "; online_retail "
        f"{sizes.retail_customer_share:.0%} of customers; telco_churn "
        f"{sizes.telco_rows or 'all'} rows; {time.perf_counter() - started:.0f} s)"
    )
    table = markdown(rows, header)
    print(table)
    if args.out:
        args.out.write_text(table)
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=2, default=float))
    if args.doc:
        from docblocks import load_results, measured_on, record, results_path, shown_command

        command = shown_command("quality.py", argv)
        results = {"header": header, "rows": [r.to_dict() for r in rows]}
        if args.only and results_path("quality").is_file():
            took = f"re-{measured_on(meta)}, {time.perf_counter() - started:.0f} s"
            results = remeasured(load_results("quality")["results"], results["rows"], took)
        record(args.doc, "quality", "quality.py", command, results, render_doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
