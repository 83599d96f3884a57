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
twice. A pace that fell (``serving.reason_pace.Pace``) or a falling trend is a fact of its
window: "1 order in the last 90 days, down from 2 ...", the same of active days and "orders
falling (last 90 days at 0.5x the yearly pace)" were one decline three times (trial 107).
A next purchase not yet due says the usual gap: "next purchase not yet due: bought 34 days
ago, buys every 40 days on average; buys every 40 days on average" (the demo, session 58).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import EllipsisType
from typing import Any

import numpy as np

from features.asof import WINDOW_FEATURES, window_of
from lifecycle.rules import NET_VALUES
from serving.reason_pace import Pace, pace_of
from serving.reason_words import (
    ORDER_VALUES,
    TREND_KINDS,
    USUAL_GAP,
    Trends,
    is_missing,
    only_order,
    orders_said,
    trend_days,
    under_a_day,
)
from serving.segments import BEYOND_SIGNUP, only_signed_up, whole_days
from serving.units import Counted

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
# In a log counted in purchases an amount is a count of them: where it is its window's order
# count (each order one purchase), "2 purchases in all" is "2 orders so far" (trial P, s41).
COUNTED_KINDS = {"revenue": "orders"}
# A missing value that bounds the orders so far: a gap takes two orders, its spread three.
FEWER_ORDERS = {"ipt_mean_days": 1, "ipt_std_days": 2}

# Active days fell where what makes them fell (on a purchases log every active day is an
# order's): one decline of one window.
SAME_DAYS = {"active_days", "orders", "sessions"}
GROSS_OF = {net: gross for gross, net in NET_VALUES.items()}  # net_order_value -> avg_order_value

TENURE = "tenure_days"  # how long the user is known: a window at least as long holds it all
# ("split_orders", None, None): orders under a day apart on average, or ("split_orders",
# "orders", days) with no order in those days since; ("empty", kind, days), ("orders", at
# most, exactly), ("total", kind, value), ("fell", kind, (window, said against the user's
# pace, not a trend's ratio[, whole days known where said "since first seen"])), ("emptied",
# kind, days): some of a kind in the longest window, none in these days of it, ("first_seen",
# None, whole days) or ("first_day", days idle, whole days known): nothing past the first day;
# ("with_orders", count, facts): a usual gap's words with the orders it was made of and the
# facts they say besides, ("own", feature, value) among them: said by nothing else
Fact = tuple[str, Any, Any]
# A user's reasons picked so far, each beside its fact: worked out once, as the reason is
# worded, not again for every later reason compared with it.
Picked = list[tuple[dict[str, Any], Fact | None]]


def same(gross: Any, net: Any) -> bool:
    """Whether a value after refunds is the one before (both numbers, equal to the cent)."""
    try:
        gross, net = float(gross), float(net)
    except (TypeError, ValueError):
        return False
    # np.isclose(gross, net, rtol=0, atol=0.005) in floats: infinities equal only themselves
    return gross == net if math.isinf(gross) or math.isinf(net) else abs(gross - net) <= 0.005


def said_as(name: str, value: Any, value_of: Callable[[str], Any], names: Sequence[str]) -> str:
    """The feature whose words say ``name``'s value: its value before refunds where that is
    among ``names`` and the same (nothing refunded), else ``name`` itself."""
    gross = GROSS_OF.get(name)
    if gross is None:  # most features: no scan of ``names`` (twice a candidate reason)
        return name
    return gross if gross in names and same(value_of(gross), value) else name


def _count(value_of: Callable[[str], Any], name: str) -> float | None:
    """A feature's value, None where it is missing or not read (a service's matrix holds its
    models' features only)."""
    try:
        value = value_of(name)
    except KeyError:
        return None
    return None if is_missing(value) else float(value)


def counted_as_orders(
    name: str, value: Any, value_of: Callable[[str], Any], purchase_counts: Counted | None
) -> str:
    """The order count (``orders_total``, ``orders_<days>d``) that an amount feature of a log
    counted in purchases says, where its purchases are that many; else ``name``."""
    if not purchase_counts or not isinstance(value, int | float | np.number) or is_missing(value):
        return name
    total = {f"{kind}_total": f"{orders}_total" for kind, orders in COUNTED_KINDS.items()}
    window = window_of(name)
    if name in total:
        orders = total[name]
    elif window is not None and window[0] in COUNTED_KINDS:
        orders = f"{COUNTED_KINDS[window[0]]}_{window[1]}d"
    else:
        return name
    count = _count(value_of, orders)
    return orders if count is not None and same(count, value / purchase_counts.each) else name


