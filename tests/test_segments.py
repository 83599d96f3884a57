"""Segment definitions and the channel funnel on hand-made frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores
from serving.funnel import NO_CHANNEL, channel_funnel
from serving.revenue import before_refunds_words, revenue_totals, revenue_words
from serving.segment_text import (
    channel_line,
    segment_summary,
    share_label,
    summary_line,
    super_users_by_channel,
    super_users_words,
)
from serving.segments import (
    NO_PURCHASE,
    STAGES,
    RfmDefinition,
    SegmentDefinitions,
    SuperUserDefinition,
    lifecycle_stage,
    listed_super_users,
    quantile_score,
    rfm_scores,
    rfm_segment,
    stage_of_values,
    super_users,
)


def buyers(recency: list[float], orders: list[float], revenue: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "purchase_recency_days": recency,
            "orders_total": orders,
            "revenue_total": revenue,
            "tenure_days": [max(days, 400.0) for days in recency],  # none new (rfm_v5)
        }
    )


def test_quantile_score_is_rank_based_with_shared_ties() -> None:
    scores = quantile_score(pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]), bins=5)
    assert scores.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    lower_is_better = quantile_score(pd.Series([1.0, 2, 3, 4, 5]), 5, higher_is_better=False)
    assert lower_is_better.tolist() == [5, 4, 3, 2, 1]
    tied = quantile_score(pd.Series([7.0, 7, 7, 7]), bins=5)
    assert tied.nunique() == 1


def test_rfm_segments_follow_the_documented_rules() -> None:
    # Five buyers spread over each axis so that every quintile score is 1..5 exactly once.
    frame = buyers(
        recency=[1, 10, 100, 200, 400],  # R: 5, 4, 3, 2, 1
        orders=[9, 1, 5, 8, 1],  # F: 5, 2, 3, 4, 2 (tied 1s share a score)
        revenue=[900, 10, 500, 800, 20],
    )
    scores = rfm_scores(frame)
    assert scores["r"].tolist() == [5, 4, 3, 2, 1]
    segments = rfm_segment(frame)
    # u0: R5, high F and M -> champions; u1: recent, tiny -> potential; u2: R3, mid FM -> loyal;
    # u3: R2 but big buyer -> cannot_lose; u4: R1, tiny -> lost.
    assert segments.tolist() == ["champions", "potential", "loyal", "cannot_lose", "lost"]


def test_rfm_users_without_orders_are_no_purchase_and_every_score_pair_is_named() -> None:
    frame = buyers([np.nan, 5.0], [0.0, 3.0], [0.0, 50.0])
    assert rfm_segment(frame)[0] == NO_PURCHASE
    definition = RfmDefinition()
    for r in range(1, 6):
        for fm in range(1, 6):
            matched = [
                rule.name
                for rule in definition.rules
                if rule.recency[0] <= r <= rule.recency[1]
                and rule.frequency_monetary[0] <= fm <= rule.frequency_monetary[1]
            ]
            assert matched, f"R{r} FM{fm} has no segment"
    assert set(definition.segments) == {
        "champions",
        "loyal",
        "potential",
        "cannot_lose",
        "hibernating",
        "lost",
        NO_PURCHASE,
    }


def test_rfm_hibernating_lost_and_configurable_rules() -> None:
    frame = buyers(recency=[1, 2, 3, 4, 5], orders=[5, 4, 3, 1, 2], revenue=[5, 4, 3, 1, 2])
    assert rfm_segment(frame).tolist() == ["champions", "champions", "loyal", "hibernating", "lost"]
    tied = buyers(recency=[1, 2, 3, 4, 5], orders=[1] * 5, revenue=[5.0] * 5)
    # Ties on F and M give every buyer the middle score 3, but one order each is no steady
    # buyer (rfm_v3; rfm_v2: loyal, loyal, loyal, at_risk, at_risk): recency alone decides.
    assert rfm_segment(tied).tolist() == ["potential"] * 3 + ["hibernating", "lost"]
    coarse = RfmDefinition(version="rfm_test", bins=2)
    assert set(rfm_scores(frame, coarse)["r"].dropna()) == {1, 2}
    assert SegmentDefinitions(rfm=coarse).versions["segment"] == "rfm_test"
    with pytest.raises(KeyError, match="orders_total"):
        rfm_segment(frame.drop(columns="orders_total"))


def test_super_users_are_the_top_share_and_their_value_share() -> None:
    frame = pd.DataFrame({"revenue_total": [100.0, 50, 10, 10, 10, 5, 5, 5, 5, 0]})
    found = super_users(frame)
    assert found.users == 2
    assert found.flags.tolist() == [True, True] + [False] * 8
    assert found.value_share == pytest.approx(150 / 200)
    by_ltv = super_users(
        pd.DataFrame({"ltv": [1.0, 9.0]}), SuperUserDefinition(top_share=0.5, value_column="ltv")
    )
    assert by_ltv.flags.tolist() == [False, True] and by_ltv.value_share == pytest.approx(0.9)
    with pytest.raises(ValueError, match="top_share"):
        super_users(frame, SuperUserDefinition(top_share=0))
    nothing = super_users(pd.DataFrame({"revenue_total": [0.0, 0.0, 0.0, 0.0, 0.0]}))
    assert nothing.users == 0 and np.isnan(nothing.value_share)
    assert super_users_words(found) == "the top 20% of the 9 customers, 2 users, bring 75.0% of it"
    assert super_users_words(nothing) == "none: none of 5 users has any of it"


def test_super_users_are_the_top_share_of_customers_not_of_all_users() -> None:
    """The demo: 5,994 of 20,000 users bought, and the top 20% of all users (4,000, v3) were
    67% of the buyers, whose "97.0% of revenue" mostly said that 70% never bought. A
    clickstream where 653 of 3,751 visitors bought had all 653 as super users (v3)."""
    revenue = [0.0] * 10 + [50.0, 40, 30, 20, 10, -5]  # 5 customers, one refund only, of 16
    found = super_users(pd.DataFrame({"revenue_total": revenue}))
    assert found.flags.tolist() == [False] * 10 + [True] + [False] * 5
    assert found.users == 1 and found.with_any == 5
    assert super_users_words(found) == (
        "the top 20% of the 5 customers, 1 user, brings 34.5% of it"
    )
    few = super_users(pd.DataFrame({"revenue_total": [0.0] * 98 + [5.0, 9.0]}))
    assert few.users == 0  # v3: both, "every user with any"
    assert (
        super_users_words(few) == "none: 2 customers are too few for a top 20% (it takes 3 or more)"
    )


def test_super_users_erased_since_the_scoring_are_said_so() -> None:
    """After `forget`, a list's flags stay the scoring's: 681 flagged of the top 20% of 3,411
    read "(every user with any: 20.0% of 3,411 users)" though 3,364 had revenue."""
    from serving.segments import (
        SuperUserDefinition,
        listed_super_users,
    )

    revenue = [100.0, 80, 60, 40, 20, 10, 10, 5, 5, 5]
    scores = pd.DataFrame(
        {"revenue": revenue, "super_user": [False, True] + [False] * 8}  # the first erased
    )
    found = listed_super_users(scores, SuperUserDefinition(value_column="revenue"))
    assert found.users == 1 and found.with_any == 10
    assert super_users_words(found) == (
        "1 user brings 23.9% of it (1 fewer than the top 20% of the 10 customers: flagged when "
        "scored, users erased since; `lifecycle score-all` flags the top again)"
    )


def test_too_few_users_for_a_top_share_say_so() -> None:
    """Two users have no top 20% (0.4 of a user rounds to none): the line said '0 users
    bring 0.0% of it', as if the value were spread evenly."""
    two = super_users(pd.DataFrame({"revenue_total": [100.0, 5.0]}))
    assert two.users == 0 and not two.flags.any()
    assert super_users_words(two) == (
        "none: 2 customers are too few for a top 20% (it takes 3 or more)"
    )
    half = SuperUserDefinition(top_share=0.05)
    one = super_users(pd.DataFrame({"revenue_total": [1.0]}), half)
    assert super_users_words(one) == (
        "none: 1 customer is too few for a top 5% (it takes 11 or more)"
    )
    assert super_users(pd.DataFrame({"revenue_total": [1.0] * 11}), half).users == 1


