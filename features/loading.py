"""Loading one table chunk by chunk: row rules per chunk, whole-table rules in DuckDB, the
good rows to Parquet and the bad ones to quarantine (see :mod:`features.validation`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.append_columns import COLUMNS_READ_AS, dataset_spelling
from features.append_identity import MOSTLY_REPEATS, REPEATS_OF_HELD
from features.bad_rows import (
    DOUBLED,
    RESENT_ORDERS,
    bad_rows_hint,
    bad_rows_options,
    doubled_rows,
    resent_orders,
)
from features.column_checks import SPACE_RUNS, said_with_space_runs
from features.duckdb_memory import INGEST, bounded, connect
from features.guest_orders import (
    GUEST_ROWS,
    RowsWithoutUser,
    keyed_canonically,
    unkeyed_columns,
)
from features.id_spellings import spelt_apart
from features.line_items import (
    ORDER_COLUMN_SEEN,
    guest_totals_on_lines,
    order_column_hint,
    repeated_totals,
)
from features.money_checks import (
    ABSURD_AMOUNT,
    absurd_amounts,
    refuse_amount_shift,
    refuse_currencies,
)
from features.quarantine import EMPTY_ROW, RAGGED_ROWS, quarantine_rows
from features.read_words import BLANK_ROWS_SKIPPED, DATES_READ_AS, LINE_ITEM
from features.reading import BLANK_NAMED
from features.serial_dates import note_each_once, serial_columns
from features.source_files import SourceFiles, with_source_file
from features.staged_tables import (
    DUPLICATE_ROWS,
    REPEAT_COLUMN,
    ParquetSink,
    unused_name,
    with_row_columns,
    write_batches,
    write_sorted,
)
from features.table_checks import TableChecks, is_blank
from features.time_gaps import ISOLATED_EVENT_TIME, isolated_times
from features.unit_words import counted_by
from features.user_notes import ID_REASONS, users_only_quarantined
from features.user_validation import user_rules
from features.validation import (
    DEFAULT_MEMORY_LIMIT,
    NOTED_COLUMN,
    SOURCE_ROW_COLUMN,
    ContractError,
    Loaded,
    LoadReport,
    TableRules,
    event_rules,
)
from features.xlsx_reading import DATE_SYSTEM
from lifecycle.errors import offered
from lifecycle.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

# -- one table, chunk by chunk ---------------------------------------------------------


def stream_table(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    rules: TableRules,
    source: str,
    out: Path,
    quarantine_out: Path,
    *,
    con: duckdb.DuckDBPyConnection,
    work_dir: Path,
    max_bad_fraction: float = 0.5,
    keep_rows: bool = False,
    dates_read_as: dict[str, dict[str, Any]] | None = None,
    stored_events: Path | None = None,
    guest_rows_out: Path | None = None,
) -> LoadReport:
    """Check a table chunk by chunk into ``out`` (Parquet) and its bad rows into
    ``quarantine_out`` (CSV, or Parquet by suffix; a CSV only when there are bad rows).

    ``chunks`` is called once per pass: a second pass reads the raw values of repeats.
    Good rows are staged in ``work_dir``; the whole-table rules then run in a cursor of
    ``con`` (the ingest's connection, under its memory limit) and the final table is
    written in ``rules.order_by`` then file order. With
    ``rules.keep_repeats`` repeats are counted (``notes["repeats_kept"]``) and loaded.
    ``keep_rows`` (an append, which holds back rows later): ``out`` also has each row's
    source row, its notes and whether it is a kept repeat, named in its schema metadata
    (:data:`features.staged_tables.ROW_COLUMNS`), so what is finally added is counted and
    quarantined by row.
    A file whose numeric dates show one order (``features.date_orders``) is read a second
    time in it (``dates_read_as``). ``stored_events``: the events of the dataset an append
    adds to, whose amounts the file's are judged beside (``absurd_amount``).
    ``guest_rows_out``: where an events file's rows without a user id go, each once
    (``features.guest_orders.keep_guest_rows`` keeps them with the dataset).
    """
    import pyarrow as pa

    work_dir.mkdir(parents=True, exist_ok=True)
    good = ParquetSink(work_dir / f"{rules.table}.staged.parquet", source)
    held = ParquetSink(work_dir / f"{rules.table}.quarantine.parquet", source)
    checks = TableChecks(dates_read_as)
    if dates_read_as:
        checks.notes[DATES_READ_AS] = dates_read_as
    reasons: Counter[str] = Counter()
    report = LoadReport(source=source, table=rules.table, rows_read=0)
    first_bad: tuple[int, str] | None = None
    source_row = SOURCE_ROW_COLUMN
    noted = {name: NOTED_COLUMN.format(name) for name in rules.noted}
    unnamed: dict[str, bool] = {}  # a column the header leaves blank -> a value seen in it
    lost: list[np.ndarray] = []  # user ids of quarantined rows
    # an events file's rows without a user id, counted with amounts
    guests = RowsWithoutUser(
        unkeyed_columns(Path(source), stored_events), keyed_canonically(stored_events)
    )
    spelling: dict[str, str] | None = None  # an append's columns -> the dataset's names
    system = 1900  # a workbook's date system (its serial dates' day 0)
    space_runs = False  # read with --delimiter ' ', fields aligned by runs of spaces
    blank_skipped = 0  # a sheet's blank rows under its data: no rows read, said
    session = None  # the cursor of ``con`` the whole-table rules run in
    try:
        for raw in chunks():
            space_runs = space_runs or bool(raw.attrs.get(SPACE_RUNS))
            blank_skipped += raw.attrs.get(BLANK_ROWS_SKIPPED, 0)
            _note_unnamed(raw, unnamed)
            system = raw.attrs.get(DATE_SYSTEM, system)
            frame, bad = rules.check(raw, checks)
            if not report.rows_read:  # our staging columns must not be one of the file's
                source_row = unused_name(SOURCE_ROW_COLUMN, frame.columns)
                noted = {name: unused_name(col, frame.columns) for name, col in noted.items()}
                report.user_column, report.code_columns = bad.user_header(), bad.code_headers()
            report.rows_read += len(raw)
            keep = bad.good.to_numpy()
            staged_extra = {source_row: frame.index.to_numpy()[keep] + 1}
            for name, column in noted.items():
                staged_extra[column] = bad.noted_rows(name)[keep]
            if spelling is None and stored_events is not None:
                spelling = dataset_spelling(frame.columns, stored_events)
            good.write(frame.loc[keep].rename(columns=spelling or {}), staged_extra)
            if c.USER_ID in frame.columns:  # users of bad rows whose id is no reason of theirs
                trusted = ~keep & ~bad.reason.isin(ID_REASONS).to_numpy()
                lost.append(frame[c.USER_ID].to_numpy()[trusted])
            if rules.table == "events":
                guests.add(frame, bad.reason)
            quarantined = bad.frame()
            held.write(quarantined)
            reasons.update(bad.counts())
            faults = quarantined[~quarantined[c.REASON].isin(rules.not_bad)]
            if first_bad is None and len(faults):
                first_bad = (int(faults[c.SOURCE_ROW].iloc[0]), faults[c.REASON].iloc[0])
        good.close()
        if good.schema is None:
            raise ContractError(f"{source}: no data rows")
        read_as = checks.dates.to_read(reasons) | serial_columns(
            checks.columns, dates_read_as, system
        )
        if read_as:  # the order the file's dates showed: read them all in it
            held.close()
            return stream_table(
                chunks,
                rules,
                source,
                out,
                quarantine_out,
                con=con,
                work_dir=work_dir,
                max_bad_fraction=max_bad_fraction,
                keep_rows=keep_rows,
                dates_read_as={**(dates_read_as or {}), **read_as},  # every column found
                stored_events=stored_events,
                guest_rows_out=guest_rows_out,
            )
        checks.refuse_if_mostly_bad(source, max_bad_fraction)
        # what a separator ending every line makes carries nothing: not stored, not a column
        # an append adds; one with values is a column of its own (Unnamed: N)
        ignored = [n for n, seen in unnamed.items() if not seen and n in good.schema.names]
        if ignored:
            checks.notes[EMPTY_UNNAMED] = ignored

        db, con = con, con.cursor()  # temporary tables of its own (a users file's too)
        session = con
        con.execute("SET TimeZone = 'UTC'")
        staged = f"read_parquet({literal(good.path)})"
        row = identifier(source_row)
        if rules.table == "events" and not counted_by(checks.notes):  # counts: no money
            refuse_currencies(con, staged, row, good.schema.names, source, checks.named)
        if rules.table == "events":  # 40512..41000 read as 489 days, one row each: said
            found = checks.notes.get(DATES_READ_AS, {})
            time_column = checks.named.get(c.EVENT_TIME, c.EVENT_TIME)
            note_each_once(con, staged, found.get(time_column), rules.timezone)
        # the marks' currency, staged by every chunk, when the file named no one currency
        unkept = [*ignored, *(checks.money.unkept() if checks.money else [])]
        columns = [n for n in good.schema.names if n not in unkept]
        keys = ", ".join(identifier(n) for n in (rules.unique_by or columns))
        # Repeats: rows whose 64-bit hash is shared are suspects, compared exactly; only
        # (row, hash) pairs are held for every row, so this stays small for any file.
        con.execute(
            f"CREATE TEMP TABLE hashed AS SELECT {row} AS source_row, hash({keys}) AS h "
            f"FROM {staged}"
        )
        con.execute(
            "CREATE TEMP TABLE suspects AS SELECT source_row FROM hashed "
            "WHERE h IN (SELECT h FROM hashed GROUP BY h HAVING count(*) > 1)"
        )
        con.execute(
            f"CREATE TEMP TABLE repeat_of AS SELECT source_row, first FROM ("
            f"SELECT {row} AS source_row, min({row}) OVER (PARTITION BY {keys}) AS first "
            f"FROM {staged} WHERE {row} IN (SELECT source_row FROM suspects)"
            f") WHERE source_row <> first"
        )
        con.execute("CREATE TEMP TABLE held_back AS SELECT source_row FROM repeat_of")
        repeats = np.sort(
            con.execute("SELECT source_row FROM held_back").fetchnumpy()["source_row"]
        )
        if len(repeats) and not rules.keep_repeats:  # said if the file is refused for them
            report.notes[DOUBLED] = doubled_rows(con, staged, "repeat_of")
        kept_repeats = 0
        if rules.keep_repeats:
            # Genuine repeats (the same purchase twice at one moment): every copy loads.
            kept_repeats = len(repeats)
            con.execute("CREATE TEMP TABLE kept_repeats AS SELECT source_row FROM held_back")
            con.execute("DELETE FROM held_back").fetchall()
            repeats = repeats[:0]
        con.execute("CREATE TEMP TABLE duplicates AS SELECT source_row FROM held_back")
        orders = len(repeats) and rules.table == "events" and c.ORDER_ID in columns
        orders = orders and not rules.order_lines  # two equal lines: maybe two items
        if orders and (resent := resent_orders(con, staged, row, "duplicates")):
            report.notes[RESENT_ORDERS] = resent  # one order sent twice, not two events
        # held back besides repeats, each for a reason of its own: an order's total on each
        # of its lines (counted once), amounts no order has
        lines = (
            repeated_totals(
                con, staged, row, checks, "kept_repeats" if rules.keep_repeats else None
            )
            if rules.table == "events" and not rules.order_lines and c.AMOUNT in columns
            else repeats[:0]
        )
        # and a guest order's (quarantined for no user id): counted once, as a user's order
        guest_lines = guest_totals_on_lines(guests, checks.notes, reasons)
        con.register("guest_lines", pa.table({"source_row": guest_lines}))
        if rules.table == "events" and c.AMOUNT in columns and stored_events is not None:
            refuse_amount_shift(
                con, staged, row, stored_events, rules.max_amount_shift, checks, source
            )
        absurd = (
            absurd_amounts(con, staged, row, rules.max_amount_ratio, checks, stored_events)
            if rules.table == "events" and c.AMOUNT in columns
            else repeats[:0]
        )
        isolated = (  # a year typed wrong: the dataset would end (or start) there
            isolated_times(con, staged, row, checks, SourceFiles.of(source))
            if rules.table == "events" and c.EVENT_TIME in columns
            else repeats[:0]
        )
        held_rows = (
            (repeats, rules.duplicate_reason),
            (lines, LINE_ITEM),
            (absurd, ABSURD_AMOUNT),
            (isolated, ISOLATED_EVENT_TIME),
        )
        if keep_rows and len(repeats):  # an append's: said if --keep-repeats would add none
            firsts = con.execute("SELECT first FROM repeat_of").fetchnumpy()["first"]
            of_held = {r: int(np.isin(firsts, out).sum()) for out, r in held_rows[1:]}
            if of_held := {r: n for r, n in of_held.items() if n}:
                report.notes[REPEATS_OF_HELD] = of_held
        for rows_out, reason in held_rows:
            if len(rows_out):
                reasons[reason] += len(rows_out)
                if reason in rules.not_bad:  # no fault of the file: never its first bad row
                    continue
                if first_bad is None or rows_out[0] < first_bad[0]:
                    first_bad = (int(rows_out[0]), reason)
        report.notes.update(checks.notes | guests.note())
        if blank_skipped:
            report.notes[BLANK_ROWS_SKIPPED] = blank_skipped
        report.notes.pop(ORDER_COLUMN_SEEN, None)  # the refusal's alone
        if spelling:
            report.notes[COLUMNS_READ_AS] = spelling
        if guest_rows_out is not None:
            guests.write(guest_rows_out)
        if c.USER_ID in columns:
            # its Python functions registered on the connection, which outlives the cursor
            report.notes.update(spelt_apart(db, staged))
        if rules.table == "events" and c.USER_ID in columns:
            report.notes.update(users_only_quarantined(con, staged, row, lost, stored_events))
        for name, column in noted.items():  # counted over the rows that load
            ((count,),) = con.execute(
                f"SELECT count(*) FROM {staged} WHERE {identifier(column)} "
                f"AND {row} NOT IN (SELECT source_row FROM held_back)"
            ).fetchall()
            report.notes[name] = int(count)
        if rules.keep_repeats:
            report.notes["repeats_kept"] = kept_repeats
        report.rows_quarantined = int(sum(reasons.values()))
        report.rows_loaded = report.rows_read - report.rows_quarantined
        report.reasons = dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
        if reasons[EMPTY_ROW] == report.rows_read:
            raise ContractError(
                f"{source}: no data rows: its {report.rows_read:,} rows are empty (every cell blank)"
            )
        # good rows held back for a reason, and rows of nothing: not the file's quality
        not_judged = {*rules.not_bad, EMPTY_ROW}
        left_out = sum(reasons[r] for r in not_judged)
        # but an order's later lines (line_item_of_order) are as good as the order they join
        judged = report.rows_read - left_out + reasons[LINE_ITEM]
        if judged and (report.rows_quarantined - left_out) / judged > max_bad_fraction:
            assert first_bad is not None
            counted = ", ".join(
                f"{n:,} {r}" for r, n in report.reasons.items() if r not in not_judged
            )
            aside = ", ".join(
                f"{n:,} {r}"
                for r, n in report.reasons.items()
                if r in not_judged and r != LINE_ITEM
            )
            refusal = (
                f"{source}: {report.rows_quarantined - left_out:,} of {judged:,} rows are bad"
                + (f" (besides {aside}, not counted)" if aside else "")
                + (f" ({reasons[LINE_ITEM]:,} {LINE_ITEM}, good)" if reasons[LINE_ITEM] else "")
                + f", more than the allowed {max_bad_fraction:.0%} ({counted}); first bad "
                f"{SourceFiles.of(source).where(first_bad[0])}: {first_bad[1]}. Is this the right file"
                + (" and mapping?" if offered("--map") else "?")
            )
            if not (keep_rows and next(iter(report.reasons)) == "duplicate_row"):
                resent = report.notes.get(RESENT_ORDERS, 0)
                hint = order_column_hint(checks.notes, report.reasons) or bad_rows_hint(
                    report.reasons, resent=resent, doubled=report.notes.get(DOUBLED, 0)
                )
                raise ContractError(refusal + hint, bad_rows_options(report.reasons, hint))
            # an append's: what --keep-repeats would add is the merge's to say (ingest)
            report.notes[MOSTLY_REPEATS] = refusal
        if MOSTLY_REPEATS not in report.notes:  # else the append's refusal says it
            report.notes.pop(DOUBLED, None)
        checks.refuse_ambiguous_dates(source, report.reasons)
        if any(len(rows_out) for rows_out, _ in held_rows):
            # Their raw values, as the file has them: a second read, picking only those rows.
            for raw in chunks():
                rows = raw.index.to_numpy() + 1
                for rows_out, reason in held_rows:
                    within = rows_out[(rows_out >= rows[0]) & (rows_out <= rows[-1])]
                    picked = np.isin(rows, within)
                    if picked.any():
                        held.write(quarantine_rows(raw, picked, reason))
        held.close()

        kept = ", ".join(identifier(n) for n in columns)
        written = list(columns)  # the names, as the sorted table has them
        schema = pa.schema([f for f in good.schema if f.name in columns], good.schema.metadata)
        if keep_rows:
            repeat = unused_name(REPEAT_COLUMN, [*columns, source_row, *noted.values()])
            is_repeat = f"{row} IN (SELECT source_row FROM kept_repeats)"
            kept += "".join(f", {identifier(n)}" for n in [source_row, *noted.values()])
            kept += f", {is_repeat if rules.keep_repeats else 'false'} AS {identifier(repeat)}"
            written += [source_row, *noted.values(), repeat]
            # the duplicate_row rows too: whether --keep-repeats would add them is the
            # dataset's to say (appending.merge_events)
            duplicates = out.with_name(f"{out.stem}.{DUPLICATE_ROWS}.parquet")
            if len(repeats):
                chosen = ", ".join(identifier(n) for n in columns)
                write_batches(
                    con.sql(
                        f"SELECT {chosen} FROM {staged} "
                        f"WHERE {row} IN (SELECT source_row FROM duplicates)"
                    ),
                    schema,
                    duplicates,
                )
            found = duplicates.name if len(repeats) else None
            schema = with_row_columns(schema, source_row, noted, repeat, found)
        # then file order: the source row, under a name none of the columns written has
        then = identifier(unused_name(f"{source_row}_order", written))
        write_sorted(
            con,
            f"SELECT {kept}, {row} AS {then} FROM {staged} "
            f"WHERE {row} NOT IN (SELECT source_row FROM held_back)",
            ", ".join([*(identifier(n) for n in rules.order_by), then]),
            schema,
            out,
            ", ".join(identifier(n) for n in written),
        )
        if held.rows or quarantine_out.suffix != ".csv":  # each row named by file and row
            reason = identifier(c.REASON)
            relabelled = (
                f"(SELECT * REPLACE (CASE WHEN {identifier(c.SOURCE_ROW)} IN (SELECT source_row "
                f"FROM guest_lines) THEN {literal(LINE_ITEM)} ELSE {reason} END AS {reason}) "
                f"FROM read_parquet({literal(held.path)}))"
            )
            located = SourceFiles.of(source).locate(con, relabelled)
            write_batches(located, with_source_file(held.schema), quarantine_out)
    except ContractError as error:
        raise said_with_space_runs(error, space_runs, source) from None
    finally:
        good.close()
        held.close()
        if session is not None:
            session.close()
    return report


EMPTY_UNNAMED = "empty_unnamed_columns_ignored"  # report note: blank-named, empty columns


def _note_unnamed(raw: pd.DataFrame, unnamed: dict[str, bool]) -> None:
    """Whether each column the header leaves blank has a value in this chunk (rows out of
    line with the header aside: their cells are not the column's)."""
    ragged = raw.index.isin(list(raw.attrs.get(RAGGED_ROWS, ())))
    for name in raw.attrs.get(BLANK_NAMED, ()):
        seen = unnamed.get(name, False) or bool((~is_blank(raw[name]) & ~ragged).any())
        unnamed[name] = seen


def load_table(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    rules: TableRules,
    source: str,
    *,
    max_bad_fraction: float = 0.5,
    scratch: Path | None = None,
) -> Loaded:
    """:func:`stream_table` into a temporary folder, read back: for tables that fit in memory.
    ``scratch``: the folder to make it in, as a staging folder (the workspace's, by an
    import: one killed midway left a copy of the file's rows in the system's temporary
    folder, which `forget` never reached; a staging folder is swept once its process is
    gone); None: the system's."""
    with (
        _validating(scratch) as tmp,
        bounded(connect(), DEFAULT_MEMORY_LIMIT, Path(tmp) / "table.parquet", *INGEST) as con,
    ):
        folder = Path(tmp)
        report = stream_table(
            chunks,
            rules,
            source,
            folder / "table.parquet",
            folder / "quarantine.parquet",
            con=con,
            work_dir=folder / "work",
            max_bad_fraction=max_bad_fraction,
            guest_rows_out=folder / GUEST_ROWS,
        )
        frame = pd.read_parquet(folder / "table.parquet")
        quarantine = pd.read_parquet(folder / "quarantine.parquet")
        kept = folder / GUEST_ROWS
        guests = pd.read_parquet(kept) if kept.is_file() else None
    return Loaded(frame=frame, quarantine=quarantine, report=report, guest_rows=guests)


@contextlib.contextmanager
def _validating(scratch: Path | None) -> Iterator[str]:
    """:func:`load_table`'s temporary folder, removed after the block."""
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="lifecycle-validate-") as tmp:
            yield tmp
        return
    from lifecycle.storage import staging_folder

    scratch.mkdir(parents=True, exist_ok=True)
    folder = staging_folder(scratch, "validate")
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def validate_events(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    *,
    max_bad_fraction: float = 0.5,
    allow_negative_amounts: bool = False,
    latest_event: pd.Timestamp | None = None,
    amount_default: float | None = None,
    keep_repeats: bool = False,
) -> Loaded:
    """Check a raw events frame against the contract and return contract-shaped events."""
    rules = event_rules(
        mapping,
        source,
        allow_negative_amounts=allow_negative_amounts,
        latest_event=latest_event,
        amount_default=amount_default,
        keep_repeats=keep_repeats,
    )
    return load_table(lambda: [raw], rules, source, max_bad_fraction=max_bad_fraction)


def validate_users(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    *,
    max_bad_fraction: float = 0.5,
) -> Loaded:
    """Check a raw users table: one row per user id, optional sign-up time and channel."""
    rules = user_rules(mapping, source)
    return load_table(lambda: [raw], rules, source, max_bad_fraction=max_bad_fraction)
