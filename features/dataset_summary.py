"""What an ingest, import or append says of a dataset: its tables' counts and notes, and
for an events dataset what it holds now (read from its tables). Light to import: `lifecycle
datasets` lists them without pandas."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.basket_rows import rows_line
from features.contract import ContractError
from features.currency_words import NO_CURRENCY, amounts_without_currency_line
from features.duckdb_memory import cursor
from features.read_notes import note_lines
from lifecycle.dataset_kind import damaged, read_report
from lifecycle.sql import literal
from lifecycle.words import EVENTS, ROWS, counted
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

if TYPE_CHECKING:
    import duckdb

IDS_CASE_DROPPED = "case_insensitive_ids_dropped"  # report note: the version replaced
# report note: the version replaced and the columns it declared never ids (features.not_ids)
NOT_IDS_DROPPED = "not_id_columns_dropped"


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    path: Path
    kind: str  # events | snapshot | campaign
    tables: dict[str, dict[str, Any]]  # table -> its LoadReport as a dict (the last batch's)
    totals: dict[str, int] | None = None  # after an append: rows in the whole dataset
    now: dict[str, Any] | None = None  # the events dataset as it is (:func:`dataset_now`)
    unchanged: bool = False  # an append that brought nothing new: the dataset kept its version
    # with a users file and the attribute settings: its attributes no model reads -> why
    # (features.identifiers.users_file_not_features, judged on the ingest's connection)
    not_features: dict[str, str] | None = None
    # `datasets`: amounts without a currency its last ingest's notes do not say (recorded
    # before ingest said it, or said before an append: features.currency.unrecorded_currency)
    unrecorded: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "path": str(self.path), "kind": self.kind, "tables": self.tables}
        out |= {"unchanged": True} if self.unchanged else {}
        out |= {"amounts_without_currency": self.unrecorded} if self.unrecorded else {}
        return out | ({"totals": self.totals} if self.totals else {}) | {"now": self.now}

    def lines(self) -> list[str]:
        out = [f"dataset '{self.name}' ({self.kind}) at {self.path}"]
        if self.now:
            now = self.now
            line = (
                f"  now: {counted(now['events'], EVENTS)} of {counted(now['users'])}, "
                f"{now['first_event'][:10]} .. {now['last_event'][:10]}"
            )
            if "users_table" in now:
                line += f"; users table {now['users_table']:,} rows"
            if now.get("rows_erased"):
                line += "; erased since the last append: " + ", ".join(
                    f"{n:,} rows of {table}" for table, n in now["rows_erased"].items()
                )
            out.append(line)
            source = next(iter(self.tables.values()))["source"]
            if self.unchanged:
                out.append(
                    f"  nothing new in {source}: the dataset keeps its version "
                    f"({_appends(now['appends'])} before); of this file:"
                )
            elif now["appends"]:
                out.append(f"  {_appends(now['appends'])}; the last, of {source}:")
        elif self.totals:
            out.append(
                "  appended: now " + ", ".join(f"{n:,} {what}" for what, n in self.totals.items())
            )
        for table, report in self.tables.items():
            reasons = ", ".join(f"{n:,} {r}" for r, n in report["reasons"].items())
            held = "" if self.unchanged else f", in {self.path / 'quarantine'}"
            out.append(
                f"  {table}: {report['rows_loaded']:,} row{'s' * (report['rows_loaded'] != 1)} loaded "
                f"of {report['rows_read']:,}, "
                f"{report['rows_quarantined']:,} quarantined"
                + (f" ({reasons}{held})" if reasons else "")
                + (f", {report['rows_erased']:,} erased" if report.get("rows_erased") else "")
            )
            notes = report.get("notes", {})
            if "amount_default" in notes:
                why = "their amount was empty" if notes["amount_in_file"] else rows_line(notes)
                out.append(
                    f"    {notes['amount_defaulted']:,} purchase/refund rows given amount "
                    f"{notes['amount_default']:g} ({why})"
                )
            out += note_lines(notes, report["reasons"])
            if "repeats_kept" in notes:
                out.append(f"    exact repeats kept as separate events: {notes['repeats_kept']:,}")
            if dropped := notes.get("users_table_dropped"):
                out.append(
                    f"    users table of {counted(dropped['rows'], ROWS)} dropped (no --users file): "
                    f"`lifecycle datasets restore {dropped['version']}` brings it back, or "
                    "ingest again with --users FILE"
                )
            if version := notes.get(IDS_CASE_DROPPED):
                out.append(
                    f"    user ids read as the file writes them: {version} held them "
                    "case-insensitive, and a replace keeps no recorded option (ingest again "
                    "with --case-insensitive-ids to fold them)"
                )
            if dropped := notes.get(NOT_IDS_DROPPED):
                named = " ".join(dropped["columns"])
                out.append(
                    f"    columns declared never ids by {dropped['version']} not kept: "
                    f"{', '.join(dropped['columns'])} (a replace keeps no recorded option; "
                    f"`lifecycle datasets not-ids {self.name} {named}` declares them again: "
                    "until then `forget` redacts a value there equal to an erased id)"
                )
            if absent := notes.get("columns_absent"):
                by_time = " (their orders counted by user and time)" * (
                    c.ORDER_ID in absent["columns"]
                )
                rows = f"{absent['rows']:,} row{'s' * (absent['rows'] != 1)}"
                out.append(
                    f"    columns the dataset has and this file lacks, empty in the {rows} "
                    f"added{by_time}: {', '.join(absent['columns'])}"
                )
            if added := notes.get("columns_added"):
                rows = f"{added['rows']:,} row{'s' * (added['rows'] != 1)}"
                out.append(
                    f"    columns new to the dataset, empty in its {rows} before: "
                    f"{', '.join(added['columns'])}"
                )
            if notes.get("late_events"):
                out.append(
                    f"    late events accepted (older than the dataset's newest): "
                    f"{notes['late_events']:,}"
                )
            if silence := notes.get("silence_before_file"):
                from features.append_gap import silence_line

                out.append(silence_line(silence))
        if self.unrecorded:
            out.append(amounts_without_currency_line(self.unrecorded))
        return out


def _appends(count: int) -> str:
    """'1 append', '3 appends': how many times a dataset was appended to."""
    return f"{count:,} append{'s' * (count != 1)}"


@dataclass(frozen=True)
class EventRange:
    rows: int
    first: str
    last: str
    users: int = 0  # distinct users with events

    def text(self, to_the_second: bool = False) -> str:
        size = 19 if to_the_second else 10  # 2025-01-05 10:00:00 (UTC) or its day
        return f"{counted(self.rows, EVENTS)} {self.first[:size]} .. {self.last[:size]}"


def event_range(events: Path, con: duckdb.DuckDBPyConnection | None = None) -> EventRange | None:
    """Rows, users and time range of an events table (None when there is none). ``con``:
    the ingest's connection (:func:`features.duckdb_memory.cursor`)."""
    if not events.is_file():
        return None
    rows, first, last, users = _one_row(
        events,
        f"count(*), min({c.EVENT_TIME}), max({c.EVENT_TIME}), count(DISTINCT {c.USER_ID})",
        con,
    )
    return EventRange(int(rows), str(first), str(last), int(users))


