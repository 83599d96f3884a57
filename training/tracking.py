"""MLflow tracking of trained models: experiments, runs, one pyfunc model per version, listing.

Every model version, LightGBM or a baseline rule, is logged the same way: the bundle as
one pyfunc ("model from code", ``lifecycle/mlflow_model.py``) registered as ``challenger``,
its test metrics as ``test.*`` tags. Every training run is named for its task, dataset and
start time, records the git commit of the code, and logs each booster's hyperparameters.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import lifecycle
from lifecycle import lineage, registry, tasks
from lifecycle.bridge import LEARNED_TAG
from lifecycle.bundle import ModelBundle
from lifecycle.settings import Settings

if TYPE_CHECKING:
    from training.models import ModelSpec

GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag for the code version
GIT_DIRTY_TAG = "lifecycle.git.dirty"  # "true": tracked files differed from that commit


def experiment_for(settings: Settings, mlflow_client: Any, name: str) -> str:
    """The id of the model's MLflow experiment, created with artifacts under the workspace."""
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment:
        return experiment.experiment_id
    if registry.tracking_uri(settings).startswith(("http://", "https://")):
        # A tracking server keeps artifacts in its own store (--artifacts-destination).
        return mlflow_client.create_experiment(name)
    return mlflow_client.create_experiment(
        name, artifact_location=f"{registry.artifact_root(settings)}/{name}"
    )


