"""Reading raw tables: CSV (every column as text) or Parquet, in chunks of bounded size,
each frame indexed by its 0-based data row in the file."""

from __future__ import annotations

import codecs
import csv as csv_text
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.blank_tail import skip_blank_tail
from features.column_checks import REPEATED_COLUMNS, SPACE_RUNS
from features.contract import FILE_START, SOURCE_FILE
from features.csv_format import (
    OLD_EXCEL,
    CsvFormat,
    refuse_binary,
    refuse_latin1_controls,
    refuse_other_separator,
    with_bom_encoding,
)
from features.csv_lines import (
    arrow_source,
    cut_short,
    ends_in_line_breaks,
    first_line_not_utf8,
    line_number,
    open_quote,
    row_too_long,
    swallowed_cell,
    swallowed_rows,
    text_name,
)
from features.hints import option_hint
from features.json_reading import (
    JSON_LINES_SUFFIXES,
    SpillFailed,
    first_records,
    json_lines_chunks,
)
from features.parquet_reading import PARQUET_SUFFIXES, is_parquet_folder, parquet_chunks
from features.quarantine import RAGGED_ROWS
from features.read_words import BLANK_ROWS_SKIPPED, EXTRA_FIELDS, MISSING_FIELDS
from features.validation import ContractError
from features.xlsx_reading import XLSX_SUFFIXES, is_workbook, xlsx_chunks
from lifecycle.storage import missing_file

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".zip")  # .zip: of one CSV
DEFAULT_CHUNK_ROWS = 100_000  # as settings ingest.chunk_rows
CSV_BLOCK_BYTES = 1 << 20  # what the CSV reader parses at once (a row must fit in it); it
# reads some dozens of blocks ahead, so this bounds that read-ahead too
# Ragged rows wait in memory until the good row after them is read: a longer run of them is
# no row gone wrong but a file whose header is not its rows' (refused, naming both)
RAGGED_RUN_LIMIT = 100_000
# attrs key of a raw frame: the names given to columns the header leaves blank (Unnamed: N)
BLANK_NAMED = "blank_named_columns"


class NoDataRows(ContractError):
    """A file of a header and no rows (``columns``: the header's names; ``blank``: the rows
    under it whose every cell is blank, skipped: ``features.blank_tail``)."""

    def __init__(self, path: Path, columns: list[str], blank: int = 0) -> None:
        named = f"columns: {', '.join(columns)}"
        if blank:
            rows = f"{blank:,} row{'s are' if blank > 1 else ' is'}"
            named = f": its {rows} empty (every cell blank; {named})"
        else:
            named = f" ({named})"
        super().__init__(f"{path}: no data rows{named}")
        self.source, self.columns = str(path), columns