def test_segment_summary_sizes_and_shares_add_up() -> None:
    scores = pd.DataFrame(
        {"segment": ["a", "a", "b", None], "revenue": [10.0, 30, 60, 0], "ltv": [1.0, 1, 1, 1]}
    )
    summary = segment_summary(scores, "segment", ("revenue", "ltv")).set_index("segment")
    assert summary.loc["a", "users"] == 2 and summary.loc["(none)", "users"] == 1
    assert summary["user_share"].sum() == pytest.approx(1)
    assert summary.loc["a", "revenue_share"] == pytest.approx(0.4)
    assert summary.loc["b", "ltv_share"] == pytest.approx(0.25)


def test_a_log_without_revenue_says_so_instead_of_an_empty_share() -> None:
    """A log of sessions only (no purchase, no LTV model) printed 'share of ' and nothing."""
    scores = pd.DataFrame(
        {"stage": ["silent", "churned", "silent"], "revenue": [0.0] * 3, "refunds": [0.0] * 3}
    )
    summary = segment_summary(scores, "stage", ("revenue", "ltv"))
    lines = [summary_line(r, "stage", "purchases") for r in summary.to_dict(orient="records")]
    assert lines == [
        "  silent                 2 users (66.7%); no purchases to share",
        "  churned                1 user  (33.3%); no purchases to share",
    ]
    scores["revenue"] = [5.0, 15.0, 0.0]
    row = segment_summary(scores, "stage", ("revenue",)).to_dict(orient="records")[0]
    assert (
        summary_line(row, "stage")
        == "  silent                 2 users (66.7%); share of revenue 25.0%"
    )


