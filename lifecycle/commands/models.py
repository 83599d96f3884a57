"""Commands on models: train, promote, list, serve and snapshot training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lifecycle import tasks
from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.words import counted

if TYPE_CHECKING:
    from lifecycle.settings import Settings


class TaskName(click.ParamType):
    """A declared task (``lifecycle.tasks``), read when the command runs, not at import."""

    name = "task"

    def __init__(self, allow_all: bool = False) -> None:
        self.allow_all = allow_all

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        known = [*tasks.names(), *(["all"] if self.allow_all else [])]
        if value not in known:
            self.fail(f"{value!r} is not one of {', '.join(known)}", param, ctx)
        return value

    def get_metavar(self, param: Any, ctx: Any = None) -> str:
        return "TASK|all" if self.allow_all else "TASK"


@main.command()
@click.argument("task", type=TaskName(allow_all=True))
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--accept-definition-change",
    metavar="REASON",
    help="Let a model whose label definition (horizon, target, lookback) differs from the "
    "champion's be promoted, recording REASON; without it such a model stays challenger.",
)
@changes_workspace
@pass_context
def train(
    obj: Context, task: str, dataset: str | None, accept_definition_change: str | None
) -> None:
    """Train, evaluate against baselines, track in MLflow, register, and gate promotion.
    Refused when the feature table is older than the dataset (run `lifecycle features build`);
    with `all`, a task the data cannot train yet is reported, the others are trained, and the
    exit status is 3 (as `refresh`'s). Stopped by Ctrl-C or SIGTERM, it says which champions
    it kept and exits 130 or 143."""
    from lifecycle.refresh import EXIT_NOT_PROMOTED
    from lifecycle.steps import TrainStopped, train_stops, train_tasks

    chosen = None if task == "all" else [task]
    try:
        with train_stops(obj.settings, dataset or obj.settings.dataset, f"train {task}"):
            done = train_tasks(
                obj.settings,
                chosen,
                dataset=dataset,
                progress=obj.console.step,
                accept_definition_change=accept_definition_change,
            )
    except TrainStopped as stop:  # said as `refresh` says it: one line, 128 + the signal
        if obj.console.as_json:
            document = {"status": "interrupted", "error": str(stop), "exit_code": stop.exit_code}
            obj.console.result(document | {"champions": stop.champions}, [])
        click.echo(f"Error: {stop}", err=True)
        click.get_current_context().exit(stop.exit_code)
    obj.console.result(
        {
            "not_trained": done.refused,
            "models": [r.to_dict() for r in done.results],
            "not_features": done.not_features,  # people's attributes no model reads -> why
            "answered_by": done.answered,  # a task the churn champion answers -> 1 - churn vN
        },
        done.lines(),
    )
    if done.refused:  # done, but not every task: as refresh says it to a scheduler
        click.get_current_context().exit(EXIT_NOT_PROMOTED)


@main.command()
@click.argument("task", type=TaskName())
@click.argument("version")
@click.option(
    "--reason", required=True, help="Why this version should serve (recorded on the version)."
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--accept-definition-change",
    is_flag=True,
    help="Promote although the version's label definition differs from the champion's "
    "(--reason says why the scores may change meaning).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote a version the promotion gate kept back (lost to a baseline or the champion) "
    "or never judged; without it such a promotion is refused with the gate's verdict.",
)
@changes_workspace
@pass_context
def promote(
    obj: Context,
    task: str,
    version: str,
    reason: str,
    dataset: str | None,
    accept_definition_change: bool,
    force: bool,
) -> None:
    """Make a model version (or `challenger`) the champion by hand, with a recorded reason.
    A version the gate made champion before (a rollback) needs nothing more; one it kept back
    (a challenger) needs --force, unless its changed label definition was all that held it
    back (--accept-definition-change then suffices). A running service follows it by itself
    (every worker reads the champion alias)."""
    from features.erasure_models import predates_erasure
    from lifecycle.challenger import challenger_version
    from lifecycle.lineage import champions_of_replaced_data
    from lifecycle.registry import promote as promote_version
    from serving.one_event import no_served_change
    from serving.promotion import already_champion, promotion_notes

    named = dataset or obj.settings.dataset
    _require_known(obj, named, "promote")  # a misspelt --dataset: not "no version 1 (none)"
    if version == "challenger":
        version = challenger_version(obj.settings, task, dataset)
    before = _answered(obj.settings, named, [task]).get(task)  # the gate's refusal: moot
    done = promote_version(
        obj.settings,
        task,
        version,
        reason,
        dataset,
        accept_definition_change=accept_definition_change,
        gated_only=not force,
        moot=no_served_change(task, before) if before else None,
    )
    was = "none" if done["previous"] == "none" else f"v{done['previous']}"
    lines = [  # the champion promoted again: "champion is now v2 (was v2)" read as a change
        f"{done['model']}: {already_champion(done['champion'])}: {reason}"
        if done["previous"] == done["champion"]
        else f"{done['model']}: champion is now v{done['champion']} (was {was}): {reason}"
    ]
    if done["gate_overridden"]:
        by = "--force" if force else "--accept-definition-change"  # its definition alone held it
        lines.append(f"  promoted over the gate ({by}): {done['gate_overridden']}")
    if erased := predates_erasure(obj.settings, named, task, done["champion"]):
        done["predates_erasure"] = erased
    # churn moved: conversion served as 1 - churn moved with it (asked only then: a load)
    moved = task == tasks.CHURN.name and done["previous"] != done["champion"]
    answered = _answered(obj.settings, named, [task, tasks.CONVERSION.name] if moved else [task])
    lines += [f"  {note}" for note in promotion_notes(task, done, erased, answered)]
    # a rollback to a model of data the dataset no longer holds: said now, not only by
    # /readyz and the next score-all (the demo's churn v1 after `run --users 1500`)
    other = champions_of_replaced_data(
        obj.settings, named, {task: done["champion"]}, answered=answered
    )
    if other:
        done["replaced_data"] = other[task]
        lines.append(f"  {other[task]}")
    by = answered.get(task)
    stale = _scored_by_another(obj.settings, named, task, by or done["champion"])
    if stale:  # the service follows the alias; the batch lists are what score-all last wrote
        done["scores"] = stale
        lines.append(
            f"  the latest scores table (as of {stale['as_of']}) was scored by "
            f"{_version_text(stale['version'])}: `lifecycle at-risk`, movers, segments and the "
            f"report follow {_version_text(by or done['champion'])} after `lifecycle score-all"
            f"{'' if named == obj.settings.dataset else f' --dataset {named}'}`"
        )
    if done["previous"] != done["champion"] and not before:  # before: it answers nothing
        lines += _score_shift(obj.settings, named, done, [task, *answered])
    obj.console.result(done, lines)


def _score_shift(settings: Settings, dataset: str, done: dict, moved: list[str]) -> list[str]:
    """How far the served scores of ``moved`` tasks change from the champion before
    (``done["previous"]``) to the new one, on the latest scores' users (a rollback named the
    `score-all` to run, not by how much its numbers would move)."""
    from serving.score_shift import score_shift, shift_line

    try:
        shift = score_shift(settings, dataset, list(dict.fromkeys(moved)), done["previous"])
    except Exception as error:  # the promotion is done: the shift is said when measurable
        return [f"  how far the scores move was not measured: {error}"]
    done["score_shift"] = shift
    return [f"  {shift_line(t, s)}" for t, s in shift.items()]


def _version_text(answerer: str) -> str:
    """``v3``, or ``1 - churn v3`` as it is."""
    return answerer if " " in answerer else f"v{answerer}"


def _answered(settings: Settings, dataset: str, asked: list[str]) -> dict[str, str]:
    """Task -> ``1 - churn vN`` for each ``asked`` task the churn champion answers
    (conversion on a log of purchases), whatever its own champion."""
    from serving.scoring import churn_answers

    try:
        return churn_answers(settings, dataset, asked)
    except Exception:  # the promotion is done: what answers is said only when it can be read
        return {}


def _scored_by_another(
    settings: Settings, dataset: str, task: str, answerer: str
) -> dict[str, str] | None:
    """The latest scores table's as-of date and what made its ``task`` numbers (a version,
    or ``1 - churn vN``), when that is not ``answerer`` (None without a table of this
    dataset): a conversion answered as 1 - churn before and after changes no number."""
    from serving.answers import scores_metadata, table_answerers

    metadata = scores_metadata(settings.workspace.latest_scores) or {}
    if metadata.get("dataset") != dataset:
        return None
    version = table_answerers(metadata).get(task, "none")
    if version == str(answerer):
        return None
    return {"as_of": str(metadata.get("as_of")), "version": version}


@main.command()
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--history",
    is_flag=True,
    help="Every change of a champion instead: when, from and to, by the gate or a hand, why.",
)
@pass_context
def models(obj: Context, dataset: str | None, history: bool) -> None:
    """List registered model versions with aliases and headline test metrics."""
    from serving.one_event import answers_nothing, none_answers
    from training.promotion import tested_window
    from training.tracking import list_models, settings_text

    if history:
        _champion_history(obj, dataset or obj.settings.dataset)
        return

    rows = list_models(obj.settings, dataset)
    if not rows:
        _require_known(obj, dataset or obj.settings.dataset)
    answered, in_part = _answered_by_churn(obj, dataset, rows)
    lines = []
    for index, r in enumerate(rows):
        headline = ", ".join(
            f"{k} {v:.4f}"
            for k, v in r["metrics"].items()
            if k in ("auc", "pr_auc", "ece", "normalized_gini", "spearman", "qini")
        )
        aliases = f" [{', '.join(r['aliases'])}]" if r["aliases"] else ""
        kind = r["kind"] if r["kind"].startswith("lightgbm") else f"baseline {r['kind']}"
        if "learner" in r:  # uplift: versions of other outcomes or arms are not comparable
            kind = f"{r['learner']}, outcome {r['outcome']}, treated {r['treated']}"
        if not r["test_cutoff"]:
            tested = r["evaluation"] or "tested"
        elif "learner" in r:  # uplift: a random share of a campaign's members, no cutoffs
            tested = f"test {r['test_cutoff']}"
        else:  # first..last, as the gate's verdict names them (the report too)
            tested = tested_window(r["test_cutoff"], r["test_cutoffs"])
        tested = f"{tested}: {headline}"
        if r.get("learned_days"):
            tested = f"learned at {r['learned_days']} days, {tested}"
        if r.get("excluded"):  # a snapshot's versions otherwise read alike
            kind = f"{kind}, without {r['excluded']}"
        if r.get("horizon_days") and "learner" not in r:  # what its metrics were measured on
            kind = f"{kind}, {r['horizon_days']}-day {r['task']}"
        if r["label_free"]:
            days = f", {r['horizon_days']}-day {r['task']}" if r.get("horizon_days") else ""
            kind, tested = f"label-free {r['kind']}{days}", "no outcome to test on"
        if not any(x["task"] == r["task"] for x in rows[:index]):  # above the task's versions
            if r["task"] in answered:
                lines.append(none_answers(r["task"], answered[r["task"]], " below"))
            elif r["task"] in in_part:
                lines.append(in_part[r["task"]])
        lines.append(f"{r['model']} v{r['version']} ({kind}){aliases} {tested}")
        why = r["promotion"] or r["gate"]  # a promotion by hand says its own reason
        if not why and "learner" not in r:  # every trained version is gated once registered
            why = (
                "no gate verdict: its training stopped before the gate; "
                f"`lifecycle train {r['task']}` trains and gates a new version"
            )
        lines += [f"  {why}"] if why else []
        if r["promotion"] and r["gate"] and r["gate"] != r["promotion"]:  # promoted by hand
            lines.append(f"  the gate's verdict: {r['gate']}")  # kept beside the hand's reason
        if r["learned_from"]:  # versions of June's data and September's differ here
            lines.append(f"  learned from {r['learned_from']}")
        if r.get("settings_changed"):  # the run's params: what an engineer changed
            lines.append(f"  {settings_text(r['settings_changed'])}")
        if (gone := r.get("replaced")) and r["promotion"]:  # its reason is of a past move
            lines.append(f"  champion until {gone['at']}: v{gone['to']} by {gone['by']}: "
                         f"{gone['reason']}")  # fmt: skip
        if "champion" in r["aliases"] and r["task"] in answered:
            r["answered_by"] = answered[r["task"]]
            lines.append(f"  {answers_nothing(r['task'], answered[r['task']])}")
        elif "champion" in r["aliases"] and r["task"] in in_part:
            r["served_where"] = in_part[r["task"]]  # as /models names it
    # said once: the champion's test ECE was read as the served refit's
    out_of_time = any(r["test_cutoff"] and "learner" not in r for r in rows)
    said = {"metrics_of": METRICS_OF} if out_of_time else {}
    lines = [*said.values(), *lines] if rows else [_no_models(obj, dataset or obj.settings.dataset)]
    obj.console.result({"dataset": dataset or obj.settings.dataset, "models": rows, **said}, lines)


# What `lifecycle models` shows of a version tested out of time (training.pipeline, the tags
# test.*): champion churn's ECE 0.112 beside rfm_score's 0.039 was read as the served model's.
METRICS_OF = (
    "metrics: each version's evaluated model on its test cutoffs (learned from the cutoffs "
    "before, calibrated on the validation cutoffs; a rule alike); the version registered is "
    "refit on every matured cutoff and calibrated again (LightGBM on cross-fitted scores, a "
    "rule on the test rows), so its own ECE is measured only once its scores' outcomes are "
    "known (`lifecycle outcomes`)"
)


def _champion_history(obj: Context, dataset: str) -> None:
    from lifecycle.champion_log import champion_history

    entries = champion_history(obj.settings, dataset)
    if not entries:
        _require_known(obj, dataset)
    lines = [
        f"{e['at']} {e['model']}: v{e['from']} -> v{e['to']} by {e['by']}: {e['reason']}"
        if e["from"]
        else f"{e['at']} {e['model']}: first champion v{e['to']} by {e['by']}: {e['reason']}"
        for e in entries
    ] or [f"no champion of dataset '{dataset}' has changed in this workspace's registry"]
    obj.console.result({"dataset": dataset, "history": entries}, lines)


def _answered_by_churn(
    obj: Context, dataset: str | None, rows: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Task -> ``1 - churn vN`` for a task whose champion's answers churn's gives; and task ->
    where each answers for one churn answers where it scores (``one_event.served_where``)."""
    from serving.one_event import served_where
    from serving.scoring import answered_by, conversion_champions

    served = {r["task"] for r in rows if "champion" in r["aliases"]}
    # without a churn champion nothing is answered by it: no champion to load; their
    # metadata say it (what serves each, their labels), not their boosters
    asked = served if tasks.CHURN.name in served else ()
    if (champions := conversion_champions(obj.settings, dataset, asked, boosters=False)) is None:
        return {}, {}
    versions, kinds = champions.versions, champions.kinds
    return answered_by(versions, kinds), served_where(versions, kinds, champions.labels)


