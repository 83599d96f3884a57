"""The backtest's attribute baseline: the one users-file attribute (a plan, a contract type, a
country) whose categories best tell churners apart, as a subscription team would rank.

It learns only from the scratch workspace (data up to the cutoff): the churn and LTV labels
of its matured cutoffs, whose horizons end before the cutoff. The attribute is chosen out of
time, by the AUC on the latest of those cutoffs of rates fitted on the earlier ones; the
rates served are then refitted on all of them. A category's rate is shrunk toward the overall
rate by one row's worth, as the calibrator's steps are: a category seen once is not 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF
from features.labels import LABEL
from lifecycle.settings import LabelSettings, Settings
from lifecycle.sql import identifier, literal
from training.models import STEP_PRIOR_ROWS

ATTRIBUTE = "best_attribute"  # the baseline's name in the backtest's tables


@dataclass
class AttributeRule:
    """One attribute's churn rate and mean value per category, and where they came from."""

    attribute: str
    churn_rate: dict[str, float]
    mean_value: dict[str, float]
    overall_churn: float
    overall_value: float
    chosen_auc: float  # the AUC that chose it, on the latest training cutoff
    fitted_on: list[str]  # the training cutoffs (each horizon ends at or before the cutoff)

    def p_active(self, categories: pd.Series) -> np.ndarray:
        rates = _category(categories).map(self.churn_rate).fillna(self.overall_churn)
        return 1.0 - rates.to_numpy(dtype=float)

    def value(self, categories: pd.Series) -> np.ndarray:
        means = _category(categories).map(self.mean_value).fillna(self.overall_value)
        return means.to_numpy(dtype=float)

    def describe(self) -> dict[str, object]:
        return {
            "attribute": self.attribute,
            "chosen_auc": self.chosen_auc,
            "categories": len(self.churn_rate),
            "fitted_on": self.fitted_on,
        }


def _category(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("(missing)").astype(str)


def shrunk_means(categories: pd.Series, target: pd.Series) -> tuple[dict[str, float], float]:
    """Each category's mean of ``target`` shrunk toward the overall mean by the rows the
    calibrator's steps are (``STEP_PRIOR_ROWS``)."""
    overall = float(target.mean())
    grouped = target.groupby(_category(categories)).agg(["sum", "size"])
    means = (grouped["sum"] + STEP_PRIOR_ROWS * overall) / (grouped["size"] + STEP_PRIOR_ROWS)
    return {str(k): float(v) for k, v in means.items()}, overall


def choose_attribute(
    rows: pd.DataFrame, attributes: list[str], churn: str = "churn", value: str = "value"
) -> AttributeRule | None:
    """The attribute of ``rows`` (one per user and training cutoff, ``AS_OF``, the ``churn``
    label 0/1, the ``value`` label, NaN where a task does not label the row) whose churn rates,
    fitted on the cutoffs before the latest, rank the latest's churn best; None when no
    attribute can be judged (one class at the latest cutoff, no attribute)."""
    from training.evaluation import roc_auc

    labelled = rows[rows[churn].notna()]
    stamps = sorted(labelled[AS_OF].unique())
    if not attributes or not stamps:
        return None
    latest = labelled[labelled[AS_OF] == stamps[-1]]
    earlier = labelled[labelled[AS_OF] < stamps[-1]]
    earlier = earlier if len(earlier) else latest  # one training cutoff: chosen in sample
    if latest[churn].nunique() < 2:
        return None
    scored = {}
    for attribute in sorted(attributes):
        rates, overall = shrunk_means(earlier[attribute], earlier[churn])
        guess = _category(latest[attribute]).map(rates).fillna(overall)
        scored[attribute] = roc_auc(latest[churn].to_numpy(dtype=float), guess.to_numpy())
    best = max(scored, key=scored.__getitem__)  # a tie: the first name
    churn_rate, overall_churn = shrunk_means(labelled[best], labelled[churn])
    valued = rows[rows[value].notna()]
    mean_value, overall_value = shrunk_means(valued[best], valued[value])
    return AttributeRule(
        best,
        churn_rate,
        mean_value,
        overall_churn,
        overall_value,
        float(scored[best]),
        [f"{pd.Timestamp(t):%Y-%m-%d}" for t in stamps],
    )


def model_attributes(feature_table: Path) -> list[str]:
    """The users-file attributes of a feature table that are model inputs (text columns but
    the id; a name or an email is no input, ``features.identifiers``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.identifiers import not_features_of

    schema = pq.read_schema(feature_table)
    left_out = set(not_features_of(schema))
    return [
        f.name
        for f in schema
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and f.name not in (c.USER_ID, *left_out)
    ]


def fit_attribute_rule(
    scratch: Settings, dataset: str, cutoff: pd.Timestamp, labels: LabelSettings
) -> AttributeRule | None:
    """:func:`choose_attribute` on the scratch workspace's matured training cutoffs (before
    ``cutoff``); None without a users file or any attribute in its feature table."""
    import duckdb

    from features.labels import compute_labels, label_spec, matured_cutoffs
    from features.store import store_paths
    from training.datasets import (
        available_cutoffs,
        last_event_time,
        population_rows,
        thin_cutoffs,
    )

    users = scratch.workspace.users(dataset)
    feature_table = store_paths(scratch, dataset).feature_table
    if not users.is_file() or not (attributes := model_attributes(feature_table)):
        return None
    events = scratch.workspace.events(dataset)
    last_event = last_event_time(events)
    frames = []
    for task in ("churn", "ltv"):
        spec = label_spec(task, labels, events=events, users=users)
        ripe = [
            t
            for t in matured_cutoffs(
                last_event, available_cutoffs(scratch, dataset), spec.horizon_days
            )
            if t + pd.Timedelta(days=spec.horizon_days) <= cutoff
        ]
        ripe = thin_cutoffs(ripe, scratch.training.max_cutoffs)
        if not ripe:
            return None
        found = compute_labels(
            events, ripe, spec, users=users, features=population_rows(feature_table, ripe)
        )
        frames.append(found.set_index([c.USER_ID, AS_OF])[LABEL].rename(task))
    rows = pd.concat(frames, axis=1).reset_index()
    stamps = ", ".join(f"'{t.isoformat()}'::TIMESTAMPTZ" for t in rows[AS_OF].unique())
    chosen = ", ".join(identifier(a) for a in attributes)
    table = duckdb.sql(
        f"""SELECT {c.USER_ID}, {AS_OF}, {chosen} FROM read_parquet({literal(feature_table)})
            WHERE {AS_OF} IN ({stamps})"""
    ).df()
    table[AS_OF] = table[AS_OF].dt.tz_convert("UTC").astype(rows[AS_OF].dtype)
    rows = rows.merge(table, on=[c.USER_ID, AS_OF], how="left")
    return choose_attribute(rows, attributes, churn="churn", value="ltv")
