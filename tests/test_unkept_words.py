"""The words of no order so far say what the log holds: an order refunded in full is no
order to the features, and a refund of a purchase before the log no purchase, so "no
purchase yet" and "nothing refunded so far" told of online_retail's 12346 (77,183.60 bought
and refunded in full 16 minutes later) a history the log does not hold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF, compute_features
from serving.churn_reasons import worded_reasons
from serving.unkept_words import REFUNDS_ONLY, Unkept, unkept_text
from tests.test_asof import ev

T = pd.Timestamp("2024-12-10", tz="UTC")


def test_no_order_so_far_says_the_orders_refunded_in_full_and_the_refunds_only() -> None:
    """From the features the numbers use (``features.asof``): 12346's order and its credit
    note, a user whose only event is a refund (33 of online_retail's 45 users with no order
    kept at 2011-12-10; 12 bought and were refunded in full), a buyer who kept one order of
    two, and a user who never bought, whose words stay "no purchase yet"."""
    events = pd.DataFrame(
        [
            ev("12346", "2024-01-18 10:01", c.PURCHASE, 77_183.6, "541431"),
            ev("12346", "2024-01-18 10:17", c.REFUND, 77_183.6, "C541433"),
            ev("r", "2024-03-01 10:00", c.REFUND, 12.0, "C1"),
            ev("k", "2024-05-01 10:00", c.PURCHASE, 40.0, "k1"),
            ev("k", "2024-05-02 10:00", c.PURCHASE, 25.0, "k2"),
            ev("k", "2024-05-03 10:00", c.REFUND, 25.0, "Ck2"),
            ev("n", "2024-02-01 10:00", c.SESSION, None, None),
        ]
    )
    events[c.EVENT_TIME] = events[c.EVENT_TIME].astype("datetime64[us, UTC]")
    features = compute_features(events, [T], windows=(30, 90, 365))
    rows = features[features[AS_OF] == T].set_index(c.USER_ID)
    # LightGBM's order of 12346's reasons at 2011-12-10: "nothing refunded so far" first
    names = ["refund_amount_total", "overdue_ratio", "purchase_recency_days", "revenue_total"]
    names += ["orders_total", "refund_rate", "ipt_mean_days", "cancelled_orders_total"]
    contributions = np.array([0.5, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03, -0.1])

    def said(user: str) -> list[str]:
        row = rows.loc[user]
        value_of = lambda name: None if pd.isna(row[name]) else float(row[name])  # noqa: E731
        picked = worded_reasons(names, contributions, np.arange(len(names)), value_of)
        return [r["text"] for r in picked]

    # one fact, said once: it says no usual gap between purchases (fewer than 2 orders) too
    assert said("12346") == ["1 order so far, refunded in full"]
    assert "no purchase yet" not in said("12346") and "nothing refunded so far" not in said("12346")
    assert said("r")[0] == REFUNDS_ONLY
    assert "no purchase yet" not in said("r")
    assert "nothing refunded beyond 1 order refunded in full" in said("k")
    assert said("n") == ["no purchase yet", "nothing refunded so far"]


def test_the_words_of_no_order_are_kept_where_they_are_true() -> None:
    """Where the log holds no more than the value says, or the model reads no count of
    orders refunded in full (None), the words are as before."""
    none = Unkept(orders=0.0, cancelled=0.0, refunded=0.0)
    assert unkept_text("purchase_recency_days", None, none) is None  # "no purchase yet"
    assert unkept_text("refund_amount_total", 0.0, none) is None  # "nothing refunded so far"
    older = Unkept(orders=0.0, cancelled=None, refunded=0.0)
    assert unkept_text("orders_total", 0.0, older) is None
    two = Unkept(orders=0.0, cancelled=2.0, refunded=0.0)
    assert unkept_text("first_purchase_age_days", None, two) == "2 orders so far, refunded in full"
    assert unkept_text("refund_rate", None, two) == "2 orders so far, refunded in full"
    kept = Unkept(orders=3.0, cancelled=2.0, refunded=0.0)
    assert unkept_text("revenue_total", 0.0, kept) is None  # orders of 0 kept: spent nothing
    assert unkept_text("refund_rate", 0.0, kept) == (
        "nothing refunded beyond 2 orders refunded in full"
    )
    assert unkept_text("revenue_total", 0.0, Unkept(0.0, 0.0, 0.004)) is None  # under a cent


def test_a_windows_refunds_say_the_orders_refunded_in_full_in_it() -> None:
    """Session 60 (REF's Left): an order refunded in full is no refund to the window
    features, so a user whose order was refunded in full 10 days before read "no refunds in
    the last 30 days" and "nothing refunded in the last 30 days"; a partial refund beside it
    read as all there was. The words now add the window's orders refunded in full
    (``cancelled_orders_<w>d``, as of the cutoff); a window without any keeps its words."""
    events = pd.DataFrame(
        [
            ev("c", "2024-10-01 10:00", c.PURCHASE, 30.0, "c1"),
            ev("c", "2024-11-30 10:00", c.PURCHASE, 60.0, "c2"),
            ev("c", "2024-12-01 10:00", c.REFUND, 60.0, "Cc2"),  # 9 days before T: in full
            ev("p", "2024-10-01 10:00", c.PURCHASE, 30.0, "p1"),
            ev("p", "2024-11-20 10:00", c.PURCHASE, 60.0, "p2"),
            ev("p", "2024-11-21 10:00", c.REFUND, 60.0, "Cp2"),  # in full
            ev("p", "2024-12-02 10:00", c.REFUND, 10.0, "Cp1"),  # a part of p1
            ev("n", "2024-10-01 10:00", c.PURCHASE, 30.0, "n1"),
        ]
    )
    events[c.EVENT_TIME] = events[c.EVENT_TIME].astype("datetime64[us, UTC]")
    features = compute_features(events, [T], windows=(7, 30, 90, 365))
    rows = features[features[AS_OF] == T].set_index(c.USER_ID)
    windows = ["cancelled_orders_7d", "cancelled_orders_30d", "cancelled_orders_90d"]

    def said(user: str, feature: str) -> str:
        row, names = rows.loc[user], [feature, *windows]
        value_of = lambda name: None if pd.isna(row[name]) else float(row[name])  # noqa: E731
        ranked = np.arange(len(names))
        [picked] = worded_reasons(names, np.array([0.5, -0.1, -0.1, -0.1]), ranked, value_of)
        return picked["text"]

    assert (
        said("c", "refunds_30d") == "no refunds in the last 30 days beyond 1 order refunded in full"
    )
    assert said("c", "refund_amount_90d") == (
        "nothing refunded in the last 90 days beyond 1 order refunded in full"
    )
    assert said("c", "refund_amount_7d") == (  # 9 days old
        "nothing refunded in the last 7 days (raises the risk)"
    )
    assert said("p", "refunds_30d") == "1 refund in the last 30 days, and 1 order refunded in full"
    assert said("p", "refund_amount_30d") == (
        "refunded 10 in the last 30 days, and 1 order refunded in full"
    )
    assert said("n", "refunds_30d") == "no refunds in the last 30 days (raises the risk)"


def test_a_user_of_refunds_only_is_not_said_to_have_spent(online_retail_loaded) -> None:
    """online_retail's at-risk list at 2011-12-10 said of 12605, whose one event is a credit
    note of 7.50 (a purchase before the log), "no activity yet; refunded 7.5 more than spent;
    refunded 7.5 in all": a spend the log does not hold, and one refund twice (35 listed users
    read "refunded N more than spent", none with an order kept). What was kept after refunds,
    none or less, of a user with no order kept says no order so far, as the order count does."""
    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-12-10"], users=users.frame)
    rows = table.set_index(c.USER_ID)
    names = ["recency_days", "net_revenue_total", "refund_amount_total", "orders_total"]
    names += ["cancelled_orders_total"]

    def said(row: pd.Series) -> list[str]:
        value_of = lambda name: None if pd.isna(row[name]) else float(row[name])  # noqa: E731
        shares = np.array([0.3, 0.2, 0.1, -0.1, -0.1])
        return [r["text"] for r in worded_reasons(names, shares, np.arange(5), value_of)]

    # one fact, no order ever, said once: by the stronger reason, with both contributions
    assert said(rows.loc["12605"]) == ["no activity yet", "refunded 7.5 in all"]
    none = rows[(rows["orders_total"] == 0) & (rows["net_revenue_total"] < 0)]
    alone: dict[str, int] = {}
    net_only = np.array([-0.1, 0.2, -0.1, -0.1, -0.1])
    for user, row in none.iterrows():
        assert not any(text.endswith(" more than spent") for text in said(row)), user
        [text] = [r["text"] for r in worded_reasons(names, net_only, np.array([1]), row.get)]
        alone[text] = alone.get(text, 0) + 1
    # the 33 whose only events are refunds, and 2 whose one order was refunded in full
    assert alone == {REFUNDS_ONLY: 33, "1 order so far, refunded in full": 2}
    # a buyer who refunded more than the log's purchases keeps the words of it
    more = rows[(rows["orders_total"] > 0) & (rows["net_revenue_total"] < 0)]
    assert len(more) == 6
    for user, row in more.iterrows():
        assert any(text.endswith(" more than spent") for text in said(row)), user
