"""Line-item exports: one row per line item, the order's own fields (customer, date, total)
written on its first row only and blank on the others, as Shopify's orders export writes
them (``Name`` ``#1001`` on every row; ``Email``, ``Created at``, ``Total`` on the first).
Read with the order column as the events' ``order_id``, a row whose user id or time is
blank and whose order was read on an earlier row is one of that order's lines: without an
amount of its own it is set aside as ``line_item_of_order`` (the order counts once, with
its first row's amount), with one (a line's price mapped as the amount) it takes its order's
user and time and is summed into the order. Without that map, such rows were 96% of a
Shopify file quarantined as ``missing_event_time``; the refusal names the order column."""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.parsing import as_text
from features.quarantine import Quarantine
from features.read_words import LINE_ITEM, LINE_ITEMS_NOTE, REPEATED_TOTALS
from features.table_checks import is_blank
from lifecycle.words import counted

MISSING_AMOUNT = f"missing_{c.AMOUNT}"
ORDER_COLUMN_SEEN = "order_column_unmapped"  # checks.notes, for the refusal: {"column", "rows"}


class OrderLines:
    """The orders read so far in one pass over an events file (a pass starts again at its
    first row), and what was done with their later lines."""

    def __init__(self, mapping: c.ColumnMapping, unpriced: bool = True) -> None:
        self.mapping = mapping
        # a row without an amount is a line of its order when the order's first row has one
        # (not when such rows take a default amount: ``ingest --amount-default``)
        self.unpriced = unpriced
        self._start_pass()

    def _start_pass(self) -> None:
        # order id -> its first row's user, time and whether it has an amount
        self._orders: dict[str, tuple[Any, Any, bool]] = {}
        self._folded: set[str] = set()
        self._set_aside = self._filled = 0
        # of the rows set aside, those that lacked the customer, the time (all lack an amount)
        self._without = {"user": 0, "time": 0}
        # column -> [lines like, heads unlike, lines, heads, lines like with user and time]
        self._unmapped: dict[str, list[int]] = {}

    def fold(self, raw: pd.DataFrame, bad: Quarantine, notes: dict[str, Any]) -> pd.DataFrame:
        """``raw`` with each later line of an order read before given that order's user and
        time when it has an amount of its own, else flagged :data:`LINE_ITEM`; ``notes`` get
        what was done (:data:`LINE_ITEMS_NOTE`), or an order column left unmapped."""
        if len(raw) and raw.index[0] == 0:  # a pass begins (a second one reads dates so)
            self._start_pass()
        user, when = self.mapping.source(c.USER_ID), self.mapping.source(c.EVENT_TIME)
        order = self.mapping.source(c.ORDER_ID)
        if user not in raw.columns or when not in raw.columns:
            return raw  # refused by the contract's columns
        no_user = is_blank(raw[user]).to_numpy(dtype=bool)
        no_time = is_blank(raw[when]).to_numpy(dtype=bool)
        amount = self.mapping.source(c.AMOUNT)
        priced = ~is_blank(raw[amount]).to_numpy(dtype=bool) if amount in raw.columns else None
        # what a later line of an order leaves to its first row
        lines = no_user | no_time | (~priced if priced is not None and self.unpriced else False)
        if order not in raw.columns:
            self._seek_order_column(raw, lines, no_user | no_time, {user, when}, notes)
            return raw
        ids = as_text(raw[order]).str.strip()
        named = (ids.notna() & (ids != "")).to_numpy(dtype=bool)
        # an order's first row (here, or in an earlier chunk) holds its customer and time
        earlier = pd.Series(range(len(raw)), index=raw.index)
        first_at = earlier[named].groupby(ids[named].to_numpy()).min()
        heads = named & (ids.map(first_at).to_numpy(dtype=float) == earlier.to_numpy())
        # looked up one by one: isin(the orders' keys) hashed every order read so far for
        # each chunk (with 300,000 orders held, a 1,000-row chunk took 1.4 s and 13 MB)
        heads[heads] = [key not in self._orders for key in ids[heads]]
        priced = named & False if priced is None else priced
        first_rows = raw.loc[heads, [user, when]].set_axis(["user", "when"], axis=1)
        firsts = zip(first_rows["user"], first_rows["when"], priced[heads], strict=True)
        self._orders.update(zip(ids[heads], firsts, strict=True))
        # a later row lacking what its order's first row holds, or lacking a customer or a
        # time and its amount (on the first row); a guest's line with an amount of its own
        # lacks what the first row lacks too: a guest row, not a line
        # the first rows' fields are looked up for the rows that may be lines only
        maybe = named & lines & ~heads
        if not maybe.any():
            return raw
        firsts = [self._orders.get(key, (None, None, False)) for key in ids[maybe]]
        head_user, head_time, head_priced = np.zeros((3, len(raw)), dtype=bool)
        head_user[maybe] = ~is_blank(pd.Series([g[0] for g in firsts], dtype=object)).to_numpy()
        head_time[maybe] = ~is_blank(pd.Series([g[1] for g in firsts], dtype=object)).to_numpy()
        head_priced[maybe] = [bool(g[2]) for g in firsts]
        lines = (no_user & head_user) | (no_time & head_time)
        lines |= (no_user | no_time) & ~priced
        # the customer and time on every line, the order's total on its first only
        lines |= ~priced & head_priced & self.unpriced
        read = maybe & lines
        if not read.any():
            return raw
        aside, filled = read & ~priced, read & priced
        bad.flag(aside, LINE_ITEM)
        self._folded.update(ids[read].tolist())
        self._set_aside += int(aside.sum())
        self._filled += int(filled.sum())
        self._without["user"] += int((aside & no_user).sum())
        self._without["time"] += int((aside & no_time).sum())
        if filled.any():
            raw = raw.copy()
            for column, part, blank in ((user, 0, no_user), (when, 1, no_time)):
                given = filled & blank
                values = ids[given].map(lambda key, part=part: self._orders[key][part])
                raw[column] = raw[column].astype(object)
                raw.loc[given, column] = values.to_numpy(dtype=object)
        notes[LINE_ITEMS_NOTE] = {
            "column": order,
            "orders": len(self._folded),
            "set_aside": self._set_aside,
            "filled": self._filled,
            "without_user": self._without["user"],
            "without_time": self._without["time"],
            "amount": amount if amount in raw.columns else None,
        }
        return raw

    def _seek_order_column(
        self,
        raw: pd.DataFrame,
        lines: Any,
        bare: Any,
        mapped: set[str],
        notes: dict[str, Any],
    ) -> None:
        """A column that repeats the row above on rows without a user or a time and changes on
        the others, as an order id does in a line-item export: kept for the refusal."""
        if not lines.any() or lines.all():
            return
        for name in raw.columns:
            if name in mapped or name in self.mapping.columns.values():
                continue
            text = as_text(raw[name]).str.strip()
            same = (text == text.shift()).fillna(False).to_numpy(dtype=bool)
            seen = self._unmapped.setdefault(str(name), [0, 0, 0, 0, 0])
            seen[0] += int((same & lines).sum())
            seen[1] += int((~same & ~lines)[1:].sum())
            seen[2] += int(lines.sum())
            seen[3] += int((~lines)[1:].sum())
            seen[4] += int((same & lines & ~bare).sum())
        fits = [
            (seen[0] + seen[1], name)
            for name, seen in self._unmapped.items()
            # most such rows repeat it (an order's first row may lack its customer: a guest's),
            # and nearly every other row starts a new order
            if seen[0] >= 0.8 * seen[2] and seen[1] >= 0.9 * seen[3]
        ]
        if fits:
            name = max(fits)[1]
            seen = self._unmapped[name]
            notes[ORDER_COLUMN_SEEN] = {"column": name, "rows": seen[0], "amount_only": seen[4]}