def read_chunks(
    path: Path | str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    csv: CsvFormat | None = None,
    columns: list[str] | None = None,
    spill_dir: Path | None = None,
    block_bytes: int | None = None,
    head: bool = False,
) -> Iterator[pd.DataFrame]:
    """Read a CSV (every column as text, so no value is lost to a guessed type) or Parquet
    file in frames of at most ``chunk_rows`` rows; a frame's index is its 0-based data row
    in the file, so ``index + 1`` is the source row wherever the chunk starts. ``columns``:
    only these (of a CSV); ``spill_dir``: where JSON lines are set aside while read;
    ``block_bytes``: what a CSV's reader parses at once (default ``CSV_BLOCK_BYTES``);
    ``head``: the first frame is all that is read (JSON lines are then not parsed whole
    first, their columns those of its objects)."""
    path = Path(path)
    if why := missing_file(path):
        raise ContractError(f"{path}: {why}")
    if path.is_dir() and not is_parquet_folder(path):
        raise ContractError(
            f"{path}: is a folder without Parquet files, expected a CSV or Parquet file (or a "
            "folder of Parquet files, a partitioned table)"
        )
    if (
        not path.is_file() and not path.is_dir()
    ):  # a named pipe waited forever: ingest reads a file more than once
        raise ContractError(
            f"{path}: not a regular file (a named pipe, a device or a socket), expected a CSV or "
            "Parquet file: save what it gives to a file first (it is read more than once)"
        )
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    name = path.name.lower()
    if path.is_dir() or name.endswith(PARQUET_SUFFIXES):
        chunks = parquet_chunks(path, chunk_rows)
    elif name.endswith(XLSX_SUFFIXES) or is_workbook(path):
        chunks = skip_blank_tail(xlsx_chunks(path, chunk_rows, csv or CsvFormat(), head))
    elif name.endswith(JSON_LINES_SUFFIXES):
        chunks = (
            first_records(path, chunk_rows)
            if head
            else json_lines_chunks(path, chunk_rows, spill_dir)
        )
    elif name.endswith(CSV_SUFFIXES):
        chunks = _csv_chunks(
            path,
            chunk_rows,
            with_bom_encoding(path, csv or CsvFormat()),
            "\t" if text_name(path).endswith((".tsv", ".tsv.gz")) else ",",
            columns,
            block_bytes or CSV_BLOCK_BYTES,  # read now: a test sets a smaller one
        )
        chunks = chunks if columns else skip_blank_tail(chunks)  # ',,,' lines under the data
    else:
        raise ContractError(
            f"{path}: unknown file type; expected a name ending in "
            f"{', '.join(CSV_SUFFIXES + XLSX_SUFFIXES + PARQUET_SUFFIXES + JSON_LINES_SUFFIXES)} ("
            + (OLD_EXCEL if ".xls" in name else _name_hint(path))
            + ")"
        )
    rows, file, file_start = 0, None, 0  # a folder's file, and its first row's label
    kind = "a folder of Parquet files" if path.is_dir() else name.rsplit(".", 1)[-1]
    while True:
        try:
            frame = next(chunks)
        except StopIteration:
            break
        except pd.errors.EmptyDataError:
            raise ContractError(f"{path}: file is empty (no header, no rows)") from None
        except (ContractError, SpillFailed):  # the spill's folder full: not the file's fault
            raise
        except EOFError as error:  # click took it for Ctrl-D and printed only 'Aborted!'
            raise ContractError(
                f"{path}: cannot be read as {kind}: {error}; {cut_short(path)}"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
            where = f" (after data row {rows:,})" if rows else ""
            raise ContractError(f"{path}: cannot be read as {kind}{where}: {error}") from None
        if frame.empty:
            if rows == 0:
                # a read of some columns (ids) names all of the file's, as the full read does
                header = next(read_chunks(path, 1, csv)).columns if columns else frame.columns
                blank = frame.attrs.get(BLANK_ROWS_SKIPPED, 0)
                raise NoDataRows(path, [str(col).strip() for col in header], blank)
            continue
        names = [str(col).strip() for col in frame.columns]
        # A name the header repeats (a Parquet file can, as a CSV, or once stripped) gets a
        # suffix, as pandas gives it; validation refuses a repeated contract column.
        counts = Counter(names)
        repeated = {*frame.attrs.get(REPEATED_COLUMNS, ()), *(n for n in counts if counts[n] > 1)}
        frame.columns = unique = _unique_names(names)
        blank = [*frame.attrs.get(BLANK_NAMED, ())]
        blank += [name for name, given in zip(unique, names, strict=True) if not given]
        if repeated:
            frame.attrs[REPEATED_COLUMNS] = sorted(repeated)
        if blank:
            frame.attrs[BLANK_NAMED] = blank
        frame.index = pd.RangeIndex(rows, rows + len(frame))
        if SOURCE_FILE in frame.attrs:  # a folder's: its rows named in their file
            if frame.attrs[SOURCE_FILE] != file:
                file, file_start = frame.attrs[SOURCE_FILE], rows
            frame.attrs[FILE_START] = file_start
        if RAGGED_ROWS in frame.attrs:  # offsets in the frame -> its row labels
            ragged = frame.attrs[RAGGED_ROWS]
            frame.attrs[RAGGED_ROWS] = {rows + offset: reason for offset, reason in ragged.items()}
        rows += len(frame)
        yield frame


def _name_hint(path: Path) -> str:
    """What a file of an unknown name looks like, and the name to give it."""
    with path.open("rb") as file:
        start = file.read(64).lstrip()
    return "JSON lines: name it .jsonl" if start[:1] == b"{" else "a CSV file: name it .csv"


def _csv_chunks(
    path: Path,
    chunk_rows: int,
    csv: CsvFormat,
    default_sep: str,
    columns: list[str] | None,
    block_bytes: int,
) -> Iterator[pd.DataFrame]:
    """:func:`_csv_frames` of a file that is text. Arrow decodes a row out of line with the
    header as UTF-8 before its handler sees it: one that is not UTF-8 fails there, where
    Arrow can only print the error ('Exception ignored in ...') and stop at the row; such
    errors are kept quiet while the file is read, and the refusal names the line."""
    import sys

    refuse_binary(path, csv.encoding)
    refuse_latin1_controls(path, csv)
    previous = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, UnicodeDecodeError):
            previous(unraisable)

    sys.unraisablehook = quiet
    try:
        yield from _csv_frames(path, chunk_rows, csv, default_sep, columns, block_bytes)
    finally:
        sys.unraisablehook = previous


