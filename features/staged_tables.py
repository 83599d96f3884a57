"""The tables a load writes: good rows staged chunk by chunk to Parquet, DuckDB results
written batch by batch to Parquet or a quarantine CSV, and the row columns an append's staged
table carries (source row, notes, kept repeat) named in its schema metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.spreadsheet_cells import spreadsheet_safe
from features.validation import ContractError
from lifecycle.sql import identifier


class ParquetSink:
    """Appends frames to one Parquet file; every frame must fit the first one's column types."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self.schema: Any = None  # pyarrow.Schema of the first frame (pandas dtypes in its metadata)
        self.rows = 0
        self._writer: Any = None

    def write(self, frame: pd.DataFrame, extra: dict[str, np.ndarray] | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.schema is None:
            # A column with no value yet has no type: text is what a CSV column holds.
            fields = [
                f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema
            ]
            self.schema = pa.schema(fields, metadata=table.schema.metadata)
        if not table.schema.equals(self.schema, check_metadata=False):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
                first = int(frame.index.min()) + 1 if len(frame) else 0
                raise ContractError(
                    f"{self.source}: the rows from {first:,} on do not have the column types of "
                    f"the rows before them ({error}); give the column one type throughout"
                ) from None
        for name, values in (extra or {}).items():
            table = table.append_column(name, pa.array(values))
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="snappy")
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


ROW_COLUMNS = b"lifecycle.row_columns"  # schema metadata of a table kept with its rows
REPEAT_COLUMN = "__lifecycle_kept_repeat"
DUPLICATE_ROWS = "duplicate_rows"  # a staged table's repeats held back, beside it


def with_row_columns(
    schema: Any, source_row: str, noted: dict[str, str], repeat: str, duplicates: str | None
) -> Any:
    """``schema`` plus the source row, note and kept-repeat columns, named in its metadata
    with the file of its duplicate_row rows beside it (``duplicates``, None without any)."""
    import pyarrow as pa

    fields = [pa.field(source_row, pa.int64()), *(pa.field(n, pa.bool_()) for n in noted.values())]
    named = {"source_row": source_row, "noted": noted, "repeat": repeat, "duplicates": duplicates}
    metadata = {**(schema.metadata or {}), ROW_COLUMNS: json.dumps(named).encode()}
    return pa.schema([*schema, *fields, pa.field(repeat, pa.bool_())], metadata=metadata)


def unused_name(name: str, columns: Iterable[str]) -> str:
    """``name``, or ``name_1``, ``name_2`` ... : the first that is not one of ``columns``."""
    taken = {str(col) for col in columns}
    unique, n = name, 0
    while unique in taken:
        n += 1
        unique = f"{name}_{n}"
    return unique


def file_row(columns: Iterable[str]) -> str | None:
    """DuckDB's ``read_parquet`` virtual column of a row's place in its file (0 first), or
    None where the file has a column of that name (``columns``), which shadows it."""
    return None if "file_row_number" in columns else "file_row_number"


def numbered(columns: Iterable[str]) -> str:
    """The rows of a Parquet file of ``columns``, as ``read_parquet`` reads them, numbered 1, 2,
    ... in file order; where a column shadows the file's row number, in the order of all its
    columns (identical rows alike). ``row_number() OVER ()`` numbers rows in the order DuckDB's
    threads hand them on, which it does not promise to be the file's."""
    columns = list(columns)
    if at := file_row(columns):
        return f"({at} + 1)"
    return f"row_number() OVER (ORDER BY {', '.join(identifier(n) for n in columns)})"


def write_batches(relation: Any, schema: Any, out: Path, batch_rows: int = 100_000) -> None:
    """A DuckDB result to Parquet with the staged pandas types, or to CSV; batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = relation.to_arrow_reader(batch_rows)
    if out.suffix == ".csv":  # a quarantine, which an operator opens: no cell a formula
        header = True
        for batch in reader:
            frame = spreadsheet_safe(pa.Table.from_batches([batch]).cast(schema).to_pandas())
            frame.to_csv(out, mode="w" if header else "a", header=header, index=False)
            header = False
        return
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))


def write_sorted(
    con: Any,
    query: str,
    order: str,
    schema: Any,
    out: Path,
    columns: str = "*",
    head: tuple[str, tuple[str, str]] | None = None,
) -> None:
    """The ``columns`` of the rows of ``query`` (a SELECT) written to ``out`` in ``order``
    (:func:`write_batches`), held in a temporary table first (it spills) and sorted from it. DuckDB's sort of a query
    that reads a UNION ALL or filters with NOT IN (a join) ran out where the sort of a table
    spilled: an append's merge into 16M rows ran out of 256MB (8.5 s from a table), an
    ingest's 2M rows out of 24MB (3.4 s from a table under 16 MiB, the least).

    ``head``: a SELECT of rows that all come before ``query``'s in ``order`` and are read in
    it already (a dataset's rows older than an append's first new one), with the two leading
    columns of ``order`` (time, user): written first as read, unsorted, while those columns
    are seen not to decrease; if they do, the head's rows are sorted with the others. An
    append of 20,000 rows to 1.98M sorted all 2M and ran out of 24MB; its head is not sorted."""
    import pyarrow.parquet as pq

    if head is not None:
        with pq.ParquetWriter(out, schema, compression="snappy") as writer:
            read = con.sql(f"SELECT {columns} FROM ({head[0]})")
            in_order = _write_in_order(read, head[1], schema, writer)
            if in_order:
                _sorted_into(con, query, order, columns, schema, writer)
        if in_order:
            return
        query = f"{head[0]} UNION ALL {query}"
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        _sorted_into(con, query, order, columns, schema, writer)


def _sorted_into(con: Any, query: str, order: str, columns: str, schema: Any, writer: Any) -> None:
    """:func:`write_sorted`'s sort, written through ``writer``."""
    import pyarrow as pa

    con.execute(f"CREATE TEMP TABLE sorting AS {query}")
    try:
        reader = con.sql(f"SELECT {columns} FROM sorting ORDER BY {order}").to_arrow_reader(100_000)
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
    finally:
        con.execute("DROP TABLE sorting")


def _write_in_order(relation: Any, keys: tuple[str, str], schema: Any, writer: Any) -> bool:
    """``relation``'s rows through ``writer`` as read, while ``keys`` (time, then user) do not
    decrease from row to row; False (the rest unwritten) at the first that does."""
    import pyarrow as pa

    last: tuple[Any, Any] | None = None
    for batch in relation.to_arrow_reader(100_000):
        if not batch.num_rows:
            continue
        times = batch.column(keys[0]).to_numpy().astype("datetime64[us]").astype(np.int64)
        users = batch.column(keys[1]).to_numpy(zero_copy_only=False)
        if last is not None:
            times, users = np.r_[last[0], times], np.r_[np.array([last[1]], dtype=object), users]
        tied = times[1:] == times[:-1]
        try:
            if (times[1:] < times[:-1]).any() or (users[1:][tied] < users[:-1][tied]).any():
                return False
        except TypeError:  # a user id missing (None): not known to be in order
            return False
        last = (times[-1], users[-1])
        writer.write_table(pa.Table.from_batches([batch]).cast(schema))
    return True
