"""What a CSV file's lines say where the reader cannot: the quote that never closes, the row
too long for a block, the first line that is not UTF-8, the line a parse error quotes.
These scan the file line by line, only once a read has gone wrong (or looks so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from features.validation import ContractError


def open_binary(path: Path) -> Any:
    """A plain Python file for Arrow's CSV reader: given a path, Arrow reads far ahead of the
    parser (most of a large file in memory at once); a Python file is read as parsed."""
    import gzip

    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def ends_in_line_breaks(table: Any) -> bool:
    """Whether the last row of an Arrow ``table`` has a cell holding a line break, as the
    cell of a quote never closed does: Arrow takes the rest of the file as that cell, without
    a word, when it fits in a block."""
    if table is None or not table.num_rows:
        return False
    row = table.slice(table.num_rows - 1)
    return any(
        isinstance(value, str) and ("\n" in value or "\r" in value)
        for column in row.columns
        for value in column.to_pylist()
    )


def open_quote(path: Path) -> ContractError | None:
    """The refusal of a file whose last quote never closes, naming the line it opens on
    (a quote inside a cell is written "", so a line with an odd count opens or closes one)."""
    opened: tuple[int, str] | None = None
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            if line.count(b'"') % 2:
                opened = None if opened else (number, _shown(line))
    return _never_closes(path, opened) if opened else None


def row_too_long(path: Path, block_bytes: int) -> ContractError:
    """A row the reader cannot take, longer than its block (``block_bytes``): most often a
    quote opened and never closed, which makes the rest of the file one cell; named by its
    lines."""
    limit = f"{block_bytes / (1 << 20):g} MB"
    opened: tuple[int, str] | None = None  # the line of the quote still open, and its text
    size = 0  # bytes of the quoted cell so far
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            size += len(line)
            if not line.count(b'"') % 2:
                if opened is None and len(line) > block_bytes:
                    return ContractError(
                        f"{path}: line {number:,} is longer than {limit}, more than the "
                        "reader takes in one row; is a cell holding a whole document?"
                    )
                continue
            if opened is None:
                opened, size = (number, _shown(line)), len(line)
            elif size > block_bytes:
                return ContractError(
                    f"{path}: the quoted cell of lines {opened[0]:,} to {number:,} is longer "
                    f"than {limit}, more than the reader takes in one row"
                )
            else:
                opened = None
    if opened is not None:
        return _never_closes(path, opened)
    return ContractError(f"{path}: a row is longer than {limit}, more than the reader takes")


def _shown(line: bytes) -> str:
    return line.rstrip(b"\r\n").decode("utf-8", errors="replace")[:60]


def _never_closes(path: Path, opened: tuple[int, str]) -> ContractError:
    return ContractError(
        f"{path}: the quote opened on line {opened[0]:,} ({opened[1]!r}) never closes, "
        "making the rest of the file one cell: close it, or remove the stray quote (a "
        'quote inside a cell is written "")'
    )


def first_line_not_utf8(path: Path) -> tuple[int, str] | None:
    """The first line (header = line 1) that is not UTF-8, shown with its bytes escaped: a
    file of millions of rows with one such row is refused, and says where."""
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                shown = line.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
                return number, shown if len(shown) <= 80 else shown[:77] + "..."
    return None


def line_number(path: Path, text: str) -> int | None:
    """The 1-based line of the file (header = line 1) that reads ``text``, for errors."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            if line.rstrip("\r\n") == text:
                return number
    return None
