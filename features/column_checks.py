"""A file's columns checked before its rows: the mapped columns present (a near name offered
as its --map), a contract column named twice in the header, or named while the mapping takes
it from another column: each refused in one line naming the file and the way on."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from features import contract as c
from features.contract import ContractError
from features.hints import mapping_candidates

REPEATED_COLUMNS = "repeated_columns"  # a raw frame's attrs key: names its header repeats
# a raw frame's attrs key: read with --delimiter ' ', its fields look aligned by runs of
# spaces (a blank name between named ones, or rows with more fields than the header)
SPACE_RUNS = "space_runs"
SPACE_RUNS_SAID = "aligned by runs of spaces"  # in the refusal: a second pass adds no more
# A CSV whose header lacks a mapped column is refused from its header and first lines: its
# first rows up to these, read in blocks of these bytes (CDNOW_master.txt read with
# --delimiter ' ', every row ragged, was read whole, 69,659 lines in 16 s, to refuse it)
FIRST_ROWS, FIRST_BYTES = 1_000, 1 << 16


def squeeze_spaces(source: str) -> str:
    """What to run on a file whose fields are aligned by runs of spaces (CDNOW_master.txt):
    --delimiter ' ' reads each further space as an empty field, so the fields shift."""
    squeezed = Path(source).with_name(f"{Path(source).stem}-squeezed.csv")
    return (
        f"make each run of spaces one (tr -s ' ' < {shlex.quote(source)} > "
        f"{shlex.quote(str(squeezed))}) and ingest that file with --delimiter ' '"
    )


def space_runs_refusal(error: ContractError, source: str) -> ContractError:
    """``error`` (a missing column, dates that do not parse, mostly bad rows) of a file read
    with --delimiter ' ' whose fields look aligned by runs of spaces, with the way on."""
    return ContractError(
        f"{error}; its fields look {SPACE_RUNS_SAID} (blank columns between named "
        "ones, or rows with more fields than the header), which --delimiter ' ' does not "
        f"collapse (each further space is an empty field, so fields shift): {squeeze_spaces(source)}",
        ("--delimiter ' '",),
    )


def said_with_space_runs(error: ContractError, space_runs: bool, source: str) -> ContractError:
    """``error``, with the way on where the file's fields look aligned by runs of spaces
    (``space_runs``: :data:`SPACE_RUNS` of a frame read), said once."""
    if not space_runs or SPACE_RUNS_SAID in str(error):  # said once, by a second pass
        return error
    return space_runs_refusal(error, source)


class MissingColumns(ContractError):
    """:func:`require_columns`' refusal; ``missing``: the source names the file lacks."""

    def __init__(self, message: str, options: tuple[str, ...], missing: list[str]) -> None:
        super().__init__(message, options)
        self.missing = missing


def refuse_from_first_lines(path: Path, csv: Any, check: Callable[..., Any], source: str) -> None:
    """A CSV, workbook or JSON lines file ``path`` (``csv``: its ``CsvFormat``) refused before
    its rows are read where its header alone refuses it (``check``, a table's row rules,
    refuses a frame of the header's columns and no rows, as an appended header-only file is
    checked): the refusal the first chunk's check gives, of its first :data:`FIRST_ROWS` rows
    (its hints read their values). JSON lines have no header: a field their first objects
    lack is refused so only when no line of the file names it
    (:func:`features.json_reading.may_hold_fields`). Anything else, or first lines that do
    not read, is left to the full read (a workbook was read whole, and 300,000 JSON lines
    parsed and set aside, to refuse a missing column)."""
    from features.json_reading import JSON_LINES_SUFFIXES, may_hold_fields
    from features.reading import CSV_SUFFIXES, XLSX_SUFFIXES, read_chunks
    from features.table_checks import TableChecks
    from features.xlsx_reading import is_workbook

    name = path.name.lower()
    lines = name.endswith(JSON_LINES_SUFFIXES) and not is_workbook(path)
    if not (name.endswith(CSV_SUFFIXES + XLSX_SUFFIXES) or lines or is_workbook(path)):
        return
    try:
        read = read_chunks(path, FIRST_ROWS, csv, block_bytes=FIRST_BYTES, head=True)
        with closing(read) as frames:
            first = next(frames)
    except (ContractError, ValueError, OSError, EOFError, StopIteration):
        return  # the first lines do not read (a row longer than the block): the full read says
    try:
        check(pd.DataFrame(columns=first.columns), TableChecks())
        return  # the header passes: the rows are the full read's to judge
    except MissingColumns as error:
        if lines and may_hold_fields(path, error.missing):
            return  # a later line may give it: the full read's to say
    except ContractError:
        pass
    try:
        check(first, TableChecks())
    except ContractError as error:
        raise said_with_space_runs(error, bool(first.attrs.get(SPACE_RUNS)), source) from None


