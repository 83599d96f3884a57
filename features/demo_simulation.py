"""The demo product's simulation, week by week over all users at once (numpy): the
generative story and its parameters are described in :mod:`features.demo`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from features import contract

CHANNELS = ("organic", "paid_search", "social", "referral", "email")
COUNTRIES = ("GB", "US", "DE", "FR", "IE")
DEVICES = ("ios", "android", "web")
CURRENCY_CODE = "GBP"


US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
US_PER_WEEK = 7 * US_PER_DAY
NEVER = np.iinfo(np.int64).max  # "no such time"; compares after every real time
HORIZON_90D_US = 90 * US_PER_DAY

# Codes order ties within one user and microsecond deterministically (signup first).
EVENT_TYPES = (
    contract.SIGNUP,
    contract.ACTIVATION,
    contract.SESSION,
    contract.PURCHASE,
    contract.REFUND,
)
SIGNUP, ACTIVATION, SESSION, PURCHASE, REFUND = range(5)


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


def parse_start(start: str) -> datetime:
    """Start of the observed period; a date or naive time is taken as UTC."""
    moment = datetime.fromisoformat(start)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _softmax_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(logits))[:, None] > cumulative).sum(axis=1), 4)


def draw_users(
    users: int, rng: np.random.Generator, start: datetime, days: int, model: ProductModel
) -> dict[str, np.ndarray]:
    """Sign-up times, attributes and latent parameters, ordered by sign-up time."""
    start_us = micros(start)
    day = np.arange(days)
    weekday = (start.weekday() + day) % 7
    weight = np.exp(model.signup_growth * day / days) * np.asarray(model.signup_weekday)[weekday]
    signup_day = rng.choice(days, size=users, p=weight / weight.sum())
    signup_us = np.sort(start_us + signup_day * US_PER_DAY + rng.integers(0, US_PER_DAY, users))

    period_share = (signup_us - start_us) / (days * US_PER_DAY)
    logits = np.log(model.channel_mix)[None, :] + np.outer(period_share, model.channel_mix_drift)
    channel = _softmax_choice(rng, logits).astype(np.int8)
    country = rng.choice(len(COUNTRIES), size=users, p=model.country_mix).astype(np.int8)
    device = rng.choice(len(DEVICES), size=users, p=model.device_mix).astype(np.int8)

    activation_p = (
        np.asarray(model.activation_rate)[channel] * np.asarray(model.device_activation)[device]
    )
    activated = rng.random(users) < np.clip(activation_p, 0.0, 0.98)
    delay_us = np.minimum(rng.exponential(model.activation_delay_days, users), 3.0) * US_PER_DAY
    activation_us = np.where(activated, signup_us + delay_us.astype(np.int64), NEVER)

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
    moment = datetime.fromtimestamp(time_us / US_PER_SECOND, tz=UTC)
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
class SimulatedEvents:
    """A batch of events as parallel arrays (user index, time, type, amount, order seq)."""

    user: np.ndarray
    time: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    order: np.ndarray

    @classmethod
    def empty(cls) -> SimulatedEvents:
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
    ) -> SimulatedEvents:
        size = len(user)
        return cls(
            user.astype(np.int64, copy=False),
            time.astype(np.int64, copy=False),
            np.full(size, kind, np.int8),
            np.full(size, np.nan) if amount is None else amount,
            np.full(size, -1, np.int32) if order is None else order.astype(np.int32),
        )

    @classmethod
    def concat(cls, parts: list[SimulatedEvents]) -> SimulatedEvents:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls._fields()))

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("user", "time", "kind", "amount", "order")

    def take(self, index: np.ndarray) -> SimulatedEvents:
        return SimulatedEvents(*(getattr(self, f)[index] for f in self._fields()))

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class SimulatedOutcomes:
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
            setattr(self, name, np.full(n, NEVER, np.int64))
        for name in ("n_churns", "n_reactivations", "future_purchases", "future_purchases_90d"):
            setattr(self, name, np.zeros(n, np.int32))
        self.future_sessions_90d = np.zeros(n, np.int32)
        for name in ("future_revenue", "future_refund_amount", "future_revenue_90d"):
            setattr(self, name, np.zeros(n, np.float64))
        self.alive_at_end = np.zeros(n, bool)
        self.paying_at_end = np.zeros(n, bool)

    def add_future(self, events: SimulatedEvents, end_us: int) -> None:
        within_90d = events.time < end_us + HORIZON_90D_US
        purchase = events.kind == PURCHASE
        refund = events.kind == REFUND
        session = events.kind == SESSION
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
    outcomes: SimulatedOutcomes,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[SimulatedEvents]:
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

    end_us = micros(end)
    sim_end_us = end_us + future_days * US_PER_DAY
    first_week = -math.ceil((end_us - int(signup_us.min(initial=end_us))) / US_PER_WEEK) - 1
    last_week = math.ceil(future_days * US_PER_DAY / US_PER_WEEK)
    total_weeks = last_week - first_week

    pending_signup, alive, silent = 0, 1, 2
    state = np.full(users, pending_signup, np.int8)
    alive_from = signup_us.copy()
    silent_since = np.full(users, NEVER, np.int64)
    recent_sessions = np.ones(users, np.float32)
    orders = np.zeros(users, np.int32)
    pending = SimulatedEvents.empty()
    memory = model.recent_sessions_memory
    snapshot_taken = False

    for step, week in enumerate(range(first_week, last_week)):
        week_start = end_us + week * US_PER_WEEK
        week_end = min(week_start + US_PER_WEEK, sim_end_us)
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
                * np.exp(-(week_start - alive_from[stayers]) / US_PER_WEEK / model.new_user_weeks)
            )
            * 2.0
            / (1.0 + recent_sessions[stayers])
        )
        churn_at = week_start + (rng.random(len(stayers)) * (week_end - week_start)).astype(
            np.int64
        )
        # No one goes silent in their first week, so activation always happens first.
        churn_at = np.maximum(churn_at, signup_us[stayers] + US_PER_WEEK)
        goes = (rng.random(len(stayers)) < np.minimum(hazard, 0.95)) & (churn_at < week_end)
        stayer_until = np.where(goes, churn_at, week_end)
        leavers, left_at = stayers[goes], churn_at[goes]
        state[leavers] = silent
        silent_since[leavers] = left_at
        first_time = outcomes.churn_time[leavers] == NEVER
        outcomes.churn_time[leavers[first_time]] = left_at[first_time]
        outcomes.n_churns[leavers] += 1
        after_end = (left_at >= end_us) & (outcomes.first_churn_after_end[leavers] == NEVER)
        outcomes.first_churn_after_end[leavers[after_end]] = left_at[after_end]

        # Win-back among users silent since an earlier week.
        dormant = np.flatnonzero((state == silent) & (silent_since < week_start))
        comeback = (
            reactivation[dormant]
            * np.where(
                outcomes.first_purchase[dormant] < week_start, model.paying_reactivation, 1.0
            )
            * np.exp(
                -(week_start - silent_since[dormant]) / US_PER_WEEK / model.reactivation_decay_weeks
            )
        )
        back = dormant[rng.random(len(dormant)) < comeback]
        back_at = week_start + (rng.random(len(back)) * (week_end - week_start)).astype(np.int64)
        state[back] = alive
        alive_from[back] = back_at
        rate[back] *= model.reactivated_engagement
        recent_sessions[back] = 1.0
        first_time = outcomes.reactivation_time[back] == NEVER
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

        sessions = rng.poisson(rate[active] * session_season(week_start) * exposure / US_PER_WEEK)
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
            + 60 * US_PER_SECOND
            + (rng.exponential(8 * 60, len(buyer)) * US_PER_SECOND).astype(np.int64)
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
            + 3600 * US_PER_SECOND
            + (rng.exponential(model.refund_delay_days, len(refund_amount)) * US_PER_DAY).astype(
                np.int64
            )
        )
        activating = newcomers[activation_us[newcomers] != NEVER]

        batch = SimulatedEvents.concat(
            [
                pending,
                SimulatedEvents.of(newcomers, signup_us[newcomers], SIGNUP),
                SimulatedEvents.of(activating, activation_us[activating], ACTIVATION),
                SimulatedEvents.of(back, back_at, SESSION),
                SimulatedEvents.of(session_user, session_time, SESSION),
                SimulatedEvents.of(buyer, bought_at, PURCHASE, amount, order_seq),
                SimulatedEvents.of(
                    buyer[refunded], refund_at, REFUND, refund_amount, order_seq[refunded]
                ),
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
