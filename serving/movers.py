"""The morning's movers: users whose risk rose most between two scores tables of a dataset
(``lifecycle movers``), and the notes that say what a change between them is made of."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import contract as c
from serving.lists import (
    CONTROL_SEED,
    CONTROL_SHARE,
    Filters,
    ListError,
    control_flags,
    filter_scores,
)
from serving.reason_words import reasons_text

if TYPE_CHECKING:
    from serving.batch import ScoresTable

MOVER_BY = ("value_at_risk", "churn_probability")
# A churn probability that moved less than this is flat: the lists print such a change "+0 pts"
# (serving.list_text.points_text says a tenth of a point), and online_retail 2011-09-10 ->
# 10-10 ranked 76 users whose churn rose under 0.01 points (16684: +0.0008, its LTV up by a
# purchase) 2nd and 3rd of its value-at-risk risers, "+0 pts" in a list of rises of risk
FLAT_CHURN_CHANGE = 0.0005
MOVER_FIELDS = (
    "churn_probability_before",
    "churn_probability_change",
    "value_at_risk_before",
    "value_at_risk_change",
)


def movers(
    latest: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    by: str = "value_at_risk",
    limit: int | None = 100,
    filters: Filters | None = None,
    control_share: float = CONTROL_SHARE,
    seed: int = CONTROL_SEED,
) -> pd.DataFrame:
    """Users in both tables whose ``by`` rose the most from the previous to the latest table.

    By value at risk (churn probability x LTV), only users whose churn probability rose too
    (by :data:`FLAT_CHURN_CHANGE` or more, as by churn probability; less is flat):
    a purchase raises a user's LTV, so risers by value alone were mostly customers who had
    just bought (35 of online_retail's top 50, 15 with their churn probability down). How
    many were left out so is ``attrs["value_only"]`` of the result; ``attrs["not_before"]``:
    the users the filters keep that only the latest table scored (new since), who have no
    change to rank by."""
    if by not in MOVER_BY:
        raise ListError(f"--by {by}: expected one of {', '.join(MOVER_BY)}", "by")
    before = previous[[c.USER_ID, *(col for col in MOVER_BY if col in previous)]]
    before = before.rename(columns={col: f"{col}_before" for col in MOVER_BY})
    control_flags([], seed, control_share)
    kept = filter_scores(latest, filters or Filters())
    not_before = int((~kept[c.USER_ID].isin(before[c.USER_ID])).sum())
    both = kept.merge(before, on=c.USER_ID, how="inner")
    for col in MOVER_BY:
        if col in both and f"{col}_before" in both:
            both[f"{col}_change"] = both[col] - both[f"{col}_before"]
    change = f"{by}_change"
    if change not in both:
        raise ListError(f"--by {by}: the scores tables have no {by} column to compare", "by")
    floor = FLAT_CHURN_CHANGE if by == "churn_probability" else 0.0
    rising = both[both[change] >= floor] if floor else both[both[change] > 0]
    value_only = 0
    if by == "value_at_risk" and "churn_probability_change" in rising:
        risk = rising["churn_probability_change"].to_numpy(float) >= FLAT_CHURN_CHANGE
        value_only, rising = int((~risk).sum()), rising[risk]
    order = np.lexsort((rising[c.USER_ID].astype(str).to_numpy(), -rising[change].to_numpy(float)))
    page = rising.iloc[order if limit is None else order[:limit]].copy()
    page.insert(0, "rank", np.arange(1, len(page) + 1))
    page["control"] = control_flags(page[c.USER_ID], seed, control_share)
    page["top_reasons"] = [reasons_text(raw) for raw in page.get("reasons", [None] * len(page))]
    page.attrs["value_only"] = value_only
    page.attrs["not_before"] = not_before
    page.attrs["matched"] = len(kept)  # the filters kept users, whether or not any rose
    return page


def model_changes(previous: ScoresTable, latest: ScoresTable) -> dict[str, tuple[str, str]]:
    """Task -> (previous, latest) model version, for each task scored by another version in
    the two tables (a change between them is then partly the model's, not the user's): what
    made its numbers, ``1 - churn vN`` for conversion on a log of purchases, whose own model
    changes none (a refresh's conversion v3 -> v5 was said of numbers 1 - churn v2 made both
    times)."""
    from serving.answers import table_answerers

    before, after = table_answerers(previous.metadata), table_answerers(latest.metadata)
    return {
        task: (str(before[task]), str(after[task]))
        for task in sorted(set(before) & set(after))
        if str(before[task]) != str(after[task])
    }


def mover_notes(
    changes: dict[str, tuple[str, str]],
    previous: ScoresTable,
    latest: ScoresTable,
    by: str,
    *,
    nobody: bool,
    value_only: int = 0,
    earlier: str | None = None,
    not_before: int = 0,
) -> tuple:
    """A movers list's notes: each task whose model changed (``changes``, :func:`model_changes`),
    two tables of one day (rescored: "from D to D" read as time passing; with the ``earlier``
    date a table of which ``--since`` compares with), that ``nobody`` rose ("(no users match)"
    alone read as a filter that matched nobody), and the ``value_only`` and ``not_before``
    users left out (:func:`movers`)."""
    notes = [
        f"{task}: the model differs between the two tables ({_named(before)} -> "
        f"{_named(after)}); "
        "part of each change is the model's, not the user's"
        for task, (before, after) in changes.items()
    ]
    day, same_day = latest.as_of, previous.as_of == latest.as_of
    if same_day:
        since = f"; `--since {earlier}` compares with the table of {earlier}" if earlier else ""
        notes.append(
            f"both tables are of {day}: each change comes from the models or the data{since}"
        )
    if value_only:
        notes.append(
            f"left out: {value_only:,} user{'s' * (value_only != 1)} whose value at risk rose "
            "with their churn probability flat (under 0.05 points up) or down (their LTV rose, "
            "as a purchase raises "
            "it); `--by churn_probability` ranks the risk alone"
        )
    if not_before:  # online_retail 2011-11-01 -> 12-10: 362 new customers, unsaid
        notes.append(
            f"not compared: {not_before:,} user{'s' * (not_before != 1)} scored on {day} whom "
            f"the table of {previous.as_of} did not score (new since): no change to rank them "
            "by; `lifecycle at-risk` ranks them with everyone"
        )
    return (*notes, *([nobody_rose(by, previous, latest)] if nobody else []))


def nobody_rose(by: str, previous: ScoresTable, latest: ScoresTable) -> str:
    """Why a movers list is empty when its filters kept users: none of them rose."""
    day = latest.as_of
    same_day = previous.as_of == day
    span = f"between the two tables of {day}" if same_day else f"from {previous.as_of} to {day}"
    return f"nobody's {by.replace('_', ' ')} rose {span}"


def _named(answerer: str) -> str:
    """``v3``, or ``1 - churn v3`` as it is."""
    return answerer if " " in answerer else f"v{answerer}"
