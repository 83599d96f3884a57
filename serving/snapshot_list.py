"""A snapshot table's at-risk list: the customers still with you, most likely to leave first.

``lifecycle train-snapshot`` writes each version's list (``training.snapshot_outputs``:
out-of-fold probabilities and reasons). Here the churn champion's list becomes a scores
table for ``serving.lists``, so ``lifecycle at-risk`` on a snapshot ranks, filters, flags
its control group, pseudonymises and writes it as it does an events dataset's. A column
that is a person's (``features.identifiers.withheld_attributes``: ``gender``, an email, one
no model learns from) is withheld as in an events list: a reason keeps its name and
withholds the value unless the column is allowed by name (``--allow-column gender``); the
others (``Contract``, ``tenure``) are shown, their values in the reasons.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features import contract as c
from features.identifiers import not_features, withheld_attributes
from features.labels import LABEL
from lifecycle import registry
from lifecycle.list_fields import RETURN_PROBABILITY
from lifecycle.tasks import CHURN
from serving.batch import ScoresTable, ScoringError
from serving.lists import ranking_words
from serving.units import Units
from serving.withheld_reasons import withheld_text

if TYPE_CHECKING:
    from lifecycle.settings import Settings

SCORE = CHURN.score
OLD_SCORE = "probability"  # a list written before it was named as an events list's
WITHHELD_NOTE = (
    "reasons name the snapshot's personal columns and withhold the customers' values; show "
    "a column's with --allow-column NAME (repeatable)"
)


def champion_list(settings: Settings, dataset: str) -> tuple[Path | None, str]:
    """The churn champion's list of ``dataset`` (None when there is none) and why not."""
    name = registry.model_name(dataset, "churn")
    version = registry.aliases(registry.reader(settings, mirrored=True), name).get(
        registry.CHAMPION
    )
    if version is None:
        written = [path for path, _, _ in settings.workspace.at_risk_lists(name)]
        return None, (
            f"'{dataset}' is a snapshot table (one row a customer) with no churn champion "
            f"yet: run `lifecycle train-snapshot --dataset {dataset}`"
            + (f"; its challengers' lists: {', '.join(map(str, written))}" if written else "")
        )
    path = settings.workspace.snapshot_at_risk(name, version)
    if not path.is_file():
        return None, (
            f"champion {name} v{version} has no list at {path}: train it again with "
            f"`lifecycle train-snapshot --dataset {dataset}`"
        )
    return path, ""


def snapshot_scores(settings: Settings, dataset: str, allowed: tuple[str, ...] = ()) -> ScoresTable:
    """The champion's list as a scores table: ``churn_probability``, its reasons (a personal
    column's value withheld unless ``allowed``), and the snapshot table's columns."""
    from lifecycle.dataset_kind import read_report
    from training.snapshot import SNAPSHOT_FILE

    path, why = champion_list(settings, dataset)
    if path is None:
        raise ScoringError(f"at-risk: {why}")
    listed = pd.read_csv(path, dtype={c.USER_ID: str}, keep_default_na=False)
    table_path = settings.workspace.dataset_dir(dataset) / SNAPSHOT_FILE
    snapshot = pd.read_parquet(table_path)
    columns = [n for n in snapshot.columns if n not in (c.USER_ID, LABEL)]
    attributes = (settings.features.allow_attributes, settings.features.exclude_attributes)
    personal = withheld_attributes(columns, not_features(snapshot, columns, *attributes))
    shown = [n for n in columns if n not in personal]
    said = (*allowed, *shown)
    frame = pd.DataFrame(
        {
            c.USER_ID: listed[c.USER_ID],
            SCORE: listed[SCORE if SCORE in listed else OLD_SCORE].astype(float),
            "reasons": [_withheld(text, columns, said) for text in listed["reasons"]],
        }
    )
    # every column, for --where; a list carries the allowed ones only (serving.lists.list_rows)
    values = snapshot.drop_duplicates(c.USER_ID).set_index(c.USER_ID)[columns]
    frame = frame.join(values, on=c.USER_ID)
    report = read_report(settings.workspace.dataset_dir(dataset)) or {}
    created = str(report.get("created_at", ""))[:10]  # the snapshot's import, what it is as of
    metadata = {
        "dataset": dataset,
        "as_of": created,
        "personal_columns": personal,
        "shown_columns": shown,
    }
    return ScoresTable(frame, metadata, path)


def is_snapshot(settings: Settings, dataset: str) -> bool:
    from lifecycle.dataset_kind import dataset_kind

    return dataset_kind(settings, dataset) == "snapshot"


def snapshot_units() -> Units:
    """What a snapshot list's score is: no money column, no time window."""
    return Units(
        windows={
            "churn": f"churn: probability that the snapshot table's '{LABEL}' column is 1 "
            "(churned), out-of-fold"
        },
        money=False,
    )


def snapshot_ranking_words(rank_by: str) -> str:
    """What a snapshot list is ranked by, for its title: its return probability is of the
    label, with no time window (it said 'any activity in churn's window')."""
    if rank_by == RETURN_PROBABILITY:
        return (
            f"return probability (1 - churn probability: that the snapshot's '{LABEL}' is 0, "
            "not churned; a snapshot has no time window)"
        )
    return ranking_words(rank_by)


def _withheld(text: str, columns: list[str], allowed: tuple[str, ...]) -> str | None:
    """The list's reasons (``Contract: Month-to-month; tenure: 1``) as a scores table keeps
    them: each names its column, its value withheld unless the column is ``allowed``."""
    if not text:
        return None
    reasons = []
    for part in _split(text):
        column, _, value = part.partition(": ")
        shown = column in allowed and column in columns  # a column still in the table
        reasons.append(
            {
                "feature": column,
                "value": value if shown else None,
                "text": part if shown else withheld_text(column),
            }
        )
    return json.dumps(reasons)


def _split(text: str) -> list[str]:
    """``text`` cut before each ``; <name>: `` (a name holds no ``;`` or ``:``): a column the
    table no longer has is a reason of its own, withheld, never part of the one before it
    (a list of a table since renamed said ``tenure: 1; Contract: Month-to-month`` for an
    allowed tenure)."""
    return re.split(r"; (?=[^;:]+: )", text)
