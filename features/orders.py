"""Orders and their cancellations, the one definition the features (``features.asof``) and
the labels (``features.labels``) count purchases by: SQL over a relation ``events``."""

from __future__ import annotations

from features import contract as c


def money(column: str) -> str:
    """An amount as an exact decimal, so that its sums are exact: DuckDB adds a group's rows
    on several threads in no fixed order, and float sums then differ in their last bits
    from run to run (and so the trees and models learned from them)."""
    return f"{column}::DECIMAL(38, 6)"


def _moment(has_order_id: bool) -> str:
    """What groups one order's (or credit note's) lines: its id and UTC day, so lines written a
    minute apart are one order and lines after a cutoff (a midnight) never join it; lines
    without an id, the moment they share. A line at exactly midnight is of the day that
    midnight ends (a cutoff sees it, as it sees every event at or before its midnight)."""
    if not has_order_id:
        return c.EVENT_TIME
    day = f"date_trunc('day', {c.EVENT_TIME} - INTERVAL 1 MICROSECOND)"
    return f"{c.ORDER_ID}, CASE WHEN {c.ORDER_ID} IS NULL THEN {c.EVENT_TIME} ELSE {day} END"


def orders_sql(has_order_id: bool) -> str:
    """Orders, the one definition features and labels share: the purchase lines of one order
    id and day (:func:`_moment`) at the time of the first; ``user_id, order_time, value``, and
    ``nth``: the user's k-th order of that value (what a credit note cancels, :func:`cancelled_sql`)."""
    return f"""SELECT *, row_number() OVER (PARTITION BY {c.USER_ID}, value ORDER BY order_time) AS nth
        FROM (SELECT {c.USER_ID}, min({c.EVENT_TIME}) AS order_time, sum({money(c.AMOUNT)}) AS value
              FROM events WHERE {c.EVENT_TYPE} = '{c.PURCHASE}'
              GROUP BY {c.USER_ID}, {_moment(has_order_id)})"""


def order_rows_sql(has_order_id: bool, window: bool = False) -> str:
    """How many purchase rows each order (:func:`orders_sql`'s grouping) is made of, ``rows``:
    a log without amounts counts its rows, so its value is purchases only where each order is
    one row (``features.basket_rows``). ``window``: the same in a window over each order's
    rows, whose partitions spill where the aggregate's table of orders does not fit."""
    purchases = f"FROM events WHERE {c.EVENT_TYPE} = '{c.PURCHASE}'"
    key = f"{c.USER_ID}, {_moment(has_order_id)}"
    if not window:
        return f"SELECT count(*) AS rows {purchases} GROUP BY {key}"
    return f"""SELECT rows FROM (SELECT count(*) OVER w AS rows, row_number() OVER w AS k
        {purchases} WINDOW w AS (PARTITION BY {key})) WHERE k = 1"""


def cancelled_sql(has_order_id: bool) -> str:
    """``cancelled`` (of the CTE ``orders``): orders wholly refunded, and when; and
    ``refund_notes``, the credit notes (the refund lines of one order id and day, as an order:
    one refund in the features' ``refunds_<w>d``). A credit note cancels an order of exactly
    its value before it (at the same moment or earlier), the earliest not yet cancelled; a
    note with none before it stays a refund (online_retail writes notes of an order's value
    minutes before it as well as after). From then on the pair is neither purchase nor refund
    (an order of 168,470 cancelled the same day made a customer of 2.90 worth 6,000). The
    pairs depend on no later event; a partial refund stays a refund; of two like orders of
    one moment, one is cancelled, not both.

    In time order per user and value, ``owed`` counts notes less orders so far: a note finds
    an order open unless it takes ``owed`` above every earlier value (and 0); the j-th note
    that finds one cancels the j-th order."""
    u, t = c.USER_ID, c.EVENT_TIME
    return f"""refund_notes AS (
        SELECT {u}, min({t}) AS refund_time, sum({money(c.AMOUNT)}) AS value
        FROM events WHERE {c.EVENT_TYPE} = '{c.REFUND}' GROUP BY {u}, {_moment(has_order_id)}
    ),
    value_moves AS (
        SELECT *, sum(CASE WHEN note THEN 1 ELSE -1 END) OVER (
                PARTITION BY {u}, value ORDER BY moved_at, note ROWS UNBOUNDED PRECEDING) AS owed
        FROM (SELECT {u}, value, order_time AS moved_at, false AS note
              FROM orders WHERE value > 0
              UNION ALL
              SELECT {u}, value, refund_time, true FROM refund_notes WHERE value > 0)
    ),
    matched_notes AS (
        SELECT {u}, value, moved_at AS refund_time,
               row_number() OVER (PARTITION BY {u}, value ORDER BY moved_at) AS nth
        FROM (SELECT *, greatest(0, coalesce(max(owed) OVER (PARTITION BY {u}, value ORDER BY moved_at, note
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS most_owed
              FROM value_moves)
        WHERE note AND owed <= most_owed
    ),
    cancelled AS (
        SELECT {u}, o.order_time, value, nth, n.refund_time
        FROM orders o JOIN matched_notes n USING ({u}, value, nth)
    )"""


def cancelled_by(order: str, moment: str, alias: str) -> str:
    """The join that finds the cancellation of ``order`` (an alias of ``orders``) by ``moment``:
    none where ``alias``'s user id is NULL. Features and labels count orders by it."""
    k, u = alias, c.USER_ID
    return (
        f"LEFT JOIN cancelled {k} ON {k}.{u} = {order}.{u} AND {k}.value = {order}.value "
        f"AND {k}.nth = {order}.nth AND {k}.refund_time <= {moment}"
    )
