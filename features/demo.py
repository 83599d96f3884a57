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
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features import contract
from lifecycle.workspace import EVENTS_FILE, USERS_FILE

CHANNELS = ("organic", "paid_search", "social", "referral", "email")
COUNTRIES = ("GB", "US", "DE", "FR", "IE")
DEVICES = ("ios", "android", "web")
CURRENCY_CODE = "GBP"

GROUND_TRUTH_FILE = "ground_truth.parquet"
METADATA_FILE = "demo.json"
FORMAT_VERSION = 1

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_US_PER_WEEK = 7 * _US_PER_DAY
_NEVER = np.iinfo(np.int64).max  # "no such time"; compares after every real time
_HORIZON_90D_US = 90 * _US_PER_DAY
_ROWS_PER_WRITE = 1_000_000

# Codes order ties within one user and microsecond deterministically (signup first).
_EVENT_TYPES = (
    contract.SIGNUP,
    contract.ACTIVATION,
    contract.SESSION,
    contract.PURCHASE,
    contract.REFUND,
)
_SIGNUP, _ACTIVATION, _SESSION, _PURCHASE, _REFUND = range(5)
_TIME_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ProductModel:
    """The simulated product's behaviour; per-channel tuples follow ``CHANNELS``."""

    channel_mix: tuple[float, ...] = (0.38, 0.25, 0.17, 0.10, 0.10)
    channel_mix_drift: tuple[float, ...] = (-0.4, 0.5, 0.3, 0.0, -0.2)  # log-odds over the period
    activation_rate: tuple[float, ...] = (0.62, 0.50, 0.35, 0.72, 0.58)
    engagement: tuple[float, ...] = (1.0, 0.85, 0.7, 1.2, 1.0)
    purchase_propensity: tuple[float, ...] = (1.0, 1.1, 0.55, 1.4, 1.25)
    order_value: tuple[float, ...] = (1.0, 1.15, 0.8, 1.1, 0.95)
    churn: tuple[float, ...] = (1.0, 1.2, 1.5, 0.75, 0.9)
    refund_rate: tuple[float, ...] = (0.03, 0.035, 0.06, 0.025, 0.03)
    country_mix: tuple[float, ...] = (0.55, 0.15, 0.10, 0.10, 0.10)
    country_order_value: tuple[float, ...] = (1.0, 1.2, 1.05, 1.0, 0.95)
    device_mix: tuple[float, ...] = (0.35, 0.40, 0.25)
    device_activation: tuple[float, ...] = (1.05, 0.95, 1.0)
    device_order_value: tuple[float, ...] = (1.15, 0.9, 1.0)
    signup_growth: float = 1.0  # log of the end/start ratio of daily sign-ups
    signup_weekday: tuple[float, ...] = (1.05, 1.10, 1.08, 1.05, 0.95, 0.85, 0.92)  # Mon..Sun
    activation_delay_days: float = 0.75
    sessions_per_week_activated: float = 1.6
    sessions_per_week_not_activated: float = 0.35
    engagement_shape: float = 1.3
    purchase_per_session: float = 0.04
    purchase_beta_a: float = 1.2
    holiday_peak: float = 0.9  # extra purchase probability at the Christmas peak
    mean_order_value: float = 35.0
    order_value_sigma: float = 0.75
    order_value_shape: float = 2.5
    refund_partial_share: float = 0.3
    refund_delay_days: float = 4.0
    base_churn_hazard: float = 0.04
    churn_hazard_shape: float = 2.0
    paying_churn: float = 0.55
    activated_churn: float = 0.7
    new_user_churn: float = 1.5
    new_user_weeks: float = 4.0
    recent_sessions_memory: float = 0.6  # weight of the past in the sessions moving average
    reactivation: float = 0.006
    reactivation_shape: float = 1.5
    reactivation_decay_weeks: float = 26.0
    paying_reactivation: float = 2.0
    reactivated_engagement: float = 0.8


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


