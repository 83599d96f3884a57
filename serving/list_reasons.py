"""Churn reasons at list time for the listed users a scores table did not explain.

``score-all --reasons-top N`` explains the top N of each ranking only; a list filtered
otherwise (``--segment``, ``--where``) reaches users below them. Their reasons are computed
for the listed users alone, as ``score-all`` computes them (``serving.batch.stored_reasons``),
by the churn model version and from the features of the as-of date that made the table:
a reason then explains the score beside it. When that version cannot be loaded or those
features are gone, one note says how many listed users lack reasons and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from features import contract as c
from lifecycle import tasks
from serving.reason_words import reasons_text

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.batch import ScoresTable

REASONS = "reasons"


def explain_listed(
    settings: Settings, table: ScoresTable, ranked: pd.DataFrame
) -> tuple[pd.DataFrame, str | None]:
    """The list's rows (``ranked``, rows of ``table``) with the churn reasons of every
    eligible user, and a note when some could not be computed (None: all have theirs)."""
    explained = next((t for t in tasks.all_tasks() if t.reasons), None)
    if explained is None or explained.score not in ranked:
        return ranked, None
    version = table.metadata.get("model_versions", {}).get(explained.name)
    if version is None:  # a table `score-all` did not write: no model to explain with
        return ranked, None
    stored = ranked[REASONS] if REASONS in ranked else pd.Series(None, index=ranked.index)
    lacking = stored.isna() & ranked[explained.score].notna()
    if not lacking.any():
        return ranked, None
    found, why = _computed(
        settings, table, (explained.name, str(version)), ranked.loc[lacking, c.USER_ID]
    )
    if found is None:
        count = int(lacking.sum())
        return ranked, f"{count} listed user{'s' * (count != 1)} without churn reasons: {why}"
    ranked = ranked.copy()
    ranked.loc[lacking, REASONS] = found
    ranked.loc[lacking, "top_reasons"] = [reasons_text(raw) for raw in found]
    return ranked, None


def _computed(
    settings: Settings, table: ScoresTable, model: tuple[str, str], user_ids: pd.Series
) -> tuple[list[str] | None, str]:
    """The users' reasons (the table's JSON) by the ``model`` (task, version) and as-of
    that made ``table``, or None and why they cannot be."""
    from features.asof import feature_cutoffs
    from features.store import open_store
    from lifecycle import lineage
    from serving.batch import entity_rows, retrieve_features, stored_reasons
    from serving.scoring import load_champions

    task, version = model
    metadata = table.metadata
    dataset = str(metadata.get("dataset") or settings.dataset)
    stamp = pd.Timestamp(table.as_of, tz="UTC")
    feature_table = settings.workspace.feature_table(dataset)
    made_from = (metadata.get("lineage") or {}).get("feature_table")
    now = (lineage.read(feature_table) or {}).get("id")
    if not feature_table.is_file() or stamp not in feature_cutoffs(feature_table):
        return None, f"the features as of {table.as_of} are no longer in {feature_table}"
    if made_from and now and made_from != now:
        return None, (
            f"the feature table was rebuilt since these scores of {table.as_of}; "
            "`lifecycle score-all` scores and explains them again"
        )
    try:
        models = load_champions(
            settings, dataset, mirrored=True, only=(task,), pinned={task: version}
        )
    except Exception as error:  # the registry unreachable: the list stands, said
        return None, f"{task} model v{version}, which made these scores, cannot be loaded: {error}"
    if task not in models.bundles:
        return None, f"the {task} model that made these scores is gone: {models.unavailable[task]}"
    services = set(metadata.get("feature_services", {}).values()) or models.services
    try:
        features = retrieve_features(
            open_store(settings, dataset), entity_rows(user_ids.tolist(), stamp), services
        )
    except Exception as error:  # a feature service gone, a store not applied
        return None, f"their features as of {table.as_of} cannot be read: {error}"
    personal = metadata.get("personal_columns", [])
    return stored_reasons(models, models.bundles[task], features, personal), ""
