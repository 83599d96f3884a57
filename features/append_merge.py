"""An appended events file merged with the dataset it is added to: the new events beside the
held ones (``features.appending.merge_events``), what the merge held back counted in the
file's report, then the users table (the file's users file wins, or an adapter's users are
derived again from all events)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from features import adapters, appending
from features.append_identity import (
    ALREADY_INGESTED,
    DUPLICATES_NEW,
    HOURS_APART,
    MOSTLY_REPEATS,
    REPEATS_OF_HELD,
    hours_text,
)
from features.bad_rows import DOUBLED, RESENT_ORDERS, bad_rows_hint, bad_rows_options
from features.batches import LATE_SPAN
from features.currency_words import AMOUNT_CURRENCY
from features.unit_words import counted_by
from features.validation import ContractError, LoadReport
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

if TYPE_CHECKING:
    import duckdb


def merge_append(
    staging: Path,
    appending_to: Path,
    batch: int,
    reports: dict[str, LoadReport],
    source: str,
    new_users: Path | None,
    adapter: adapters.Adapter | None = None,
    timezone: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, int]:
    """Merge the validated new events (``staging/.work``) with the dataset's into
    ``staging``, then the users table: ``new_users`` rows win, or, for a table an adapter
    derives from the events, it is derived again from all of them. ``timezone``: the zone
    the file's times without an offset were read in; ``con``: the ingest's connection. The
    new version's totals."""
    work = staging / ".work"
    notes = reports["events"].notes
    merged = appending.merge_events(
        appending_to / EVENTS_FILE,
        work / EVENTS_FILE,
        staging / EVENTS_FILE,
        staging / "quarantine" / f"events-{ALREADY_INGESTED}-{batch}.csv",
        source=source,
        # its currency from its amounts' signs, without a column of its own: that column's
        signed_in=signed["column"]
        if (signed := notes.get(AMOUNT_CURRENCY, {})).get("recorded")
        else None,
        counted=counted_by(notes) is not None,  # as the file's own read (features.loading)
        con=con,
    )
    if shifted_first := merged["duplicates_of_shifted"]:  # beside those held before the merge
        notes[REPEATS_OF_HELD] = notes.get(REPEATS_OF_HELD, {}) | {HOURS_APART: shifted_first}
    if refused := notes.pop(MOSTLY_REPEATS, None):  # now said with its hint
        hint = bad_rows_hint(
            reports["events"].reasons,
            merged["duplicates_new"],
            notes.get(REPEATS_OF_HELD),
            notes.get(RESENT_ORDERS, 0),
            notes.pop(DOUBLED, 0),
        )
        raise ContractError(refused + hint, bad_rows_options(reports["events"].reasons, hint))
    for reason, count in merged["held"].counts().items():
        appending.add_reason(reports["events"], reason, count)
    if shifted := merged["held"].hours_apart:  # said with the zone the times were read in
        hours = {hours_text(m): n for m, n in sorted(shifted.items(), key=lambda item: -item[1])}
        reports["events"].notes[HOURS_APART] = {"hours": hours, "timezone": timezone}
    reports["events"].notes["late_events"] = merged["late_events"]
    if merged["late_first"]:  # recorded with the batch (lifecycle.late_events.late_since)
        reports["events"].notes[LATE_SPAN] = {
            "rows": merged["late_events"],
            "first": merged["late_first"],
        }
    if merged["silence"]:
        reports["events"].notes["silence_before_file"] = merged["silence"]
    if merged["duplicates_new"] is not None:  # said with the duplicate_row rows
        reports["events"].notes[DUPLICATES_NEW] = merged["duplicates_new"]
    for said in ("columns_absent", "columns_added"):
        if merged[said]:
            reports["events"].notes[said] = merged[said]
    for name, count in merged["notes"].items():  # of the rows added, not the file's
        if name in reports["events"].notes:
            reports["events"].notes[name] = count
    if adapter is not None:
        new_users = work / USERS_FILE
        users = adapter.users(pd.read_parquet(staging / EVENTS_FILE, columns=adapter.users_of))
        users.to_parquet(new_users, index=False)
        reports["users"] = adapters.users_report(users, source)
    old_users = appending_to / USERS_FILE
    users_notes = appending.merge_users(
        old_users if old_users.is_file() else None, new_users, staging / USERS_FILE, con
    )
    totals = {"events": merged["events_total"]}
    if (staging / USERS_FILE).is_file():
        totals["users"] = pq.read_metadata(staging / USERS_FILE).num_rows
    if "users" in reports:
        reports["users"].notes.update(users_notes)
    return totals