def order_column_hint(notes: dict[str, Any], reasons: dict[str, int]) -> str:
    """The refusal's end when most bad rows lack a time and a user id and a column repeats
    its order id on them: they are lines of orders written once, read with --map order_id."""
    seen = notes.get(ORDER_COLUMN_SEEN)
    first = next(iter(reasons), "")
    if not seen or first not in (f"missing_{c.EVENT_TIME}", f"missing_{c.USER_ID}", MISSING_AMOUNT):
        return ""
    option = f"--map order_id={shlex.quote(seen['column'])}"
    lacking = "an amount, a user id or a time" if first == MISSING_AMOUNT else "a user id or a time"
    if seen.get("amount_only") == seen["rows"]:  # the customer and time on every line
        layout = "total is on its first row only (a line-item export)"
    else:
        layout = (
            "customer, date and total are on its first row only (a line-item export, as "
            "Shopify's orders export)"
        )
    return (
        f" {counted(seen['rows'], ('row', 'rows'))} without {lacking} repeat the "
        f"row above's '{seen['column']}': the line items of an order whose {layout}: "
        f"{option} reads them as lines of their order"
    )


# at least this many orders of several purchase rows, and this share of them repeating one
# amount on every row, before a file's amounts are read as its orders' totals written on each
# line (a file of line amounts has orders of one price per line now and then, never nearly all)
MIN_ORDERS = 20
SHARE = 0.95
# ... and at most this share of them would repeat one amount by chance, the file's amounts
# dealt to its rows at random: where nearly every purchase has one amount (a shop of one
# price, a count-only log's --amount-default 1) equal amounts on an order's rows say nothing
CHANCE = 0.5


