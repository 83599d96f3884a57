"""New events into an existing dataset: append them, or refuse a replace that drops history.

An append writes a new dataset version holding the old events plus the new file's good
rows: a new row equal to one the dataset already holds (every column,
:mod:`features.append_identity`) is quarantined as ``already_ingested``, as many copies of
it as the dataset holds (a further copy is a new event: a repeat purchase kept with
--keep-repeats), and one a held event of its order a zone offset away (times read in another
zone) as ``already_ingested_hours_apart``; events older than the dataset's newest
are accepted (late events, counted). A users file updates the users table (its rows win, users it lacks stay); with
none the users table is carried over. Every version stays restorable
(``lifecycle datasets history`` / ``restore``, :mod:`features.dataset_versions`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.append_columns import not_addable, other_columns, schema_with
from features.append_gap import silence_opened
from features.append_identity import duplicates_new, hold
from features.batches import batches
from features.dataset_summary import event_range
from features.duckdb_memory import cursor
from features.spreadsheet_cells import spreadsheet_safe
from features.staged_tables import file_row, numbered
from features.validation import ContractError, LoadReport
from lifecycle.dataset_kind import damaged, kind_of, what_it_is
from lifecycle.errors import UserError
from lifecycle.sql import identifier, literal
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

if TYPE_CHECKING:
    import duckdb


def refuse_lost_history(
    dataset_dir: Path,
    staging: Path,
    source: Path,
    has_users: bool,
    dataset: str,
    command: str = "lifecycle ingest",
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Refuse a replace whose file starts after the dataset does, ends before it does (it
    would drop recent history), or drops its users table. ``command`` wrote the file
    (``lifecycle ingest`` or ``lifecycle import SOURCE``); both append with --append."""
    try:
        old = event_range(dataset_dir / EVENTS_FILE, con)
    except UserError:  # a damaged table keeps no history: the ingest mends the dataset
        return
    if old is None:
        return
    new = event_range(staging / EVENTS_FILE, con)
    lost = []
    # within one day, days would name no difference ('.. 2010-12-01' against '.. 2010-12-01')
    same_day = new is not None and (
        (new.first > old.first and new.first[:10] == old.first[:10])
        or (new.last < old.last and new.last[:10] == old.last[:10])
    )
    size = 19 if same_day else 10
    if new is not None and new.first > old.first:
        lost.append(f"the events before {new.first[:size]}")
    if new is not None and new.last < old.last:
        lost.append(f"the events after {new.last[:size]}")
    if (dataset_dir / USERS_FILE).is_file() and not has_users:
        lost.append("the users table")
    if not lost:
        return
    held = (
        f"{source}: dataset '{dataset}' holds {old.text(same_day)}; this file holds "
        f"{new.text(same_day) if new else 'no events'}: replacing the dataset would drop "
        f"{' and '.join(lost)}. "
    )
    again = f"{command} {source} --dataset {dataset}"
    replace = f"replace the dataset with `{again} --replace`"
    adds = events_to_add(dataset_dir / EVENTS_FILE, staging / EVENTS_FILE, str(source))
    if adds == 0:  # an older export: --append would add nothing
        raise ContractError(
            f"{held}Every event of this file is in the dataset already: --append would add "
            f"none, and the dataset needs nothing from this file; or {replace}"
        )
    if adds is None:
        raise ContractError(
            f"{held}Its events have other columns or types than the dataset's, so --append "
            f"cannot add them; {replace}"
        )
    # an ingest's other options (--map, --event-type) are needed to read the file again
    others = " and this command's other options (--map, --event-type, ...)"
    raise ContractError(
        f"{held}Add the events the dataset lacks ({adds:,}) with `{again} --append`"
        f"{others if command == 'lifecycle ingest' else ''}, or {replace}"
    )


class NotAppendable(ContractError):
    """A file no ingest option makes appendable to the dataset: its events have other
    columns or types than the dataset's, or the dataset is of another kind."""