def _require_known(obj: Context, dataset: str, step: str = "models") -> None:
    """Refuse a dataset with neither data in the workspace nor a registered model (a misspelt
    --dataset listed nothing and exited 0; `promote` said "model nosuch-churn has no version
    1 (it has none)"). A workspace on a tracking server holds models trained elsewhere
    without their data: those datasets are known by their models."""
    from lifecycle.dataset_kind import held_kinds
    from lifecycle.errors import UserError
    from training.tracking import datasets_with_models

    held = [name for name, kind in held_kinds(obj.settings).items() if kind is not None]
    if dataset in held:
        return
    known = sorted({*held, *datasets_with_models(obj.settings)})
    if dataset in known:
        return
    from lifecycle.dataset_kind import read_report

    if (folder := obj.settings.workspace.dataset_dir(dataset)).is_dir():
        read_report(folder)  # a damaged report is named, with the way back ("no data in" it)
    if known:  # `models` gives the command in full; another step's arguments are the user's
        again = "lifecycle models --dataset" if step == "models" else "pass --dataset"
        from difflib import get_close_matches

        closest = (get_close_matches(dataset, known, n=1) or known)[0]  # else the first
        hint = f"; it knows {', '.join(known)}: {again} {closest}"
    else:
        hint = ": ingest or import it first"
    raise UserError(
        f"{step}: no dataset '{dataset}': no data in {obj.settings.workspace.home} and no "
        f"model of it in the tracking store{hint}"
    )


