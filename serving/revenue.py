"""Revenue to date as a sales report heads it, from a scores table: before refunds, refunded,
kept; and, from the dataset's events, the shop's own refund rate, which counts the orders
refunded whole that the features leave out of both (``features.orders``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features import contract as c
from features.guest_orders import later_than
from features.orders import cancelled_sql, orders_sql
from features.read_words import money_text
from lifecycle.sql import identifier, literal
from serving.segment_text import REFUNDS

GUESTS_IN_RATE = "guest_orders_in_rate"  # totals' key: the dataset's guest orders in the rate


def revenue_totals(
    scores: pd.DataFrame,
    events: Path | None = None,
    as_of: str | None = None,
    guests: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Revenue to date of a scores table as a sales report heads it: before refunds, refunded,
    kept after refunds (None without its revenue and refunds). With the dataset's ``events``
    (to ``as_of``, the table's cutoff), also every purchase and refund there
    (``purchases_all``, ``refunds_all``): an order refunded whole is in neither of the
    table's, and the shop's refund rate counts it; so are the dataset's guest orders
    (``guests``, :func:`features.guest_orders.dataset_guest_orders`) when none is later than
    ``as_of`` (``GUESTS_IN_RATE``), else the words say the rate is without them."""
    if "revenue" not in scores or REFUNDS not in scores:
        return None
    kept = float(scores["revenue"].astype(float).fillna(0).sum())
    refunded = float(scores[REFUNDS].astype(float).fillna(0).sum())
    totals = {"before_refunds": kept + refunded, "refunds": refunded, "kept": kept}
    if events is not None and as_of is not None and (every := _every_order(events, as_of)):
        totals |= every
        if guests:  # a sales report's rate counts them (not: some later than the table)
            totals[GUESTS_IN_RATE] = not later_than(guests, as_of)
            if totals[GUESTS_IN_RATE]:
                totals["guest_purchases"] = guests["purchases"]
                totals["guest_refunds"] = guests["refunds"]
    return totals


def _every_order(events: Path, as_of: str) -> dict[str, float] | None:
    """Every purchase and refund amount of an events table to ``as_of`` (midnight UTC, as
    the features count), None without the table or an amount column."""
    import duckdb

    from features.dates import cutoff_date

    if not events.is_file():
        return None
    amount, kind = identifier(c.AMOUNT), identifier(c.EVENT_TYPE)
    try:
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(
                f"CREATE TEMP VIEW events AS SELECT * FROM read_parquet({literal(events)}) "
                f"WHERE {identifier(c.EVENT_TIME)} <= {literal(cutoff_date(as_of).isoformat())}"
            )
            purchases, refunds = con.execute(
                f"SELECT sum({amount}) FILTER (WHERE {kind} = '{c.PURCHASE}'), "
                f"sum({amount}) FILTER (WHERE {kind} = '{c.REFUND}') FROM events"
            ).fetchone()
            has_order_id = c.ORDER_ID in {r[0] for r in con.execute("DESCRIBE events").fetchall()}
            whole, whole_value = con.execute(  # as the features pair them (features.orders)
                f"WITH orders AS ({orders_sql(has_order_id)}), {cancelled_sql(has_order_id)} "
                "SELECT count(*), sum(value) FROM cancelled"
            ).fetchone()
    except duckdb.Error:  # no amount column (a log of sessions), a damaged table: not said
        return None
    return {
        "purchases_all": float(purchases or 0),
        "refunds_all": float(refunds or 0),
        "refunded_whole_orders": int(whole),
        "refunded_whole": float(whole_value or 0),
    }


def no_refunds(totals: dict[str, float]) -> bool:
    """Whether the events hold no refund at all up to the table's date (``purchases_all``
    read from them, ``refunds_all`` none, guests' none): a log of purchases only, as loyalty
    and grocery exports are, whose refund words ('0 refunded ... refund rate 0.0%: all
    refunds 0 of all purchases 397,924 ...', of items) said nothing but noise."""
    return (
        totals.get("purchases_all", 0.0) > 0
        and not totals.get("refunds_all")
        and not totals["refunds"]
        and not totals.get("guest_refunds")
    )


def before_refunds_words(totals: dict[str, float], revenue: str) -> str:
    """What the shares of ``revenue`` are, after :func:`revenue_words`: before refunds, or
    nothing to add where there is none (:func:`no_refunds`)."""
    return "" if no_refunds(totals) else f"; shares of {revenue} are before refunds"


def revenue_words(totals: dict[str, float], revenue: str = "revenue") -> str:
    """The totals in words: 'revenue to date 1,234.00 before refunds, 56.00 refunded, 1,178.00
    kept ...'; ``revenue`` is its name for the reader (``purchases`` in a count-only log).
    An order refunded whole is in none of them (``features.orders``: neither a purchase nor
    a refund), so their refunds are a smaller share than the shop's refund rate, refunds of
    all purchases (online_retail: 2.8% against 6.8%): with ``purchases_all`` the words give
    that rate first and the table's share as what it is of (trial 114: "3.0% refunded" was
    quoted for a shop refunding 6.1%), after the orders refunded whole left out, counted
    (``refunded_whole_orders``) and their amount (``refunded_whole``)."""
    before, refunded = totals["before_refunds"], totals["refunds"]
    if no_refunds(totals):  # nothing to say of refunds: no rate, no orders refunded whole
        return f"{revenue} to date {money_text(before)}, no refund in the data"
    said = (
        f"{revenue} to date {money_text(before)} before refunds, {money_text(refunded)} "
        f"refunded, {money_text(totals['kept'])} kept"
    )
    whole = "orders refunded whole"
    if before <= 0:
        return f"{said} ({whole} count in none of these)"
    share = f"{refunded / before:.1%}"
    purchases, refunds = totals.get("purchases_all", 0.0), totals.get("refunds_all", 0.0)
    if purchases <= 0:
        return f"{said} ({whole} count in none of these: refunds {share} of {revenue} without them)"
    # each order refunded whole: its purchase and its refund (a table of before: the rest)
    cancelled = totals.get("refunded_whole", refunds - refunded)
    count = totals.get("refunded_whole_orders")  # "0 refunded" read as if none (trial 115)
    left_out = whole if count is None else f"{count:,} order{'s' * (count != 1)} refunded whole"
    guests = totals.get(GUESTS_IN_RATE)
    too = f"{whole} and guest orders too" if guests else f"{whole} too"
    purchases += totals.get("guest_purchases", 0.0)
    refunds += totals.get("guest_refunds", 0.0)
    rate = (
        f"{said} ({left_out}, {money_text(cancelled)}, left out of these); refund rate "
        f"{refunds / purchases:.1%}: all refunds {money_text(refunds)} of all purchases "
        f"{money_text(purchases)}, {too}, as a sales report counts ({share} without them)"
    )
    if guests is False:  # their days reach past the table's: they cannot be cut at it
        rate += "; guest orders not in it (some are later than the scores table)"
    return rate
