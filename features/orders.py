"""Orders and their cancellations, the one definition the features (``features.asof``) and
the labels (``features.labels``) count purchases by: SQL over a relation ``events``."""

from __future__ import annotations

from features import contract as c


def money(column: str) -> str:
    """An amount as an exact decimal, so that its sums are exact: DuckDB adds a group's rows
    on several threads in no fixed order, and float sums then differ in their last bits
    from run to run (and so the trees and models learned from them)."""
    return f"{column}::DECIMAL(38, 6)"


def orders_sql(has_order_id: bool) -> str:
    """Orders, the one definition features and labels share: the purchase lines of one order
    id at one moment (lines after a cutoff never join it); ``user_id, order_time, value``, and
    ``nth``: the user's k-th order of that value (what a credit note cancels, :func:`cancelled_sql`)."""
    order = f"coalesce({c.ORDER_ID}, '')," if has_order_id else ""
    return f"""SELECT *, row_number() OVER (PARTITION BY {c.USER_ID}, value ORDER BY order_time) AS nth
        FROM (SELECT {c.USER_ID}, {c.EVENT_TIME} AS order_time, sum({money(c.AMOUNT)}) AS value
              FROM events WHERE {c.EVENT_TYPE} = '{c.PURCHASE}'
              GROUP BY {c.USER_ID}, {order} {c.EVENT_TIME})"""


def cancelled_sql(has_order_id: bool) -> str:
    """``cancelled`` (of the CTE ``orders``): orders wholly refunded, and when. A credit note
    (the refund lines of one order id at one moment) cancels an order of exactly its value
    before it, one for one (the k-th such note of a user the k-th such order): from then on
    the pair is neither purchase nor refund (an order of 168,470 cancelled the same day made
    a customer of 2.90 worth 6,000). The pairs depend on no later event; a partial refund
    stays a refund; of two like orders of one moment, one is cancelled, not both."""
    order = f"coalesce({c.ORDER_ID}, '')," if has_order_id else ""
    u, t = c.USER_ID, c.EVENT_TIME
    return f"""refund_notes AS (
        SELECT {u}, {t} AS refund_time, sum({money(c.AMOUNT)}) AS value, count(*) AS lines
        FROM events WHERE {c.EVENT_TYPE} = '{c.REFUND}' GROUP BY {u}, {order} {t}
    ),
    cancelled AS (
        SELECT {u}, o.order_time, value, nth, n.refund_time, n.lines
        FROM orders o JOIN (SELECT *, row_number() OVER (PARTITION BY {u}, value ORDER BY refund_time)
            AS nth FROM refund_notes WHERE value > 0) n USING ({u}, value, nth)
        WHERE o.order_time <= n.refund_time
    )"""


def cancelled_by(order: str, moment: str, alias: str) -> str:
    """The join that finds the cancellation of ``order`` (an alias of ``orders``) by ``moment``:
    none where ``alias``'s user id is NULL. Features and labels count orders by it."""
    k, u = alias, c.USER_ID
    return (
        f"LEFT JOIN cancelled {k} ON {k}.{u} = {order}.{u} AND {k}.value = {order}.value "
        f"AND {k}.nth = {order}.nth AND {k}.refund_time <= {moment}"
    )
