"""The embedded demo product: sign-ups, activation, sessions, purchases, refunds, churn, win-back.

A generated data set with a fixed seed and recorded ground truth, so every stage can run
without outside data and model quality can be checked against an oracle. The simulation
steps week by week over all users at once (numpy), so memory is bounded by the per-user
state plus one week of events: events are written to Parquet as the weeks pass, already
globally sorted by ``(event_time, user_id)`` because weeks never overlap.

Generative story (per user, all latent values are in ``ground_truth.parquet``):

- sign-ups over the observed period with exponential growth, weekly seasonality and a
  channel mix drifting from organic towards paid; channels differ in activation rate,
  engagement, purchase propensity, order values, churn and refund rates;
- ``activation`` within three days of sign-up for some users; activated users are more
  engaged and churn less;
- ``session`` events as a Poisson process with a per-user gamma-distributed weekly rate;
- each session converts to a ``purchase`` with a per-user beta-distributed propensity
  (so conversion hazard grows with engagement), lifted in the Nov-Dec peak; order values
  are gamma around a per-user lognormal mean (Gamma-Gamma thinking), so revenue is
  heavy-tailed;
- a few % of purchases get a ``refund`` (same ``order_id``, full or partial amount) days later;
- going silent with a weekly hazard driven by what is observable: recent sessions (an
  exponential moving average of weekly counts), paying or not, activated or not, account
  age and channel; silent users may come back (win-back) with a decaying weekly hazard.

Files written to ``out_dir``:

``users.parquet``
    ``user_id`` (``u0000001``..., numbered in sign-up order), ``signup_time``,
    ``channel``, ``country``, ``device``.
``events.parquet``
    the contract's events table (``user_id``, ``event_time``, ``event_type``, ``amount``,
    ``currency``, ``order_id``), events in ``[start, observed_end)``, sorted by
    ``(event_time, user_id)``. ``order_id`` is ``<user_id>-<n>``.
``ground_truth.parquet``, one row per user:
    ``user_id``, ``channel``;
    latent parameters: ``activated``, ``activation_time``, ``engagement_rate`` (sessions
    per week while alive, before win-back decay), ``purchase_propensity`` (purchase
    probability per session), ``mean_order_value`` (GBP), ``base_churn_hazard`` (weekly,
    channel included, before behavioural multipliers), ``reactivation_propensity`` (weekly);
    latent history over the whole simulation (observed + future): ``first_purchase_time``,
    ``churn_time`` (first time the user went silent, null if never),
    ``reactivation_time`` (first win-back after it, null if none), ``n_churns``,
    ``n_reactivations``;
    state at ``observed_end``: ``alive_at_end``, ``paying_at_end``;
    outcomes in ``[observed_end, observed_end + future_days)``, simulated but not written as
    events: ``future_revenue`` (gross purchases, GBP), ``future_purchases``,
    ``future_refund_amount``, and for the first 90 days ``future_revenue_90d``,
    ``future_purchases_90d``, ``future_sessions_90d``, ``future_active_90d`` (any session
    or purchase), ``churned_within_90d_after_end`` (alive at the end and went silent
    within 90 days), ``converted_within_90d_after_end`` (not paying at the end, first
    purchase within 90 days). With ``future_days < 90`` the 90-day outcomes are truncated.
``demo.json``
    parameters, the product model and the summary counts.

With ``campaigns`` (settings ``demo.campaigns``, off by default), also ``campaigns.parquet``
(who was targeted or held out, when, and both potential outcomes per member) and
``campaign_lists/<name>.csv`` (the list ``lifecycle campaign start`` reads), the won-back
orders in ``events.parquet``, and the campaigns in ``demo.json``: see
:mod:`features.demo_campaigns`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features import contract
from features.demo_campaigns import CampaignDesign, add_campaigns
from features.demo_simulation import (
    CHANNELS,
    COUNTRIES,
    CURRENCY_CODE,
    DEVICES,
    EVENT_TYPES,
    HORIZON_90D_US,
    NEVER,
    PURCHASE,
    REFUND,
    ProductModel,
    SimulatedEvents,
    SimulatedOutcomes,
    draw_users,
    micros,
    parse_start,
    simulate,
)
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

GROUND_TRUTH_FILE = "ground_truth.parquet"
METADATA_FILE = "demo.json"
FORMAT_VERSION = 1
_ROWS_PER_WRITE = 1_000_000
_TIME_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class DemoSummary:
    """What a generation produced, for the CLI and ``demo.json``."""

    users: int
    seed: int
    events: int
    events_by_type: dict[str, int]
    paying_users: int
    revenue: float
    refunded: float
    observed_start: datetime
    observed_end: datetime
    out_dir: Path
    users_path: Path
    events_path: Path
    ground_truth_path: Path
    metadata_path: Path
    extra: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Paths relative to ``out_dir`` so the file is identical wherever it is written."""
        return {
            "users": self.users,
            "seed": self.seed,
            "events": self.events,
            "events_by_type": self.events_by_type,
            "paying_users": self.paying_users,
            "revenue": self.revenue,
            "refunded": self.refunded,
            "observed_start": self.observed_start.isoformat(),
            "observed_end": self.observed_end.isoformat(),
            "files": [
                p.name
                for p in (
                    self.users_path,
                    self.events_path,
                    self.ground_truth_path,
                    self.metadata_path,
                )
            ],
            **self.extra,
        }