def run_name(task: str, dataset: str, kind: str | None = None, at: datetime | None = None) -> str:
    """What a run trained, on which data, when (UTC, to the minute), e.g.
    ``churn-online_retail-2026-11-30T1200``; a served baseline rule adds its kind."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    return "-".join([task, dataset, *([kind] if kind else []), f"{when:%Y-%m-%dT%H%M}"])


def code_version(where: Path | None = None) -> dict[str, str]:
    """Run tags naming the git commit of the code at ``where`` (default: this package) and
    whether tracked files differed from it; none outside a git checkout or without git.

    Untracked files do not count as dirty: a workspace or a scratch file is not code.
    """
    where = where or Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(where), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if not commit:
        return {}
    tags = {GIT_COMMIT_TAG: commit.strip()}
    status = git("status", "--porcelain", "--untracked-files=no")
    if status is not None:
        tags[GIT_DIRTY_TAG] = "true" if status.strip() else "false"
    return tags


_reserved: dict[str, str] = {}  # experiment id -> its run, created before the training's fit


@contextmanager
def reserved_run(
    settings: Settings, task: str, dataset: str, name: str | None = None
) -> Iterator[None]:
    """On a tracking server, the run a training of ``task`` logs into (model ``name``, by
    default the dataset's ``task``) is created before its training set is built and fitted
    (:func:`start_training_run` takes it): the server's refusal of the write (a read-only
    user of MLflow's auth) came after ~10 s of work, now at once; so does a refusal of the
    model's new version that MLflow's auth tells beforehand (:func:`_version_refused`).
    A run the training did not take ends as failed; deleted when its data refused it
    (nothing was trained: as before, no run)."""
    from lifecycle.tracking_http import foreseen_refusal, went_silent

    if not registry.tracking_uri(settings).startswith(("http://", "https://")):
        yield  # a local store: registry.require_writable checked it
        return
    mlflow_client = registry.client(settings)
    name = name or registry.model_name(dataset, task)
    try:  # the experiment, when new, and the run: the writes the training begins with
        experiment_id = experiment_for(settings, mlflow_client, name)
        if refusal := _version_refused(settings, mlflow_client, name, experiment_id):
            raise foreseen_refusal(settings, *refusal, task)
        run_id = mlflow_client.create_run(
            experiment_id, run_name=run_name(task, dataset), tags=code_version()
        ).info.run_id
    except Exception as error:
        _nothing_logged(error, task)
        raise
    _reserved[experiment_id] = run_id
    try:
        yield
    except BaseException as error:
        if _reserved.pop(experiment_id, None) == run_id:  # untaken: its end is this one's
            from features.asof import FeatureError
            from training.errors import TrainingError

            went_silent(error)
            with contextlib.suppress(Exception):  # the error said is the training's own
                if isinstance(error, TrainingError | FeatureError):
                    mlflow_client.delete_run(run_id)
                else:
                    mlflow_client.set_terminated(run_id, "FAILED")
        raise
    finally:
        _reserved.pop(experiment_id, None)


def _nothing_logged(error: Exception, task: str) -> None:
    """Says, on a refused or unanswered run's creation, that the training logged nothing."""
    from lifecycle.tracking_http import failed_request

    if failed_request(error):
        error.add_note(f"nothing was logged: no run of {task}, no model version")


UPDATES = ("EDIT", "MANAGE")  # MLflow auth's permissions that may add a registered model's version


def _version_refused(
    settings: Settings, mlflow_client: Any, name: str, experiment_id: str
) -> tuple[str, str] | None:
    """The user and why MLflow's auth (``--app-name basic-auth``) will refuse the new version
    of registered model ``name`` a training registers after its fit, asked of the server's
    own permission API (``users/permissions/get``: the rule its writes are checked by, read
    for oneself): a model that exists and the user may only read, while the experiment takes
    the run (else ``runs/create`` is refused first, as before). None for an admin, a new
    model (its creator manages it), a server without that API or any failed answer: the
    writes themselves answer then."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(registry.tracking_uri(settings))

    def ask(endpoint: str, **params: str) -> dict[str, Any]:
        answer = http_request(creds, endpoint, "GET", max_retries=0, params=params)
        return answer.json() if answer.status_code == 200 else {}

    def permission(user: str, kind: str, key: str) -> str:
        asked = {"username": user, "resource_type": kind, "resource_id": key}
        return str(ask("/api/3.0/mlflow/users/permissions/get", **asked).get("permission", ""))

    try:
        found = ask("/api/2.0/mlflow/users/current").get("user") or {}
        user = "" if found.get("is_admin") else str(found.get("username") or "")  # admins may
        held = permission(user, "registered_model", name) if user else ""
        if (
            not held
            or held in UPDATES
            or permission(user, "experiment", experiment_id) not in UPDATES
        ):
            return None
        mlflow_client.get_registered_model(name)  # a new one: not refused
    except Exception:
        return None
    return user, f"its permission on registered model {name} is {held}, not EDIT or MANAGE"


@contextmanager
def start_training_run(
    experiment_id: str, task: str, dataset: str, kind: str | None = None
) -> Iterator[Any]:
    """The MLflow run of one training: named by :func:`run_name`, tagged by :func:`code_version`;
    the run :func:`reserved_run` created for it, when there is one. A request inside it that
    the tracking server never answered makes the end of the run (marked failed) and the rest
    of the training try once (``tracking_http.went_silent``)."""
    import mlflow

    from lifecycle.tracking_http import went_silent

    reserved = _reserved.pop(experiment_id, None)
    try:  # the run is created here (or taken): a server refusing it has nothing
        if reserved is not None:
            started = mlflow.start_run(run_id=reserved, run_name=run_name(task, dataset, kind))
        else:
            started = mlflow.start_run(
                experiment_id=experiment_id,
                run_name=run_name(task, dataset, kind),
                tags=code_version(),
            )
    except Exception as error:
        if reserved is None:
            _nothing_logged(error, task)
        raise
    with started as run:
        try:
            yield run
        except BaseException as error:
            went_silent(error)
            raise


# The settings besides LightGBM's values that make a task's model or judge it, logged on its
# run as ``<section>.<name>``: which rows it learns from (``lineage.TRAINING_SHAPES``; the
# seed is the run's ``seed``), what its gate asks, and the feature table's grid. Unlogged, a
# run of other settings differed only in their effects (``rows_train``, ``trees``) and the
# cause was a digest on the version (``lineage.training_hash``).
RUN_SETTINGS = {
    "training": (
        *(name for name in lineage.TRAINING_SHAPES if name != "seed"),
        "min_rows",
        "min_positives",
        "min_improvement",
    ),
    "features": ("windows_days", "cutoff_frequency", "allow_attributes", "exclude_attributes"),
    "labels": ("not_activity_types",),
}


def settings_params(settings: Settings, task: str | None = None) -> dict[str, str]:
    """:data:`RUN_SETTINGS` as MLflow params (``training.max_rows``; a list as ``7,30,90``,
    empty as ``-``), and ``training.gate_metric``, the task's; without one (a backtest trains
    them all) each task's, ``training.gate_metric.<task>``."""
    from training.promotion import gate_metric_of

    params = {}
    for section, names in RUN_SETTINGS.items():
        for name in names:
            value = getattr(getattr(settings, section), name)
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            params[f"{section}.{name}"] = text or "-"
    if task is None:
        return params | {
            f"training.gate_metric.{t}": gate_metric_of(settings, t) for t in tasks.names()
        }
    return params | {"training.gate_metric": gate_metric_of(settings, task)}


