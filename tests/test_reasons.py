"""Churn reasons in words: the words follow the value (not only the direction it pushed the
score), a missing value reads in the domain's words, one quantity has one wording."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from workspaces import TrainedWorkspace

from features import contract as c
from features.asof import compute_features, feature_names
from serving.churn_reasons import worded_reasons
from serving.reason_words import reason_text
from serving.segments import first_day_only_columns, lifecycle_stage
from serving.units import Counted, amount_text

WINDOWS = (7, 30, 90, 365)
# Every feature of the feature set (numeric, and the categorical channel).
FEATURES = [*feature_names(WINDOWS), "channel"]
SNAKE = [name for name in FEATURES if "_" in name]


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("overdue_ratio", 0.0, "next purchase not yet due (bought within the last day)"),
        ("overdue_ratio", 0.016, "next purchase not yet due (0.016x their usual gap)"),
        ("overdue_ratio", 0.4, "next purchase not yet due (0.4x their usual gap)"),
        ("overdue_ratio", 0.96, "next purchase not yet due (0.96x their usual gap)"),
        ("overdue_ratio", 1.0, "next purchase due now (1.0x their usual gap)"),
        ("overdue_ratio", 2.3, "next purchase overdue (2.3x their usual gap)"),
        ("overdue_ratio", 461.04, "next purchase overdue (461x their usual gap)"),  # not 461.0x
        ("trend_orders_90_365", 2.4, "orders rising (last 90 days at 2.4x the yearly pace)"),
        ("trend_orders_90_365", 0.5, "orders falling (last 90 days at 0.5x the yearly pace)"),
        ("trend_orders_90_365", 0.0, "no orders in the last 90 days, some in the year"),
        ("trend_orders_90_365", 1.04, "orders rising (last 90 days at 1.04x the yearly pace)"),
        ("trend_active_days_30_90", 1.5, "activity rising (last 30 days at 1.5x the 90-day pace)"),
        ("trend_active_days_30_90", 1.0, "activity steady (last 30 days at the 90-day pace)"),
        ("recency_days", 0.3, "active within the last day"),
        ("purchase_recency_days", 12.0, "no purchase for 12 days"),
        ("ipt_std_days", 1.0, "gaps between purchases vary by 1 day"),
        ("sessions_30d", 25.0, "25 sessions in the last 30 days"),
        ("active_days_30d", 1.0, "1 active day in the last 30 days"),
    ],
)
def test_the_words_follow_the_value(feature: str, value: float, expected: str) -> None:
    assert reason_text(feature, value) == expected


@pytest.mark.parametrize("purchase_counts", [None, Counted(1.0)])
def test_a_missing_value_never_reads_as_the_feature_name(purchase_counts: Counted | None) -> None:
    for feature in FEATURES:
        for missing in (None, math.nan):
            text = reason_text(feature, missing, purchase_counts)
            assert "_" not in text, (feature, text)
            words = feature.replace("_", " ")
            assert " " not in words or words not in text, (feature, text)
            assert "unknown" not in text, (feature, text)
    assert reason_text("ipt_mean_days", None) == "no repeat purchase yet"
    assert reason_text("first_purchase_age_days", None) == "no purchase yet"
    assert reason_text("ipt_std_days", math.nan) == "fewer than 3 orders so far"


def test_a_refund_count_counts_credit_notes_as_orders_count_invoices() -> None:
    # online_retail's 13069 returned one credit note of 23 lines in the 30 days before
    # 2011-12-10 and read "23 refunds in the last 30 days" (22 such customers, trial U): the
    # feature counted refund rows; it counts a note (one order id and day) once, as an order
    rows = [
        {
            c.USER_ID: "13069",
            c.EVENT_TIME: pd.Timestamp("2011-11-02 10:00", tz="UTC"),
            c.EVENT_TYPE: c.PURCHASE,
            c.AMOUNT: 500.0,
            c.ORDER_ID: "570000",
        },
    ]
    rows += [
        {
            c.USER_ID: "13069",
            c.EVENT_TIME: pd.Timestamp("2011-11-20 11:37", tz="UTC"),
            c.EVENT_TYPE: c.REFUND,
            c.AMOUNT: 1.25,
            c.ORDER_ID: "C575000",
        }
        for _ in range(23)
    ]
    features = compute_features(pd.DataFrame(rows), ["2011-12-10"], windows=(30,))
    assert reason_text("refunds_30d", features["refunds_30d"].item()) == (
        "1 refund in the last 30 days"
    )
    assert reason_text("refunds_90d", 4.0) == "4 refunds in the last 90 days"
    assert reason_text("refunds_90d", 0.0) == "no refunds in the last 90 days"


def test_refunds_beyond_spend_read_as_such_never_as_negative_spend() -> None:
    # Refunds of purchases made before the log: the at-risk list of a real purchase log said
    # "spent -153 net of refunds" (and "-0 purchases kept after refunds" in a count-only log).
    assert reason_text("net_revenue_total", -153.2) == "refunded 153 more than spent"
    assert reason_text("net_order_value", -30.0) == "refunds exceed spend by 30 per order"
    assert reason_text("net_revenue_total", -0.4) == "refunded 0.40 more than spent"
    assert reason_text("net_revenue_total", -0.004) == "nothing kept after refunds"
    assert reason_text("net_revenue_total", 12.0) == "spent 12 net of refunds"
    assert (
        reason_text("net_revenue_total", -3.0, Counted(1.0))
        == "3 purchases more refunded than bought"
    )
    assert (
        reason_text("net_revenue_total", -1.0, Counted(1.0))
        == "1 purchase more refunded than bought"
    )
    assert reason_text("net_revenue_total", -0.4, Counted(1.0)) == "no purchases net of refunds"
    for feature in ("net_revenue_total", "net_order_value"):  # the amounts that can be < 0
        for purchase_counts in (None, Counted(1.0), Counted(2.0)):
            for value in (-5.0, -0.3):
                assert "-" not in reason_text(feature, value, purchase_counts), (feature, value)


def test_small_amounts_in_reasons_are_said_as_lists_show_money() -> None:
    """Reasons rounded money to whole, half to even: online_retail's -4.50 read "refunded 4
    more than spent", -7.50 "refunded 8", and 0.30 spent "spent nothing". Now an amount is
    said as lists show money (whole from 100 up, else the digits it needs), whole if whole."""
    assert reason_text("net_revenue_total", -4.5) == "refunded 4.5 more than spent"
    assert reason_text("net_revenue_total", -7.5) == "refunded 7.5 more than spent"
    assert reason_text("net_order_value", -2.25) == "refunds exceed spend by 2.2 per order"
    assert reason_text("avg_order_value", 12.75) == "average order 12.8"
    assert reason_text("max_order_value", 90.0) == "largest order 90"
    assert reason_text("revenue_total", 1234.5) == "spent 1,234 in all"
    assert reason_text("refund_amount_total", 0.3) == "refunded 0.30 in all"
    assert reason_text("revenue_90d", 0.3) == "spent 0.30 in the last 90 days"
    assert reason_text("revenue_30d", 0.0) == "spent nothing in the last 30 days"
    assert reason_text("orders_90d", 3.0) == "3 orders in the last 90 days"  # a count
    assert amount_text(-7.5) == "-7.5" and amount_text(0.3) == "0.30"  # the lists' own


def test_one_quantity_has_one_wording_in_every_window() -> None:
    spent = [reason_text(f"revenue_{w}d", 300.0) for w in WINDOWS]
    assert spent == [f"spent 300 in the last {w} days" for w in WINDOWS]
    nothing = [reason_text(f"revenue_{w}d", 0.0) for w in WINDOWS]
    assert nothing == [f"spent nothing in the last {w} days" for w in WINDOWS]
    sessions = [reason_text(f"sessions_{w}d", 0.0) for w in WINDOWS]
    assert sessions == [f"no sessions in the last {w} days" for w in WINDOWS]
    active = [reason_text(f"active_days_{w}d", 2.0) for w in WINDOWS]
    assert active == [f"2 active days in the last {w} days" for w in WINDOWS]


def test_a_reason_already_said_is_said_once() -> None:
    names = ["first_purchase_age_days", "purchase_recency_days", "recency_days", "orders_90d"]
    contributions = np.array([0.4, 0.3, 0.2, 0.1])
    values = {"recency_days": 40.0, "orders_90d": 0.0}
    picked = worded_reasons(names, contributions, np.arange(4), values.get)
    # no purchase yet says no orders in the last 90 days too: one reason with all three
    assert [r["text"] for r in picked] == ["no purchase yet", "no activity for 40 days"]
    assert picked[0]["contribution"] == pytest.approx(0.8)


def test_reasons_that_say_one_fact_are_one_reason() -> None:
    """online_retail's scores said one fact two or three times: "spent nothing so far; no
    purchase yet; spent nothing in the last 90 days" (26 users), "fewer than 3 orders so far;
    2 orders so far" (215), "fewer than 3 orders so far; no usual gap between purchases yet"
    (247). The reason that says the most is kept, carrying the contributions of all."""
    names = ["revenue_total", "purchase_recency_days", "revenue_90d", "recency_days"]
    contributions = np.array([0.4, 0.3, 0.2, 0.1])
    never = {"revenue_total": 0.0, "purchase_recency_days": None, "revenue_90d": 0.0}
    picked = worded_reasons(names, contributions, np.arange(4), (never | {"recency_days": 9.0}).get)
    assert [(r["text"], r["feature"]) for r in picked] == [
        ("no purchase yet", "purchase_recency_days"),
        ("no activity for 9 days", "recency_days"),
    ]
    assert picked[0]["contribution"] == pytest.approx(0.9) and picked[0]["value"] is None

    names = ["ipt_std_days", "orders_total", "overdue_ratio", "ipt_mean_days", "recency_days"]
    contributions = np.array([0.5, 0.3, 0.2, 0.1, 0.05])
    two = {"ipt_std_days": None, "orders_total": 2.0, "overdue_ratio": 1.5}
    two |= {"ipt_mean_days": 30.0, "recency_days": 45.0}
    picked = worded_reasons(names, contributions, np.arange(5), two.get)
    # the overdue ratio's words say the count, which says fewer than 3, and the usual gap
    # (session 59: "2 orders so far" and "buys every 30 days on average" said them again)
    assert [r["text"] for r in picked] == [
        "next purchase overdue (1.5x their usual gap: 2 orders within 30 days)",
        "no activity for 45 days",
    ]
    assert picked[0]["contribution"] == pytest.approx(1.1)
    one = {"ipt_std_days": None, "orders_total": 1.0, "overdue_ratio": None}
    one |= {"ipt_mean_days": None, "recency_days": 45.0}
    picked = worded_reasons(names, contributions, np.arange(5), one.get)
    assert [r["text"] for r in picked] == ["1 order so far", "no activity for 45 days"]
    assert picked[0]["contribution"] == pytest.approx(1.1)
    # Without the order count: the bound that says more (no gap: fewer than 2 orders).
    names = ["ipt_std_days", "overdue_ratio", "recency_days", "ipt_mean_days"]
    picked = worded_reasons(names, np.array([0.5, 0.2, 0.05, -0.1]), np.arange(4), one.get)
    assert [r["text"] for r in picked] == [
        "no usual gap between purchases yet",
        "no activity for 45 days",
    ]
    # Orders of one moment: a usual gap of 0 makes no ratio, yet there were two orders; the
    # missing ratio says the gap (test_orders_of_one_moment_never_read_as_no_gap_yet).
    moment = one | {"orders_total": 2.0, "ipt_mean_days": 0.0}
    names = ["orders_total", "overdue_ratio", "ipt_mean_days"]
    picked = worded_reasons(names, np.array([0.5, 0.2, 0.1]), np.arange(3), moment.get)
    assert [r["text"] for r in picked] == ["their 2 orders came within a day"]  # the count once
    assert picked[0]["contribution"] == pytest.approx(0.8)
    # Refunds: none so far says none in any window, counted or summed; 0% refunded says none.
    names = ["refund_rate", "refunds_90d", "refund_amount_30d", "refund_amount_total"]
    none = {"refund_rate": 0.0, "refunds_90d": 0.0, "refund_amount_30d": 0.0}
    picked = worded_reasons(
        names,
        np.array([0.1, 0.2, 0.3, 0.4]),
        np.arange(4)[::-1],
        (none | {"refund_amount_total": 0.0}).get,
    )
    assert [r["text"] for r in picked] == ["nothing refunded so far (raises the risk)"]
    assert picked[0]["contribution"] == pytest.approx(1.0)
    picked = worded_reasons(names[1:3], np.array([0.2, 0.3]), np.array([1, 0]), none.get)
    assert [r["text"] for r in picked] == ["no refunds in the last 90 days (raises the risk)"]
    # A model without the usual gap knows nothing of why there is no ratio: said apart.
    names = ["orders_total", "overdue_ratio"]
    picked = worded_reasons(names, np.array([0.5, 0.2]), np.arange(2), one.get)
    assert [r["text"] for r in picked] == ["1 order so far", "no usual gap between purchases yet"]


def test_an_empty_window_is_said_once_as_the_emptiest_with_both_contributions() -> None:
    """CDNOW's top at-risk customer read "spent nothing in the last 90 days; no active days
    in the last 90 days; no orders in the last 90 days": one fact three times. No active days
    says no orders and no spend in that window: one reason, carrying the three contributions
    (they add up), ranked by that sum; so does a shorter window's emptiness, which the longer
    one holds; a longer window, or orders in it, stay apart."""
    names = ["revenue_90d", "active_days_90d", "orders_90d", "recency_days", "orders_30d"]
    names += ["orders_365d"]
    contributions = np.array([0.4, 0.3, 0.2, 0.5, 0.1, 0.05])
    values = {"revenue_90d": 0.0, "active_days_90d": 0.0, "orders_90d": 0.0}
    values |= {"recency_days": 120.0, "orders_30d": 0.0, "orders_365d": 0.0}
    ranked = np.argsort(-contributions)
    picked = worded_reasons(names, contributions, ranked, values.get)
    # no activity for 120 days says no active days, spend or orders in 90 days and no orders
    # in 30 days: one fact ("no active days in the last 90 days; ...; no activity for 112
    # days" was said twice on online_retail), the longest said; 365 days stay apart
    assert [(r["text"], r["feature"]) for r in picked] == [
        ("no activity for 120 days", "recency_days"),
        ("no orders in the last 365 days", "orders_365d"),
    ]
    assert picked[0]["contribution"] == pytest.approx(1.5) and picked[0]["value"] == 120.0
    # Active 60 days ago, within the 90 days: 30 days of nothing say the orders of 30 days,
    # and the spend of none in 90 days is said apart.
    bought = values | {"orders_90d": 2.0, "active_days_90d": 1.0, "recency_days": 60.0}
    bought |= {"orders_365d": 2.0}  # the 90 days' orders are in the 365 days
    texts = [r["text"] for r in worded_reasons(names, contributions, ranked, bought.get)]
    assert texts == [
        "no activity for 60 days",
        "spent nothing in the last 90 days",
        "1 active day in the last 90 days",
    ]


def test_a_fact_said_after_three_reasons_still_joins_the_one_it_says() -> None:
    """online_retail's 17850, silent for 280 days, read "34 orders in the last 365 days; 156
    per order net of refunds; spent nothing in the last 90 days": its days without activity
    came fourth, after three reasons were picked, so the silence was said as a 90-day window.
    A later reason that says a picked one's fact still joins it (the stronger said, the
    contributions summed, which can rank it first); one that says nothing picked adds none."""
    names = ["orders_365d", "net_order_value", "revenue_90d", "recency_days", "orders_30d"]
    names += ["active_days_90d", "avg_order_value"]
    contributions = np.array([0.443, 0.389, 0.286, 0.262, 0.05, 0.191, 0.2])
    values = {"orders_365d": 34.0, "net_order_value": 156.0, "revenue_90d": 0.0}
    values |= {"recency_days": 280.0, "orders_30d": 0.0, "active_days_90d": 0.0}
    values |= {"avg_order_value": 158.6}
    picked = worded_reasons(names, contributions, np.argsort(-contributions), values.get)
    assert [(r["text"], r["feature"]) for r in picked] == [
        ("no activity for 280 days", "recency_days"),
        # the average order before and after refunds: one reason (test_spent_words)
        ("average order 159, 156 net of refunds", "net_order_value"),
        # none of them in the nearest shorter window the model has: said so (trial 107)
        ("34 orders in the last 365 days, none in the last 30 days", "orders_365d"),
    ]
    assert picked[0]["contribution"] == pytest.approx(0.286 + 0.262 + 0.191 + 0.05)
    assert picked[1]["contribution"] == pytest.approx(0.389 + 0.2)  # the same words


def test_windows_as_long_as_the_user_is_known_say_one_total_once() -> None:
    """A user seen once read "1 active day in the last 90 days; 1 active day in the last 365
    days": both windows hold all of a user known for 20 days, one fact twice. Such windows
    are one reason with both contributions, and with the total of the same kind (spend so
    far, the orders so far); a window shorter than the user is known, a different count, or
    a model without tenure keep them apart."""
    names = ["active_days_90d", "active_days_365d", "revenue_90d", "revenue_total"]
    names += ["orders_365d", "orders_total", "tenure_days", "recency_days"]
    contributions = np.array([0.5, 0.4, 0.3, 0.29, 0.35, 0.32, -0.1, 0.05])
    young = {"active_days_90d": 1.0, "active_days_365d": 1.0, "revenue_90d": 42.0}
    young |= {"revenue_total": 42.0, "orders_365d": 1.0, "orders_total": 1.0}
    young |= {"tenure_days": 20.0, "recency_days": 20.0}
    ranked = np.argsort(-contributions)
    picked = worded_reasons(names, contributions, ranked, young.get)
    assert [r["text"] for r in picked] == [
        "1 active day in the last 90 days",
        "1 order in the last 365 days",
        "spent 42 in the last 90 days (raises the risk)",
    ]
    # the spend of 90 days is the spend so far too (revenue_total, ranked after three reasons)
    assert [r["contribution"] for r in picked] == pytest.approx([0.9, 0.67, 0.59])
    spend = ["revenue_90d", "revenue_total", "tenure_days"]
    picked = worded_reasons(spend, np.array([0.3, 0.2, -0.1]), np.arange(3), young.get)
    assert [(r["text"], r["contribution"]) for r in picked] == [
        ("spent 42 in the last 90 days (raises the risk)", pytest.approx(0.5))
    ]
    # known for 200 days: the 90 days are part of it, the 365 all of it
    older = young | {"tenure_days": 200.0}
    texts = [r["text"] for r in worded_reasons(names, contributions, ranked, older.get)]
    assert texts == [
        "1 order in the last 365 days",  # the 365 days hold all of it still: with the total
        "1 active day in the last 90 days",
        "1 active day in the last 365 days",
    ]
    apart = young | {"active_days_365d": 3.0}
    texts = [r["text"] for r in worded_reasons(names, contributions, ranked, apart.get)]
    assert "1 active day in the last 90 days" in texts  # two counts: two reasons
    assert "3 active days in the last 365 days (raises the risk)" in texts
    no_tenure = [n for n in names if n != "tenure_days"]
    shares = contributions[[names.index(n) for n in no_tenure]]
    picked = worded_reasons(no_tenure, shares, np.argsort(-shares), young.get)
    texts = [r["text"] for r in picked]
    assert texts[:2] == ["1 active day in the last 90 days", "1 active day in the last 365 days"]


def test_a_value_after_no_refunds_is_said_as_the_value_itself() -> None:
    """A customer who refunded nothing has the same average order before and after refunds:
    said once, in the plain words ("145 purchases per order on average" beside "145
    purchases per order kept after refunds" on a count-only log filled two of three reasons
    with one fact); with a refund the value after it is said as such."""
    names = ["net_order_value", "avg_order_value", "net_revenue_total", "orders_90d"]
    contributions = np.array([0.4, 0.3, 0.2, 0.1])
    kept = {"net_order_value": 145.0, "avg_order_value": 145.0, "net_revenue_total": 290.0}
    kept["orders_90d"] = 0.0
    picked = worded_reasons(names, contributions, np.arange(4), kept.get)
    assert (
        [r["text"] for r in picked]
        == [
            "average order 145",
            "spent 290 net of refunds (raises the risk)",  # its gross (revenue_total) is not among the features
            "no orders in the last 90 days",
        ]
    )
    assert picked[0]["feature"] == "net_order_value" and picked[0]["value"] == 145.0
    counted = worded_reasons(names, contributions, np.arange(4), kept.get, Counted(1.0))
    assert counted[0]["text"] == "145 purchases per order on average"
    assert "net of refunds" not in " ".join(r["text"] for r in counted[:1])
    refunded = kept | {"avg_order_value": 160.0}
    picked = worded_reasons(names, contributions, np.arange(4), refunded.get)
    assert [r["text"] for r in picked[:2]] == [
        "average order 160, 145 net of refunds",  # one reason of both (test_spent_words)
        "spent 290 net of refunds (raises the risk)",
    ]
    missing = {"net_order_value": None, "avg_order_value": None, "orders_90d": 0.0}
    picked = worded_reasons(names, contributions, np.arange(4), missing.get)
    assert picked[0]["text"] == "no purchase yet"


def test_overdue_against_a_usual_gap_under_a_day_says_so() -> None:
    """Two orders minutes apart make a usual gap of minutes (online_retail: 22 of the top 100
    at-risk customers read "35010.0x their usual gap"): said as what it is, and not as
    "overdue", which was said of a customer first seen two days before (trial 94)."""
    names = ["overdue_ratio", "ipt_mean_days", "orders_90d"]
    contributions = np.array([0.5, -0.1, 0.2])
    split_basket = {"overdue_ratio": 35010.0, "ipt_mean_days": 0.003, "orders_90d": 0.0}
    ranked = np.argsort(-contributions)
    picked = worded_reasons(names, contributions, ranked, split_basket.get)
    # 35010 x 0.003 = 105.03 days without an order (105 whole days gone by, as the stages
    # count): that says the empty 90 days, one reason
    assert [r["text"] for r in picked] == [
        "no order for 105 days (orders so far came on average less than a day apart)"
    ]
    assert picked[0]["value"] == 35010.0  # the value itself is kept
    assert picked[0]["contribution"] == pytest.approx(0.7)
    # online_retail 12432 (trial W): gaps of 0.001 and 1.99 days, a mean of 0.995; the words
    # said "came less than a day apart" of orders two days apart: the mean is what is known
    two_days = reason_text("overdue_ratio", 42.0, usual_gap_days=0.995)  # 41.79 days
    assert two_days == "no order for 41 days (orders so far came on average less than a day apart)"
    usual = {"overdue_ratio": 2.3, "ipt_mean_days": 30.0, "orders_90d": 0.0}
    picked = worded_reasons(names, contributions, ranked, usual.get)
    assert picked[0]["text"] == "next purchase overdue (2.3x their usual gap)"
    early = reason_text("overdue_ratio", 0.5, usual_gap_days=0.2)
    assert early == "next purchase not yet due (0.5x their usual gap)"


def test_orders_minutes_apart_say_how_long_since_the_last() -> None:
    """online_retail at 2011-12-10 (session 48): 16000's three orders of 2011-12-07 came
    minutes apart, 17850's 34 orders ended 373 days before; both read "no order since their
    orders so far, which came on average less than a day apart", a customer of three days
    ago as one gone a year, and 17850 said the sub-day gap twice beside it. The days since
    the last order are said, and the gap once."""
    names = ["ipt_mean_days", "overdue_ratio", "orders_total", "revenue_30d", "recency_days"]
    # the values and contributions 17850 and 16000 were served with
    gone = {"ipt_mean_days": 0.0391625, "overdue_ratio": 9507.99, "orders_total": 34.0}
    gone_raised = np.array([1.066, 0.794, 0.537, -0.2, -0.1])
    picked = worded_reasons(names, gone_raised, np.argsort(-gone_raised), gone.get)
    assert [r["text"] for r in picked] == [  # the count once (session 59)
        "no order for 372 days (their 34 orders came within 2 days)",
    ]
    assert picked[0]["contribution"] == pytest.approx(1.066 + 0.794 + 0.537)
    recent = {"ipt_mean_days": 0.0010417, "overdue_ratio": 2388.67, "orders_total": 3.0}
    recent_raised = np.array([-0.1, 0.279, -0.05, 0.347, 0.3])
    # the last order was the last activity: "no activity for 2 days" (2.49) is the same days,
    # said with the gap, not instead of it
    idle = recent | {"revenue_30d": 12393.7, "recency_days": 2388.67 * 0.0010417}
    picked = worded_reasons(names, recent_raised, np.argsort(-recent_raised), idle.get)
    assert [r["text"] for r in picked] == [
        "no order for 2 days (their 3 orders came within a day)",
        "spent 12,394 in the last 30 days (raises the risk)",
    ]
    assert picked[0]["contribution"] == pytest.approx(0.579)
    # activity since the last order (a later refund) is another fact, said apart
    later = idle | {"recency_days": 1.0}
    picked = worded_reasons(names, recent_raised, np.argsort(-recent_raised), later.get)
    assert [r["text"] for r in picked][1:] == [
        "no activity for 1 day",
        "no order for 2 days (their 3 orders came within a day)",
    ]
    # a gap under a day reads as the overdue ratio reads it, not "buys every 1 day on average"
    assert (
        reason_text("ipt_mean_days", 0.8) == "orders so far came on average less than a day apart"
    )


def test_orders_of_one_moment_never_read_as_no_gap_yet() -> None:
    """online_retail at 2011-12-10 (session 50, over HTTP): 16268's two orders (invoices
    569005 and 569006) came at 2011-09-29 18:30, a usual gap of 0 and so no overdue ratio;
    /score said "2 orders so far; no usual gap between purchases yet", which reads as fewer
    than two orders. The missing ratio of such a gap says the gap, once with the gap's own."""
    served = {"orders_total": 2.0, "overdue_ratio": None, "active_days_90d": 1.0}
    served |= {"ipt_mean_days": 0.0}
    names = ["orders_total", "overdue_ratio", "active_days_90d", "ipt_mean_days"]
    # the contributions 16268 was served with (ipt_mean_days' own is made up: the smallest)
    raised = np.array([0.229, 0.201, 0.070, 0.02])
    picked = worded_reasons(names, raised, np.arange(4), served.get)
    assert [r["text"] for r in picked] == [  # the count once (session 59)
        "their 2 orders came within a day",
        "1 active day in the last 90 days",
    ]
    assert picked[0]["feature"] == "overdue_ratio" and picked[0]["value"] is None
    assert picked[0]["contribution"] == pytest.approx(0.229 + 0.201 + 0.02)
    # a model without the usual gap among its inputs knows no more than a missing ratio
    alone = worded_reasons(names[:3], raised[:3], np.arange(3), served.get)
    assert [r["text"] for r in alone][1] == "no usual gap between purchases yet"


