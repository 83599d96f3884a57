"""Attributes that identify people rather than group them: an ``email``, a ``name``, a phone
number beside the user id. As a model feature such a column is a category per person: it
predicts nothing for anyone new, and every value is kept in the model's own files (a
LightGBM model stores its categories; MLflow's input example took the most frequent one),
where ``lifecycle forget`` cannot reach them. So a text column with a distinct value for
most rows is left out of the features, and said so."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

MIN_DISTINCT = 50  # from this many values, a value for most rows identifies people
MAX_DISTINCT_SHARE = 0.5  # of the rows that have a value
# Fewer values: a small table (a snapshot of 30 customers under a lowered training.min_rows,
# an events log of few users over many cutoffs) trains too, and there a column identifies
# people when its values hardly repeat (30 emails in 30 rows), while a category repeats
# ('plan', 'country', even 20 cities in 30 rows). From 10 rows, the fewest any training takes.
SMALL_TABLE_SHARE = 0.9
MIN_FILLED = 10


# The feature table's Parquet metadata: its users attributes that identify people (JSON list)
IDENTIFYING_KEY = b"lifecycle.identifying_attributes"


def identifies(distinct: int, filled: int) -> bool:
    """Whether a text column with ``distinct`` values in ``filled`` rows identifies people."""
    if distinct >= MIN_DISTINCT:
        return distinct > MAX_DISTINCT_SHARE * filled
    return filled >= MIN_FILLED and distinct >= SMALL_TABLE_SHARE * filled


def identifying_columns(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, int]:
    """Of ``names``, the text columns of ``frame`` that identify people -> their distinct values."""
    out = {}
    for name in names:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        filled = column.dropna()
        distinct = int(filled.astype(str).nunique())
        if identifies(distinct, len(filled)):
            out[name] = distinct
    return out


def identifying_of(schema: Any) -> list[str]:
    """The attributes a feature table's schema (pyarrow) names as identifying people."""
    said = (schema.metadata or {}).get(IDENTIFYING_KEY)
    return list(json.loads(said)) if said else []


def left_out_line(left_out: dict[str, int], rows: int) -> str:
    """What was left out, for a summary."""
    named = ", ".join(
        f"'{n}' ({d:,} distinct values in {rows:,} rows)" for n, d in left_out.items()
    )
    return (
        f"  not features (they identify people, not groups of them): {named}; "
        "kept in the table, never in a model"
    )