def _no_models(obj: Context, dataset: str) -> str:
    """No model of ``dataset``: which datasets have some, or what trains one."""
    from training.tracking import datasets_with_models

    others = [name for name in datasets_with_models(obj.settings) if name != dataset]
    if others:
        return (
            f"no registered models of dataset {dataset}; models are registered for "
            f"{', '.join(others)}: lifecycle models --dataset {others[0]}"
        )
    return (
        f"no registered models of dataset {dataset}: run `lifecycle train all --dataset {dataset}`"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (each follows the champion aliases; docs/serving.md).",
)
@click.option("--dataset", help="Dataset whose models and scores to serve [settings dataset].")
@pass_context
def serve(obj: Context, host: str, port: int, workers: int, dataset: str | None) -> None:
    """Serve the champion models over HTTP (BentoML): POST /score, /score_features, /at_risk,
    /models, and the admin calls /reload and /promote.

    Every worker follows the champions: a promotion or /reload that reached one of them is
    served by all of them from their next answer on.
    """
    import os
    import sys

    root = click.get_current_context().find_root().params
    env = {
        **os.environ,
        "LIFECYCLE_HOME": str(obj.settings.home.resolve()),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if root.get("config"):
        env["LIFECYCLE_CONFIG"] = str(Path(root["config"]).resolve())
    if dataset is not None:
        from lifecycle.workspace import check_dataset_name

        env["LIFECYCLE_DATASET"] = check_dataset_name(dataset)  # the workers' settings
    options = [
        env.get("BENTOML_CONFIG_OPTIONS", ""),
        f"services.lifecycle_scoring.workers={workers}",
    ]
    env["BENTOML_CONFIG_OPTIONS"] = " ".join(o for o in options if o)  # the user's kept
    from lifecycle.dataset_kind import require_events
    from serving.launch import (
        bentoml_command,
        check_can_listen,
        check_workers,
        refuse_auth_without_tokens,
        server_home,
    )

    # what would only show as each worker's 503 after the start, said here in one line
    require_events(obj.settings, dataset or obj.settings.dataset, "serve", held=True)
    from lifecycle.steps import foresee_refusals

    foresee_refusals(obj.settings, dataset)  # the workers say why no training makes a model
    check_workers(workers)
    from lifecycle.errors import UserError
    from serving.follow import diverging_workers, promotions_unseen

    if diverging := diverging_workers(obj.settings, workers):
        raise UserError(f"serve: {diverging}")
    if unseen := promotions_unseen(obj.settings, workers):
        obj.console.note(f"warning: {unseen}")
    check_can_listen(host, port)
    refuse_auth_without_tokens(obj.settings, host)
    env["BENTOML_HOME"] = str(server_home(env.get("BENTOML_HOME"), host, port))
    command = bentoml_command(host, port)
    command += ["--working-dir", str(Path(__file__).resolve().parents[1])]
    obj.console.step(
        f"serving dataset {dataset or obj.settings.dataset} on http://{host}:{port} "
        f"({counted(workers, ('worker', 'workers'))}); ready at /readyz, API docs at /"
    )
    os.execve(sys.executable, command, env)


@main.command("train-snapshot")
@click.option(
    "--dataset",
    default="telco_churn",
    show_default=True,
    help="A snapshot dataset (one row per user with its own label), e.g. from `lifecycle import telco-churn`.",
)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="CV folds.")
@click.option(
    "--label",
    default="label",
    show_default=True,
    help="The 0/1 label column; another than the table's own is registered as <dataset>-<label>.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="COLUMN",
    help="A column not to learn from (repeatable), e.g. one written after the outcome.",
)
@changes_workspace
@pass_context
def train_snapshot(
    obj: Context, dataset: str, folds: int, label: str, exclude: tuple[str, ...]
) -> None:
    """Churn from a snapshot table: cross-validated LightGBM vs baselines, then track, register, gate."""
    from training.snapshot import train_snapshot as train

    result = train(
        obj.settings, dataset, folds=folds, label=label, exclude=exclude, progress=obj.console.step
    )
    leak = result.cv.leak()
    obj.console.result(
        {
            "model": result.model_name,
            "label": label,
            "version": result.version,
            "run_id": result.run_id,
            "promoted": result.promoted,
            "gate": result.gate,
            "folds": result.cv.folds,
            "rows": result.cv.rows,
            "cv": result.cv.summary(),
            "beats_baseline": result.cv.beats_every_baseline(),
            "best_single_feature": result.cv.best_single,
            "leak": None if leak is None else {"column": leak[0], "cv_auc": leak[1]},
            "missing_rules": result.cv.missing_rules,
            "at_risk": str(result.at_risk) if result.at_risk else None,
            "not_features": result.left_out,  # people's attributes -> why no model reads them
        },
        result.lines(),
    )


# -- operator lists (issue 6): batch scores, at-risk list, movers, segments, report ------------
