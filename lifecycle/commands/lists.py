"""Commands operators use: batch scores, at-risk and movers lists, segments, report (erasure:
:mod:`lifecycle.commands.erasure`)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.commands.list_output import (
    PSEUDONYMIZE_HELP,
    ListRequest,
    by_former_champions,
    emit_list,
    list_options,
    list_privacy,
)
from lifecycle.words import counted


@main.command("score-all")
@click.option(
    "--as-of", "as_of", metavar="DATE", help="A cutoff of the feature table [default: its latest]."
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--reasons-top",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Churn reasons for the top N users of each ranking (return_probability too), with "
    "the at-risk list's default floor (the medium risk band) and without, of every lifecycle "
    "stage and of each one (0: for every churn-eligible user, which the scoring API then "
    "serves without recomputing them); a list reaching below them computes its users'.",
)
@click.option(
    "--allow-partial", is_flag=True, help="Write the table even when a task has no usable champion."
)
@click.option(
    "--replace-ledger",
    is_flag=True,
    help="Replace the ledger's entry of this as-of even when other model versions made it "
    "(kept by default: the record of what was scored then, which `outcomes` grades).",
)
@changes_workspace
@pass_context
def score_all(
    obj: Context,
    as_of: str | None,
    dataset: str | None,
    reasons_top: int,
    allow_partial: bool,
    replace_ledger: bool,
) -> None:
    """Score every known user with the champion models into one Parquet scores table."""
    from lifecycle.steps import foresee_refusals
    from serving.batch import score_all as run_scoring

    foresee_refusals(obj.settings, dataset)  # a model no training can make: say so, not 'train'

    result = run_scoring(
        obj.settings,
        as_of,
        dataset=dataset,
        reasons_top=reasons_top or None,
        allow_partial=allow_partial,
        progress=obj.console.step,
        replace_ledger=replace_ledger,
    )
    from lifecycle.lineage import champions_of_replaced_data
    from serving.scoring import answered_by

    chosen = dataset or obj.settings.dataset
    answered = answered_by(result.versions, result.kinds)  # conversion as 1 - churn: not warned
    warnings = champions_of_replaced_data(obj.settings, chosen, result.versions, answered=answered)
    obj.console.result(
        result.to_dict() | {"warnings": list(warnings.values())},
        result.lines() + [f"  warning: {why}" for why in warnings.values()],
    )


@main.command("at-risk")
@list_options
@click.option(
    "--rank-by",
    help="value_at_risk, a task's score (churn_probability, ltv, conversion_probability, ...), "
    "return_probability (1 - churn probability: the win-back list's, with --stage churned) or "
    "expected_saved_value (uplift x LTV; needs an uplift champion: `lifecycle train-uplift`) "
    "[default: value_at_risk, or churn_probability when no LTV model scored the table].",
)
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scores table [default: scores_dir/latest.parquet].",
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@changes_workspace(when=lambda kwargs: kwargs["request"].out is not None)
@pass_context
def at_risk_list(
    obj: Context,
    request: ListRequest,
    rank_by: str | None,
    scores_path: Path | None,
    dataset: str | None,
) -> None:
    """Today's at-risk users (churn probability in the medium risk band or above unless
    --min-churn says) ranked by value at risk (churn probability x LTV), with reasons and a
    control-group flag."""
    from serving.batch import latest_scores, of_dataset, read_list_scores
    from serving.list_rankings import ranking_clause, ranking_fields, reasons_note
    from serving.lists import (
        Filters,
        at_risk_filters,
        at_risk_page,
        below_floor_note,
        default_rank_by,
        list_rows,
        listed_attributes,
        ranking_words,
        unscored_note,
        usable_rankings,
    )
    from serving.scores_text import listed_text
    from serving.snapshot_list import (
        SCORE,
        WITHHELD_NOTE,
        is_snapshot,
        snapshot_ranking_words,
        snapshot_scores,
        snapshot_units,
    )

    privacy = request.privacy(obj)
    snapshot = scores_path is None and is_snapshot(obj.settings, dataset or obj.settings.dataset)
    if snapshot:  # the churn champion's list of customers still with you (train-snapshot)
        table = snapshot_scores(
            obj.settings, dataset or obj.settings.dataset, privacy.allowed_columns
        )
        rank_by = rank_by or SCORE
    elif scores_path is None:
        table = latest_scores(obj.settings, dataset, "at-risk", text_later=True)
    else:  # a file named: any dataset's, unless --dataset says which
        table = read_list_scores(scores_path)
        table = of_dataset(table, dataset) if dataset else table
    frame = table.frame
    notes: tuple[str, ...] = ()
    if rank_by is None:
        rank_by, fallback = default_rank_by(frame)
        notes = (fallback,) if fallback else ()
    if rank_by == "expected_saved_value" and rank_by not in frame:
        frame = _with_saved_value(obj, table)
        notes += _outside_notes(frame, request)
    if not snapshot:  # at-risk users: the low risk band left out unless --min-churn says
        asked = request.filters
        floored = at_risk_filters(asked, frame, obj.settings.serving.medium_risk, rank_by)
        request = dataclasses.replace(request, filters=floored)
        notes += tuple(filter(None, [below_floor_note(frame, floored, asked)]))
    name = _dataset_of(obj, table, dataset)  # the seed: of what the list is, not where it goes
    request = request.drawn_seed("at-risk", name, table.as_of, rank_by=rank_by)
    page = at_risk_page(
        frame,
        request.filters,
        rank_by=rank_by,
        limit=request.top,
        control_share=request.control_share,
        seed=request.seed,
        rows_text=None if snapshot else partial(listed_text, table),  # the listed rows' only
    )
    ranked = page.ranked
    if not snapshot:  # users below --reasons-top: their reasons computed now, or why not
        from serving.list_reasons import explain_listed

        ranked, unexplained = explain_listed(obj.settings, table, ranked)
        notes += unexplained
    unscored = unscored_note(  # of the rows the filters kept: no filter again
        page.matching, Filters(), rank_by, labels=table.metadata.get("labels")
    )
    notes += (unscored,) if unscored else ()
    if not snapshot and (said := reasons_note(rank_by, ranked.get("reasons", ()))):
        notes += (said,)
    if not snapshot and (said := table.metadata.get("words_retrain")):  # trained before
        notes += (said,)
    if snapshot and set(table.metadata["personal_columns"]) - set(request.allow_columns):
        notes += (WITHHELD_NOTE,)
    from lifecycle.lineage import definitions_text

    # the score ranked by is always in the rows, listed or not (conversion_probability)
    rows = list_rows(ranked, privacy, extra=(rank_by,), **listed_attributes(table.metadata))
    labels = table.metadata.get("labels", {})
    usable = usable_rankings(frame.columns)  # what else this table ranks by, said with the ranking
    from serving.list_text import listed_words, unmatched_note

    why = None if len(rows) else unmatched_note(request.filters)
    title = (
        f"{_dataset_of(obj, table, dataset)}: {listed_words(len(rows), 'user', why)} by "
        + (
            f"{snapshot_ranking_words(rank_by)} as of its import, {table.as_of}"
            if snapshot  # the day the snapshot was imported: the file has no dates
            else f"{ranking_words(rank_by)} as of {table.as_of}"
        )
        + f" ({table.path})"
        + (f"; {clause}" if (clause := ranking_clause(rank_by, usable)) and not snapshot else "")
        + (f"; scores follow {definitions_text(labels)}" if labels else "")
    )
    emit_list(
        obj,
        rows,
        title,
        request,
        {
            "dataset": _dataset_of(obj, table, dataset),
            "as_of": table.as_of,
            "scores": str(table.path),
            "rank_by": rank_by,
            # a snapshot's list has one ranking, its title's words
            **ranking_fields("" if snapshot else rank_by, [] if snapshot else usable),
            "definitions": labels,
        },
        table.metadata,
        notes,
        snapshot_units() if snapshot else None,
    )


def _dataset_of(obj: Context, table: Any, asked: str | None) -> str:
    """The dataset a scores table holds (its metadata; an older table: the one asked for)."""
    return str(table.metadata.get("dataset") or asked or obj.settings.dataset)


def _outside_notes(frame: Any, request: ListRequest) -> tuple[str, ...]:
    """The list's users the uplift model does not answer for, in a note (none: no note)."""
    from serving.uplift import outside_note

    note = outside_note(frame, request.filters)
    return (note,) if note else ()


