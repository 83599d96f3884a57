"""The pipeline's steps as plain functions of the settings: what the CLI, the backtest,
experiments and tests run, in this order: data in, features, Feast, models, scores.

Each step reads what the one before it left in the workspace and returns a summary of
what it made; heavy libraries are imported inside, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.identifiers import left_out_line, not_features_of
from lifecycle import lineage, registry, tasks
from lifecycle.dataset_kind import require_dataset, require_events
from lifecycle.errors import UserError
from lifecycle.tracking_http import training_writes

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from training.pipeline import TrainResult

Progress = Callable[[str], None]


def build_features(
    settings: Settings,
    dataset: str | None = None,
    extra_cutoffs: Sequence[pd.Timestamp | str] = (),
    *,
    drop_champion_inputs: bool = False,
) -> dict[str, Any]:
    """The dataset's as-of feature table at its cutoff grid (plus ``extra_cutoffs``); refused,
    the table kept, when it would lack a column a champion reads (a changed
    ``features.windows_days``, a users table without a column) unless ``drop_champion_inputs``:
    every champion stopped serving at once, and the 503 asked to materialize, which could
    not help."""
    import pyarrow.parquet as pq

    from features.asof import build_feature_table
    from features.store import store_paths
    from features.table_settings import feature_options
    from lifecycle.champion_inputs import require_champion_inputs

    paths = store_paths(settings, dataset)
    require_events(settings, paths.dataset, "features build", held=True)
    events = settings.workspace.events(paths.dataset)
    if not events.is_file():
        raise UserError(
            f"dataset '{paths.dataset}' has no events at {events}: ingest or import it first"
        )
    held = pq.read_schema(paths.feature_table).names if paths.feature_table.is_file() else []
    return build_feature_table(
        events,
        settings.workspace.users_if_any(paths.dataset),
        paths.feature_table,
        frequency=settings.features.cutoff_frequency,
        extra_cutoffs=extra_cutoffs,
        memory_limit=settings.features.memory_limit,
        **feature_options(settings),  # as a campaign's own date is computed (features_at)
        check=None
        if drop_champion_inputs
        else lambda columns: require_champion_inputs(
            settings, paths.dataset, columns, held, "features build"
        ),
    )


def publish_features(settings: Settings, dataset: str | None = None) -> dict[str, Any]:
    """Apply the Feast repository (a new service version where a task's features changed)
    and materialize every user's latest features into the online store."""
    from features.store import apply, materialize

    return {"repository": apply(settings, dataset), "online_store": materialize(settings, dataset)}


@dataclass
class Trainings:
    """What :func:`train_tasks` did: each trained task's result, and why the others were
    not trained (the data cannot train them yet, e.g. a young shop's conversion)."""

    results: list[TrainResult]
    refused: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    not_features: dict[str, str] = field(default_factory=dict)  # people's attributes -> why
    left_out: str | None = None  # the line of the tasks training.tasks leaves out
    answered: dict[str, str] = field(default_factory=dict)  # :func:`answered_elsewhere`

    def lines(self) -> list[str]:
        from serving.one_event import own_verdicts, trained_for_nothing

        lines = [
            line
            for r in self.results
            for line in r.lines(
                [
                    *own_verdicts(r),
                    trained_for_nothing(
                        r.task,
                        self.answered[r.task],
                        kept_version(r),
                        made_champion=r.champion is not None,
                    ),
                ]
                if r.task in self.answered
                else None
            )
        ]
        lines += self.notes + ([self.left_out] if self.left_out else [])
        if self.not_features:  # said once, not per task: every task leaves them out
            lines.append(left_out_line(self.not_features).strip())
        return lines + ([f"not trained: {refusals(self.refused)}"] if self.refused else [])


def answered_elsewhere(
    settings: Settings, dataset: str, results: list[TrainResult]
) -> dict[str, str]:
    """Each trained task the churn champion answers (conversion as 1 - churn on a log of
    purchases) -> ``1 - churn vN``: its model's verdict and baseline lines ("promoted to
    champion" read as what is served) are one line saying so (``Trainings.lines``)."""
    from serving.scoring import churn_answers

    return churn_answers(settings, dataset, [r.task for r in results])


def kept_version(result: TrainResult) -> str:
    """The version a training left as the task's champion, else its challenger: the
    baseline's registered in the model's place, or the model's."""
    if result.champion:
        return result.champion
    return result.baseline.version if result.baseline else result.version


def refusals(refused: dict[str, str]) -> str:
    """Training refusals naming their tasks; a reason several tasks share is said once (a
    setting named after its task, labels.churn_horizon_days or LIFECYCLE_LABELS__CHURN_..., then
    as labels.<task>_... and LIFECYCLE_LABELS__<TASK>_...)."""
    tasks_by_reason: dict[str, list[str]] = {}
    said: dict[str, str] = {}
    for task, error in refused.items():
        why = error.removeprefix(f"{task}: ")
        shared = why.replace(f"labels.{task}_", "labels.<task>_").replace(
            f"LIFECYCLE_LABELS__{task.upper()}_", "LIFECYCLE_LABELS__<TASK>_"
        )
        tasks_by_reason.setdefault(shared, []).append(task)
        said.setdefault(shared, why)
    return "; ".join(
        f"{', '.join(names)}: {why if len(names) > 1 else said[why]}"
        for why, names in tasks_by_reason.items()
    )


@training_writes  # a tracking server's short outage carried through
def train_tasks(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    dataset: str | None = None,
    progress: Progress = lambda message: None,
    accept_definition_change: str | None = None,
    must_train: bool = True,
    refused_as: str | None = None,
) -> Trainings:
    """Train, evaluate, register and gate each task (every declared task by default).

    A task whose data cannot train it (``TrainingError``, ``FeatureError``: too few rows,
    cutoffs or users, each naming why) is reported and the others go on. With
    ``must_train``, a refusal of the one task asked for, or of every task, is the error
    (``NothingTrained`` for several); without it (refresh: other champions still serve)
    refusals are only reported. Without ``names``, a task ``training.tasks`` leaves out is
    skipped, said in one line, and no refusal. ``refused_as``: how a stale feature table's
    refusal names what was asked (else 'train all refused', 'train churn, ltv refused')."""
    import pyarrow.parquet as pq

    from lifecycle import train_refusals
    from lifecycle.btyd_features import FLAT_P_ALIVE, flat_p_alive_line
    from lifecycle.champion_set import moved_together
    from training.errors import NothingTrained

    dataset = dataset or settings.dataset
    require_dataset(settings, dataset, "train")
    registry.require_writable(settings, "train")
    # refused as what was asked: `train all` was refused as `train churn`, its first task
    asked = f"train {', '.join(names) if names else 'all'}"
    lineage.require_current_features(settings, dataset, asked, refused_as)
    skipped = [] if names else train_refusals.left_out(settings)
    chosen = [task for task in names or tasks.names() if task not in skipped]
    done = Trainings([], left_out=train_refusals.left_out_line(settings) if skipped else None)
    # A running service follows each champion move: the winners move together at the end.
    with moved_together(settings, progress) as staged:
        _train_each(settings, chosen, dataset, done, progress, accept_definition_change, must_train)
    if len({m.name for m in staged.moves}) > 1:
        done.notes.append(
            f"champions moved together once every task was judged: {staged.winners()}"
        )
    # said once, not per task: each task's process is fitted on one cutoff's users
    if flat := next(
        (r.report[FLAT_P_ALIVE] for r in done.results if r.report.get(FLAT_P_ALIVE)), None
    ):
        done.notes.append(flat_p_alive_line(flat))
    if not done.results and must_train:
        raise NothingTrained(done.refused, f"no model could be trained: {refusals(done.refused)}")
    done.answered = answered_elsewhere(settings, dataset, done.results)
    table = settings.workspace.feature_table(dataset)
    if done.results and table.is_file():
        done.not_features = not_features_of(pq.read_schema(table))
    return done


def _train_each(
    settings: Settings,
    chosen: list[str],
    dataset: str,
    done: Trainings,
    progress: Progress,
    accept_definition_change: str | None,
    must_train: bool,
) -> None:
    """:func:`train_tasks`' loop: each task trained and gated, a refusal reported."""
    from features.asof import FeatureError
    from lifecycle import train_refusals
    from serving.scoring import churn_answers
    from training.errors import TrainingError
    from training.pipeline import train_task
    from training.tracking import reserved_run

    for name in chosen:
        started = time.perf_counter()
        # its champion answers nothing served (conversion as 1 - churn, the champions staged
        # by this training's gates included): no rival at its gate; loads only for conversion
        answered = churn_answers(settings, dataset, [name]).get(name)
        try:
            with reserved_run(settings, name, dataset):  # a refused write refused before the fit
                trained = train_task(
                    settings,
                    name,
                    dataset=dataset,
                    progress=progress,
                    accept_definition_change=accept_definition_change,
                    answered_by=answered,
                )
            done.results.append(trained)
            train_refusals.record(settings, dataset, {}, [name])
        except (TrainingError, FeatureError) as error:
            if not registry.alias_version(
                registry.reader(settings), registry.model_name(dataset, name), registry.CHAMPION
            ):  # only an absent champion is explained by it (a refusal leaves a workspace be)
                train_refusals.record(settings, dataset, {name: str(error)}, [])
            if len(chosen) == 1 and must_train:
                raise
            done.refused[name] = str(error)
            progress(f"not trained: {refusals({name: str(error)})}")
        done.seconds[name] = round(time.perf_counter() - started, 2)


def foresee_refusals(settings: Settings, dataset: str | None = None) -> None:
    """Record, for each task without a champion that no training was refused for yet, why
    `lifecycle train` would refuse it where that is certain without training
    (``training.foresight``): `score-all` and `serve` then say so in their first answer,
    not 'run `lifecycle train`'."""
    import duckdb

    from lifecycle import train_refusals
    from training.foresight import foreseen_refusal

    dataset = dataset or settings.dataset
    if not settings.workspace.feature_table(dataset).is_file():
        return
    reader = registry.reader(settings)
    foreseen = {}
    for task in tasks.names():
        if registry.alias_version(reader, registry.model_name(dataset, task), registry.CHAMPION):
            continue
        if train_refusals.refused(settings, dataset, task) is not None:
            continue
        try:
            why = foreseen_refusal(settings, task, dataset)
        except (UserError, OSError, ValueError, duckdb.Error):
            continue  # advice only: the command's own checks name what is wrong
        if why is not None:
            foreseen[task] = why
    if foreseen:
        with contextlib.suppress(OSError):  # a read-only workspace: the advice stays 'train'
            train_refusals.record(settings, dataset, foreseen, [])


@contextlib.contextmanager
def train_stops(settings: Settings, dataset: str, asked: str) -> Iterator[dict[str, Any]]:
    """Within the block SIGTERM stops a training as Ctrl-C does (``errors.sigterm_stops``,
    as `refresh`'s); a stop raises :class:`TrainStopped` naming the champions kept, which a
    stopped train said nothing of (SIGTERM: exit 143, no line; Ctrl-C: 'Aborted!'). An error
    after SIGTERM is the stop's, a library's own included (``errors.stop_asked``)."""
    from lifecycle.errors import sigterm_stops, stop_signal, stop_words, stopped_by

    def champions() -> dict[str, str]:  # the aliases mirror: creates no tracking store
        return registry.champion_versions(registry.reader(settings, mirrored=True), dataset)

    before = champions()
    try:
        with sigterm_stops():
            yield before
    except BaseException as error:
        if not stopped_by(error):
            raise
        said, exit_code = stop_words(stop_signal(error))
        now = champions()
        listed = ", ".join(f"{t} v{v}" for t, v in now.items()) or "none"
        kept = f"the champions {'are unchanged' if now == before else 'now'}: {listed}"
        notes = getattr(error, "__notes__", [])  # the staged winners withheld (champion_set)
        line = f"{said} during `lifecycle {asked}`: " + "; ".join(
            [*notes, kept] if notes else [kept, f"`lifecycle {asked}` trains again"]
        )
        raise TrainStopped(line, exit_code, now) from None


class TrainStopped(Exception):
    """A training stopped by Ctrl-C or SIGTERM: what it kept, in one line, and the exit
    status (``errors.STOP_EXIT_BASE`` + the signal)."""

    def __init__(self, line: str, exit_code: int, champions: dict[str, str]) -> None:
        super().__init__(line)
        self.exit_code, self.champions = exit_code, champions