def parse_start(start: str) -> datetime:
    """Start of the observed period; a date or naive time is taken as UTC."""
    moment = datetime.fromisoformat(start)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _softmax_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(logits))[:, None] > cumulative).sum(axis=1), 4)


def draw_users(
    users: int, rng: np.random.Generator, start: datetime, days: int, model: ProductModel
) -> dict[str, np.ndarray]:
    """Sign-up times, attributes and latent parameters, ordered by sign-up time."""
    start_us = _us(start)
    day = np.arange(days)
    weekday = (start.weekday() + day) % 7
    weight = np.exp(model.signup_growth * day / days) * np.asarray(model.signup_weekday)[weekday]
    signup_day = rng.choice(days, size=users, p=weight / weight.sum())
    signup_us = np.sort(start_us + signup_day * _US_PER_DAY + rng.integers(0, _US_PER_DAY, users))

    period_share = (signup_us - start_us) / (days * _US_PER_DAY)
    logits = np.log(model.channel_mix)[None, :] + np.outer(period_share, model.channel_mix_drift)
    channel = _softmax_choice(rng, logits).astype(np.int8)
    country = rng.choice(len(COUNTRIES), size=users, p=model.country_mix).astype(np.int8)
    device = rng.choice(len(DEVICES), size=users, p=model.device_mix).astype(np.int8)

    activation_p = (
        np.asarray(model.activation_rate)[channel] * np.asarray(model.device_activation)[device]
    )
    activated = rng.random(users) < np.clip(activation_p, 0.0, 0.98)
    delay_us = np.minimum(rng.exponential(model.activation_delay_days, users), 3.0) * _US_PER_DAY
    activation_us = np.where(activated, signup_us + delay_us.astype(np.int64), _NEVER)

    engagement_mean = (
        np.where(
            activated, model.sessions_per_week_activated, model.sessions_per_week_not_activated
        )
        * np.asarray(model.engagement)[channel]
    )
    shape = model.engagement_shape
    engagement_rate = rng.gamma(shape, engagement_mean / shape)

    purchase_mean = model.purchase_per_session * np.asarray(model.purchase_propensity)[channel]
    beta_a = model.purchase_beta_a
    purchase_propensity = rng.beta(beta_a, beta_a * (1 - purchase_mean) / purchase_mean)

    sigma = model.order_value_sigma
    order_value_scale = (
        np.asarray(model.order_value)[channel]
        * np.asarray(model.country_order_value)[country]
        * np.asarray(model.device_order_value)[device]
    )
    mean_order_value = (
        np.exp(rng.normal(math.log(model.mean_order_value) - sigma**2 / 2, sigma, users))
        * order_value_scale
    )
    churn_shape = model.churn_hazard_shape
    base_churn_hazard = (
        rng.gamma(churn_shape, model.base_churn_hazard / churn_shape, users)
        * np.asarray(model.churn)[channel]
    )
    react_shape = model.reactivation_shape
    reactivation_propensity = rng.gamma(react_shape, model.reactivation / react_shape, users)
    return {
        "signup_us": signup_us,
        "channel": channel,
        "country": country,
        "device": device,
        "activation_us": activation_us,
        "engagement_rate": engagement_rate,
        "purchase_propensity": purchase_propensity,
        "mean_order_value": mean_order_value,
        "base_churn_hazard": base_churn_hazard,
        "reactivation_propensity": reactivation_propensity,
    }


def _day_of_year(time_us: int) -> float:
    moment = datetime.fromtimestamp(time_us / _US_PER_SECOND, tz=UTC)
    return moment.timetuple().tm_yday + moment.hour / 24


def _circular_gap(day: float, centre: float) -> float:
    gap = abs(day - centre) % 365.25
    return min(gap, 365.25 - gap)


def session_season(time_us: int) -> float:
    """More sessions in winter than in summer."""
    return 1.0 + 0.1 * math.cos(2 * math.pi * (_day_of_year(time_us) - 20) / 365.25)