def _first_day_only(value_of: Callable[[str], Any]) -> bool:
    """Whether the user did nothing past their first day, as the stages count it."""
    counts = [_count(value_of, name) for name in (TENURE, "recency_days", *BEYOND_SIGNUP)]
    return bool(only_signed_up(*(math.nan if n is None else n for n in counts)))


def _trend_fact(name: str, value: Any, trends: Trends | None) -> Fact | None:
    """A trend's fact, of its windows as its words say them (``reason_words.trend_days``):
    missing, the longer window is empty ("no active days in the last 90 days" beside "no
    activity for 131 days" on 2,644 of 5,000 demo users, trial 107); 0, the shorter one;
    under 1, it fell."""
    kind, (short, longer) = TREND_KINDS[name], trend_days(name, trends)
    if is_missing(value):
        return ("empty", kind, longer)
    if value == 0:
        return ("empty", kind, short)
    return ("fell", kind, (short, False)) if value < 1 else None


def fact_of(
    name: str,
    value: Any,
    value_of: Callable[[str], Any],
    names: Sequence[str] = (),
    purchase_counts: Counted | None = None,
    first_day_only: bool | None = None,
    trends: Trends | None = None,
    pace: Pace | EllipsisType | None = ...,
) -> Fact | None:
    """What ``name``'s ``value`` says happened, or did not (:func:`_fact_of`), and the order
    count its words say with a usual gap (``serving.reason_words.orders_said``): then one
    fact of both, ``("with_orders", count, fact)``, which says "2 orders so far" and "fewer
    than 3 orders so far" (online_retail at 2011-12-10: 21 of the 3,679 at-risk users' reasons
    said the count twice, "2 orders so far; next purchase overdue (7.0x their usual gap: 2
    orders within 11 days)"), and, overdue, the usual gap ("buys every 39 days on average"
    beside "2 orders within 40 days"). What the words say besides the count is ``("own",
    name, value)``: said by nothing else."""
    fact = _fact_of(name, value, value_of, names, purchase_counts, first_day_only, trends, pace)
    if name == "net_order_value" and fact is None and not purchase_counts:
        # a one-order customer's average after refunds: that order, as its gross value says
        # (serving.reason_words.average_and_kept)
        orders, gross = _count(value_of, "orders_total"), _count(value_of, "avg_order_value")
        if orders == 1 and gross is not None and "avg_order_value" in names:
            return ("with_orders", 1.0, (("total", "revenue", gross),))
    if name not in (USUAL_GAP, "overdue_ratio", *ORDER_VALUES) or "orders_total" not in names:
        return fact
    gap = value if name == USUAL_GAP else value_of(USUAL_GAP) if USUAL_GAP in names else None
    orders = _count(value_of, "orders_total")
    count = orders_said(name, value, gap, orders, purchase_counts)
    if count is None:
        return fact
    if only_order(name, value, orders, purchase_counts):  # that order is all they spent
        return ("with_orders", count, (("total", "revenue", float(value)),))
    said = (("own", name, value),) if fact is None else (fact,)
    if fact is None and not under_a_day(gap):  # "2 orders within 40 days" is the mean gap too
        said += (("usual_gap", False, float(gap)),)
    return ("with_orders", count, said)


