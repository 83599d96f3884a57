"""A model learned at a shorter horizon than the one it serves, put on the served horizon's
scale with the purchase process (``training.bridge``: a log too young for the time split at
the asked horizon often splits at a shorter one).

Per user, from the MBG/NBD fitted on the users of the latest cutoff (the users it scores;
kept in the bundle's ``bridge``): P(no activity in H) = P(none in h) x P(no purchase in H) / P(no
purchase in h) (none in H is none in h and none after it, the second factor the process's
conditional chance), the value x E[purchases in H] / E[purchases in h], P(any value in H)
as 1 - P(none in H), and the value's quantiles those of the mixture of P(any value in H)
and the learned value given one times :func:`given_any_ratio` (``ModelBundle._interval``,
a served BG/NBD + Gamma-Gamma's ``_rule_outlook``). A
user the process knows nothing of (no purchase yet) takes the factors' means over the
customers it was fitted on (``fallback``), so that a row's score never depends on the rows
scored with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lifecycle.btyd import _validate_rfm, purchase_model
from lifecycle.btyd_features import rfm_of_columns

WEEK = 7.0


def factors(
    bridge: dict[str, Any], column: Callable[[str], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (P(no purchase in H) / P(no purchase in h), E[purchases in H] / E[purchases
    in h]), ``bridge`` holding ``learned_days`` (h), ``served_days`` (H), the ``process``'s
    parameters and the ``fallback`` factors."""
    frequency, recency, age = rfm_of_columns(column)
    none_ratio = np.full(len(frequency), float(bridge["fallback"]["none_ratio"]))
    value_ratio = np.full(len(frequency), float(bridge["fallback"]["value_ratio"]))
    customer = ~np.isnan(frequency)
    if customer.any():
        model = purchase_model(bridge["process"])
        x, t_x, t_obs = _validate_rfm(frequency[customer], recency[customer], age[customer])
        short, long = (float(bridge[k]) / WEEK for k in ("learned_days", "served_days"))
        none_short, none_long = (
            model.probability_of_no_purchase(t, x, t_x, t_obs) for t in (short, long)
        )
        bought_short, bought_long = (
            model.expected_purchases(t, x, t_x, t_obs) for t in (short, long)
        )
        none_ratio[customer] = np.where(none_short > 0, none_long / none_short, 1.0)
        value_ratio[customer] = np.where(bought_short > 0, bought_long / bought_short, 1.0)
    return none_ratio, value_ratio


def bridge_of(
    learned_days: int,
    served_days: int,
    process: dict[str, float],
    column: Callable[[str], np.ndarray],
) -> dict[str, Any]:
    """What a bundle keeps to put its outputs on ``served_days``: the horizons, the process
    and, for users it knows nothing of, the factors' means over the customers of
    ``column``'s rows (the users it was fitted on)."""
    bridge = {"learned_days": learned_days, "served_days": served_days, "process": process}
    none_ratio, value_ratio = factors(
        bridge | {"fallback": {"none_ratio": np.nan, "value_ratio": np.nan}}, column
    )
    mean = lambda ratio: float(np.nanmean(ratio)) if np.isfinite(ratio).any() else 1.0  # noqa: E731
    return bridge | {"fallback": {"none_ratio": mean(none_ratio), "value_ratio": mean(value_ratio)}}


def served_label(label: dict[str, Any], bridge: dict[str, Any]) -> dict[str, Any]:
    """The label definition a bridged model's scores follow: the served horizon's."""
    return label | {"horizon_days": int(bridge["served_days"])}


def none_longer(probability_none: np.ndarray, none_ratio: np.ndarray) -> np.ndarray:
    """P(no event in H) from P(none in h)."""
    return np.clip(np.asarray(probability_none, dtype="float64") * none_ratio, 0.0, 1.0)


def any_longer(probability_any: np.ndarray, none_ratio: np.ndarray) -> np.ndarray:
    """P(an event in H) from P(one in h)."""
    return 1.0 - none_longer(1.0 - np.asarray(probability_any, dtype="float64"), none_ratio)


def given_any_ratio(
    probability_any: np.ndarray, factors: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """What the value given one (a purchase) in h is multiplied by in H: the value's factor
    over P(any value)'s (E[value | any] = E[value] / P(any)), so the interval's mixture has
    the mean scaled as the served value is (``factors``: :func:`factors`'s). Below 1 where
    P(any value) grows more than the value; a floor at 1 was tried (docs/decisions.md)."""
    served = any_longer(probability_any, factors[0])
    return factors[1] * np.asarray(probability_any, dtype="float64") / np.maximum(served, 1e-12)


LEARNED_TAG = "learned_days"  # a bridged version's tag: the horizon its outputs were learned at


def tags_of(bridge: dict[str, Any] | None) -> dict[str, str]:
    """The registry tags of a version served through ``bridge`` (none without one)."""
    return {} if bridge is None else {LEARNED_TAG: str(bridge["learned_days"])}
