"""A usual gap between orders is said with the orders it was made of, on the real online_retail
log at 2011-09-09: a mean of minutes and days hid what the invoices were."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features.asof import compute_features
from serving.churn_reasons import worded_reasons
from serving.reason_words import orders_within, reason_text

CUTOFF = "2011-09-09"
NAMES = ["overdue_ratio", "ipt_mean_days", "orders_total"]


def _words(row: pd.Series, names: list[str] = NAMES) -> str:
    """The overdue ratio's reason of a user, as score-all words it."""
    contributions = np.array([0.5, 0.1, -0.1])[: len(names)]
    picked = worded_reasons(names, contributions, np.argsort(-contributions), row.get)
    return picked[0]["text"]


def test_a_usual_gap_says_the_orders_it_was_made_of(online_retail_loaded: Any) -> None:
    """12432's invoices 557472 and 557474 came two minutes apart on 2011-06-20 and 557754 two
    days later: the at-risk list read "no order for 78 days (orders so far came on average
    less than a day apart)" (29 users of the 2,939 listed so, 26 of them with invoices under
    an hour apart). 13015's four invoices (two of 2011-04-04, 14 minutes apart, 04-08, 05-26)
    read "next purchase overdue (6.1x their usual gap)", a gap of 17 days made of one of 14
    minutes. The words now give the orders and the days they came within; the model and its
    features are as they were."""
    events, users = online_retail_loaded
    table = compute_features(events.frame, [CUTOFF], users=users.frame).set_index("user_id")
    assert _words(table.loc["12432"]) == "no order for 78 days (their 3 orders came within 2 days)"
    assert _words(table.loc["14965"]) == "no order for 4 days (their 2 orders came within a day)"
    assert _words(table.loc["13015"]) == (
        "next purchase overdue (6.1x their usual gap: 4 orders within 53 days)"
    )
    # a model without the order count says the mean, as before
    assert _words(table.loc["12432"], NAMES[:2]) == (
        "no order for 78 days (orders so far came on average less than a day apart)"
    )
    assert _words(table.loc["13015"], NAMES[:2]) == "next purchase overdue (6.1x their usual gap)"
    assert reason_text("ipt_mean_days", table.loc["12432", "ipt_mean_days"], orders=3.0) == (
        "their 3 orders came within 2 days"
    )
    # the days said are those between the first and the last order, for every repeat buyer:
    # the mean gap times the gaps, as the first and last orders' own ages give them
    repeat = table[table["orders_total"] >= 2]
    said = [
        orders_within(gap, orders)
        for gap, orders in zip(repeat["ipt_mean_days"], repeat["orders_total"], strict=True)
    ]
    span = repeat["first_purchase_age_days"] - repeat["purchase_recency_days"]
    expected = [
        (
            f"{orders:.0f} orders",
            "a day" if math.ceil(days - 1e-6) <= 1 else f"{math.ceil(days - 1e-6)} days",
        )
        for orders, days in zip(repeat["orders_total"], span, strict=True)
    ]
    assert len(repeat) == 1986 and said == expected
