"""An A/A campaign on the real online_retail log: nothing was sent, so whatever difference
the campaign report finds between targeted and control is noise, and its 95% intervals must
cover 0 about 95% of the time (docs/loop.md, "An A/A campaign on online_retail"); and the
report's numbers are those counted by hand from the raw file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features import adapters
from features import contract as c
from serving.campaign_stats import MIN_GROUP
from serving.campaigns import Campaign, CampaignReport, campaign_outcomes, measure
from serving.lists import control_flags

AS_OF = pd.Timestamp("2011-07-01", tz="UTC")  # the campaign's date: events after it are outcomes
HORIZON = 90  # labels.churn_horizon_days, campaign start's default
SEEDS = range(200)


def _by_hand(source: Path) -> pd.DataFrame:
    """Each customer of the raw file known at AS_OF with their retention (a purchase line in
    the horizon: a credit note is no activity), conversion (an order in the horizon that no
    credit note of its value cancelled by the horizon's end) and revenue (purchases less
    credit notes in the horizon): pandas over the invoice lines, not the label code."""
    raw = pd.read_csv(source, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"})
    note = raw["InvoiceNo"].str.upper().str.startswith("C")
    signed_right = (note & (raw["Quantity"] < 0)) | (~note & (raw["Quantity"] > 0))
    kept = raw["CustomerID"].notna() & signed_right & (raw["UnitPrice"] >= 0)
    lines = (
        raw[kept]
        .drop_duplicates()
        .assign(
            user_id=lambda f: f["CustomerID"].astype(str),
            note=note[kept],
            amount=lambda f: (f["Quantity"] * f["UnitPrice"]).abs().round(6),
            at=lambda f: (
                pd.to_datetime(f["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
                .dt.tz_localize("Europe/London")
                .dt.tz_convert("UTC")
            ),
        )
    )
    end = AS_OF + pd.Timedelta(days=HORIZON)
    inside = lines[(lines["at"] > AS_OF) & (lines["at"] <= end)]
    # an invoice's lines of one UTC day are one order (or credit note), at its first line
    day = (lines["at"] - pd.Timedelta(microseconds=1)).dt.floor("D")
    docs = (
        lines.assign(day=day)
        .groupby(["user_id", "InvoiceNo", "day", "note"], as_index=False)
        .agg(at=("at", "min"), value=("amount", "sum"))
        .assign(value=lambda f: f["value"].round(6))
    )
    # a credit note cancels the earliest order of its value not yet cancelled, placed at or
    # before it; only orders of a value a note of the customer has can be cancelled
    noted = docs[docs["note"]].groupby(["user_id", "value"]).size().index
    cancelled_at: dict[int, pd.Timestamp] = {}
    paired = docs.set_index(["user_id", "value"]).index.isin(noted) & (docs["value"] > 0)
    open_orders: dict[tuple[str, float], list[int]] = {}
    moves = docs[paired].sort_values(["at", "note"], kind="stable")
    for i, user, value, is_note, at in zip(
        moves.index, moves["user_id"], moves["value"], moves["note"], moves["at"], strict=True
    ):
        waiting = open_orders.setdefault((user, value), [])
        if not is_note:
            waiting.append(i)
        elif waiting:
            cancelled_at[waiting.pop(0)] = at
    orders = docs[~docs["note"] & (docs["at"] > AS_OF) & (docs["at"] <= end)]
    standing = [cancelled_at.get(i, end + pd.Timedelta(days=1)) > end for i in orders.index]
    known = lines.loc[lines["at"] <= AS_OF, "user_id"].unique()
    signed = inside["amount"].where(~inside["note"], -inside["amount"])
    return pd.DataFrame(
        {
            c.USER_ID: known,
            "retention": pd.Index(known).isin(inside.loc[~inside["note"], "user_id"]),
            "conversion": pd.Index(known).isin(orders.loc[standing, "user_id"]),
            "revenue": signed.groupby(inside["user_id"])
            .sum()
            .reindex(known, fill_value=0.0)
            .to_numpy(),
        }
    ).astype({"retention": float, "conversion": float})


def _newcombe(t: pd.Series, k: pd.Series) -> tuple[float, float]:
    """Newcombe's hybrid score interval, from the two Wilson intervals scipy gives."""
    p1, p2 = t.mean(), k.mean()
    w1 = stats.binomtest(int(t.sum()), len(t)).proportion_ci(method="wilson")
    w2 = stats.binomtest(int(k.sum()), len(k)).proportion_ci(method="wilson")
    return (
        p1 - p2 - math.hypot(p1 - w1.low, w2.high - p2),
        p1 - p2 + math.hypot(w1.high - p1, p2 - w2.low),
    )


def _campaign(members: pd.DataFrame) -> Campaign:
    metadata = {"name": "aa", "dataset": "online_retail", "as_of": f"{AS_OF:%Y-%m-%d}"}
    return Campaign("aa", members, metadata | {"horizon_days": HORIZON})


