"""Checks of a supplied feature row (``/score_features``) against what every row
``features.asof`` computes holds: a row breaking one describes no user, and its scores
would be extrapolation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from serving.errors import as_json
from serving.schemas import largest, never_negative, whole_number

if TYPE_CHECKING:
    from serving.schemas import FeatureRow

# Orderings every row ``features.asof`` computes holds, as (fewer days, more days, why): a
# supplied row breaking one describes no user, and its scores would be extrapolation.
DAYS_ORDER = (
    ("purchase_recency_days", "first_purchase_age_days", "the last order is not before the first"),
    (
        "recency_days",
        "purchase_recency_days",
        "an order is activity, so the last activity is not before the last order",
    ),
    # tenure counts from sign-up or the first event, the earlier (features.asof)
    ("recency_days", "tenure_days", "a user's activity is not before they were known"),
    (
        "first_purchase_age_days",
        "tenure_days",
        "a user's first order is not before they were known",
    ),
)


def contradictions(features: dict[str, Any]) -> list[tuple[str, str]]:
    """The field at fault and what is expected, per ordering a row's features break: those
    of :data:`DAYS_ORDER`, a window's count or amount above a longer window's of the same
    kind (``orders_30d`` above ``orders_90d``) or above its total (``orders_365d`` above
    ``orders_total``), and more active days than a window has."""
    from itertools import pairwise

    values = {
        name: float(value) for name, value in features.items() if isinstance(value, int | float)
    }
    days_order, windows = _orderings(frozenset(values))
    broken = []
    # (fewer, more, why) of every ordering the row's numbers can break; why is made lazily
    pairs: list[tuple[str, str, Any]] = list(days_order)
    for kind, named in windows:
        pairs += [(short, long, (days, more)) for (days, short), (more, long) in pairwise(named)]
        if f"{kind}_total" in values:  # the longest window is within all time
            days, longest = named[-1]
            pairs.append((longest, f"{kind}_total", f"the last {days} days are within all time"))
        if kind == "active_days":
            broken += [
                (
                    name,
                    f"{name} {values[name]:g} exceeds {days}; expected at most the "
                    f"{days} days the window has",
                )
                for days, name in named
                if values[name] > days
            ]
    # none of a kind is none of what comes with it there: spend of no order (revenue_total
    # 500 with orders_total 0, trial 94), orders on no active day
    for name, value in values.items():
        if value != 0:
            continue
        for other, kind in _implied(name):
            if values.get(other, 0.0) > 0:
                broken.append(
                    (other, f"{other} {values[other]:g} with {name} 0; expected 0 (none "
                     f"without {kind.replace('_', ' ')})")
                )  # fmt: skip
    for fewer, more, why in pairs:
        low, high = values.get(fewer), values.get(more)
        # a window's float sums may differ from a longer window's in the last digits
        if low is not None and high is not None and low > high + 1e-9 * max(1.0, abs(high)):
            if isinstance(why, tuple):
                why = f"the last {why[0]} days are within the last {why[1]} days"
            broken.append(
                (fewer, f"{fewer} {low:g} exceeds {more} {high:g}; expected at most {more} ({why})")
            )
    return broken


@lru_cache(maxsize=512)
def _implied(name: str) -> tuple[tuple[str, str], ...]:
    """(feature, kind) of each feature a 0 of ``name`` (a kind's window or total, as
    ``orders_90d``) implies is 0 too, its span's (:data:`EMPTY_IMPLIES`)."""
    from features.asof import window_of
    from serving.reason_facts import EMPTY_IMPLIES

    kind = next((k for k in EMPTY_IMPLIES if name.startswith(f"{k}_")), None)
    if kind is None:
        return ()
    span = name[len(kind) :]  # _90d or _total
    window = window_of(name)
    if not (span == "_total" or (window is not None and window[0] == kind)):
        return ()
    return tuple((f"{implied}{span}", kind) for implied in EMPTY_IMPLIES[kind])


@lru_cache(maxsize=64)
def _orderings(
    names: frozenset[str],
) -> tuple[tuple[tuple[str, str, str], ...], tuple[tuple[str, tuple[tuple[int, str], ...]], ...]]:
    """What :func:`contradictions` compares among these numeric features, worked out once
    per set of names (a request's rows share theirs): the :data:`DAYS_ORDER` pairs among
    them, and each windowed feature's windows among them, shortest first."""
    from features.asof import window_of

    windows: dict[str, list[tuple[int, str]]] = {}
    for name in sorted(names):
        window = window_of(name)
        if window is not None:
            windows.setdefault(window[0], []).append((window[1], name))
    days_order = tuple(o for o in DAYS_ORDER if o[0] in names and o[1] in names)
    return days_order, tuple((kind, tuple(sorted(named))) for kind, named in windows.items())


def value_errors(
    users: Sequence[FeatureRow], numeric: set[str], categories: Mapping[str, list[str]]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each supplied value that is no value of a model input (``numeric``, ``categories``: the
    served models'), as (location, what is expected); null is always fine (unknown)."""
    known = numeric | set(categories)
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for i, row in enumerate(users):
        for name, value in row.features.items():
            loc = ("users", i, "features", name)
            if name not in known:
                errors.append(
                    (loc, f"unknown feature {name!r}; the models read: {', '.join(sorted(known))}")
                )
            elif value is None:
                continue
            elif name in categories and not isinstance(value, str):
                errors.append(
                    (loc, f"{name} is categorical: expected a string, got {as_json(value)}")
                )
            elif name in categories and value not in categories[name]:
                errors.append(
                    (
                        loc,
                        f"{value!r} is not a {name} the models learned from: send null "
                        f"to score it as unknown, as /score scores a stored user's, or one "
                        f"of {categories[name]}",
                    )
                )
            elif name in numeric and isinstance(value, str | bool):
                got = as_json(value)
                errors.append((loc, f"{name} is numeric: expected a number, got {got}"))
            elif name in numeric and never_negative(name) and value < 0:
                errors.append((loc, f"{name} cannot be negative (got {value})"))
            elif name in numeric and not math.isfinite(float(value)):
                errors.append((loc, f"{name} must be a finite number"))
            elif name in numeric and whole_number(name) and not float(value).is_integer():
                errors.append((loc, f"{name} is a count: expected a whole number, got {value}"))
            elif name in numeric and value > (largest(name) or math.inf):
                errors.append((loc, f"{name} is at most {largest(name):g} (got {value:g})"))
    return errors