def _fact_of(
    name: str,
    value: Any,
    value_of: Callable[[str], Any],
    names: Sequence[str] = (),
    purchase_counts: Counted | None = None,
    first_day_only: bool | None = None,
    trends: Trends | None = None,
    pace: Pace | EllipsisType | None = ...,
) -> Fact | None:
    """What ``name``'s ``value`` says happened, or did not; None for any other value.
    ``value_of(TENURE)`` is None where the model has no tenure (:func:`fact_values`);
    ``names``, the model's features, give a window count's pace (as its words say it, with
    ``purchase_counts``: ``pace``, its :func:`pace_of` where the words took it);
    ``first_day_only``: the stage's flag of the row, the words' (None: read from ``value_of``);
    ``trends``: the windows each trend compares, as its words say them."""
    if name in TREND_KINDS:
        return _trend_fact(name, value, trends)
    if (gross := said_as(name, value, value_of, names)) != name:
        return fact_of(gross, value, value_of, names, purchase_counts, first_day_only, trends)
    if (orders := counted_as_orders(name, value, value_of, purchase_counts)) != name:
        name, value = orders, value / purchase_counts.each  # type: ignore[union-attr]
    if is_missing(value):
        if name in NONE_EVER:
            return ("empty", NONE_EVER[name], EVER)
        if name in FEWER_ORDERS:
            return ("orders", FEWER_ORDERS[name], False)
        # no usual gap: fewer than 2 orders, unless the gap is 0 (orders of one moment)
        if name == "overdue_ratio" and is_missing(value_of(USUAL_GAP)):
            return ("orders", 1, False)
        if name == "overdue_ratio" and under_a_day(value_of(USUAL_GAP)):
            return ("split_orders", None, None)  # said as the gap itself is
        return None
    if not isinstance(value, int | float | np.number):  # a category, NA
        return None
    if name == USUAL_GAP and under_a_day(value):
        return ("split_orders", None, None)
    if name == "overdue_ratio" and value > 1 and under_a_day(gap := value_of(USUAL_GAP)):
        return ("split_orders", "orders", float(value) * float(gap))
    if name == USUAL_GAP:  # "buys every 40 days on average" (under a day: above)
        return ("usual_gap", False, float(value))
    if name == "overdue_ratio" and value < 1 and not is_missing(gap := value_of(USUAL_GAP)):
        # "next purchase not yet due: bought 34 days ago, buys every 40 days on average"
        return ("usual_gap", True, float(gap))
    if name == TENURE and value > 0:
        return ("first_seen", None, float(whole_days(value)))
    first = _first_day_only(value_of) if first_day_only is None else first_day_only
    if name == "recency_days" and value > 0 and first and not is_missing(value_of(TENURE)):
        return ("first_day", float(value), float(whole_days(value_of(TENURE))))
    if name == "orders_total" and value > 0:
        return ("orders", float(value), True)
    if name in SINCE_LAST and value > 0:
        return ("empty", SINCE_LAST[name], float(value))
    if name in TOTALS:
        return ("empty", TOTALS[name], EVER) if value == 0 else ("total", TOTALS[name], value)
    if name == "refund_rate" and value == 0:  # "0% of spend refunded": nothing refunded
        return ("empty", "refund_amount", EVER)
    if pace is ...:
        pace = pace_of(name, value, value_of, names, purchase_counts)
    if pace is not None and pace.fell:
        # and, said "since first seen 67 days ago", how long the user is known
        since = None if pace.span == pace.longest else float(whole_days(pace.span))
        return ("fell", pace.kind, (pace.short, True, since))
    if pace is not None and pace.emptied and window_of(name) == (pace.kind, pace.longest):
        return ("emptied", pace.kind, pace.short)  # "37 sessions in the last 365, none in the 90"
    window = window_of(name)
    if window is None or window[0] not in WINDOW_FEATURES:
        return None
    if value == 0:
        return ("empty", window[0], window[1])
    tenure = value_of(TENURE)
    if is_missing(tenure) or float(tenure) >= window[1]:
        # a count of a window: one fact only with the purchases counted that are its orders
        counted = purchase_counts and window[0] in COUNTED_KINDS.values()
        return ("total", window, value) if counted else None
    return ("orders", float(value), True) if window[0] == "orders" else ("total", window[0], value)


def _parts(fact: Fact) -> tuple[Fact, ...]:
    """The facts one fact is made of: an order count and what its words say besides."""
    if fact[0] == "with_orders":
        return (("orders", fact[1], True), *fact[2])
    return (fact,)


def says(stronger: Fact | None, weaker: Fact | None) -> bool:
    """Whether the first fact says the second (each fact says itself): each part of the
    second by a part of the first."""
    if stronger is None or weaker is None:
        return False
    return all(any(_says(s, w) for s in _parts(stronger)) for w in _parts(weaker))


