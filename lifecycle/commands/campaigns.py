"""`lifecycle campaign`: record who was targeted and held out, then measure the difference."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.commands.list_output import ListRequest, emit_list, list_options


@main.group()
def campaign() -> None:
    """Campaigns: start one from a list, report its effect once the horizon has passed."""


@campaign.command("start")
@click.argument("name")
@click.option(
    "--from-list",
    "list_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A list exported by `lifecycle at-risk --out FILE` (CSV, Parquet, JSON or xlsx: "
    "user_id, control). "
    "Without it, the list is made here from the at-risk options below.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="The list's as-of date [default: the list's as_of column, else the latest scores table].",
)
@click.option(
    "--horizon-days",
    type=click.IntRange(min=1),
    help="Days after the as-of date in which outcomes count [settings labels.churn_horizon_days].",
)
@click.option(
    "--dataset", help="Dataset to score when no scores table has the date [settings dataset]."
)
@click.option(
    "--rank-by",
    default="value_at_risk",
    show_default=True,
    help="Without --from-list: what ranks the at-risk list.",
)
@list_options(seed_from_name=True)
@changes_workspace
@pass_context
def start(
    obj: Context,
    name: str,
    list_path: Path | None,
    as_of: str | None,
    horizon_days: int | None,
    dataset: str | None,
    rank_by: str,
    request: ListRequest,
) -> None:
    """Record who is targeted and who is held out, with their scores at the as-of date."""
    from features import contract as c
    from serving.campaign_stats import MIN_GROUP
    from serving.campaigns import (
        CampaignError,
        campaign_seed,
        check_name,
        scores_at,
        start_campaign,
    )
    from serving.list_files import campaign_dates, list_own_scores, list_seed, read_list
    from serving.lists import (
        Filters,
        at_risk_filters,
        at_risk_page,
        list_rows,
        listed_attributes,
        unscored_note,
    )

    check_name(obj.settings, name)  # before any work: a used name fails at once
    left_out = None  # users the filters keep that the ranking leaves out (no such score)
    measured_from = None  # the sending day, when later than the list's scores
    drawn = False  # the control seed drawn from the campaign's name (no --seed)
    differs = None  # how a list's own scores differ from those recorded
    scored_at = None  # the date a --from-list list was scored at (its as_of column)
    horizon = horizon_days or obj.settings.labels.churn_horizon_days
    if list_path is not None:
        # every option that makes a list: given with one, it was ignored (--control-share 0.5
        # recorded the list's own 1 held out of 20)
        context = click.get_current_context()
        making = [
            p.opts[0]
            for p in context.command.params
            if p.name not in {"name", "list_path", "as_of", "horizon_days", "dataset"}
            and context.get_parameter_source(p.name) is not ParameterSource.DEFAULT
        ]
        if making:
            raise CampaignError(
                "--from-list takes the list as it is (its users and their control flags): "
                f"drop the options that make a list ({', '.join(making)}), or --from-list"
            )
        members = read_list(list_path)
        as_of, scored_at = campaign_dates(members.get("as_of"), as_of, list_path)
        # A list sent after the day it was scored keeps the scores that chose it: scoring at
        # the sending day was refused until that day's events were in (and then recorded
        # scores the list was not chosen by); the report reads from the sending day.
        table = _list_scores(obj, scored_at, dataset) if scored_at != as_of else None
        measured_from = as_of if table is not None else None
        table = table or scores_at(obj.settings, as_of, dataset, "campaign start")
        if table.as_of == (scored_at or as_of):  # of the list's date, scored again since
            table, differs = list_own_scores(obj.settings, table, members)
        source = str(list_path.resolve())
        request = replace(request, seed=list_seed(members))  # None: a list without one
    else:
        if drawn := request.seed is None:  # seed 0 for all: the same users held out of each
            request = replace(request, seed=campaign_seed(name), drawn_from={"campaign": name})
        table = scores_at(obj.settings, as_of, dataset, "campaign start")
        # the list `lifecycle at-risk` gives: the low risk band left out unless --min-churn
        floored = at_risk_filters(
            request.filters, table.frame, obj.settings.serving.medium_risk, rank_by
        )
        page = at_risk_page(
            table.frame,
            floored,
            rank_by=rank_by,
            limit=request.top,
            control_share=request.control_share,
            seed=request.seed,
        )
        ranked = page.ranked
        if ranked.empty:  # it was "no control users (every row has control false)"
            raise CampaignError(
                f"no user scored as of {table.as_of} matches all of: {floored.text()}: "
                "nobody to target or hold out; loosen the filters"
            )
        if request.control_share > 0 and not ranked["control"].any():
            raise CampaignError(  # the hint was "export the list with --control-share > 0"
                f"the draw at control share {request.control_share} (seed {request.seed}"
                + (", drawn from the campaign's name" if drawn else "")
                + f") held out none of the {len(ranked):,} users: each user is drawn on their "
                "own, so a short list can draw none; give a larger --control-share or another "
                "--seed"
            )
        members = ranked[[c.USER_ID, "control"]].reset_index(drop=True)
        members[c.USER_ID] = members[c.USER_ID].astype(str)
        whom = floored.text()  # the churn floor too: whom it targeted, as said at start
        left_out = unscored_note(  # of the rows the filters kept; as at-risk and /at_risk say
            page.matching, Filters(), rank_by, labels=table.metadata.get("labels")
        )
        source = (
            f"at-risk top {request.top} by {rank_by}"
            + (f" of {whom}" if whom else "")
            + f", control share {request.control_share}, seed {request.seed}"
            + (f"; {left_out}" if left_out else "")
        )
    recorded = start_campaign(
        obj.settings,
        name,
        members,
        table,
        horizon_days=horizon,
        source=source,
        control_seed=request.seed,
        measured_from=measured_from,
    )
    info = recorded.summary()
    lines = [
        f"campaign {name} started: {info['targeted']:,} targeted, {info['control']:,} held out"
        + (f" (control seed {request.seed}, drawn from its name)" if drawn else "")
        + (
            f" (control seed {request.seed}, the list's)"
            if list_path and request.seed is not None
            else ""
        )
        + f", as of {info['as_of']}; report after {info['horizon_end']} -> {recorded.path}"
    ]
    newest = _newest_scores(obj, dataset)
    notes = [left_out] if left_out else []
    if scored_at is not None and scored_at != str(info["as_of"]):
        info["list_as_of"] = scored_at
        kept = (  # the list's scores table, else (no longer kept) scored at --as-of as before
            f"as the list's (as of {scored_at})"
            if info["scored_at"] == scored_at
            else f"as of then (no scores table of {scored_at} is kept)"
        )
        notes.append(
            f"the list was scored as of {scored_at}; this campaign is measured from "
            f"{info['as_of']} (--as-of): its members' scores are recorded {kept} and its "
            f"report reads ({info['as_of']}, {info['horizon_end']}]"
        )
        late = _past_the_scores_window(
            table.metadata, scored_at, str(info["as_of"]), horizon, recorded.path
        )
        notes += [late] if late else []
    notes += [differs] if differs else []  # after the dates it is of
    if newest is not None and newest > str(info["as_of"]):
        notes.append(
            f"this campaign's date {info['as_of']} is before the latest scores ({newest}): it "
            f"took its users and their scores as of {info['scored_at']}, and its report will "
            f"measure what followed that date in the data, a campaign's effect only if the "
            "campaign really ran then"
        )
    small = min(info["control"], info["targeted"])
    if small < MIN_GROUP:
        group = "held out" if info["control"] == small else "targeted"
        how = "more users listed (--top) or a larger --control-share"
        if list_path is None:  # the draw is known: name the options that would be judged
            everyone = at_risk_page(table.frame, floored, rank_by=rank_by, limit=None).ranked
            how = _judgeable_words(everyone[c.USER_ID].astype(str), len(members), request)
        notes.append(
            f"only {small:,} {group}: with fewer than {MIN_GROUP} in a group its report can show "
            "differences but judge none (their intervals do not hold); if it is not sent yet, "
            f"start it under another name with {how}"
        )
    if notes:
        info["notes"] = notes
    lines += [f"note: {note}" for note in notes]
    if list_path is None and request.out is not None:
        rows = list_rows(ranked, request.privacy(obj), **listed_attributes(table.metadata))
        emit_list(obj, rows, f"campaign {name} list", request, {"campaign": info}, table.metadata)
        for line in lines:
            obj.console.step(line)
        return
    obj.console.result({**info, "path": str(recorded.path)}, lines)


def _judgeable_words(ranked_ids: Any, listed: int, request: ListRequest) -> str:
    """The options nearest this campaign's whose draw its report would judge."""
    from serving.campaign_stats import MIN_GROUP, judgeable_draws

    share, top = judgeable_draws(ranked_ids, listed, request.seed, request.control_share)
    ways = [f"--control-share {share:g}"] if share is not None else []
    ways += [f"--top {top}"] if top is not None else []
    if not ways:
        return (
            f"a list that holds {2 * MIN_GROUP} users or more: {len(ranked_ids):,} match its "
            "filters"
        )
    return (
        " or ".join(f"`--seed {request.seed} {way}`" for way in ways)
        + f" (the nearest that hold out {MIN_GROUP} or more and target as many with that seed)"
    )


