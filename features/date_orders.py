"""How a file writes its numeric dates (01/02/2011: the 1st of February or the 2nd of January),
judged over the whole file.

With ``--date-order auto`` (the default) a date whose order shows (13/01/2011 can only be day
first) is read so, and one that reads either way is held as ``ambiguous_date_order`` while
the evidence is gathered. Once every chunk is seen:

- every date that shows its order shows one, and enough of them (at least ``SHOWN_SHARE`` of
  those that read either way): the file has that order. It is read again with it, and the
  summary says so (``DATES_READ_AS``): a day-first export no longer loses every date up to
  the 12th, nor is any date read the other way;
- too few show it (a 13th among a thousand dates of the first days of months may be a typo):
  refused in one line naming the column and ``--date-order``;
- dates show both orders: refused (``TableChecks.refuse_if_mostly_bad``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd

from features.contract import ContractError
from features.read_words import (
    DAY_FIRST,
    EITHER_ORDER,
    MONTH_FIRST,
)
from features.time_parsing import date_order_evidence
from lifecycle.errors import offered

SHOWN_SHARE = 0.1  # dates showing the order, at least this share of those reading either way


class DateOrders:
    """The date-order evidence of a file's time columns, and the orders a second pass reads
    them with (``read_as``: column -> its ``DATES_READ_AS`` note)."""

    def __init__(self, read_as: dict[str, dict[str, Any]] | None = None) -> None:
        self.examples: dict[str, dict[str, str]] = {}  # column -> order -> an example
        self.rows: dict[str, Counter[str]] = {}  # column -> order -> rows
        self.read_as = read_as or {}

    def order_of(self, column: str, asked: str) -> str:
        """The order to read ``column`` with: the one the whole file showed, where ``auto``
        was asked and a first pass found it."""
        if asked == "auto" and column in self.read_as:
            return str(self.read_as[column]["order"])
        return asked

    def add(
        self,
        raw: pd.DataFrame,
        column: str,
        problem: pd.Series,
        example: Callable[[pd.DataFrame, pd.Series, str], str],
    ) -> None:
        """Count the rows whose numeric date can only be day first, or only month first, and
        those that read either way (``problem``: the column's row problems)."""
        found = self.examples.setdefault(column, {})
        counts = self.rows.setdefault(column, Counter())
        either = (problem == "ambiguous_date_order").fillna(False).astype(bool)
        for order, rows in zip(
            (DAY_FIRST, MONTH_FIRST, EITHER_ORDER),
            (*date_order_evidence(raw[column]), either),
            strict=True,
        ):
            counts[order] += int(rows.sum())
            if order not in found and rows.any():
                found[order] = example(raw, rows, column)

    def shown(self, column: str) -> list[str]:
        """The orders the column's dates showed (two: a mixed file)."""
        return [order for order in self.examples.get(column, {}) if order != EITHER_ORDER]

    def unordered(self, source: str, column: str) -> ContractError | None:
        """Why ``column`` is refused whose dates, mostly held as reading either way, show no
        order at all (the first days of months only: 01/12/2010 .. 12/12/2010): "do not parse"
        said they were not dates. A few such among dates of another form are quarantined."""
        orders = self.examples.get(column, {})
        if self.shown(column) or EITHER_ORDER not in orders:
            return None
        fix = (
            "give --date-order dayfirst or --date-order monthfirst"
            if offered("--date-order")
            else "write every date as 2024-12-31"
        )
        either = self.rows[column][EITHER_ORDER]
        return ContractError(  # two options named: the file's order is for its reader to say
            f"{source}: column '{column}' writes {either:,} dates that read either way (day or "
            f"month first, e.g. {orders[EITHER_ORDER]}) and none that shows its order: {fix}"
        )

    def to_read(self, reasons: dict[str, int]) -> dict[str, dict[str, Any]]:
        """The columns to read again in the one order their dates showed, with the note each
        leaves in the report; none when no date was held as ambiguous."""
        if not reasons.get("ambiguous_date_order"):
            return {}
        found = {}
        for column, orders in self.examples.items():
            shown, counts = self.shown(column), self.rows[column]
            if (
                len(shown) == 1
                and counts[EITHER_ORDER]
                and counts[shown[0]] >= SHOWN_SHARE * counts[EITHER_ORDER]
            ):
                found[column] = {
                    "order": shown[0].replace(" ", ""),
                    "example": orders[shown[0]],
                    "showing": counts[shown[0]],
                    "either_way": counts[EITHER_ORDER],
                    # the file's own, as written: a generic 01/02/2011 read as one of its
                    # rows in a file of '01.12.2010' or of none that day
                    "either_example": orders[EITHER_ORDER],
                }
        return found

    def refusal(self, source: str, reasons: dict[str, int]) -> ContractError | None:
        """Why a column is refused whose dates that show their order all show one but are too
        few to tell the file's, when others read either way: its 01/02 rows are not bad rows
        to quarantine (a day-first file lost every date up to the 12th), nor to be guessed."""
        if not reasons.get("ambiguous_date_order"):
            return None
        for column, orders in self.examples.items():
            shown = self.shown(column)
            if len(shown) == 1 and EITHER_ORDER in orders:
                order = shown[0].replace(" ", "")
                fix = (
                    f"use --date-order {order} to read them all"
                    if offered("--date-order")
                    else "write every date as 2024-12-31"
                )
                counts = self.rows[column]
                dates = "date" if counts[shown[0]] == 1 else "dates"
                return ContractError(
                    f"{source}: column '{column}' writes {counts[shown[0]]:,} {dates} "
                    f"{shown[0]} ({orders[shown[0]]}), too few to tell the file's order: "
                    f"{counts[EITHER_ORDER]:,} read either way (ambiguous_date_order, e.g. "
                    f"{orders[EITHER_ORDER]}): {fix}",
                    (f"--date-order {order}",) if offered("--date-order") else (),
                )
        return None
