"""Line-item exports: one row per line item, the order's own fields (customer, date, total)
written on its first row only and blank on the others, as Shopify's orders export writes
them (``Name`` ``#1001`` on every row; ``Email``, ``Created at``, ``Total`` on the first).
Read with the order column as the events' ``order_id``, a row whose user id and time are
blank and whose order was read on an earlier row is one of that order's lines: without an
amount of its own it is set aside as ``line_item_of_order`` (the order counts once, with
its first row's amount), with one (a line's price mapped as the amount) it takes its order's
user and time and is summed into the order. Without that map, such rows were 96% of a
Shopify file quarantined as ``missing_event_time``; the refusal names the order column."""

from __future__ import annotations

import shlex
from typing import Any

import pandas as pd

from features import contract as c
from features.parsing import as_text
from features.quarantine import Quarantine
from features.table_checks import is_blank
from lifecycle.words import counted

LINE_ITEM = "line_item_of_order"  # quarantine reason: not the file's quality (TableRules.not_bad)
LINE_ITEMS_NOTE = "line_items_of_orders"  # report note: {"column", "set_aside", "filled", ...}
ORDER_COLUMN_SEEN = "order_column_unmapped"  # checks.notes, for the refusal: {"column", "rows"}


class OrderLines:
    """The orders read so far in one pass over an events file (a pass starts again at its
    first row), and what was done with their later lines."""

    def __init__(self, mapping: c.ColumnMapping) -> None:
        self.mapping = mapping
        self._orders: dict[str, tuple[Any, Any]] = {}  # order id -> its first row's user, time
        self._folded: set[str] = set()
        self._set_aside = self._filled = 0
        self._unmapped: dict[str, list[int]] = {}  # column -> [lines like, heads unlike, lines]

    def fold(self, raw: pd.DataFrame, bad: Quarantine, notes: dict[str, Any]) -> pd.DataFrame:
        """``raw`` with each later line of an order read before given that order's user and
        time when it has an amount of its own, else flagged :data:`LINE_ITEM`; ``notes`` get
        what was done (:data:`LINE_ITEMS_NOTE`), or an order column left unmapped."""
        if len(raw) and raw.index[0] == 0:  # a pass begins (a second one reads dates so)
            self.__init__(self.mapping)  # type: ignore[misc]
        user, when = self.mapping.source(c.USER_ID), self.mapping.source(c.EVENT_TIME)
        order = self.mapping.source(c.ORDER_ID)
        if user not in raw.columns or when not in raw.columns:
            return raw  # refused by the contract's columns
        lines = is_blank(raw[user]).to_numpy(dtype=bool) & is_blank(raw[when]).to_numpy(dtype=bool)
        if order not in raw.columns:
            self._seek_order_column(raw, lines, {user, when}, notes)
            return raw
        ids = as_text(raw[order]).str.strip()
        named = (ids.notna() & (ids != "")).to_numpy(dtype=bool)
        heads = named & ~is_blank(raw[when]).to_numpy(dtype=bool)
        first_rows = raw.loc[heads, [user, when]].set_axis(["user", "when"], axis=1)
        first_rows = first_rows.assign(key=ids[heads].to_numpy()).drop_duplicates("key")
        first_rows = first_rows[~first_rows["key"].isin(self._orders.keys())]
        pairs = zip(first_rows["user"], first_rows["when"], strict=True)
        known = {**dict(zip(first_rows["key"], pairs, strict=True)), **self._orders}
        # in file order: a line follows its order's first row (here or in an earlier chunk)
        earlier = pd.Series(range(len(raw)), index=raw.index)
        first_head = earlier[heads].groupby(ids[heads].to_numpy()).min()
        head_at = ids.map(first_head).to_numpy(dtype=float)
        read = named & lines & (ids.isin(self._orders.keys()).to_numpy() | (head_at < earlier))
        self._orders = known
        if not read.any():
            return raw
        amount = self.mapping.source(c.AMOUNT)
        priced = (
            ~is_blank(raw[amount]).to_numpy(dtype=bool) if amount in raw.columns else read & False
        )
        aside, filled = read & ~priced, read & priced
        bad.flag(aside, LINE_ITEM)
        self._folded.update(ids[read].tolist())
        self._set_aside += int(aside.sum())
        self._filled += int(filled.sum())
        if filled.any():
            raw = raw.copy()
            for column, part in ((user, 0), (when, 1)):
                values = ids[filled].map(lambda key, part=part: known[key][part])
                raw[column] = raw[column].astype(object)
                raw.loc[filled, column] = values.to_numpy(dtype=object)
        notes[LINE_ITEMS_NOTE] = {
            "column": order,
            "orders": len(self._folded),
            "set_aside": self._set_aside,
            "filled": self._filled,
            "amount": amount if amount in raw.columns else None,
        }
        return raw

    def _seek_order_column(
        self, raw: pd.DataFrame, lines: Any, mapped: set[str], notes: dict[str, Any]
    ) -> None:
        """A column that repeats the row above on rows without user and time and changes on
        the others, as an order id does in a line-item export: kept for the refusal."""
        if not lines.any() or lines.all():
            return
        for name in raw.columns:
            if name in mapped or name in self.mapping.columns.values():
                continue
            text = as_text(raw[name]).str.strip()
            same = (text == text.shift()).fillna(False).to_numpy(dtype=bool)
            seen = self._unmapped.setdefault(str(name), [0, 0, 0, 0])
            seen[0] += int((same & lines).sum())
            seen[1] += int((~same & ~lines)[1:].sum())
            seen[2] += int(lines.sum())
            seen[3] += int((~lines)[1:].sum())
        fits = [
            (seen[0], name)
            for name, seen in self._unmapped.items()
            if seen[0] >= 0.9 * seen[2] and seen[1] >= 0.9 * seen[3]
        ]
        if fits:
            rows, name = max(fits)
            notes[ORDER_COLUMN_SEEN] = {"column": name, "rows": rows}