@campaign.command("report")
@click.argument("name")
@changes_workspace
@pass_context
def report(obj: Context, name: str) -> None:
    """Retention, conversion and revenue of targeted vs control once the horizon has passed."""
    from serving.campaign_reports import save_report
    from serving.campaigns import report_campaign

    measured = report_campaign(obj.settings, name)
    save_report(obj.settings, measured)  # for the service: /models and its gauges
    obj.console.result(measured.to_dict(), measured.lines())


@campaign.command("list")
@pass_context
def list_(obj: Context) -> None:
    """Every recorded campaign: as-of date, horizon, targeted and control users."""
    from serving.campaigns import list_campaigns

    unreadable: list[str] = []
    found = [c.summary() for c in list_campaigns(obj.settings, unreadable)]
    lines: list[Any] = [
        f"{s['name']} (dataset {s['dataset']}): as of {s['as_of']}"
        + (f" (members' scores as of {s['scored_at']})" if s["scored_at"] != s["as_of"] else "")
        + f", {s['horizon_days']:,}-day horizon "
        f"({f'to {end}' if (end := s['horizon_end']) else 'ends past 2262: cannot be reported'}), "
        f"{s['targeted']:,} targeted, {s['control']:,} control; from {s['source']}"
        for s in found
    ] + unreadable or [f"no campaigns in {obj.settings.workspace.campaigns_dir}"]
    obj.console.result({"campaigns": found, "unreadable": unreadable}, lines)


