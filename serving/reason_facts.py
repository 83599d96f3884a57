"""Which churn reasons say one fact, so that a user's reasons say it once.

A reason's fact is what its value says happened, or did not: an empty window (``orders_90d``
= 0: no orders in those 90 days), nothing ever (``orders_total`` = 0, or a missing
``purchase_recency_days``: no order so far), or a bound on the orders so far (a missing
``ipt_std_days``: fewer than 3; ``orders_total`` = 2: exactly 2). One fact can say another:
no active days in 90 days says no orders, spend or sessions in them and in any shorter
window, and so does no activity for 112 days; no order so far says every bound on the
orders. A window as long as the user is known holds all of it: "1 active day in the last 90
days" of a user known for 20 days is a total (``("total", kind, value)``; orders as an exact
count), so the 365 days' same count is no second fact. "spent nothing so far; no purchase yet; spent nothing in the last 90
days" was one fact three times, and "fewer than 3 orders so far; 2 orders so far" one fact
twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from features.asof import WINDOW_FEATURES, window_of
from serving.reason_words import USUAL_GAP, is_missing

# Nothing of one kind in a window says nothing of another there: every order and session is
# activity, spend comes with an order, and refunds counted and refunds summed are one fact.
EMPTY_IMPLIES = {
    "active_days": ("orders", "revenue", "sessions"),
    "orders": ("revenue",),
    "refunds": ("refund_amount",),
    "refund_amount": ("refunds",),
}
EVER = math.inf  # the window of a total: every day so far
TOTALS = {
    "orders_total": "orders",
    "revenue_total": "revenue",
    "sessions_total": "sessions",
    "refund_amount_total": "refund_amount",
}
# A missing value that says none ever (``features.asof``: no order, no activity, no spend).
NONE_EVER = {
    "purchase_recency_days": "orders",
    "first_purchase_age_days": "orders",
    "avg_order_value": "orders",
    "net_order_value": "orders",
    "max_order_value": "orders",
    "recency_days": "active_days",
    "refund_rate": "revenue",
}
# Days since the last of a kind: none of it in those days ("no activity for 112 days" says
# "no active days in the last 90 days", which a list said beside it).
SINCE_LAST = {"recency_days": "active_days", "purchase_recency_days": "orders"}
# A missing value that bounds the orders so far: a gap takes two orders, its spread three.
FEWER_ORDERS = {"ipt_mean_days": 1, "ipt_std_days": 2}

TENURE = "tenure_days"  # how long the user is known: a window at least as long holds it all
# ("empty", kind, days), ("orders", at most, exactly) or ("total", kind, value)
Fact = tuple[str, Any, Any]


def fact_of(name: str, value: Any, value_of: Callable[[str], Any]) -> Fact | None:
    """What ``name``'s ``value`` says happened, or did not; None for any other value.
    ``value_of(TENURE)`` is None where the model has no tenure."""
    if is_missing(value):
        if name in NONE_EVER:
            return ("empty", NONE_EVER[name], EVER)
        if name in FEWER_ORDERS:
            return ("orders", FEWER_ORDERS[name], False)
        # no usual gap: fewer than 2 orders, unless the gap is 0 (orders of one moment)
        if name == "overdue_ratio" and is_missing(value_of(USUAL_GAP)):
            return ("orders", 1, False)
        return None
    if not isinstance(value, int | float | np.number):  # a category, NA
        return None
    if name == "orders_total" and value > 0:
        return ("orders", float(value), True)
    if name in SINCE_LAST and value > 0:
        return ("empty", SINCE_LAST[name], float(value))
    if name in TOTALS:
        return ("empty", TOTALS[name], EVER) if value == 0 else ("total", TOTALS[name], value)
    if name == "refund_rate" and value == 0:  # "0% of spend refunded": nothing refunded
        return ("empty", "refund_amount", EVER)
    window = window_of(name)
    if window is None or window[0] not in WINDOW_FEATURES:
        return None
    if value == 0:
        return ("empty", window[0], window[1])
    tenure = value_of(TENURE)
    if is_missing(tenure) or float(tenure) >= window[1]:
        return None
    return ("orders", float(value), True) if window[0] == "orders" else ("total", window[0], value)


def says(stronger: Fact | None, weaker: Fact | None) -> bool:
    """Whether the first fact says the second (each fact says itself)."""
    if stronger is None or weaker is None:
        return False
    if stronger[0] == "total" or weaker[0] == "total":  # the same amount of one kind
        return stronger[:2] == weaker[:2] and math.isclose(stronger[2], weaker[2], abs_tol=0.005)
    if stronger[0] == "empty" and weaker[0] == "empty":
        _, kind, days = stronger
        return days >= weaker[2] and (weaker[1] == kind or weaker[1] in EMPTY_IMPLIES.get(kind, ()))
    if stronger[0] == "empty":  # no order (or activity) ever: at most any number of orders
        return stronger[2] == EVER and stronger[1] in ("orders", "active_days")
    if weaker[0] == "empty":
        return False
    (_, most, exact), (_, bound, exactly) = stronger, weaker
    return most <= bound and (not exactly or (exact and most == bound))


def merged(
    picked: list[dict[str, Any]],
    reason: dict[str, Any],
    value_of: Callable[[str], Any],
    names: Sequence[str],
) -> bool:
    """Whether ``reason`` says what a picked reason says, in the same words or as a fact one
    of the two says (:func:`says`): then that reason says the stronger of the two (the first,
    if each says the other) and carries both contributions (they add up). ``value_of`` gives
    the values of ``names``."""
    if USUAL_GAP not in names:  # a model without it: nothing is known of the gap
        value_of = lambda name, given=value_of: 1.0 if name == USUAL_GAP else given(name)  # noqa: E731
    if TENURE not in names:  # nor how long the user is known
        value_of = lambda name, given=value_of: None if name == TENURE else given(name)  # noqa: E731
    fact = fact_of(reason["feature"], reason["value"], value_of)
    for kept in picked:
        said = fact_of(kept["feature"], kept["value"], value_of)
        same_words = kept["text"] == reason["text"]
        if not (same_words or says(fact, said) or says(said, fact)):
            continue
        if not same_words and not says(said, fact):  # the new one says more
            kept.update(feature=reason["feature"], value=reason["value"], text=reason["text"])
        kept["contribution"] += reason["contribution"]
        picked.sort(key=lambda r: -r["contribution"])
        return True
    return False