def test_scored_reasons_agree_with_their_values(trained_workspace: TrainedWorkspace) -> None:
    """Every reason the demo's batch scores give: no feature's name, the words of its value;
    no user's days idle said again as an empty 90 days (trial 107: 2,644 of 5,000 users), and
    no never active user said idle, as if once active."""
    table = pd.read_parquet(trained_workspace.scores_path, columns=["reasons", "lifecycle_stage"])
    table = table.dropna(subset=["reasons"])
    for text, stage in zip(table["reasons"], table["lifecycle_stage"], strict=True):
        said = [r["text"] for r in json.loads(text)]
        idle = any(t.startswith("no activity for") for t in said)
        assert not (idle and "no active days in the last 90 days" in said), said
        assert not (idle and stage == "never_active"), said
    reasons = [r for text in table["reasons"] for r in json.loads(text)]
    assert reasons
    for reason in reasons:
        feature, value, text = reason["feature"], reason["value"], reason["text"]
        assert not any(name in text or name.replace("_", " ") in text for name in SNAKE), reason
        if feature == "overdue_ratio" and value is not None:
            assert ("overdue" in text) == (value > 1), reason
        if feature.startswith("trend_") and value:
            assert ("rising" in text) == (value > 1), reason


def test_a_high_count_that_raised_the_risk_says_the_pace_it_fell_from() -> None:
    """The demo's u0009377, churn 56%, read "39 sessions in the last 90 days; 181 sessions in
    the last 365 days": two counts that raised the risk and read as good news (trial 95). A
    count below the user's own pace over the longest window says that pace, and the longest
    window's count says the same comparison, so the two are one reason; a count at its pace,
    an empty window, or a user known no longer than the window keeps its plain words."""
    names = ["sessions_30d", "sessions_90d", "sessions_365d", "tenure_days", "recency_days"]
    contributions = np.array([-0.05, 0.3, 0.2, -0.1, 0.01])
    ranked = np.argsort(-contributions)
    values = {"sessions_30d": 14.0, "sessions_90d": 39.0, "sessions_365d": 181.0}
    values |= {"tenure_days": 700.0, "recency_days": 2.0}
    picked = worded_reasons(names, contributions, ranked, values.get)
    assert [(r["text"], r["feature"]) for r in picked] == [
        (
            "39 sessions in the last 90 days, down from 45 per 90 days over the last 365 days",
            "sessions_90d",
        ),
        ("no activity for 2 days", "recency_days"),
    ]
    assert picked[0]["contribution"] == pytest.approx(0.5) and picked[0]["value"] == 39.0
    # known for 200 days: the pace is over those days
    young = worded_reasons(names, contributions, ranked, (values | {"tenure_days": 200.0}).get)
    assert young[0]["text"] == (
        "39 sessions in the last 90 days, down from 81 per 90 days since first seen 200 days ago"
    )
    # money the same way; a log counted in purchases keeps its plain words
    spend = ["revenue_90d", "revenue_365d"]
    paid = {"revenue_90d": 100.0, "revenue_365d": 1000.0}
    picked = worded_reasons(spend, np.array([0.2, 0.1]), np.arange(2), paid.get)
    assert [r["text"] for r in picked] == [
        "spent 100 in the last 90 days, down from 247 per 90 days over the last 365 days"
    ]
    counted = worded_reasons(spend, np.array([0.2, 0.1]), np.arange(2), paid.get, Counted(1.0))
    assert [r["text"] for r in counted] == [
        "100 purchases in the last 90 days (raises the risk)",
        "1,000 purchases in the last 365 days (raises the risk)",
    ]
    # at the pace, an empty recent window, or windows the user is known no longer than
    for plain in (
        values | {"sessions_90d": 45.0},
        values | {"sessions_90d": 0.0},
        values | {"tenure_days": 60.0},
    ):
        texts = [r["text"] for r in worded_reasons(names, contributions, ranked, plain.get)]
        assert not any("down from" in text for text in texts), texts