def purchase_season(time_us: int, model: ProductModel) -> float:
    """Black Friday and the Christmas run-up lift purchase probability per session."""
    day = _day_of_year(time_us)
    christmas = math.exp(-0.5 * (_circular_gap(day, 350) / 14) ** 2)
    black_friday = math.exp(-0.5 * (_circular_gap(day, 330) / 5) ** 2)
    return 1.0 + model.holiday_peak * christmas + 0.5 * black_friday


@dataclass
class _Events:
    """A batch of events as parallel arrays (user index, time, type, amount, order seq)."""

    user: np.ndarray
    time: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    order: np.ndarray

    @classmethod
    def empty(cls) -> _Events:
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.int8),
            np.empty(0, np.float64),
            np.empty(0, np.int32),
        )

    @classmethod
    def of(
        cls,
        user: np.ndarray,
        time: np.ndarray,
        kind: int,
        amount: np.ndarray | None = None,
        order: np.ndarray | None = None,
    ) -> _Events:
        size = len(user)
        return cls(
            user.astype(np.int64, copy=False),
            time.astype(np.int64, copy=False),
            np.full(size, kind, np.int8),
            np.full(size, np.nan) if amount is None else amount,
            np.full(size, -1, np.int32) if order is None else order.astype(np.int32),
        )

    @classmethod
    def concat(cls, parts: list[_Events]) -> _Events:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls._fields()))

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("user", "time", "kind", "amount", "order")

    def take(self, index: np.ndarray) -> _Events:
        return _Events(*(getattr(self, f)[index] for f in self._fields()))

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class _Outcomes:
    """Per-user latent history and future outcomes, filled while simulating."""

    users: int
    first_purchase: np.ndarray = field(init=False)
    churn_time: np.ndarray = field(init=False)
    reactivation_time: np.ndarray = field(init=False)
    first_churn_after_end: np.ndarray = field(init=False)
    n_churns: np.ndarray = field(init=False)
    n_reactivations: np.ndarray = field(init=False)
    alive_at_end: np.ndarray = field(init=False)
    paying_at_end: np.ndarray = field(init=False)
    future_revenue: np.ndarray = field(init=False)
    future_purchases: np.ndarray = field(init=False)
    future_refund_amount: np.ndarray = field(init=False)
    future_revenue_90d: np.ndarray = field(init=False)
    future_purchases_90d: np.ndarray = field(init=False)
    future_sessions_90d: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.users
        for name in ("first_purchase", "churn_time", "reactivation_time", "first_churn_after_end"):
            setattr(self, name, np.full(n, _NEVER, np.int64))
        for name in ("n_churns", "n_reactivations", "future_purchases", "future_purchases_90d"):
            setattr(self, name, np.zeros(n, np.int32))
        self.future_sessions_90d = np.zeros(n, np.int32)
        for name in ("future_revenue", "future_refund_amount", "future_revenue_90d"):
            setattr(self, name, np.zeros(n, np.float64))
        self.alive_at_end = np.zeros(n, bool)
        self.paying_at_end = np.zeros(n, bool)

    def add_future(self, events: _Events, end_us: int) -> None:
        within_90d = events.time < end_us + _HORIZON_90D_US
        purchase = events.kind == _PURCHASE
        refund = events.kind == _REFUND
        session = events.kind == _SESSION
        np.add.at(self.future_revenue, events.user[purchase], events.amount[purchase])
        np.add.at(self.future_purchases, events.user[purchase], 1)
        np.add.at(self.future_refund_amount, events.user[refund], events.amount[refund])
        near = purchase & within_90d
        np.add.at(self.future_revenue_90d, events.user[near], events.amount[near])
        np.add.at(self.future_purchases_90d, events.user[near], 1)
        np.add.at(self.future_sessions_90d, events.user[session & within_90d], 1)


