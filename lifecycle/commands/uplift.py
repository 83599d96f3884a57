"""`lifecycle train-uplift`: who can be saved, learned from a randomized campaign table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.errors import UserError
from lifecycle.words import counted


@main.command("train-uplift")
@click.option("--dataset", required=True, help="Dataset with a campaign table, e.g. hillstrom.")
@click.option(
    "--campaigns",
    help="Learn from these recorded campaigns of the dataset (comma-separated names, or 'all'; "
    "`lifecycle campaign list`) instead of an imported campaign table.",
)
@click.option(
    "--from-list",
    "lists",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Learn from a randomized campaign list with user_id, control and as_of columns (the "
    "demo's campaign_lists/*.csv); repeatable.",
)
@click.option(
    "--horizon-days",
    type=click.IntRange(min=1),
    help="Outcome horizon of --from-list campaigns [default: labels.churn_horizon_days].",
)
@click.option(
    "--outcome",
    type=click.Choice(["visit", "conversion", "spend"]),
    default="visit",
    show_default=True,
    help="The campaign outcome whose change the model predicts (from campaigns: visit = any "
    "activity in the horizon, conversion = an order, spend = net revenue).",
)
@click.option(
    "--arm",
    help="Count only this arm as treated (e.g. 'Mens E-Mail', in any case and punctuation) "
    "[default: every treated arm].",
)
@click.option(
    "--bootstrap-draws",
    type=click.IntRange(20, 5000),
    default=500,  # training.uplift_metrics.BOOTSTRAP_DRAWS
    show_default=True,
    help="Paired bootstrap draws (customers resampled) for the test intervals.",
)
@click.option(
    "--accept-definition-change",
    metavar="REASON",
    help="Let a model of another outcome or arm than the champion's be promoted, recording "
    "REASON; without it such a model stays challenger.",
)
@changes_workspace
@pass_context
def train_uplift_command(
    obj: Context,
    dataset: str,
    campaigns: str | None,
    lists: tuple[Path, ...],
    horizon_days: int | None,
    outcome: str,
    arm: str | None,
    bootstrap_draws: int,
    accept_definition_change: str | None,
) -> None:
    """Fit T-, X- and transformed-outcome uplift learners with LightGBM, judge them on a
    held-out split by Qini and AUUC against random and response-model targeting (paired
    bootstrap intervals), register the best as <dataset>-uplift; it becomes champion only
    if its Qini interval is above random's and above the response model's."""
    from lifecycle.dataset_kind import EVENTS, dataset_kind, uplift_training
    from serving.campaign_uplift import table_notes
    from training.uplift import train_uplift

    table, source = None, ""
    notes: dict[str, Any] = {}  # members left out, features computed at a campaign's date
    said: list[str] = []
    if campaigns or lists:
        table, source = _campaigns_table(obj, dataset, campaigns, lists, horizon_days)
        notes = {name: dict(table.attrs[name]) for name in table_notes(table) if table.attrs[name]}
        said = [line for lines in table_notes(table).values() for line in lines]
    elif dataset_kind(obj.settings, dataset) == EVENTS:
        # an events dataset never has an imported campaign table: its campaigns are recorded
        raise UserError(uplift_training(obj.settings, dataset))
    result = train_uplift(
        obj.settings,
        dataset,
        outcome,
        arm=arm,
        draws=bootstrap_draws,
        progress=obj.console.step,
        table=table,
        source=source,
        accept_definition_change=accept_definition_change,
    )
    # members left out, features computed at a campaign's own date: in the result, not only
    # in a progress line (--quiet and --json said nothing of 12 of 498 members left out)
    obj.console.result(result.to_dict() | notes, result.lines() + [f"note: {s}" for s in said])


def _matured(obj: Context, dataset: str, recorded: list[Any], with_lists: bool) -> list[Any]:
    """``--campaigns all``: the recorded campaigns whose outcomes are known; those whose
    horizon ends after the events are left out, each said in a note (naming one of them
    refused the whole run)."""
    from serving.campaigns import last_event_time

    if not recorded:
        if with_lists:
            return []
        raise UserError(
            f"--campaigns all: no campaign of dataset {dataset!r} is recorded: start one with "
            "`lifecycle campaign start`, or learn from a randomized list (--from-list FILE)"
        )
    events = obj.settings.workspace.events(dataset)
    if not events.is_file():
        return recorded  # the campaign table names what is missing
    data_ends = last_event_time(events)
    waiting = [found for found in recorded if found.horizon_end > data_ends]
    matured = [found for found in recorded if found.horizon_end <= data_ends]
    for found in waiting:
        obj.console.note(
            f"campaign {found.name} left out: its horizon ends {found.horizon_end:%Y-%m-%d}, "
            f"after the events of {dataset!r} ({data_ends:%Y-%m-%d}): its outcomes are not known yet"
        )
    if not matured and not with_lists:
        first = min(found.horizon_end for found in waiting)
        of_dataset = f"of dataset {dataset!r}"
        not_yet = (
            f"the one campaign {of_dataset} has not matured: its horizon ends"
            if len(recorded) == 1
            else f"none of the {len(recorded)} campaigns {of_dataset} has matured: the first "
            "horizon ends"
        )
        raise UserError(
            f"--campaigns all: {not_yet} {first:%Y-%m-%d}, the events end {data_ends:%Y-%m-%d}"
        )
    return matured


def _campaigns_table(
    obj: Context,
    dataset: str,
    names: str | None,
    lists: tuple[Path, ...],
    horizon_days: int | None,
) -> tuple[Any, str]:
    """The campaign table of recorded campaigns and lists: members, outcomes, as-of features."""
    from serving.campaign_uplift import (
        campaign_uplift_table,
        campaigns_source,
        list_campaign,
    )
    from serving.campaigns import list_campaigns, read_campaign

    settings = obj.settings
    if names == "all":
        recorded = [
            found
            for found in list_campaigns(settings)
            if (found.metadata.get("dataset") or settings.dataset) == dataset
        ]
        chosen = _matured(obj, dataset, recorded, bool(lists))
    else:
        chosen = [read_campaign(settings, n.strip()) for n in (names or "").split(",") if n.strip()]
    # one campaign twice put each member in the table twice (in the training and the test
    # split alike): its Qini was judged on rows the learners had seen
    twice = [n for n, count in Counter(c.name for c in chosen).items() if count > 1]
    twice += [str(p) for p, count in Counter(p.resolve() for p in lists).items() if count > 1]
    if twice:
        raise UserError(f"{', '.join(twice)}: given twice; each campaign counts once")
    horizon = horizon_days or settings.labels.churn_horizon_days
    chosen += [list_campaign(path, horizon, dataset) for path in lists]
    campaigns = counted(len(chosen), ("campaign", "campaigns"))
    obj.console.step(f"campaign table from {campaigns} of dataset {dataset!r}")
    return campaign_uplift_table(settings, chosen, dataset), campaigns_source(chosen)