def test_an_empty_trend_window_is_said_once_with_the_days_idle() -> None:
    """2,644 of 5,000 demo users read "no activity for 131 days; ...; no active days in the
    last 90 days" (trial 107): the second is a missing 30/90 trend, whose 90 days are empty,
    which the days idle say. A trend of 0 empties its shorter window; the yearly one's missing
    value its year."""
    names = ["recency_days", "sessions_365d", "trend_active_days_30_90", "trend_orders_90_365"]
    names += ["orders_365d", "active_days_30d", "tenure_days"]
    contributions = np.array([0.5, 0.2, 0.3, 0.1, 0.05, 0.04, -0.1])
    values = {"recency_days": 131.0, "sessions_365d": 104.0, "trend_active_days_30_90": None}
    values |= {"trend_orders_90_365": None, "orders_365d": 0.0, "active_days_30d": 0.0}
    values |= {"tenure_days": 700.0}
    picked = worded_reasons(names, contributions, np.argsort(-contributions), values.get)
    assert [(r["text"], r["feature"]) for r in picked] == [
        ("no activity for 131 days", "recency_days"),
        ("104 sessions in the last 365 days (raises the risk)", "sessions_365d"),
        ("no orders in the last 365 days", "trend_orders_90_365"),
    ]
    assert picked[0]["contribution"] == pytest.approx(0.84)
    assert picked[2]["contribution"] == pytest.approx(0.15)
    # a trend of 0: nothing in its last 30 days, which 40 days idle say
    lately = values | {"recency_days": 40.0, "trend_active_days_30_90": 0.0}
    picked = worded_reasons(names[:3], contributions[:3], np.array([0, 2, 1]), lately.get)
    assert [r["text"] for r in picked] == [
        "no activity for 40 days",
        "104 sessions in the last 365 days (raises the risk)",
    ]