def test_revenue_is_shared_before_refunds_with_refunds_a_share_of_their_own() -> None:
    """Users whose only events are refunds (orders placed before the log) kept less than
    nothing: shared out after refunds, their group had a share of revenue of -0.1% (segments
    and the report). A sales report's way: shares before refunds, refunds on their own."""
    scores = pd.DataFrame(
        {
            "segment": ["champions", "champions", "lost", NO_PURCHASE],
            "revenue": [90.0, 10.0, 20.0, -20.0],  # kept after refunds
            "refunds": [10.0, 0.0, 0.0, 20.0],
            "ltv": [5.0, 3.0, 2.0, 0.0],
        }
    )
    summary = segment_summary(scores, "segment", ("revenue", "ltv")).set_index("segment")
    shares = [c for c in summary.columns if c.endswith("_share")]
    assert shares == ["user_share", "revenue_before_refunds_share", "refunds_share", "ltv_share"]
    assert (summary[shares] >= 0).all().all()
    assert summary["revenue_before_refunds_share"].to_dict() == pytest.approx(
        {"champions": 110 / 130, "lost": 20 / 130, NO_PURCHASE: 0.0}
    )
    assert summary["refunds_share"].to_dict() == pytest.approx(
        {"champions": 1 / 3, "lost": 0.0, NO_PURCHASE: 2 / 3}
    )
    totals = revenue_totals(scores)
    assert totals == {"before_refunds": 130.0, "refunds": 30.0, "kept": 100.0}
    assert revenue_words(totals) == (
        "revenue to date 130 before refunds, 30 refunded, 100 kept (orders refunded whole "
        "count in none of these: refunds 23.1% of revenue without them)"
    )
    # with the events' own sums (purchases_all, refunds_all) a refund anywhere keeps the rate
    every = totals | {"purchases_all": 150.0, "refunds_all": 50.0, "refunded_whole_orders": 1}
    assert "refund rate 33.3%" in revenue_words(every)
    assert before_refunds_words(every, "revenue") == "; shares of revenue are before refunds"
    named = [share_label(c, "purchases") for c in shares[1:]]
    assert named == ["purchases", "refunds", "ltv"]
    # a table scored before it had refunds: shared after them, and said so
    old = segment_summary(scores.drop(columns="refunds"), "segment", ("revenue",))
    assert share_label("revenue_share") == "revenue after refunds"
    assert old.set_index("segment").loc[NO_PURCHASE, "revenue_share"] == pytest.approx(-0.2)
    assert revenue_totals(scores.drop(columns="refunds")) is None


def test_lifecycle_stages_v1_on_a_hand_made_frame() -> None:
    features = pd.DataFrame(
        {
            "tenure_days": [10, 400, 400, 400, 400, 400],
            "recency_days": [1, 200, 45, 5, 5, 5],
            "active_days_30d": [3, 0, 0, 4, 4, 4],
            "active_days_90d": [3, 0, 2, 20, 4, 20],
        }
    )
    churn = pd.Series([0.1, 0.9, 0.9, 0.8, 0.1, 0.1])
    stages = lifecycle_stage(features, churn).tolist()
    assert stages == ["new", "churned", "silent", "at_risk", "reactivated", "active"]


