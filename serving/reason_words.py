"""An operator's words for a feature's value, as a churn reason quotes it.

The words follow the value, not the direction it pushed the score: a rising trend that
pushed churn up still reads "orders rising". A missing value reads as what it means in
the domain ("no repeat purchase yet"), never as the feature's name. One quantity has
one wording in every window ("spent 300 in the last 30 days", "spent nothing in the last
90 days"). A high count that raised the risk says the user's own pace it fell from
(``serving.reason_pace.pace_text``); a spend or a window's count said plainly, which reads
as good news, says that it raised the risk (:mod:`serving.reason_direction`). "Spent"
is before refunds (what the orders came to); an amount after them says "net of refunds",
as the lists' ``revenue`` is, and all spent says both where they differ
(:func:`spent_and_kept`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from features.asof import window_of
from serving.segments import whole_days
from serving.units import Counted, amount_text, counted_noun

# Words for a total's value. ``{s}`` is the plural ending, empty when the value rounds to 1;
# ``{amount}`` money as :func:`money_text` says it (4.50 is 4.5, not 4).
REASON_TEXT = {
    "recency_days": "no activity for {value:.0f} day{s}",
    "purchase_recency_days": "no purchase for {value:.0f} day{s}",
    "first_purchase_age_days": "first purchase {value:.0f} day{s} ago",
    "tenure_days": "first seen {value:.0f} day{s} ago",
    "orders_total": "{value:.0f} order{s} so far",
    "sessions_total": "{value:.0f} session{s} in all",
    "revenue_total": "spent {amount} in all",
    "refund_amount_total": "refunded {amount} in all",
    "net_revenue_total": "spent {amount} net of refunds",
    "avg_order_value": "average order {amount}",
    "net_order_value": "average order {amount} net of refunds",
    "max_order_value": "largest order {amount}",
    "ipt_mean_days": "buys every {value:.0f} day{s} on average",
    "ipt_std_days": "gaps between purchases vary by {value:.0f} day{s}",
    "days_to_activation": "took {value:.0f} day{s} to activate",
    "refund_rate": "{value:.0%} of spend refunded",
    "cancelled_orders_total": "{value:.0f} order{s} refunded in full",
}
# What a value below 0 reads as, given its size: refunds of purchases before the log can
# exceed what the log's purchases kept ("spent -30 net of refunds" said nothing).
NEGATIVE_TEXT = {
    "net_revenue_total": "refunded {amount} more than spent",
    "net_order_value": "refunds exceed spend by {amount} per order",
}
USUAL_GAP = "ipt_mean_days"  # what the overdue ratio divides by
# The days since the activity of a user who did nothing past their first day (a sign-up, an
# order cancelled since): never active, as the stages say (``serving.segments``), so not
# "no activity for 256 days", which said there had been some (trial 107, online_retail 12346).
FIRST_DAY_ONLY = "seen only on their first day, {value:.0f} day{s} ago"
# Days since an event, counted as the stages count them (whole days gone by: 89.9 days
# with no activity reads 89 beside ``silent``, 90.0 reads 90 beside ``churned``, 90 or more).
DAYS_SINCE = ("recency_days", "purchase_recency_days", "first_purchase_age_days", "tenure_days")
# What a value that rounds to none reads as ("no activity for 0 days" contradicts itself).
NONE_TEXT = {
    "recency_days": "active within the last day",
    "purchase_recency_days": "bought within the last day",
    "first_purchase_age_days": "first purchase within the last day",
    "tenure_days": "first seen within the last day",
    "orders_total": "no orders so far",
    "sessions_total": "no sessions so far",
    "revenue_total": "spent nothing so far",
    "refund_amount_total": "nothing refunded so far",
    "net_revenue_total": "nothing kept after refunds",
    "net_order_value": "nothing kept per order after refunds",
    "ipt_mean_days": "orders so far came on average less than a day apart",
    "ipt_std_days": "gaps between purchases vary by less than a day",
    "days_to_activation": "activated on their first day",
    "cancelled_orders_total": "no order refunded in full",
}
# What a missing value means (``features.asof``: no purchase, fewer than two, no activity).
MISSING_TEXT = {
    "recency_days": "no activity yet",
    "purchase_recency_days": "no purchase yet",
    "first_purchase_age_days": "no purchase yet",
    "avg_order_value": "no purchase yet",
    "net_order_value": "no purchase yet",
    "max_order_value": "no purchase yet",
    "ipt_mean_days": "no repeat purchase yet",
    "ipt_std_days": "fewer than 3 orders so far",
    "overdue_ratio": "no usual gap between purchases yet",
    "refund_rate": "nothing spent yet",
    "days_to_activation": "never activated",
    "activated": "activation not recorded",
    "tenure_days": "first visit not recorded",
    "orders_total": "no orders recorded",
    "cancelled_orders_total": "no orders recorded",
    "sessions_total": "no sessions recorded",
    "revenue_total": "no spend recorded",
    "refund_amount_total": "no refunds recorded",
    "net_revenue_total": "no spend recorded",
    "channel": "acquisition channel not recorded",
}
# A trend: what moves; its shorter and longer windows are the configured ones
# (``features.asof.trend_windows``), else the default ones its name gives.
TRENDS = {"trend_active_days_30_90": "activity", "trend_orders_90_365": "orders"}
TREND_KINDS = {"trend_active_days_30_90": "active_days", "trend_orders_90_365": "orders"}
Trends = dict[str, tuple[int, int]]  # trend -> (shorter, longer) days


def trend_days(feature: str, trends: Trends | None = None) -> tuple[int, int]:
    """The (shorter, longer) windows a trend compares: the configured ones in ``trends``,
    else its name's (``trend_orders_90_365``: 90 and 365, the default windows')."""
    if trends and feature in trends:
        return trends[feature]
    short, longer = feature.rsplit("_", 2)[1:]
    return int(short), int(longer)


def _days_text(days: int) -> str:
    """A longer window as a trend says it: the year, or N days."""
    return "the year" if days == 365 else f"the {days}"


# Window counts (``<name>_<days>d``): plural noun, singular noun; amounts have their verbs.
WINDOW_NOUNS = {
    "sessions": ("sessions", "session"),
    "orders": ("orders", "order"),
    "active_days": ("active days", "active day"),
    "refunds": ("refunds", "refund"),
    "cancelled_orders": ("orders refunded in full", "order refunded in full"),
}
WINDOW_AMOUNTS = {  # name -> (an amount, none), each before "in the last N days"
    "revenue": ("spent {amount}", "spent nothing"),
    "refund_amount": ("refunded {amount}", "nothing refunded"),
}

# The money features' words for a log without amounts (``serving.units.Units.purchase_counts``
# set): the value, divided by what each purchase counts, is a number of what the log counts,
# ``{unit}``: purchases, or items where its amounts count them (``serving.units.counted_noun``).
COUNTED_TEXT = {
    "revenue_total": "{value:,.0f} {unit}{s} in all",
    "refund_amount_total": "{value:,.0f} {unit}{s} refunded in all",
    "avg_order_value": "{value:,.0f} {unit}{s} per order on average",
    "net_revenue_total": "{value:,.0f} {unit}{s} net of refunds",
    "net_order_value": "{value:,.0f} {unit}{s} per order on average net of refunds",
    "max_order_value": "largest order {value:,.0f} {unit}{s}",
}
COUNTED_NEGATIVE = {
    "net_revenue_total": "{value:,.0f} {unit}{s} more refunded than bought",
    "net_order_value": "{value:,.0f} {unit}{s} more refunded than bought per order",
}
SPENT = ("revenue_total", "net_revenue_total")  # all spent, before or net of refunds
# Window counts that read as good news when high: said against the user's own pace where
# it fell ("39 sessions in the last 90 days" raised churn beside 181 in the year, trial 95).
PACED = ("sessions", "orders", "active_days", "revenue")
COUNTED_WINDOWS = {
    "revenue": "{value:,.0f} {unit}{s} in the last {window} days",
    "refund_amount": "{value:,.0f} {unit}{s} refunded in the last {window} days",
}
COUNTED_RATIOS = {"refund_rate": "{value:.0%} of {unit}s refunded"}
COUNTED_MISSING = {
    "refund_rate": "no purchase yet",
    "revenue_total": "no {unit}s recorded",
    "net_revenue_total": "no {unit}s recorded",
}


def money_text(value: float) -> str:
    """An amount in a reason as lists show money (``serving.units.amount_text``: a refund of
    4.50 is 4.5 where no decimals said 4, and 7.50 said 8; 0.30 is not 0), a whole amount
    whole ("largest order 90", not "90.0")."""
    return f"{value:,.0f}" if float(value).is_integer() else amount_text(value)


def _plural(value: Any) -> str:
    """The plural ending for a count as printed with no decimals."""
    return "" if isinstance(value, int | float) and f"{value:.0f}" == "1" else "s"


def _is_none(value: Any, money: bool = False) -> bool:
    """Whether a number prints as 0 with no decimals (half to even: 0.5 and -0.5 do); an
    amount of ``money``, as 0 with the cents :func:`money_text` shows ("spent nothing" of
    0.30 hid a purchase)."""
    if money:
        return isinstance(value, int | float) and abs(value) < 0.005
    return isinstance(value, int | float) and -0.5 <= value <= 0.5


def is_missing(value: Any) -> bool:
    """None or NaN: a feature the user has no value of."""
    return value is None or (isinstance(value, float) and value != value)  # NaN, numpy's too


def _times(ratio: float) -> str:
    """A ratio with the decimals that keep it on its side of 1 (0.96 does not print 1.0)
    and above 0 (0.016 does not print 0.0, which read as a glitch: trial 107); from 10 on,
    whole (CDNOW's "461.0x" is 461x)."""
    if ratio >= 10:
        return f"{ratio:,.0f}"
    text = f"{ratio:.1f}"
    for decimals in (2, 3):
        if ratio == 1 or float(text) != 1:
            break
        text = f"{ratio:.{decimals}f}"
    return f"{ratio:.2g}" if ratio > 0 and float(text) == 0 else text


def under_a_day(days: Any) -> bool:
    """Whether a usual gap between orders is under a day: said "less than a day apart"."""
    return isinstance(days, int | float) and not is_missing(days) and days < 1


def days_since_order(ratio: float, usual_gap_days: Any) -> float:
    """The whole days since the last order that an overdue ratio was made of (days since
    over the usual gap, to the microsecond), counted as the stages count days."""
    return float(whole_days(round(float(ratio) * float(usual_gap_days), 6)))


def orders_within(usual_gap_days: Any, orders: Any) -> tuple[str, str] | None:
    """A user's orders and the days they came within, the mean gap times the gaps (``("3
    orders", "2 days")``): what a mean gap was made of, which a mean of minutes and days
    hides (online_retail 12432's three orders, two of them two minutes apart, the third two
    days later, read "came on average less than a day apart"). None without two orders."""
    if is_missing(usual_gap_days) or is_missing(orders) or not isinstance(orders, int | float):
        return None
    if orders < 2:
        return None
    days = math.ceil(round(float(usual_gap_days) * (float(orders) - 1), 6))
    return f"{orders:.0f} orders", "a day" if days <= 1 else f"{days} days"


# An order's value (gross) that a customer of one order has one of: said as that order.
ORDER_VALUES = ("max_order_value", "avg_order_value")
AVERAGES = ("avg_order_value", "net_order_value")  # before and after refunds


def only_order(feature: str, value: Any, orders: Any, purchase_counts: Any = None) -> bool:
    """Whether an order value of a money log is a one-order customer's only order: "largest
    order 2,021; average order 2,021" beside "1 order so far" was one order three times, and
    "largest" read as good news (session 59)."""
    if feature not in ORDER_VALUES or purchase_counts or is_missing(value):
        return False
    return isinstance(orders, int | float) and not is_missing(orders) and orders == 1


def largest_order_text(value: float, spent: Any) -> str:
    """The largest order with the share of all the user spent it was: the risk is in that
    share, not the size (online_retail at 2011-09-10, customers of 3-5 orders: 19% bought
    nothing in the next 91 days in the lowest quarter of that share, 37% in the highest,
    while by the order's size 40% down to 24%)."""
    said = REASON_TEXT["max_order_value"].format(amount=money_text(value))
    if not isinstance(spent, int | float) or is_missing(spent) or spent <= 0 or value <= 0:
        return said
    return f"{said}, {min(value / spent, 1.0):.0%} of all they spent"


def orders_said(
    feature: str, value: Any, usual_gap_days: Any, orders: Any, purchase_counts: Any = None
) -> float | None:
    """The order count a reason's words say: with its usual gap (:func:`orders_within`), an
    overdue ratio at or above 1 ("1.5x their usual gap: 2 orders within 30 days"), a usual
    gap under a day, or no ratio of a gap under a day ("their 3 orders came within 2 days");
    an order value of one order (:func:`only_order`, "1 order so far, of 2,021"); None where
    the words say no count, so that "2 orders so far" beside them says it once."""
    if only_order(feature, value, orders, purchase_counts):
        return 1.0
    if orders_within(usual_gap_days, orders) is None:
        return None
    if feature == USUAL_GAP:
        return float(orders) if under_a_day(usual_gap_days) else None
    if feature != "overdue_ratio":
        return None
    if is_missing(value):
        return float(orders) if under_a_day(usual_gap_days) else None
    return float(orders) if isinstance(value, int | float) and value >= 1 else None


def spent_and_kept(spent: Any, kept: Any, purchase_counts: Counted | None = None) -> str | None:
    """All a user spent (before refunds) and what they kept after refunds, where the two
    differ as lists show money: "spent 642 in all, 635 net of refunds", the second the
    lists' ``revenue`` (635.04), which "spent 642 in all" beside it left unsaid (online_retail
    15297, one of 10 such of 4,372 users at 2011-12-10); None where either is unknown,
    nothing was spent or nothing refunded. A log counting purchases (``purchase_counts``)
    says both as its counts: "42 purchases in all, 40 net of refunds"."""
    if any(not isinstance(v, int | float) or is_missing(v) for v in (spent, kept)):
        return None
    if purchase_counts is not None:
        return _counted_spent_and_kept(
            spent / purchase_counts.each, kept / purchase_counts.each, purchase_counts
        )
    if _is_none(spent, money=True) or money_text(spent) == money_text(kept):
        return None
    said = f"spent {money_text(spent)} in all"
    if _is_none(kept, money=True):
        return f"{said}, all of it refunded"
    if kept < 0:
        return f"{said}, refunded {money_text(-kept)} more than that"
    return f"{said}, {money_text(kept)} net of refunds"


def _counted_spent_and_kept(spent: float, kept: float, purchase_counts: Counted) -> str | None:
    """:func:`spent_and_kept` of a log counting purchases, ``spent`` and ``kept`` in them."""
    if _is_none(spent) or f"{spent:,.0f}" == f"{kept:,.0f}":
        return None
    unit = counted_noun(purchase_counts)[1]
    said = COUNTED_TEXT["revenue_total"].format(value=spent, s=_plural(spent), unit=unit)
    if _is_none(kept):  # as _nothing_kept
        return f"{said}, all of them refunded"
    if kept < 0:
        return f"{said}, {-kept:,.0f} more refunded than that"
    return f"{said}, {kept:,.0f} net of refunds"


def average_and_kept(average: Any, kept: Any, orders: Any = None) -> str | None:
    """A money log's average order before refunds and after, where the two differ as lists
    show money and something was kept: "average order 229, 228 net of refunds", one reason
    for both features as :func:`spent_and_kept` is of all spent (online_retail at
    2011-12-10: 29 of the 3,679 listed users read "average order 228 net of refunds; average
    order 229", one average twice); where the two print alike, the average before refunds,
    which both say ("average order 202 net of refunds; average order 202" of 12421). Of one
    order (``orders``), that order (:func:`only_order`): "1 order so far, of 2,626, 2,602 net
    of refunds" (13422 read "1 order so far, of 2,626; ...; average order 2,602 net of
    refunds"); all refunded, "..., all of it refunded", as all spent says it. None otherwise."""
    if any(not isinstance(v, int | float) or is_missing(v) for v in (average, kept)):
        return None
    one = isinstance(orders, int | float) and not is_missing(orders) and orders < 1.5
    said = (
        f"1 order so far, of {money_text(average)}"
        if one
        else REASON_TEXT["avg_order_value"].format(amount=money_text(average))
    )
    if money_text(average) == money_text(kept):
        return said
    if _is_none(kept, money=True):  # "nothing kept per order after refunds" beside it
        return f"{said}, all of it refunded"
    if kept < 0:
        return None
    return f"{said}, {money_text(kept)} net of refunds"


def split_orders_text(usual_gap_days: Any, orders: Any = None) -> str:
    """Orders under a day apart on average: their count and the days they came within
    where ``orders`` is known, else the mean's own words."""
    within = orders_within(usual_gap_days, orders)
    return f"their {within[0]} came within {within[1]}" if within else NONE_TEXT[USUAL_GAP]


def _not_yet_due_text(ratio: float, usual_gap_days: Any) -> str:
    """A next purchase not yet due, in days where the usual gap is a day or more: "0.0x
    their usual gap" read as a glitch of a customer who had just bought (trial 107)."""
    if is_missing(usual_gap_days) or under_a_day(usual_gap_days):
        if ratio == 0:
            return f"next purchase not yet due ({NONE_TEXT['purchase_recency_days']})"
        return f"next purchase not yet due ({_times(ratio)}x their usual gap)"
    days = days_since_order(ratio, usual_gap_days)
    bought = (
        NONE_TEXT["purchase_recency_days"]
        if days == 0
        else f"bought {days:.0f} day{_plural(days)} ago"
    )
    return f"next purchase not yet due: {bought}, {reason_text(USUAL_GAP, usual_gap_days)}"


def _ratio_text(
    feature: str,
    value: float,
    usual_gap_days: Any = None,
    trends: Trends | None = None,
    orders: Any = None,
) -> str:
    """The overdue ratio and the trends, worded by which side of 1 the value is on; an
    overdue one with the orders its usual gap was made of (:func:`orders_within`)."""
    if feature == "overdue_ratio" and value < 1:
        return _not_yet_due_text(value, usual_gap_days)
    if feature == "overdue_ratio":
        state = "overdue" if value > 1 else "due now"
        within = orders_within(usual_gap_days, orders)
        made_of = f": {within[0]} within {within[1]}" if within else ""
        return f"next purchase {state} ({_times(value)}x their usual gap{made_of})"
    short, longer = trend_days(feature, trends)
    what, recent = TRENDS[feature], f"last {short} days"
    pace = "the yearly pace" if longer == 365 else f"the {longer}-day pace"
    if value == 0:
        nouns = WINDOW_NOUNS[TREND_KINDS[feature]][0]
        return f"no {nouns} in the {recent}, some in {_days_text(longer)}"
    if value == 1:
        return f"{what} steady ({recent} at {pace})"
    direction = "rising" if value > 1 else "falling"
    return f"{what} {direction} ({recent} at {_times(value)}x {pace})"


def _missing_text(feature: str, purchase_counts: Counted | None, trends: Trends | None) -> str:
    if purchase_counts and feature in COUNTED_MISSING:
        return COUNTED_MISSING[feature].format(unit=counted_noun(purchase_counts)[1])
    if feature in TRENDS:  # the longer window is empty
        nouns = WINDOW_NOUNS[TREND_KINDS[feature]][0]
        return f"no {nouns} in the last {trend_days(feature, trends)[1]} days"
    if feature in MISSING_TEXT:
        return MISSING_TEXT[feature]
    window = window_of(feature)
    if window is not None and window[0] in WINDOW_NOUNS:
        return f"no {WINDOW_NOUNS[window[0]][0]} recorded in the last {window[1]} days"
    if window is not None and window[0] in WINDOW_AMOUNTS:
        nouns = "refunds" if window[0] == "refund_amount" else "spend"
        nouns = counted_noun(purchase_counts)[0] if purchase_counts and nouns == "spend" else nouns
        return f"no {nouns} recorded in the last {window[1]} days"
    return f"{feature.replace('_', ' ')} not recorded"  # a column of the data's own


def _count_text(kind: str, value: float) -> str:
    """A window's value as its reason says it: money as lists show it, a count whole."""
    return money_text(value) if kind in WINDOW_AMOUNTS else f"{value:,.0f}"


def _window_text(feature: str, value: float) -> str | None:
    """A window count's or amount's words; None for a feature that is neither."""
    window = window_of(feature)
    if window is None:
        return None
    name, days = window
    last = f"in the last {days} days"
    amount = _count_text(name, value)
    if name in WINDOW_AMOUNTS:
        some, none = WINDOW_AMOUNTS[name]
        return f"{none if _is_none(value, money=True) else some.format(amount=amount)} {last}"
    if name not in WINDOW_NOUNS:
        return None
    nouns, noun = WINDOW_NOUNS[name]
    if _is_none(value):
        return f"no {nouns} {last}"
    return f"{amount} {noun if amount == '1' else nouns} {last}"


def _counted_text(feature: str, value: float, purchase_counts: Counted) -> str | None:
    """A money feature's words as purchases (or items); None for a feature that is no amount."""
    unit = counted_noun(purchase_counts)[1]
    if feature in COUNTED_RATIOS:
        return COUNTED_RATIOS[feature].format(value=value, unit=unit)
    purchases = value / purchase_counts.each
    purchases = 0.0 if _is_none(purchases) else purchases  # -0.4 reads as none, not "-0"
    window = window_of(feature)
    if feature in COUNTED_NEGATIVE and purchases < 0:
        return COUNTED_NEGATIVE[feature].format(value=-purchases, s=_plural(-purchases), unit=unit)
    if feature in COUNTED_TEXT:
        template = COUNTED_TEXT[feature]
    elif window is not None and window[0] in COUNTED_WINDOWS:
        template = COUNTED_WINDOWS[window[0]].replace("{window}", str(window[1]))
    else:
        return None
    text = template.format(value=purchases, s=_plural(purchases), unit=unit)
    return "no" + text.removeprefix("0") if text.startswith(f"0 {unit}s") else text


def counted_name(feature: str, purchase_counts: Counted | None) -> str:
    """A money feature's name as a log without money words it (a drift table's column): its
    reason's words with N for the value ('revenue_30d': "N purchases in the last 30 days",
    or items); the name itself for a log with money or a feature that is no amount."""
    if purchase_counts is None or feature in COUNTED_RATIOS:
        return feature
    said = _counted_text(feature, 2.0 * purchase_counts.each, purchase_counts)
    return feature if said is None else said.replace("2", "N", 1)


def reason_text(
    feature: str,
    value: Any,
    purchase_counts: Counted | None = None,
    *,
    usual_gap_days: Any = None,
    first_day_only: bool = False,
    trends: Trends | None = None,
    orders: Any = None,
    spent: Any = None,
    kept: Any = None,
) -> str:
    """An operator's words for a feature's value; ``purchase_counts`` (what each purchase
    counts in a log without amounts, ``serving.units.Counted``) words amounts as purchases,
    or items where its noun says so;
    ``usual_gap_days``: the user's mean gap between orders, for the overdue ratio;
    ``first_day_only``: the user did nothing past their first day (the days since it);
    ``trends``: the windows each trend compares (:func:`trend_days`); ``orders``: the
    user's orders, which the usual gap was made of (:func:`orders_within`), or of which an
    order value is the only one (:func:`only_order`); ``spent``: all the user spent, of
    which the largest order is said as a share (:func:`largest_order_text`), and beside
    what they kept (``net_revenue_total``), or the average order beside its value after
    refunds (``net_order_value``); ``kept``: what they kept after refunds, beside all they
    spent (``revenue_total``, :func:`spent_and_kept`) or the average order
    (``avg_order_value``, :func:`average_and_kept`)."""
    if feature == "overdue_ratio" and is_missing(value) and under_a_day(usual_gap_days):
        # a usual gap of 0 (orders of one moment) makes no ratio: "no usual gap between
        # purchases yet" read as fewer than two orders (online_retail 16268, session 50)
        return split_orders_text(usual_gap_days, orders)
    if is_missing(value):
        return _missing_text(feature, purchase_counts, trends)
    if feature == "recency_days" and first_day_only:
        days = float(whole_days(value))
        return FIRST_DAY_ONLY.format(value=days, s=_plural(days))
    if feature == "activated":
        return "activated" if value else "never activated"
    if feature == "channel":
        return f"acquired through {value}"
    if not isinstance(value, int | float):
        return f"{feature.replace('_', ' ')}: {value}"  # a personal attribute of the data's own
    if feature == "refund_rate" and value < 0.005:  # "0% of spend refunded" said 0.3% too
        spend = counted_noun(purchase_counts)[0] if purchase_counts else "spend"
        return NONE_TEXT["refund_amount_total"] if value == 0 else f"under 1% of {spend} refunded"
    if purchase_counts and feature in SPENT:  # as a log with money says both
        both = spent_and_kept(
            *((value, kept) if feature == "revenue_total" else (spent, value)), purchase_counts
        )
        if both:
            return both
    if purchase_counts:
        counted = _counted_text(feature, float(value), purchase_counts)
        if counted is not None:
            return counted
    if only_order(feature, value, orders, purchase_counts):
        return f"1 order so far, of {money_text(value)}"
    if feature == "max_order_value" and value >= 0:
        return largest_order_text(float(value), spent)
    if feature in AVERAGES and not purchase_counts:
        gross, net = (value, kept) if feature == "avg_order_value" else (spent, value)
        both = average_and_kept(gross, net, orders)
        if both:
            return both
    if feature in SPENT:
        both = spent_and_kept(*((value, kept) if feature == "revenue_total" else (spent, value)))
        if both:
            return both
    if feature == "overdue_ratio" and value > 1 and under_a_day(usual_gap_days):
        # orders minutes apart (a basket split in two) make a usual gap of minutes: a ratio
        # of thousands says nothing an operator can use, nor does "overdue" of a customer
        # first seen two days ago; the mean, as gaps of 0.001 and 1.99 days are (trial W).
        # The days since the last order are the fact: without them a customer who bought 3
        # days ago read as one gone a year (online_retail 16000 and 17850, session 48).
        days, split = (
            days_since_order(value, usual_gap_days),
            split_orders_text(usual_gap_days, orders),
        )
        if days == 0:  # under a whole day: "no order for 0 days" contradicts itself
            return f"{NONE_TEXT['purchase_recency_days']} ({split})"
        return f"no order for {days:.0f} day{_plural(days)} ({split})"
    if feature == USUAL_GAP and under_a_day(value):  # as the overdue ratio's words say it
        return split_orders_text(value, orders)
    if feature == "overdue_ratio" or feature in TRENDS:
        return _ratio_text(feature, float(value), usual_gap_days, trends, orders)
    if feature in NONE_TEXT and _is_none(value, money=feature in COUNTED_TEXT):
        return NONE_TEXT[feature]
    if feature in NEGATIVE_TEXT and value < 0:
        return NEGATIVE_TEXT[feature].format(amount=money_text(-value))
    if feature in DAYS_SINCE:
        value = float(whole_days(value))
        if value == 0:  # under a whole day (0.7 days): not "no activity for 0 days"
            return NONE_TEXT[feature]
    if feature in REASON_TEXT:
        return REASON_TEXT[feature].format(value=value, s=_plural(value), amount=money_text(value))
    return _window_text(feature, float(value)) or f"{feature.replace('_', ' ')}: {value:.3g}"


def reasons_text(raw: str | None, withheld: Sequence[str] = ()) -> str:
    """The stored reasons as one line an operator reads (``;``-separated)."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return ""
    return "; ".join(r["text"] for r in json.loads(raw) if r["feature"] not in withheld)
