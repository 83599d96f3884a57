"""The demo generator: determinism, the contract, and the behaviour models must be able to learn."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import contract
from features.demo import (
    CHANNELS,
    EVENTS_FILE,
    GROUND_TRUTH_FILE,
    METADATA_FILE,
    USERS_FILE,
    DemoSummary,
    generate_demo,
)
from lifecycle.settings import DemoSettings

USERS = 4_000
SEED = 11
FILES = (USERS_FILE, EVENTS_FILE, GROUND_TRUTH_FILE, METADATA_FILE)
ACTIVITY = (contract.SESSION, contract.PURCHASE)


def _digests(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    out_dir = tmp_path_factory.mktemp("demo") / "demo"
    return generate_demo(USERS, SEED, out_dir), out_dir


@pytest.fixture(scope="module")
def users(demo: tuple[DemoSummary, Path]) -> pd.DataFrame:
    return pd.read_parquet(demo[1] / USERS_FILE)


@pytest.fixture(scope="module")
def events(demo: tuple[DemoSummary, Path]) -> pd.DataFrame:
    return pd.read_parquet(demo[1] / EVENTS_FILE)


@pytest.fixture(scope="module")
def truth(demo: tuple[DemoSummary, Path]) -> pd.DataFrame:
    return pd.read_parquet(demo[1] / GROUND_TRUTH_FILE)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate_demo(1_500, 3, tmp_path / "a", days=200, future_days=60)
    generate_demo(1_500, 3, tmp_path / "b", days=200, future_days=60)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    generate_demo(1_500, 3, tmp_path / "a", days=200, future_days=60)
    generate_demo(1_500, 4, tmp_path / "b", days=200, future_days=60)
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    for name in (USERS_FILE, EVENTS_FILE, GROUND_TRUTH_FILE):
        assert first[name] != second[name], name


def test_defaults_match_demo_settings() -> None:
    defaults = {
        name: p.default
        for name, p in inspect.signature(generate_demo).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    settings = DemoSettings()
    for name in ("start", "days", "future_days"):
        assert defaults[name] == getattr(settings, name), name


def test_events_schema_follows_the_contract(demo: tuple[DemoSummary, Path]) -> None:
    schema = pq.read_schema(demo[1] / EVENTS_FILE)
    assert schema.names == [
        contract.USER_ID,
        contract.EVENT_TIME,
        contract.EVENT_TYPE,
        contract.AMOUNT,
        contract.CURRENCY,
        contract.ORDER_ID,
    ]
    assert schema.field(contract.EVENT_TIME).type == pa.timestamp("us", tz="UTC")
    assert schema.field(contract.AMOUNT).type == pa.float64()
    for name in (contract.USER_ID, contract.EVENT_TYPE, contract.CURRENCY, contract.ORDER_ID):
        assert schema.field(name).type == pa.string(), name


def test_event_values_follow_the_contract(events: pd.DataFrame) -> None:
    assert set(events[contract.EVENT_TYPE]) == set(contract.KNOWN_EVENT_TYPES)
    monetary = events[contract.EVENT_TYPE].isin(contract.MONETARY_EVENT_TYPES)
    assert (events.loc[monetary, contract.AMOUNT] > 0).all()
    assert events.loc[~monetary, contract.AMOUNT].isna().all()
    assert (events.loc[monetary, contract.CURRENCY] == "GBP").all()
    assert events.loc[~monetary, contract.CURRENCY].isna().all()
    assert events.loc[monetary, contract.ORDER_ID].notna().all()
    assert events.loc[~monetary, contract.ORDER_ID].isna().all()
    purchases = events[events[contract.EVENT_TYPE] == contract.PURCHASE]
    assert purchases[contract.ORDER_ID].is_unique


def test_events_sorted_by_time_then_user(events: pd.DataFrame) -> None:
    keys = events[[contract.EVENT_TIME, contract.USER_ID]]
    resorted = keys.sort_values([contract.EVENT_TIME, contract.USER_ID], kind="stable")
    assert keys.index.equals(resorted.index)


def test_events_lie_within_each_users_lifetime_and_the_observed_period(
    demo: tuple[DemoSummary, Path], users: pd.DataFrame, events: pd.DataFrame
) -> None:
    summary = demo[0]
    joined = events.merge(users[[contract.USER_ID, contract.SIGNUP_TIME]], how="left")
    assert joined[contract.SIGNUP_TIME].notna().all(), "events of unknown users"
    assert (joined[contract.EVENT_TIME] >= joined[contract.SIGNUP_TIME]).all()
    assert events[contract.EVENT_TIME].max() < pd.Timestamp(summary.observed_end)
    assert events[contract.EVENT_TIME].min() >= pd.Timestamp(summary.observed_start)
    signups = events[events[contract.EVENT_TYPE] == contract.SIGNUP]
    assert signups[contract.USER_ID].is_unique and len(signups) == len(users)
    at_signup = signups.merge(users, on=contract.USER_ID)
    assert (at_signup[contract.EVENT_TIME] == at_signup[contract.SIGNUP_TIME]).all()


def test_users_table(users: pd.DataFrame, demo: tuple[DemoSummary, Path]) -> None:
    assert len(users) == USERS and users[contract.USER_ID].is_unique
    assert users[contract.USER_ID].map(lambda uid: bool(re.fullmatch(r"u\d{7}", uid))).all()
    assert str(users[contract.SIGNUP_TIME].dt.tz) == "UTC"
    assert set(users[contract.CHANNEL]) == set(CHANNELS)
    assert {"country", "device"} <= set(users.columns)
    assert users[contract.SIGNUP_TIME].is_monotonic_increasing  # ids follow sign-up order


def test_signups_grow_and_dip_at_weekends(users: pd.DataFrame) -> None:
    signup = users[contract.SIGNUP_TIME]
    first_quarter = (signup < signup.min() + pd.Timedelta(days=182)).sum()
    last_quarter = (signup >= signup.max() - pd.Timedelta(days=182)).sum()
    assert last_quarter > 1.5 * first_quarter
    per_weekday = signup.dt.dayofweek.value_counts()
    assert per_weekday[[5, 6]].mean() < 0.95 * per_weekday[[0, 1, 2]].mean()


def test_channels_differ_in_conversion(users: pd.DataFrame, events: pd.DataFrame) -> None:
    payers = set(events.loc[events[contract.EVENT_TYPE] == contract.PURCHASE, contract.USER_ID])
    conversion = users[contract.USER_ID].isin(payers).groupby(users[contract.CHANNEL]).mean()
    assert set(conversion.index) == set(CHANNELS)
    assert conversion["referral"] > conversion["social"] + 0.15
    assert conversion.max() - conversion.min() > 0.2


def test_order_values_are_heavy_tailed(events: pd.DataFrame) -> None:
    purchases = events[events[contract.EVENT_TYPE] == contract.PURCHASE]
    revenue = (
        purchases.groupby(contract.USER_ID)[contract.AMOUNT].sum().sort_values(ascending=False)
    )
    top = revenue.iloc[: len(revenue) // 5].sum()
    assert top / revenue.sum() > 0.5
    assert purchases[contract.AMOUNT].quantile(0.99) > 4 * purchases[contract.AMOUNT].median()


def test_purchases_peak_before_christmas(events: pd.DataFrame) -> None:
    month = events[contract.EVENT_TIME].dt.month
    kinds = events[contract.EVENT_TYPE]
    per_session = (kinds == contract.PURCHASE).groupby(month).sum() / (
        (kinds == contract.SESSION).groupby(month).sum()
    )
    assert per_session[12] > 1.4 * per_session[[5, 6, 7]].mean()


def test_more_recent_sessions_means_less_churn(events: pd.DataFrame) -> None:
    cutoff = pd.Timestamp("2025-06-01", tz="UTC")
    window = pd.Timedelta(days=90)
    activity = events[events[contract.EVENT_TYPE].isin(ACTIVITY)]
    before = activity[activity[contract.EVENT_TIME].between(cutoff - window, cutoff)]
    after = activity[
        (activity[contract.EVENT_TIME] > cutoff)
        & (activity[contract.EVENT_TIME] <= cutoff + window)
    ]
    sessions = (
        (before[contract.EVENT_TYPE] == contract.SESSION).groupby(before[contract.USER_ID]).sum()
    )
    churned = ~sessions.index.isin(set(after[contract.USER_ID]))
    few = churned[sessions <= sessions.quantile(0.25)].mean()
    many = churned[sessions >= sessions.quantile(0.75)].mean()
    assert len(sessions) > 500
    assert many < 0.5 * few


def test_paying_users_churn_less(truth: pd.DataFrame) -> None:
    alive = truth[truth["alive_at_end"]]
    churn = alive.groupby("paying_at_end")["churned_within_90d_after_end"].mean()
    assert churn[True] < churn[False]


def test_some_churned_users_come_back(truth: pd.DataFrame, events: pd.DataFrame) -> None:
    back = truth[truth["reactivation_time"].notna()]
    assert 0.02 * len(truth) < len(back) < 0.5 * len(truth)
    assert (back["reactivation_time"] > back["churn_time"]).all()
    observed_back = back[back["reactivation_time"] < events[contract.EVENT_TIME].max()]
    sessions = events[events[contract.EVENT_TYPE] == contract.SESSION]
    visits = observed_back.merge(
        sessions,
        left_on=[contract.USER_ID, "reactivation_time"],
        right_on=[contract.USER_ID, contract.EVENT_TIME],
    )
    assert len(visits) == len(observed_back), "a win-back is an observable session"


def test_refunds_reverse_an_earlier_purchase_of_the_same_user(events: pd.DataFrame) -> None:
    purchases = events[events[contract.EVENT_TYPE] == contract.PURCHASE]
    refunds = events[events[contract.EVENT_TYPE] == contract.REFUND]
    assert 0.01 < len(refunds) / len(purchases) < 0.1
    matched = refunds.merge(purchases, on=contract.ORDER_ID, suffixes=("_refund", "_purchase"))
    assert len(matched) == len(refunds)
    assert (matched["user_id_refund"] == matched["user_id_purchase"]).all()
    assert (matched["amount_refund"] <= matched["amount_purchase"]).all()
    assert (matched["event_time_refund"] > matched["event_time_purchase"]).all()
    assert (matched["amount_refund"] < matched["amount_purchase"]).any(), "partial refunds exist"


def test_ground_truth_agrees_with_events(truth: pd.DataFrame, events: pd.DataFrame) -> None:
    assert len(truth) == USERS
    payers = set(events.loc[events[contract.EVENT_TYPE] == contract.PURCHASE, contract.USER_ID])
    assert truth["paying_at_end"].equals(truth[contract.USER_ID].isin(payers))
    activated = set(
        events.loc[events[contract.EVENT_TYPE] == contract.ACTIVATION, contract.USER_ID]
    )
    assert truth[contract.USER_ID].isin(activated).le(truth["activated"]).all()
    silent = ~truth["alive_at_end"] & (truth["n_reactivations"] == 0)
    assert (truth.loc[silent, "future_revenue"] == 0).all()
    assert not (truth["churned_within_90d_after_end"] & ~truth["alive_at_end"]).any()
    assert (truth["future_revenue"] >= truth["future_revenue_90d"]).all()


def test_ground_truth_carries_oracle_signal(truth: pd.DataFrame) -> None:
    alive = truth["alive_at_end"]
    assert truth.loc[alive, "future_active_90d"].mean() > 0.8
    assert truth.loc[~alive, "future_active_90d"].mean() < 0.1
    engaged = truth["engagement_rate"] > truth["engagement_rate"].median()
    assert (
        truth.loc[alive & engaged, "future_revenue"].mean()
        > truth.loc[alive & ~engaged, "future_revenue"].mean()
    )


def test_summary_and_metadata_match_the_files(
    demo: tuple[DemoSummary, Path], events: pd.DataFrame
) -> None:
    summary, out_dir = demo
    assert summary.events == len(events)
    assert summary.events_by_type == events[contract.EVENT_TYPE].value_counts().to_dict()
    purchases = events[events[contract.EVENT_TYPE] == contract.PURCHASE]
    assert summary.revenue == pytest.approx(purchases[contract.AMOUNT].sum(), abs=0.05)
    metadata = json.loads((out_dir / METADATA_FILE).read_text())
    assert metadata["parameters"] == {
        "users": USERS,
        "seed": SEED,
        "start": "2023-01-01",
        "days": 1095,
        "future_days": 365,
    }
    assert metadata["summary"]["events"] == summary.events
    assert summary.events_path == out_dir / EVENTS_FILE and summary.events_path.is_file()


def test_progress_reaches_all_users(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate_demo(
        500, 1, tmp_path / "demo", days=120, future_days=30, progress=lambda *c: calls.append(c)
    )
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (500, 500)
    assert all(total == 500 for _, total in calls)


def test_failed_run_leaves_previous_data_intact(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    generate_demo(300, 1, out_dir, days=90, future_days=10)
    before = _digests(out_dir)

    def crash(done: int, total: int) -> None:
        if done > total // 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_demo(300, 2, out_dir, days=90, future_days=10, progress=crash)
    assert _digests(out_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_rejects_empty_population(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_demo(0, 1, tmp_path / "demo")
    assert not (tmp_path / "demo").exists()
