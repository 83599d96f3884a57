"""Uplift at serving time: what the champion uplift model expects a campaign to change per
user, and the expected saved value lists rank by.

The uplift champion of a dataset is ``<dataset>-uplift`` (``training.uplift``), trained on a
randomized campaign table of that dataset. Expected saved value = uplift x LTV: the rise in
the probability of the outcome (a visit, a conversion: the user kept) the campaign causes,
times what the user is worth. A value outcome (spend) is already money and is not multiplied.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF
from lifecycle import registry
from lifecycle.dataset_kind import uplift_training
from lifecycle.errors import UserError
from lifecycle.list_fields import UPLIFT_OUTSIDE, model_version_column
from lifecycle.tasks import LTV
from lifecycle.uplift_model import UPLIFT_TASK, UpliftBundle
from lifecycle.words import counted

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.batch import ScoresTable
    from serving.lists import Filters

UPLIFT = "uplift"
EXPECTED_SAVED_VALUE = "expected_saved_value"


class UpliftUnavailable(UserError):
    """No uplift champion, or one that cannot score these users; the message says which."""


class UpliftUnloadable(UpliftUnavailable):
    """An uplift champion whose artifact cannot be loaded: the rest serves, and says why."""


@dataclass(frozen=True)
class UpliftChampion:
    bundle: UpliftBundle
    model: str
    version: str


def load_uplift_champion(
    settings: Settings,
    dataset: str | None = None,
    cache: Path | None = None,
    *,
    mirrored: bool = False,
) -> UpliftChampion:
    """The dataset's uplift champion from the registry, or its aliases mirror (load once: a
    service keeps it)."""
    dataset = dataset or settings.dataset
    name = registry.model_name(dataset, UPLIFT_TASK)
    client = registry.reader(settings, mirrored=mirrored)
    version = registry.alias_version(client, name, registry.CHAMPION)
    if version is None:  # said as train-uplift says it, and a challenger it held back
        # (not at a server's start, which reads the mirror: a challenger is no answer there)
        held = None if mirrored else registry.alias_version(client, name, registry.CHALLENGER)
        kept = held and f" (v{held.version} is a challenger the gate kept back: `lifecycle models`)"
        raise UpliftUnavailable(
            f"no uplift champion {name}{kept or ''}: {uplift_training(settings, dataset)}"
        )
    with tempfile.TemporaryDirectory(prefix="lifecycle-uplift-") as scratch:
        copy = Path(cache or scratch) / f"{name}-v{version.version}"
        try:
            bundle = UpliftBundle.load(registry.bundle_path(client, name, version.version, copy))
        except Exception as error:  # a corrupt or missing artifact
            why = registry.unloadable(client, name, str(version.version), error, copy)
            raise UpliftUnloadable(f"uplift champion {why}") from None
    return UpliftChampion(bundle, name, str(version.version))


def uplift_per_user(champion: UpliftChampion, features: pd.DataFrame) -> pd.DataFrame:
    """``user_id``, ``uplift`` and the model version for each row of ``features`` (a user id
    column and the model's feature columns): what the HTTP API returns per user."""
    missing = [n for n in champion.bundle.feature_names if n not in features.columns]
    if missing:
        raise UpliftUnavailable(
            f"the uplift champion {champion.model} v{champion.version} reads "
            f"{', '.join(missing)}, which these rows lack"
        )
    uplift, outside = champion.bundle.predict_within(champion.bundle.matrix(features))
    return pd.DataFrame(
        {
            c.USER_ID: features[c.USER_ID].to_numpy(),
            UPLIFT: uplift,
            UPLIFT_OUTSIDE: outside,
            model_version_column(UPLIFT): champion.version,
        },
        index=features.index,
    )


def outside_note(scores: pd.DataFrame, filters: Filters) -> str | None:
    """How many users a list of ``filters`` leaves out for being outside the uplift
    campaign's population, and the inputs that put them there, in one line (None when none
    are; a table without uplift is not filtered for it)."""
    if UPLIFT_OUTSIDE not in scores:
        return None
    from serving.lists import filter_scores

    reasons = filter_scores(scores, filters)[UPLIFT_OUTSIDE].dropna()
    if reasons.empty:
        return None
    # "recency_days 3 outside the campaign's 7..180" -> counted per input and range
    inputs = reasons.str.replace(r"^(\S+) \S+ outside ", r"\1 outside ", regex=True)
    counts = "; ".join(f"{n:,} {text}" for text, n in inputs.value_counts().head(3).items())
    more = inputs.nunique() - 3
    return (
        f"{counted(len(reasons))} left out: outside the uplift campaign's population, where its "
        f"model would extrapolate, so no uplift or expected saved value ({counts}"
        + (f"; {more} more inputs" if more > 0 else "")
        + ")"
    )


def with_expected_saved_value(
    scores: pd.DataFrame,
    champion: UpliftChampion,
    feature_table: Path | None = None,
    as_of: str | None = None,
) -> pd.DataFrame:
    """The scores with ``uplift`` and ``expected_saved_value`` (uplift x LTV) added.

    The model's inputs come from the scores table's columns, and those it lacks from the
    dataset's feature table at the scores' as-of date (never a later cutoff).
    """
    bundle = champion.bundle
    if LTV.score not in scores:
        raise UpliftUnavailable(
            f"--rank-by {EXPECTED_SAVED_VALUE}: the scores table has no {LTV.score} column"
        )
    wanted = [n for n in bundle.feature_names if n not in scores.columns]
    rows = scores
    if wanted and feature_table is not None and feature_table.is_file() and as_of:
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        table = pd.read_parquet(feature_table, filters=[(AS_OF, "==", stamp)])
        found = [n for n in wanted if n in table.columns]
        if found:
            rows = scores.merge(table[[c.USER_ID, *found]], on=c.USER_ID, how="left")
            rows.index = scores.index
    answer = uplift_per_user(champion, rows)
    uplift = answer[UPLIFT].to_numpy()
    out = scores.copy()
    out[UPLIFT] = uplift
    out[UPLIFT_OUTSIDE] = answer[UPLIFT_OUTSIDE].to_numpy()
    ltv = out[LTV.score].to_numpy(dtype=float)
    out[EXPECTED_SAVED_VALUE] = uplift * ltv if bundle.outcome_kind == "probability" else uplift
    out.loc[np.isnan(ltv), EXPECTED_SAVED_VALUE] = np.nan
    return out


def uplift_champion_or_none(
    settings: Settings, dataset: str, *, mirrored: bool = False
) -> tuple[UpliftChampion | None, str | None]:
    """The dataset's uplift champion, or None (the API then answers ``uplift`` null), and
    why a champion there is cannot be loaded (None when it loaded or there is none)."""
    try:
        return load_uplift_champion(settings, dataset, mirrored=mirrored), None
    except UpliftUnloadable as error:
        return None, str(error)
    except UpliftUnavailable:
        return None, None


def uplift_info(champion: UpliftChampion | None) -> dict[str, Any] | None:
    """What ``/models`` says of the uplift champion: learner, outcome, test Qini and AUUC."""
    if champion is None:
        return None
    bundle = champion.bundle
    return {
        "model": champion.model,
        "version": champion.version,
        "learner": bundle.learner,
        "outcome": bundle.outcome,
        "treatment": bundle.treatment,
        "training_window": bundle.data_window,
        "population": bundle.population_text(),
        "metrics": {
            key.removeprefix(f"{bundle.learner}."): float(value)
            for key, value in bundle.metrics.items()
            if key.startswith(f"{bundle.learner}.") and np.isfinite(value)
        },
    }


# (scores path, its mtime, uplift version) -> the scores with expected saved value
_SAVED_VALUE: dict[tuple[str, float, str], pd.DataFrame] = {}


def frame_to_rank(
    settings: Settings, table: ScoresTable, rank_by: str, champion: UpliftChampion | None
) -> pd.DataFrame:
    """The batch scores a list ranks: with ``uplift`` and ``expected_saved_value`` added when
    ranking by it and an uplift champion serves (computed once per table and version)."""
    if rank_by != EXPECTED_SAVED_VALUE or rank_by in table.frame or champion is None:
        return table.frame
    path = table.path
    key = (str(path), path.stat().st_mtime if path else 0.0, champion.version)
    if key not in _SAVED_VALUE:
        dataset = table.metadata.get("dataset") or settings.dataset
        try:
            ranked = with_expected_saved_value(
                table.frame, champion, settings.workspace.feature_table(dataset), table.as_of
            )
        except UpliftUnavailable:  # the list then says it cannot rank by it (a 400, not a 500)
            return table.frame
        _SAVED_VALUE.clear()  # one table at a time: the latest
        _SAVED_VALUE[key] = ranked
    return _SAVED_VALUE[key]