def _user_ids(users: int) -> pa.Array:
    width = max(7, len(str(users)))
    numbers = pc.cast(pa.array(np.arange(1, users + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("u", pc.utf8_lpad(numbers, width, "0"), "")


def _labels(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names)).cast(
        pa.string()
    )


def _times(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=values == NEVER).cast(_TIME_TYPE)


EVENTS_SCHEMA = pa.schema(
    [
        pa.field(contract.USER_ID, pa.string(), nullable=False),
        pa.field(contract.EVENT_TIME, _TIME_TYPE, nullable=False),
        pa.field(contract.EVENT_TYPE, pa.string(), nullable=False),
        pa.field(contract.AMOUNT, pa.float64()),
        pa.field(contract.CURRENCY, pa.string()),
        pa.field(contract.ORDER_ID, pa.string()),
    ]
)


def _events_table(events: SimulatedEvents, user_ids: pa.Array) -> pa.Table:
    user = user_ids.take(pa.array(events.user))
    monetary = ~np.isnan(events.amount)
    has_order = events.order >= 0
    order_number = pc.cast(pa.array(events.order + 1, mask=~has_order), pa.string())
    return pa.Table.from_arrays(
        [
            user,
            pa.array(events.time, type=pa.int64()).cast(_TIME_TYPE),
            _labels(events.kind, EVENT_TYPES),
            pa.array(events.amount, mask=~monetary),
            pa.array(np.where(monetary, CURRENCY_CODE, None), type=pa.string()),
            pc.binary_join_element_wise(user, order_number, "-"),
        ],
        schema=EVENTS_SCHEMA,
    )


def _users_table(people: dict[str, np.ndarray], user_ids: pa.Array) -> pa.Table:
    return pa.table(
        {
            contract.USER_ID: user_ids,
            contract.SIGNUP_TIME: _times(people["signup_us"]),
            contract.CHANNEL: _labels(people["channel"], CHANNELS),
            "country": _labels(people["country"], COUNTRIES),
            "device": _labels(people["device"], DEVICES),
        }
    )


def _ground_truth_table(
    people: dict[str, np.ndarray], outcomes: SimulatedOutcomes, user_ids: pa.Array, end_us: int
) -> pa.Table:
    first_purchase = outcomes.first_purchase
    return pa.table(
        {
            contract.USER_ID: user_ids,
            contract.CHANNEL: _labels(people["channel"], CHANNELS),
            "activated": people["activation_us"] != NEVER,
            "activation_time": _times(people["activation_us"]),
            "engagement_rate": people["engagement_rate"],
            "purchase_propensity": people["purchase_propensity"],
            "mean_order_value": people["mean_order_value"],
            "base_churn_hazard": people["base_churn_hazard"],
            "reactivation_propensity": people["reactivation_propensity"],
            "first_purchase_time": _times(first_purchase),
            "churn_time": _times(outcomes.churn_time),
            "reactivation_time": _times(outcomes.reactivation_time),
            "n_churns": outcomes.n_churns,
            "n_reactivations": outcomes.n_reactivations,
            "alive_at_end": outcomes.alive_at_end,
            "paying_at_end": outcomes.paying_at_end,
            "future_revenue": np.round(outcomes.future_revenue, 2),
            "future_purchases": outcomes.future_purchases,
            "future_refund_amount": np.round(outcomes.future_refund_amount, 2),
            "future_revenue_90d": np.round(outcomes.future_revenue_90d, 2),
            "future_purchases_90d": outcomes.future_purchases_90d,
            "future_sessions_90d": outcomes.future_sessions_90d,
            "future_active_90d": (outcomes.future_sessions_90d + outcomes.future_purchases_90d) > 0,
            "churned_within_90d_after_end": outcomes.alive_at_end
            & (outcomes.first_churn_after_end < end_us + HORIZON_90D_US),
            "converted_within_90d_after_end": ~outcomes.paying_at_end
            & (first_purchase >= end_us)
            & (first_purchase < end_us + HORIZON_90D_US),
        }
    )


def generate_demo(
    users: int,
    seed: int,
    out_dir: Path,
    start: str = "2023-01-01",
    days: int = 1095,
    future_days: int = 365,
    progress: Callable[[int, int], None] | None = None,
    campaigns: bool = False,
    campaign_design: CampaignDesign | None = None,
) -> DemoSummary:
    """Generate the demo data set into ``out_dir``, replacing it only once complete.

    Same arguments give byte-identical files. A crash leaves any previous data in place.
    ``progress(done, total)`` is called once per simulated week with ``done`` the share of
    weeks simulated, expressed in users, ending at ``(users, users)``. ``campaigns`` adds
    the randomized win-back campaigns of :mod:`features.demo_campaigns` (other bytes), as
    ``campaign_design`` says (default: ``CampaignDesign()``).
    """
    if users < 1:
        raise ValueError(f"demo users must be at least 1, got {users}")
    if days < 1 or future_days < 0:
        raise ValueError(f"demo days must be >= 1 and future_days >= 0, got {days}, {future_days}")
    model = ProductModel()
    out_dir = Path(out_dir)
    observed_start = parse_start(start)
    observed_end = observed_start + timedelta(days=days)
    rng = np.random.default_rng(np.random.SeedSequence(seed))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    building.mkdir()
    try:
        people = draw_users(users, rng, observed_start, days, model)
        user_ids = _user_ids(users)
        pq.write_table(_users_table(people, user_ids), building / USERS_FILE, compression="zstd")

        outcomes = SimulatedOutcomes(users)
        counts = np.zeros(len(EVENT_TYPES), np.int64)
        revenue = refunded = 0.0
        buffered: list[SimulatedEvents] = []
        with pq.ParquetWriter(building / EVENTS_FILE, EVENTS_SCHEMA, compression="zstd") as writer:
            for week in simulate(people, rng, observed_end, future_days, model, outcomes, progress):
                counts += np.bincount(week.kind, minlength=len(EVENT_TYPES))
                revenue += float(week.amount[week.kind == PURCHASE].sum())
                refunded += float(week.amount[week.kind == REFUND].sum())
                buffered.append(week)
                if sum(len(b) for b in buffered) >= _ROWS_PER_WRITE:
                    writer.write_table(_events_table(SimulatedEvents.concat(buffered), user_ids))
                    buffered = []
            if buffered:
                writer.write_table(_events_table(SimulatedEvents.concat(buffered), user_ids))

        overlay = None
        design = campaign_design or CampaignDesign()
        if campaigns:
            overlay = add_campaigns(
                building,
                EVENTS_FILE,
                EVENTS_SCHEMA,
                people,
                user_ids,
                observed_start,
                observed_end,
                seed,
                design,
            )
            counts[PURCHASE] += len(overlay.orders)
            revenue += float(overlay.orders[contract.AMOUNT].sum())
        end_us = micros(observed_end)
        pq.write_table(
            _ground_truth_table(people, outcomes, user_ids, end_us),
            building / GROUND_TRUTH_FILE,
            compression="zstd",
        )
        summary = DemoSummary(
            users=users,
            seed=seed,
            events=int(counts.sum()),
            events_by_type={name: int(n) for name, n in zip(EVENT_TYPES, counts, strict=True)},
            paying_users=int((outcomes.first_purchase < end_us).sum()),
            revenue=round(revenue, 2),
            refunded=round(refunded, 2),
            observed_start=observed_start,
            observed_end=observed_end,
            out_dir=out_dir,
            users_path=out_dir / USERS_FILE,
            events_path=out_dir / EVENTS_FILE,
            ground_truth_path=out_dir / GROUND_TRUTH_FILE,
            metadata_path=out_dir / METADATA_FILE,
            extra={
                "alive_at_end": int(outcomes.alive_at_end.sum()),
                "reactivated_users": int((outcomes.reactivation_time != NEVER).sum()),
            },
        )
        metadata = {
            "format_version": FORMAT_VERSION,
            "parameters": {
                "users": users,
                "seed": seed,
                "start": start,
                "days": days,
                "future_days": future_days,
            },
            "product_model": asdict(model),
            "summary": summary.to_json(),
        }
        if overlay is not None:  # only then: without campaigns the file stays as it was
            metadata["parameters"]["campaigns"] = True
            metadata["campaigns"] = {"design": asdict(design), "runs": overlay.summaries}
        (building / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        _swap_into_place(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return summary


def _swap_into_place(building: Path, out_dir: Path) -> None:
    """Rename the finished directory into place; the old one is removed only afterwards."""
    from lifecycle.storage import fsync_dir, fsync_tree

    fsync_tree(building)  # durable before it is renamed into place
    retired = None
    if out_dir.exists():
        retired = out_dir.parent / f".{out_dir.name}.retired-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, retired)
    os.replace(building, out_dir)
    fsync_dir(out_dir.parent)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
