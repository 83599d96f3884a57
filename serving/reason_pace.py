"""A window count said against the user's own pace over the longest window of its kind:
"39 sessions in the last 90 days, down from 45 per 90 days over the last 365 days". A high
count that raised the churn risk read as good news without it (trial 95); the words of
``serving.reason_words`` say it where the pace fell (:func:`pace_text`), and
``serving.reason_facts`` takes the decline as one fact of its window."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from features.asof import window_of
from serving.reason_words import (
    PACED,
    WINDOW_AMOUNTS,
    _count_text,
    _is_none,
    _window_text,
    is_missing,
)
from serving.segments import whole_days
from serving.units import Counted


@functools.lru_cache(maxsize=64)
def _windows(names: tuple[str, ...], kind: str) -> tuple[list[int], bool]:
    """The windows of ``kind`` among a model's features, shortest first, and whether the model
    has the tenure (once per model, not a scan of ``names`` per reason)."""
    windows = sorted(w[1] for name in names if (w := window_of(name)) and w[0] == kind)
    return windows, "tenure_days" in names


class Pace(NamedTuple):
    """A window count beside the user's own pace over the longest window of its kind."""

    kind: str
    short: int  # the recent window: the count's own, or for the longest the nearest shorter
    longest: int
    span: float  # the days the longest window's count covers: it, or the time the user is known
    recent: float
    whole: float

    @property
    def per_short(self) -> float:
        """The longest window's count per ``short`` days of its span."""
        return self.whole * self.short / self.span

    @property
    def fell(self) -> bool:
        """Whether the recent window holds fewer than the pace, said so (rounded apart), and
        the pace rests on days before that window: the user known at least
        :data:`PACE_SPAN_WINDOWS` times it. Known barely longer, the pace restated the window:
        "1 active day in the last 90 days, down from 2 per 90 days since first seen 99 days
        ago" of a customer with 2 purchases ever read as a habit lost (trial 107)."""
        if self.none(self.recent) or self.span < PACE_SPAN_WINDOWS * self.short:
            return False
        pace = self.per_short
        return self.recent < pace and _count_text(self.kind, pace) != _count_text(
            self.kind, self.recent
        )

    @property
    def emptied(self) -> bool:
        """Whether the recent window holds none of the longest window's count."""
        return self.none(self.recent) and not self.none(self.whole)

    def none(self, count: float) -> bool:
        """Whether a count of its kind is said as none (money to the cent)."""
        return _is_none(count, money=self.kind in WINDOW_AMOUNTS)


# A pace is the user's own only where as many days of it came before the recent window as in it.
PACE_SPAN_WINDOWS = 2


def pace_of(
    feature: str,
    value: Any,
    value_of: Callable[[str], Any],
    names: Sequence[str],
    purchase_counts: Counted | None = None,
) -> Pace | None:
    """The pace a window count of ``names`` (sessions, orders, active days, spend) is said
    against; None for any other feature, a kind with one window, a missing count, or an
    amount of a log counted in purchases."""
    window = window_of(feature)
    if window is None or window[0] not in PACED or is_missing(value):
        return None
    kind, days = window
    if purchase_counts and kind in WINDOW_AMOUNTS:
        return None
    windows, has_tenure = _windows(tuple(names), kind)
    if len(windows) < 2:
        return None
    longest = windows[-1]
    short = days if days < longest else windows[-2]
    recent, whole = value_of(f"{kind}_{short}d"), value_of(f"{kind}_{longest}d")
    if is_missing(recent) or is_missing(whole):
        return None
    tenure = value_of("tenure_days") if has_tenure else None
    span = float(longest) if is_missing(tenure) else min(float(longest), float(tenure))
    return Pace(kind, short, longest, span, float(recent), float(whole))


def pace_text(feature: str, pace: Pace | None) -> str | None:
    """A window count's words beside the user's own pace over the longest window of its
    kind (its :func:`pace_of`), where the shorter window holds fewer than that pace
    (:attr:`Pace.fell`): "39 sessions in the last 90 days, down from 45 per 90 days over the
    last 365 days". The longest window's count is said as that same comparison with the
    nearest shorter window, so the two are one reason; with that window empty it says so ("37
    sessions in the last 365 days, none in the last 90 days": alone it read as good news, trial
    107). None where the pace did not fall or the recent window is empty (said in its own
    words)."""
    if pace is None:
        return None
    if pace.emptied and window_of(feature) == (pace.kind, pace.longest):
        of_it = " of it" if pace.kind in WINDOW_AMOUNTS else ""
        said = _window_text(f"{pace.kind}_{pace.longest}d", pace.whole)
        return f"{said}, none{of_it} in the last {pace.short} days"
    if not pace.fell:
        return None
    over = (
        f"over the last {pace.longest} days"
        if pace.span == pace.longest
        else f"since first seen {whole_days(pace.span):.0f} days ago"
    )
    said = _window_text(f"{pace.kind}_{pace.short}d", pace.recent)
    return (
        f"{said}, down from {_count_text(pace.kind, pace.per_short)} per {pace.short} days {over}"
    )
