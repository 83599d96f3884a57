"""What each RFM score stands for in a scores table: the values its quintiles span.

The R, F and M scores are quintiles of the buyers of the day (:class:`serving.segments.
RfmDefinition`), so their edges move with the data: on online_retail at 2011-09-09, R 4 was
a last purchase 18 to 50 days before, and as a log's customers age, the same score reaches
further back. ``segments`` says them under the RFM segments, so "champions" reads as what it
is on this table (R 4-5: bought within 50 days; F 4-5: 3 orders or more; M 4-5: 740 or more
kept).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from lifecycle.list_fields import CONTEXT_COLUMNS
from serving.reason_words import money_text
from serving.segments import RfmDefinition, _rfm_values, rf_only_words, whole_days

# each score's values, as the scores table holds them: (key, what it counts)
AXES = (("r", "days since the last purchase"), ("f", "orders"), ("m", "{revenue} kept"))
# a score no buyer has: "none" between spans (orders: 5-155, 3-4, 2, none, 1) read as a value
EMPTY = "empty (0 buyers)"


def rfm_quintiles(scores: pd.DataFrame, version: str | None) -> dict[str, Any] | None:
    """Per score (``r``, ``f``, ``m``) its values in the table, highest score first: each
    ``[score, lowest, highest]`` (``None`` for a score no buyer has: tied values share one,
    so one-order buyers may all be F 2); ``m`` is None on a log scored on R and F alone
    (``version`` ends ``_rf``). None when the table lacks the columns or has no buyer."""
    definition = RfmDefinition()
    if rf_only_words(version):
        definition = replace(definition, monetary_column=None)
    wanted = [definition.recency_column, definition.frequency_column]
    wanted += [definition.monetary_column] if definition.monetary_column else []
    named = {feature: CONTEXT_COLUMNS[feature] for feature in wanted}
    if not set(named.values()) <= set(scores.columns):
        return None
    features = pd.DataFrame(
        {feature: scores[column].to_numpy() for feature, column in named.items()}
    )
    r, f, m, _, orders = _rfm_values(features, definition)
    buyers = orders > 0
    if not buyers.any():
        return None
    values = {"r": features[definition.recency_column], "f": features[definition.frequency_column]}
    if definition.monetary_column:
        values["m"] = features[definition.monetary_column]
    found: dict[str, Any] = {"buyers": int(buyers.sum()), "bins": definition.bins, "m": None}
    for axis, score in (("r", r), ("f", f), ("m", m)):
        if axis not in values:
            continue
        column = values[axis].astype(float).fillna(0).to_numpy()
        found[axis] = [
            [k, *_span(column[buyers & (score == k)])] for k in range(definition.bins, 0, -1)
        ]
    return found


def _span(values: np.ndarray) -> tuple[float | None, float | None]:
    return (float(values.min()), float(values.max())) if len(values) else (None, None)


def quintiles_words(found: dict[str, Any], revenue: str = "revenue") -> str:
    """One line: each score's values, highest score first (``R 5-1, days since the last
    purchase: 0-18, 18-50, ...``); days whole as the lists count them, money as they show it."""
    parts = []
    for axis, what in AXES:
        if found.get(axis) is None:
            continue
        spans = ", ".join(_span_words(axis, low, high) for _, low, high in found[axis])
        parts.append(f"{axis.upper()} {found['bins']}-1, {what.format(revenue=revenue)}: {spans}")
    return (
        f"  scores by quintile of the {found['buyers']:,} buyers (segments' edges move with "
        f"them): {'; '.join(parts)}"
    )


def _span_words(axis: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:  # ties put its buyers in a score beside it
        return EMPTY
    if axis == "r":
        low, high = whole_days(low), whole_days(high)
    text = (lambda v: f"{v:,.0f}") if axis != "m" else money_text
    between = " to " if low < 0 else "-"  # -841 to 209, not -841-209
    return text(low) if text(low) == text(high) else f"{text(low)}{between}{text(high)}"