def test_users_with_no_activity_are_never_active_not_churned() -> None:
    """A user whose only events are refunds (an order placed before the log began, returned
    in it) has no activity: stages_v1 called them churned (or new), though they never
    bought; the one-user path of the API says the same."""
    nan = float("nan")
    features = pd.DataFrame(
        {
            "tenure_days": [400, 10, 400],
            "recency_days": [nan, nan, 200],
            "active_days_30d": [0, 0, 0],
            "active_days_90d": [0, 0, 0],
        }
    )
    churn = pd.Series([0.9, 0.9, 0.9])
    assert lifecycle_stage(features, churn).tolist() == ["never_active", "never_active", "churned"]
    assert stage_of_values(400, nan, 0, 0, 0.9) == "never_active"
    assert stage_of_values(400, 200, 0, 0, 0.9) == "churned"
    assert SegmentDefinitions().versions["lifecycle_stage"] == "stages_v4"


def test_stages_count_days_as_the_feature_windows_do_on_a_date_only_log() -> None:
    """A date-only log (CDNOW: every purchase at midnight): stages_v3 called a user last
    active exactly 30 days ago active, beside "no active days in the last 30 days" (the
    window is (as_of - 30, as_of]; 21 of 782 active users at 1998-03-31), and one 90 days ago
    silent (14 users). v4 counts as the windows do, and the days shown are whole days gone
    by, so stage, windows, shown days and reason words agree."""
    from features.asof import compute_features
    from serving.reason_facts import fact_of, says
    from serving.reason_words import reason_text
    from serving.segments import whole_days

    as_of = pd.Timestamp("1998-03-31", tz="UTC")

    def bought(user: str, days_ago: int) -> dict:
        when = as_of - pd.Timedelta(days=days_ago)
        return {
            c.USER_ID: user,
            c.EVENT_TIME: when,
            c.EVENT_TYPE: c.PURCHASE,
            c.AMOUNT: 10.0,
            c.ORDER_ID: f"{user}{days_ago}",
        }

    events = pd.DataFrame(
        [
            *(bought("idle30", d) for d in (200, 30)),  # 04881: last bought 1998-03-01
            *(bought("idle90", d) for d in (300, 90)),
            *(bought("idle29", d) for d in (200, 60, 29)),
            *(bought("idle89", d) for d in (300, 89)),
            bought("first30", 30),  # first seen exactly 30 days ago: outside the window
            *(bought("back", d) for d in (90, 10)),  # first seen exactly 90 days ago
        ]
    )
    events[c.EVENT_TIME] = events[c.EVENT_TIME].astype("datetime64[us, UTC]")
    features = compute_features(events, [as_of], windows=(7, 30, 90, 365))
    assert features is not None
    features = features.set_index(c.USER_ID)
    stages = dict(zip(features.index, lifecycle_stage(features), strict=True))
    assert stages == {
        "idle30": "silent",  # v3: active
        "idle90": "churned",  # v3: silent
        "idle29": "active",
        "idle89": "silent",
        "first30": "silent",  # v3: new
        "back": "reactivated",  # v3: active (known exactly 90 days, not over)
    }
    for user, (idle, window) in {"idle30": (30, 30), "idle90": (90, 90)}.items():
        row = features.loc[user]
        assert row["recency_days"] == idle and row[f"active_days_{window}d"] == 0
        assert whole_days(row["recency_days"]) == idle  # as lists, the report and reasons show
        assert reason_text("recency_days", row["recency_days"]) == f"no activity for {idle} days"
        assert reason_text(f"active_days_{window}d", 0.0) == (
            f"no active days in the last {window} days"
        )
        # the days idle say the window's emptiness: one fact, said once
        value_of = row.get
        idle_fact = fact_of("recency_days", row["recency_days"], value_of)
        assert says(idle_fact, fact_of(f"active_days_{window}d", 0.0, value_of))
        one = stage_of_values(*row[["tenure_days", "recency_days"]], 0.0, 0.0, None)
        assert one == stages[user]
    assert features.loc["idle29", "active_days_30d"] == 1
    assert reason_text("recency_days", 29.0) == "no activity for 29 days"
    assert features.loc["first30", "tenure_days"] == 30 == whole_days(30.0)
    assert reason_text("tenure_days", 30.0) == "first seen 30 days ago"
    # under a whole day reads as such, not "no activity for 0 days"
    assert reason_text("recency_days", 0.7) == "active within the last day"
    assert reason_text("overdue_ratio", 2.0, usual_gap_days=0.3) == (
        "bought within the last day (orders so far came on average less than a day apart)"
    )


