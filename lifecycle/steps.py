"""The pipeline's steps as plain functions of the settings: what the CLI, the backtest,
experiments and tests run, in this order: data in, features, Feast, models, scores.

Each step reads what the one before it left in the workspace and returns a summary of
what it made; heavy libraries are imported inside, so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from lifecycle import tasks
from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from training.pipeline import TrainResult

Progress = Callable[[str], None]


def build_features(
    settings: Settings,
    dataset: str | None = None,
    extra_cutoffs: Sequence[pd.Timestamp | str] = (),
) -> dict[str, Any]:
    """The dataset's as-of feature table at its cutoff grid (plus ``extra_cutoffs``)."""
    from features.asof import build_feature_table
    from features.store import store_paths

    paths = store_paths(settings, dataset)
    events = settings.workspace.events(paths.dataset)
    if not events.is_file():
        raise UserError(
            f"dataset '{paths.dataset}' has no events at {events}: ingest or import it first"
        )
    return build_feature_table(
        events,
        settings.workspace.users_if_any(paths.dataset),
        paths.feature_table,
        windows=settings.features.windows_days,
        frequency=settings.features.cutoff_frequency,
        extra_cutoffs=extra_cutoffs,
    )


def publish_features(settings: Settings, dataset: str | None = None) -> dict[str, Any]:
    """Apply the Feast repository (a new service version where a task's features changed)
    and materialize every user's latest features into the online store."""
    from features.store import apply, materialize

    return {"repository": apply(settings, dataset), "online_store": materialize(settings, dataset)}


def train_tasks(
    settings: Settings,
    names: Sequence[str] | None = None,
    *,
    dataset: str | None = None,
    progress: Progress = lambda message: None,
    accept_definition_change: str | None = None,
) -> list[TrainResult]:
    """Train, evaluate, register and gate each task (every declared task by default)."""
    from training.pipeline import train_task

    return [
        train_task(
            settings,
            name,
            dataset=dataset,
            progress=progress,
            accept_definition_change=accept_definition_change,
        )
        for name in (names or tasks.names())
    ]
