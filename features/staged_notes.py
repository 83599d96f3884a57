"""What an ingest's staged events show, noted in its report before it is written: types the
contract does not know, amounts that may be cents or counts, refunds and currencies in
columns it does not read, ids spelt apart from the dataset's, and how the users table and
the events meet. Each asks DuckDB, in a cursor of the ingest's one connection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import batches
from features import contract as c
from features.amount_units import (
    maybe_counts,
    maybe_minor_units,
    refuse_options_without_amounts,
    whole_amounts,
)
from features.basket_rows import rows_of_orders
from features.currency import amounts_without_currency, unread_currency
from features.currency_words import AMOUNT_CURRENCY, NO_CURRENCY
from features.event_types import (
    NO_PURCHASES,
    NOT_ACTIVITY_NOTE,
    OTHER_TYPES,
    other_types,
    refuse_types_not_found,
)
from features.file_shape import SHAPE
from features.id_spellings import SPELT_APART, ids_spelt_apart
from features.quarantine import batch_quarantine
from features.refund_columns import unread_refunds
from features.unit_words import MAYBE_COUNTS, MAYBE_MINOR, counted_by
from features.user_notes import WITHOUT_EVENTS
from features.user_overlap import LATER_KEYS, ids_apart, refuse_users_of_no_events
from features.validation import ContractError, LoadReport
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

if TYPE_CHECKING:
    import duckdb


def note_staged(
    staging: Path,
    reports: dict[str, LoadReport],
    source: str,
    appending_to: Path | None,
    read_as: dict[str, Any] | None,
    held: dict[str, Any] | None,
    con: duckdb.DuckDBPyConnection | None,
) -> None:
    """Note in ``reports`` what the events staged in ``staging`` show, or refuse them
    (``source``: the file they were read from; ``appending_to``: the dataset an append adds
    to, whose report.json is ``held``; ``read_as``: how the file was read)."""
    try:
        # an append's own rows of each type, not the dataset's (its purchases: the dataset's)
        before = appending_to / EVENTS_FILE if appending_to is not None else None
        others, purchases = other_types(staging / EVENTS_FILE, before, con)
    except ContractError as refused:
        raise ContractError(f"{source}: {refused}") from None
    if others:
        reports["events"].notes[OTHER_TYPES] = others
        reports["events"].notes[NO_PURCHASES] = not purchases
        if quiet := [t for t in (read_as or {}).get(NOT_ACTIVITY_NOTE) or () if t in others]:
            reports["events"].notes[NOT_ACTIVITY_NOTE] = quiet
    shape = (read_as or {}).get(SHAPE) or {}
    if appending_to is None:  # an append reads its file with the dataset's map, typed or not
        refuse_types_not_found(
            reports["events"].notes,
            source,
            batch_quarantine(staging, "events"),
            (shape.get("columns") or {}).get(c.EVENT_TYPE, c.EVENT_TYPE),
            con,
        )
    refuse_options_without_amounts(reports["events"].notes, source)  # given on this command
    if reports["events"].notes.get("amount_in_file") is False:  # --amount-default: rows counted
        reports["events"].notes.update(rows_of_orders(staging / EVENTS_FILE, con))
    # none given: maybe cents, or counts of a file's own column (not --amount-default's)
    unit, in_file = shape.get("amount_unit"), reports["events"].notes.get("amount_in_file", True)
    # said once a dataset: an earlier batch that said it records so
    said = appending_to is not None and any(
        MAYBE_MINOR in b or MAYBE_COUNTS in b for b in batches.batches(held)
    )
    if unit is None and in_file and not said:
        amounts = whole_amounts(staging / EVENTS_FILE, con)
        column = (shape.get("columns") or {}).get(c.AMOUNT, c.AMOUNT)
        if maybe := maybe_minor_units(amounts):
            reports["events"].notes[MAYBE_MINOR] = maybe
        elif maybe := maybe_counts(amounts, column):
            reports["events"].notes[MAYBE_COUNTS] = maybe
    reports["events"].notes.update(unread_refunds(staging / EVENTS_FILE, con))
    if counted_by(reports["events"].notes) is None:  # counts are no money: no currency to name
        appended = appending_to is not None
        mapped = c.CURRENCY in (shape.get("columns") or {})
        found = unread_currency(staging / EVENTS_FILE, appended, mapped, con)
        reports["events"].notes.update(found)
        # said once a dataset (an append of one said it adds nothing); '$': a line of its own
        said = appending_to is not None and any(NO_CURRENCY in b for b in batches.batches(held))
        if not found and not said and AMOUNT_CURRENCY not in reports["events"].notes:
            column = (shape.get("columns") or {}).get(c.AMOUNT, c.AMOUNT)
            bare = amounts_without_currency(staging / EVENTS_FILE, column, appended, con)
            reports["events"].notes.update(bare)
    if appending_to is not None:  # the file's ids beside the dataset's: 013047 beside 13047
        notes = reports["events"].notes
        notes.pop(SPELT_APART, None)
        notes.update(ids_spelt_apart(staging / EVENTS_FILE, con))
    if (staging / USERS_FILE).is_file():
        apart = ids_apart(staging / EVENTS_FILE, staging / USERS_FILE, con=con)
        if "users" in reports:  # a users file given now: its ids and the events' meet
            refuse_users_of_no_events(apart, reports["users"].source, source)
            if apart["without_events"]:
                reports["users"].notes[WITHOUT_EVENTS] = {
                    "users": apart["without_events"],
                    "example": apart["example_without_events"],
                    **{k: apart[k] for k in LATER_KEYS if k in apart},
                }
        reports["events"].notes["users_without_profile"] = apart["without_profile"]
