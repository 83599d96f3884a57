"""Ingest: validate raw files and store them as one dataset in the workspace.

A dataset folder holds the contract tables as Parquet (``events``, ``users``, or
``snapshot`` / ``campaign``), the quarantined rows as CSV under ``quarantine/`` with a
reason per row, and ``report.json`` with the counts. The folder is replaced atomically;
the last ``DATASET_VERSIONS_KEPT`` versions stay restorable. New events are appended
(``mode="append"``, :mod:`features.appending`), or replace the dataset; ``mode="guard"``
refuses a replace that would drop history.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from features import adapters, appending, batches
from features import contract as c
from features.append_columns import holds_amounts, holds_blank_currency
from features.append_merge import merge_append
from features.column_checks import refuse_from_first_lines
from features.csv_format import CsvFormat
from features.currency_words import NO_CURRENCY
from features.dataset_summary import (
    IDS_CASE_DROPPED,
    NOT_IDS_DROPPED,
    DatasetSummary,
    dataset_now,
)
from features.duckdb_memory import INGEST, bounded, connect
from features.erasure_log import ErasedUsers
from features.file_shape import FileShape
from features.forms import column_forms
from features.guest_orders import GUEST_ROWS, adds_guest_rows, keep_guest_rows
from features.id_spellings import record_padded_width
from features.identifiers import users_file_not_features
from features.json_reading import JSON_LINES_SUFFIXES
from features.loading import stream_table
from features.quarantine import batch_quarantine, quarantine_name
from features.read_once import ReadOnce
from features.read_words import HEADER_ONLY, NO_USER_NOTE
from features.reading import (
    CSV_SUFFIXES,
    DEFAULT_CHUNK_ROWS,
    PARQUET_SUFFIXES,
    XLSX_SUFFIXES,
    NoDataRows,
)
from features.staged_notes import note_staged
from features.table_checks import TableChecks
from features.time_columns import note_zones
from features.unit_words import MAYBE_COUNTS, MAYBE_MINOR
from features.user_validation import user_rules
from features.validation import (
    DEFAULT_MAX_AMOUNT_RATIO,
    DEFAULT_MAX_AMOUNT_SHIFT,
    DEFAULT_MEMORY_LIMIT,
    ContractError,
    LoadReport,
    TableRules,
    event_rules,
)
from lifecycle.dataset_kind import (
    DATASET_CODE_COLUMNS,
    NOT_ID_COLUMNS,
    QUARANTINE_USER_COLUMNS,
    REPORT,
    read_report,
)
from lifecycle.errors import UserError
from lifecycle.storage import atomic_dir, missing_file
from lifecycle.workspace import DATASET_VERSIONS_KEPT, EVENTS_FILE, USERS_FILE, check_dataset_name

if TYPE_CHECKING:
    import duckdb

MODES = ("replace", "guard", "append")


def dataset_name_from_file(path: Path) -> str:
    """The dataset name a file gives when none is asked for: its name without the file type
    suffix, lowercased, any character but a-z, 0-9, '-' and '_' replaced by '_'
    (``Orders 2024.csv.gz`` -> ``orders_2024``)."""
    name = re.sub(r"\.zip$", "", Path(path).name, flags=re.IGNORECASE) or Path(path).name
    for suffix in sorted(
        CSV_SUFFIXES + XLSX_SUFFIXES + PARQUET_SUFFIXES + JSON_LINES_SUFFIXES,
        key=len,
        reverse=True,
    ):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    derived = re.sub(r"[^a-z0-9_-]", "_", name.lower()).lstrip("-")[:100]
    if not re.search(r"[a-z0-9]", derived):
        raise UserError(
            f"{path}: no dataset name can be made from this file name (it gives {derived!r}); "
            "name the dataset with --dataset NAME"
        )
    return check_dataset_name(derived)


def ingest_events(
    events_path: Path,
    dataset_dir: Path,
    *,
    mapping: c.ColumnMapping | None = None,
    users_path: Path | None = None,
    users_mapping: c.ColumnMapping | None = None,
    max_bad_fraction: float = 0.5,
    allow_negative_amounts: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    amount_default: float | None = None,
    keep_repeats: bool = False,
    max_amount_ratio: float = DEFAULT_MAX_AMOUNT_RATIO,
    max_amount_shift: float = DEFAULT_MAX_AMOUNT_SHIFT,
    mode: str = "replace",
    progress: RowsProgress | None = None,
    csv: CsvFormat | None = None,
    erased: ErasedUsers | None = None,
    users_csv: CsvFormat | None = None,
    recorded: dict[str, Any] | None = None,
    case_insensitive_ids: bool = False,
    not_activity_types: Sequence[str] = (),
    attributes: tuple[Sequence[str], Sequence[str]] | None = None,
) -> DatasetSummary:
    """Validate an events file (and optionally a users file) into a dataset folder.

    Files are read ``chunk_rows`` rows at a time and good rows written as they come, so
    memory follows the chunk size, not the file size. ``amount_default``, ``keep_repeats``,
    ``max_amount_ratio`` and ``max_amount_shift`` apply to the events (see :func:`features.validation.event_rules`).
    ``mode``: ``replace`` the dataset, ``guard`` (replace, but refuse when that drops
    events before the file's first or after its last, or the users table), or ``append``.
    ``progress(table, rows_read)`` is called after each chunk read. ``csv``: how the CSV
    files are written (separator, encoding); ``users_csv`` the users file's, when another
    system wrote it (default: ``csv``). ``erased``: users whose rows are quarantined
    as ``erased_user`` (:func:`features.erasure_log.erased_users`). ``recorded``: the
    dataset's report.json as the caller read it (what an append was told to read as), else
    read here, once. ``case_insensitive_ids``: both files' user ids are folded
    (:func:`features.contract.fold_case`), recorded; an append folds as the dataset does.
    ``not_activity_types``: ``labels.not_activity_types``, which the summary tells apart.
    ``attributes``: the settings features.allow_attributes and exclude_attributes; with a
    users file, the summary's ``not_features`` judges its attributes by them.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if users_path is not None and _same_file(users_path, events_path):
        # its columns under --map'ped names would load as user attributes
        raise ContractError(
            f"{users_path}: given as the users file, but it is the events file; a users file "
            "holds one row per user: user_id, optional signup_time and channel, and attributes"
        )
    if recorded is None and mode != "replace":
        recorded = read_report(dataset_dir)
    if mode != "replace":
        appending.refuse_other_kind(dataset_dir, "events", events_path, recorded)
    appending_to = (
        dataset_dir if mode == "append" and (dataset_dir / EVENTS_FILE).is_file() else None
    )
    if appending_to is not None:  # one way of holding ids per dataset
        case_insensitive_ids = batches.appended_ids_case(
            recorded, case_insensitive_ids, dataset_dir.name
        )
    held_currency = _currency_column(appending_to)
    mapping = replace(
        mapping or c.ColumnMapping(),
        case_insensitive_ids=case_insensitive_ids,
        dataset_without_currency=appending_to.name
        if appending_to is not None and held_currency is None
        else None,
        dataset_currency_column=held_currency if held_currency != c.CURRENCY else None,
        dataset_blank_currency=appending_to is not None
        and holds_blank_currency(appending_to / EVENTS_FILE, held_currency),
        dataset_with_amounts=appending_to.name
        if appending_to and amount_default is None and holds_amounts(appending_to / EVENTS_FILE)
        else None,
    )
    users_read = replace(
        users_mapping or c.ColumnMapping(), case_insensitive_ids=case_insensitive_ids
    )
    erased = (erased or ErasedUsers()).holding(case_insensitive_ids)

    def tables_of(mapping: c.ColumnMapping, users_read: c.ColumnMapping) -> dict[str, Any]:
        rules = event_rules(
            mapping,
            str(events_path),
            allow_negative_amounts=allow_negative_amounts,
            amount_default=amount_default,
            keep_repeats=keep_repeats,
            max_amount_ratio=max_amount_ratio,
            max_amount_shift=max_amount_shift,
        )
        tables = {"events": (events_path, erased.rules(rules))}
        if users_path is not None:
            users = user_rules(users_read, str(users_path))
            tables["users"] = (users_path, erased.rules(users))
        return tables

    # a column a header lacks is refused before any pass reads the rows: the forms' pass
    # below read CDNOW_master.txt's 69,659 ragged lines (--delimiter ' ') to then refuse it;
    # a file not there (a symlink loop) is named first, by its reader, as before
    early = tables_of(mapping, users_read)
    if not any(missing_file(Path(path)) for path, _ in early.values()):
        for table, (path, rules) in early.items():
            given = (table == "users" and users_csv) or csv
            refuse_from_first_lines(Path(path), given, rules.check, str(path))
    mapping = _with_column_forms(
        events_path, mapping, (c.USER_ID, c.ORDER_ID, c.AMOUNT), csv, chunk_rows
    )
    if users_path is not None:
        users_read = _with_column_forms(
            users_path, users_read, (c.USER_ID,), users_csv or csv, chunk_rows
        )
    tables = tables_of(mapping, users_read)
    return ingest_into(
        dataset_dir,
        tables,
        events_path,
        users_path,
        appending_to,
        mode,
        chunk_rows,
        max_bad_fraction,
        memory_limit,
        progress,
        csv,
        read_as=batches.read_as(
            mapping,
            keep_repeats,
            amount_default,
            FileShape.of(mapping, users_mapping, csv, users_csv),
            not_activity_types,
        ),
        users_csv=users_csv,
        held=recorded,
        attributes=attributes,
    )


RowsProgress = Callable[[str, int], None]  # (table, rows read so far)


def _currency_column(appending_to: Path | None) -> str | None:
    """The column the events of the dataset an append adds to record their currency in
    (``currency``, or one named so: 'Currency'); None: none (a file's '£' amounts are read as
    numbers there, as its own were: a currency column only the file had would be refused as
    a column the dataset lacks), or not an append; a damaged table is taken as holding
    ``currency`` (the merge refuses it in its words)."""
    if appending_to is None:
        return None
    try:
        held = pq.read_schema(appending_to / EVENTS_FILE).names
    except (OSError, ValueError):  # a damaged table: the merge refuses it in its words
        return c.CURRENCY
    return c.currency_column(held)


def _same_file(path: Path, other: Path) -> bool:
    try:
        return path.samefile(other)
    except OSError:  # one is missing: reading it says so
        return False


def _with_column_forms(
    path: Path,
    mapping: c.ColumnMapping | None,
    names: tuple[str, ...],
    csv: CsvFormat | None,
    chunk_rows: int,
) -> c.ColumnMapping:
    """The mapping, with what the whole CSV shows of its id and amount columns: ids written
    18074.0 (throughout, or beside 18074) read as integers, as Parquet gives them (CSV and
    Parquet copies give the same ids, and 18074.0 is never a second user beside 18074); an
    amount column grouping thousands with a point (1.785 is then ambiguous_amount)."""
    mapping = mapping or c.ColumnMapping()
    sources = {mapping.source(name): name for name in names}
    told = mapping.decimal_comma or mapping.decimal_point  # the file's decimal mark is given
    amount = None if told or c.AMOUNT not in names else mapping.source(c.AMOUNT)
    ids = [col for col, name in sources.items() if name != c.AMOUNT]
    forms = column_forms(path, ids, amount, csv, chunk_rows)
    found = forms.whole_float_ids
    return replace(
        mapping,
        whole_float_ids=tuple(sources[col] for col in found),
        ids_written_both_ways=tuple(sources[col] for col, both in found.items() if both),
        dot_thousands=forms.dot_thousands,
    )


def _counted(
    chunks: Iterator[pd.DataFrame],
    table: str,
    progress: RowsProgress | None,
    passes: dict[str, int],
) -> Iterator[pd.DataFrame]:
    """The chunks as they come, telling ``progress`` how many rows were read so far (a
    second pass over the file, for repeats, is named as such)."""
    passes[table] = passes.get(table, 0) + 1
    if passes[table] > 1:
        table = f"{table} (pass {passes[table]})"
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        if progress is not None:
            progress(table, rows)
        yield chunk


class _Unchanged(Exception):
    """An append that brings nothing new: no new version is written."""

    def __init__(self, tables: dict[str, Any], totals: dict[str, int]) -> None:
        self.tables, self.totals = tables, totals


def ingest_into(
    dataset_dir: Path,
    tables: dict[str, Any],
    events_path: Path,
    users_path: Path | None,
    appending_to: Path | None,
    mode: str,
    chunk_rows: int,
    max_bad_fraction: float,
    memory_limit: str,
    progress: RowsProgress | None = None,
    csv: CsvFormat | None = None,
    adapter: adapters.Adapter | None = None,
    read_as: dict[str, Any] | None = None,
    users_csv: CsvFormat | None = None,
    held: dict[str, Any] | None = None,
    attributes: tuple[Sequence[str], Sequence[str]] | None = None,
) -> DatasetSummary:
    """Validate ``tables`` into a dataset version (appended to ``appending_to``, whose
    report.json ``held`` is, when the caller read it). One DuckDB connection, limited to
    ``memory_limit``, does it all: each step works in a cursor of it. The caller has
    refused a CSV whose header lacks a column (:func:`refuse_from_first_lines`)."""
    if appending_to is not None and held is None:
        held = read_report(appending_to)
    with bounded(connect(), memory_limit, dataset_dir, *INGEST) as con:  # one, for it all
        try:
            with (
                atomic_dir(dataset_dir, keep=DATASET_VERSIONS_KEPT) as staging,
                ReadOnce(staging / ".work") as once,  # a workbook: read once, for every pass
            ):
                (staging / "quarantine").mkdir()
                work = staging / ".work"
                work.mkdir()
                # An append validates the new file beside the dataset, then merges the two.
                batch = (
                    appending.carry_quarantine(appending_to, staging, held) if appending_to else 0
                )
                into = work if appending_to else staging
                reports = {}
                passes: dict[str, int] = {}
                for table, (path, rules) in tables.items():
                    given = (table == "users" and users_csv) or csv
                    try:
                        reports[table] = stream_table(
                            lambda path=path, table=table, given=given: _counted(
                                once.chunks(  # JSON lines set aside in the workspace
                                    table, path, chunk_rows, given
                                ),
                                table,
                                progress,
                                passes,
                            ),
                            rules,
                            str(path),
                            into / f"{table}.parquet",
                            batch_quarantine(staging, table, batch),
                            con=con,
                            work_dir=work / table,
                            max_bad_fraction=max_bad_fraction,
                            keep_rows=appending_to is not None and table == "events",
                            # an append's amounts are judged beside the dataset's
                            stored_events=appending_to / EVENTS_FILE
                            if appending_to is not None and table == "events"
                            else None,
                            guest_rows_out=work / GUEST_ROWS if table == "events" else None,
                        )
                    except NoDataRows as empty:
                        if table != "events" or appending_to is None or users_path is None:
                            raise
                        # a day without events, with its users file: its sign-ups and changes
                        # are real, and update the users table as on any append
                        reports[table] = _header_only(empty, rules)
                        pq.write_table(
                            pq.read_schema(appending_to / EVENTS_FILE).empty_table(),
                            into / EVENTS_FILE,
                        )
                    shutil.rmtree(work / table, ignore_errors=True)  # none: a header only
                if adapter is not None:  # its notes, of the events this file gives
                    staged = into / EVENTS_FILE
                    adapter.notes(
                        reports["events"], pd.read_parquet(staged, columns=adapter.notes_of)
                    )
                keep_guest_rows(work / GUEST_ROWS, staging, appending_to, held, events_path)
                note_zones({t: r.notes for t, r in reports.items()}, appending_to is not None)
                totals = None
                if appending_to is not None:
                    totals = merge_append(
                        staging,
                        appending_to,
                        batch,
                        reports,
                        str(events_path),
                        work / USERS_FILE if users_path is not None else None,
                        adapter,
                        (read_as or {}).get("timezone") or batches.dataset_timezone(held),
                        con,
                    )
                    if (
                        reports["events"].rows_loaded == 0
                        and users_path is None
                        and not adds_guest_rows(staging, appending_to)  # a new guest order is new
                    ):
                        # Nothing new: the dataset keeps its version (later steps stay current).
                        raise _Unchanged({t: r.to_dict() for t, r in reports.items()}, totals)
                elif mode == "guard":
                    appending.refuse_lost_history(
                        dataset_dir,
                        staging,
                        events_path,
                        users_path is not None,
                        dataset_dir.name,
                        con=con,
                    )
                elif users_path is None and (dataset_dir / USERS_FILE).is_file():
                    # --replace without --users: the users table goes, said in the summary
                    reports["events"].notes["users_table_dropped"] = {
                        "rows": pq.read_metadata(dataset_dir / USERS_FILE).num_rows,
                        "version": dataset_dir.resolve().name,
                    }
                folded = (read_as or {}).get(c.CASE_INSENSITIVE_IDS)
                if appending_to is None and not folded and _held_folded(dataset_dir):
                    # like the other recorded options, --replace starts afresh: said, not kept
                    reports["events"].notes[IDS_CASE_DROPPED] = dataset_dir.resolve().name
                if appending_to is None and (declared := _held_not_ids(dataset_dir)):
                    reports["events"].notes[NOT_IDS_DROPPED] = {
                        "version": dataset_dir.resolve().name,
                        "columns": declared,
                    }
                report = _finish_events(
                    staging,
                    reports,
                    str(events_path),
                    appending_to,
                    totals,
                    read_as,
                    batch,
                    held,
                    con,
                )
                record_padded_width(staging / EVENTS_FILE)  # read once, not at each model load
            reported = report["tables"]
        except _Unchanged as unchanged:  # the dataset keeps its version
            reported, totals, kept = unchanged.tables, unchanged.totals, True
        except NoDataRows as empty:  # appended: a day without events is nothing new
            if appending_to is None or empty.source != str(events_path):  # not: a users file
                raise
            header_only = _header_only(empty, tables["events"][1]).to_dict()
            reported, totals, kept = {"events": header_only}, None, True
        else:
            kept = False
        now = dataset_now(dataset_dir, con) if appending_to is not None else None
        users = dataset_dir / USERS_FILE  # its attributes judged as features, on this connection
        judged = attributes is not None and users_path is not None and users.is_file()
        left_out = users_file_not_features(users, *attributes, con=con) if judged else None
        return DatasetSummary(
            dataset_dir.name, dataset_dir, "events", reported, totals, now, kept, left_out
        )


def _header_only(empty: NoDataRows, rules: TableRules) -> LoadReport:
    """The report of an appended events file of a header and no rows: its columns are
    checked as those of a file with rows (a header without the contract's, or a public data
    set's, is refused)."""
    rules.check(pd.DataFrame(columns=empty.columns), TableChecks())
    report = LoadReport(source=empty.source, table="events", rows_read=0)
    report.notes[HEADER_ONLY] = True
    return report


def _finish_events(
    staging: Path,
    reports: dict[str, LoadReport],
    source: str,
    appending_to: Path | None,
    totals: dict[str, int] | None,
    read_as: dict[str, Any] | None = None,
    append: int = 0,
    held: dict[str, Any] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """The last of an events version: what its events show noted (:func:`note_staged`),
    users without a profile counted, the work folder gone, this batch added to the dataset's batches, the report written (with the user id
    column of each quarantine file, this batch's beside the earlier ones'). ``held``: the
    report.json of the dataset appended to, read; ``con``: the ingest's connection."""
    note_staged(staging, reports, source, appending_to, read_as, held, con)
    shutil.rmtree(staging / ".work", ignore_errors=True)
    previous = batches.batches(held) if appending_to else []
    recorded = [
        *previous,
        {
            "mode": "append" if appending_to else "ingest",
            "source": source,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # its own: two ingests of one second and size are two generations of data
            "batch": uuid.uuid4().hex[:12],
            "rows_added": reports["events"].rows_loaded,
            # how its file was read (the zone of times without an offset, the map of the
            # file's event types, batches.READ_OPTIONS): an append reads its file so too
            **{key: value for key, value in (read_as or {}).items() if value not in (None, {})},
            # its guest orders, which no user's numbers hold: `segments` and the report say
            # them; the maybe-cents note, said once; its late events (batches.LATE_SPAN)
            **{
                k: v
                for k, v in reports["events"].notes.items()
                if k in (NO_USER_NOTE, MAYBE_MINOR, MAYBE_COUNTS, NO_CURRENCY, batches.LATE_SPAN)
            },
        },
    ]
    earlier = (held or {}) if appending_to else {}
    return write_report(
        staging,
        "events",
        {t: r.to_dict() for t, r in reports.items()},
        batches=recorded,
        totals=totals,
        **erasure_columns(reports, append, earlier),
    )


def _held_not_ids(dataset_dir: Path) -> list[str]:
    """The columns the dataset being replaced declared never ids (features.not_ids)."""
    from features.not_ids import declared

    return declared(read_report(dataset_dir)) if (dataset_dir / EVENTS_FILE).is_file() else []


def _held_folded(dataset_dir: Path) -> bool:
    """The dataset being replaced held its user ids folded (--case-insensitive-ids)."""
    return (dataset_dir / EVENTS_FILE).is_file() and batches.dataset_case_insensitive_ids(
        dataset_dir
    )


def erasure_columns(
    reports: dict[str, LoadReport], append: int = 0, earlier: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What `forget` reads in the report, this batch's beside the earlier ones': each
    quarantine file's column of user ids (its raw name: ``CustomerID``) and the dataset's
    columns of codes (``features.scrub``)."""
    earlier = earlier or {}
    users = {quarantine_name(t, append): r.user_column for t, r in reports.items() if r.user_column}
    codes = {n for r in reports.values() for n in r.code_columns}
    return {
        QUARANTINE_USER_COLUMNS: earlier.get(QUARANTINE_USER_COLUMNS, {}) | users,
        DATASET_CODE_COLUMNS: sorted(codes.union(earlier.get(DATASET_CODE_COLUMNS, []))),
        # the operator's declaration (features.not_ids), kept by an append
        NOT_ID_COLUMNS: earlier.get(NOT_ID_COLUMNS, []),
    }


def write_report(folder: Path, kind: str, tables: dict[str, Any], **extra: Any) -> dict[str, Any]:
    report = {
        "kind": kind,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
        **{k: v for k, v in extra.items() if v},
    }
    (folder / REPORT).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
