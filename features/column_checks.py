"""A file's columns checked before its rows: the mapped columns present (a near name offered
as its --map), a contract column named twice in the header, or named while the mapping takes
it from another column: each refused in one line naming the file and the way on."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd

from features.contract import ContractError

REPEATED_COLUMNS = "repeated_columns"  # a raw frame's attrs key: names its header repeats
# a raw frame's attrs key: read with --delimiter ' ', its fields look aligned by runs of
# spaces (a blank name between named ones, or rows with more fields than the header)
SPACE_RUNS = "space_runs"
SPACE_RUNS_SAID = "aligned by runs of spaces"  # in the refusal: a second pass adds no more


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
        if len(raw.columns) == 1 and re.search(r"\S\s+\S", str(raw.columns[0])):
            # columns aligned by runs of spaces (CDNOW's): no mapping reads them
            mapped = (
                "It reads as one column whose name holds spaces: if its fields are separated by "
                f"spaces, {squeeze_spaces(source)}"
            )
            options = ("--delimiter ' '",)
        raise ContractError(
            f"{source}: missing column {described}; the file has: {', '.join(raw.columns)}. "
            + (hint or mapped)
            + (f"; the others with {others}" if not hint and 0 < len(close) < len(missing) else "")
            + note,
            () if hint else note_options or options,
        )


def _fold(name: object) -> str:
    """A column's name without case, spaces, _ or - (User_ID, 'user id' and userid agree)."""
    return re.sub(r"[\s_-]", "", str(name)).casefold()