def test_an_aa_campaign_on_online_retail_covers_0_and_its_report_is_the_hand_count(
    online_retail_loaded: Any, shared_data: Path
) -> None:
    """Nothing was sent to anyone of online_retail's customers known at 2011-07-01: of 200
    seeded draws at control share 0.5 and 0.2 (the code path of `campaign start`'s draw and of
    `campaign report`'s outcomes and statistics), each 95% interval (retention, conversion,
    revenue; users and value saved are them times the targeted users) excludes 0 in about 5%
    (measured on the at-risk list of 2,486: docs/loop.md). Seed 0's report at 0.5 is then
    counted by hand from the raw file: each member's outcomes, the rates, the intervals
    (Newcombe's from scipy's Wilson intervals, the wider of scipy's Welch and Student ones),
    users and value saved,
    and the lines the report prints."""
    events, users = online_retail_loaded
    hand = _by_hand(shared_data / adapters.ONLINE_RETAIL_FILE)
    ids = hand[c.USER_ID]
    outcomes = campaign_outcomes(
        events.frame, users.frame, AS_OF, HORIZON, ids, not_activity_types=()
    )
    assert len(outcomes) == len(hand) > 3_000  # every customer known then is measured
    joined = hand.merge(outcomes, on=c.USER_ID, suffixes=("", "_report"))
    for measured in ("retention", "conversion", "revenue"):
        assert np.allclose(joined[measured], joined[f"{measured}_report"], rtol=0, atol=1e-6)

    for share in (0.5, 0.2):
        excluded = dict.fromkeys(("retention", "conversion", "revenue"), 0)
        revenue_above = revenue_below = 0  # the revenue interval wholly above 0, below 0
        for seed in SEEDS:
            members = pd.DataFrame({c.USER_ID: ids, "control": control_flags(ids, seed, share)})
            effects = measure(_campaign(members), outcomes)
            for name, effect in effects.items():
                assert effect.too_small is None and min(effect.targeted, effect.control) > MIN_GROUP
                excluded[name] += not effect.covers(0.0)
            revenue_above += effects["revenue"].low > 0
            revenue_below += effects["revenue"].high < 0
        # Binomial(200, 5%): 3 to 20 holds with probability 99.6%. Measured: 8 and 8 at 0.5, 5
        # and 4 at 0.2; 99% intervals exclude 0 0 to 2 times (caught here), 90% ones 11 to 26
        assert all(3 <= excluded[name] <= 20 for name in ("retention", "conversion")), excluded
        # Revenue, each bound: Binomial(200, 2.5%) <= 11 with probability 99.6%. Welch's interval
        # had its low bound above 0 13 times at 0.2 (10.1% of 1,000 seeds: a value saved
        # claimed wrongly four times too often; caught here), the high one 0 times; the wider
        # of Welch's and Student's: 4 and 5 at 0.5 (9 of 200, as Welch's: equal groups), 0 and
        # 0 at 0.2 (0.1% and 0.2% of 1,000 seeds: with 600 held out of a spend this skewed it
        # is conservative, docs/loop.md), so 3 to 20 in all is asked at 0.5 only
        assert revenue_above <= 11 and revenue_below <= 11, (share, revenue_above, revenue_below)
        assert (3 if share == 0.5 else 0) <= excluded["revenue"] <= 20, (share, excluded)

    members = pd.DataFrame({c.USER_ID: ids, "control": control_flags(ids, 0, 0.5)})
    campaign = _campaign(members)
    effects = measure(campaign, outcomes)
    sent, held = hand[~members["control"]], hand[members["control"]]
    report = CampaignReport(campaign, effects, len(outcomes), AS_OF + pd.Timedelta(days=400))
    for name, effect in effects.items():
        t, k = sent[name], held[name]
        assert (effect.targeted, effect.control) == (len(t), len(k))
        assert math.isclose(effect.targeted_mean, t.mean(), abs_tol=1e-9)
        assert math.isclose(effect.control_mean, k.mean(), abs_tol=1e-9)
        if name == "revenue":
            welch, student = (  # the wider of Welch's and Student's pooled interval
                stats.ttest_ind(t, k, equal_var=equal).confidence_interval(0.95)
                for equal in (False, True)
            )
            low, high = max((welch.low, welch.high), (student.low, student.high), key=np.ptp)
        else:
            low, high = _newcombe(t, k)
        assert math.isclose(effect.low, low, abs_tol=1e-9), (name, effect.low, low)
        assert math.isclose(effect.high, high, abs_tol=1e-9), (name, effect.high, high)
        assert effect.covers(0.0), (name, effect)  # seed 0: a draw whose intervals hold 0
    retained, revenue = effects["retention"], effects["revenue"]
    assert report.users_saved == {
        "estimate": retained.difference * len(sent),
        "low": retained.low * len(sent),
        "high": retained.high * len(sent),
        "not_judged": None,
    }
    assert math.isclose(report.value_saved["low"], revenue.low * len(sent), rel_tol=1e-12)
    lines = report.lines()
    r = retained
    assert (
        f"  retention  targeted {sent['retention'].mean():.1%}  control "
        f"{held['retention'].mean():.1%}  difference {r.difference:+.1%} (95% CI {r.low:+.1%} "
        f"to {r.high:+.1%}); detectable: {r.minimum_detectable:.1%}"
    ) in lines
    low, high = revenue.low * len(sent), revenue.high * len(sent)
    saved = (sent["revenue"].mean() - held["revenue"].mean()) * len(sent)
    assert f"  value saved {saved:+,.0f} (95% CI {low:+,.0f} to {high:+,.0f})" in lines