def refuse_other_kind(
    dataset_dir: Path,
    kind: str,
    source: Path,
    report: dict[str, Any] | None,
    command: str = "lifecycle ingest",
) -> None:
    """Refuse to append to, or replace, a dataset of another kind (a snapshot table by an
    events file, or events by a campaign table): that drops the whole dataset, silently.
    ``report``: the dataset's report.json, read (None: it has none)."""
    held = kind_of(dataset_dir, report)
    if held is None or held == kind:
        return
    again = f"{command} {source} --dataset {dataset_dir.name}"
    raise NotAppendable(
        f"{source}: dataset '{dataset_dir.name}' is {what_it_is(held)}, and this file "
        f"holds {what_it_is(kind)}: nothing to add to it, and replacing it would drop it. Give "
        f"another --dataset, or replace it with `{again} --replace`"
    )


def merge_events(
    old_events: Path,
    new_events: Path,
    out: Path,
    quarantine_out: Path,
    *,
    source: str,
    signed_in: str | None = None,
    counted: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """Old events plus the new rows the dataset does not hold yet, in time order; the new
    rows it holds go to ``quarantine_out`` (CSV) with their reason
    (:func:`features.append_identity.hold`; ``held`` counts them) and their source
    row and reason first when ``new_events`` was staged with its rows
    (:func:`features.loading.stream_table` ``keep_rows``); ``notes`` counts each note of
    the rows added (a row held back adds none); ``duplicates_new`` the staged file's
    duplicate_row rows that --keep-repeats would add (None without any), and
    ``duplicates_of_shifted`` those repeating a row held as ``HOURS_APART``. ``source`` is
    the user's file the new events were read from (``new_events`` is a staging copy);
    ``signed_in``: its amount column, where its currency is its amounts' signs ('€12'), which
    a refusal of two currencies names; ``counted``: its amounts are counts, no money, so no
    currency is compared (a 'Currency' column a dataset ingested before s42 staged beside them).

    The new file may lack columns the dataset has (an adapter's extra columns, or a file in
    contract columns after an import): its rows have them empty, and a new row is held when
    it equals an old one in every column the file has. A column the dataset lacks is
    refused, and a shared column is read in the dataset's type (or refused naming it).
    ``con``: the ingest's connection."""
    import pyarrow.parquet as pq

    from features.money_checks import refuse_currencies
    from features.quarantine import _beside
    from features.source_files import SourceFiles
    from features.staged_tables import ROW_COLUMNS, unused_name, write_sorted

    try:
        old_schema = pq.read_schema(old_events)
    except (OSError, ValueError) as error:  # ArrowInvalid: a damaged table, in one line
        raise damaged(old_events.parent, f"{old_events.name} cannot be read ({error})") from None
    new_schema = pq.read_schema(new_events)
    rows = json.loads((new_schema.metadata or {}).get(ROW_COLUMNS, b"{}"))
    noted: dict[str, str] = rows.get("noted", {})
    staging = [rows["source_row"], *noted.values(), rows["repeat"]] if rows else []
    extra = sorted(set(new_schema.names) - set(old_schema.names) - set(staging))
    if refused := not_addable(old_events, old_schema.names, new_schema.names, extra):
        raise NotAppendable(
            other_columns(old_events, old_schema.names, new_schema.names, refused, source)
        )
    # a column new to the dataset (a warehouse's month adding a nullable one): the dataset's
    # rows have it empty, as a file's rows have a column it lacks
    new_fields = [new_schema.field(n) for n in extra]
    schema = schema_with(old_schema, new_fields)
    columns = list(schema.names)
    shared = [n for n in columns if n in new_schema.names and n not in extra]
    absent = [n for n in columns if n not in new_schema.names]
    kept = ", ".join(identifier(n) for n in columns)
    new_row = identifier(rows["source_row"]) if rows else numbered(new_schema.names)
    flags = "".join(f", {identifier(n)}" for n in staging[1:])
    with cursor(con) as con:
        con.execute("SET TimeZone = 'UTC'")
        empty = "".join(f", NULL AS {identifier(f.name)}" for f in new_fields)
        con.execute(
            f"CREATE TEMP VIEW old AS SELECT *{empty} FROM read_parquet({literal(old_events)})"
        )
        typed = _in_dataset_types(con, old_events, new_events, columns, source, extra)
        con.execute(
            f"CREATE TEMP TABLE new AS SELECT {new_row} AS new_row, {typed}{flags} "
            f"FROM read_parquet({literal(new_events)})"
        )
        held = hold(con, shared)
        duplicates = None  # the duplicate_row rows --keep-repeats would add, when any were held
        of_shifted = 0  # ... and those repeating a row held back as HOURS_APART
        if rows.get("duplicates"):
            repeated = new_events.with_name(rows["duplicates"])
            their = _in_dataset_types(con, old_events, repeated, columns, source, extra)
            con.execute(
                f"CREATE TEMP TABLE duplicates AS SELECT {their} FROM read_parquet({literal(repeated)})"
            )
            duplicates, of_shifted = duplicates_new(con, held)
        ((latest,),) = con.execute(f"SELECT max({c.EVENT_TIME}) FROM old").fetchall()
        added = "new_row NOT IN (SELECT new_row FROM held)"
        ((adding,),) = con.execute(f"SELECT count(*) FROM new WHERE {added}").fetchall()
        ((late, late_first),) = con.execute(
            f"SELECT count(*), min({c.EVENT_TIME}) FROM new WHERE {added} AND {c.EVENT_TIME} < ?",
            [latest],
        ).fetchall()
        silence = silence_opened(con, latest, added)  # a month's export skipped, said
        # the dataset's currency and the file's: one money, or the sums mean nothing
        both = (
            f"(SELECT {kept}, 0 AS new_row FROM old UNION ALL "
            f"SELECT {kept}, new_row FROM new WHERE {added})"
        )
        signs = {c.currency_column(columns) or c.CURRENCY: signed_in} if signed_in else {}
        if not counted:
            refuse_currencies(con, both, "new_row", columns, source, signs)
        notes = {}
        for name, column in [*noted.items(), *([("repeats_kept", rows["repeat"])] if rows else [])]:
            ((count,),) = con.execute(
                f"SELECT count(*) FROM new WHERE {added} AND {identifier(column)}"
            ).fetchall()
            notes[name] = int(count)
        # ties on (event_time, user_id): the dataset's rows in its order, then the file's in its
        # (data-contract.md#streaming); a dataset's column file_row_number shadows DuckDB's
        part, at = (identifier(unused_name(f"__lifecycle_{n}", columns)) for n in ("part", "at"))
        nth = file_row(old_schema.names) or "NULL"
        shadowed = nth == "NULL"
        old_file = f"SELECT *{empty}, {nth} AS {at} FROM read_parquet({literal(old_events)})"
        old_rows = f"SELECT {kept}, 0 AS {part}, {at} FROM ({old_file})"
        # the dataset's rows before the file's first new time, in order already, are not sorted
        ((first_new,),) = con.execute(
            f"SELECT min({c.EVENT_TIME}) FROM new WHERE {added}"
        ).fetchall()
        head, since = None, ""
        if first_new is not None and not shadowed:
            first = f"TIMESTAMPTZ {literal(first_new.isoformat())}"
            head = (f"{old_rows} WHERE {c.EVENT_TIME} < {first}", (c.EVENT_TIME, c.USER_ID))
            since = f" WHERE {c.EVENT_TIME} >= {first}"
        write_sorted(  # a UNION ALL's sort ran out of 256MB over 16M rows, a table's not
            con,
            f"{old_rows}{since} UNION ALL SELECT {kept}, 1, new_row FROM new WHERE {added}",
            f"{c.EVENT_TIME}, {c.USER_ID}, {part}, {at}" + (f", {kept}" if shadowed else ""),
            schema,
            out,
            kept,
            head,
        )
        ((total,),) = con.execute(f"SELECT count(*) FROM read_parquet({literal(out)})").fetchall()
        if held.counts():
            # as every quarantine file: source row and reason first (when the rows are known)
            shown = _beside(shared, c.QUARANTINE_OWN)
            values = ", ".join(
                f"{identifier(n)} AS {identifier(s)}" for n, s in zip(shared, shown, strict=True)
            )
            first = f"new_row AS {identifier(c.SOURCE_ROW)}, " if rows else ""
            query = (
                f"SELECT {first}held.reason AS {identifier(c.REASON)}, {values} "
                f"FROM new JOIN held USING (new_row) ORDER BY new_row"
            )
            held_rows = con.sql(query)
            if rows:  # each named by its file and its row there
                con.execute(f"CREATE TEMP VIEW held_rows AS {query}")
                held_rows = SourceFiles.of(source).locate(con, "held_rows")
            spreadsheet_safe(held_rows.df()).to_csv(quarantine_out, index=False)
    return {
        "held": held,
        "late_events": int(late),
        # the earliest of them: a champion whose test outcomes reach it was judged on others
        "late_first": late_first.isoformat() if late else None,
        "silence": silence,
        "events_total": int(total),
        "notes": notes,
        "duplicates_new": duplicates,
        "duplicates_of_shifted": of_shifted,
        # the dataset's columns the file lacks, empty in its rows added (order_id: their
        # orders are counted by user and time)
        "columns_absent": {"columns": absent, "rows": int(adding)} if absent and adding else {},
        # the file's columns new to the dataset, empty in its rows before
        "columns_added": {"columns": extra, "rows": total - int(adding)} if extra else {},
    }


def events_to_add(old_events: Path, new_events: Path, source: str) -> int | None:
    """How many events of ``new_events`` an append would add to ``old_events`` (the rows it
    does not hold, compared as :func:`merge_events` does), or None when it cannot append
    them (other columns or types: the append's refusal)."""
    import duckdb
    import pyarrow.parquet as pq

    columns, new_names = pq.read_schema(old_events).names, pq.read_schema(new_events).names
    extra = set(new_names) - set(columns)
    if c.currency_column(columns) is None:  # an append reads the signs as numbers there
        extra.discard(c.CURRENCY)
    if not_addable(old_events, columns, new_names, sorted(extra)):
        return None
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TEMP VIEW old AS SELECT * FROM read_parquet({literal(old_events)})")
        try:
            typed = _in_dataset_types(con, old_events, new_events, columns, source)
        except NotAppendable:
            return None
        con.execute(
            f"CREATE TEMP TABLE new AS SELECT {numbered(new_names)} AS new_row, {typed} "
            f"FROM read_parquet({literal(new_events)})"
        )
        ((rows,),) = con.execute("SELECT count(*) FROM new").fetchall()
        held = hold(con, [n for n in columns if n in new_names])
        return int(rows) - sum(held.counts().values())


def _in_dataset_types(
    con: Any,
    old_events: Path,
    new_events: Path,
    columns: list[str],
    source: str,
    added: list[str] = (),
) -> str:
    """The dataset's columns as a select list of the new events in the dataset's types (an
    extra column of a Parquet file may come as numbers where the dataset holds text; one
    the file lacks is empty); a value that type cannot take is refused naming the column
    (DuckDB's ConversionException was a traceback)."""

    def types(path: Path) -> dict[str, str]:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(path)})")
        return {name: kind for name, kind, *_ in described.fetchall()}

    old, new = types(old_events), types(new_events)
    selected = []
    for name in columns:
        column = identifier(name)
        if name in added:  # a column new to the dataset: as the file has it
            selected.append(column)
            continue
        if name not in new:  # a column the file lacks: empty for its rows
            selected.append(f"NULL::{old[name]} AS {column}")
            continue
        if old[name] == new[name]:
            selected.append(column)
            continue
        bad = con.execute(
            f"SELECT {column}::VARCHAR FROM read_parquet({literal(new_events)}) WHERE {column} "
            f"IS NOT NULL AND TRY_CAST({column} AS {old[name]}) IS NULL LIMIT 1"
        ).fetchall()
        if bad:
            raise NotAppendable(
                f"{source}: column '{name}' holds {new[name]} values, the dataset's "
                f"{old[name]}, and {bad[0][0]!r} is no {old[name]}; give the column the "
                "dataset's type"
            )
        selected.append(f"CAST({column} AS {old[name]}) AS {column}")
    return ", ".join(selected)


