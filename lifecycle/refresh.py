"""`lifecycle refresh`: new files in, then every step whose inputs moved on, and no other.

The steps, in order: ingest (append each new file), features build, Feast apply and
materialize, train (each task), score, report, reload of a running service. Whether a step
is needed comes from the lineage each step records (:mod:`lifecycle.lineage`): the feature
table names its dataset version, the online store its feature table, a model version its
feature table and settings, a scores table its models and feature table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle import lineage, tasks
from lifecycle.errors import (
    STOP_EXIT_BASE,
    UserError,
    stop_signal,
    stop_words,
    stopped_by,
)
from lifecycle.refresh_files import append_files, appended_words
from lifecycle.refresh_reload import reload_service, served_now

if TYPE_CHECKING:
    from lifecycle.settings import Settings

Progress = Callable[[str], None]
# Exit codes for schedulers: 0 done (or all current; also when a retrained task's champion
# beat its challenger and still serves, said in ``not_promoted``: a weekly cron refresh
# exited 3 every week a challenger lost, though nothing needed doing), 1 a step refused or
# failed (the message says what to run), 3 done but a task could not be trained yet, no
# champion serves it (no version of it was ever promoted), or its challenger was held back
# for a changed label definition (said by every refresh until `--accept-definition-change`); 128 + the signal's number
# when stopped mid-way (130 Ctrl-C, 143 SIGTERM).
EXIT_OK, EXIT_FAILED, EXIT_NOT_PROMOTED = 0, 1, 3
# What the train step records of each training (``training.pipeline.TrainResult.to_dict``).
REFRESH_MODEL_KEYS = ("task", "version", "promoted", "gate", "baseline", "champion")


@dataclass
class StepOutcome:
    step: str
    status: str  # ran | skipped | failed | interrupted
    why: str
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """It ran, or it failed or was stopped after part of its work was kept (the files a
        refresh's ingest appended before the one refused: each append is a version whole)."""
        return self.status == "ran" or bool(self.detail.get("appended"))

    def line(self) -> str:
        took = f" ({self.seconds:.1f} s)" if self.status != "skipped" else ""
        return f"  {self.step:<12} {self.status:<8}{took}: {self.why}"


@dataclass
class RefreshResult:
    dataset: str
    steps: list[StepOutcome] = field(default_factory=list)
    exit_code: int = EXIT_OK
    error: str | None = None  # the refusal that ended the refresh, in one line
    warnings: list[str] = field(default_factory=list)  # champions of data no longer held
    seconds: float = 0.0  # the run's wall time, its checks of what is stale included
    # task -> why no version of it was promoted, whether it was trained, the serving champion
    not_promoted: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "interrupted" if self.exit_code > STOP_EXIT_BASE else "failed"
        return "not_promoted" if self.exit_code == EXIT_NOT_PROMOTED else "ok"

    @property
    def failed_step(self) -> str | None:
        return next((s.step for s in self.steps if s.status in ("failed", "interrupted")), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "status": self.status,
            "step": self.failed_step,
            "error": self.error,
            "exit_code": self.exit_code,
            "seconds": self.seconds,
            "ran": [s.step for s in self.steps if s.changed],
            "skipped": [s.step for s in self.steps if s.status == "skipped"],
            "steps": [s.__dict__ for s in self.steps],
            "warnings": self.warnings,
            "not_promoted": self.not_promoted,
        }

    def lines(self) -> list[str]:
        ran = sum(s.changed for s in self.steps)
        steps = f"{ran} step{'s' * (ran != 1)}"
        head = f"refresh of dataset '{self.dataset}': {steps} ran, {self.seconds:.1f} s"
        if self.error is not None:
            head += f", then {self.failed_step} {self.status}"
        lines = [head]
        for step in self.steps:  # the train step with what each training did
            lines += [step.line(), *(f"  {line}" for line in step.detail.get("lines", []))]
        kept = [
            kept_line(task, t)
            for task, t in self.not_promoted.items()
            if t["trained"] or held_for_definition(t)
        ]
        return lines + [f"  warning: {why}" for why in self.warnings] + [f"  {k}" for k in kept]


def held_for_definition(kept: dict[str, Any]) -> bool:
    """Whether the gate held a task's challenger back for its changed label definition (an
    entry of ``not_promoted``): it waits for the operator's `--accept-definition-change`."""
    from lifecycle import registry

    return kept["why"].startswith(registry.DEFINITION_HELD)


def needs_operator(kept: dict[str, Any]) -> bool:
    """Whether a task of ``not_promoted`` makes the refresh exit 3: it could not be trained,
    no champion serves it, or its challenger was held back for its label definition (by this
    refresh or an earlier one: said until the operator accepts it, or it never serves)."""
    return not (kept["trained"] and kept["champion"]) or held_for_definition(kept)


# How the operator of a refresh accepts a challenger held back for its label definition
ACCEPT_BY_REFRESH = "`lifecycle refresh --accept-definition-change REASON`"


def accepted_by_refresh(said: str, task: str, version: str) -> str:
    """``said`` (a verdict or a training's line) naming :data:`ACCEPT_BY_REFRESH` where the
    gate names `train`'s and `promote`'s accept for ``version`` of ``task``: --json's ``why``
    named `lifecycle train ...` while the text named `lifecycle refresh ...`."""
    from training.promotion import accept_commands

    named = accept_commands(task, version)
    # a verdict written before 2efb577 asked `promote` for --force as well
    before = f"{named.removesuffix('`')} --force`"
    return said.replace(before, ACCEPT_BY_REFRESH).replace(named, ACCEPT_BY_REFRESH)


def kept_line(task: str, kept: dict[str, Any]) -> str:
    """What the text output says of a retrained task of which no version was promoted."""
    champion = f"champion v{kept['champion']}" if kept["champion"] else None
    if champion is None:
        return f"{task}: no version was promoted and no champion serves it ({kept['why']})"
    if held_for_definition(kept):
        return (
            f"{task}: held back, its label definition differs from {champion}'s, which keeps "
            f"serving the old one; to let the new definition replace it: {ACCEPT_BY_REFRESH}"
        )
    return (
        f"{task}: the retrained model did not beat its {champion}, which keeps serving "
        "(see --json not_promoted)"
    )


class RefreshFailed(Exception):
    """A step refused: the refresh stops there (its message is the step's one line)."""


class RefreshStopped(Exception):
    """Ctrl-C or a scheduler's stop (SIGTERM) during a step: the refresh stops there."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def model_problem(
    settings: Settings,
    mlflow_client: Any,
    dataset: str,
    task: str,
    accept_definition_change: str | None = None,
) -> str | None:
    """Why ``task`` needs training (None when its newest version learned from the current
    feature table with the current settings and was judged by the gate; with
    ``accept_definition_change``, not when the gate held it back for its label definition)."""
    return model_state(settings, mlflow_client, dataset, task, accept_definition_change)[0]


def model_state(
    settings: Settings,
    mlflow_client: Any,
    dataset: str,
    task: str,
    accept_definition_change: str | None = None,
) -> tuple[str | None, str | None]:
    """:func:`model_problem`, and when there is none, the gate's verdict on the newest
    version if it was held back for its label definition and still waits (not champion) for
    `--accept-definition-change`: a refresh that finds the task current says it each time."""
    from lifecycle import registry

    name = registry.model_name(dataset, task)
    found = mlflow_client.search_model_versions(f"name = '{name}'")
    if not found:
        return f"{task} has no model", None
    newest = max(found, key=lambda v: int(v.version))
    tags = newest.tags or {}
    table = lineage.read(settings.workspace.feature_table(dataset)) or {}
    if tags.get(f"{lineage.TAG_PREFIX}feature_table") != table.get("id"):
        return f"{task} v{newest.version} learned from an older feature table", None
    if tags.get(f"{lineage.TAG_PREFIX}settings_hash") != lineage.settings_hash(settings):
        return f"{task} v{newest.version} was trained with other features or labels settings", None
    trained_with = tags.get(f"{lineage.TAG_PREFIX}training_hash")  # none: before it was kept
    if trained_with and trained_with != lineage.training_hash(settings, task):
        return f"{task} v{newest.version} was trained with other training settings", None
    if not registry.judged(newest):  # a training stopped (Ctrl-C) between register and gate
        return f"{task} v{newest.version} {registry.NEVER_JUDGED}", None
    verdict = tags.get(registry.GATE_TAG, "")
    held = verdict.startswith(registry.DEFINITION_HELD)
    if not held or _serves(mlflow_client, name, newest.version):
        return None, None
    if accept_definition_change:
        accepted = "was held back for its label definition, now accepted"
        return f"{task} v{newest.version} {accepted} (--accept-definition-change)", None
    return None, accepted_by_refresh(verdict, task, newest.version)


def _serves(mlflow_client: Any, name: str, version: str) -> bool:
    """Whether ``version`` is the champion (a search of versions does not give aliases)."""
    from lifecycle import registry

    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    return champion is not None and str(champion.version) == str(version)


def scores_problem(settings: Settings, champions: dict[str, str], dataset: str) -> str | None:
    """Why the latest scores table is not current (None when it used these champions on
    the current feature table)."""
    from serving.batch import ScoringError, read_scores

    try:  # any dataset's: a table of another dataset is named below
        table = read_scores(settings.workspace.latest_scores)
    except ScoringError:
        return "no scores table"
    built = table.metadata.get("lineage", {})
    current = lineage.read(settings.workspace.feature_table(dataset)) or {}
    if table.metadata.get("dataset") != dataset:
        return f"the latest scores are of dataset '{table.metadata.get('dataset')}'"
    if built.get("feature_table") != current.get("id"):
        return "the latest scores were made from an older feature table"
    used = {str(t): str(v) for t, v in table.metadata.get("model_versions", {}).items()}
    if used != champions:
        return f"the latest scores used {_versions(used)}; the champions are {_versions(champions)}"
    return None


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{t} v{v}" for t, v in sorted(versions.items())) or "no model"


def refresh(
    settings: Settings,
    files: Sequence[Path] = (),
    *,
    users: Path | None = None,
    source: str | None = None,
    keep_repeats: bool | None = None,
    reload_url: str | None = None,
    accept_definition_change: str | None = None,
    progress: Progress = lambda message: None,
    dataset_named: bool = True,
) -> RefreshResult:
    """Append ``files`` (events, contract columns; or ``source``'s format read by its
    adapter, e.g. ``online-retail``) to the settings' dataset, then run each later step
    whose inputs are newer than what it made; skip the rest. Files start a dataset the
    workspace lacks only when the caller named it (``dataset_named``; the CLI's --dataset),
    never under the settings' default name. Each outcome's seconds include those of the
    checks that decided it; the result's, the whole run's."""
    started = time.perf_counter()
    result = RefreshResult(settings.dataset)
    checked: dict[str, float] = {}  # seconds of each step's checks, not yet in an outcome

    def record(outcome: StepOutcome) -> None:
        outcome.seconds = round(outcome.seconds + checked.pop(outcome.step, 0.0), 2)
        result.steps.append(outcome)

    def timed(step: str, check: Callable[[], Any]) -> Any:
        """What decides whether ``step`` runs, its time counted in the step's outcome."""
        started = time.perf_counter()
        try:
            return check()
        finally:
            checked[step] = checked.get(step, 0.0) + time.perf_counter() - started

    def run(
        step: str,
        why: str,
        action: Callable[[], dict[str, Any]],
        kept: dict[str, Any] | None = None,
        *,
        check: bool = False,
    ) -> Any:
        """Run a step; ``kept``: what it did so far, that a refusal or a stop leaves done.
        ``check``: only what decides whether the step runs (a registry read): its answer, and
        no outcome unless it is refused or stopped."""
        from lifecycle.tracking_http import unreachable

        progress(f"{step}: {why}")
        started = time.perf_counter()

        def left(error: BaseException) -> dict[str, Any]:
            """What it did so far, and what it undid (a train step's winners not moved)."""
            done, notes = dict(kept or {}), getattr(error, "__notes__", [])
            return done | ({"lines": [*done.get("lines", []), *notes]} if notes else {})

        try:
            try:
                detail = action()
            except Exception as error:  # a tracking server down: said in one line
                if (named := unreachable(settings, error)) is None:
                    raise
                raise named from None
        except UserError as error:  # a refusal ends the refresh, recorded for schedulers
            took = time.perf_counter() - started
            record(StepOutcome(step, "failed", why, took, left(error)))
            raise RefreshFailed(str(error)) from error
        except BaseException as error:  # a stop asked for: recorded too, as far as it got
            if not stopped_by(error):
                raise
            took = time.perf_counter() - started
            record(StepOutcome(step, "interrupted", why, took, left(error)))
            raise RefreshStopped(stop_signal(error)) from None
        took = time.perf_counter() - started
        if check:  # its time is the step's, whether it then runs or is skipped
            checked[step] = checked.get(step, 0.0) + took
        else:
            record(StepOutcome(step, "ran", why, took, detail))
        return detail

    def skip(step: str, why: str) -> None:
        record(StepOutcome(step, "skipped", why))

    try:
        try:
            _refresh_steps(
                settings,
                files,
                users,
                source,
                reload_url,
                accept_definition_change,
                result,
                run,
                skip,
                timed,
                dataset_named=dataset_named,
                progress=progress,
                keep_repeats=keep_repeats,
            )
        except RefreshFailed as failed:
            result.error, result.exit_code = str(failed), EXIT_FAILED
            if appended := result.steps[-1].detail.get("appended"):  # the dataset moved: said
                result.error += f"; {appended_words(appended)}"
            return result
        except RefreshStopped as stop:
            done = [s.step for s in result.steps if s.status == "ran"]
            stopped = result.steps[-1]
            step = stopped.step
            left = f"the {step} step left what it writes as it was"
            if appended := stopped.detail.get("appended"):
                left = appended_words(appended)
            said, result.exit_code = stop_words(stop.signum)
            result.error = (
                f"{said} during the {step} step: "
                + (f"{', '.join(done)} done and kept; " if done else "")
                + f"{left}; `lifecycle refresh` runs what is left"
            )
            return result
        if any(needs_operator(kept) for kept in result.not_promoted.values()):
            result.exit_code = EXIT_NOT_PROMOTED
        return result
    finally:
        result.seconds = round(time.perf_counter() - started, 2)


def not_promoted(trained: dict[str, Any], champions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each task of a train step of which no version became champion (neither the model nor
    the baseline rule registered in its place), or that the data cannot train yet: ``why``
    (the gate's verdict, the refusal), ``trained`` and the ``champion`` that still serves it
    (None: none). A task whose answers the churn champion gives (``served_by_churn``) is
    served: not named."""
    kept = {
        m["task"]: {"why": m["gate"], "trained": True, "champion": champions.get(m["task"])}
        for m in trained["models"]
        if not (m["champion"] or m.get("served_by_churn"))
    }
    refused = {
        task: {"why": why, "trained": False, "champion": champions.get(task)}
        for task, why in trained["not_trained"].items()
    }
    return kept | refused


def _refresh_steps(
    settings: Settings,
    files: Sequence[Path],
    users: Path | None,
    source: str | None,
    reload_url: str | None,
    accept_definition_change: str | None,
    result: RefreshResult,
    run: Callable[..., dict[str, Any]],
    skip: Callable[[str, str], None],
    timed: Callable[[str, Callable[[], Any]], Any],
    *,
    dataset_named: bool,
    progress: Progress,
    keep_repeats: bool | None,
) -> None:
    from lifecycle import registry, steps, train_refusals
    from lifecycle.dataset_kind import require_events

    dataset = settings.dataset
    why = f"appending {len(files)} file{'s' * (len(files) != 1)}" if files else "no new files"
    if not (files and dataset_named):
        started = time.perf_counter()
        try:  # nothing to refresh, or the default name: say so, naming the datasets it has
            require_events(settings, dataset, "refresh", held=True)
        except UserError as error:
            took = round(time.perf_counter() - started, 2)
            result.steps.append(StepOutcome("ingest", "failed", why, took))
            raise RefreshFailed(str(error)) from error
    if files:
        kept: dict[str, Any] = {}  # of the files before one refused, said in its detail
        run(
            "ingest",
            why,
            lambda: append_files(settings, files, users, source, kept, keep_repeats),
            kept,
        )
    else:
        skip("ingest", why)

    problem = timed("features", lambda: lineage.feature_table_problem(settings, dataset))
    if problem:
        run("features", problem, lambda: steps.build_features(settings))
    else:
        skip("features", "the feature table is built from the current dataset version")

    problem = timed("online", lambda: lineage.online_store_problem(settings, dataset))
    if problem:
        run("online", problem, lambda: steps.publish_features(settings))
    else:
        skip("online", "the online store holds the current feature table")

    def models_to_train() -> tuple[Any, dict[str, str], dict[str, str], dict[str, str]]:
        mlflow_client = registry.client(settings)
        # What a running service served before this refresh: its workers follow an alias
        # move by themselves, so its /reload answer cannot say what this refresh changed.
        served = served_now(settings, mlflow_client) if reload_url is not None else {}
        left_out = train_refusals.left_out(settings)
        states = {
            task: model_state(settings, mlflow_client, dataset, task, accept_definition_change)
            for task in tasks.names()
            if task not in left_out
        }
        stale = {task: why for task, (why, _) in states.items() if why}
        # held for a definition by an earlier refresh: current, yet not served
        waiting = {task: verdict for task, (_, verdict) in states.items() if verdict}
        return mlflow_client, served, stale, waiting

    reading = f"reading the model registry at {registry.tracking_uri(settings)}"
    mlflow_client, served_before, stale, waiting = run(
        "train", reading, models_to_train, check=True
    )
    untrained: dict[str, str] = {}
    trained: dict[str, Any] | None = None
    if stale:
        trained = run(
            "train",
            "; ".join(stale.values()),
            lambda: train_detail(settings, list(stale), accept_definition_change, progress),
        )
        untrained = trained["not_trained"]
    else:
        left_out = train_refusals.left_out_line(settings)
        skip(
            "train",
            "every model learned from the current feature table"
            + (f"; {left_out.removeprefix('not trained: ')}" if left_out else ""),
        )

    def champions_now() -> tuple[dict[str, str], list[str]]:
        from serving.scoring import churn_answers

        champions = registry.champion_versions(mlflow_client, dataset)
        replaced = lineage.champions_of_replaced_data(
            settings, dataset, champions, client=mlflow_client
        )
        # conversion served as 1 - churn: its own champion serves nothing (read only then)
        for task in churn_answers(settings, dataset, replaced):
            replaced.pop(task)
        return champions, list(replaced.values())

    champions, result.warnings = run("score", reading, champions_now, check=True)
    if trained is not None:
        result.not_promoted = not_promoted(trained, champions)
    result.not_promoted |= {
        task: {"why": verdict, "trained": False, "champion": champions.get(task)}
        for task, verdict in waiting.items()
    }
    problem = timed("score", lambda: scores_problem(settings, champions, dataset))
    if problem and not champions and untrained:
        # score-all would refuse, asking to train what the train step just could not
        skip("score", f"no champion to score with: {', '.join(untrained)} cannot be trained yet")
        skip("report", "no scores")
    elif problem:
        # a task the data cannot train yet (a young shop's conversion) is left out of the table
        run("score", problem, lambda: _score(settings, allow_partial=bool(untrained)))
        run("report", "new scores", lambda: _report(settings))
    else:
        skip("score", "the latest scores used the champions on the current feature table")
        skip("report", "the scores did not change")

    changed = any(s.status == "ran" for s in result.steps if s.step in ("train", "score"))
    # A reload that failed left the service on what it served before: every later refresh
    # tries again (it would find nothing changed since) until one reaches it.
    pending = settings.workspace.pending_reload(dataset)
    failed_before = pending.read_text().strip() if pending.is_file() else None
    if reload_url is None:
        skip(
            "reload",
            "no running service configured (--reload-url)"
            + (f"; the last reload failed ({failed_before})" if failed_before else ""),
        )
    elif not changed and not failed_before:
        skip("reload", "no model or scores changed")
    else:
        pending.parent.mkdir(parents=True, exist_ok=True)
        pending.write_text(f"{reload_url}: not reached yet\n")  # until it answers
        why = f"POST {reload_url.rstrip('/')}/reload"
        if failed_before and not changed:
            why += f": the last refresh's reload failed ({failed_before})"
        try:
            run("reload", why, lambda: reload_service(settings, reload_url, served_before))
        except RefreshFailed as failed:
            pending.write_text(f"{failed}\n")
            raise
        pending.unlink()


def train_detail(
    settings: Settings,
    names: list[str],
    accept: str | None,
    progress: Progress = lambda message: None,
) -> dict[str, Any]:
    """Train ``names`` as refresh does (a task the data cannot train is reported, not fatal):
    each model, the baseline registered in its place, which became champion, and the lines
    (the tasks ``training.tasks`` leaves out named in one). ``progress``: the trainings' own
    lines, as `lifecycle train` says them (a refresh said only '... still train' for minutes)."""
    from lifecycle import steps, train_refusals

    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    done = steps.train_tasks(
        settings,
        names,
        progress=progress,
        accept_definition_change=accept,
        must_train=False,
        refused_as=f"refresh could not train {listed}",  # not 'train churn, ltv refused'
    )
    models = [{k: r.to_dict()[k] for k in REFRESH_MODEL_KEYS} for r in done.results]
    lines = done.lines()
    for model in models:  # its champion stayed, but churn's answers it: no exit 3 for it
        model["served_by_churn"] = model["task"] in done.answered  # said in done.lines()
        trained = model["task"], model["version"]
        model["gate"] = accepted_by_refresh(model["gate"], *trained)
        lines = [accepted_by_refresh(line, *trained) for line in lines]
    left_out = train_refusals.left_out_line(settings)  # not refused: no exit status 3 for it
    said = [left_out] if left_out else []
    return {"models": models, "not_trained": done.refused, "lines": lines + said}


def _score(settings: Settings, *, allow_partial: bool) -> dict[str, Any]:
    from serving.batch import score_all
    from serving.scoring import answering_versions

    # at the latest cutoff, so the ledger's entry is always replaced (serving.batch: only a
    # past date's record is kept, which score-all --as-of says)
    scored = score_all(settings, allow_partial=allow_partial)
    # as /score and score-all's lines name them: a conversion churn answers is 1 - churn vN
    versions = answering_versions(scored.versions, scored.kinds)
    return {"path": str(scored.path), "users": scored.users, "model_versions": versions}


def _report(settings: Settings) -> dict[str, Any]:
    from serving.report import build_report

    return {"path": str(build_report(settings).path)}