def simulate(
    people: dict[str, np.ndarray],
    rng: np.random.Generator,
    end: datetime,
    future_days: int,
    model: ProductModel,
    outcomes: _Outcomes,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[_Events]:
    """Yield each week's observed events sorted by (time, user); fill ``outcomes`` on the way.

    Weeks are aligned on the observed end so the end-of-history state is a week boundary.
    """
    users = len(people["signup_us"])
    signup_us = people["signup_us"]
    channel = people["channel"]
    activation_us = people["activation_us"]
    propensity = people["purchase_propensity"]
    order_scale = people["mean_order_value"] / model.order_value_shape
    base_hazard = people["base_churn_hazard"]
    reactivation = people["reactivation_propensity"]
    refund_rate = np.asarray(model.refund_rate)[channel]
    rate = people["engagement_rate"].copy()  # decays on each win-back

    end_us = _us(end)
    sim_end_us = end_us + future_days * _US_PER_DAY
    first_week = -math.ceil((end_us - int(signup_us.min(initial=end_us))) / _US_PER_WEEK) - 1
    last_week = math.ceil(future_days * _US_PER_DAY / _US_PER_WEEK)
    total_weeks = last_week - first_week

    pending_signup, alive, silent = 0, 1, 2
    state = np.full(users, pending_signup, np.int8)
    alive_from = signup_us.copy()
    silent_since = np.full(users, _NEVER, np.int64)
    recent_sessions = np.ones(users, np.float32)
    orders = np.zeros(users, np.int32)
    pending = _Events.empty()
    memory = model.recent_sessions_memory
    snapshot_taken = False

    for step, week in enumerate(range(first_week, last_week)):
        week_start = end_us + week * _US_PER_WEEK
        week_end = min(week_start + _US_PER_WEEK, sim_end_us)
        if week_start >= end_us and not snapshot_taken:
            outcomes.alive_at_end[:] = state == alive
            outcomes.paying_at_end[:] = outcomes.first_purchase < end_us
            snapshot_taken = True

        # Going silent: the hazard sees only what an observer could know at week start.
        stayers = np.flatnonzero(state == alive)
        hazard = (
            base_hazard[stayers]
            * np.where(outcomes.first_purchase[stayers] < week_start, model.paying_churn, 1.0)
            * np.where(activation_us[stayers] < week_start, model.activated_churn, 1.0)
            * (
                1.0
                + model.new_user_churn
                * np.exp(-(week_start - alive_from[stayers]) / _US_PER_WEEK / model.new_user_weeks)
            )
            * 2.0
            / (1.0 + recent_sessions[stayers])
        )
        churn_at = week_start + (rng.random(len(stayers)) * (week_end - week_start)).astype(
            np.int64
        )
        # No one goes silent in their first week, so activation always happens first.
        churn_at = np.maximum(churn_at, signup_us[stayers] + _US_PER_WEEK)
        goes = (rng.random(len(stayers)) < np.minimum(hazard, 0.95)) & (churn_at < week_end)
        stayer_until = np.where(goes, churn_at, week_end)
        leavers, left_at = stayers[goes], churn_at[goes]
        state[leavers] = silent
        silent_since[leavers] = left_at
        first_time = outcomes.churn_time[leavers] == _NEVER
        outcomes.churn_time[leavers[first_time]] = left_at[first_time]
        outcomes.n_churns[leavers] += 1
        after_end = (left_at >= end_us) & (outcomes.first_churn_after_end[leavers] == _NEVER)
        outcomes.first_churn_after_end[leavers[after_end]] = left_at[after_end]

        # Win-back among users silent since an earlier week.
        dormant = np.flatnonzero((state == silent) & (silent_since < week_start))
        comeback = (
            reactivation[dormant]
            * np.where(
                outcomes.first_purchase[dormant] < week_start, model.paying_reactivation, 1.0
            )
            * np.exp(
                -(week_start - silent_since[dormant])
                / _US_PER_WEEK
                / model.reactivation_decay_weeks
            )
        )
        back = dormant[rng.random(len(dormant)) < comeback]
        back_at = week_start + (rng.random(len(back)) * (week_end - week_start)).astype(np.int64)
        state[back] = alive
        alive_from[back] = back_at
        rate[back] *= model.reactivated_engagement
        recent_sessions[back] = 1.0
        first_time = outcomes.reactivation_time[back] == _NEVER
        outcomes.reactivation_time[back[first_time]] = back_at[first_time]
        outcomes.n_reactivations[back] += 1

        # New sign-ups (users are ordered by sign-up time).
        low, high = np.searchsorted(signup_us, [week_start, week_end])
        newcomers = np.arange(low, high)
        state[newcomers] = alive

        active = np.concatenate([stayers, back, newcomers])
        since = np.concatenate(
            [np.full(len(stayers), week_start, np.int64), back_at, signup_us[newcomers]]
        )
        until = np.concatenate(
            [stayer_until, np.full(len(back) + len(newcomers), week_end, np.int64)]
        )
        exposure = (until - since).astype(np.float64)

        sessions = rng.poisson(rate[active] * session_season(week_start) * exposure / _US_PER_WEEK)
        session_user = np.repeat(active, sessions)
        session_time = np.repeat(since, sessions) + (
            rng.random(len(session_user)) * np.repeat(exposure, sessions)
        ).astype(np.int64)

        # Purchases ride on sessions: the first k sessions of a user (in random order) buy.
        purchases = rng.binomial(
            sessions, np.minimum(propensity[active] * purchase_season(week_start, model), 0.9)
        )
        rank = np.arange(len(session_user)) - np.repeat(np.cumsum(sessions) - sessions, sessions)
        buying = rank < np.repeat(purchases, sessions)
        buyer = session_user[buying]
        order_seq = orders[buyer] + rank[buying]
        orders[active] += purchases.astype(np.int32)
        bought_at = (
            session_time[buying]
            + 60 * _US_PER_SECOND
            + (rng.exponential(8 * 60, len(buyer)) * _US_PER_SECOND).astype(np.int64)
        )
        amount = np.maximum(
            np.round(rng.gamma(model.order_value_shape, order_scale[buyer]), 2), 0.5
        )
        np.minimum.at(outcomes.first_purchase, buyer, bought_at)

        refunded = rng.random(len(buyer)) < refund_rate[buyer]
        refund_amount = amount[refunded]
        partial = rng.random(len(refund_amount)) < model.refund_partial_share
        refund_amount = np.where(
            partial,
            np.maximum(
                np.round(refund_amount * rng.uniform(0.2, 0.9, len(refund_amount)), 2), 0.01
            ),
            refund_amount,
        )
        refund_at = (
            bought_at[refunded]
            + 3600 * _US_PER_SECOND
            + (rng.exponential(model.refund_delay_days, len(refund_amount)) * _US_PER_DAY).astype(
                np.int64
            )
        )
        activating = newcomers[activation_us[newcomers] != _NEVER]

        batch = _Events.concat(
            [
                pending,
                _Events.of(newcomers, signup_us[newcomers], _SIGNUP),
                _Events.of(activating, activation_us[activating], _ACTIVATION),
                _Events.of(back, back_at, _SESSION),
                _Events.of(session_user, session_time, _SESSION),
                _Events.of(buyer, bought_at, _PURCHASE, amount, order_seq),
                _Events.of(buyer[refunded], refund_at, _REFUND, refund_amount, order_seq[refunded]),
            ]
        )
        recent_sessions[active] = memory * recent_sessions[active] + (1 - memory) * sessions

        due = batch.time < week_end
        pending = batch.take(np.flatnonzero(~due))
        this_week = batch.take(np.flatnonzero(due))
        observed = this_week.time < end_us
        if not observed.all():
            outcomes.add_future(this_week.take(np.flatnonzero(~observed)), end_us)
            this_week = this_week.take(np.flatnonzero(observed))
        order = np.lexsort((this_week.order, this_week.kind, this_week.user, this_week.time))
        if progress is not None:
            progress(users * (step + 1) // total_weeks, users)
        yield this_week.take(order)

    if not snapshot_taken:  # future_days == 0: the end is after the last week
        outcomes.alive_at_end[:] = state == alive
        outcomes.paying_at_end[:] = outcomes.first_purchase < end_us


def _user_ids(users: int) -> pa.Array:
    width = max(7, len(str(users)))
    numbers = pc.cast(pa.array(np.arange(1, users + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("u", pc.utf8_lpad(numbers, width, "0"), "")


def _labels(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names)).cast(
        pa.string()
    )


def _times(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=values == _NEVER).cast(_TIME_TYPE)


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


def _events_table(events: _Events, user_ids: pa.Array) -> pa.Table:
    user = user_ids.take(pa.array(events.user))
    monetary = ~np.isnan(events.amount)
    has_order = events.order >= 0
    order_number = pc.cast(pa.array(events.order + 1, mask=~has_order), pa.string())
    return pa.Table.from_arrays(
        [
            user,
            pa.array(events.time, type=pa.int64()).cast(_TIME_TYPE),
            _labels(events.kind, _EVENT_TYPES),
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
    people: dict[str, np.ndarray], outcomes: _Outcomes, user_ids: pa.Array, end_us: int
) -> pa.Table:
    first_purchase = outcomes.first_purchase
    return pa.table(
        {
            contract.USER_ID: user_ids,
            contract.CHANNEL: _labels(people["channel"], CHANNELS),
            "activated": people["activation_us"] != _NEVER,
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
            & (outcomes.first_churn_after_end < end_us + _HORIZON_90D_US),
            "converted_within_90d_after_end": ~outcomes.paying_at_end
            & (first_purchase >= end_us)
            & (first_purchase < end_us + _HORIZON_90D_US),
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
) -> DemoSummary:
    """Generate the demo data set into ``out_dir``, replacing it only once complete.

    Same arguments give byte-identical files. A crash leaves any previous data in place.
    ``progress(done, total)`` is called once per simulated week with ``done`` the share of
    weeks simulated, expressed in users, ending at ``(users, users)``.
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

        outcomes = _Outcomes(users)
        counts = np.zeros(len(_EVENT_TYPES), np.int64)
        revenue = refunded = 0.0
        buffered: list[_Events] = []
        with pq.ParquetWriter(building / EVENTS_FILE, EVENTS_SCHEMA, compression="zstd") as writer:
            for week in simulate(people, rng, observed_end, future_days, model, outcomes, progress):
                counts += np.bincount(week.kind, minlength=len(_EVENT_TYPES))
                revenue += float(week.amount[week.kind == _PURCHASE].sum())
                refunded += float(week.amount[week.kind == _REFUND].sum())
                buffered.append(week)
                if sum(len(b) for b in buffered) >= _ROWS_PER_WRITE:
                    writer.write_table(_events_table(_Events.concat(buffered), user_ids))
                    buffered = []
            if buffered:
                writer.write_table(_events_table(_Events.concat(buffered), user_ids))

        end_us = _us(observed_end)
        pq.write_table(
            _ground_truth_table(people, outcomes, user_ids, end_us),
            building / GROUND_TRUTH_FILE,
            compression="zstd",
        )
        summary = DemoSummary(
            users=users,
            seed=seed,
            events=int(counts.sum()),
            events_by_type={name: int(n) for name, n in zip(_EVENT_TYPES, counts, strict=True)},
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
                "reactivated_users": int((outcomes.reactivation_time != _NEVER).sum()),
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
        (building / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        _swap_into_place(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return summary


def _swap_into_place(building: Path, out_dir: Path) -> None:
    """Rename the finished directory into place; the old one is removed only afterwards."""
    retired = None
    if out_dir.exists():
        retired = out_dir.parent / f".{out_dir.name}.retired-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, retired)
    os.replace(building, out_dir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