def order_column_hint(notes: dict[str, Any], reasons: dict[str, int]) -> str:
    """The refusal's end when most bad rows lack a time and a user id and a column repeats
    its order id on them: they are lines of orders written once, read with --map order_id."""
    seen = notes.get(ORDER_COLUMN_SEEN)
    first = next(iter(reasons), "")
    if not seen or first not in (f"missing_{c.EVENT_TIME}", f"missing_{c.USER_ID}"):
        return ""
    option = f"--map order_id={shlex.quote(seen['column'])}"
    return (
        f" {counted(seen['rows'], ('row', 'rows'))} without a user id and a time repeat the "
        f"row above's '{seen['column']}': the line items of an order whose customer, date and "
        f"total are on its first row only (a line-item export, as Shopify's orders export): "
        f"{option} reads them as lines of their order"
    )


def line_items_line(note: dict[str, Any]) -> list[str]:
    """The summary's lines of :data:`LINE_ITEMS_NOTE`."""
    column, out = note["column"], []
    orders = counted(note["orders"], ("order", "orders"))
    if note["set_aside"]:
        out.append(
            f"    {note['set_aside']:,} {LINE_ITEM} rows: line items of {orders} read on an "
            f"earlier row of the same '{column}' (customer, time and amount on the order's "
            "first row only, as Shopify's orders export writes them): each order counted once, "
            + (f"with its '{note['amount']}'" if note["amount"] else "on its first row")
            + "; not counted as bad rows"
        )
    if note["filled"]:
        out.append(
            f"    {note['filled']:,} line items with their own '{note['amount']}' but no "
            f"customer or time were given those of their order ('{column}', first row) and "
            f"summed into it; if '{note['amount']}' is a line's unit price, not its amount, "
            "map the order's total as the amount (--map amount=Total)"
        )
    return out
