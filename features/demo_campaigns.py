"""Randomized win-back campaigns in the demo product, with a known effect per user.

On each campaign date every lapsed customer (a purchase before, no activity in the
``lapsed_days`` before the date) is drawn into the control group with probability ``control_share``; the
others are targeted. A targeted user is won back with a probability that differs by user
type: the channel's base effect times an engagement multiplier (below or at/above the median
engagement rate of all users). A won-back user places one order within
``order_window_days`` of the date, at their own mean order value.

The campaign adds that order on top of the simulated history and changes nothing else,
so both potential outcomes of every member are known exactly: without the campaign, what
the simulation produced; with it, the same plus the won-back order. That is the ground
truth a campaign report is checked against (``campaigns.parquet``): the true effect on the
members is the mean over them of (outcome if targeted - outcome if held out), and the true
effect per user is the won-back probability (``effect_probability``) and the order value.

Campaign dates are whole weeks before the end of the observed period, so they fall on the
pipeline's weekly cutoff grid (counted back from the day after the last event) and each
horizon has passed by the end of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import contract
from features.demo_simulation import CHANNELS, US_PER_DAY, micros

CAMPAIGNS_FILE = "campaigns.parquet"  # ground truth: one row per member of each campaign
CAMPAIGN_LISTS_DIR = "campaign_lists"  # per campaign, the list `lifecycle campaign start` reads
MIN_GROUP = 2  # targeted and control users a campaign needs to be measured at all


@dataclass(frozen=True)
class CampaignDesign:
    """The demo's win-back campaigns; per-channel tuples follow ``CHANNELS``."""

    weeks_before_end: tuple[int, ...] = (52, 26)  # one campaign per entry
    horizon_days: int = 90
    control_share: float = 0.5
    lapsed_days: int = 28
    # Probability that a targeted user is won back, by channel: e-mail and referral users
    # answer a win-back offer far more often than social ones.
    effect_by_channel: tuple[float, ...] = (0.20, 0.12, 0.08, 0.30, 0.40)
    engagement_multiplier: tuple[float, float] = (0.5, 1.5)  # low, high engagement
    order_window_days: int = 30
    order_value_shape: float = 2.5

    def dates(self, observed_end: datetime) -> list[datetime]:
        return [
            observed_end - timedelta(weeks=w) for w in sorted(self.weeks_before_end, reverse=True)
        ]

    def check(self, observed_start: datetime, observed_end: datetime) -> None:
        for date in self.dates(observed_end):
            if date - timedelta(days=self.lapsed_days) <= observed_start:
                raise ValueError(
                    f"demo campaign on {date:%Y-%m-%d}: needs {self.lapsed_days} days of history "
                    f"before it, the data starts {observed_start:%Y-%m-%d}"
                )
            if date + timedelta(days=self.horizon_days) > observed_end:
                raise ValueError(
                    f"demo campaign on {date:%Y-%m-%d}: its {self.horizon_days}-day horizon ends "
                    f"after the observed period ({observed_end:%Y-%m-%d})"
                )
        if self.order_window_days > self.horizon_days:
            raise ValueError("a won-back order must fall within the campaign's horizon")


def campaign_name(date: datetime) -> str:
    return f"winback-{date:%Y-%m-%d}"


@dataclass
class CampaignOverlay:
    """What the campaigns added: the orders, the ground truth and the lists."""

    orders: pd.DataFrame  # events rows in the events schema's columns
    truth: pd.DataFrame
    lists: dict[str, pd.DataFrame]
    summaries: list[dict[str, Any]]


def _window(times: np.ndarray, users: np.ndarray, n: int, low: int, high: int) -> np.ndarray:
    """Per user, whether it has an event with ``low < time <= high``."""
    inside = (times > low) & (times <= high)
    return np.bincount(users[inside], minlength=n) > 0


def _net(
    times: np.ndarray, users: np.ndarray, signed: np.ndarray, n: int, low: int, high: int
) -> np.ndarray:
    inside = (times > low) & (times <= high)
    return np.bincount(users[inside], weights=signed[inside], minlength=n)