def test_a_pace_needs_a_history_before_its_window() -> None:
    """online_retail's 13791, 2 purchases ever and first seen 99 days ago, read "1 active day
    in the last 90 days, down from 2 per 90 days since first seen 99 days ago" (trial 107): a
    habit the customer never had. A pace is said only of a user known at least twice the
    window, so that as many of its days came before the window as in it."""
    names = ["active_days_90d", "active_days_365d", "tenure_days"]
    contributions = np.array([0.3, 0.2, -0.1])
    barely = {"active_days_90d": 1.0, "active_days_365d": 2.0, "tenure_days": 99.0}
    picked = worded_reasons(names, contributions, np.arange(3), barely.get)
    assert [r["text"] for r in picked] == [
        "1 active day in the last 90 days",
        "2 active days in the last 365 days (raises the risk)",
    ]
    for tenure, pace in ((179.0, None), (180.0, "2 per 90 days since first seen 180 days ago")):
        known = barely | {"active_days_365d": 4.0, "tenure_days": tenure}
        texts = [r["text"] for r in worded_reasons(names, contributions, np.arange(3), known.get)]
        assert any("down from" in text for text in texts) == (pace is not None), texts
        if pace:
            assert texts == [f"1 active day in the last 90 days, down from {pace}"]


def test_one_decline_is_one_reason() -> None:
    """13081 read "1 order in the last 90 days, down from 2 per 90 days since first seen 302
    days ago; 1 active day in the last 90 days, down from 2 per 90 days since first seen 302
    days ago; orders falling (last 90 days at 0.5x the yearly pace)": on a purchases log the
    active days are the orders, one decline three times (trial 107). One reason, in the pace's
    words, with the three contributions; active days that are not the orders stay apart."""
    names = ["trend_orders_90_365", "orders_90d", "orders_365d", "active_days_90d"]
    names += ["active_days_365d", "tenure_days"]
    contributions = np.array([0.3, 0.25, 0.05, 0.2, 0.01, -0.1])
    ranked = np.argsort(-contributions)
    values = {"trend_orders_90_365": 0.5, "orders_90d": 1.0, "orders_365d": 8.0}
    values |= {"active_days_90d": 1.0, "active_days_365d": 8.0, "tenure_days": 302.0}
    picked = worded_reasons(names, contributions, ranked, values.get)
    said = "1 order in the last 90 days, down from 2 per 90 days since first seen 302 days ago"
    assert [(r["text"], r["feature"]) for r in picked] == [(said, "orders_90d")]
    assert picked[0]["contribution"] == pytest.approx(0.81)
    # active days that fell with the orders are one decline, whatever their counts; sessions
    # are no orders and stay apart
    names += ["sessions_90d", "sessions_365d"]
    contributions = np.append(contributions, [0.04, 0.01])
    browsing = values | {"active_days_90d": 3.0, "active_days_365d": 20.0}
    browsing |= {"sessions_90d": 3.0, "sessions_365d": 20.0}
    picked = worded_reasons(names, contributions, np.argsort(-contributions), browsing.get)
    assert [r["text"] for r in picked] == [
        said,
        "3 sessions in the last 90 days, down from 6 per 90 days since first seen 302 days ago",
    ]
    assert picked[0]["contribution"] == pytest.approx(0.81)