def hyperparameters(bundle: ModelBundle, specs: Mapping[str, ModelSpec]) -> dict[str, str]:
    """Every booster's effective hyperparameters as MLflow params ``<booster>.<name>``: the
    parameters the booster records it was trained with, the trees it grew, and its spec's
    round budget and early-stopping patience (LTV has five boosters, each its own)."""
    from training.models import boosters_of

    params: dict[str, str] = {}
    for name, (spec_name, booster) in boosters_of(bundle).items():
        spec = specs[spec_name]
        trained = {
            key: value
            for key, value in (booster.params or {}).items()
            # the trees grown are logged as such; verbosity tunes nothing
            if key not in ("num_iterations", "verbosity")
        }
        trained |= {
            "trees": booster.current_iteration(),
            "num_boost_round": spec.num_boost_round,
            "early_stopping_rounds": spec.early_stopping_rounds,
        }
        for key, value in trained.items():
            text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            params[f"{name}.{key}"] = text
    return params


def log_bundle(
    mlflow_client: Any,
    name: str,
    bundle: ModelBundle,
    rows: pd.DataFrame,
    workdir: Path,
    *,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> str:
    """Log the bundle as one pyfunc model in the active run, register it as ``challenger``.

    ``rows`` give the input example; ``metrics`` become ``test.*`` tags on the version.
    """
    return log_pyfunc(
        mlflow_client,
        name,
        bundle,
        rows[bundle.feature_names],
        workdir,
        model_file="mlflow_model.py",
        metadata={
            "feature_service": bundle.service,
            "label": bundle.label,
            "data_window": bundle.data_window,
        },
        tags=tags,
        metrics=metrics,
    )


def save_evaluation_tables(
    out: Path, task: str, y: np.ndarray, predicted: Any, metrics: Mapping[str, Any]
) -> None:
    """What a run logs under ``evaluation/`` besides plots: the calibration table of its test
    predictions (a probability) or their deciles (a value), and the metrics it logged."""
    from training import evaluation

    if tasks.get(task).is_probability:
        evaluation.calibration_table(y, predicted).to_csv(out / "calibration.csv", index=False)
    else:
        evaluation.decile_table(y, predicted).to_csv(out / "deciles.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))


def nobodys_row(rows: pd.DataFrame) -> pd.DataFrame:
    """MLflow's input example: one row of each column's mean (numbers; rounded where every
    value is whole, as counts are) or most frequent value, in the columns' types. Real rows
    would stay in every model's artifacts, where ``lifecycle forget`` cannot reach them, and
    carry no id to even find them by."""
    example = {}
    for name, column in rows.items():
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if numeric:
            value = column.mean()
        else:
            counts = column.value_counts()
            value = counts.index[0] if len(counts) else None
        if numeric and pd.notna(value) and (column.dropna() % 1 == 0).all():
            value = round(value)
        try:
            example[name] = pd.Series([value], dtype=column.dtype)
        except (TypeError, ValueError):  # e.g. no value at all for a non-nullable type
            example[name] = pd.Series([value])
    return pd.DataFrame(example)


def log_pyfunc(
    mlflow_client: Any,
    name: str,
    bundle: Any,
    rows: pd.DataFrame,
    workdir: Path,
    *,
    model_file: str,
    metadata: dict[str, Any],
    tags: dict[str, str],
    metrics: dict[str, float | None],
) -> str:
    """Any bundle with ``save`` and ``outputs`` as one pyfunc ("model from code":
    ``lifecycle/<model_file>``) in the active run, registered as ``challenger`` with ``tags``
    and its ``metrics`` as ``test.*`` tags; returns the version."""
    import mlflow
    from mlflow.models import Model, infer_signature

    bundle_dir = bundle.save(workdir / "bundle")
    example = nobodys_row(rows)
    # The bundle answers its input example here (an error stops the training); MLflow's own
    # check would load the saved model back from disk to predict it again, only to warn.
    Model.log(
        artifact_path=None,  # named by name=, as mlflow.pyfunc.log_model does
        name="model",
        flavor=_PyfuncWithoutReload,
        flavor_name="pyfunc.ModelFromCode",  # as mlflow.pyfunc.log_model names it
        python_model=str(Path(lifecycle.__file__).with_name(model_file)),
        artifacts={"bundle": str(bundle_dir)},
        signature=infer_signature(example, bundle.outputs(example)),
        input_example=example,
        pip_requirements=_requirements(),
        metadata=metadata,
        validate_serving_input=False,
    )
    version_tags = tags | {
        # as the run logged it: rounded to 6 digits, `lifecycle models` said auc 0.8458 where
        # the run and the gate's verdict had 0.8459
        f"test.{key}": repr(float(value))
        for key, value in metrics.items()
        if value is not None and np.isfinite(value)
    }
    # Registered as log_model(registered_model_name=...) does (the run's model, by its runs:/
    # URI, so the version keeps the run), with its tags in the same call: one tag at a time
    # cost a registry round trip each (~20 ms; ~18 tags a version).
    from lifecycle.tracking_http import failed_request

    # A registry refusing the write: what was done is said with it (a stop says its own).
    run_id = mlflow.active_run().info.run_id
    # the run carries its version's lineage too, so that search_runs finds a dataset's runs
    mlflow.set_tags({k: v for k, v in tags.items() if lineage.run_tag(k)})
    try:
        registered = mlflow.register_model(f"runs:/{run_id}/model", name, tags=version_tags)
    except Exception as error:
        if failed_request(error):
            error.add_note(f"run {run_id} was logged; no version of {name} was registered")
        raise
    version = str(registered.version)
    try:
        registry.set_challenger(mlflow_client, name, version)
    except Exception as error:
        if failed_request(error):
            error.add_note(f"{name} v{version} was registered but is not its challenger")
        raise
    return version


class _PyfuncWithoutReload:
    """``mlflow.pyfunc`` as the flavor of ``Model.log(..., validate_serving_input=False)``,
    which hands that option on to ``save_model``; pyfunc's refuses it."""

    @staticmethod
    def save_model(validate_serving_input: bool = True, **kwargs: Any) -> None:
        import mlflow

        mlflow.pyfunc.save_model(**kwargs)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{pkg}=={version(pkg)}"
        for pkg in ("lightgbm", "numpy", "pandas", "scikit-learn", "mlflow")
    ]


def datasets_with_models(settings: Settings) -> list[str]:
    """The datasets with a registered model of a task (names ``<dataset>-<task>``)."""
    from lifecycle.uplift_model import UPLIFT_TASK

    suffixes = tuple(f"-{task}" for task in (*tasks.names(), UPLIFT_TASK))
    names = (m.name for m in registry.client(settings).search_registered_models())
    return sorted({n.rsplit("-", 1)[0] for n in names if n.endswith(suffixes)})


UPLIFT_TAGS = ("outcome", "treated", "learner")  # tags of a registered uplift version
EXCLUDED_TAG = "excluded"  # a snapshot version's columns left out by --exclude


def _horizon(definition: str | None) -> int | None:
    """The horizon in days of a version's recorded label definition (None: none recorded)."""
    try:
        days = json.loads(definition or "{}").get("horizon_days")
    except (ValueError, AttributeError):
        return None
    return int(days) if days is not None else None


def list_models(settings: Settings, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every registered version of the dataset's models: aliases, test cutoff, headline metrics."""
    mlflow_client = registry.client(settings)
    dataset = dataset or settings.dataset
    rows = []
    from mlflow.exceptions import MlflowException

    from lifecycle.champion_log import champion_history
    from lifecycle.uplift_model import UPLIFT_TASK

    known = (*tasks.names(), UPLIFT_TASK)
    prefix = registry.model_name(dataset, "")
    # (model, version) -> the latest move of the champion away from it (a rollback)
    left = {(e["model"], e["from"]): e for e in champion_history(settings, dataset) if e["from"]}
    try:  # and a snapshot's models of another label than churn (<dataset>-<label>)
        found = mlflow_client.search_registered_models(f"name LIKE '{prefix}%'")
    except MlflowException:
        found = []
    # a label's name has no '-' (training.snapshot): "eu-churn" is dataset shop-eu's churn
    others = sorted({m.name.removeprefix(prefix) for m in found} - set(known))
    others = [label for label in others if "-" not in label]
    for task in (*known, *others):
        name = registry.model_name(dataset, task)
        try:
            aliases = mlflow_client.get_registered_model(name).aliases  # alias -> version
        except MlflowException:
            continue
        versions = mlflow_client.search_model_versions(f"name = '{name}'")
        ran = _run_params(mlflow_client, name, versions)
        champion = str(aliases.get(registry.CHAMPION, ""))
        of_champion = next(
            (ran.get(v.run_id) for v in versions if str(v.version) == champion), None
        )
        for version in versions:
            tags = version.tags
            params = ran.get(version.run_id) or {}
            window = registry.recorded_window(mlflow_client, name, str(version.version))
            rows.append(
                {
                    "model": name,
                    "task": task,
                    "version": str(version.version),
                    "aliases": sorted(
                        a for a, v in aliases.items() if str(v) == str(version.version)
                    ),
                    "test_cutoff": tags.get("test_cutoff"),
                    # its run's; None: not read
                    "test_cutoffs": params["test_cutoffs"].split(",")
                    if params.get("test_cutoffs")
                    else None,
                    # what it was trained with that the champion was not: run params
                    "settings_changed": None
                    if str(version.version) == champion or not of_champion or not params
                    else settings_changed(of_champion, params),
                    "evaluation": tags.get("evaluation"),  # a snapshot's: "5-fold CV"
                    "excluded": tags.get(EXCLUDED_TAG),  # a snapshot's columns not learned from
                    "kind": tags.get("kind", "lightgbm"),
                    "label_free": registry.is_label_free(version),
                    # learned at a shorter horizon than it serves (lifecycle.bridge)
                    "learned_days": int(tags[LEARNED_TAG]) if LEARNED_TAG in tags else None,
                    # what its score predicts over: versions of 60 and 90 days sat side by side
                    "horizon_days": _horizon(tags.get(lineage.DEFINITION_TAG)),
                    "metrics": {
                        k.removeprefix("test."): float(v)
                        for k, v in tags.items()
                        if k.startswith("test.")
                    },
                    # an uplift model: what it predicts and how (versions differ in both)
                    **{key: tags.get(key) for key in UPLIFT_TAGS if task == UPLIFT_TASK},
                    "promotion": tags.get("promotion"),  # why it became champion, if it did
                    # the move that took the champion from it since (None: it still is, or
                    # was never): its promotion's reason alone read as current
                    "replaced": None
                    if str(version.version) == champion
                    else left.get((name, str(version.version))),
                    "gate": _verdict(tags),  # the gate's verdict, if it was gated
                    # what it learned from, as /models says it (None: not recorded)
                    "learned_from": lineage.learned_from(window) if window else None,
                    "training_window": window,
                }
            )
    return sorted(rows, key=lambda r: (r["task"], -int(r["version"])))


# Run parameters named <booster>.<name> that a training derives, not a setting: the trees it
# grew, the threads its size gave it, the positions of its categorical features
DERIVED = ("trees", "num_threads", "categorical_column")


def settings_changed(champion: Mapping[str, str], params: Mapping[str, str]) -> dict[str, dict]:
    """Setting -> ``{"champion": value, "version": value}`` where two training runs' params
    differ: the seed, each booster's LightGBM values and :data:`RUN_SETTINGS` (both runs'
    only: a rule's run has no booster)."""
    return {
        key: {"champion": champion[key], "version": params[key]}
        for key in sorted(set(champion) & set(params))
        if champion[key] != params[key]
        and (key == "seed" or ("." in key and key.rsplit(".", 1)[1] not in DERIVED))
    }


def settings_text(changed: Mapping[str, Mapping[str, str]]) -> str:
    """``settings other than the champion's: churn.learning_rate 0.03 (champion 0.05), ...``"""
    said = ", ".join(f"{k} {v['version']} (champion {v['champion']})" for k, v in changed.items())
    return f"settings other than the champion's: {said}"


def _run_params(mlflow_client: Any, name: str, versions: list[Any]) -> dict[str, dict[str, str]]:
    """Run id -> the params its training logged (the test cutoffs: a version's tags hold only
    the last, ``test_cutoff``; the settings), one search of the model's experiment."""
    from mlflow.exceptions import MlflowException

    runs = {v.run_id for v in versions if v.run_id}
    experiment = mlflow_client.get_experiment_by_name(name) if runs else None
    if experiment is None:
        return {}
    ids = ", ".join(f"'{run}'" for run in sorted(runs))
    try:
        found = mlflow_client.search_runs(
            [experiment.experiment_id], f"attributes.run_id IN ({ids})", max_results=len(runs)
        )
    except MlflowException:  # a registry whose runs cannot be read: the last cutoff is said
        return {}
    return {run.info.run_id: run.data.params for run in found}


def _verdict(tags: dict[str, str]) -> str | None:
    """The gate's verdict on a version, and that its move was never made where its training
    was stopped before the champions of the run moved (``lifecycle.champion_set``)."""
    verdict = tags.get(registry.GATE_TAG)
    if verdict and registry.move_never_made(tags):
        return (
            f"{verdict}; never made: its training stopped before the champions of the run "
            "moved, so it counts as never judged (`lifecycle refresh` judges it again)"
        )
    return verdict
