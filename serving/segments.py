"""Segments as of a date, from the as-of features (and the churn score where there is one).

Definitions are versioned: a list or report names the version it used.

- lifecycle stages (``stages_v4``): never active, new, active, at risk, silent, churned,
  reactivated (v2: never active for users with no activity, only refunds or no event, who
  were churned in v1 though they never bought; v3: also for users who only signed up, whom
  the funnel counts as not active, and v2 called churned, silent or new; v4: the days as
  the feature windows ``(as_of - w, as_of]`` count them, so a user last active exactly 30
  days ago, none in the 30 days' window, is silent, not active as v3 said);
- named RFM segments (``rfm_v5``, monetary after refunds): champions, loyal, potential,
  cannot lose, hibernating, lost from quintile scores among buyers (``no_purchase`` for users
  without an order); a one-order buyer is potential, hibernating or lost by recency (v3);
  champions score 4-5 on F and on M each, not only on their mean (v4); a buyer the stages
  call new (known fewer than NEW_DAYS) is potential, whatever the scores (v5);
- super users (``super_users_v4``): the top 20% of the customers (users with revenue kept
  after refunds, v4) by a value, revenue or LTV, and the share of all of it they bring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.list_fields import RFM_SCORES
from lifecycle.settings import STAGE_WINDOWS, ServingSettings
from serving.units import Counted

STAGES_VERSION = "stages_v4"
# What a user did beyond signing up, as the funnel counts it (serving.funnel): activations,
# sessions, orders (feature columns)
BEYOND_SIGNUP = ("activated", "sessions_total", "orders_total")
STAGES = ("never_active", "new", "active", "at_risk", "silent", "churned", "reactivated")
# The days as the windows (as_of - w, as_of] count them (v4): a day exactly w days back is
# outside the w days' window, so "new" is first seen within it, "silent" no activity in it
NEW_DAYS = 30  # tenure under this is "new"
SILENT_DAYS = 30  # no activity for this long or longer is "silent"
CHURNED_DAYS = 90  # ... and for this long or longer "churned"
# The active days in the last 30 and in the last 90 days (reactivated: some in the first, none
# in the 60 before): feature columns of the windows every table builds (settings.STAGE_WINDOWS)
STAGE_COLUMNS = tuple(f"active_days_{days}d" for days in STAGE_WINDOWS)
RECENT_DAYS, QUARTER_DAYS = STAGE_WINDOWS
# Churn probability bands: the settings' defaults (serving.high_risk, also the "at_risk"
# stage, and serving.medium_risk); scoring takes the configured ones (Champions.bands).
HIGH_RISK = ServingSettings.model_fields["high_risk"].default
MEDIUM_RISK = ServingSettings.model_fields["medium_risk"].default


def whole_days(days: Any) -> Any:
    """Day counts as people read them, by the stages' rule: whole days gone by (rounded
    down), so 89.9 days idle reads 89 beside ``silent`` and 90.0 reads 90 beside ``churned``
    (90 days or more; trial 101: rounding showed "90 days idle" beside a stage of over 90)."""
    return np.floor(days)


def lifecycle_stage(
    features: pd.DataFrame, churn_probability: pd.Series | None = None
) -> np.ndarray:
    """One stage per user; the first rule that matches wins, in the order of the checks below."""
    return stage_of_columns(
        lambda name: features[name].astype(float).to_numpy(),
        None
        if churn_probability is None
        else pd.Series(churn_probability).astype(float).to_numpy(),
    )


def stage_of_columns(
    column: Callable[[str], np.ndarray],
    churn_probability: np.ndarray | None = None,
    high_risk: float = HIGH_RISK,
) -> np.ndarray:
    """:func:`lifecycle_stage` from float feature columns ``column(name)`` (NaN for missing)."""

    def filled(name: str, missing: float) -> np.ndarray:
        values = column(name)
        return np.where(np.isnan(values), missing, values)

    tenure = filled("tenure_days", 0.0)
    recency = filled("recency_days", np.inf)
    # refunds only, or no event; or nothing past the first day
    never = np.isnan(column("recency_days")) | first_day_only_columns(column)
    recent, quarter = (filled(name, 0.0) for name in STAGE_COLUMNS)
    risk = (
        np.zeros(len(tenure), dtype=bool)
        if churn_probability is None
        else np.where(np.isnan(churn_probability), 0.0, churn_probability) >= high_risk
    )
    rules = _stage_rules(never, tenure, recency, recent, quarter, risk)
    return np.select([matched for matched, _ in rules], [stage for _, stage in rules], "active")


def first_day_only_columns(column: Callable[[str], np.ndarray]) -> np.ndarray:
    """:func:`only_signed_up` of float feature columns ``column(name)`` (NaN for missing):
    the users the stages call never active though they were seen, on their first day."""
    tenure, recency = column("tenure_days"), column("recency_days")
    tenure = np.where(np.isnan(tenure), 0.0, tenure)
    recency = np.where(np.isnan(recency), np.inf, recency)
    return only_signed_up(tenure, recency, *beyond_signup(column, len(tenure)))


def beyond_signup(column: Callable[[str], Any], rows: int) -> list[Any]:
    """The :data:`BEYOND_SIGNUP` columns, NaN where the features read lack one (a service
    whose feature views hold only its models' features)."""
    found = []
    for name in BEYOND_SIGNUP:
        try:
            found.append(column(name))
        except KeyError:
            found.append(np.full(rows, np.nan))
    return found


def only_signed_up(tenure: Any, recency: Any, activated: Any, sessions: Any, orders: Any) -> Any:
    """Users past their first NEW_DAYS whose activity was all on their first day, none of it an
    activation, a session or an order (:data:`BEYOND_SIGNUP`): a sign-up, or one event of a type the
    contract does not know. On arrays or one user's floats; a missing count (NaN) is no
    evidence either way, so it is not this."""
    # within NEW_DAYS of sign-up a user is new: there has been little time to do more
    nothing = (activated == 0) & (sessions == 0) & (orders == 0)
    return (tenure >= NEW_DAYS) & np.logical_not(c.came_back(tenure, recency)) & nothing


def stage_of_values(
    tenure: float,
    recency: float,
    recent: float,
    quarter: float,
    churn_probability: float | None,
    high_risk: float = HIGH_RISK,
    beyond_signup: tuple[float, float, float] = (math.nan, math.nan, math.nan),
) -> str:
    """:func:`stage_of_columns` of one user's floats (NaN or None for missing): a request of
    one user (``serving.rowpath``) without numpy calls. ``beyond_signup``: the user's
    :data:`BEYOND_SIGNUP` counts."""
    tenure = 0.0 if tenure != tenure else tenure
    never = recency != recency
    recency = math.inf if never else recency
    never = never or bool(only_signed_up(tenure, recency, *beyond_signup))
    recent = 0.0 if recent != recent else recent
    quarter = 0.0 if quarter != quarter else quarter
    p = churn_probability
    risk = (0.0 if p is None or p != p else p) >= high_risk
    rules = _stage_rules(never, tenure, recency, recent, quarter, risk)
    return next((stage for matched, stage in rules if matched), "active")


def risk_band_rules(churn_probability: Any, high: float, medium: float) -> tuple:
    """The risk band checks in order, the first match wins ("low" otherwise; no band without
    a probability): on an array or on one user's float."""
    return ((churn_probability >= high, "high"), (churn_probability >= medium, "medium"))


def _stage_rules(
    never: Any, tenure: Any, recency: Any, recent: Any, quarter: Any, risk: Any
) -> tuple:
    """The stage checks in order, the first match wins: on arrays or on one user's floats.
    ``never``: no activity to date (a user whose only events are refunds never bought, one
    who only signed up never used the product: neither is churned, nor new)."""
    # Back after a gap: active now, nothing in the 60 days before the last 30, and known 90
    # days or more (first seen at or before the 90 days' window: else the gap is only the
    # days before the user was known)
    returned = (recent > 0) & (quarter == recent) & (tenure >= QUARTER_DAYS)
    # ">=": a day exactly 30 (90) days back is outside the 30 (90) days' window (v4)
    return (
        (never, "never_active"),
        (tenure < NEW_DAYS, "new"),
        (recency >= CHURNED_DAYS, "churned"),
        (recency >= SILENT_DAYS, "silent"),
        (risk, "at_risk"),
        (returned, "reactivated"),
    )


# -- money ------------------------------------------------------------------------------

KEPT = "net_revenue_total"  # what the purchases kept after refunds: the value LTV forecasts


def money_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]``; the value kept after refunds from revenue and refunds where the
    features were read before ``net_revenue_total`` existed (a champion's older service)."""
    if column != KEPT or KEPT in frame:
        return frame[column]
    if "revenue_total" not in frame:
        return pd.Series(np.nan, index=frame.index)
    refunds = frame.get("refund_amount_total", 0.0)
    return frame["revenue_total"].astype(float) - refunds


# -- RFM segments ------------------------------------------------------------------------

# v2: monetary after refunds (v1 before them); v3: at_risk renamed cannot_lose (a stage's name),
# and a one-order buyer is never champions, loyal or cannot_lose (one large order made FM 3);
# v4: champions score 4-5 on F and on M each (FM, their mean, let F 3 and M 5 in: 2 orders);
# v5: a buyer known fewer than NEW_DAYS, stage new, is potential: no habit nor lapse yet
# (online_retail 16000, 3 invoices within 3 minutes first seen 2 days before, was loyal)
RFM_VERSION = "rfm_v5"
NO_PURCHASE = "no_purchase"
RF_ONLY = "_rf"  # a version's ending: scored on recency and frequency alone (no money)


@dataclass(frozen=True)
class RfmRule:
    """A named segment: recency score and frequency-monetary score within inclusive bounds,
    and the fewest orders (frequency column) a buyer of it has; ``each``: F and M each within
    the FM bounds, not only their mean (without M, F alone); ``new``: only of a buyer the
    stages call new (known fewer than NEW_DAYS, :func:`stage_of_columns`), too soon for a
    buying habit or a lapse."""

    name: str
    recency: tuple[int, int]
    frequency_monetary: tuple[int, int]
    min_orders: int = 1
    each: bool = False
    new: bool = False


@dataclass(frozen=True)
class RfmDefinition:
    """Named RFM segments from quintile scores among buyers.

    R, F and M are 1..``bins`` by percentile rank among users with at least one order
    (R from days since the last purchase, fewer is better; F from orders; M from revenue).
    FM is the rounded mean of F and M; champions take F and M each in 4-5 (v4: on
    online_retail at 2011-09-09 the mean let in 2-order buyers of M 5 and frequent small
    ones, 27.8% of the buyers, 22.5% now, who bought again in the next 90 days 86.3% of the
    time, where those of v3 did 82.3%). The first rule that matches names the segment, so a
    one-order buyer, whom the rules of buying often pass by, is named by recency alone; a
    buyer the stages call ``new`` is potential (v5: known fewer than NEW_DAYS, whatever the
    scores: online_retail at 2011-12-10 had 40 of its 250 new users loyal or champions);
    users without an order are ``no_purchase``.
    """

    version: str = RFM_VERSION
    bins: int = 5
    recency_column: str = "purchase_recency_days"
    frequency_column: str = "orders_total"
    tenure_column: str = "tenure_days"  # days known, as the stages read them
    # None: scored on R and F alone, FM is F (:meth:`of_counts`)
    monetary_column: str | None = KEPT
    rules: tuple[RfmRule, ...] = (
        # a buyer of the stage new, whatever the scores: no habit, nor lapse, yet (v5)
        RfmRule("potential", (1, 5), (1, 5), new=True),
        # bought recently, often and a lot: F and M each 4-5
        RfmRule("champions", (4, 5), (4, 5), min_orders=2, each=True),
        RfmRule("loyal", (3, 5), (3, 5), min_orders=2),  # steady buyers
        RfmRule("cannot_lose", (1, 2), (3, 5), min_orders=2),  # used to buy often and a lot
        # the rest (FM 3-5 here: one order, however large)
        RfmRule("potential", (3, 5), (1, 5)),  # recent but small or few orders so far
        RfmRule("hibernating", (2, 2), (1, 5)),  # small or one-time buyers gone quiet
        RfmRule("lost", (1, 1), (1, 5)),  # small or one-time buyers, longest gone
    )

    @property
    def segments(self) -> tuple[str, ...]:
        # in the order of the rules of scores alone (the new buyers' rule is one of them)
        named = [rule.name for rule in self.rules if not rule.new]
        return (*dict.fromkeys([*named, *(rule.name for rule in self.rules)]), NO_PURCHASE)

    def of_counts(self, purchase_counts: Counted | None) -> RfmDefinition:
        """This definition for a dataset's amounts (``serving.units.purchase_counts``): a log
        counting purchases (no amount column) is scored on R and F alone, as ``rfm_v4_rf``
        (its M, the purchases kept, would only repeat F); money, and items counted (the
        basket's volume, as money is its value), keep M."""
        counts_purchases = purchase_counts is not None and purchase_counts.noun == "purchases"
        if not counts_purchases or self.monetary_column is None:
            return self
        return replace(self, monetary_column=None, version=f"{self.version}{RF_ONLY}")


def quantile_score(values: pd.Series, bins: int, higher_is_better: bool = True) -> pd.Series:
    """1..bins by percentile rank (ties share a score); null values get a null score."""
    scores = _quantile_scores(values.astype(float).to_numpy(), bins, higher_is_better)
    return pd.Series(scores, index=values.index).astype("Int64")


def _quantile_scores(values: np.ndarray, bins: int, higher_is_better: bool) -> np.ndarray:
    """:func:`quantile_score` of float values, as floats (NaN where null)."""
    ranks = pd.Series(values).rank(pct=True, method="average", ascending=higher_is_better)
    return np.ceil(ranks.to_numpy() * bins).clip(1, bins)


def rfm_scores(features: pd.DataFrame, definition: RfmDefinition | None = None) -> pd.DataFrame:
    """R, F, M and FM scores among buyers (null for users without an order)."""
    d = definition or RfmDefinition()
    r, f, m, fm, _ = _rfm_values(features, d)
    return pd.DataFrame({"r": r, "f": f, "m": m, "fm": fm}, index=features.index).astype("Int64")


def _rfm_values(features: pd.DataFrame, d: RfmDefinition) -> tuple[np.ndarray, ...]:
    """R, F, M and FM scores as floats (NaN for users without an order), and the orders: on
    the buyers' columns alone (a frame of the buyers copied every feature of a million rows)."""
    orders = features[d.frequency_column].astype(float).fillna(0).to_numpy()
    r, f, m, fm = (np.full(len(orders), np.nan) for _ in range(4))
    buyers = np.flatnonzero(orders > 0)
    if len(buyers):
        recency = features[d.recency_column].astype(float).to_numpy()[buyers]
        r[buyers] = _quantile_scores(recency, d.bins, higher_is_better=False)
        f[buyers] = _quantile_scores(orders[buyers], d.bins, higher_is_better=True)
        if d.monetary_column is None:  # no M: FM is F
            fm[buyers] = f[buyers]
            return r, f, m, fm, orders
        spent = money_column(features, d.monetary_column).astype(float).to_numpy()[buyers]
        m[buyers] = _quantile_scores(np.where(np.isnan(spent), 0.0, spent), d.bins, True)
        fm[buyers] = _fm(f[buyers], m[buyers], d)
    return r, f, m, fm, orders


def _fm(f: np.ndarray, m: np.ndarray, d: RfmDefinition) -> np.ndarray:
    """FM: the mean of F and M rounded half up (numpy rounds half to even, which would make
    3.5 -> 4 but 2.5 -> 2); without M, F."""
    return f if d.monetary_column is None else np.floor((f + m) / 2 + 0.5)


def rf_only_words(version: str | None) -> str | None:
    """What the RFM segments of a table made with ``version`` (its definitions' ``segment``)
    were scored on, where it was R and F alone (:meth:`RfmDefinition.of_counts`); None else."""
    if not (version and version.endswith(RF_ONLY)):
        return None
    return (
        "RFM segments on recency and frequency alone (a log counting purchases: M, the "
        "purchases kept, would repeat F)"
    )


def rfm_title(version: str | None) -> str:
    """The RFM segments of a table made with ``version``, as a heading names them."""
    return rf_only_words(version) or "RFM segments"


def rfm_segment(features: pd.DataFrame, definition: RfmDefinition | None = None) -> np.ndarray:
    """One named RFM segment per user (``no_purchase`` without an order)."""
    d = definition or RfmDefinition()
    r, f, m, _, orders = _rfm_values(features, d)
    return rfm_named(r, f, m, orders, features[d.tenure_column], d)


def rfm_columns(features: pd.DataFrame, definition: RfmDefinition | None = None) -> dict:
    """The scores table's RFM columns: ``segment`` and the R, F and M scores it was named from,
    of one computation, so a list's scores always name its segment (:func:`rfm_named`)."""
    d = definition or RfmDefinition()
    r, f, m, _, orders = _rfm_values(features, d)
    scores = (pd.array(np.where(np.isnan(v), None, v), dtype="Int64") for v in (r, f, m))
    named = rfm_named(r, f, m, orders, features[d.tenure_column], d)
    return {"segment": named, **dict(zip(RFM_SCORES, scores, strict=True))}


def rfm_named(
    r: Any, f: Any, m: Any, orders: Any, tenure: Any, definition: RfmDefinition | None = None
) -> np.ndarray:
    """The segment that R, F and M scores (NaN or null for a user without an order; M unused
    on R and F alone), orders and days known (``tenure``, missing as the stages read it: 0,
    new) name, by ``definition``'s first matching rule."""
    d = definition or RfmDefinition()
    r, f, m, orders, tenure = (
        pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(float)
        for v in (r, f, m, orders, tenure)
    )
    tenure = np.where(np.isnan(tenure), 0.0, tenure)
    m = f if d.monetary_column is None else m  # without M, F alone (FM is F)
    fm = _fm(f, m, d)

    def within(score: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
        return (score >= bounds[0]) & (score <= bounds[1])

    conditions = [
        within(r, rule.recency)
        & within(fm, rule.frequency_monetary)
        & (
            (not rule.each)
            | (within(f, rule.frequency_monetary) & within(m, rule.frequency_monetary))
        )
        & (orders >= rule.min_orders)
        & ((not rule.new) | (tenure < NEW_DAYS))
        for rule in d.rules
    ]
    named = np.select(conditions, [rule.name for rule in d.rules], default="unmatched")
    return np.where(np.isnan(r), NO_PURCHASE, named).astype(object)


# -- super users (the 80/20 check) ---------------------------------------------------------

# v2: value after refunds; v3: none without value; v4: the top share of the users with any
# (customers), not of all users (demo: 70% never bought, so the top 20% of all users were 67%
# of the buyers, and their 97% of revenue mostly said that most users never bought)
SUPER_USERS_VERSION = "super_users_v4"
CUSTOMERS = ("customer", "customers")  # users with revenue kept: whom the top share is of


@dataclass(frozen=True)
class SuperUserDefinition:
    """The top ``top_share`` by ``value_column`` (revenue to date by default) of the customers:
    the users with any of ``customers_column`` (None: of the value itself; LTV is forecast for
    every user, so by LTV it is the revenue column, the same customers as by revenue)."""

    version: str = SUPER_USERS_VERSION
    top_share: float = 0.2
    value_column: str = KEPT
    customers_column: str | None = None


@dataclass(frozen=True)
class SuperUsers:
    flags: np.ndarray  # bool per user
    users: int  # how many super users
    value_share: float  # share of all value they bring (NaN when there is no value)
    definition: SuperUserDefinition
    with_any: int = 0  # users with any of the value: whom the top share is of

    @property
    def top(self) -> int:
        """How many users the top share of those with any is."""
        return round(self.definition.top_share * self.with_any)


def super_users(frame: pd.DataFrame, definition: SuperUserDefinition | None = None) -> SuperUsers:
    """Flag the top share by value of the customers with any of it (ties broken by user order)
    and the share of all value they hold. A user without value (none, or less) is no super
    user."""
    d = definition or SuperUserDefinition()
    if not 0 < d.top_share <= 1:
        raise ValueError(f"super users: top_share must be in (0, 1], got {d.top_share}")
    value = money_column(frame, d.value_column).astype(float).fillna(0).to_numpy()
    holders = np.flatnonzero(customers_with_any(frame, value, d))
    flags = np.zeros(len(value), dtype=bool)
    ranked = holders[np.argsort(-value[holders], kind="stable")]
    flags[ranked[: round(d.top_share * len(holders))]] = True
    return _flagged(frame, value, flags, d)


def customers_with_any(
    frame: pd.DataFrame, value: np.ndarray, definition: SuperUserDefinition
) -> np.ndarray:
    """Per user: a customer (any of ``customers_column``) with any of the value."""
    if definition.customers_column is None:
        return value > 0
    bought = money_column(frame, definition.customers_column).astype(float).fillna(0)
    return (value > 0) & (bought.to_numpy() > 0)


def _flagged(
    frame: pd.DataFrame, value: np.ndarray, flags: np.ndarray, definition: SuperUserDefinition
) -> SuperUsers:
    """The flagged users and the share of all value they hold (NaN when there is none)."""
    total = value.sum()
    share = float(value[flags].sum() / total) if total > 0 else float("nan")
    return SuperUsers(
        flags=flags,
        users=int(flags.sum()),
        value_share=share,
        definition=definition,
        with_any=int(customers_with_any(frame, value, definition).sum()),
    )


def listed_super_users(
    scores: pd.DataFrame, definition: SuperUserDefinition, flagged_by: str | None = None
) -> SuperUsers:
    """The super users the lists flag (a scores table's ``super_user``, set when it was
    scored), with the share of ``definition``'s value they hold in the table; computed where
    the table has no flag, the value is another or the flags follow another definition
    (``flagged_by``: the table's super-user version, None for the current). After `forget`
    the flags stay the scoring's until the next `score-all` (recomputed, two users fewer would
    shift the top 20%), and the report and `segments` count the same users the lists flag."""
    stale = flagged_by is not None and flagged_by != definition.version
    if "super_user" not in scores or definition.value_column != "revenue" or stale:
        return super_users(scores, definition)
    flags = scores["super_user"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    value = money_column(scores, definition.value_column).astype(float).fillna(0).to_numpy()
    return _flagged(scores, value, flags, definition)


# -- all segments together -----------------------------------------------------------------


@dataclass(frozen=True)
class SegmentDefinitions:
    """The versioned definitions a scores table or list was made with."""

    rfm: RfmDefinition = field(default_factory=RfmDefinition)
    super_users: SuperUserDefinition = field(default_factory=SuperUserDefinition)

    def of_counts(self, purchase_counts: Counted | None) -> SegmentDefinitions:
        """These definitions for a dataset's amounts (:meth:`RfmDefinition.of_counts`)."""
        return replace(self, rfm=self.rfm.of_counts(purchase_counts))

    @property
    def versions(self) -> dict[str, str]:
        return {
            "lifecycle_stage": STAGES_VERSION,
            "segment": self.rfm.version,
            "super_user": self.super_users.version,
        }
