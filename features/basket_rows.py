"""What a log without amounts counts. ``--amount-default N`` gives each purchase row N; the
rows of one user at one moment (without an order id; else of one order id and day) are one
order, as features and labels count orders (``features.orders``), and its value is their
sum. Where each order is one row, the value is a number of purchases; where orders are
baskets written one row per item (Kaggle's "Groceries dataset": member, day, item; 23.7
rows an order in online_retail's invoice lines written so), it is a number of items, and
words of purchases would say 212 purchases of a one-visit basket."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.duckdb_memory import cursor
from features.orders import order_rows_sql
from lifecycle.sql import literal

if TYPE_CHECKING:
    import duckdb

ROWS_OF_ORDERS = "rows_of_orders"  # report note: purchase rows and the orders they make
# Rows per order from which the rows are items of baskets, not purchases: at 1.5 a word of
# purchases would overstate them by half (one row per purchase invoice of online_retail's
# customers, two invoices of a day identical rows: 1.11 rows an order; its invoice lines
# written one row per item: 23.73)
ITEMS_FROM = 1.5


def rows_of_orders(events: Path, con: duckdb.DuckDBPyConnection | None) -> dict[str, Any]:
    """The report note of the purchase rows of a log without amounts (``events``: its staged
    table, an append's with the dataset's): ``{rows, orders, several, items}``, ``several``
    the orders of more than one row and ``items`` whether its rows are items of baskets
    (:data:`ITEMS_FROM` rows an order or more); {} without purchases."""
    import duckdb

    with cursor(con) as con:
        table = f"read_parquet({literal(events)})"
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]

        def counts(window: bool) -> tuple[int, int, int]:
            orders = order_rows_sql(c.ORDER_ID in names, window)
            return con.execute(
                f"WITH events AS (SELECT * FROM {table}) SELECT coalesce(sum(rows), 0), "
                f"count(*), count(*) FILTER (WHERE rows > 1) FROM ({orders})"
            ).fetchone()

        try:
            rows, count, several = counts(window=False)
        except duckdb.OutOfMemoryException:
            # the aggregate's table of orders stays in memory (1M orders of two rows ran out
            # of 17MB); a window's partitions spill: only when the aggregate does not fit
            rows, count, several = counts(window=True)
    if not count:
        return {}
    note = {"rows": int(rows), "orders": int(count), "several": int(several)}
    if rows < ITEMS_FROM * count:
        return {ROWS_OF_ORDERS: note | {"items": False}}
    unit = "items: no amount column, each purchase row counts the default and orders are "
    unit += "several rows, so LTV is a number of items"  # in place of validation's purchases
    return {ROWS_OF_ORDERS: note | {"items": True}, "amount_unit": unit}


def counts_items(notes: dict[str, Any]) -> bool:
    """Whether a log without amounts (its report's events ``notes``) counts items of baskets,
    several rows an order (:func:`rows_of_orders`), not purchases."""
    return bool((notes.get(ROWS_OF_ORDERS) or {}).get("items"))


def rows_line(notes: dict[str, Any]) -> str:
    """The summary's words of what a log without amounts counts, after 'N purchase/refund
    rows given amount 1': purchases, or items (several rows an order)."""
    note = notes.get(ROWS_OF_ORDERS)
    if not note or not note["items"]:
        return "no amount column: LTV is in purchases"
    return (
        f"no amount column: LTV is in items, not purchases: its {note['rows']:,} purchase rows "
        f"are {note['orders']:,} orders of {note['rows'] / note['orders']:.1f} rows on average "
        "(the rows of one user at one moment are one order, each row one item)"
    )