def _csv_frames(
    path: Path,
    chunk_rows: int,
    csv: CsvFormat,
    default_sep: str,
    columns: list[str] | None,
    block_bytes: int,
) -> Iterator[pd.DataFrame]:
    """Text columns in frames of ``chunk_rows`` rows, parsed by Arrow's streaming reader
    (pandas' chunked reader silently drops the extra fields of a chunk's first row). A row
    with more or fewer fields than the header (an unquoted comma in a free-text cell) is put
    back in its place with its fields as read and named in ``attrs[RAGGED_ROWS]``, for the
    quarantine; a quoted cell may span lines."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    sep = csv.delimiter or default_sep
    encoding = {"encoding": csv.encoding}
    if csv.delimiter is None:
        refuse_other_separator(path, sep, csv)
    try:
        with arrow_source(path) as source:
            header = pa_csv.open_csv(
                source,
                parse_options=_parse_options(sep, lambda row: "skip"),
                # one thread: a header read that fails left Arrow's read-ahead thread
                # reading the closed file (the process hung or aborted on exit)
                read_options=pa_csv.ReadOptions(use_threads=False, **encoding),
            ).schema.names
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            raise pd.errors.EmptyDataError(str(error)) from None
        raise _csv_error(path, error, [], csv) from None
    # a byte order mark inside the first name's quotes ('"\ufeffuser_id"') is no part of it
    names = _unique_names([header[0].lstrip("\ufeff"), *header[1:]] if header else header)
    blank = [name for name, given in zip(names, header, strict=True) if not given.strip()]
    counts = Counter(name.strip() for name in header)
    repeated = sorted(name for name in counts if counts[name] > 1)
    # one thread: Arrow then numbers the rows it skips (and parses them in file order)
    options: dict[str, Any] = {"block_size": block_bytes, "use_threads": False, **encoding}
    if names != header:  # repeated names: ours, like pandas (a, a.1, ...), header skipped
        options |= {"column_names": names, "skip_rows": 1}
    # none of ``columns`` in the file: every column, as Arrow reads an empty list (the rows
    # put back must have the columns read; the caller finds its columns absent). Every column
    # is read all the same and ``included`` kept after the checks: a stray quote in a column
    # not kept swallows rows just as well, and only its cell shows it.
    included = [n for n in names if n.strip() in (columns or ())] or names
    convert = pa_csv.ConvertOptions(
        include_columns=names,
        column_types={name: pa.string() for name in names},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    ragged = _RaggedRows(sep, names)
    named = [i for i, given in enumerate(header) if given.strip()]
    ragged.header_runs = sep == " " and any(  # a blank name between named ones
        named and named[0] < i < named[-1] for i, given in enumerate(header) if not given.strip()
    )
    kept = [*included, ragged.reason_column]
    source = arrow_source(path)
    reader = None
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(**options),
            parse_options=_parse_options(sep, ragged),
            convert_options=convert,
        )
        pending: list[Any] = []
        pending_rows = 0
        yielded = False
        last = None  # the rows read last: a quote never closed made the rest their cell
        for batch in itertools.chain(reader, [None]):  # None: the end, the last ragged rows
            table = ragged.put_back(batch)
            if (cell := swallowed_cell(table, names, sep)) is not None:
                raise swallowed_rows(path, cell, csv.encoding)
            last = table if table.num_rows else last
            if batch is None and ends_in_line_breaks(last) and (unclosed := open_quote(path)):
                raise unclosed
            table = table.select(kept) if included != names else table
            pending.append(table)
            pending_rows += table.num_rows
            while pending_rows >= chunk_rows:
                table = pa.concat_tables(pending)
                yield ragged.frame(table.slice(0, chunk_rows), repeated, blank)
                yielded = True
                rest = table.slice(chunk_rows)
                pending, pending_rows = [rest], rest.num_rows
        if pending_rows or not yielded:
            yield ragged.frame(pa.concat_tables(pending), repeated, blank)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ragged.refusal(path) or _csv_error(path, error, names, csv) from None
    finally:  # the reader first: it may read ahead from the file on a thread of its own
        if reader is not None:
            reader.close()
        source.close()


def _parse_options(sep: str, on_ragged: Any) -> Any:
    import pyarrow.csv as pa_csv

    return pa_csv.ParseOptions(
        delimiter=sep, newlines_in_values=True, invalid_row_handler=on_ragged
    )


class _RaggedRows:
    """Rows whose number of fields is not the header's: Arrow's reader skips them (this is
    its ``invalid_row_handler``), and :meth:`put_back` puts them back between the good rows
    at their place in the file, so every row after one keeps its true source row."""

    def __init__(self, sep: str, names: list[str]) -> None:
        self.sep, self.width, self.names = sep, len(names), names
        self.reason_column = _unused_name("__lifecycle_ragged", names)
        self.waiting: list[tuple[int, str]] = []  # (0-based data row, text), in file order
        self.put = 0  # ragged rows put back so far (all before the good rows to come)
        self.good = 0  # good rows read so far
        self.run_too_long: tuple[int, int] | None = None  # (its first row, fields)
        self.header_runs = False  # a space-separated header with runs of spaces

    def __call__(self, row: Any) -> str:
        if row.number is None:  # no place to put it back: the file is refused naming it
            return "error"
        if len(self.waiting) >= RAGGED_RUN_LIMIT:
            self.run_too_long = (self.waiting[0][0] + 1, row.actual_columns)
            return "error"
        self.waiting.append((row.number - 2, row.text))  # the header is row 1
        return "skip"

    def put_back(self, batch: Any) -> Any:
        """``batch`` (good rows; None at the end) with the ragged rows that come before the
        next good row in place, and a column of their reasons (null for the good rows)."""
        import numpy as np
        import pyarrow as pa

        rows = batch.num_rows if batch is not None else 0
        ordinals = np.arange(self.good, self.good + rows)
        self.good += rows
        # a ragged row waiting is preceded by its position minus the ragged rows before it
        good_before = np.array([row for row, _ in self.waiting], dtype=np.int64) - (
            self.put + np.arange(len(self.waiting))
        )
        due = len(self.waiting) if batch is None else int((good_before <= self.good).sum())
        places = ordinals + self.put + np.searchsorted(good_before, ordinals, side="right")
        good = pa.Table.from_batches([batch]) if batch is not None else None
        if good is not None:
            good = good.append_column(self.reason_column, pa.nulls(rows, pa.string()))
        if not due:
            return good if good is not None else self._table([])
        back, self.waiting = self.waiting[:due], self.waiting[due:]
        self.put += due
        bad = self._table(back)
        if good is None:
            return bad
        order = np.argsort(np.concatenate([places, [row for row, _ in back]]), kind="stable")
        return pa.concat_tables([good, bad]).take(order)

    def _table(self, rows: list[tuple[int, str]]) -> Any:
        import pyarrow as pa

        cells: list[list[str]] = [[] for _ in self.names]
        reasons = []
        for _, text in rows:
            fields = next(csv_text.reader(io.StringIO(text, newline=""), delimiter=self.sep), [])
            reasons.append(EXTRA_FIELDS if len(fields) > self.width else MISSING_FIELDS)
            # the cells as the file has them: the extra fields stay in the last column
            fields = [*fields[: self.width - 1], self.sep.join(fields[self.width - 1 :])]
            fields += [""] * (self.width - len(fields))
            for cell, field in zip(cells, fields, strict=True):
                cell.append(field)
        data = {n: pa.array(cell, pa.string()) for n, cell in zip(self.names, cells, strict=True)}
        return pa.table({**data, self.reason_column: pa.array(reasons, pa.string())})

    def frame(self, table: Any, repeated: list[str], blank: list[str]) -> pd.DataFrame:
        """A chunk as a frame, its ragged rows named by their offset in it."""
        reasons = table.column(self.reason_column).to_pylist()
        frame = _with_repeated(table.drop_columns([self.reason_column]).to_pandas(), repeated)
        if blank := [name for name in blank if name in frame.columns]:
            frame.attrs[BLANK_NAMED] = blank
        ragged = {offset: reason for offset, reason in enumerate(reasons) if reason}
        if ragged:
            frame.attrs[RAGGED_ROWS] = ragged
        if self.header_runs or (self.sep == " " and EXTRA_FIELDS in ragged.values()):
            frame.attrs[SPACE_RUNS] = True  # a refusal then says how to read it
        return frame

    def refusal(self, path: Path) -> ContractError | None:
        if self.run_too_long is None:
            return None
        first, fields = self.run_too_long
        return ContractError(
            f"{path}: {RAGGED_RUN_LIMIT:,} rows in a row from data row {first:,} on have "
            f"another number of fields than the header's {self.width} (e.g. {fields}): is the "
            f"header this file's, and the separator right{option_hint(' (--delimiter)')}?"
        )


def _unused_name(name: str, taken: list[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _with_repeated(frame: pd.DataFrame, repeated: list[str]) -> pd.DataFrame:
    if repeated:
        frame.attrs[REPEATED_COLUMNS] = repeated
    return frame


def encoding_hint(option: str = "--encoding", shown: str | None = None) -> str:
    """The way to name a file's encoding; ``shown``: its first line not UTF-8, bytes escaped.
    A byte 0x80-0x9F is a control character in latin-1, which refuses it in turn: such a
    byte of Windows' Western text (Excel's CSV, a `€` 0x80) names cp1252 alone."""
    if shown and (found := re.search(r"\\x([89][0-9a-f])", shown)):
        byte = int(found.group(1), 16)
        try:
            char = bytes([byte]).decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: no cp1252 character
            char = None
        if char is not None:
            return (
                f"its byte 0x{byte:02x} is '{char}' in Windows' Western text (as Excel saves a "
                f"CSV): give {option} cp1252 (latin-1 reads it as a control character)"
            )
    return f"give the file's encoding with {option} (e.g. {option} latin-1 or cp1252)"


def _csv_error(path: Path, error: Exception, names: list[str], csv: CsvFormat) -> ValueError:
    """Arrow's parse error, with the line it is about when the message quotes one, or the
    column (by its header name) that is not text in the file's encoding."""
    message = str(error)
    bad_text = re.search(r"CSV column #(\d+): .*invalid UTF8", message)
    if bad_text and int(bad_text.group(1)) < len(names):
        column = int(bad_text.group(1))
        delimiter = csv.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
        found_line = first_line_not_utf8(path, (delimiter, column)) or first_line_not_utf8(path)
        where = f" (line {found_line[0]:,} reads '{found_line[1]}')" if found_line else ""
        return ContractError(
            f"{path}: column '{names[column]}' is not UTF-8 text{where}; "
            + option_hint(
                encoding_hint(csv.option("encoding"), found_line[1] if found_line else None),
                "save the file as UTF-8",
            )
        )
    if "straddling object straddles" in message:  # Arrow's words for a row over a block
        return row_too_long(path, CSV_BLOCK_BYTES)
    found = re.search(r"Expected \d+ columns, got \d+: (.*)$", message, re.DOTALL)
    # the rows out of line with the header are skipped, but for one Arrow could not decode
    utf8 = codecs.lookup(csv.encoding).name == "utf-8"
    if found and utf8 and (line := first_line_not_utf8(path)):
        return ContractError(
            f"{path}: line {line[0]:,} is not UTF-8 text (it reads '{line[1]}'); "
            + option_hint(encoding_hint(csv.option("encoding"), line[1]), "save the file as UTF-8")
        )
    line = line_number(path, found.group(1)) if found else None
    return ValueError(message + (f" (line {line:,})" if line else ""))


def _unique_names(names: list[str]) -> list[str]:
    """Names as pandas gives them: a repeated one with a suffix (a, a.1), a blank one (a
    header ending with a separator) ``Unnamed: N`` by its place (SQL has no empty name)."""
    seen: Counter[str] = Counter()
    unique = []
    for i, name in enumerate(names):
        name = name if name.strip() else f"Unnamed: {i}"
        unique.append(f"{name}.{seen[name]}" if seen[name] else name)
        seen[name] += 1
    return unique


def read_table(path: Path | str) -> pd.DataFrame:
    """A whole (small) file in one frame: the chunks of :func:`read_chunks`, concatenated."""
    return pd.concat(list(read_chunks(path)))
