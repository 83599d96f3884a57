"""Which columns of an appended file the dataset takes: a column new to it (a warehouse's
month adding a nullable one) is added, empty in the dataset's rows before; one that may be a
contract column under another name is refused, naming the way on."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from features import contract as c
from lifecycle.dataset_kind import read_report

COLUMNS_READ_AS = "columns_read_as"  # report note: an append's column -> the dataset's name


def _recorded_maps(old_events: Path) -> dict[str, str]:
    """The dataset's recorded ``--map`` (contract name -> the file's column)."""
    from features.file_shape import dataset_shape

    shape = dataset_shape(read_report(old_events.parent))
    return shape.columns if shape else {}


def _unread(held: list[str], new: list[str]) -> list[str]:
    """The dataset's optional contract columns the file lacks (one of its may be one)."""
    return [n for n in c.EVENT_OPTIONAL if n in held and n not in new]


def other_columns(
    old_events: Path, held: list[str], new: list[str], extra: list[str], source: str
) -> str:
    """Why a file whose events have columns the dataset lacks is refused, and the way on: a
    column the dataset's files were read as one of its own (recorded ``--map``) is read so
    again when its map is given (or left out); a column only this file has, dropped."""
    name = old_events.parent.name
    said = (
        f"{source}: its events have other columns than dataset '{name}' holds (the file "
        f"adds {', '.join(extra)}; the dataset has {', '.join(sorted(held))})"
    )
    maps = [f"{k}={v}" for k, v in _recorded_maps(old_events).items() if v in extra]
    if maps:  # read under another map (given on the command line) than the dataset's
        recorded = " ".join(f"--map {shlex.quote(m)}" for m in maps)
        return (
            f"{said}: the dataset's files were read with {recorded} (recorded with it): give "
            f"the same, or no --map for {', '.join(m.split('=')[0] for m in maps)}, and the "
            "append reads them so"
        )
    # the dataset's optional columns this file lacks: one of the file's may be read as it
    if unread := _unread(held, new):  # renamed in the export, or recorded before maps were
        said += (
            f"; if one of them is the dataset's {' or '.join(unread)}, give its map "
            f"(e.g. --map {unread[0]}=COLUMN)"
        )
    # the whole command: refresh, which appends through here too, has no --replace
    replace = f"`lifecycle ingest {source} --dataset {name} --replace`"
    return (
        f"{said}; else drop them from the file, or, if it holds the whole history, replace "
        f"the dataset with {replace}"
    )


def dataset_spelling(names: Iterable[str], stored_events: Path | None) -> dict[str, str]:
    """The file's columns the dataset an append adds to holds under another spelling of their
    snake-case name (``StockCode`` as an import's ``stock_code``), as guest rows are keyed
    (:func:`features.contract.snake_case`): file name -> the dataset's. Contract columns, a
    name held as written, and a name two columns of the file or of the dataset share keep
    their own (refused then as columns the dataset lacks)."""
    import pyarrow.parquet as pq

    try:
        held = pq.read_schema(stored_events).names if stored_events else []
    except (OSError, ValueError):  # damaged or absent: the merge names it in one line
        held = []
    names = [str(n) for n in names]
    own = [n for n in held if n not in c.EVENT_FIELDS and n not in names]
    new = [n for n in names if n not in c.EVENT_FIELDS and n not in held]
    theirs, ours = Counter(map(c.snake_case, own)), Counter(map(c.snake_case, new))
    spelt = {c.snake_case(n): n for n in own}
    return {
        n: spelt[key]
        for n in new
        if (key := c.snake_case(n)) in spelt and theirs[key] == ours[key] == 1
    }


def columns_read_as_line(spelling: dict[str, str]) -> str:
    """The summary line of an append's columns read as the dataset spells them."""
    read = ", ".join(f"{n} as {held}" for n, held in spelling.items())
    return f"    columns read as the dataset names them: {read}"


def schema_with(schema: Any, fields: list[Any]) -> Any:
    """``schema`` with ``fields`` after its own, its pandas metadata (the staged types) kept
    for its columns: a column new to the dataset is read as its Arrow type gives."""
    import pyarrow as pa

    return pa.schema([*schema, *fields], metadata=schema.metadata)


def not_addable(old_events: Path, held: list[str], new: list[str], extra: list[str]) -> list[str]:
    """The file's columns new to the dataset that an append cannot add: a contract column
    (the dataset's rows would lack what it means), one the dataset's files were read as one
    of their own under a recorded --map, and any while the file lacks an optional contract
    column the dataset has (one of them may be it under another name)."""
    mapped = set(_recorded_maps(old_events).values())
    refused = [n for n in extra if n in c.EVENT_FIELDS or n in mapped]
    return extra if refused or _unread(held, new) else []


def holds_amounts(old_events: Path) -> bool:
    """Whether a dataset's events table holds any amount: read without --amount-default, it
    is money, and an appended file's purchases need theirs; a damaged table is taken as not
    (the merge refuses it in its words)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(old_events).metadata
        at = meta.schema.to_arrow_schema().get_field_index(c.AMOUNT)
        if at < 0:
            return False
        for group in range(meta.num_row_groups):  # its statistics first: every append asks
            stats = meta.row_group(group).column(at).statistics
            if stats is None or not stats.has_null_count:
                amounts = pq.read_table(old_events, columns=[c.AMOUNT]).column(0)
                return amounts.null_count < len(amounts)
            if stats.null_count < meta.row_group(group).num_rows:
                return True
    except (OSError, ValueError, KeyError):
        return False
    return False


def holds_blank_currency(old_events: Path, column: str | None) -> bool:
    """Whether a dataset's currency ``column`` holds an empty cell: rows stored before
    --currency filled an unmapped currency column's blanks (502239b), or without --currency.
    An append leaves its blanks empty there too, so a re-sent row matches its stored one;
    a damaged table is taken as not (the merge refuses it in its words)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if column is None:
        return False
    try:
        cells = pq.read_table(old_events, columns=[column]).column(0).cast("string")
    except (OSError, ValueError, KeyError):
        return False
    return bool(cells.null_count) or bool(
        pc.any(pc.equal(pc.utf8_trim_whitespace(cells), "")).as_py()
    )
