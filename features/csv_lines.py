"""What a CSV file's lines say where the reader cannot: the quote that never closes, the row
too long for a block, the first line that is not UTF-8, the line a parse error quotes.
These scan the file line by line, only once a read has gone wrong (or looks so)."""

from __future__ import annotations

import io
import re
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, NamedTuple

from features.validation import ContractError

GZIP_MAGIC = b"\x1f\x8b"  # the first bytes of a gzip file
ZIP_MAGIC = b"PK\x03\x04"  # and of a zip archive


def open_binary(path: Path) -> Any:
    """A plain Python file for Arrow's CSV reader: given a path, Arrow reads far ahead of the
    parser (most of a large file in memory at once); a Python file is read as parsed. A
    ``.gz`` file is unpacked as read, and so is the one file of a ``.zip`` archive."""
    import gzip

    name = path.name.lower()
    if name.endswith(".gz") or starts_with(path, GZIP_MAGIC):
        return gzip.open(path, "rb")
    if not name.endswith(".zip") and not starts_with(path, ZIP_MAGIC):
        return path.open("rb")
    with _zip_archive(path) as archive:  # the member keeps the file open until closed
        return io.BufferedReader(_ZipMember(archive.open(_zip_member(path, archive))))


def starts_with(path: Path, magic: bytes) -> bool:
    """Whether a file starts as gzip (zip) does, whatever its name (an export gzipped or
    zipped and named orders.csv was refused 'name it .csv.gz'): no text starts with those
    bytes, so it is unpacked as read, as a .csv.gz (.zip of one CSV) is."""
    if not path.is_file():
        return False
    with path.open("rb") as source:
        return source.read(len(magic)) == magic


def arrow_source(path: Path) -> Any:
    """:func:`open_binary` for Arrow's CSV reader, closed only once no read of Arrow's
    read-ahead thread is under way: a refusal raised while one ran let the process exit
    beneath it, which aborted it ('terminate called without an active exception', about
    one run in ten of a .gz or .zip refused mid-file)."""
    return SettledReads(open_binary(path))