def test_a_count_before_an_empty_window_says_the_window_is_empty() -> None:
    """The demo's u0001565 read "no activity for 178 days; spent 339 in all; 37 sessions in the
    last 365 days": the count read as good news (trial 107). The longest window's count says
    that the shorter window holds none of it, and is one reason with that window's emptiness."""
    names = ["recency_days", "revenue_total", "sessions_365d", "sessions_90d", "tenure_days"]
    contributions = np.array([0.5, 0.3, 0.2, 0.1, -0.1])
    values = {"recency_days": 178.0, "revenue_total": 339.0, "sessions_365d": 37.0}
    values |= {"sessions_90d": 0.0, "tenure_days": 400.0}
    picked = worded_reasons(names, contributions, np.arange(5), values.get)
    assert [r["text"] for r in picked] == [
        "no activity for 178 days",
        "spent 339 in all (raises the risk)",
        "37 sessions in the last 365 days, none in the last 90 days",
    ]
    picked = worded_reasons(names[2:], np.array([0.2, 0.3, -0.1]), np.array([1, 0, 2]), values.get)
    assert [(r["text"], r["contribution"]) for r in picked] == [
        ("37 sessions in the last 365 days, none in the last 90 days", pytest.approx(0.5))
    ]
    spend = {"revenue_90d": 0.0, "revenue_365d": 339.0}
    picked = worded_reasons(
        ["revenue_365d", "revenue_90d"], np.array([0.2, 0.1]), np.arange(2), spend.get
    )
    assert [r["text"] for r in picked] == [
        "spent 339 in the last 365 days, none of it in the last 90 days"
    ]


