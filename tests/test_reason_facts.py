"""A user's reasons on the scoring path: the words of every kind of fact, and each reason's
fact (and pace) worked out once per user, not again for every later candidate (a review
measured 754 µs a user with paces against 487 without)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from features.asof import feature_names, window_of
from serving import churn_reasons, reason_facts, reason_words
from serving.churn_reasons import worded_reasons
from serving.units import Counted

FEATURES = feature_names((7, 30, 90, 365))
WINDOW_COUNTS = [name for name in FEATURES if window_of(name) is not None]
# An ordinary customer: active 5 days ago, buying every 50 days, a refund in the year.
REGULAR = {name: 0.0 for name in WINDOW_COUNTS}
REGULAR |= {"active_days_7d": 1.0, "sessions_7d": 3.0, "active_days_30d": 3.0}
REGULAR |= {"sessions_30d": 12.0, "orders_30d": 1.0, "revenue_30d": 80.0}
REGULAR |= {"active_days_90d": 8.0, "sessions_90d": 40.0, "orders_90d": 2.0}
REGULAR |= {"revenue_90d": 160.0, "active_days_365d": 30.0, "sessions_365d": 150.0}
REGULAR |= {"orders_365d": 8.0, "revenue_365d": 640.0, "refunds_365d": 1.0}
REGULAR |= {"refund_amount_365d": 40.0, "tenure_days": 700.0, "recency_days": 5.0}
REGULAR |= {"purchase_recency_days": 20.0, "first_purchase_age_days": 690.0}
REGULAR |= {"orders_total": 14.0, "revenue_total": 1120.0, "refund_amount_total": 40.0}
REGULAR |= {"net_revenue_total": 1080.0, "avg_order_value": 80.0, "net_order_value": 77.1}
REGULAR |= {"max_order_value": 190.0, "ipt_mean_days": 50.0, "ipt_std_days": 12.0}
REGULAR |= {"sessions_total": 600.0, "activated": 1.0, "days_to_activation": 2.0}
REGULAR |= {"trend_active_days_30_90": 1.1, "trend_orders_90_365": 1.0}
REGULAR |= {"overdue_ratio": 0.4, "refund_rate": 0.036}
# Never past the first day: every window empty, nothing bought, the days idle the days known.
FIRST_DAY = {name: 0.0 for name in WINDOW_COUNTS}
FIRST_DAY |= {"tenure_days": 286.6, "recency_days": 286.6, "orders_total": 0.0}
FIRST_DAY |= {"revenue_total": 0.0, "refund_amount_total": 0.0, "net_revenue_total": 0.0}
FIRST_DAY |= {"sessions_total": 0.0, "activated": 0.0}
# No value before a first order (or activation).
NONE_YET = ["purchase_recency_days", "first_purchase_age_days", "avg_order_value"]
NONE_YET += ["net_order_value", "max_order_value", "ipt_mean_days", "ipt_std_days"]
NONE_YET += ["days_to_activation", "refund_rate", "trend_active_days_30_90"]
NONE_YET += ["trend_orders_90_365", "overdue_ratio"]
FIRST_DAY |= dict.fromkeys(NONE_YET)
# A model without the usual gap or the tenure.
NO_GAP_NOR_TENURE = ["orders_total", "overdue_ratio", "ipt_std_days", "active_days_90d"]
NO_GAP_NOR_TENURE += ["active_days_365d", "recency_days", "sessions_90d", "sessions_365d"]

# (features, the user's values over REGULAR's, the contributions of those that raised the
# risk, options) -> (text, feature, contribution) of each reason, as said before the facts
# were worked out once a user.
CASES = {
    "a decline said once: its pace, the trend, active days as orders": (
        FEATURES,
        {"orders_90d": 1.0, "active_days_90d": 1.0, "active_days_365d": 8.0}
        | {"trend_orders_90_365": 0.5, "sessions_90d": 20.0, "sessions_365d": 181.0}
        | {"revenue_90d": 30.0, "tenure_days": 302.0},
        {"trend_orders_90_365": 0.3, "orders_90d": 0.25, "active_days_90d": 0.2}
        | {"sessions_90d": 0.15, "sessions_365d": 0.1, "revenue_90d": 0.09}
        | {"orders_365d": 0.05, "overdue_ratio": 0.04},
        {},
        [
            (
                "1 order in the last 90 days, down from 2 per 90 days since first seen 302 days"
                " ago",
                "orders_90d",
                0.8,
            ),
            (
                "20 sessions in the last 90 days, down from 54 per 90 days since first seen 302"
                " days ago",
                "sessions_90d",
                0.25,
            ),
            (
                "spent 30 in the last 90 days, down from 191 per 90 days since first seen 302"
                " days ago",
                "revenue_90d",
                0.09,
            ),
        ],
    ),
    "idle: the empty windows and trends it says; a count before an empty window": (
        FEATURES,
        {name: 0.0 for name in WINDOW_COUNTS if not name.endswith("365d")}
        | {"recency_days": 178.0, "purchase_recency_days": 200.0, "sessions_365d": 37.0}
        | {"trend_active_days_30_90": None, "trend_orders_90_365": 0.0, "overdue_ratio": 4.0},
        {"sessions_365d": 0.35, "recency_days": 0.3, "active_days_90d": 0.2}
        | {"orders_90d": 0.18, "revenue_90d": 0.15, "trend_active_days_30_90": 0.12}
        | {"trend_orders_90_365": 0.1, "revenue_total": 0.08, "overdue_ratio": 0.07}
        | {"sessions_90d": 0.02},
        {},
        [
            ("no activity for 178 days", "recency_days", 1.07),
            ("37 sessions in the last 365 days, none in the last 90 days", "sessions_365d", 0.35),
            (
                "spent 1,120 in all, 1,080 net of refunds (raises the risk)",
                "revenue_total",
                0.08,
            ),  # refunds 40
        ],
    ),
    "seen only on the first day; no order, nor spend": (
        FEATURES,
        FIRST_DAY,
        {"net_revenue_total": 0.6, "tenure_days": 0.22, "ipt_mean_days": 0.18}
        | {"recency_days": 0.15, "orders_total": 0.12, "first_purchase_age_days": 0.01}
        | {"sessions_total": 0.05, "active_days_365d": 0.03, "overdue_ratio": 0.02},
        {"first_day_only": True},
        [
            ("no orders so far", "orders_total", 0.93),
            ("seen only on their first day, 286 days ago", "recency_days", 0.37),
            ("no sessions so far", "sessions_total", 0.05),
        ],
    ),
    "not yet due, in days; 2 orders say fewer than 3": (
        FEATURES,
        {"overdue_ratio": 0.016, "ipt_mean_days": 62.5, "orders_total": 2.0}
        | {"ipt_std_days": None, "purchase_recency_days": 1.0, "max_order_value": 90.0},
        {"overdue_ratio": 0.3, "ipt_std_days": 0.2, "orders_total": 0.15}
        | {"max_order_value": 0.1, "days_to_activation": 0.05},
        {},
        [
            ("2 orders so far", "orders_total", 0.35),
            (
                "next purchase not yet due: bought 1 day ago, buys every 62 days on average",
                "overdue_ratio",
                0.3,
            ),
            ("largest order 90, 8% of all they spent (raises the risk)", "max_order_value", 0.1),
        ],
    ),
    "not yet due says the usual gap: the gap said once": (
        FEATURES,
        {"overdue_ratio": 0.85, "ipt_mean_days": 40.0, "purchase_recency_days": 34.0},
        {"overdue_ratio": 0.3, "ipt_mean_days": 0.2, "max_order_value": 0.1},
        {},
        [  # the demo's u0000784 (session 58) read "...; buys every 40 days on average" twice
            (
                "next purchase not yet due: bought 34 days ago, buys every 40 days on average",
                "overdue_ratio",
                0.5,
            ),
            ("largest order 190, 17% of all they spent (raises the risk)", "max_order_value", 0.1),
        ],
    ),
    "the usual gap first, then not yet due: the reason that says both": (
        FEATURES,
        {"overdue_ratio": 0.85, "ipt_mean_days": 40.0, "purchase_recency_days": 34.0},
        {"ipt_mean_days": 0.3, "overdue_ratio": 0.2, "max_order_value": 0.1},
        {},
        [
            (
                "next purchase not yet due: bought 34 days ago, buys every 40 days on average",
                "overdue_ratio",
                0.5,
            ),
            ("largest order 190, 17% of all they spent (raises the risk)", "max_order_value", 0.1),
        ],
    ),
    "windows as long as the user is known: totals": (
        FEATURES,
        {"tenure_days": 20.0, "recency_days": 20.0, "active_days_90d": 1.0}
        | {"active_days_365d": 1.0, "revenue_90d": 42.0, "revenue_365d": 42.0}
        | {"revenue_total": 42.0, "orders_365d": 1.0, "orders_90d": 1.0, "orders_total": 1.0}
        | {"ipt_mean_days": None, "ipt_std_days": None, "overdue_ratio": None},
        {"active_days_90d": 0.5, "active_days_365d": 0.4, "orders_365d": 0.35}
        | {"orders_total": 0.32, "revenue_90d": 0.3, "revenue_total": 0.29}
        | {"tenure_days": 0.2, "ipt_std_days": 0.1, "overdue_ratio": 0.05},
        {},
        [
            ("1 active day in the last 90 days", "active_days_90d", 0.9),
            ("1 order in the last 365 days", "orders_365d", 0.82),
            ("spent 42 in the last 90 days (raises the risk)", "revenue_90d", 0.59),
        ],
    ),
    "nothing refunded: net said as gross, no refunds in any window": (
        FEATURES,
        {"net_order_value": 145.0, "avg_order_value": 145.0, "net_revenue_total": 290.0}
        | {"revenue_total": 290.0, "refund_rate": 0.0, "refund_amount_total": 0.0}
        | {"refunds_365d": 0.0, "refund_amount_365d": 0.0},
        {"net_order_value": 0.4, "avg_order_value": 0.3, "refund_rate": 0.25}
        | {"net_revenue_total": 0.2, "refunds_90d": 0.15, "refund_amount_total": 0.1}
        | {"refund_amount_30d": 0.05},
        {},
        [
            ("average order 145", "net_order_value", 0.7),
            ("nothing refunded so far (raises the risk)", "refund_rate", 0.55),
            ("spent 290 in all (raises the risk)", "net_revenue_total", 0.2),
        ],
    ),
    "a log counted in purchases: no pace of amounts": (
        FEATURES,
        {"revenue_90d": 100.0, "revenue_365d": 1000.0, "revenue_total": 1200.0}
        | {"avg_order_value": 3.0, "net_order_value": 3.0, "orders_90d": 0.0}
        | {"recency_days": 95.0},
        {"revenue_90d": 0.3, "revenue_365d": 0.2, "net_order_value": 0.15}
        | {"orders_90d": 0.1, "recency_days": 0.05},
        {"purchase_counts": Counted(1.0)},
        [
            ("100 purchases in the last 90 days (raises the risk)", "revenue_90d", 0.3),
            ("1,000 purchases in the last 365 days (raises the risk)", "revenue_365d", 0.2),
            ("3 purchases per order on average", "net_order_value", 0.15),
        ],
    ),
    "a log counted in purchases: purchases that are its orders are their count": (
        FEATURES,
        {"orders_total": 2.0, "revenue_total": 2.0, "net_revenue_total": 2.0}
        | {"orders_90d": 1.0, "revenue_90d": 1.0, "orders_365d": 2.0, "revenue_365d": 3.0}
        | {"refund_amount_total": 0.0, "recency_days": 40.0, "tenure_days": 200.0},
        {"orders_total": 0.4, "revenue_total": 0.3, "revenue_90d": 0.25, "orders_90d": 0.2}
        | {"revenue_365d": 0.1, "orders_365d": 0.05},
        {"purchase_counts": Counted(1.0)},
        [  # a grocery log's one row a day: "2 orders so far; 2 purchases in all" was one count
            ("2 orders so far", "orders_total", 0.75),  # orders_365d: all 200 days
            ("1 purchase in the last 90 days", "revenue_90d", 0.45),
            ("3 purchases in the last 365 days (raises the risk)", "revenue_365d", 0.1),
        ],
    ),
    "no purchase yet says more than spent nothing, and takes what it says": (
        FEATURES,
        {"purchase_recency_days": None, "first_purchase_age_days": None}
        | {"orders_total": 0.0, "revenue_total": 0.0, "orders_90d": 0.0, "orders_365d": 0.0}
        | {"revenue_90d": 0.0, "avg_order_value": None, "ipt_mean_days": None}
        | {"ipt_std_days": None, "overdue_ratio": None, "recency_days": 3.0}
        # nothing refunded either: refunds with no order are "only refunds in the log"
        | {"sessions_30d": 5.0, "tenure_days": 40.0, "refund_amount_total": 0.0},
        {"revenue_total": 0.4, "purchase_recency_days": 0.3, "orders_90d": 0.25}
        | {"ipt_std_days": 0.2, "orders_365d": 0.1, "sessions_30d": 0.08, "tenure_days": 0.06},
        {},
        [
            ("no purchase yet", "purchase_recency_days", 1.25),
            ("5 sessions in the last 30 days (raises the risk)", "sessions_30d", 0.08),
            ("first seen 40 days ago", "tenure_days", 0.06),
        ],
    ),
    "orders of one moment, none in 90 days": (
        FEATURES,
        {"overdue_ratio": 35010.0, "ipt_mean_days": 0.003, "orders_90d": 0.0}
        | {"orders_total": 2.0},
        {"overdue_ratio": 0.5, "orders_90d": 0.2, "orders_total": 0.1},
        {},
        [  # 105 days without an order say the empty 90 days, and their 2 orders the count
            (
                "no order for 105 days (their 2 orders came within a day)",
                "overdue_ratio",
                0.8,
            ),
        ],
    ),
    "a model without the usual gap or the tenure": (
        NO_GAP_NOR_TENURE,
        {"orders_total": 1.0, "overdue_ratio": None, "ipt_std_days": None}
        | {"active_days_90d": 1.0, "active_days_365d": 1.0, "recency_days": 30.0}
        | {"sessions_90d": 3.0, "sessions_365d": 40.0},
        {name: 0.1 * (8 - place) for place, name in enumerate(NO_GAP_NOR_TENURE)},
        {},
        [
            ("1 order so far", "orders_total", 1.4),
            ("no usual gap between purchases yet", "overdue_ratio", 0.7),
            ("1 active day in the last 90 days", "active_days_90d", 0.5),
        ],
    ),
}


def _reasons(
    names: list[str], values: dict[str, Any], raised: dict[str, float], options: dict[str, Any]
) -> list[dict[str, Any]]:
    """The reasons of REGULAR with ``values``: ``raised`` the contributions of the features
    that raised the risk, every other one lowered it a little."""
    contributions = np.array([raised.get(name, -0.01) for name in names])
    user = REGULAR | values
    ranked = np.argsort(-contributions, kind="stable")
    return worded_reasons(names, contributions, ranked, user.get, **options)


@pytest.mark.parametrize(
    ("names", "values", "raised", "options", "said"), CASES.values(), ids=CASES
)
def test_every_kind_of_fact_keeps_its_words(
    names: list[str],
    values: dict[str, Any],
    raised: dict[str, float],
    options: dict[str, Any],
    said: list[tuple[str, str, float]],
) -> None:
    picked = _reasons(names, values, raised, options)
    assert [(r["text"], r["feature"]) for r in picked] == [(t, f) for t, f, _ in said]
    assert [r["contribution"] for r in picked] == pytest.approx([c for _, _, c in said])
    assert all(set(r) == {"feature", "value", "contribution", "text"} for r in picked)


def _counted(
    monkeypatch: pytest.MonkeyPatch, name: str, modules: tuple[Any, ...]
) -> Counter[tuple[str, Any]]:
    """Counts the calls of the function ``name`` wherever ``modules`` look it up, by the
    feature and value it was asked of."""
    calls: Counter[tuple[str, Any]] = Counter()
    function: Callable[..., Any] = getattr(reason_facts, name, None) or getattr(reason_words, name)

    def counting(feature: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        calls[(feature, value)] += 1
        return function(feature, value, *args, **kwargs)

    for module in modules:
        monkeypatch.setattr(module, name, counting, raising=False)
    return calls


@pytest.mark.parametrize("case", list(CASES))
def test_each_reason_fact_and_pace_is_worked_out_once_per_user(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts of the reasons picked were worked out again for every later candidate, and
    a count's pace twice (its words, its fact)."""
    facts = _counted(monkeypatch, "fact_of", (reason_facts, churn_reasons))
    paces = _counted(monkeypatch, "pace_of", (reason_words, reason_facts, churn_reasons))
    names, values, raised, options, said = CASES[case]
    assert [r["text"] for r in _reasons(names, values, raised, options)] == [t for t, *_ in said]
    user = REGULAR | values
    candidates = [name for name in names if raised.get(name, 0.0) > 0]
    # a value after refunds equal to the one before (nothing refunded) is that one's fact,
    # and maybe its pace: one call more
    grosses = sum(reason_facts.said_as(n, user[n], user.get, names) != n for n in candidates)
    assert sum(facts.values()) == len(candidates) + grosses, facts
    assert sum(paces.values()) <= len(candidates) + grosses, paces