class SettledReads:
    """A binary file whose ``close`` waits (a few seconds at most) until no read has run
    for a moment: reads come from Arrow's thread while the caller closes. Once a read has
    found the end of the file no more come, and it closes at once (the wait, ~35 ms a file,
    had been a sixth of an append test's time); a read after ``close`` finds the end."""

    QUIET_SECONDS = 0.05
    WAIT_SECONDS = 5.0

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._reading = 0
        self._last = time.monotonic()
        self._ended = False
        self._lock = threading.Lock()

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            if self._raw.closed:
                return b""
            self._reading += 1
        ended = False
        try:
            data = self._raw.read(size)
            ended = size != 0 and not data  # the end, read (a failed read is no end)
            return data
        finally:
            with self._lock:
                self._reading -= 1
                self._last = time.monotonic()
                self._ended = self._ended or ended

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._raw.tell()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def close(self) -> None:
        deadline = time.monotonic() + self.WAIT_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                quiet = time.monotonic() - self._last >= self.QUIET_SECONDS
                if not self._reading and (self._ended or quiet):
                    self._raw.close()
                    return
            time.sleep(0.01)
        with self._lock:
            self._raw.close()

    def __enter__(self) -> SettledReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_text(path: Path, encoding: str) -> Any:
    """The file's text as lines, with line ends as written (``.gz`` and ``.zip`` unpacked)."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace", newline="")


def text_name(path: Path) -> str:
    """The name that tells what the text is (``orders.tsv`` of ``orders.zip``), lower case."""
    if not path.name.lower().endswith(".zip") and not starts_with(path, ZIP_MAGIC):
        return path.name.lower()
    with _zip_archive(path) as archive:
        return _zip_member(path, archive).lower()


class _ZipMember(io.RawIOBase):
    """A zip archive's file whose damaged data fails as an OSError, as a damaged .gz's does
    (zipfile raises zlib.error or BadZipFile), so readers name the file in one line."""

    def __init__(self, member: Any) -> None:
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import zipfile
        import zlib

        try:
            data = self._member.read(len(buffer))
        except (zlib.error, zipfile.BadZipFile) as error:
            raise OSError(f"damaged zip archive: {error}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()


def _zip_archive(path: Path) -> Any:
    """The zip archive at ``path``; one that is not (or not whole) is refused in one line."""
    import zipfile

    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ContractError(
            f"{path}: not a whole zip archive ({error}): copy or download it whole again"
        ) from None


def _zip_member(path: Path, archive: Any) -> str:
    """The one file a zip archive holds (a Mac's __MACOSX folder and hidden files aside);
    an archive of none, several, or one that is no CSV is refused naming what it holds."""
    members = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not Path(info.filename).name.startswith(".")
    ]
    shown = ", ".join(members[:5]) + (f" and {len(members) - 5:,} more" if len(members) > 5 else "")
    if len(members) != 1:
        raise ContractError(
            f"{path}: a zip archive of {len(members):,} files ({shown or 'none'}); expected one "
            "CSV file in it: unzip it and give the file to read"
        )
    if not members[0].lower().endswith((".csv", ".tsv", ".txt")):
        raise ContractError(
            f"{path}: a zip archive holding {members[0]}, not a CSV file (.csv, .tsv or .txt): "
            "unzip it and give that file"
        )
    return members[0]


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
    with open_binary(path) as raw:
        number = 0
        while (line := _line(raw)) is not None:
            number += 1
            if line.quotes % 2:
                opened = None if opened else (number, _shown(line.head))
    return _never_closes(path, opened) if opened else None


def swallowed_cell(table: Any, names: list[str], sep: str) -> str | None:
    """The first cell of an Arrow ``table`` that spans lines each reading as a whole row of
    the file (a separator for every field of the header): a stray quote closed by another on
    a later line takes the rows between into one cell, and a quote count's parity cannot
    tell (the closing line may hold an even number). None for a file of one column."""
    import pyarrow.compute as pc

    if len(names) < 2:  # every line a row: nothing tells a stray quote from a cell's lines
        return None
    for name, column in zip(table.schema.names, table.columns, strict=True):
        if name not in names:  # a column of our own (the reasons of rows put back)
            continue
        if not _holds_line_break(column):  # a normal file: one memchr over its bytes
            continue
        breaks = pc.or_(pc.match_substring(column, "\n"), pc.match_substring(column, "\r"))
        at = names.index(name)  # the separators before it on the line its cell ends on
        for cell in column.filter(breaks).to_pylist():
            pieces = cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            whole = any(piece.count(sep) >= len(names) - 1 for piece in pieces[1:-1])
            # both the line it opens on and the one it closes on hold a whole row's fields
            # (a cell of lines of text, even with a comma, seldom makes both)
            opens = pieces[0].count(sep) >= len(names) - 1 - at
            if whole or (opens and pieces[-1].count(sep) >= at):
                return cell
    return None


def _holds_line_break(column: Any) -> bool:
    """Whether the bytes of a string column's cells hold a line break (or, rarely, those of
    cells sliced off it: the caller then looks cell by cell)."""
    for chunk in column.chunks:
        data = chunk.buffers()[2]  # validity, offsets, the cells' bytes
        if data is not None and (b"\n" in (text := data.to_pybytes()) or b"\r" in text):
            return True
    return False


def swallowed_rows(path: Path, cell: str, encoding: str) -> ContractError:
    """The refusal of a file whose quoted ``cell`` took in lines that read as rows, naming
    the lines it spans (found by their text, quotes aside: the reader unescaped them)."""
    pieces = cell.replace('"', "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    window: deque[str] = deque(maxlen=len(pieces))  # the last lines read, as many as pieces
    opened = None
    with open_binary(path) as raw:
        for number, line in enumerate(raw, start=1):
            window.append(line.decode(encoding, errors="replace").rstrip("\r\n"))
            lines = [text.replace('"', "") for text in window]
            if (
                len(lines) == len(pieces)
                and lines[0].endswith(pieces[0])
                and lines[1:-1] == pieces[1:-1]
                and lines[-1].startswith(pieces[-1])
            ):
                opened = number - len(pieces) + 1, window[0][:60]
                break
    if opened is None:  # the cell runs to the end of the file, or its text is not the lines'
        return open_quote(path) or ContractError(
            f"{path}: a quoted cell ({cell[:60]!r}) takes in lines that read as rows of their "
            'own: remove the stray quote (a quote inside a cell is written "")'
        )
    where = (
        f"the quote opened on line {opened[0]:,} ({opened[1]!r}) closes only on line "
        f"{number:,}, making lines {opened[0]:,} to {number:,} one cell (a row each, by "
        "their separators)"
    )
    return ContractError(
        f'{path}: {where}: remove the stray quote (a quote inside a cell is written "")'
    )


def row_too_long(path: Path, block_bytes: int) -> ContractError:
    """A row the reader cannot take, longer than its block (``block_bytes``): most often a
    quote opened and never closed, which makes the rest of the file one cell; named by its
    lines. Read a block at a time: a 1 MB .gz unpacking to one line of a gigabyte is refused
    once the line passes the block, never held whole."""
    limit = f"{block_bytes / (1 << 20):g} MB"
    opened: tuple[int, str] | None = None  # the line of the quote still open, and its text
    size = 0  # bytes of the quoted cell so far
    with open_binary(path) as raw:
        number = 0
        while (line := _line(raw, block_bytes, stop_past=opened is None)) is not None:
            number += 1
            size += line.length
            if opened is None and line.length > block_bytes:  # whatever its quotes hold
                return ContractError(
                    f"{path}: line {number:,} is longer than {limit}, more than the "
                    "reader takes in one row; is a cell holding a whole document?"
                )
            if not line.quotes % 2:
                continue
            if opened is None:
                opened, size = (number, _shown(line.head)), line.length
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


class _Line(NamedTuple):
    head: bytes  # its first bytes, to show
    length: int  # its bytes, line end included (at least this many, once past ``stop_past``)
    quotes: int  # its double quotes


def _line(raw: Any, piece_bytes: int = 1 << 20, stop_past: bool = False) -> _Line | None:
    """The next line of a binary file, read ``piece_bytes`` at a time (None at the end): a
    line of a gigabyte is counted, never held. ``stop_past``: stop once it passes
    ``piece_bytes``, the rest unread."""
    head = piece = raw.readline(piece_bytes + 1)
    if not piece:
        return None
    length, quotes = len(piece), piece.count(b'"')
    while not piece.endswith(b"\n") and not (stop_past and length > piece_bytes):
        if not (piece := raw.readline(piece_bytes)):
            break
        length, quotes = length + len(piece), quotes + piece.count(b'"')
    return _Line(head[:240], length, quotes)


def _shown(line: bytes) -> str:
    return line.rstrip(b"\r\n").decode("utf-8", errors="replace")[:60]


def _never_closes(path: Path, opened: tuple[int, str]) -> ContractError:
    return ContractError(
        f"{path}: the quote opened on line {opened[0]:,} ({opened[1]!r}) never closes, "
        "making the rest of the file one cell: close it, or remove the stray quote (a "
        'quote inside a cell is written "")'
    )


def cut_short(path: Path) -> str:
    """Where a gzip file cut short (a copy or download interrupted) ends, by its whole lines
    (the rows read before the error are not it: the reader reads ahead of what it hands on)."""
    import zlib

    lines = 0
    unpack = zlib.decompressobj(wbits=31)  # gzip
    try:
        with path.open("rb") as raw:
            while block := raw.read(1 << 20):
                while block:
                    lines += unpack.decompress(block).count(b"\n")
                    block = unpack.unused_data  # the next member of a concatenated file
                    if unpack.eof:
                        unpack = zlib.decompressobj(wbits=31)
    except zlib.error:  # damaged, not only cut short: as far as it reads
        pass
    return (
        f"the file is cut short after line {lines:,} (the header is line 1): copy or "
        "download it whole again"
    )


def first_line_not_utf8(path: Path, field: tuple[str, int] | None = None) -> tuple[int, str] | None:
    """The first line (header = line 1) that is not UTF-8, shown with its bytes escaped: a
    file of millions of rows with one such row is refused, and says where. ``field``
    (delimiter, 0-based column): the first whose bytes in that column are not UTF-8, so the
    line quoted beside a column's name is one of that column's (a file with bad bytes in
    three columns quoted another column's line)."""
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            if field is not None and not _field_not_utf8(line, *field):
                continue
            shown = line.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
            return number, shown if len(shown) <= 80 else shown[:77] + "..."
    return None


def _field_not_utf8(line: bytes, delimiter: str, column: int) -> bool:
    import csv

    text = line.rstrip(b"\r\n").decode("latin-1")  # one character per byte
    fields = next(csv.reader([text], delimiter=delimiter), [])
    if column >= len(fields):
        return False
    try:
        fields[column].encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def line_number(path: Path, text: str) -> int | None:
    """The 1-based line of the file (header = line 1) that reads ``text``, for errors."""
    with open_text(path, "utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.rstrip("\r\n") == text:
                return number
    return None


# latin-1's control characters; cp1252's euro sign, dashes, quotes
C1_BYTES = re.compile(rb"[\x80-\x9f]")


def first_c1_byte(path: Path) -> tuple[int, int, bool] | None:
    """The first line (header = line 1) holding a byte 0x80-0x9F, with that byte, and
    whether the whole file is UTF-8 text: in latin-1 those bytes are control characters no
    text holds, so a file that has them is cp1252 (Windows' Western text: an en dash is 0x96, '€'
    0x80) or UTF-8, never latin-1. Read as latin-1 it loaded, its € and dashes controls
    characters in every name and product. None when there is no such byte."""
    import codecs

    found, line, utf8 = None, 1, codecs.getincrementaldecoder("utf-8")()
    with open_binary(path) as source:
        while block := source.read(1 << 20):
            if found is None and (hit := C1_BYTES.search(block)):
                found = (line + block.count(b"\n", 0, hit.start()), block[hit.start()])
            line += block.count(b"\n")
            if utf8 is not None:
                try:
                    utf8.decode(block)
                except UnicodeDecodeError:
                    utf8 = None
            if found is not None and utf8 is None:
                break
    if found is None:
        return None
    if utf8 is not None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = None
    return found[0], found[1], utf8 is not None