def _one_row(table: Path, select: str, con: duckdb.DuckDBPyConnection | None) -> tuple[Any, ...]:
    """``SELECT select`` over a dataset's Parquet table, in UTC; a damaged table: one line
    naming it, not DuckDB's traceback. DuckDB, not pyarrow (which imports NumPy): a row count
    is read from the file's footer all the same."""
    import duckdb

    try:
        with cursor(con) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(f"SELECT {select} FROM read_parquet({literal(table)})").fetchone()
    except duckdb.Error as error:
        problem = str(error).splitlines()[0]
        raise damaged(table.parent, f"{table.name} cannot be read ({problem})") from None


def dataset_now(
    dataset_dir: Path, con: duckdb.DuckDBPyConnection | None = None
) -> dict[str, Any] | None:
    """An events dataset as it is (after every append, erasure or restore), read from its
    tables: events, users with events, first and last event, the users table's rows, and
    the appends since its first ingest. None without an events table, unless its report
    counts events loaded: then it is damaged (listed from its report, it showed rows it no
    longer has). ``con``: the ingest's connection."""
    found = event_range(dataset_dir / EVENTS_FILE, con)
    if found is None:
        held = (read_report(dataset_dir) or {}).get("tables", {}).get("events", {})
        if held.get("rows_loaded"):
            raise damaged(dataset_dir, f"its events table ({EVENTS_FILE}) is missing")
        return None
    now: dict[str, Any] = {"events": found.rows, "users": found.users}
    now |= {"first_event": found.first, "last_event": found.last}
    if (dataset_dir / USERS_FILE).is_file():
        (now["users_table"],) = _one_row(dataset_dir / USERS_FILE, "count(*)", con)
    report = read_report(dataset_dir) or {}
    now["appends"] = sum(b.get("mode") == "append" for b in report.get("batches", []))
    if report.get("rows_erased"):  # by `forget` since the last batch's report
        now["rows_erased"] = report["rows_erased"]
    return now


