"""How a CSV file writes its ids and amounts, judged over the whole file before its rows are
checked: forms no row shows alone (``18074.0`` beside ``18074``; ``1.785`` in a column that
groups thousands with a point), decided once so every chunk reads them the same way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.csv_format import CsvFormat
from features.currency import read_marks
from features.parsing import DOT_GROUPED, NULL_TOKENS, WHOLE_FLOAT_ID, number_text
from features.quarantine import TOTALS_LABEL
from features.reading import (
    CSV_SUFFIXES,
    DEFAULT_CHUNK_ROWS,
    RAGGED_ROWS,
    NoDataRows,
    read_chunks,
)
from features.xlsx_reading import is_workbook

# Besides 1.785, what a writer grouping thousands with a point writes: a number under 1000
# with no point, 1.234.567 (only grouped), a decimal comma (12,50; 1.234,50)
_POINT_GROUPER = (
    rf"[+-]?[0-9]{{1,3}}|[+-]?[1-9][0-9]{{0,2}}(?:\.[0-9]{{3}}){{2,}}"
    rf"|{DOT_GROUPED},[0-9]+|[+-]?[0-9]+,[0-9]{{1,2}}"
)


@dataclass
class ColumnForms:
    """What the whole file shows of its id columns and its amount column."""

    # id column -> whether some of its integers are also written plainly (18074 beside 18074.0)
    whole_float_ids: dict[str, bool] = field(default_factory=dict)
    # the amount column groups thousands with a point: 1.785 is 1785, or 1.785; ambiguous
    dot_thousands: bool = False


@dataclass
class _AmountEvidence:
    grouped: bool = False  # a value 1.785: 1785 or 1.785
    grouper: bool = False  # a value of _POINT_GROUPER
    decimal: bool = False  # a value a point-grouping writer never writes (12.5, 0.125, 1500)

    def add(self, filled: pd.Series) -> None:
        grouped = filled.str.fullmatch(DOT_GROUPED).astype(bool)
        grouper = filled.str.fullmatch(_POINT_GROUPER).astype(bool)
        self.grouped |= bool(grouped.any())
        self.grouper |= bool(grouper.any())
        self.decimal |= bool((~grouped & ~grouper).any())


def column_forms(
    path: Path,
    id_columns: list[str],
    amount_column: str | None = None,
    csv: CsvFormat | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ColumnForms:
    """Of a CSV's ``id_columns``, those whose every filled value is an integer and some are
    written with ``.0`` (pandas writes integer ids so when the column has a null), each with
    whether others are written plainly (two exports concatenated); and whether
    ``amount_column`` groups thousands with a point: it writes ``1.785`` and numbers under 1000
    without a point (or ``1.234.567``, ``12,50``) and no decimal point (``12.5``) nor an
    integer of 4 digits (each read as the amount parser reads it: '€1.785' is 1.785). The
    file is read once more, those columns only; columns it lacks are
    left to validation. Any other file (a workbook named .csv too: its cells are typed):
    nothing found."""
    path = Path(path)
    wanted = list(dict.fromkeys([*id_columns, *([amount_column] if amount_column else [])]))
    if not path.name.lower().endswith(CSV_SUFFIXES) or not wanted or is_workbook(path):
        return ColumnForms()
    ids: dict[str, list[bool]] | None = None  # column -> [an 18074.0 seen, an 18074 seen]
    amounts: _AmountEvidence | None = None
    for chunk in _chunks(path, chunk_rows, csv, wanted):
        chunk = chunk.drop(index=list(chunk.attrs.get(RAGGED_ROWS, ())))  # quarantined
        if ids is None:
            ids = {col: [False, False] for col in dict.fromkeys(id_columns) if col in chunk}
            amounts = _AmountEvidence() if amount_column in chunk.columns else None
        for col in list(ids):
            filled = _filled(chunk[col])
            point_zero = filled.str.fullmatch(WHOLE_FLOAT_ID).astype(bool)
            plain = filled.str.fullmatch(r"-?[0-9]+").astype(bool)
            # a header repeated inside the file, a totals line: quarantined, no id of a user
            other = filled[~(point_zero | plain)]
            if not ((other == col) | other.str.fullmatch(TOTALS_LABEL).astype(bool)).all():
                del ids[col]
                continue
            ids[col][0] |= bool(point_zero.any())
            ids[col][1] |= bool(plain.any())
        if amounts is not None:
            # the number as the amount parser reads it: '€1.785' is 1.785, '(950)' is -950
            amounts.add(_filled(number_text(read_marks(chunk[amount_column]).numbers)))
            if amounts.decimal:
                amounts = None
        if not ids and amounts is None:
            break
    return ColumnForms(
        {col: both for col, (point_zero, both) in (ids or {}).items() if point_zero},
        amounts is not None and amounts.grouped and amounts.grouper,
    )


def _chunks(
    path: Path, chunk_rows: int, csv: CsvFormat | None, wanted: list[str]
) -> Iterator[pd.DataFrame]:
    """The file's chunks of ``wanted``; none of a header alone (what reads its rows refuses
    it, or an append finds nothing new in it)."""
    try:
        yield from read_chunks(path, chunk_rows, csv, wanted)
    except NoDataRows:
        return


def _filled(values: pd.Series) -> pd.Series:
    text = values.astype("string[pyarrow]").str.strip()
    return text[~text.isin(NULL_TOKENS)]
