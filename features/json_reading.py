"""Reading JSON lines (NDJSON), as Segment, Mixpanel, Amplitude and warehouse exports write
events: one object a line, nested objects flattened to dotted names
(``{"properties": {"revenue": 12.5}}`` -> column ``properties.revenue``), so ``--map
amount=properties.revenue`` names a nested field."""

from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from itertools import islice
from pathlib import Path
from typing import IO, Any

import pandas as pd

from features.csv_lines import open_binary
from features.validation import ContractError

_ARRAY = "a JSON array, not JSON lines (one object a line): write one event a line"
_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
JSON_LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # how a lone one gets into a line
_SURROGATE = re.compile("[\ud800-\udfff]")


def _flat(record: dict[str, Any], into: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``record``'s fields with nested objects' fields as ``outer.inner``; a list (a
    purchase's products) is one value, its JSON text (its items may be of any kinds); an
    empty object is no value. A name met twice (``properties.revenue`` as a dotted name and
    as a nested field) raises _NamedTwice: one would overwrite the other."""
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flat(value, into, f"{name}.")
            continue
        if name in into:
            raise _NamedTwice(name)
        into[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value
    return into


class _NamedTwice(Exception):
    """A field name an object gives twice, or twice once flattened."""


def _one_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of ``pairs``; a key repeated (json.loads would keep the last) raises."""
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields:
            raise _NamedTwice(key)
        fields[key] = value
    return fields


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The flattened object of each line that is not blank; a line that is no JSON object
    is refused naming it."""
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, object_pairs_hook=_one_each)
            except _NamedTwice as twice:
                raise ContractError(_named_twice(path, number, str(twice))) from None
            except (ValueError, UnicodeDecodeError) as error:
                start = line.lstrip()[:1]
                what = _ARRAY if number == 1 and start == b"[" else f"not JSON ({error})"
                raise ContractError(f"{path}: line {number:,} is {what}") from None
            if not isinstance(record, dict):
                if number == 1 and isinstance(record, list):  # a whole export as one array
                    raise ContractError(f"{path}: line 1 is {_ARRAY}")
                kind = _JSON_KINDS.get(type(record), "value")
                raise ContractError(
                    f"{path}: line {number:,} is a JSON {kind}, not an object: JSON lines hold "
                    "one event object a line"
                )
            try:
                flat = _flat(record, {})
            except _NamedTwice as twice:
                raise ContractError(_named_twice(path, number, str(twice))) from None
            if _SURROGATE_ESCAPE.search(line):  # a pair (an emoji as ASCII) is one character
                _refuse_lone_surrogate(path, number, flat)
            yield flat


def _refuse_lone_surrogate(path: Path, number: int, flat: dict[str, Any]) -> None:
    """A field (or its name) holding half of a UTF-16 pair, escaped (``"u\\udc80"``: a text
    cut inside an emoji, or bytes of another encoding escaped): no UTF-8 text, as a CSV's
    bytes that are not UTF-8 are none, refused naming the line and field, as they are."""
    for name, value in flat.items():
        for text in (name, value):
            if isinstance(text, str) and _SURROGATE.search(text):
                raise ContractError(
                    f"{path}: line {number:,}, field '{_shown(name)}', holds "
                    f"'{_shown(text)[:60]}': half "
                    "of a character (a lone UTF-16 surrogate, as a text cut inside an emoji "
                    "leaves), which is not UTF-8 text; fix the export's text"
                )


def _shown(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode()


def _named_twice(path: Path, number: int, name: str) -> str:
    return (
        f"{path}: line {number:,} gives field {name!r} twice (a key repeated, or a dotted "
        "name beside a nested field of that name): one would silently replace the other; "
        "rename one in the export"
    )


def json_lines_chunks(
    path: Path, chunk_rows: int, spill_dir: Path | None = None
) -> Iterator[pd.DataFrame]:
    """Frames of at most ``chunk_rows`` objects, each value as the JSON gives it (an id 7
    stays 7, never 7.0), every frame with every field any line has (a field a line lacks is
    empty), in the order first met. The file is parsed once: each chunk's fields are spilled
    to a temporary file while the whole file's fields and kinds are learnt, then read back,
    so memory holds one chunk (parsing twice doubled the time of a pass). The spill goes to
    ``spill_dir`` (ingest's staging, in the workspace), else beside the file where that can
    be written: not the system's temporary folder (personal data outside the workspace, on
    a RAM-backed /tmp all in memory)."""
    folder = spill_dir or (path.parent if os.access(path.parent, os.W_OK) else None)
    kinds: dict[str, set[str]] = {}  # a field met late is a column of every chunk
    with spill_file(folder) as spill:
        spilled = 0
        for rows in _in_chunks(_records(path), chunk_rows):
            names: dict[str, None] = {}
            for record in rows:
                for name, value in record.items():
                    kinds.setdefault(name, set()).add(_kind(value))
                    names[name] = None
            columns = {name: [record.get(name) for record in rows] for name in names}
            with spilling(folder):
                pickle.dump((len(rows), columns), spill, pickle.HIGHEST_PROTOCOL)
            spilled += 1
        if not kinds:
            raise pd.errors.EmptyDataError(f"{path}: no JSON object")
        # a field of numbers in some lines and text (or true/false) in others: all as text
        as_text = {name for name, seen in kinds.items() if len(seen - {"null"}) > 1}
        with spilling(folder):
            spill.seek(0)
        for _ in range(spilled):
            yield _frame(*pickle.load(spill), list(kinds), as_text)


def first_records(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """One frame of the file's first ``rows`` objects, read as :func:`json_lines_chunks`
    reads them (their fields only: a field met later is not a column): what a refusal from
    the first lines reads, without parsing the rest (300,000 lines were parsed and set aside
    to refuse a missing column)."""
    with closing(_records(path)) as records:
        first = list(islice(records, rows))
    if not first:
        raise pd.errors.EmptyDataError(f"{path}: no JSON object")
    kinds: dict[str, set[str]] = {}
    for record in first:
        for name, value in record.items():
            kinds.setdefault(name, set()).add(_kind(value))
    columns = {name: [record.get(name) for record in first] for name in kinds}
    as_text = {name for name, seen in kinds.items() if len(seen - {"null"}) > 1}
    yield _frame(len(first), columns, list(kinds), as_text)


def may_hold_fields(path: Path, names: list[str]) -> bool:
    """Whether a line of the file may give one of ``names`` (dotted: a nested field): the
    text a key of it ends in (``revenue"``, as written or its letters beyond ASCII escaped,
    ``\\u00e4``) is in the file's bytes (a key of ASCII letters escaped, ``\\u0072``, no
    writer seen writes). False is sure (no line names it): a field absent from the first
    lines is refused from them only then; True leaves it to the full read."""
    needles = set()
    for name in names:
        last = name.rsplit(".", 1)[-1]
        for ascii_only in (True, False):
            needles.add(json.dumps(last, ensure_ascii=ascii_only)[1:].encode())
    longest = max(map(len, needles), default=0)
    tail = b""
    with open_binary(path) as lines:
        while piece := lines.read(1 << 22):
            text = tail + piece
            if any(needle in text for needle in needles):
                return True
            tail = text[-longest:]
    return False


def spill_file(folder: Path | None) -> IO[bytes]:
    """A temporary file in ``folder`` (unlinked: nothing is left on disk)."""
    with spilling(folder):
        return tempfile.TemporaryFile(dir=folder)


@contextmanager
def spilling(folder: Path | None) -> Iterator[None]:
    """A write of the spill that fails (a full disk) names its folder, which a command
    says in one line (``lifecycle.cli``), not an unnamed OSError's traceback."""
    try:
        yield
    except OSError as error:
        if error.filename is not None or error.errno is None:
            raise
        where = str(folder or tempfile.gettempdir())
        raise SpillFailed(error.errno, error.strerror, where) from error


class SpillFailed(OSError):
    """The spill could not be written (its folder is the filename): no fault of the file."""


def _in_chunks(
    records: Iterator[dict[str, Any]], chunk_rows: int
) -> Iterator[list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for record in records:
        rows.append(record)
        if len(rows) == chunk_rows:
            yield rows
            rows = []
    if rows:
        yield rows


def _kind(value: Any) -> str:
    """A value's JSON kind (``_JSON_KINDS``: a boolean is no number)."""
    return "null" if value is None else _JSON_KINDS.get(type(value), "value")


def _frame(
    rows: int, columns: dict[str, list[Any]], names: list[str], as_text: set[str]
) -> pd.DataFrame:
    """The values as Python gives them (object columns): no column guessed another type; a
    column of several kinds as text (``1``, ``pro``, ``true``: JSON's own text of each); a
    field no object of the chunk has, empty."""

    def text(found: Any) -> Any:
        return found if found is None or isinstance(found, str) else json.dumps(found)

    frame = {}
    for name in names:
        values = columns.get(name) or [None] * rows
        if name in as_text:
            values = [text(found) for found in values]
        frame[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(frame)
