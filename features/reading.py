"""Reading raw tables: CSV (every column as text) or Parquet, in chunks of bounded size,
each frame indexed by its 0-based data row in the file."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.validation import REPEATED_COLUMNS, ContractError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 100_000  # as settings ingest.chunk_rows
CSV_BLOCK_BYTES = 1 << 20  # what the CSV reader parses at once (a row must fit in it); it
# reads some dozens of blocks ahead, so this bounds that read-ahead too
# named in the hint of a 1-column header (a ',' one: a .tsv file written with commas)
OTHER_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: its column separator (None: ',' or, for .tsv, tab) and
    its text encoding, as given with --delimiter and --encoding."""

    delimiter: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ContractError(
                f"--delimiter {self.delimiter!r}: expected one character, e.g. ';' or '|' "
                "(a tab: --delimiter tab)"
            )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ContractError(
                f"--encoding {self.encoding!r}: not a known text encoding; e.g. utf-8, "
                "latin-1, cp1252"
            ) from None

    @classmethod
    def given(cls, delimiter: str | None, encoding: str | None) -> CsvFormat:
        """From the command line's options (``tab`` or ``\\t`` names a tab)."""
        if delimiter in ("tab", "\\t"):
            delimiter = "\t"
        return cls(delimiter, encoding or "utf-8")


