"""A log without amounts (ingested with --amount-default 1) holds purchases counted: its
reasons, segments, lists, report and API answers say purchases, never money, revenue, spend
or a currency; a log with amounts keeps its money words."""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import NO_COMPILE, TrainedWorkspace, clear_lifecycle_environ

from features import contract as c
from lifecycle.cli import main
from lifecycle.rules import ORDER_VALUE
from lifecycle.settings import Settings, load_settings
from serving.batch import read_scores
from serving.reason_words import reason_text
from serving.segments import RfmDefinition, SegmentDefinitions, rfm_scores
from serving.units import Counted, counted_noun

DATASET = "counts"
# A demo product's purchases as a grocery log: customer and day, no amount, one row a day
# as most such logs (online_retail's invoices mostly are): each order is one purchase, so
# Gamma-Gamma finds spend all but constant (p over 10^5; the demo's same-day repeats, kept,
# made orders of 1 to 3 and p about 200) and the value given n purchases all but n.
USERS, SEED, DAYS = 800, 11, 540
MONEY_WORDS = re.compile(r"\b(revenue|spend|spent|money|GBP|currency)\b", re.IGNORECASE)


def _environ(home: Path) -> dict[str, str]:
    return {
        "LIFECYCLE_HOME": str(home),
        "LIFECYCLE_DATASET": DATASET,
        "LIFECYCLE_LABELS__LTV_HORIZON_DAYS": "90",
        **NO_COMPILE,
    }


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A count-only log ingested as a user would, in Feast, the three tasks trained, scored."""
    from features.asof import build_feature_table
    from features.demo import generate_demo
    from features.store import apply, materialize, store_paths
    from serving.batch import score_all
    from training.pipeline import train_task

    root = tmp_path_factory.mktemp("counts")
    home = root / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        for name, value in _environ(home).items():
            patch.setenv(name, value)
        generate_demo(users=USERS, seed=SEED, out_dir=root / "demo", days=DAYS, future_days=0)
        events = pd.read_parquet(root / "demo" / "events.parquet")
        bought = events[events[c.EVENT_TYPE] == c.PURCHASE]
        log = root / "groceries.csv"
        pd.DataFrame(
            {"Member_number": bought[c.USER_ID], "Date": bought[c.EVENT_TIME].dt.date}
        ).drop_duplicates().to_csv(log, index=False)
        ingest = CliRunner().invoke(
            main,
            [
                *("ingest", str(log), "--dataset", DATASET),
                *("--map", "user_id=Member_number", "--map", "event_time=Date"),
                *("--event-type", "purchase", "--amount-default", "1", "--keep-repeats"),
            ],
        )
        assert ingest.exit_code == 0, ingest.output
        settings = load_settings(home=home, environ=_environ(home))
        data = settings.workspace.dataset_dir(DATASET)
        build_feature_table(
            data / "events.parquet",
            None,
            store_paths(settings).feature_table,
            windows=settings.features.windows_days,
            frequency=settings.features.cutoff_frequency,
        )
        apply(settings)
        materialize(settings)
        for task in ("churn", "conversion", "ltv"):
            train_task(settings, task)
        score_all(settings)
        yield settings


def _cli(settings: Settings, *args: str) -> str:
    done = CliRunner().invoke(main, list(args), env=_environ(settings.workspace.home))
    assert done.exit_code == 0, done.output
    return done.stdout


def test_money_reasons_are_worded_as_purchases_in_a_log_without_amounts() -> None:
    assert (
        reason_text("revenue_30d", 3.0, purchase_counts=Counted(1.0))
        == "3 purchases in the last 30 days"
    )
    assert reason_text("revenue_90d", 1.0, Counted(1.0)) == "1 purchase in the last 90 days"
    assert reason_text("revenue_7d", 0.0, Counted(1.0)) == "no purchases in the last 7 days"
    assert reason_text("revenue_total", 12.0, Counted(2.0)) == "6 purchases in all"  # 2 each
    assert reason_text("max_order_value", 8.0, Counted(1.0)) == "largest order 8 purchases"
    assert reason_text("refund_rate", 0.25, Counted(1.0)) == "25% of purchases refunded"
    # a share that rounds to 0% is not none ('0% of spend refunded' beside 'refunded 10 in all')
    assert reason_text("refund_rate", 0.003, Counted(1.0)) == "under 1% of purchases refunded"
    assert reason_text("refund_rate", 0.003) == "under 1% of spend refunded"
    assert reason_text("refund_rate", 0.0) == "nothing refunded so far"
    assert reason_text("recency_days", 9.0, Counted(1.0)) == "no activity for 9 days"  # no amount
    # A log with amounts keeps the money words.
    assert reason_text("revenue_30d", 3.0) == "spent 3 in the last 30 days"
    assert reason_text("revenue_90d", 3.0) == "spent 3 in the last 90 days"
    assert reason_text("max_order_value", 8.0) == "largest order 8"


def test_lists_segments_and_report_of_a_count_only_log_say_purchases(
    counted: Settings, tmp_path: Path
) -> None:
    listed = _cli(counted, "at-risk", "--top", "30")
    assert "purchases" in listed and "reasons:" in listed
    assert not MONEY_WORDS.search(listed.replace("no money", "")), listed
    segments = _cli(counted, "segments")
    assert "share of purchases" in segments and "by purchases kept after refunds)" in segments
    # no M beside F: its RFM segments are scored on R and F alone, and say so
    assert "RFM segments on recency and frequency alone (a log counting purchases" in segments
    served = pd.read_parquet(counted.workspace.latest_scores)
    made_with = read_scores(counted.workspace.latest_scores).metadata["definitions"]
    assert made_with["segment"] == "rfm_v5_rf"
    assert served["segment"].isin(RfmDefinition().segments).all()
    assert not MONEY_WORDS.search(segments), segments
    out = tmp_path / "list.json"
    _cli(counted, "at-risk", "--out", str(out))
    document = json.loads(out.read_text())
    row = document["rows"][0]
    assert "purchases" in row and "revenue" not in row
    assert row["currency"] == "none: amounts are purchases counted"
    assert not any(MONEY_WORDS.search(r["top_reasons"]) for r in document["rows"])
    _cli(counted, "report", "--out", str(tmp_path / "report.html"))
    page = (tmp_path / "report.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<img[^>]*>", "", page)).split())
    # the drift table names amount features as their reasons word them (it said revenue_30d)
    drift = text.split("Drift: inputs and scores")[1]
    assert "N purchases in the last 30 days feature" in drift, drift
    assert "value at risk (purchases)" in text and "purchases_share" in text
    assert "RFM segments on recency and frequency alone" in text
    assert not MONEY_WORDS.search(text.replace("no money", "")), MONEY_WORDS.findall(text)
    # its conversion model is not what serves (1 - churn on a log of one event): said so, with
    # its own verdict, in the words of `lifecycle models`
    served = pd.read_parquet(counted.workspace.latest_scores)
    conversion, churn = served["conversion_probability"], served["churn_probability"]
    scored = conversion.notna()  # the users yet to convert
    assert scored.any() and np.allclose(conversion[scored], 1 - churn[scored], rtol=0, atol=1e-12)
    said = (
        rf"{DATASET}-conversion v\d+ .*?; answers nothing served: conversion is served as "
        r"1 - churn v\d+ \(one event on a log of purchases\)"
    )
    assert re.search(said, text), text


def test_rfm_of_a_log_counting_purchases_is_scored_on_r_and_f_alone() -> None:
    """Its M (purchases kept: orders less refunds) repeats F: FM is F, M is none; a log of
    items counted and one with money keep M. On the old code every log's FM was (F + M) / 2."""
    buyers = pd.DataFrame(
        {
            "orders_total": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            "purchase_recency_days": [5.0, 9.0, 30.0, 2.0, 70.0, 11.0, 3.0, 40.0, 8.0, 1.0],
            # items bought: a bulk buyer of one visit beside steady small baskets
            "net_revenue_total": [90.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        }
    )
    counted = RfmDefinition().of_counts(Counted(1.0))
    assert counted.version == "rfm_v5_rf" and counted.monetary_column is None
    scored = rfm_scores(buyers, counted)
    assert scored["m"].isna().all() and scored["fm"].equals(scored["f"])
    for kept in (Counted(1.0, "items"), None):  # items counted, money: M is their own
        definition = RfmDefinition().of_counts(kept)
        assert definition == RfmDefinition()
        assert rfm_scores(buyers, definition)["m"].notna().all()
    assert (
        SegmentDefinitions().of_counts(Counted(1.0)).of_counts(Counted(1.0)).versions["segment"]
        == "rfm_v5_rf"
    )


def test_what_a_log_counts_is_a_field_no_conversion_can_drop() -> None:
    """Items counted were an ItemCounts, a float subclass read by isinstance: float(x), x * 1
    or a JSON round trip made them purchases unsaid (reasons, units, RF-only segments; review
    R1 M2). Counted is no number: its noun is a field, and what would drop it fails."""
    items = Counted(1.0, "items")
    for kept in (
        items,
        pickle.loads(pickle.dumps(items)),
        Counted(**json.loads(json.dumps(asdict(items)))),
    ):
        assert counted_noun(kept) == ("items", "item")
        assert RfmDefinition().of_counts(kept).version == "rfm_v5"  # M kept
        assert reason_text("avg_order_value", 14.0, kept) == "14 items per order on average"
    for dropping in (float, lambda x: x * 1):
        with pytest.raises(TypeError):
            dropping(items)
    assert counted_noun(Counted(2.0)) == ("purchases", "purchase")
    with pytest.raises(ValueError, match="'purchases' or 'items', not 'item'"):
        Counted(1.0, "item")  # a misspelt noun would word items and keep M unsaid (review R3)


def test_api_answers_of_a_count_only_log_say_purchases(
    counted: Settings, trained_workspace: TrainedWorkspace
) -> None:
    from serving.scorer import Scorer

    scorer = Scorer(counted)
    scorer.load()
    page = scorer.at_risk(limit=10)
    assert page.amounts == "purchases" and page.currency is None
    scored = scorer.score([u.user_id for u in page.users], reasons="fresh")
    assert scored.amounts == "purchases" and scorer.models().amounts == "purchases"
    reasons = [r.text for u in scored.users for r in u.reasons or []]
    assert reasons and not any(MONEY_WORDS.search(t) for t in reasons), reasons
    # A log with amounts: money in its currency.
    normal = Scorer(trained_workspace.settings(NO_COMPILE))
    normal.load()
    assert normal.models().amounts == "money" and normal.models().currency == "GBP"


def test_campaign_report_of_a_count_only_log_says_purchases(counted: Settings) -> None:
    """A win-back campaign measured once its horizon has passed: purchases per user, no
    revenue (scored in memory at an earlier date, so the horizon lies inside the log)."""
    # a weekly cutoff: the log's dates end on 2024-06-23, its cutoffs count back from there
    started = _cli(counted, "campaign", "start", "winback", "--as-of", "2024-02-04", "--top", "200")
    assert "winback" in started
    report = _cli(counted, "campaign", "report", "winback")
    assert "  purchases " in report and "value saved" in report and "purchases (95% CI" in report
    assert not MONEY_WORDS.search(report), report


def test_the_ltv_interval_of_a_count_only_log_is_finite_and_served_alike(
    counted: Settings,
) -> None:
    """LTV's P10/P50/P90 blended with BG/NBD + Gamma-Gamma's on a log whose orders are each
    one purchase (its value given n purchases a staircase at n: training stopped, the rule's
    levels infinite) are finite, ordered and of a size in purchases, in the score-all table
    and as the one-row path answers them, alike."""
    from serving.scorer import Scorer

    scorer = Scorer(counted)
    scorer.load()
    bundle = scorer.state.champions.bundles["ltv"]
    assert bundle.blends_interval  # the path of the BTYD interval
    # every order one purchase: the rule multiplies by that one value, no Gamma-Gamma of no
    # spread (before 2026-12-07 its p past 1e4 made the values 1.000005 a purchase)
    assert bundle.blend.params[ORDER_VALUE] == 1.0 and "gamma_gamma" not in bundle.blend.params
    served = pd.read_parquet(counted.workspace.latest_scores).set_index("user_id")
    interval = served[["ltv_p10", "ltv_p50", "ltv_p90"]].to_numpy(dtype="float64")
    assert np.isfinite(interval).all() and (interval >= 0).all()
    assert (np.diff(interval, axis=1) >= 0).all() and (interval[:, 2] > 0).sum() > 100
    most = pd.read_parquet(counted.workspace.dataset_dir(DATASET) / "events.parquet")
    assert interval[:, 2].max() <= most.groupby(c.USER_ID).size().max()  # purchases, not inf
    users = served.index[interval[:, 2] > 0][:40].tolist()
    answered = scorer.score(users, reasons="none").users
    for user in answered:
        row = served.loc[user.user_id]
        for name in ("ltv_p10", "ltv_p50", "ltv_p90"):
            assert getattr(user, name) == pytest.approx(row[name], rel=1e-9, abs=1e-12), name


def test_a_count_only_logs_reasons_say_its_orders_once(counted: Settings) -> None:
    """Each order of a log counted in purchases is one purchase, so "2 orders so far" and "2
    purchases in all" (or "1 order" and "1 purchase in the last 90 days") are one count: said
    once (the grocery log built of online_retail said a total twice for 1,516 of 4,339 users)."""
    served = pd.read_parquet(counted.workspace.latest_scores)
    said = [[r["text"] for r in json.loads(reasons)] for reasons in served["reasons"]]
    counts = re.compile(r"^(\d+) (?:order|purchase)s? (so far|in all|in the last \d+ days)$")

    def count_of(text: str) -> tuple[str, str] | None:
        found = counts.match(text)
        return None if found is None else (found[1], found[2].replace("so far", "in all"))

    twice = [
        texts
        for texts in said
        if len(found := [count_of(t) for t in texts if count_of(t)]) > len(set(found))
    ]
    assert sum(map(len, said)) > len(served) and not twice, twice[:5]