def _past_the_scores_window(
    metadata: dict[str, Any], scored_at: str, sent: str, horizon: int, recorded: Path
) -> str | None:
    """A note when a list is sent after its scores' churn window has passed (341 days after
    it was scored got only the two dates): what they forecast is over; None within it. A
    sending day needs no scores table of its own, so a mistyped one is recorded: the note
    says how to undo it (the record left would count its members in other campaigns)."""
    import pandas as pd

    from serving.units import label_windows

    window = label_windows(metadata.get("labels") or {}).get("churn") or horizon
    days = (pd.Timestamp(sent) - pd.Timestamp(scored_at)).days
    if days <= window:
        return None
    return (
        f"the list was sent {days:,} days after it was scored, past its scores' {window}-day "
        f"churn window: they forecast {scored_at} to "
        f"{pd.Timestamp(scored_at) + pd.Timedelta(days=window):%Y-%m-%d} and no longer say who "
        "is at risk, what the list was chosen for; if it is not sent yet, export a list of the "
        "latest scores (`lifecycle at-risk --out FILE`) and start that; if --as-of "
        f"{sent} is mistyped, delete {recorded} and start it again with the day it was sent"
    )


def _list_scores(obj: Context, scored_at: str | None, dataset: str | None) -> Any:
    """The scores table of a list's own date, if one is kept; else None."""
    if scored_at is None:
        return None
    from features.dates import cutoff_date
    from serving.batch import find_scores

    return find_scores(obj.settings, cutoff_date(scored_at), dataset, "campaign start")


def _newest_scores(obj: Context, dataset: str | None) -> str | None:
    """The as-of date of the dataset's latest scores table, if there is one to read."""
    from lifecycle.errors import UserError
    from serving.batch import latest_scores

    try:
        return (
            str(latest_scores(obj.settings, dataset, "campaign start").metadata.get("as_of") or "")
            or None
        )
    except (UserError, OSError):
        return None
