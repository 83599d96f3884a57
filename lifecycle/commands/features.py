"""The `features` commands: the as-of feature table, the Feast repository and the online
store of a dataset."""

from __future__ import annotations

from typing import Any

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.words import CUTOFFS, ROWS, counted


@main.group()
def features() -> None:
    """Feature table, Feast repository and online store of a dataset."""


@features.command("build")
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--as-of",
    "as_of",
    multiple=True,
    metavar="DATE",
    help="An extra cutoff date to compute features at (repeat for more), e.g. for `score-all --as-of DATE`.",
)
@click.option(
    "--drop-champion-inputs",
    is_flag=True,
    help="Write the table even when it lacks columns the champions read (after a changed "
    "features setting): they stop serving until new champions are trained and promoted.",
)
@changes_workspace
@pass_context
def features_build(
    obj: Context, dataset: str | None, as_of: tuple[str, ...], drop_champion_inputs: bool
) -> None:
    """Compute per-user features as of each cutoff (weekly, plus today) into the feature table."""
    from features.identifiers import left_out_line
    from features.store import store_paths
    from lifecycle.steps import build_features

    paths = store_paths(obj.settings, dataset)
    if as_of:
        _refuse_cutoffs_past_the_data(obj.settings, paths.dataset, as_of)
    obj.console.step(f"computing as-of features for dataset '{paths.dataset}'")
    summary = build_features(
        obj.settings, paths.dataset, extra_cutoffs=as_of, drop_champion_inputs=drop_champion_inputs
    )
    obj.console.result(
        summary,
        [
            f"feature table {summary['path']}: {counted(summary['rows'], ROWS)}, {counted(summary['users'])}, "
            f"{counted(len(summary['cutoffs']), CUTOFFS)} {summary['cutoffs'][0]} .. "
            f"{summary['cutoffs'][-1]}",
            *([left_out_line(left_out)] if (left_out := summary["not_feature_reasons"]) else []),
        ],
    )


def _refuse_cutoffs_past_the_data(settings: Any, dataset: str, as_of: tuple[str, ...]) -> None:
    """An --as-of that is no date is one line (it was a traceback); one after today's cutoff
    (the midnight after the last event) is refused: the feature table's latest cutoff, which
    the online store, score-all and the monitor read as today, would be a date no data
    reaches (a typo, 2030 for 2020, scored every user as silent for years)."""

    from features.asof import event_span
    from features.dates import cutoff_date
    from lifecycle.errors import UserError

    # 2025-01-02T10:00 was refused as past the data on the day it allows
    stamps = [cutoff_date(value) for value in as_of]
    events = settings.workspace.events(dataset)
    if not events.is_file():
        return  # build_features names what is missing
    span = event_span(events)
    late = [t for t in stamps if t > span.latest_cutoff]
    if late:
        raise UserError(
            f"--as-of {late[0]:%Y-%m-%d}: after the data of dataset '{dataset}' (last event "
            f"{span.last:%Y-%m-%d %H:%M}); the latest cutoff it can have is "
            f"{span.latest_cutoff:%Y-%m-%d} (today's, built without --as-of)"
        )


@features.command("apply")
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--drop-champion-inputs",
    is_flag=True,
    help="Apply even when the feature views lack features the champions read: they stop "
    "serving until new champions are trained and promoted.",
)
@changes_workspace
@pass_context
def features_apply(obj: Context, dataset: str | None, drop_champion_inputs: bool) -> None:
    """Register the Feast entity, feature views and feature services. A task's service holds
    exactly the current features; a changed feature set adds the next version (churn_v2, ...)
    and earlier versions stay for the models trained on them."""
    from features.store import apply

    obj.console.step("applying the Feast repository")
    summary = apply(obj.settings, dataset, drop_champion_inputs=drop_champion_inputs)
    obj.console.result(
        summary,
        [
            f"Feast repository {summary['repo']}",
            f"  feature views: {', '.join(summary['feature_views'])}",
            f"  feature services: {', '.join(summary['feature_services'])}",
            f"  new feature services: {', '.join(summary['new_services']) or 'none'}",
        ],
    )


@features.command("materialize")
@click.option("--dataset", help="Dataset name [settings dataset].")
@changes_workspace
@pass_context
def features_materialize(obj: Context, dataset: str | None) -> None:
    """Load every user's latest features into the online store."""
    from features.store import materialize

    obj.console.step("materializing the latest features into the online store")
    summary = materialize(obj.settings, dataset)
    obj.console.result(
        summary,
        [
            f"online store: {counted(summary['users'])} as of {summary['latest_as_of']} ({summary['seconds']} s)"
        ],
    )


@features.command("show")
@click.argument("user_ids", nargs=-1, required=True)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--service",
    "service_name",
    help="Feature service [churn's of the current feature table; churn_v1 may name columns a "
    "later table lacks].",
)
@pass_context
def features_show(
    obj: Context, user_ids: tuple[str, ...], dataset: str | None, service_name: str | None
) -> None:
    """Show users' online features (unknown users are reported as not found)."""
    from features import contract as c
    from features.batches import dataset_case_insensitive_ids
    from features.id_spellings import padded_width, padding_hint
    from features.store import online_features, open_store, store_paths, task_service

    store = open_store(obj.settings, dataset)
    if service_name is None:
        service_name = task_service(store, store_paths(obj.settings, dataset), "churn")
    name = dataset or obj.settings.dataset
    folded = dataset_case_insensitive_ids(obj.settings.workspace.dataset_dir(name))
    held = c.held_user_ids(user_ids, folded)  # as /score reads them
    online = online_features(store, c.lookup_user_ids(held), service_name)
    rows = {r[c.USER_ID]: r for r in online.frame.assign(found=online.found).to_dict("records")}
    known = {user_id for user_id, row in rows.items() if row["found"]}
    width = padded_width(obj.settings.workspace.events(name)) if len(known) < len(held) else None
    records, lines = [], []
    for user_id, as_held in zip(user_ids, held, strict=True):  # 18074.0: user 18074, as /score
        record = {**rows[c.answering_user_id(as_held, known)], c.USER_ID: user_id}
        if not record["found"] and (hint := padding_hint(user_id, width)):  # '3' for '00003'
            record["hint"] = hint
        records.append(record)
        missed = "; ".join(["not found in the online store", *filter(None, [record.get("hint")])])
        status = "" if record["found"] else f"  ({missed})"
        lines.append(f"{user_id}{status}")
        if record["found"]:
            lines += [f"  {k}: {v}" for k, v in record.items() if k not in ("user_id", "found")]
    obj.console.result({"users": records}, lines)