def refuse_shadowed_columns(
    raw: pd.DataFrame, columns: dict[str, str], source: str, option: str = "--map"
) -> None:
    """A column named as a contract column that the mapping takes from another column
    (``--users-map signup_time=created`` and a 'signup_time' column too): it was dropped
    without a word; which one is meant is the user's to say."""
    for name, col in columns.items():
        if col != name and name in raw.columns:
            raise ContractError(
                f"{source}: has a column '{name}', and {option} {name}={col} takes {name} "
                f"from '{col}': rename or drop one of them"
            )


def refuse_repeated_columns(raw: pd.DataFrame, columns: dict[str, str], source: str) -> None:
    """A contract column the file's header names twice: which one holds the values is unknown,
    so the file is refused rather than the first one taken (``columns``: contract -> source)."""
    repeated = [col for col in columns.values() if col in raw.attrs.get(REPEATED_COLUMNS, ())]
    if repeated:
        named = ", ".join(
            f"'{col}'" + (f" (for {name})" if name != col else "")
            for name, col in columns.items()
            if col in repeated
        )
        raise ContractError(
            f"{source}: the header has more than one column {named}; expected one: rename or "
            "drop the others"
        )


_GUESSED = (c.USER_ID, c.EVENT_TIME, c.SIGNUP_TIME)  # a column :func:`mapping_candidates` finds


def require_columns(
    raw: pd.DataFrame,
    wanted: dict[str, str],
    source: str,
    hint: str | None = None,
    option: str = "--map",
    note: str = "",
    note_options: tuple[str, ...] = (),
) -> None:
    """Fail fast when a mapped column is absent; ``wanted`` maps contract name -> source name;
    ``hint`` says what to do (an adapter has no --map), else ``option`` maps the file's
    columns (``--users-map`` for a users file); ``note`` ends the message, ``note_options``
    the options it names (``ContractError.options``: then the ones to give)."""
    missing = {name: col for name, col in wanted.items() if col not in raw.columns}
    if missing:
        described = ", ".join(
            f"'{col}'" + (f" (for {name})" if name != col else "") for name, col in missing.items()
        )
        # a column named so but for case and separators (User_ID, 'user id'): its --map
        folded = {_fold(col): str(col) for col in raw.columns}
        near = {name: folded[_fold(col)] for name, col in missing.items() if _fold(col) in folded}
        close = [f"{option} {shlex.quote(f'{name}={col}')}" for name, col in near.items()]
        others = f"{option} CONTRACT=SOURCE"
        mapped = f"Map them with {' '.join(close)}" if close else f"Map other names with {others}"
        options = (*close, *([others] if len(close) < len(missing) else []))
        if hint and near:  # an adapter reads its own names: a renamed one is put back
            renames = ", ".join(f"'{col}' to '{missing[name]}'" for name, col in near.items())
            hint = f"Rename {renames}; {hint}"
        # the user or time column under another name ('Customer No.', 'Order Date'): offered
        unnamed = [n for n in missing if n in _GUESSED and n not in near]
        # not of fields shifted by runs of spaces (CDNOW's: their values are the next column's)
        shifted = bool(raw.attrs.get(SPACE_RUNS))
        guessed = (
            "" if hint or shifted else mapping_candidates(raw, unnamed, wanted.values(), option)
        )
        if len(raw.columns) == 1 and re.search(r"\S\s+\S", str(raw.columns[0])):
            # columns aligned by runs of spaces (CDNOW's): no mapping reads them
            mapped = (
                "It reads as one column whose name holds spaces: if its fields are separated by "
                f"spaces, {squeeze_spaces(source)}"
            )
            options, guessed = ("--delimiter ' '",), ""
        raise MissingColumns(
            f"{source}: missing column {described}; the file has: {', '.join(raw.columns)}. "
            + (hint or mapped)
            + (f"; the others with {others}" if not hint and 0 < len(close) < len(missing) else "")
            + guessed  # the user and time columns first: the event types' note reads them
            + note,
            () if hint else note_options or options,
            [*missing.values()],
        )


def _fold(name: object) -> str:
    """A column's name without case, spaces, _ or - (User_ID, 'user id' and userid agree)."""
    return re.sub(r"[\s_-]", "", str(name)).casefold()
