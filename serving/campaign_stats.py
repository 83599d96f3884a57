"""The statistics of a randomized campaign: targeted vs control, with intervals and power.

Proportions (retention, conversion) use Newcombe's hybrid score interval; revenue uses
Welch's t interval or Student's pooled-variance one, whichever is wider (Welch's alone was too
narrow on one side for a small group of skewed spend), none when both groups have one value
for every member (:mod:`lifecycle.differences`, which the campaign
readout of ``train-uplift`` reads too). For a randomized hold-out of 30 or more in each group
they cover the effect on the people in the campaign about as often as their nominal level, or
more (docs/loop.md has what was measured).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from lifecycle.differences import CONFIDENCE, difference_interval, newcombe, pooled_sd, z_of

POWER = 0.80
# Below this many users in a group, the normal and Welch intervals do not hold for a skewed
# outcome (a campaign of 45 targeted and 4 held out, never sent, "saved" 331,459 [8,552,
# 654,366] of revenue): a report shows such a difference and judges none of it.
MIN_GROUP = 30


@dataclass(frozen=True)
class Effect:
    """A difference targeted - control with its interval and the smallest detectable one."""

    targeted_mean: float
    control_mean: float
    difference: float
    low: float | None  # None: a revenue with one value for every member of each group
    high: float | None
    standard_error: float
    minimum_detectable: float  # at POWER and 1 - CONFIDENCE two-sided
    targeted: int
    control: int

    def covers(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high

    @property
    def too_small(self) -> str | None:
        """Why the interval cannot be trusted (a group under ``MIN_GROUP``), else None."""
        groups = (("control", self.control), ("targeted", self.targeted))
        small = [f"{n:,} {name} user{'s' * (n != 1)}" for name, n in groups if n < MIN_GROUP]
        if not small:
            return None
        return f"not judged: {' and '.join(small)}, fewer than {MIN_GROUP} for the interval to hold"

    @property
    def no_spread(self) -> str | None:
        """Why there is no interval: a revenue of one value for every member of each group
        gave ``+0.00 (95% CI +0.00 to +0.00)``, an effect known to be none that any effect
        would have shown (a proportion always has one: Newcombe's)."""
        if self.low is not None:
            return None
        return (
            f"not judged: every targeted member has {self.targeted_mean:g} and every control "
            f"member {self.control_mean:g}, no spread to give an interval"
        )

    def interval_words(self, form: str) -> str:
        """``(95% CI low to high); detectable: mde`` in ``form`` (``.1%``), or why none."""
        if self.no_spread:
            return "(no interval: one value for every member of each group)"
        return (
            f"(95% CI {self.low:+{form}} to {self.high:+{form}}); detectable: "
            f"{self.minimum_detectable:{form}}"
        )

    def saved_words(self, form: str, unit: str = "") -> str:
        """The difference times the targeted users (users or value saved), with its interval."""
        if self.no_spread:
            return f"{self.difference * self.targeted:+{form}}{unit} (no interval)"
        value, low, high = self.scaled(self.targeted)
        return f"{value:+{form}}{unit} (95% CI {low:+{form}} to {high:+{form}})"

    def scaled(self, factor: float) -> tuple[float, float, float]:
        """The difference and its interval times ``factor`` (users or value saved); only
        where there is an interval (:attr:`no_spread` None)."""
        if self.low is None or self.high is None:
            raise ValueError(f"no interval to scale: {self.no_spread}")
        return self.difference * factor, self.low * factor, self.high * factor

    def saved(self) -> dict[str, float | str | None]:
        """The difference times the targeted users, with its interval; all null where there is
        no interval (a revenue of one value for every member read ``0 saved, 0 to 0``), and why."""
        if self.no_spread:
            return {"estimate": None, "low": None, "high": None, "not_judged": self.no_spread}
        value, low, high = self.scaled(self.targeted)
        return {"estimate": value, "low": low, "high": high, "not_judged": self.too_small}

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {**asdict(self), "not_judged": self.too_small or self.no_spread}


def _split(outcome: np.ndarray, control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(outcome, dtype=float)
    held_out = np.asarray(control, dtype=bool)
    if values.shape != held_out.shape:
        raise ValueError("outcome and control flags must have the same length")
    targeted, kept = values[~held_out], values[held_out]
    if len(targeted) < 2 or len(kept) < 2:
        raise ValueError(
            f"a campaign needs at least 2 targeted and 2 control users, got {len(targeted)} "
            f"and {len(kept)}"
        )
    return targeted, kept


def _detectable(p_c: float, n_t: int, n_c: int, z: float) -> float:
    """The fixed point of d = z sqrt(p_c (1 - p_c) / n_c + p (1 - p) / n_t), p = p_c +- d,
    reached from above (p = 1/2), not the d = 0 of a control rate of 0 or 1."""
    d = z * math.sqrt(p_c * (1 - p_c) / n_c + 0.25 / n_t)
    for _ in range(100):
        p = min(p_c + d, 1.0) if p_c < 0.5 else max(p_c - d, 0.0)
        d, before = z * math.sqrt(p_c * (1 - p_c) / n_c + p * (1 - p) / n_t), d
        if abs(d - before) < 1e-12:
            break
    return d


def proportion_difference(
    outcome: np.ndarray,
    control: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> Effect:
    """Difference of two proportions (0/1 outcomes), Newcombe's hybrid score interval
    (:func:`lifecycle.differences.newcombe`; the normal one had no width for a group with a
    rate of 0 or 1 in it, none for two such groups: 10 of 10 against 0 of 10 was exact).

    The minimum detectable effect is the difference d whose interval, with the control rate
    p_c and the targeted rate p_c + d (toward 1/2), excludes 0 with probability ``power``:
    d = (z + z_power) sqrt(p_c (1 - p_c) / n_c + p (1 - p) / n_t). Taking p_c for both
    groups said 0.0% when no control member converted (241 targeted, 269 control: 3.2%).
    """
    targeted, kept = _split(outcome, control)
    p_t, p_c = targeted.mean(), kept.mean()
    se = math.sqrt(p_t * (1 - p_t) / len(targeted) + p_c * (1 - p_c) / len(kept))
    z = z_of(confidence)
    mde = _detectable(p_c, len(targeted), len(kept), z + NormalDist().inv_cdf(power))
    low, high = newcombe(targeted, kept, z)
    return Effect(
        float(p_t),
        float(p_c),
        float(p_t - p_c),
        low,
        high,
        se,
        mde,
        len(targeted),
        len(kept),
    )


def mean_difference(
    outcome: np.ndarray,
    control: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    power: float = POWER,
) -> Effect:
    """Difference of two means (revenue), the wider of Welch's and Student's pooled t
    intervals (:func:`lifecycle.differences.difference_interval`); none when both groups hold
    one value for every member (:func:`lifecycle.differences.no_spread`).

    The minimum detectable effect uses the pooled standard deviation for both groups.
    """
    targeted, kept = _split(outcome, control)
    n_t, n_c = len(targeted), len(kept)
    se = math.sqrt(targeted.var(ddof=1) / n_t + kept.var(ddof=1) / n_c)
    interval = difference_interval(targeted, kept, binary=False, confidence=confidence)
    low, high = interval or (None, None)
    spread = pooled_sd(targeted, kept) * math.sqrt(1 / n_t + 1 / n_c)
    mde = (z_of(confidence) + NormalDist().inv_cdf(power)) * spread
    return Effect(
        float(targeted.mean()),
        float(kept.mean()),
        float(targeted.mean() - kept.mean()),
        low,
        high,
        se,
        mde,
        n_t,
        n_c,
    )


def judgeable_draws(
    ranked_ids: Sequence[str], listed: int, seed: int, share: float
) -> tuple[float | None, int | None]:
    """With this control ``seed``, the control share nearest ``share`` (0.01 apart) whose
    draw of the first ``listed`` users holds out at least ``MIN_GROUP`` and targets as many,
    and the smallest list length (``--top``) of ``ranked_ids`` that does at ``share``; None
    where none does. A larger share holds out the same users and more (``control_flags``)."""
    from serving.lists import control_flags

    ids = list(ranked_ids)
    held = np.cumsum(control_flags(ids, seed, share)) if share > 0 else np.zeros(len(ids), int)
    sizes = np.arange(1, len(ids) + 1)
    fits = (held >= MIN_GROUP) & (sizes - held >= MIN_GROUP) & (sizes >= listed)
    top = int(sizes[fits][0]) if fits.any() else None

    def held_at(cents: int) -> int:
        return int(control_flags(ids[:listed], seed, cents / 100).sum())

    def first(ok: Callable[[int], bool], lo: int, hi: int) -> int:  # ok monotone on lo..hi
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
        return lo

    low = first(lambda s: held_at(s) >= MIN_GROUP, 1, 100)  # 100: none does
    high = first(lambda s: listed - held_at(s) < MIN_GROUP, 1, 100) - 1  # the last that does
    if low > high:
        return None, top
    return min(max(round(share * 100), low), high) / 100, top
