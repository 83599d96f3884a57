"""What a churn reason says of its direction where its plain words read as good news.

Every reason raised the user's churn risk above the average user's; most words say why
themselves ("no activity for 120 days", a count against the pace it fell from). Where they
read as a customer doing well, the reason ends with :data:`RAISES`: "spent 12,394 in the last
30 days (raises the risk)" (online_retail 16000, first of its at-risk list at 2011-12-10).
"""

from __future__ import annotations

from typing import Any

from features.asof import window_of
from serving.reason_words import PACED, SPENT, _is_none, is_missing
from serving.units import Counted

# What a churn reason of a count or amount of activity says of its direction where its words
# read as good news: "spent 12,394 in the last 30 days" at the top of an at-risk list
# (online_retail 16000, session 59), which the model read as risk (:func:`raises_unsaid`)
RAISES = "(raises the risk)"
# The order count from which "N orders so far" reads as a customer doing well. On online_retail
# at 2011-12-10 the churn model (TreeSHAP) raised the risk of 2,830 of the 2,836 buyers of 1-3
# orders, of 167 of the 392 of 4, and of 38 of the 1,099 of 5 or more (25 of the 44 of 12:
# "12 orders so far" was a top reason of 4 listed users, 14062 the 32nd of the at-risk list).
MANY_ORDERS = 4
# Refunds of none (or under 1% of spend) read as a content customer: "nothing refunded so
# far" was a reason of 624 of the 3,679 users of online_retail's at-risk list at 2011-12-10
# (8 of its top 100); the model raised the risk of 2,592 of the 2,824 buyers who refunded
# nothing, and of 598 of the 1,503 who did.
REFUNDS = ("refund_amount_total", "refund_rate")
REFUND_WINDOWS = ("refunds", "refund_amount")
# The share of all a repeat buyer spent below which "largest order 905, 20% of all they spent"
# reads as a steady customer, and is one: on online_retail at 2011-09-10, 14.1% of the 858
# repeat buyers whose largest order was under 40% of their spend bought nothing in the next
# 91 days, 41.9% of the 1,136 others. The model reads the size (at 2011-12-10 it raised the risk
# of 944 of the 1,315 repeat buyers under that share), so such a reason says so.
LOW_SHARE = 0.4


def raises_unsaid(
    feature: str,
    value: Any,
    kept: Any = None,
    purchase_counts: Counted | None = None,
    orders: Any = None,
    spent: Any = None,
) -> bool:
    """Whether a churn reason's plain words of ``feature``'s value read as good news, so that
    it says it raised the risk (:data:`RAISES`): a spend above none, in a window or in all
    (before or net of refunds), or 2 or more sessions, orders or active days in a window
    ("1 active day in the last 90 days" and "2 orders so far" read as little already), or
    :data:`MANY_ORDERS` or more orders so far ("12 orders so far"), or no refunds, in all or
    in a window ("nothing refunded so far", "under 1% of spend refunded", "no refunds in the
    last 90 days", :func:`_no_refunds`) of a user with an order (``orders``, where known:
    nothing refunded of no purchase reads as nothing), or a largest order under :data:`LOW_SHARE`
    of all the buyer ``spent`` (:func:`_low_share`). Its
    words against a pace that fell, an emptied window or nothing ``kept`` after refunds (of
    all spent, :func:`serving.reason_words.spent_and_kept`) say the direction themselves; a log of purchases
    counted (``purchase_counts``) says its spend as a count, so as one. The model reads such
    a value against the average user's: on online_retail
    at 2011-12-10 a 90-day spend raised the risk where it was small (575 of the lowest fifth
    of the 2,880 buyers in the window, 46 of the 1,728 above 380), a 30-day spend where it
    was small or very large (57% of the lowest fifth of its 1,624 buyers, 48% of the
    highest)."""
    if feature == "orders_total":  # counted whole, as its words print it
        return _known(value) and value >= MANY_ORDERS - 0.5
    if feature == "max_order_value":
        return purchase_counts is None and _low_share(value, spent)
    if _no_refunds(feature, value):
        return not _known(orders) or orders >= 0.5
    kind = "revenue" if feature in SPENT else (window_of(feature) or (None,))[0]
    if kind not in PACED or not _known(value):
        return False
    if kind == "revenue" and purchase_counts and _nothing_kept(kept, purchase_counts.each):
        return False  # "..., all of them refunded", "..., 3 more refunded than that"
    if kind != "revenue" or purchase_counts:  # 2 or more, as the words print it
        each = purchase_counts.each if purchase_counts and kind == "revenue" else 1.0
        return value / each >= 1.5
    if _known(kept) and kept < 0.005:
        return False  # "..., all of it refunded", "..., refunded 40 more than that"
    return not _is_none(value, money=True) and value > 0


def _known(value: Any) -> bool:
    """Whether a reason's value is a number its words print (not missing)."""
    return isinstance(value, int | float) and not is_missing(value)


def _nothing_kept(kept: Any, each: float) -> bool:
    """Whether what a log counting purchases (``each`` an amount) kept after refunds reads
    as none or less (:func:`spent_and_kept`)."""
    return _known(kept) and kept / each <= 0.5


def _no_refunds(feature: str, value: Any) -> bool:
    """Whether ``feature`` is a refund count, amount or rate whose words say none was
    refunded (a rate under 1%: "under 1% of spend refunded")."""
    if not _known(value):
        return False
    if feature == "refund_rate":
        return value < 0.005
    if feature in REFUNDS or (window_of(feature) or (None,))[0] in REFUND_WINDOWS:
        return _is_none(value, money=feature != "refunds" and not feature.startswith("refunds_"))
    return False


def _low_share(value: Any, spent: Any) -> bool:
    """Whether a largest order, said as a share of all the buyer ``spent``
    (:func:`serving.reason_words.largest_order_text`), is under :data:`LOW_SHARE` as printed
    (a share a buyer of 3 orders or more can have)."""
    if not (_known(value) and _known(spent)) or spent <= 0 or value <= 0:
        return False
    return int(f"{min(value / spent, 1.0):.0%}".removesuffix("%")) < LOW_SHARE * 100