def test_users_who_only_signed_up_are_never_active_as_the_funnel_counts_them() -> None:
    """A sign-up counts as activity (for the churn label too), so stages_v2 called a user who
    signed up 200 days ago and did nothing since churned (218 of the demo's 275 such users;
    others silent or new), where the funnel counts them not active."""
    nan = float("nan")
    features = pd.DataFrame(
        {
            "tenure_days": [200, 5, 200, 200, 200, 200],
            "recency_days": [200, 5, 200, 200, 120, 200],
            "active_days_30d": [0, 1, 0, 0, 0, 0],
            "active_days_90d": [0, 1, 0, 0, 0, 0],
            "activated": [0, 0, 0, 0, 0, nan],
            "sessions_total": [0, 0, 3, 0, 0, nan],
            "orders_total": [0, 0, 0, 1, 0, nan],
        }
    )
    # only signed up, 200 and 5 days ago (new: little time to do more); sessions on the first day; an order on it; another
    # event later than the first day; counts unknown (no evidence: as v2)
    expected = ["never_active", "new", "churned", "churned", "churned", "churned"]
    assert lifecycle_stage(features).tolist() == expected
    one_by_one = [
        stage_of_values(*row[:4], None, beyond_signup=tuple(row[4:]))
        for row in features.itertuples(index=False)
    ]
    assert one_by_one == expected
    assert stage_of_values(200, 200, 0, 0, None) == "churned"  # no counts given
    names = {"sessions_total": "sessions", "orders_total": "orders"}
    scores = features.rename(columns=names | {"recency_days": "days_since_last_activity"})
    funnel = channel_funnel(scores.iloc[:5])
    # the two who only signed up; the event on a later day is activity (as the stages count it)
    assert int(funnel["signed_up"].sum() - funnel["active"].sum()) == 2


def test_events_of_types_the_contract_does_not_know_after_the_first_day_are_activity() -> None:
    """A clickstream's own event types (catalog, cart) are no session, activation or order:
    a user who came back on another day is active in the funnel as in the stages, and one who
    only browsed on their first day is neither (never_active past the first 30 days)."""
    features = pd.DataFrame(
        {
            "tenure_days": [200.0, 200, 200, 10],
            "recency_days": [150.0, 198, 199, 10],
            "active_days_30d": [0.0, 0, 0, 1],
            "active_days_90d": [0.0, 0, 0, 1],
            "activated": [0.0, 0, 0, 0],
            "sessions_total": [0.0, 0, 0, 0],
            "orders_total": [0.0, 0, 0, 0],
        }
    )
    stages = lifecycle_stage(features).tolist()
    assert stages == ["churned", "churned", "never_active", "new"]
    scores = features.rename(
        columns={
            "recency_days": "days_since_last_activity",
            "sessions_total": "sessions",
            "orders_total": "orders",
        }
    )
    scores["channel"] = ["a", "b", "c", "d"]
    funnel = channel_funnel(scores).set_index("channel")
    assert funnel["active"].to_dict() == {"a": 1, "b": 1, "c": 0, "d": 0}
    # a table scored before these columns existed keeps the counts' answer
    older = scores.drop(columns=["days_since_last_activity", "tenure_days"])
    assert channel_funnel(older)["active"].sum() == 0