def _with_saved_value(obj: Context, table: Any) -> Any:
    """The scores with the dataset's uplift champion's uplift and expected saved value."""
    from serving.uplift import load_uplift_champion, with_expected_saved_value

    dataset = table.metadata.get("dataset") or obj.settings.dataset
    champion = load_uplift_champion(obj.settings, dataset)
    obj.console.step(
        f"uplift from {champion.model} v{champion.version}, for {champion.bundle.population_text()}"
    )
    return with_expected_saved_value(
        table.frame, champion, obj.settings.workspace.feature_table(dataset), table.as_of
    )


@main.command()
@list_options
@click.option(
    "--by",
    type=click.Choice(["value_at_risk", "churn_probability"]),
    default="value_at_risk",
    show_default=True,
    help="The score whose rise ranks the list.",
)
@click.option(
    "--since",
    metavar="DATE",
    help="Compare with the dataset's scores table of this as-of date (its newest of that date) "
    "[default: the dataset's table scored before the latest].",
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@changes_workspace(when=lambda kwargs: kwargs["request"].out is not None)
@pass_context
def movers(
    obj: Context, request: ListRequest, by: str, since: str | None, dataset: str | None
) -> None:
    """Users whose churn risk or value at risk rose the most since the dataset's previous
    scores table (other datasets scored between the two do not count)."""
    import pandas as pd

    from lifecycle import lineage
    from serving.batch import ScoringError, latest_scores, require_same_definitions
    from serving.list_reasons import explain_listed
    from serving.lists import list_rows, listed_attributes
    from serving.movers import MOVER_FIELDS, model_changes, mover_notes, nobody_rose
    from serving.movers import movers as find_movers
    from serving.scores_history import earlier_date, previous_scores

    privacy = request.privacy(obj)
    latest = latest_scores(obj.settings, dataset, "movers")
    name = _dataset_of(obj, latest, dataset)
    previous = previous_scores(latest, name, since)
    require_same_definitions(latest, previous, "movers")
    replaced = lineage.replaced(
        obj.settings, previous.metadata.get("lineage") or {}, latest.metadata.get("lineage") or {}
    )
    if replaced:  # the same ids, other customers: a "riser" would be two people
        raise ScoringError(
            f"movers refused: the previous scores table ({previous.as_of}, {previous.path.name}) "
            f"and the latest ({latest.as_of}, {latest.path.name}) are of different data: "
            f"{replaced}; run `lifecycle score-all` again, then `lifecycle movers` compares two "
            "tables of the current data"
        )
    if pd.Timestamp(previous.as_of or 0) > pd.Timestamp(latest.as_of or 0):
        # `score-all --as-of` an earlier date: a rise between the two would run back in time
        raise ScoringError(
            f"movers refused: the latest scores table is of {latest.as_of} ({latest.path.name}), "
            f"earlier than the previous one of {previous.as_of}; run `lifecycle score-all` for "
            "the latest date, then `lifecycle movers` compares the two in time order"
        )
    changes = model_changes(previous, latest)
    request = request.drawn_seed("movers", name, latest.as_of, by=by, since=previous.as_of)
    ranked = find_movers(
        latest.frame,
        previous.frame,
        by=by,
        limit=request.top,
        filters=request.filters,
        control_share=request.control_share,
        seed=request.seed,
    )
    ranked, unexplained = explain_listed(obj.settings, latest, ranked)
    rows = list_rows(ranked, privacy, extra=MOVER_FIELDS, **listed_attributes(latest.metadata))
    nobody = len(rows) == 0 and ranked.attrs.get("matched", 0) > 0
    from serving.list_text import listed_words, unmatched_note

    why = nobody_rose(by, previous, latest) if nobody else unmatched_note(request.filters)
    title = f"{name}: {listed_words(len(rows), 'riser', why)} in {by.replace('_', ' ')}: {previous.as_of} ({previous.path.name}) -> {latest.as_of} ({latest.path.name})"
    emit_list(
        obj,
        rows,
        title,
        request,
        {
            "dataset": name,
            "latest": str(latest.path),
            "previous": str(previous.path),
            "by": by,
            "model_changes": changes,
        },
        latest.metadata,
        mover_notes(
            changes,
            previous,
            latest,
            by,
            nobody=nobody,
            value_only=ranked.attrs.get("value_only", 0),
            not_before=ranked.attrs.get("not_before", 0),
            earlier=None if since else earlier_date(latest, name),
        )
        + unexplained,
        matched=ranked.attrs.get("matched"),
    )


@main.command()
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Date of the segments [default: the latest scores table's].",
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def segments(obj: Context, as_of: str | None, dataset: str | None) -> None:
    """Sizes and value shares of lifecycle stages, RFM segments and super users (in all and
    by acquisition channel) as of a date."""

    from features import contract as c
    from features.guest_orders import (
        dataset_guest_orders,
        dataset_without_user_words,
        guest_rows_uncounted,
        guest_share,
        uncounted_words,
    )
    from lifecycle.workspace import EVENTS_FILE
    from serving.batch import find_scores, latest_scores, score_all
    from serving.revenue import before_refunds_words, revenue_totals, revenue_words
    from serving.rfm_quintiles import quintiles_words, rfm_quintiles
    from serving.segment_text import (
        channel_line,
        segment_summary,
        summary_line,
        super_users_by_channel,
        super_users_words,
    )
    from serving.segments import (
        SuperUserDefinition,
        listed_super_users,
        rfm_title,
    )
    from serving.units import units_for

    dataset = dataset or obj.settings.dataset
    if as_of is None:
        table = latest_scores(obj.settings, dataset, "segments")
        frame, date, made_with = table.frame, table.as_of, table.metadata
    else:
        from features.dates import cutoff_date

        stamp = cutoff_date(as_of)  # 'notadate', '', 99999-01-01: were tracebacks
        found = find_scores(obj.settings, stamp, dataset, "segments")
        if found is not None:
            frame, date, made_with = found.frame, found.as_of, found.metadata
        else:
            obj.console.step(f"no scores table as of {as_of}: scoring in memory (nothing written)")
            result = score_all(
                obj.settings,
                as_of,
                dataset=dataset,
                write=False,
                reasons_top=0,
                progress=obj.console.step,
            )
            frame, date, made_with = result.scores, f"{result.as_of:%Y-%m-%d}", {}
    # the LTV and value shares of a table a former champion made: said until a score-all
    # a past date's table (--as-of) is scored again at that date, not the latest (review R2)
    again = date if as_of is not None else None
    notes = [note] if (note := by_former_champions(obj, made_with, again)) else []
    # the money's currency and the LTV's window, from the labels the table was scored with
    # (online_retail's "ltv 13.1%" and "5,276,942.81" said neither GBP nor 365 days)
    units = units_for(obj.settings, {**made_with, "dataset": dataset}, ("ltv",) * ("ltv" in frame))
    data: dict[str, Any] = {"dataset": dataset, "as_of": date, "users": len(frame), "notes": notes}
    data["units"] = units.to_dict()
    # a log counting purchases: "amounts are purchases counted", no word of money in segments
    said = "; ".join([units.amounts.removesuffix(", no money"), *units.windows.values()])
    # a stale table's warning first, under the title (test_batch's promotion test)
    lines = [f"{dataset}: segments as of {date}: {counted(len(frame))}", *notes, said]
    revenue = units.value_name("revenue")
    events = obj.settings.workspace.dataset_dir(dataset) / EVENTS_FILE
    guests = dataset_guest_orders(events.parent)
    if totals := revenue_totals(frame, events, date, guests):  # shares: before refunds
        data["revenue_to_date"] = totals
        lines.append(revenue_words(totals, revenue) + before_refunds_words(totals, revenue))
    if guests:
        kept = totals["kept"] if totals else None  # rows without a user id: never unsaid
        data["rows_without_user_id"] = guests | {"share_of_kept": guest_share(guests, kept, date)}
        lines.append(f"not in these: {dataset_without_user_words(guests, kept, date)}")
    if uncounted := guest_rows_uncounted(events.parent):  # an ingest from before they were
        data["rows_without_user_id_uncounted"] = uncounted
        lines.append(f"not in these: {uncounted_words(uncounted, dataset)}")
    rfm_version = made_with.get("definitions", {}).get("segment")
    rfm = rfm_title(rfm_version)  # R and F alone: said
    for column, title in (("lifecycle_stage", "lifecycle stages"), ("segment", rfm)):
        summary = segment_summary(frame, column, ("revenue", "ltv"))
        data[column] = summary.to_dict(orient="records")
        lines.append(f"{title}:")
        lines += [summary_line(r, column, revenue) for r in summary.to_dict(orient="records")]
    # what R 4 or M 5 is on this table: quintiles of its buyers, which move as they age
    data["rfm_quintiles"] = quintiles = rfm_quintiles(frame, rfm_version)
    if quintiles is not None:
        lines.append(quintiles_words(quintiles, revenue))
    data["super_users"] = {}
    flagged_by = made_with.get("definitions", {}).get("super_user")  # a table of older flags
    for value in ("revenue", "ltv"):
        if value not in frame:
            continue
        # by LTV too, the top share of the customers by revenue (everyone has an LTV)
        customers = None if value == "revenue" else "revenue"
        found_supers = listed_super_users(
            frame, SuperUserDefinition(value_column=value, customers_column=customers), flagged_by
        )
        data["super_users"][value] = {
            "users": found_supers.users,
            "value_share": found_supers.value_share,
            "users_with_any": found_supers.with_any,  # whom the top share is of
        }
        if found_supers.users != found_supers.top:  # "659 of 3,302" read as the top 20%
            data["super_users"][value] |= {
                "flagged_when_scored": True,  # users erased since; score-all flags the top again
                "top_share_users": found_supers.top,
            }
        kept = " kept after refunds" if value == "revenue" else ""  # the shares above: before
        lines.append(
            f"super users (by {units.value_name(value)}{kept}): {super_users_words(found_supers)}"
        )
        by_channel = super_users_by_channel(frame, found_supers) if value == "revenue" else None
        if by_channel is None and value == "revenue":  # was silently absent (online_retail)
            data["super_users_by_channel"] = None
            lines.append(
                f"super users by channel: none to split: no user of {dataset} has an acquisition "
                f"channel (its users table's `{c.CHANNEL}`)"
            )
        elif by_channel is not None:  # the same flags, split by acquisition channel
            data["super_users_by_channel"] = by_channel.to_dict(orient="records")
            lines.append(f"super users by channel (by {revenue}{kept}):")
            lines += [channel_line(r, f"{revenue} kept") for r in data["super_users_by_channel"]]
    obj.console.result(data, lines)


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file [default: reports_dir/report-<dataset>-<as_of>.html].",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="At-risk rows shown."
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help=PSEUDONYMIZE_HELP,
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@changes_workspace
@pass_context
def report(
    obj: Context, out: Path | None, top: int, pseudonymize: bool, dataset: str | None
) -> None:
    """One self-contained HTML report of the latest scores and the champions' quality."""
    from serving.batch import latest_scores
    from serving.report import build_report, check_report_out

    if out is not None:
        check_report_out(out)
    obj.console.step("building the report from the latest scores table")
    # the dataset's table or a refusal naming both datasets, before anything is registered
    table = latest_scores(obj.settings, dataset, "report")
    privacy = list_privacy(obj, pseudonymize, ())
    created = None  # the folder made for --out, said with it
    if out is not None:  # may leave the workspace: erasure must find it again
        from lifecycle.exports import record_export
        from lifecycle.storage import refuse_unwritable

        created = refuse_unwritable(out, "the report")
        record_export(obj.settings, out, top, pseudonymized=pseudonymize, scores=table.path)
    notes = [note] if (note := by_former_champions(obj, table.metadata)) else []
    built = build_report(obj.settings, out, top=top, privacy=privacy, table=table, notes=notes)
    from lifecycle.storage import created_path, created_words, written_at

    obj.console.result(
        {
            "path": str(built.path.absolute()),  # a relative --out is of the project's folder
            "images": built.images,
            "sections": built.sections,
            "notes": notes,
            "created_folder": created_path(created),
        },
        [
            f"report: {written_at(built.path)} ({built.images} plots){created_words(created)}",
            *notes,
        ],
    )
