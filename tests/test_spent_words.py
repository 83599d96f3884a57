"""All a customer spent and what they kept after refunds, said as one definition on the real
online_retail log: "spent 642 in all" (before refunds) stood beside the list's `revenue`
635.04 (net of refunds) in 15297's row, both true, unsaid which was which. "Spent" is
before refunds; where refunds change what the lists show, the reason says both."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features.asof import compute_features
from serving.churn_reasons import worded_reasons
from serving.reason_words import money_text
from serving.segments import KEPT, money_column

NAMES = ["revenue_total", KEPT, "refund_amount_total", "orders_total"]


def _said(row: Any, contributions: list[float]) -> list[str]:
    shares = np.array(contributions)
    return [r["text"] for r in worded_reasons(NAMES, shares, np.argsort(-shares), row.get)]


def test_all_spent_says_what_was_kept_where_refunds_change_it(online_retail_loaded: Any) -> None:
    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-12-10"], users=users.frame)
    revenue = money_column(table, KEPT)  # the lists' revenue column (serving.batch)
    table = table.assign(listed_revenue=revenue).set_index("user_id")
    assert _said(table.loc["15297"], [0.4, -0.1, -0.1, -0.1]) == [
        "spent 642 in all, 635 net of refunds (raises the risk)"
    ]
    assert table.loc["15297", "listed_revenue"] == 635.04
    # the net reason is the same fact in the same words: one reason of both contributions
    assert _said(table.loc["15297"], [0.3, 0.2, -0.1, -0.1]) == [
        "spent 642 in all, 635 net of refunds (raises the risk)"
    ]
    assert _said(table.loc["16454"], [0.4, -0.1, -0.1, -0.1]) == [
        "spent 6.9 in all, refunded 8.2 more than that"
    ]
    assert _said(table.loc["18268"], [0.4, -0.1, -0.1, -0.1]) == [
        "spent 25.5 in all, all of it refunded"
    ]
    # every buyer: all spent names the revenue a list shows beside it, or equals it as shown
    buyers = table[table["revenue_total"] > 0]
    differ = 0
    for user, row in buyers.iterrows():
        text = _said(row, [0.4, -0.1, -0.1, -0.1])[0]
        gross, net = money_text(row["revenue_total"]), money_text(row["listed_revenue"])
        if gross == net:
            assert text == f"spent {gross} in all (raises the risk)", user
            continue
        differ += 1
        assert text.startswith(f"spent {gross} in all, "), user
        assert net.lstrip("-") in text or row["listed_revenue"] == 0, (user, text)
    assert (len(buyers), differ) == (4326, 1502)


def test_a_count_only_log_says_both_counts_and_an_average_order_after_refunds_says_so() -> None:
    """OPS4 left two wordings apart from the one definition (gross "spent", "net of refunds"
    after refunds): a count-only log's "42 purchases in all" never said what refunds left
    (``spent_and_kept`` was of money logs only), and "156 per order net of refunds" stood
    beside the gross "average order 158.6" as if another quantity."""
    from serving.units import Counted

    counts = Counted(1.0)
    row = {"revenue_total": 42.0, KEPT: 40.0, "refund_amount_total": 2.0, "orders_total": 20.0}
    shares = np.array([0.4, 0.3, -0.1, -0.1])
    said = worded_reasons(NAMES, shares, np.argsort(-shares), row.get, counts)
    # one reason for both features, as "spent 642 in all, 635 net of refunds" on money
    assert [r["text"] for r in said] == ["42 purchases in all, 40 net of refunds (raises the risk)"]
    assert said[0]["contribution"] == pytest.approx(0.7)
    gone = worded_reasons(NAMES, shares, np.argsort(-shares), (row | {KEPT: 0.0}).get, counts)
    assert gone[0]["text"] == "42 purchases in all, all of them refunded"  # no "(raises...)"
    names = ["net_order_value", "avg_order_value"]
    values = {"net_order_value": 156.0, "avg_order_value": 158.6}
    orders = worded_reasons(names, np.array([0.4, 0.3]), np.arange(2), values.get)
    # one average, one reason, as all spent is (test_an_average_order_...)
    assert [r["text"] for r in orders] == ["average order 159, 156 net of refunds"]


def test_an_average_order_and_its_value_after_refunds_are_one_reason(
    online_retail_loaded: Any,
) -> None:
    """online_retail's at-risk list at 2011-12-10 read of 17676 "average order 228 net of
    refunds; average order 229": one average twice, the two reasons apart (29 of the 3,679
    listed users), and of 12421 "average order 202 net of refunds; average order 202". Where
    refunds change the average as lists show money, one reason says both, as all spent does:
    "average order 229, 228 net of refunds", and where they print alike, once; a one-order
    customer's average is that order, said so."""
    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-12-10"], users=users.frame)
    table = table.set_index("user_id")
    names = ["net_order_value", "avg_order_value", "orders_total"]

    def said(row: Any) -> list[dict[str, Any]]:
        shares = np.array([0.3, 0.2, -0.1])
        return worded_reasons(names, shares, np.argsort(-shares), row.get)

    [both] = said(table.loc["17676"])
    assert both["text"] == "average order 229, 228 net of refunds"
    assert both["contribution"] == pytest.approx(0.5)
    # one order, refunded 24.75: that order (test_a_one_order_customers_average_...)
    assert [r["text"] for r in said(table.loc["13422"])] == [
        "1 order so far, of 2,626, 2,602 net of refunds"
    ]
    repeat = table[table["orders_total"] >= 2]
    differ = 0
    for user, row in repeat.iterrows():
        gross, net = money_text(row["avg_order_value"]), money_text(row["net_order_value"])
        texts = [r["text"] for r in said(row)]
        if gross == net:  # printed alike: said once, as the average before refunds
            assert texts == [f"average order {gross}"], (user, texts)
        elif row["net_order_value"] > 0:
            differ += 1
            assert texts == [f"average order {gross}, {net} net of refunds"], (user, texts)
    assert (len(repeat), differ) == (2834, 1249)