def test_channel_funnel_steps_rates_and_value() -> None:
    scores = pd.DataFrame(
        {
            "channel": ["email", "email", "email", "social", "social"],
            "activated": [1.0, 0, 0, 0, 0],
            "sessions": [0.0, 3, 0, 0, 0],
            "orders": [2.0, 1, 0, 0, 0],
            "revenue": [20.0, 5, 0, 0, 0],
            "ltv": [30.0, 10, 2, 1, 1],
        }
    )
    funnel = channel_funnel(scores).set_index("channel")
    email = funnel.loc["email"]
    assert email[["signed_up", "active", "converted", "repeat"]].tolist() == [3, 2, 2, 1]
    assert email.repeat_rate == pytest.approx(0.5)
    assert email.mean_ltv == pytest.approx(14)
    assert funnel.loc["social", "active"] == 0 and np.isnan(funnel.loc["social", "repeat_rate"])
    assert funnel.index[0] == "email"  # most valuable channel first
    assert funnel["ltv_share"].sum() == pytest.approx(1)


def test_channel_funnel_without_channels_is_one_row() -> None:
    purchase_log = pd.DataFrame({"orders": [1.0, 3.0], "ltv": [5.0, 7.0]})
    funnel = channel_funnel(purchase_log)
    assert funnel["channel"].tolist() == [NO_CHANNEL]
    assert funnel.loc[0, "active"] == 2 and funnel.loc[0, "repeat"] == 1


def test_money_is_counted_after_refunds() -> None:
    """RFM's monetary part and the super users count what purchases kept after refunds:
    a customer whose one large order was refunded in full is no champion of spend. Features
    read before ``net_revenue_total`` existed give it as revenue minus refunds."""
    revenue = np.array([168_000.0, 900, 800, 700, 600, 500, 400, 300, 200, 100])
    refunds = np.array([167_990.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    older = pd.DataFrame(
        {
            "purchase_recency_days": np.arange(10.0),
            "orders_total": np.full(10, 3.0),
            "revenue_total": revenue,
            "refund_amount_total": refunds,
        }
    )
    newer = older.assign(net_revenue_total=revenue - refunds)
    for frame in (older, newer):
        assert rfm_scores(frame)["m"].tolist() == [1, 5, 5, 4, 4, 3, 3, 2, 2, 1]
        top = super_users(frame)
        assert top.flags.tolist() == [False, True, True] + [False] * 7
        assert top.value_share == pytest.approx(1700 / 4510)
    assert super_users(older, SuperUserDefinition(value_column="revenue_total")).flags[0]


def test_segments_and_the_report_count_the_super_users_the_lists_flag(tmp_path: Path) -> None:
    """After `forget` a scores table keeps the flags it was scored with: 10 users flagged
    2, and with the top user forgotten (9 users) the top 20% recomputed would also be 2, the
    next one taking its place; `segments` and the report said that while the lists flagged 1."""
    home = tmp_path / "ws"
    revenue = [100.0, 50, 20, 10, 10, 5, 5, 5, 5, 0]
    scores = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(10)],
            "revenue": revenue,
            "refunds": 0.0,
            "churn_probability": 0.5,
            "conversion_probability": 0.5,
            "ltv": 1.0,
            "value_at_risk": 0.5,
            "lifecycle_stage": "active",
            "segment": "loyal",
            "risk_band": "medium",
            "super_user": super_users(pd.DataFrame({"revenue_total": revenue})).flags,
        }
    ).iloc[1:]  # u0 forgotten: its row removed, the others' flags kept
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "segments"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["super_users"]["revenue"]
    # u1, as listed, of the 8 customers left (super_users_v4: the top share is of them)
    # the scoring's flag of 1, not the top 20% of the 8 (2): "659 of 3,302" read as that
    assert found == {
        "users": 1,
        "value_share": pytest.approx(50 / 110),
        "users_with_any": 8,
        "flagged_when_scored": True,
        "top_share_users": 2,
    }
    assert listed_super_users(scores, SuperUserDefinition(value_column="revenue")).users == 1
    assert super_users(scores, SuperUserDefinition(value_column="revenue")).users == 2
    report = tmp_path / "report.html"
    done = CliRunner().invoke(main, ["--home", str(home), "report", "--out", str(report)])
    assert done.exit_code == 0, done.output
    assert "super_user flag): 1 user brings 45.5% of it" in report.read_text()