def test_a_next_purchase_not_yet_due_says_the_days() -> None:
    """72 online_retail users read "next purchase not yet due (0.0x their usual gap)", e.g.
    12731, who bought a day before (trial 107): said in days, against the usual gap."""
    names = ["overdue_ratio", "ipt_mean_days"]
    contributions = np.array([0.3, -0.1])
    values = {"overdue_ratio": 0.016, "ipt_mean_days": 62.5}
    picked = worded_reasons(names, contributions, np.arange(2), values.get)
    assert [r["text"] for r in picked] == [
        "next purchase not yet due: bought 1 day ago, buys every 62 days on average"
    ]
    assert picked[0]["value"] == 0.016
    assert reason_text("overdue_ratio", 0.5, usual_gap_days=30.0) == (
        "next purchase not yet due: bought 15 days ago, buys every 30 days on average"
    )
    assert reason_text("overdue_ratio", 0.0, usual_gap_days=30.0) == (
        "next purchase not yet due: bought within the last day, buys every 30 days on average"
    )


def test_a_user_seen_only_on_their_first_day_is_never_said_active() -> None:
    """online_retail's 12346, whose one order was cancelled, is never active by its stage yet
    read "no activity for 256 days; spent nothing so far; no orders so far" (trial 107): the
    days said activity there was, and nothing spent is no order said twice. The days read as
    the stage counts them (``serving.segments.only_signed_up``); no orders says no spend."""
    names = ["recency_days", "net_revenue_total", "orders_total", "revenue_total"]
    contributions = np.array([0.5, 0.3, 0.2, -0.1])
    values = {"recency_days": 255.6, "net_revenue_total": 0.0, "orders_total": 0.0}
    values |= {"revenue_total": 0.0}
    picked = worded_reasons(names, contributions, np.arange(4), values.get, first_day_only=True)
    assert [r["text"] for r in picked] == [
        "seen only on their first day, 255 days ago",  # 255.6: whole days gone by
        "no orders so far",
    ]
    assert picked[1]["contribution"] == pytest.approx(0.5)
    # LightGBM's order: nothing spent, then the days known, no repeat purchase, the days
    # idle, no purchase: one reason for no order, one for the first day and its days
    names = ["net_revenue_total", "tenure_days", "ipt_mean_days", "recency_days"]
    names += ["first_purchase_age_days", "revenue_total", "activated", "sessions_total"]
    contributions = np.array([0.6, 0.22, 0.18, 0.15, 0.01, -0.1, -0.1, -0.1])
    values = {"net_revenue_total": 0.0, "tenure_days": 286.6, "ipt_mean_days": None}
    values |= {"recency_days": 286.6, "first_purchase_age_days": None, "revenue_total": 0.0}
    values |= {"activated": 0.0, "sessions_total": 0.0, "orders_total": 0.0}
    picked = worded_reasons(names, contributions, np.arange(8), values.get, first_day_only=True)
    assert [(r["text"], r["feature"]) for r in picked] == [
        ("no purchase yet", "first_purchase_age_days"),
        ("seen only on their first day, 286 days ago", "recency_days"),
    ]
    assert [r["contribution"] for r in picked] == pytest.approx([0.79, 0.37])
    # the flag is the stage's: from the feature columns, as the scores table's stage
    frame = pd.DataFrame(
        {
            "tenure_days": [286.6, 286.6, 10.0],
            "recency_days": [286.6, 20.0, 10.0],
            "activated": [0.0, 0.0, 0.0],
            "sessions_total": [0.0, 0.0, 0.0],
            "orders_total": [0.0, 1.0, 0.0],
        }
    )
    first_day = first_day_only_columns(lambda name: frame[name].to_numpy())
    assert first_day.tolist() == [True, False, False]
    assert (
        lifecycle_stage(frame.assign(active_days_30d=0.0, active_days_90d=0.0)) == "never_active"
    ).tolist() == [True, False, False]


