"""The words of no order so far, and of nothing refunded, where the log holds more than that.

An order refunded in full is no order and no refund to the features
(``features.orders.cancelled_sql``), and a refund of a purchase made before the log began is
no purchase in it: "no purchase yet" and "nothing refunded so far" told of online_retail's
12346, who bought 77,183.60 and was refunded in full 16 minutes later, a history the log
does not hold; so did they of the users whose only events are refunds. Their reasons say
what happened, from the features the numbers use (``orders_total``,
``cancelled_orders_total``, ``refund_amount_total``): "1 order so far, refunded in full",
"only refunds in the log, no order", "nothing refunded beyond 2 orders refunded in full".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from features.asof import WORDS_ONLY_WINDOWS, window_of
from serving.reason_words import _is_none, _plural, is_missing

# Features whose missing value says no order so far (``features.asof``: no purchase), and
# whose value of none says it; and those whose 0 says nothing refunded.
NO_ORDER_MISSING = (
    "purchase_recency_days",
    "first_purchase_age_days",
    "avg_order_value",
    "net_order_value",
    "max_order_value",
    "refund_rate",
)
NO_ORDER_NONE = ("orders_total", "revenue_total")
# What was kept after refunds: of a user with no order kept, none or less than none says no
# order so far ("refunded 7.5 more than spent" beside "refunded 7.5 in all" told of
# online_retail's 12605, whose one event is a credit note, a spend the log does not hold)
NO_ORDER_KEPT = ("net_revenue_total",)
NOTHING_REFUNDED = ("refund_amount_total", "refund_rate")
CANCELLED = "cancelled_orders_total"
# Window refunds (``<name>_<days>d``), which no order refunded in full is among: the words
# add the window's count of those (``features.asof``: ``cancelled_orders_<days>d``).
WINDOW_REFUNDS = ("refunds", "refund_amount")
REFUNDS_ONLY = "only refunds in the log, no order"


class Unkept(NamedTuple):
    """A user's orders kept, orders refunded in full, and the refunds beyond those, as of
    the cutoff (None where the model reads no such feature): what no order so far was;
    ``read``: any other feature's value (None where the model reads no such feature)."""

    orders: Any
    cancelled: Any
    refunded: Any
    read: Callable[[str], Any] = lambda name: None


def unkept_of(value_of: Callable[[str], Any]) -> Unkept:
    """:class:`Unkept` of one user's feature values (``value_of`` raises KeyError for a
    feature the features read lack)."""

    def read(name: str) -> Any:
        try:
            return value_of(name)
        except KeyError:
            return None

    return Unkept(read("orders_total"), read(CANCELLED), read("refund_amount_total"), read)


def says_no_order(said: str | None, unkept: Unkept | None) -> bool:
    """Whether words of :func:`unkept_text` say no order kept so far: their fact is no order
    ever, whichever feature they word ("1 order so far, refunded in full" of a refund total
    of 0 said "no usual gap between purchases yet" beside it again: online_retail 12346)."""
    return said is not None and unkept is not None and not _some(unkept.orders)


def _some(count: Any) -> bool:
    """A count said as 1 or more."""
    return isinstance(count, int | float) and not is_missing(count) and count >= 0.5


def unkept_text(feature: str, value: Any, unkept: Unkept | None) -> str | None:
    """The words of ``feature``'s value where it says no order so far, or nothing refunded,
    and the log holds more: orders refunded in full, or refunds only. None otherwise ("no
    purchase yet" and "nothing refunded so far" are then true)."""
    if unkept is None or not (is_missing(value) or isinstance(value, int | float)):
        return None
    cancelled, kept = unkept.cancelled, _some(unkept.orders)
    orders = f"{cancelled:.0f} order{_plural(cancelled)}" if _some(cancelled) else None
    if feature in NOTHING_REFUNDED and not is_missing(value) and value == 0:
        if orders and kept:
            return f"nothing refunded beyond {orders} refunded in full"
        return f"{orders} so far, refunded in full" if orders else None  # one fact, one text
    known = not is_missing(value)
    no_order = (
        (feature in NO_ORDER_MISSING and not known)
        or (feature in NO_ORDER_NONE and known and _is_none(value, money=True))
        or (feature in NO_ORDER_KEPT and known and (value < 0 or _is_none(value, money=True)))
    )
    if not no_order or kept:
        return None
    if orders:
        return f"{orders} so far, refunded in full"
    refunded = unkept.refunded
    some_refund = isinstance(refunded, int | float) and not _is_none(refunded, money=True)
    return REFUNDS_ONLY if some_refund else None


def window_refund_text(feature: str, value: Any, text: str, unkept: Unkept | None) -> str:
    """``text``, the words of a window's refunds, with the orders refunded in full in that
    window added where there were some: "no refunds in the last 90 days" told of a user whose
    order was refunded in full 20 days before (a cancelled pair is no refund to the
    features); now "... beyond 1 order refunded in full", or "refunded 40 in the last 30
    days, and 1 order refunded in full"."""
    window = window_of(feature)
    if unkept is None or window is None or window[0] not in WINDOW_REFUNDS:
        return text
    cancelled = unkept.read(f"{WORDS_ONLY_WINDOWS[0]}_{window[1]}d")
    if not _some(cancelled):
        return text
    orders = f"{cancelled:.0f} order{_plural(cancelled)} refunded in full"
    money = window[0] == "refund_amount"
    if is_missing(value) or _is_none(value, money=money):
        return f"{text} beyond {orders}"
    return f"{text}, and {orders}"