def test_a_one_order_customers_average_after_refunds_is_that_order(
    online_retail_loaded: Any,
) -> None:
    """13422 (one order of 2,626.30, 24.75 refunded) read "1 order so far, of 2,626; refunded
    24.8 in all; average order 2,602 net of refunds": the one order twice, the second as an
    average (17 of the 3,679 listed users at 2011-12-10). A one-order customer's average
    after refunds is that order, one reason with its gross value and largest order."""
    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-12-10"], users=users.frame)
    table = table.set_index("user_id")
    names = ["net_order_value", "avg_order_value", "max_order_value", "orders_total"]
    names += ["refund_amount_total"]

    def said(row: Any, shares: list[float]) -> list[dict[str, Any]]:
        ranked = np.argsort(-np.array(shares))
        return worded_reasons(names, np.array(shares), ranked, row.get)

    row = table.loc["13422"]
    listed = said(row, [0.1, -0.1, 0.3, -0.1, 0.2])  # the list's order of its reasons
    assert [r["text"] for r in listed] == ["1 order so far, of 2,626", "refunded 24.8 in all"]
    assert listed[0]["contribution"] == pytest.approx(0.4)
    [first] = said(row, [0.4, 0.1, 0.3, -0.1, -0.1])
    assert first["text"] == "1 order so far, of 2,626, 2,602 net of refunds"
    assert first["contribution"] == pytest.approx(0.8)
    one = table[(table["orders_total"] == 1) & (table["refund_amount_total"] > 0)]
    ends: dict[str, int] = {}
    for user, row in one.iterrows():
        texts = [r["text"] for r in said(row, [0.4, 0.1, 0.3, -0.1, -0.1])]
        assert len(texts) == 1 and texts[0].startswith("1 order so far, of "), (user, texts)
        end = next(
            e for e in (" net of refunds", ", all of it refunded", "") if texts[0].endswith(e)
        )
        ends[end] = ends.get(end, 0) + 1
    # the order and what refunds left of it, or that they took all of it
    assert ends == {" net of refunds": 195, ", all of it refunded": 7}