def repeated_totals(con: Any, staged: str, row: str, checks: Any, kept: str | None = None) -> Any:
    """Rows of an order (its order id, else its user and moment) that repeat its first row's
    amount, when nearly every order of several purchase rows does so and few would by
    chance (:data:`CHANCE`): the order's total written on each of its lines (WooCommerce's
    one row per item: ``order_total``), which summed would count each order once a line (26
    times on online_retail's invoices). They are added to ``held_back`` (:data:`LINE_ITEM`,
    the first row kept) and noted. ``kept``: a table of the rows --keep-repeats keeps, each
    a purchase of its own by the user's word, never a line of another."""
    import duckdb
    import numpy as np

    from lifecycle.sql import identifier, literal

    names = {d[0] for d in con.execute(f"SELECT * FROM {staged} LIMIT 0").description}
    if c.AMOUNT not in names:
        return np.array([], dtype=np.int64)
    by = [c.ORDER_ID] if c.ORDER_ID in names else [c.USER_ID, c.EVENT_TIME]
    key = ", ".join(identifier(n) for n in by)
    amount = identifier(c.AMOUNT)
    purchases = (
        f"SELECT * FROM {staged} WHERE {identifier(c.EVENT_TYPE)} = {literal(c.PURCHASE)} "
        f"AND {' AND '.join(f'{identifier(n)} IS NOT NULL' for n in by)} "
        f"AND {row} NOT IN (SELECT source_row FROM held_back)"
        + (f" AND {row} NOT IN (SELECT source_row FROM {kept})" if kept else "")
    )
    # one amount: its least the same as its most (count(DISTINCT) holds each group's amounts
    # and never spilled: 1M orders of two lines ran out of 32MB)
    # (several: each such order's key, whether its rows hold one amount, and its rows)
    try:
        con.execute(
            f"CREATE TEMP TABLE several AS SELECT {key}, min({amount}) = max({amount}) AS "
            f"alike, count(*) AS n FROM ({purchases}) GROUP BY {key} HAVING count(*) > 1"
        )
    except duckdb.OutOfMemoryException:
        # the hash aggregate of 1M order ids ran out of 17MB to 23MB (its table, in memory,
        # grows by 4 MiB at once); a window's partitions spill: 6 s under 17MB where the
        # aggregate takes 1 s, so only when the aggregate does not fit
        con.execute(
            f"CREATE TEMP TABLE several AS SELECT {key}, alike, n FROM (SELECT {key}, "
            f"min({amount}) OVER w = max({amount}) OVER w AS alike, count(*) OVER w AS n, "
            f"row_number() OVER w AS k FROM ({purchases}) WINDOW w AS (PARTITION BY {key})) "
            "WHERE k = 1 AND n > 1"
        )
    ((orders, same),) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE alike) FROM several"
    ).fetchall()
    if orders < MIN_ORDERS or same < SHARE * orders:
        return np.array([], dtype=np.int64)
    if _by_chance(con, purchases, amount) > CHANCE:
        return np.array([], dtype=np.int64)
    later = (
        f"SELECT source_row FROM (SELECT {row} AS source_row, row_number() OVER "
        f"(PARTITION BY {key} ORDER BY {row}) AS k FROM ({purchases}) "
        f"SEMI JOIN (SELECT {key} FROM several WHERE alike) USING ({key})) WHERE k > 1"
    )
    found = np.sort(con.execute(later).fetchnumpy()["source_row"].astype(np.int64))
    con.execute(f"INSERT INTO held_back {later}")
    checks.notes[REPEATED_TOTALS] = {
        "column": checks.named.get(c.AMOUNT, c.AMOUNT),
        "orders": int(same),
        "of": int(orders),
        "rows": len(found),
        "by": checks.named.get(c.ORDER_ID, c.ORDER_ID) if by == [c.ORDER_ID] else None,
    }
    return found


def guest_totals_on_lines(guests: Any, notes: dict[str, Any], reasons: Any) -> Any:
    """The source rows of guest orders' later lines when the file writes an order's total on
    each line (:data:`REPEATED_TOTALS` noted): reasoned :data:`LINE_ITEM` in ``reasons``, not
    ``missing_user_id``, counted in the note and taken out of ``guests`` (the file's
    ``features.guest_orders.RowsWithoutUser``), so a guest order counts once, as a user's
    (summed per line, a WooCommerce file's 395 guest orders made 117,924,333.64, not 389,128.79)."""
    said = notes.get(REPEATED_TOTALS)
    if said is None:
        return np.array([], dtype=np.int64)
    found = guests.totals_on_lines(by_order=said["by"] is not None)
    if len(found):
        no_user = f"missing_{c.USER_ID}"
        reasons[no_user] -= len(found)
        if not reasons[no_user]:
            del reasons[no_user]
        reasons[LINE_ITEM] += len(found)
        said["rows"] += len(found)
        said["guest_rows"] = len(found)
    return found


def _by_chance(con: Any, purchases: str, amount: str) -> float:
    """The share of the orders of several rows (the table ``several``, with their rows ``n``)
    whose rows would all hold one amount if the purchases' amounts were dealt to the rows at
    random: each order of k rows sum_a p_a^k (p_a: amount a's share of the purchase rows)."""
    import numpy as np

    shares = con.execute(
        f"SELECT count(*) / sum(count(*)) OVER () AS p FROM ({purchases}) GROUP BY {amount}"
    ).fetchnumpy()["p"]
    sizes = con.execute("SELECT n AS k FROM several").fetchnumpy()["k"]
    k, orders = np.unique(sizes.astype(np.int64), return_counts=True)
    alike = np.power.outer(shares.astype(float), k).sum(axis=0)
    return float((alike * orders).sum() / orders.sum())