def plan_campaigns(
    events: pd.DataFrame,
    people: dict[str, np.ndarray],
    user_ids: np.ndarray,
    observed_end: datetime,
    rng: np.random.Generator,
    design: CampaignDesign | None = None,
) -> CampaignOverlay:
    """Draw the campaigns' groups and won-back orders from the simulated ``events``."""
    design = design or CampaignDesign()
    n = len(user_ids)
    index = pd.Index(user_ids)
    users = index.get_indexer(events[contract.USER_ID]).astype(np.int64)
    times = events[contract.EVENT_TIME].astype("datetime64[us, UTC]").astype(np.int64).to_numpy()
    kind = events[contract.EVENT_TYPE].to_numpy()
    amount = events[contract.AMOUNT].fillna(0.0).to_numpy(float)
    active = kind != contract.REFUND  # as the labels count activity
    purchase = kind == contract.PURCHASE
    signed = np.where(purchase, amount, np.where(kind == contract.REFUND, -amount, 0.0))
    engagement = people["engagement_rate"]
    high_engagement = engagement >= np.median(engagement)
    channel = people["channel"]
    effect = np.asarray(design.effect_by_channel)[channel] * np.where(
        high_engagement, design.engagement_multiplier[1], design.engagement_multiplier[0]
    )
    orders, truths, lists, summaries = [], [], {}, []
    for date in design.dates(observed_end):
        as_of = micros(date)
        end = as_of + design.horizon_days * US_PER_DAY
        # Lapsed customers: bought before, and did nothing in the last ``lapsed_days``.
        ever = _window(times[purchase], users[purchase], n, np.iinfo(np.int64).min, as_of)
        recent = _window(
            times[active], users[active], n, as_of - design.lapsed_days * US_PER_DAY, as_of
        )
        members = np.flatnonzero(ever & ~recent)
        control = rng.random(len(members)) < design.control_share
        if min(control.sum(), (~control).sum()) < MIN_GROUP:
            continue  # too few lapsed customers yet (an early date, a tiny demo): no campaign
        won_back = rng.random(len(members)) < effect[members]
        order_time = as_of + rng.integers(
            US_PER_DAY, design.order_window_days * US_PER_DAY, len(members)
        )
        shape = design.order_value_shape
        value = np.round(
            people["mean_order_value"][members] * rng.gamma(shape, 1 / shape, len(members)), 2
        )
        value = np.maximum(value, 0.01)
        retained = _window(times[active], users[active], n, as_of, end)[members]
        purchased = _converted(events, user_ids, date, design.horizon_days)[members]
        net = _net(times, users, signed, n, as_of, end)[members]
        gain = np.where(won_back, value, 0.0)
        name = campaign_name(date)
        truth = pd.DataFrame(
            {
                "campaign": name,
                "as_of": pd.Timestamp(date).tz_convert("UTC"),
                contract.USER_ID: user_ids[members],
                contract.CHANNEL: np.asarray(CHANNELS)[channel[members]],
                "engagement": np.where(high_engagement[members], "high", "low"),
                "control": control,
                "effect_probability": effect[members],
                "won_back_if_targeted": won_back,
                "retained_if_control": retained,
                "retained_if_targeted": retained | won_back,
                "purchased_if_control": purchased,
                "purchased_if_targeted": purchased | won_back,
                "revenue_if_control": np.round(np.maximum(net, 0.0), 2),
                "revenue_if_targeted": np.round(np.maximum(net + gain, 0.0), 2),
            }
        )
        truths.append(truth)
        placed = ~control & won_back
        orders.append(
            pd.DataFrame(
                {
                    contract.USER_ID: user_ids[members[placed]],
                    contract.EVENT_TIME: pd.to_datetime(order_time[placed], unit="us", utc=True),
                    contract.EVENT_TYPE: contract.PURCHASE,
                    contract.AMOUNT: value[placed],
                    contract.CURRENCY: "GBP",
                    contract.ORDER_ID: [f"{u}-{name}" for u in user_ids[members[placed]]],
                }
            )
        )
        lists[name] = pd.DataFrame(
            {
                contract.USER_ID: user_ids[members],
                "control": control,
                "as_of": f"{date:%Y-%m-%d}",
            }
        )
        summaries.append(
            {
                "name": name,
                "as_of": f"{date:%Y-%m-%d}",
                "horizon_days": design.horizon_days,
                "targeted": int((~control).sum()),
                "control": int(control.sum()),
                "won_back_orders": int(placed.sum()),
                "true_effect": true_effects(truth),
            }
        )
    return CampaignOverlay(
        pd.concat(orders, ignore_index=True), pd.concat(truths), lists, summaries
    )


def _converted(
    events: pd.DataFrame, user_ids: np.ndarray, date: datetime, horizon_days: int
) -> np.ndarray:
    """Per user, an order in the horizon not wholly refunded within it: the conversion outcome
    as the labels count it (``features.labels``; a cancelled order converts nobody)."""
    from features.labels import LABEL, LabelSpec, compute_labels

    spec = LabelSpec("conversion", horizon_days, target="first_purchase")
    labels = compute_labels(events, [pd.Timestamp(date)], spec, every_known_user=True)
    return np.isin(user_ids, labels.loc[labels[LABEL] == 1, contract.USER_ID].to_numpy())


def true_effects(truth: pd.DataFrame) -> dict[str, float]:
    """The campaign's true effect on its members: mean of (if targeted - if held out)."""
    return {
        measure: float(
            (truth[f"{column}_if_targeted"].astype(float) - truth[f"{column}_if_control"]).mean()
        )
        for measure, column in (
            ("retention", "retained"),
            ("conversion", "purchased"),
            ("revenue", "revenue"),
        )
    }


def add_campaigns(
    directory: Path,
    events_file: str,
    schema: pa.Schema,
    people: dict[str, np.ndarray],
    user_ids: pa.Array,
    observed_start: datetime,
    observed_end: datetime,
    seed: int,
    design: CampaignDesign | None = None,
) -> CampaignOverlay:
    """Add the campaigns' orders to ``directory/events_file`` (kept sorted by time, then user)
    and write their ground truth and lists next to it.

    The whole events table is read into memory: campaigns are for demos of modest size.
    """
    design = design or CampaignDesign()
    design.check(observed_start, observed_end)
    # Its own random stream: the simulation's draws stay what they are without campaigns.
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    path = directory / events_file
    events = pq.read_table(path).to_pandas()
    overlay = plan_campaigns(
        events, people, np.asarray(user_ids.to_pylist()), observed_end, rng, design
    )
    merged = pd.concat([events, overlay.orders], ignore_index=True)
    merged = merged.sort_values([contract.EVENT_TIME, contract.USER_ID], kind="stable")
    pq.write_table(
        pa.Table.from_pandas(merged, schema=schema, preserve_index=False), path, compression="zstd"
    )
    pq.write_table(
        pa.Table.from_pandas(overlay.truth, preserve_index=False),
        directory / CAMPAIGNS_FILE,
        compression="zstd",
    )
    (directory / CAMPAIGN_LISTS_DIR).mkdir()
    for name, rows in overlay.lists.items():
        rows.to_csv(directory / CAMPAIGN_LISTS_DIR / f"{name}.csv", index=False)
    return overlay
