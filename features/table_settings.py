"""The settings a dataset's feature table is computed with, in one place: its build
(``lifecycle.steps.build_features``) and any row of it computed elsewhere (a campaign's own
date, ``serving.campaign_uplift``) pass the same arguments, so a setting added to one cannot
miss the other (train/serve skew)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.asof import compute_features
from features.duckdb_memory import bounded, connect

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def feature_options(settings: Settings) -> dict[str, Any]:
    """:func:`features.asof.compute_features`' settings: the windows, the users attributes
    allowed in or left out, the event types that are no activity."""
    return {
        "windows": settings.features.windows_days,
        "allow": settings.features.allow_attributes,
        "exclude": settings.features.exclude_attributes,
        "not_activity_types": settings.labels.not_activity_types,
    }


def settings_digest(settings: Settings) -> str:
    """What a feature table built now records as its ``settings_hash`` (its lineage)."""
    from lifecycle import lineage

    options = feature_options(settings)
    return lineage.features_digest(
        options["windows"],
        settings.features.cutoff_frequency,
        options["allow"],
        options["exclude"],
        options["not_activity_types"],
    )


def features_at(settings: Settings, dataset: str, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Every user's features at ``cutoffs`` as the feature table computes its own: the same
    settings, DuckDB bounded by ``features.memory_limit`` (spilling beside the table)."""
    ws = settings.workspace
    with bounded(connect(), settings.features.memory_limit, ws.feature_table(dataset)) as con:
        computed = compute_features(
            ws.events(dataset),
            cutoffs,
            users=ws.users_if_any(dataset),
            con=con,
            **feature_options(settings),
        )
    assert computed is not None  # in memory: no out given
    return computed