def read_dataset_summary(dataset_dir: Path) -> DatasetSummary:
    report = read_report(dataset_dir)
    if report is None:
        raise ContractError(
            f"no dataset at {dataset_dir}: run `lifecycle ingest` or `lifecycle import` first"
        )
    now = dataset_now(dataset_dir) if report["kind"] == "events" else None
    return DatasetSummary(
        dataset_dir.name,
        dataset_dir,
        report["kind"],
        report["tables"],
        report.get("totals"),
        now,
        unrecorded=unrecorded_currency(dataset_dir, report),
    )


def unrecorded_currency(dataset_dir: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """The note of :func:`features.currency.amounts_without_currency` that `lifecycle
    datasets` says of an events dataset whose last ingest's notes do not (one ingested before
    ingest said it, 2026-12-07, or appended to since it was said: an append does not repeat
    it) while its amounts still have no currency. Read from what is recorded, no row: the
    report, and the events' Parquet footer by DuckDB (no pyarrow, which imports NumPy: the
    listing imports neither): no currency column, or none of its row groups holding a value;
    some row group's amounts above 0. Without the rows' count, which only a read of them
    gives. None when a currency is recorded, the amounts are counted (no money), or the
    footer cannot say (a row group without statistics)."""
    import duckdb

    from features.batches import batches
    from serving.units import purchase_counts

    events = dataset_dir / EVENTS_FILE
    notes = report.get("tables", {}).get("events", {}).get("notes", {})
    if report.get("kind") != "events" or NO_CURRENCY in notes or not events.is_file():
        return None
    if purchase_counts(dataset_dir) is not None:  # counted: no money
        return None
    try:
        with cursor(None) as con:
            groups = con.execute(
                "SELECT path_in_schema, row_group_num_rows, stats_null_count, stats_max_value "
                f"FROM parquet_metadata({literal(events)})"
            ).fetchall()
    except duckdb.Error:  # being replaced, or damaged: `datasets` says so in its line
        return None
    held = c.currency_column({name for name, *_ in groups})
    for name, rows, nulls, _ in groups:
        if name == held and (nulls is None or nulls < rows):  # a currency, or unknown
            return None
    if not any(
        name == c.AMOUNT and top is not None and float(top) > 0 for name, _, _, top in groups
    ):
        return None
    recorded = batches(report)
    shapes = [(b.get("file_shape") or {}).get("columns") or {} for b in recorded]
    column = next((s[c.AMOUNT] for s in reversed(shapes) if c.AMOUNT in s), c.AMOUNT)
    appended = any(b.get("mode") == "append" for b in recorded)
    return {"column": column, "appended": appended, "from": "recorded"}
