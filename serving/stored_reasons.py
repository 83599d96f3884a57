"""Churn reasons as a scores table stores them: each row's reasons as JSON, by the explaining
model, a personal attribute's value withheld. ``score-all`` stores them for every eligible
user (:mod:`serving.batch`), the lists compute them the same way for the users they list
(:mod:`serving.list_reasons`)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from serving.withheld_reasons import redacted

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.bundle import ModelBundle
    from serving.scoring import Champions


def stored_reasons(
    champions: Champions, explained: ModelBundle, features: pd.DataFrame, personal: Collection[str]
) -> list[str]:
    """Each row's churn reasons as the scores table holds them (JSON), by the ``explained``
    bundle in its ``champions``' words; a reason about a ``personal`` attribute withholds its
    value. ``features``: every column the table's champions read (the stage's too)."""
    from serving.churn_reasons import top_reasons

    found = top_reasons(
        explained,
        features,
        np.ones(len(features), dtype=bool),
        champions.purchase_counts,
        champions.trends,
    )
    return [reasons_json(reasons, personal, explained.categories) for reasons in found]


def reasons_json(
    reasons: list[dict[str, Any]],
    personal: Collection[str],
    categories: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """One user's reasons (``serving.churn_reasons.top_reasons_matrix``) as the scores table holds
    them: JSON, a ``personal`` attribute's value withheld (one the explaining model's
    ``categories`` lack marked so: :func:`serving.withheld_reasons.redacted`)."""
    return json.dumps(
        [redacted(r, personal, categories) for r in reasons],
        default=lambda v: v.item() if hasattr(v, "item") else str(v),  # numpy scalars
    )
