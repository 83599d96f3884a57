"""Where a quarantined row is in what was given: its file and its row in that file. Rows
are numbered across a folder's files while they are checked (``source_row``, the first
file's 1 to n, the next file's from n + 1: one number a row throughout); the quarantine
file says the file (``source_file``, relative to the folder; of a file alone, its name)
and the row within it, so an engineer opens that file at that row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features import contract as c
from features.parquet_reading import is_parquet_folder, table_files
from lifecycle.sql import identifier


@dataclass(frozen=True)
class SourceFiles:
    """The files read as one source, each with its first row counted across them (1-based)."""

    starts: tuple[int, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, source: Path | str) -> SourceFiles:
        """A folder's Parquet files in the order they are read (their rows counted from
        the footers, not read), or the one file ``source`` names."""
        path = Path(source)
        if not is_parquet_folder(path):
            return cls((1,), (path.name,))
        import pyarrow.parquet as pq

        starts, names, first = [], [], 1
        for file in table_files(path):
            starts.append(first)
            names.append(file.relative_to(path).as_posix())
            first += pq.ParquetFile(file).metadata.num_rows
        return cls(tuple(starts), tuple(names))

    def find(self, row: int) -> tuple[int, str | None]:
        """A row counted across the files: its row in its file and, of a folder's, the file."""
        if len(self.names) == 1:
            return row, None
        at = max(i for i, start in enumerate(self.starts) if start <= row)
        return row - self.starts[at] + 1, self.names[at]

    def where(self, row: int) -> str:
        """A row counted across the files, as a message names it: ``row 12`` of a file
        alone, ``row 12 of dt=2011-01-01/part-0.parquet`` (its row in that file) of a
        folder's (:func:`features.contract.row_in`)."""
        return c.row_in(*self.find(row))

    def locate(self, con: Any, rows: str) -> Any:
        """``rows`` (a DuckDB table of quarantined rows, ``source_row`` counted across the
        files) with ``source_row`` its file's row and ``source_file`` after ``reason``."""
        import pyarrow as pa

        files = pa.table({"start": list(self.starts), "name": list(self.names)})
        con.register("source_files", files)
        row, reason = identifier(c.SOURCE_ROW), identifier(c.REASON)
        return con.sql(
            f"SELECT q.{row} - f.start + 1 AS {row}, q.{reason} AS {reason}, "
            f"f.name AS {identifier(c.SOURCE_FILE)}, q.* EXCLUDE ({row}, {reason}) "
            f"FROM {rows} q ASOF JOIN source_files f ON q.{row} >= f.start ORDER BY q.{row}"
        )


def with_source_file(schema: Any) -> Any:
    """A quarantine's schema (source row, reason, raw values) with ``source_file`` after
    its reason, as :meth:`SourceFiles.locate` gives its rows."""
    import pyarrow as pa

    return schema.insert(schema.get_field_index(c.REASON) + 1, pa.field(c.SOURCE_FILE, pa.string()))