def test_a_one_order_buyer_is_never_a_steady_or_frequent_buyer() -> None:
    """online_retail: 25 one-order buyers were `loyal` ("steady buyers") and 54 `at_risk`
    ("used to buy often and a lot"): one very large order gives F=1, M=5, so FM=3. And
    `at_risk` was also a lifecycle stage, so `--segment at_risk` and `--stage at_risk` listed
    other people under one word."""
    frame = buyers(
        recency=[1.0, 400, 2, 3, 4, 5, 300, 350, 380, 390],
        orders=[1.0, 1, 9, 8, 7, 6, 5, 4, 3, 2],
        revenue=[90_000.0, 80_000, 900, 800, 700, 600, 500, 400, 300, 200],
    )
    scores = rfm_scores(frame)
    assert scores.loc[[0, 1], ["f", "m", "fm"]].to_numpy().tolist() == [[1, 5, 3], [1, 5, 3]]
    segments = rfm_segment(frame)
    assert segments[:2].tolist() == ["potential", "lost"]  # rfm_v2: loyal, at_risk
    # repeat buyers of the same FM 3 are still steady, or cannot be lost
    assert segments[[6, 7]].tolist() == ["loyal", "cannot_lose"]
    many = buyers(recency=list(range(1, 101)), orders=[1.0] * 50 + [2.0] * 50, revenue=[1e5] * 100)
    one_order = rfm_segment(many)[:50]
    assert set(one_order) <= {"potential", "hibernating", "lost"}
    definition = RfmDefinition()
    assert definition.version == "rfm_v5"
    assert not set(definition.segments) & set(STAGES)  # no segment shares a stage's name


def test_champions_take_frequency_and_money_each_not_their_mean() -> None:
    """rfm_v3 took FM, the rounded mean of F and M: a recent buyer of 2 orders and the largest
    spend (F 3, M 5) and one of the most orders and a small spend (F 5, M 3) were champions
    ("bought recently, often and a lot"). rfm_v4 asks F and M 4-5 each: they are loyal."""
    frame = buyers(
        recency=[1.0, 2, 3, 4, 5, 300, 310, 320, 330, 340],
        orders=[20.0, 5, 19, 10, 1, 2, 3, 4, 6, 7],
        revenue=[900.0, 950, 300, 800, 5, 20, 30, 40, 400, 500],
    )
    scores = rfm_scores(frame)
    assert scores.loc[[1, 2], ["f", "m", "fm"]].to_numpy().tolist() == [[3, 5, 4], [5, 3, 4]]
    assert scores.loc[0, ["f", "m"]].tolist() == [5, 5]
    segments = rfm_segment(frame)
    assert segments[:4].tolist() == ["champions", "loyal", "loyal", "champions"]
    counted = RfmDefinition(monetary_column=None)  # without M, F alone decides
    assert rfm_segment(frame, counted)[[1, 2, 3]].tolist() == ["loyal", "champions", "champions"]
    assert RfmDefinition().version == "rfm_v5"


def test_super_users_by_channel_split_the_same_flags() -> None:
    """The 80/20 line had no split by channel: per channel, its users, customers, super
    users (the global flags) and the share of its value and of all value they hold."""
    scores = pd.DataFrame(
        {
            c.CHANNEL: ["email", "email", "email", "social", "social", None, "social", "email"],
            "revenue": [100.0, 10, 0, 50, 40, 5, 0, 20],
        }
    )
    found = super_users(scores, SuperUserDefinition(value_column="revenue", top_share=0.5))
    assert found.flags.tolist() == [True, False, False, True, True, False, False, False]
    split = super_users_by_channel(scores, found)
    assert split is not None
    rows = {r["channel"]: r for r in split.to_dict(orient="records")}
    assert list(rows) == [NO_CHANNEL, "email", "social"]
    assert [rows["email"][k] for k in ("users", "customers", "super_users")] == [4, 3, 1]
    assert rows["email"]["value_share"] == pytest.approx(100 / 130)
    assert rows["email"]["share_of_all"] == pytest.approx(100 / 225)
    assert rows["social"]["value_share"] == pytest.approx(1.0)
    assert rows[NO_CHANNEL]["super_users"] == 0 and rows[NO_CHANNEL]["value_share"] == 0
    assert channel_line(rows["email"], "revenue kept") == (
        "  email                  4 users, 3 customers, 1 super user: 76.9% of its revenue "
        "kept, 44.4% of all"
    )
    purchase_log = scores.assign(**{c.CHANNEL: None})  # a log without channels: no split
    assert super_users_by_channel(purchase_log, found) is None
    assert super_users_by_channel(scores.drop(columns=c.CHANNEL), found) is None