def merge_users(
    old_users: Path | None,
    new_users: Path | None,
    out: Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, int]:
    """The users table after an append: the new file's rows win, old users it lacks stay.
    Counted: the users added, and the users whose row it changed (``users_updated``).
    ``con``: the ingest's connection."""
    import pyarrow.parquet as pq

    from features.staged_tables import write_batches

    if new_users is None:
        if old_users is not None:
            _link_or_copy(old_users, out)
        return {}
    if old_users is None:
        _link_or_copy(new_users, out)
        return {"users_added": pq.read_metadata(new_users).num_rows, "users_updated": 0}
    import pyarrow as pa

    old_schema, new_schema = pq.read_schema(old_users), pq.read_schema(new_users)
    # Every column of either table: a file without one of the dataset's columns keeps the
    # users' own values of it (new users get none), a new column is empty for the others.
    fields = [*old_schema, *(f for f in new_schema if f.name not in old_schema.names)]
    names = [f.name for f in fields]
    held = {frozenset(s.names): s.metadata for s in (old_schema, new_schema)}
    schema = pa.schema(fields, metadata=held.get(frozenset(names)))  # its pandas types
    theirs = ", ".join(
        f"n.{identifier(n)}" if n in new_schema.names else f"o.{identifier(n)}" for n in names
    )
    with cursor(con) as con:
        con.execute("SET TimeZone = 'UTC'")
        old = f"read_parquet({literal(old_users)})"
        new = f"read_parquet({literal(new_users)})"
        # a row the same as the user's (a users table an adapter derives again from every
        # event repeats most) updates nothing; values compared as text, as types may differ
        changed = " OR ".join(
            f"n.{identifier(n)}::VARCHAR IS DISTINCT FROM o.{identifier(n)}::VARCHAR"
            for n in new_schema.names
            if n in old_schema.names and n != c.USER_ID
        )
        ((updated,),) = con.execute(
            f"SELECT count(*) FROM {new} n JOIN {old} o ON n.{c.USER_ID} = o.{c.USER_ID} "
            f"WHERE {changed or 'false'}"
        ).fetchall()
        ((added,),) = con.execute(
            f"SELECT count(*) FROM {new} WHERE {c.USER_ID} NOT IN (SELECT {c.USER_ID} FROM {old})"
        ).fetchall()
        merged = con.sql(
            f"SELECT {', '.join(identifier(n) for n in names)} FROM ("
            f"SELECT * FROM {old} WHERE {c.USER_ID} NOT IN (SELECT {c.USER_ID} FROM {new}) "
            f"UNION ALL BY NAME SELECT {theirs} FROM {new} n LEFT JOIN {old} o "
            f"ON n.{c.USER_ID} = o.{c.USER_ID}) ORDER BY {c.USER_ID}"
        )
        write_batches(merged, schema, out)
    return {"users_updated": int(updated), "users_added": int(added)}


def _link_or_copy(source: Path, target: Path) -> None:
    """A file carried into the next version: a hard link where possible (versions are never
    edited in place: erasure replaces files whole), else a copy."""
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)


def carry_quarantine(old_dir: Path, staging: Path, report: dict[str, Any] | None) -> int:
    """Keep the old version's quarantine files; the number of this append (1, 2, ...) after
    those its ``report`` (the old version's report.json, read) records."""
    old = old_dir / "quarantine"
    if old.is_dir():
        for path in old.iterdir():
            _link_or_copy(path, staging / "quarantine" / path.name)
    return len([b for b in batches(report) if b.get("mode") == "append"]) + 1


def add_reason(report: LoadReport, reason: str, count: int) -> None:
    """Count ``count`` more quarantined rows for ``reason`` in a load report."""
    if not count:
        return
    report.reasons[reason] = report.reasons.get(reason, 0) + count
    report.rows_quarantined += count
    report.rows_loaded -= count
