"""Whole-table evidence gathered chunk by chunk: a column's filled and unparseable values,
its dates' orders, its epoch unit, its times with and without a zone, the amounts' currency.

Row rules (:mod:`features.validation`) flag bad rows one chunk at a time; whether a column is
mostly not of its type (then it is the wrong column, not bad rows) is judged here once every
chunk is seen, and such a file is refused with :class:`ContractError` naming the column and
an example row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.contract import ContractError
from features.currency import AmountCurrency
from features.date_orders import DateOrders
from features.hints import epoch_timestamps
from features.parsing import as_text
from features.quarantine import RAGGED_ROWS
from features.read_words import DAY_FIRST, EITHER_ORDER, MONTH_FIRST
from features.time_parsing import EPOCH_FORMATS
from lifecycle.errors import offered


def typed(values: pd.Series) -> bool:
    """A column typed as numbers, booleans or times (a Parquet file's), not text: its cells'
    text is pandas' own, never blank, and costs seconds to make (3.6 CPU-s for the demo's
    739,254 event times)."""
    kinds = (pd.api.types.is_numeric_dtype, pd.api.types.is_bool_dtype)
    return pd.api.types.is_datetime64_any_dtype(values) or any(k(values) for k in kinds)


def is_blank(values: pd.Series) -> pd.Series:
    """Cells that are missing or only whitespace (a blank cell is no value, not a bad one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if typed(values):  # its text is pandas' own ('1.5', 'True', '2023-01-01 ...'): never blank
        missing = values.isna().to_numpy()
        return pd.Series(pd.array(missing, dtype="boolean"), index=values.index, name=values.name)
    text = as_text(values)
    # trimmed in Arrow, in one pass: its whitespace is Python's (tests/test_validation.py)
    empty = pc.equal(pc.utf8_trim_whitespace(pa.array(text)), "")
    blank = pc.fill_null(empty, True).to_numpy(zero_copy_only=False)  # a missing cell too
    return pd.Series(pd.array(blank, dtype="boolean"), index=text.index, name=text.name)


def example_cell(raw: pd.DataFrame, mask: pd.Series, column: str) -> str:
    """The first flagged cell of ``column`` as an error shows it: ``row 7 has amount='x'``."""
    index = mask[mask].index[0]
    value = raw.at[index, column]
    # a Parquet cell is a NumPy scalar: shown as the file's value (True, 1300000000000),
    # not its repr (np.True_, np.int64(1300000000000))
    shown = value.item() if isinstance(value, np.generic) else value
    return f"{c.row_named(raw, index)} has {column}={shown!r}"


@dataclass
class _ColumnEvidence:
    expected: str
    filled: int = 0
    bad: int = 0
    example: str | None = None
    # a time column whose every value is seconds (%s) or milliseconds (%ms) since 1970;
    # False: not every value
    epoch_format: str | bool | None = None
    declared: str | None = None  # the --time-format the column is read with
    first: str | None = None  # its first filled value (what a unit refusal shows)
    also: str = ""  # what the refusal adds (the users file: its options read the events too)
    options: tuple[str, ...] = ()  # the options ``expected`` tells to give (ContractError's)
    # times read with their own offset or zone, and without one: [count, first example]
    zoned: list[Any] = field(default_factory=lambda: [0, None])
    zoneless: list[Any] = field(default_factory=lambda: [0, None])


class TableChecks:
    """Whole-table evidence gathered chunk by chunk: whether a column is mostly not of its
    type (then it is the wrong column, not bad rows), judged once every chunk is seen."""

    def __init__(self, dates_read_as: dict[str, dict[str, Any]] | None = None) -> None:
        self.columns: dict[str, _ColumnEvidence] = {}
        self.notes: dict[str, Any] = {}  # facts about the whole table for the report
        self.named: dict[str, str] = {}  # contract column -> the file's column read as it
        self.ruled_out: set[str] = set()  # notes a chunk showed false for the whole file
        self.dates = DateOrders(dates_read_as)  # numeric dates: day or month first
        self.money: AmountCurrency | None = None  # the amount column's currency marks

    def add(
        self,
        raw: pd.DataFrame,
        bad: pd.Series,
        column: str,
        expected: str,
        options: tuple[str, ...] = (),
    ) -> _ColumnEvidence:
        filled = ~is_blank(raw[column]) & ~raw.index.isin(list(raw.attrs.get(RAGGED_ROWS, ())))
        hits = (bad & filled).astype(bool)
        evidence = self.columns.setdefault(column, _ColumnEvidence(expected, options=options))
        evidence.filled += int(filled.sum())
        evidence.bad += int(hits.sum())
        if evidence.example is None and hits.any():
            evidence.example = example_cell(raw, hits, column)
        return evidence

    def refuse_ambiguous_dates(self, source: str, reasons: dict[str, int]) -> None:
        """Refuse dates too few of which show the order the others are read in
        (:meth:`DateOrders.refusal`)."""
        refused = self.dates.refusal(source, reasons)
        if refused:
            raise refused

    def refuse_if_mostly_bad(self, source: str, limit: float) -> None:
        """Refuse a column mostly not of its type, one whose dates show both orders, one read
        as epoch seconds (milliseconds) whose every value is of the other unit, or amounts
        written in two currencies (:meth:`AmountCurrency.refusal`)."""
        for column, evidence in self.columns.items():
            unit = evidence.epoch_format
            if evidence.declared in EPOCH_FORMATS and unit in EPOCH_FORMATS:
                words = {"%s": "seconds", "%ms": "milliseconds"}
                raise ContractError(
                    f"{source}: column '{column}' is read with --time-format "
                    f"{evidence.declared} ({words[evidence.declared]} since 1970), but every "
                    f"value looks like {words[str(unit)]} since 1970: use --time-format {unit} "
                    f"({evidence.first})",
                    (f"--time-format {unit}",),
                )
        for column, orders in self.dates.examples.items():
            if {DAY_FIRST, MONTH_FIRST} <= orders.keys():
                forms = {"--time-format": "--time-format (e.g. '%d/%m/%Y')"}
                named = [
                    forms.get(option, f"{option} dayfirst|monthfirst")
                    for option in offered("--time-format", "--date-order")
                ]
                raise ContractError(
                    f"{source}: column '{column}' mixes day-first dates ({orders[DAY_FIRST]}) "
                    f"and month-first dates ({orders[MONTH_FIRST]}); "
                    + (
                        f"name the form with {' or '.join(named)}"
                        if named
                        else "write every date in one order (best as 2024-12-31)"
                    )
                )
        for column, evidence in self.columns.items():
            if evidence.filled and evidence.bad / evidence.filled > limit:
                either = self.dates.rows.get(column, {}).get(EITHER_ORDER, 0)
                unordered = self.dates.unordered(source, column)
                if unordered and either * 2 >= evidence.bad:  # dates, in an order not shown
                    raise unordered
                expected = (
                    epoch_timestamps(evidence.epoch_format)
                    if evidence.epoch_format
                    else evidence.expected
                )
                shown = self.dates.shown(column)
                hint = f"; every date whose order shows is {shown[0]}" if len(shown) == 1 else ""
                options = () if evidence.epoch_format else evidence.options
                if evidence.epoch_format in EPOCH_FORMATS and offered("--time-format"):
                    options = (f"--time-format {evidence.epoch_format}",)
                if hint and offered("--date-order"):
                    options += (f"--date-order {shown[0].replace(' ', '')}",)
                    hint += f": use {options[-1]}"
                raise ContractError(
                    f"{source}: column '{column}' should hold {expected}, but "
                    f"{evidence.bad:,} of {evidence.filled:,} filled values do not parse "
                    f"(e.g. {evidence.example}){hint}"
                    + (evidence.also if offered("--time-format", "--date-order") else ""),
                    options,
                )
        if self.money is not None and (refused := self.money.refusal(source)):
            raise ContractError(refused)
