"""Out-of-time backtest: cut a dataset at a date, run the whole pipeline on what came before,
and judge its scores, next to the baselines, against what happened next.

For each cutoff a scratch workspace gets the dataset's events at or before the cutoff (and
the users known by then). Features, the Feast repository, the three models and batch
scoring run there through the functions ``lifecycle run`` uses. What happened in
``(cutoff, cutoff + horizon]`` comes from the full dataset with the label definitions of
``features.labels``. The verdict goes to one MLflow run in the current workspace
(experiment ``backtest-<dataset>``).

Training and serving do not import each other; this module drives both, as the CLI does.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features import contract as c
from lifecycle import backtest_purchases, lineage
from lifecycle.backtest_attribute import fit_attribute_rule
from lifecycle.backtest_copy import copy_dataset_until
from lifecycle.backtest_inputs import (
    BacktestError,
    TrainingCutoffs,
    backtest_labels,
    check_before_end,
    check_history,
    conversion_spec,
    data_span,
    horizons,
    parse_cutoffs,
    too_late,
    trained_of_everyone,
)
from lifecycle.backtest_judge import (
    MODEL,
    across_cutoffs,
    across_lines,
    flat_metrics,
    forecasts,
    judge,
    nothing_to_judge,
    outcomes,
    save_plots,
    verdict_lines,
)
from lifecycle.backtest_population import (
    STILL_ACTIVE,
    judge_still_active,
    still_active_lines,
    still_active_plots,
)
from lifecycle.dataset_kind import require_events
from lifecycle.errors import UserError
from lifecycle.exports import SCRATCH_MARKER, record_scratch
from lifecycle.settings import LabelSettings, Settings, TrackingSettings
from lifecycle.sql import literal
from lifecycle.steps import refusals
from lifecycle.storage import refuse_unwritable, staging_folder
from lifecycle.words import DAYS, counted
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

if TYPE_CHECKING:
    from serving.batch import BatchResult

RESAMPLES = 1000
RESULT_FILE = "backtest.json"  # the whole result, in --out and as the MLflow run's artifact

Progress = Callable[[str], None]


def scratch_settings(
    settings: Settings, home: Path, dataset: str, labels: LabelSettings
) -> Settings:
    """The current settings in a scratch workspace: its own tracking store, never a shared
    online store (a Redis store would be overwritten with the cut data), and no champion's
    trees compiled (nothing serves a scratch: its one batch is far below COMPILE_PAYS_ROWS)."""
    feast = settings.feast
    if feast.online_store == "redis":
        feast = feast.model_copy(update={"online_store": "sqlite"})
    return settings.model_copy(
        update={
            "home": home,
            "dataset": dataset,
            "labels": labels,
            "tracking": TrackingSettings(),
            "feast": feast,
            "serving": settings.serving.model_copy(update={"compile_trees": False}),
        }
    )


# -- the scratch workspace ----------------------------------------------------------------


def cutoff_folder(base: Path, cutoff: pd.Timestamp) -> Path:
    """A cutoff's folder under ``base``: its plots, and its scratch workspace in ``workspace``.

    A scratch workspace left by an earlier backtest is replaced; any other folder is refused.
    """
    folder = base / f"{cutoff:%Y-%m-%d}"
    home = folder / "workspace"
    if home.exists():
        if not (home / SCRATCH_MARKER).is_file():
            raise BacktestError(
                f"{home} exists and is not a backtest's scratch workspace: choose another --out"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / SCRATCH_MARKER).write_text("a backtest's scratch workspace; replaced on a re-run\n")
    return folder


def run_pipeline(
    scratch: Settings, cutoff: pd.Timestamp, *, keep: bool, progress: Progress, seconds: dict
) -> tuple[dict[str, Any], dict[str, str], BatchResult]:
    """Features, Feast, the three models and batch scoring of every user known at ``cutoff``.

    A task whose training is refused is reported, not fatal. What scores is what the product
    would serve: each task's champion after the gate (LightGBM, or the baseline rule
    registered when it won); a task left without one scores with the version just trained.
    """
    from lifecycle.steps import build_features, publish_features, train_tasks
    from serving.batch import score_all
    from training.errors import NothingTrained

    started = time.perf_counter()
    progress(f"{cutoff:%Y-%m-%d}: computing as-of features")
    build_features(scratch, extra_cutoffs=[cutoff])
    publish_features(scratch)
    seconds["features"] = round(time.perf_counter() - started, 2)
    try:
        done = train_tasks(scratch, progress=lambda line: progress(f"{cutoff:%Y-%m-%d}: {line}"))
    except NothingTrained as nothing:
        raise BacktestError(
            f"backtest at {cutoff:%Y-%m-%d}: no model could be trained on the data up to the "
            f"cutoff: {refusals(nothing.refused)}"
        ) from None
    seconds |= {f"train_{task}": took for task, took in done.seconds.items()}
    trained, refused = {r.task: r for r in done.results}, done.refused
    started = time.perf_counter()
    batch = score_all(
        scratch,
        cutoff,
        champions=_served_models(scratch, trained, refused),
        write=keep,
        reasons_top=0,
        allow_partial=True,
        progress=progress,
    )
    seconds["scoring"] = round(time.perf_counter() - started, 2)
    return trained, refused, batch


def _served_models(scratch: Settings, trained: dict[str, Any], refused: dict[str, str]) -> Any:
    """Each task's champion in the scratch registry; the version just trained where the gate
    left the task without one."""
    from lifecycle import registry
    from lifecycle.bundle import ModelBundle
    from serving.scoring import load_champions

    champions = load_champions(scratch, cache=scratch.workspace.home / "models")
    champions.unavailable = dict(refused)
    client = registry.client(scratch)
    for task, result in trained.items():
        if task in champions.bundles:
            continue
        folder = scratch.workspace.home / "models" / f"{result.model_name}-v{result.version}"
        bundle = registry.bundle_path(client, result.model_name, result.version, folder)
        champions.bundles[task] = ModelBundle.load(bundle)
        champions.versions[task] = str(result.version)
    return champions


# -- one cutoff ---------------------------------------------------------------------------


def served_text(models: dict[str, dict[str, Any]]) -> str:
    """``churn rfm_score v2, conversion 1 - churn v2, ltv lightgbm v1``: what scored each task,
    as `score-all` says it (conversion's own version answers nothing on a log of purchases;
    with a churn lookback ``1 - churn v2 where churn scores, else lightgbm v3``)."""
    from serving.scoring import CHURN_COMPLEMENT_ELSE, answering_texts

    scored = {t: i for t, i in models.items() if i.get("served_version")}
    versions = {t: str(i["served_version"]) for t, i in scored.items()}
    kinds = {t: str(i["served_kind"]) for t, i in scored.items()}
    own = {t: f"{k.removeprefix(CHURN_COMPLEMENT_ELSE)} v{versions[t]}" for t, k in kinds.items()}
    answered = answering_texts(versions, kinds, own)
    return ", ".join(f"{task} {answered.get(task, own[task])}" for task in scored)


@dataclass
class CutoffResult:
    cutoff: pd.Timestamp
    users: int
    outcome: dict[str, Any]
    verdict: dict[str, Any]  # methods, conversion, bootstrap
    models: dict[str, dict[str, Any]]
    scratch: dict[str, Any]
    seconds: dict[str, float]
    plots: list[str] = field(default_factory=list)
    still_active: dict[str, Any] = field(default_factory=dict)  # the verdict on those users
    purchases: dict[str, Any] = field(default_factory=dict)  # on the served expected_purchases
    shut: list[str] = field(default_factory=list)  # TrainingCutoffs.shut_words: closures near it

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": f"{self.cutoff:%Y-%m-%d}",
            "users": self.users,
            "outcome": self.outcome,
            "shop_shut": self.shut,
            **self.verdict,
            STILL_ACTIVE: self.still_active,
            backtest_purchases.PURCHASES: self.purchases,
            "models": self.models,
            "scratch": self.scratch,
            # the files' names; they are in plots_dir (with --out) and in the MLflow run
            "plots": [Path(plot).name for plot in self.plots],
            "plots_dir": str(Path(self.plots[0]).parent)
            if self.plots and self.scratch.get("workspace")
            else None,
            "seconds": self.seconds,
        }

    def lines(
        self, labels: LabelSettings, currency: str | None = None, nouns: str | None = None
    ) -> list[str]:
        """The cutoff in words; ``currency``: what the value is in, where one is recorded;
        ``nouns``: what a log without money counts (purchases, or items)."""
        o = self.outcome
        unit = currency or nouns
        value = f"{o['value_total']:,.0f}" + (f" {unit}" if unit else "")
        what = f"{nouns} bought minus refunded" if nouns else "purchases minus refunds"
        lines = [
            f"cutoff {self.cutoff:%Y-%m-%d}: {self.users:,} users known, "
            f"{sum(self.seconds.values()):.0f} s",
            f"  what happened: {o['active_rate']:.1%} active within "
            f"{counted(labels.churn_horizon_days, DAYS)}, "
            f"{o['bought_rate']:.1%} bought and value {value} within "
            f"{counted(labels.ltv_horizon_days, DAYS)} ({what}, at least 0 per user)",
        ]
        lines += [f"  note: {words}" for words in self.shut]
        lines.append(f"  {MODEL} serves: {served_text(self.models)}")
        lines += verdict_lines(self.verdict, o["blank_churn"], o["resamples"])
        lines += still_active_lines(self.still_active, o["resamples"])
        lines += backtest_purchases.lines_of(self.purchases) if self.purchases else []
        for task, model_info in self.models.items():
            if "error" in model_info:
                lines.append(f"  not trained: {refusals({task: model_info['error']})}")
        return lines


def backtest_cutoff(
    settings: Settings,
    dataset: str,
    cutoff: pd.Timestamp,
    labels: LabelSettings,
    truth: pd.DataFrame,
    *,
    base: Path,
    keep: bool,
    resamples: int,
    seed: int,
    progress: Progress,
) -> CutoffResult:
    """Run the pipeline on the data up to ``cutoff`` (in a scratch workspace under ``base``)
    and judge it against ``truth``, what followed (:func:`outcomes`); ``keep``: the scores
    table is written there too."""
    from features.asof import AS_OF, connect
    from features.store import store_paths

    seconds: dict[str, float] = {}
    source = settings.workspace.dataset_dir(dataset)
    folder = cutoff_folder(base, cutoff)
    scratch = scratch_settings(settings, folder / "workspace", dataset, labels)
    started = time.perf_counter()
    data_dir = scratch.workspace.dataset_dir(dataset)
    copied = copy_dataset_until(source, data_dir, cutoff)
    if keep:  # a kept copy of users' data outside the workspace: forget must find it
        record_scratch(settings, scratch.home, copied.get("users", 0))
    seconds["copy"] = round(time.perf_counter() - started, 2)
    progress(f"{cutoff:%Y-%m-%d}: {copied['events']:,} events up to the cutoff copied to {folder}")
    trained, refused, batch = run_pipeline(
        scratch, cutoff, keep=keep, progress=progress, seconds=seconds
    )
    started = time.perf_counter()
    scores = batch.scores.reset_index(drop=True)
    ids = scores[c.USER_ID]
    feature_table = store_paths(scratch).feature_table
    query = f"SELECT * FROM read_parquet({literal(feature_table)}) WHERE {AS_OF} = $1"
    rows = connect().execute(query, [cutoff.to_pydatetime()]).df()
    rows = rows.set_index(c.USER_ID).reindex(ids).reset_index()
    truth = truth.reindex(ids)
    missing = int(truth["value"].isna().sum())  # known in the scratch data, not in the full
    truth["value"] = truth["value"].fillna(0.0)
    truth[["active", "bought"]] = truth[["active", "bought"]].eq(True)
    if why := nothing_to_judge(truth, cutoff):
        raise BacktestError(why)
    attribute = fit_attribute_rule(scratch, dataset, cutoff, labels)
    found = forecasts(
        scores, rows, data_dir / EVENTS_FILE, source / EVENTS_FILE, cutoff, labels, attribute
    )
    progress(f"{cutoff:%Y-%m-%d}: judging {len(ids):,} users ({resamples:,} bootstrap resamples)")
    verdict = judge(truth, found, scores, resamples=resamples, seed=seed)
    active, still = judge_still_active(
        truth, found, rows, labels, cutoff, resamples=resamples, seed=seed
    )
    bought = backtest_purchases.judge_served(
        scores, source / EVENTS_FILE, cutoff, batch.outlook_days
    )
    seconds["judge"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    figures = []
    if settings.training.plots:
        figures = save_plots(folder, truth, found)
        if "error" not in active:
            figures += still_active_plots(folder, truth, found, still)
        figures += backtest_purchases.plot(folder, bought)
    seconds["plots"] = round(time.perf_counter() - started, 2)
    outcome = {
        "active_rate": float(truth["active"].mean()),
        "bought_rate": float(truth["bought"].mean()),
        "value_total": float(truth["value"].sum()),
        "users_without_outcome": missing,
        "blank_churn": found.blank_churn,
        "resamples": resamples,
    }
    models = {
        task: {
            "model": r.model_name,
            "version": r.version,
            "promoted": r.promoted,
            "split": r.split.to_dict() if r.split else None,
            "test_metrics": r.metrics.get("lightgbm", {}),
            "served_version": batch.versions.get(task),
            "served_kind": batch.kinds.get(task),
        }
        for task, r in trained.items()
    } | {task: {"error": why} for task, why in refused.items()}
    scratch_info = {
        "workspace": str(scratch.home) if keep else None,
        "events": copied["events"],
        "users": copied.get("users"),
        "max_event_time": str(data_span(data_dir / EVENTS_FILE)[1]),
        "scores": str(batch.path) if batch.path else None,
    }
    return CutoffResult(
        cutoff, len(ids), outcome, verdict, models, scratch_info, seconds, figures, active, bought
    )


# -- the command's function ---------------------------------------------------------------


@dataclass
class BacktestResult:
    dataset: str
    labels: LabelSettings
    cutoffs: list[CutoffResult]
    settings: dict[str, Any]
    mlflow: dict[str, str]
    out: Path | None
    seconds: float
    currency: str | None = None  # of the events' amounts, where one is recorded
    counted: str | None = None  # what a log without money counts: purchases or items

    @property
    def over_cutoffs(self) -> dict[str, Any] | None:  # rolling origins summed up; one: None
        return across_cutoffs([r.verdict for r in self.cutoffs])

    @property
    def over_still_active(self) -> dict[str, Any] | None:  # the same, of those users
        judged = [r.still_active for r in self.cutoffs if "methods" in r.still_active]
        return across_cutoffs(judged) if len(judged) == len(self.cutoffs) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "currency": self.currency,
            **({"counted": self.counted} if self.counted else {}),
            "horizons_days": horizons(self.labels),
            "settings": self.settings,
            "cutoffs": [r.to_dict() for r in self.cutoffs],
            "over_cutoffs": self.over_cutoffs,
            f"over_cutoffs_{STILL_ACTIVE}": self.over_still_active,
            "mlflow": self.mlflow,
            "out": str(self.out) if self.out else None,
            "seconds": round(self.seconds, 1),
        }

    def lines(self) -> list[str]:
        said = ", ".join(f"{t} {counted(d, DAYS)}" for t, d in horizons(self.labels).items())
        # the settings' LightGBM values (a lifecycle.toml tuning a challenger): the models
        # judged are of them, not the champions' (said in --json and the run only)
        if values := self.settings.get("training_models"):
            said += "; LightGBM values of the settings: " + ", ".join(
                f"{name} {value}" for name, value in values.items()
            )
        lines = [f"backtest of dataset '{self.dataset}' (horizons: {said})"]
        for result in self.cutoffs:
            lines += result.lines(self.labels, self.currency, self.counted)
        lines += across_lines(self.over_cutoffs)
        if over := self.over_still_active:
            first, *rest = across_lines(over)
            lines += [f"{first}, of the users still active at each", *rest]
        lines.append(
            f"MLflow run {self.mlflow['run_id']} in experiment {self.mlflow['experiment']}"
            + (f"; plots and scratch workspaces in {self.out}" if self.out else "")
            + f"; {self.seconds:.0f} s in all"
        )
        return lines


def run_backtest(
    settings: Settings,
    cutoffs: Sequence[str | pd.Timestamp],
    *,
    dataset: str | None = None,
    horizon_days: int | None = None,
    out: Path | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    progress: Progress = lambda message: None,
) -> BacktestResult:
    """Backtest the pipeline at each cutoff (rolling origins) and log one MLflow run.

    Every cutoff is checked before any runs. ``out`` keeps each cutoff's scratch workspace,
    scores and plots; without it they go to a temporary folder removed at the end.
    """
    started = time.perf_counter()
    dataset = dataset or settings.dataset
    source = settings.workspace.dataset_dir(dataset)
    require_events(settings, dataset, "backtest")
    if not (source / EVENTS_FILE).is_file():
        raise BacktestError(
            f"dataset '{dataset}' does not exist in {settings.workspace.home} (no "
            f"{source / 'events.parquet'}): ingest or import it first; `lifecycle datasets` lists them"
        )
    if not cutoffs:
        raise BacktestError("no cutoff given: --cutoff DATE (repeatable)")
    if resamples < 1:
        raise BacktestError(f"resamples must be at least 1, got {resamples}")
    labels = backtest_labels(settings.labels, horizon_days)
    stamps = parse_cutoffs(cutoffs)
    span = data_span(source / EVENTS_FILE)
    conversion, targets = conversion_spec(settings, source, labels)
    grid = TrainingCutoffs.of(
        source / EVENTS_FILE,
        settings.features.cutoff_frequency,
        label_free=settings.training.label_free_fallback,
        min_rows=settings.training.min_rows,
        max_cutoffs=settings.training.max_cutoffs,
        conversion=conversion,
        users=source / USERS_FILE,
        min_positives=settings.training.min_positives,
        max_rows=settings.training.max_rows,
        tasks=trained_of_everyone(settings),
        not_activity_types=tuple(labels.not_activity_types or ()),
        targets=targets,
        churn_lookback=labels.churn_lookback_days,
    )
    progress("computing what happened after each cutoff")
    truths = {}
    for stamp in stamps:  # every cutoff is checked before anything runs
        check_before_end(stamp, span[1])
        check_history(stamp, span, labels, grid)  # one before the data: never 'cut earlier'
        try:
            truths[stamp] = outcomes(source / EVENTS_FILE, source / USERS_FILE, stamp, labels)
        except UserError as error:  # a horizon that ends after the data: what trains labelled
            hint = too_late(stamp, span, horizon_days, grid)
            raise BacktestError(f"backtest at {stamp:%Y-%m-%d}: {error}{hint}") from None
        if why := nothing_to_judge(truths[stamp], stamp):  # known before anything runs
            days = max(labels.churn_horizon_days, labels.ltv_horizon_days)  # what it reads
            raise BacktestError(why + grid.quiet_after(stamp, days))
    # before anything runs: a folder that cannot be made, or written (read-only), stops here
    if out is not None:
        refuse_unwritable(out / RESULT_FILE, "the backtest (--out)")
    # without --out, a staging folder of the workspace, not the system's temporary folder:
    # a backtest killed there (OOM, kill -9) left a copy of the dataset `forget` never found;
    # here `forget` (or any write beside it) removes it once its process is gone
    base = out or staging_folder(settings.workspace.home, "backtest")
    try:
        results = [
            backtest_cutoff(
                settings,
                dataset,
                stamp,
                labels,
                truths[stamp],
                base=base,
                keep=out is not None,
                resamples=resamples,
                seed=seed,
                progress=progress,
            )
            for stamp in stamps
        ]
        for result in results:  # a shop-wide closure the forecasts read as silence: said
            result.shut = grid.shut_words(result.cutoff, max(horizons(labels).values()))
        from training.tracking import settings_params

        used = {
            "labels": labels.model_dump(),
            "feature_windows_days": settings.features.windows_days,
            "cutoff_frequency": settings.features.cutoff_frequency,
            "training_seed": settings.training.seed,
            "training_engine": settings.training.engine,
            "training_models": lineage.model_values(settings),  # the LightGBM values set
            # the other settings that chose the rows and judged the models: the run's params
            "training_settings": settings_params(settings),
            "resamples": resamples,
            "bootstrap_seed": seed,
            "data_span": [str(span[0]), str(span[1])],
            # what a reviewer ties the result to: the data judged and the code that ran
            "dataset_version": lineage.dataset_version(settings.workspace.dataset_dir(dataset)),
            "code_version": lineage.code_version(),
        }
        from serving.answers import dataset_currency
        from serving.units import counted_noun, purchase_counts

        currency = dataset_currency(source / EVENTS_FILE)
        counts = purchase_counts(source)  # a log without money: its value is a count
        nouns = counted_noun(counts)[0] if counts is not None else None
        result = BacktestResult(dataset, labels, results, used, {}, out, 0.0, currency, nouns)
        result.seconds = time.perf_counter() - started
        progress("logging the backtest to MLflow")
        result.mlflow = log_run(settings, result, base)
        result.seconds = time.perf_counter() - started
        if out is not None:
            (out / RESULT_FILE).write_text(
                json.dumps(result.to_dict(), indent=2, default=str) + "\n"
            )
        return result
    finally:
        if out is None:
            shutil.rmtree(base, ignore_errors=True)


def log_run(settings: Settings, result: BacktestResult, base: Path) -> dict[str, str]:
    """One MLflow run in the current workspace's store: settings as params, every metric per
    cutoff (step = the cutoff's position), plots and the whole result as artifacts."""
    from mlflow.entities import Metric, Param

    from lifecycle import registry
    from training.tracking import code_version, experiment_for, settings_params

    client = registry.client(settings)
    name = f"backtest-{result.dataset}"
    experiment_id = experiment_for(settings, client, name)
    cutoffs = [f"{r.cutoff:%Y-%m-%d}" for r in result.cutoffs]
    versions = {
        f"{lineage.TAG_PREFIX}{k}": str(result.settings[k])
        for k in ("dataset_version", "code_version")
    }
    run = client.create_run(
        experiment_id, run_name=f"backtest {' '.join(cutoffs)}", tags=code_version() | versions
    )
    run_id = run.info.run_id
    params = {
        "dataset": result.dataset,
        "cutoffs": ",".join(cutoffs),
        **{f"{task}_horizon_days": days for task, days in horizons(result.labels).items()},
        "conversion_target": result.labels.conversion_target,
        "churn_lookback_days": result.labels.churn_lookback_days,
        "feature_windows_days": ",".join(str(w) for w in settings.features.windows_days),
        "training_seed": settings.training.seed,
        "resamples": result.settings["resamples"],
        "bootstrap_seed": result.settings["bootstrap_seed"],
        **result.settings["training_models"],
        # the other settings that chose the rows and judged the models, as a training run's
        **settings_params(settings),
    }
    now = int(time.time() * 1000)
    metrics = []
    for step, r in enumerate(result.cutoffs):
        values = {"users": float(r.users), "seconds": sum(r.seconds.values())}
        values |= {f"outcome.{k}": v for k, v in r.outcome.items() if k != "resamples"}
        metrics += [Metric(k, v, now, step) for k, v in flat_metrics(values | r.verdict).items()]
        active = flat_metrics(r.still_active)  # users, left_out, window_days and the verdict
        metrics += [Metric(f"{STILL_ACTIVE}.{k}", v, now, step) for k, v in active.items()]
        bought = backtest_purchases.metrics_of(r.purchases)
        metrics += [Metric(k, v, now, step) for k, v in bought.items()]
    for prefix, over in (
        ("mean", result.over_cutoffs),
        (f"mean.{STILL_ACTIVE}", result.over_still_active),
    ):
        means = flat_metrics({"methods": (over or {"methods": {}})["methods"]})
        metrics += [Metric(f"{prefix}.{k}", v, now, 0) for k, v in means.items()]
    try:
        client.log_batch(
            run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()]
        )
        for r in result.cutoffs:
            for plot in r.plots:
                client.log_artifact(run_id, plot, artifact_path=f"{r.cutoff:%Y-%m-%d}")
        client.log_text(run_id, json.dumps(result.to_dict(), indent=2, default=str), RESULT_FILE)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    return {"experiment": name, "experiment_id": experiment_id, "run_id": run_id}
