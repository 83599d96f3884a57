"""A terminal list says a task's missing score once for the users it holds for the same
reason, not under each of them; ``--json`` and written lists keep the per-user field."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.labels import LabelSpec
from serving.list_text import format_rows
from serving.not_scored import not_scored, shared_why


def _listed() -> pd.DataFrame:
    """Four at-risk users as a three-month shop's list holds them: three repeat customers
    (2, 3 and 5 orders), whom repeat-purchase conversion leaves out, and one it scores;
    their ``not_scored`` made by the function that makes /score's and the table's."""
    labels = {
        "conversion": LabelSpec("conversion", 90, target="repeat_purchase").to_dict(),
        "churn": LabelSpec("churn", 90).to_dict(),
    }
    features = {"orders_total": np.array([2.0, 3.0, 1.0, 5.0]), "recency_days": np.full(4, 9.0)}
    whys = not_scored(labels, ["churn", "conversion"], features.__getitem__, 4)
    return pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "user_id": ["a", "b", "c", "d"],
            "churn_probability": [0.4, 0.3, 0.3, 0.2],
            "not_scored": whys,
            "control": [False] * 4,
        }
    )


def test_a_terminal_list_says_a_shared_no_score_once_with_how_many_it_holds() -> None:
    rows = _listed()
    assert rows["not_scored"][2] is None and "this user has 5 orders" in str(rows["not_scored"][3])
    said = "\n".join(format_rows(rows, width=200))
    # once below the list, without a user's own count; never under a row
    assert said.count("no score") == 1, said
    assert "      no score:" not in said
    general = shared_why(rows["not_scored"][0]["conversion"])
    assert "this user has" not in general and general.endswith("(its target: a second purchase)")
    assert f"no score: conversion, for 3 of the 4 listed users: {general}" in said


def test_a_reason_of_one_listed_user_stays_under_its_row() -> None:
    rows = _listed().iloc[[0, 2]].reset_index(drop=True)
    said = format_rows(rows, width=200)
    own = rows["not_scored"][0]["conversion"]
    assert f"      no score: conversion: {own}" in said
    assert not [line for line in said if line.startswith("no score")]