def _says(stronger: Fact, weaker: Fact) -> bool:
    """Whether one fact of no parts says another."""
    if stronger[0] == "own" or weaker[0] == "own":  # what only its own words say
        return stronger == weaker
    if weaker[0] == "split_orders":  # orders under a day apart: said with the days since too
        return stronger[0] == "split_orders" and (stronger[2] is not None or weaker[2] is None)
    if stronger[0] == "split_orders":  # ... which say no order in those days
        if stronger[2] is None:
            return False
        # and no activity in them where the last order was the last activity: "no activity
        # for 3 days" said less of online_retail 16000 (the ratio's days times the gap, to
        # the float error of that product)
        if weaker[:2] == ("empty", "active_days") and math.isclose(
            weaker[2], stronger[2], abs_tol=1e-6
        ):
            return True
        stronger = ("empty", "orders", stronger[2])
    if stronger[0] == "usual_gap" or weaker[0] == "usual_gap":  # the gap, or with the days
        same = stronger[0] == weaker[0] and math.isclose(stronger[2], weaker[2], abs_tol=1e-6)
        return same and (stronger[1] or not weaker[1])
    if weaker[0] == "first_day":  # said by itself alone
        return stronger == weaker
    if stronger[0] == "first_day":  # "seen only on their first day, 256 days ago"
        if weaker[0] == "first_seen":
            return weaker[2] == stronger[2]
        stronger = ("empty", "active_days", stronger[1])
    if stronger[0] == "fell" and weaker[0] == "first_seen":  # "... since first seen 67 days
        # ago" beside "first seen 67 days ago" (online_retail 13297 at 2011-12-10)
        return len(stronger[2]) > 2 and stronger[2][2] == weaker[2]
    if stronger[0] == "first_seen" or weaker[0] == "first_seen":
        return stronger == weaker
    if weaker[0] == "emptied":  # the count before an empty window: said by such a count alone
        kind, emptied = stronger[1], weaker[1]
        implied = emptied == kind or emptied in EMPTY_IMPLIES.get(kind, ())
        return stronger[0] == "emptied" and stronger[2] == weaker[2] and implied
    if stronger[0] == "emptied":  # ... and says that window's emptiness
        stronger = ("empty", *stronger[1:])
    if stronger[0] == "fell" or weaker[0] == "fell":  # one decline: its window and counts
        if stronger[0] != weaker[0] or stronger[2][0] != weaker[2][0]:
            return False
        kinds = {stronger[1], weaker[1]}
        one = len(kinds) == 1 or ("active_days" in kinds and kinds <= SAME_DAYS)
        return one and (stronger[2][1] or not weaker[2][1])  # a pace says a trend's ratio
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


def fact_values(value_of: Callable[[str], Any], names: Sequence[str]) -> Callable[[str], Any]:
    """``value_of`` as a fact reads it for a model of ``names``: a model without the usual
    gap knows nothing of it (the gap taken as there), nor without the tenure of how long the
    user is known (None)."""
    if USUAL_GAP not in names:
        value_of = lambda name, given=value_of: 1.0 if name == USUAL_GAP else given(name)  # noqa: E731
    if TENURE not in names:
        value_of = lambda name, given=value_of: None if name == TENURE else given(name)  # noqa: E731
    return value_of


def merged(picked: Picked, reason: dict[str, Any], fact: Fact | None) -> bool:
    """Whether ``reason``, whose fact is ``fact`` (:func:`fact_of`), says what a picked
    reason says, in the same words or as a fact one of the two says (:func:`says`): then that
    reason says the stronger of the two (the first, if each says the other) and carries both
    contributions (they add up)."""
    for place, (kept, said) in enumerate(picked):
        same_words = kept["text"] == reason["text"]
        # a fact None says nothing, nor is it said (:func:`says`): most candidates have none
        related = fact is not None and said is not None and (says(fact, said) or says(said, fact))
        if not (same_words or related):
            continue
        if not same_words and not says(said, fact):  # the new one says more
            kept.update(feature=reason["feature"], value=reason["value"], text=reason["text"])
            picked[place] = (kept, fact)
            # ... and maybe what another picked one says: "spent nothing so far" became "no
            # purchase yet", which says the "no repeat purchase yet" picked beside it
            for other in [p for p in picked if p[0] is not kept]:
                if says(fact, other[1]):
                    kept["contribution"] += other[0]["contribution"]
                    picked.remove(other)
        kept["contribution"] += reason["contribution"]
        picked.sort(key=lambda p: -p[0]["contribution"])
        return True
    return False