def test_the_float_forms_of_the_words_checks_are_numpys_and_formats() -> None:
    """``same`` is np.isclose(rtol=0, atol=0.005) and ``_is_none`` a number that prints as
    0 with no decimals, on the edges (halves, infinities, NaN, bools, numpy floats) and a
    sweep of values near them: the words read them per feature of every explained user."""
    import math
    import random

    edges = [0.5, -0.5, 0.49999999999999994, 0.5000000000000001, 0.0, -0.0, 0.005, -0.005]
    edges += [0.0050000000000000001, 1.005, math.nan, math.inf, -math.inf, np.float64(0.5)]
    edges += [True, False, 0, 1, 10**30, 1e308, -1e308, None, "0", "x"]
    rng = random.Random(7)
    sweep = [rng.uniform(-2, 2) for _ in range(20_000)]
    sweep += [
        rng.choice([0.5, -0.5, 0.005]) * (1 + rng.uniform(-1e-15, 1e-15)) for _ in range(2000)
    ]
    for value in edges + sweep:
        printed = isinstance(value, int | float) and f"{value:.0f}" in ("0", "-0")
        assert reason_words._is_none(value) == printed, value
    numeric = [v for v in edges + sweep if isinstance(v, int | float)]
    for gross, net in zip(numeric, [*numeric[1:], *numeric[:1]], strict=True):
        for pair in ((gross, net), (gross, gross), (gross, gross + 0.005), (gross, gross - 0.004)):
            with np.errstate(all="ignore"):
                want = bool(np.isclose(float(pair[0]), float(pair[1]), rtol=0.0, atol=0.005))
            assert reason_facts.same(*pair) == want, pair
    assert not reason_facts.same("x", 1.0) and not reason_facts.same(None, 1.0)