def test_trend_words_name_the_configured_windows() -> None:
    """The trends' words and facts assumed the default windows: with features.windows_days
    [14, 60, 180], a 60/180 orders trend read "last 90 days at 0.5x the yearly pace", an empty
    60 days "no active days in the last 90 days", and the orders' decline was said twice
    (the trend's 90 days were not the count's 60)."""
    from features.asof import trend_windows

    trends = trend_windows([14, 60, 180])
    words = [
        ("trend_orders_90_365", 0.5, "orders falling (last 60 days at 0.5x the 180-day pace)"),
        ("trend_orders_90_365", 0.0, "no orders in the last 60 days, some in the 180"),
        ("trend_orders_90_365", None, "no orders in the last 180 days"),
        ("trend_active_days_30_90", 1.0, "activity steady (last 14 days at the 60-day pace)"),
        ("trend_active_days_30_90", None, "no active days in the last 60 days"),
    ]
    for feature, value, text in words:
        assert reason_text(feature, value, trends=trends) == text
    # without configured windows, those of the name (the defaults)
    assert (
        reason_text("trend_orders_90_365", 0.0) == "no orders in the last 90 days, some in the year"
    )
    names = ["trend_orders_90_365", "orders_60d", "orders_180d", "tenure_days"]
    contributions = np.array([0.3, 0.25, 0.05, -0.1])
    values = {"trend_orders_90_365": 0.5, "orders_60d": 1.0, "orders_180d": 8.0}
    values |= {"tenure_days": 400.0}
    picked = worded_reasons(names, contributions, np.arange(4), values.get, trends=trends)
    said = "1 order in the last 60 days, down from 3 per 60 days over the last 180 days"
    assert [(r["text"], r["feature"]) for r in picked] == [(said, "orders_60d")]
    assert picked[0]["contribution"] == pytest.approx(0.6)
    # 70 days idle say the 60 days without activity the missing trend says
    names = ["recency_days", "trend_active_days_30_90", "tenure_days"]
    idle = {"recency_days": 70.0, "trend_active_days_30_90": None, "tenure_days": 400.0}
    picked = worded_reasons(
        names, np.array([0.5, 0.3, -0.1]), np.arange(3), idle.get, trends=trends
    )
    assert [r["text"] for r in picked] == ["no activity for 70 days"]


def test_a_category_the_model_never_learned_says_so() -> None:
    """online_retail at 2011-12-10 (session 50, over HTTP): 12446's stored country RSA is
    none the churn model learned from, so it read the country as unknown; /score's reason
    said "country: RSA", as if RSA itself had raised the risk. It says what the model read."""
    names = ["orders_total", "country", "channel"]
    served = {"orders_total": 1.0, "country": "RSA", "channel": "email"}
    learned = {"country": ["France", "Germany", "United Kingdom"], "channel": ["email", "ads"]}
    raised = np.array([0.3, 0.2, 0.1])
    picked = worded_reasons(names, raised, np.arange(3), served.get, categories=learned)
    assert [r["text"] for r in picked] == [
        "1 order so far",
        "country: RSA (not seen in training)",
        "acquired through email",
    ]
    assert picked[1]["value"] == "RSA"  # the stored fact stays the reason's value
    # a learned country is said as it is, and so is any category without the model's list
    learned_rsa = {**learned, "country": [*learned["country"], "RSA"]}
    for categories in (learned_rsa, None):
        again = worded_reasons(names, raised, np.arange(3), served.get, categories=categories)
        assert again[1]["text"] == "country: RSA"