def test_segments_split_super_users_by_channel_and_recount_older_flags(tmp_path: Path) -> None:
    """`segments` gives the super users per channel (also in --json), and a table flagged by
    super_users_v3 (the top 20% of all users: here 2 of 10, 2 of the 5 customers) is
    recounted as the top 20% of customers, not said to be them."""
    home = tmp_path / "ws"
    revenue = [50.0, 40, 30, 20, 10, 0, 0, 0, 0, 0]
    scores = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(10)],
            c.CHANNEL: ["email", "social"] * 5,
            "revenue": revenue,
            "refunds": 0.0,
            "ltv": 1.0,
            "lifecycle_stage": "active",
            "segment": "loyal",
            "super_user": [True, True] + [False] * 8,  # v3's top 20% of all users
        }
    )
    settings = load_settings(home=home, environ={})
    made_with = {"as_of": "2024-01-05", "definitions": {"super_user": "super_users_v3"}}
    write_scores(settings.workspace.scores_dir, scores, made_with)
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "segments"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["super_users"]["revenue"] == {
        "users": 1,
        "value_share": pytest.approx(50 / 150),
        "users_with_any": 5,
    }
    email, social = data["super_users_by_channel"]
    assert email == {
        "channel": "email",
        "users": 5,
        "customers": 3,
        "super_users": 1,
        "value_share": pytest.approx(50 / 90),
        "share_of_all": pytest.approx(50 / 150),
    }
    assert social["super_users"] == 0 and social["customers"] == 2
    text = CliRunner().invoke(main, ["--home", str(home), "segments"]).stdout
    assert (
        "super users (by revenue kept after refunds): the top 20% of the 5 customers, 1 user, "
        "brings 33.3% of it"
    ) in text
    assert "super users by channel (by revenue kept after refunds):" in text
    assert "email                  5 users, 3 customers, 1 super user: 55.6% of its" in text


def test_super_users_by_ltv_are_the_top_share_of_the_same_customers(tmp_path: Path) -> None:
    """Every user has an LTV (the demo's 3,541 who never bought too), so by LTV `segments`
    took the top 20% of all 5,000 users, 1,000, beside the 292 of the 1,459 customers by
    revenue: by LTV it is now the top share of the same customers."""
    home = tmp_path / "ws"
    revenue = [50.0, 40, 30, 20, 10] + [0.0] * 10  # 5 customers of 15 users
    ltv = [5.0, 4, 3, 2, 1] + [9.0] + [0.5] * 9  # u5 never bought: the highest forecast
    scores = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(15)],
            "revenue": revenue,
            "refunds": 0.0,
            "ltv": ltv,
            "lifecycle_stage": "active",
            "segment": "loyal",
        }
    )
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "segments"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["super_users"]
    assert found["revenue"]["users_with_any"] == found["ltv"]["users_with_any"] == 5
    # u0 (LTV 5), not u5 (LTV 9, no customer) and not 3 of all 15 users
    assert found["ltv"] == {
        "users": 1,
        "value_share": pytest.approx(5 / sum(ltv)),
        "users_with_any": 5,
    }
    text = CliRunner().invoke(main, ["--home", str(home), "segments"]).stdout
    assert "super users (by ltv): the top 20% of the 5 customers, 1 user, brings 17.5% of it" in (
        text
    ), text


def test_segments_say_their_units_and_a_missing_channel_in_one_line(tmp_path: Path) -> None:
    """online_retail's `segments` printed "5,276,942.81" and "ltv 13.1%" without the currency
    or the LTV's window, and on data without acquisition channels the split of super users by
    channel was silently absent. Both are said now, on the terminal and in --json."""
    home = tmp_path / "ws"
    scores = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(5)],
            "revenue": [50.0, 40, 30, 20, 0],
            "refunds": 0.0,
            "ltv": 1.0,
            "lifecycle_stage": "active",
            "segment": "loyal",
        }
    )
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})
    text = CliRunner().invoke(main, ["--home", str(home), "segments"])
    assert text.exit_code == 0, text.output
    assert "ltv: expected value of purchases minus refunds in the next 365 days" in text.stdout
    assert (
        "super users by channel: none to split: no user of demo has an acquisition channel"
    ) in text.stdout
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "segments"])
    data = json.loads(result.stdout)
    assert data["units"]["horizon_days"] == {"ltv": 365}
    assert data["super_users_by_channel"] is None