def read_chunks(
    path: Path | str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    csv: CsvFormat | None = None,
    columns: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Read a CSV (every column as text, so no value is lost to a guessed type) or Parquet
    file in frames of at most ``chunk_rows`` rows; a frame's index is its 0-based data row
    in the file, so ``index + 1`` is the source row wherever the chunk starts. ``columns``:
    only these (of a CSV)."""
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    if path.is_dir():
        raise ContractError(f"{path}: is a directory, expected a CSV or Parquet file")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        chunks = _parquet_chunks(path, chunk_rows)
    elif name.endswith(CSV_SUFFIXES):
        chunks = _csv_chunks(
            path,
            chunk_rows,
            csv or CsvFormat(),
            "\t" if name.endswith((".tsv", ".tsv.gz")) else ",",
            columns,
        )
    else:
        raise ContractError(
            f"{path}: unknown file type; expected one of {CSV_SUFFIXES + PARQUET_SUFFIXES}"
        )
    rows = 0
    kind = name.rsplit(".", 1)[-1]
    while True:
        try:
            frame = next(chunks)
        except StopIteration:
            break
        except pd.errors.EmptyDataError:
            raise ContractError(f"{path}: file is empty (no header, no rows)") from None
        except ContractError:
            raise
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, EOFError) as error:
            # EOFError: a truncated .gz (click took it for Ctrl-D and printed only 'Aborted!')
            where = f" (after data row {rows:,})" if rows else ""
            raise ContractError(f"{path}: cannot be read as {kind}{where}: {error}") from None
        if frame.empty:
            if rows == 0:
                # a read of some columns (ids) names all of the file's, as the full read does
                header = next(read_chunks(path, 1, csv)).columns if columns else frame.columns
                shown = ", ".join(str(col).strip() for col in header)
                raise ContractError(f"{path}: no data rows (columns: {shown})")
            continue
        names = [str(col).strip() for col in frame.columns]
        # A name the header repeats (a Parquet file can, as a CSV, or once stripped) gets a
        # suffix, as pandas gives it; validation refuses a repeated contract column.
        counts = Counter(names)
        repeated = {*frame.attrs.get(REPEATED_COLUMNS, ()), *(n for n in counts if counts[n] > 1)}
        frame.columns = _unique_names(names)
        if repeated:
            frame.attrs[REPEATED_COLUMNS] = sorted(repeated)
        frame.index = pd.RangeIndex(rows, rows + len(frame))
        rows += len(frame)
        yield frame


def _csv_chunks(
    path: Path, chunk_rows: int, csv: CsvFormat, default_sep: str, columns: list[str] | None
) -> Iterator[pd.DataFrame]:
    """Text columns in frames of ``chunk_rows`` rows, parsed by Arrow's streaming reader: it
    refuses a row with more fields than the header wherever it is (pandas' chunked reader
    silently drops the extra fields of a chunk's first row)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    sep = csv.delimiter or default_sep
    parse = pa_csv.ParseOptions(delimiter=sep)
    encoding = {"encoding": csv.encoding}
    if csv.delimiter is None:
        _refuse_other_separator(path, sep, csv.encoding)
    try:
        with _open_binary(path) as source:
            header = pa_csv.open_csv(
                source, parse_options=parse, read_options=pa_csv.ReadOptions(**encoding)
            ).schema.names
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            raise pd.errors.EmptyDataError(str(error)) from None
        raise _csv_error(path, error, []) from None
    names = _unique_names(header)
    counts = Counter(name.strip() for name in header)
    repeated = sorted(name for name in counts if counts[name] > 1)
    read = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, **encoding)
    if names != header:  # repeated names: ours, like pandas (a, a.1, ...), header skipped
        read = pa_csv.ReadOptions(
            block_size=CSV_BLOCK_BYTES, column_names=names, skip_rows=1, **encoding
        )
    convert = pa_csv.ConvertOptions(
        include_columns=[n for n in names if n.strip() in columns] if columns else [],
        column_types={name: pa.string() for name in names},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    source = _open_binary(path)
    try:
        reader = pa_csv.open_csv(
            source, read_options=read, parse_options=parse, convert_options=convert
        )
        pending: list[Any] = []
        pending_rows = 0
        yielded = False
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield _with_repeated(table.slice(0, chunk_rows).to_pandas(), repeated)
                yielded = True
                rest = table.slice(chunk_rows)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows or not yielded:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield _with_repeated(table.to_pandas(), repeated)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise _csv_error(path, error, convert.include_columns or names) from None
    finally:
        source.close()


def _with_repeated(frame: pd.DataFrame, repeated: list[str]) -> pd.DataFrame:
    if repeated:
        frame.attrs[REPEATED_COLUMNS] = repeated
    return frame


def _open_binary(path: Path) -> Any:
    """A plain Python file for Arrow's CSV reader: given a path, Arrow reads far ahead of the
    parser (most of a large file in memory at once); a Python file is read as parsed."""
    import gzip

    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _refuse_other_separator(path: Path, sep: str, encoding: str) -> None:
    """A header line without ``sep`` but with another usual separator: name it and the option."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding=encoding, errors="replace", newline="") as lines:
        header = lines.readline(1 << 16).lstrip("\ufeff").rstrip("\r\n")
    if sep in header:
        return
    for other, name in OTHER_SEPARATORS.items():
        if other != sep and other in header:
            shown = header if len(header) <= 60 else header[:57] + "..."
            raise ContractError(
                f"{path}: the header line is one column ({shown!r}) holding {name}, not "
                f"{OTHER_SEPARATORS.get(sep, repr(sep))}: if {name} separates the columns, "
                f"give --delimiter {'tab' if other == chr(9) else repr(other)}"
            )


def _csv_error(path: Path, error: Exception, names: list[str]) -> ValueError:
    """Arrow's parse error, with the line it is about when the message quotes one, or the
    column (by its header name) that is not text in the file's encoding."""
    message = str(error)
    bad_text = re.search(r"CSV column #(\d+): .*invalid UTF8", message)
    if bad_text and int(bad_text.group(1)) < len(names):
        return ContractError(
            f"{path}: column '{names[int(bad_text.group(1))]}' is not UTF-8 text; give the "
            "file's encoding with --encoding (e.g. --encoding latin-1 or cp1252)"
        )
    found = re.search(r"Expected \d+ columns, got \d+: (.*)$", message, re.DOTALL)
    line = _line_number(path, found.group(1)) if found else None
    return ValueError(message + (f" (line {line:,})" if line else ""))


def _line_number(path: Path, text: str) -> int | None:
    """The 1-based line of the file (header = line 1) that reads ``text``, for errors."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if line.rstrip("\r\n") == text:
                return number
    return None


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        unique.append(f"{name}.{seen[name]}" if seen[name] else name)
        seen[name] += 1
    return unique


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Row batches as frames with the same dtypes in every chunk: an integer or boolean
    column with a null anywhere in the file is nullable (Int64 / boolean) in every chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ValueError(str(error)) from None
    if file.metadata.num_rows == 0:
        yield file.schema_arrow.empty_table().to_pandas()
        return
    schema = file.schema_arrow
    nullable: set[str] = set()
    metadata = file.metadata
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for i in range(row_group.num_columns):
            column = row_group.column(i)
            stats = column.statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                nullable.add(column.path_in_schema)
    for batch in file.iter_batches(batch_size=chunk_rows):
        frame = batch.to_pandas()
        for name in nullable & set(frame.columns):
            arrow_type = schema.field(name).type
            # nullable types, not float64: an id 7 stays 7, never '7.0'
            exact = "UInt64" if pa.types.is_unsigned_integer(arrow_type) else "Int64"
            if pa.types.is_integer(arrow_type) and frame[name].dtype.kind in "iu":
                frame[name] = frame[name].astype(exact)
            elif pa.types.is_integer(arrow_type) and frame[name].dtype.kind == "f":
                frame[name] = pd.array(batch.column(name).to_pylist(), dtype=exact)
            elif pa.types.is_boolean(arrow_type) and frame[name].dtype == bool:
                frame[name] = frame[name].astype("boolean")
            elif pa.types.is_boolean(arrow_type):
                frame[name] = pd.array(batch.column(name).to_pylist(), dtype="boolean")
        yield frame


def whole_float_columns(
    path: Path,
    columns: list[str],
    csv: CsvFormat | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> list[str]:
    """Of ``columns`` of a CSV, those whose every filled value is an integer written with
    ``.0`` (``18074.0``: pandas writes integer ids so when the column has a null); the file is
    read once more, those columns only. Columns the file lacks are left to validation."""
    from features.parsing import NULL_TOKENS, WHOLE_FLOAT_ID

    path = Path(path)
    if not path.name.lower().endswith(CSV_SUFFIXES) or not columns:
        return []
    whole: dict[str, bool] | None = None  # column -> a filled value seen, all of them 18074.0
    for chunk in read_chunks(path, chunk_rows, csv, columns):
        if whole is None:
            whole = {col: False for col in dict.fromkeys(columns) if col in chunk.columns}
        for col in list(whole):
            text = chunk[col].astype("string[pyarrow]").str.strip()
            filled = text[~text.isin(NULL_TOKENS)]
            if not filled.str.fullmatch(WHOLE_FLOAT_ID).all():
                del whole[col]
            elif len(filled):
                whole[col] = True
        if not whole:
            break
    return [col for col, seen in (whole or {}).items() if seen]


def read_table(path: Path | str) -> pd.DataFrame:
    """A whole (small) file in one frame: the chunks of :func:`read_chunks`, concatenated."""
    return pd.concat(list(read_chunks(path)))
