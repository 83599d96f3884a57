"""How far a promotion moves the served scores (`lifecycle promote`, a rollback above all):
the latest scores table's users scored by the champions now, through the batch scoring,
beside what the champion before gave them: the table's numbers where it made them, else
that version scored again (a rollback after a promotion the table never followed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import tasks
from lifecycle.words import counted

if TYPE_CHECKING:
    from lifecycle.settings import Settings

TOP = 100  # the head of a ranking an operator pulls: how many of it another version changes
# Users scored again at most (a seeded sample beyond): a promote of 1M users' table stays
# seconds, not the minute of a score-all
SAMPLE_USERS = 100_000


def score_shift(
    settings: Settings, dataset: str, moved: list[str], previous: str | None = None
) -> dict[str, dict[str, Any]]:
    """Task -> on the latest scores table's users (of ``dataset``), the score's mean as the
    champion before gave it and as the champions now give it, their rank correlation and how
    many of the top :data:`TOP` before leave it; empty without a table of this dataset or its
    features. ``previous``: the version of ``moved[0]`` that was champion; where the table was
    scored by another (a rollback of a promotion `score-all` never followed: the table is of
    the version rolled back to), that version scores the users again. The table's numbers
    were read as "before", and such a rollback said its users' scores did not move at all
    (online_retail churn v2 -> v1: "0 of the top 100 change"; /score moved 21 of them)."""
    from features.store import open_store
    from serving.answers import scores_metadata, table_answerers
    from serving.batch import entity_rows, read_scores, retrieve_features
    from serving.scoring import load_champions, score_frame

    path = settings.workspace.latest_scores
    metadata = scores_metadata(path) or {}
    if metadata.get("dataset") != dataset:
        return {}
    table = read_scores(path)
    frame, of = table.frame, len(table.frame)
    if of > SAMPLE_USERS:
        frame = frame.sample(n=SAMPLE_USERS, random_state=0).sort_index()
    # a one-event conversion is 1 - churn: scored with churn's champion beside it
    wanted = {*moved, tasks.CHURN.name} if tasks.CONVERSION.name in moved else set(moved)
    champions = load_champions(settings, dataset, only=tuple(wanted))
    if not champions.bundles:
        return {}
    stale = previous not in (None, "none", table_answerers(metadata).get(moved[0]))
    before_champions = (
        load_champions(settings, dataset, only=tuple(wanted), pinned={moved[0]: str(previous)})
        if stale
        else None
    )
    stamp = pd.Timestamp(table.as_of, tz="UTC")
    features = retrieve_features(
        open_store(settings, dataset),
        entity_rows(frame[c.USER_ID].tolist(), stamp),
        champions.services | (before_champions.services if before_champions else set()),
    )
    now = score_frame(champions, features, reasons=False)
    then = score_frame(before_champions, features, reasons=False) if before_champions else frame
    shift = {}
    for task in moved:
        column = tasks.get(task).score
        if column not in then or column not in now or task not in champions.bundles:
            continue
        before = then[column].to_numpy(dtype=float)
        after = now[column].to_numpy(dtype=float)
        shift[task] = compared(column, before, after) | {"as_of": table.as_of, "of": of}
    return shift


def compared(column: str, before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """The two scorings of the same users: means, Spearman rank correlation, and how many of
    the first's top :data:`TOP` are not in the second's (users either leaves blank dropped)."""
    both = np.isfinite(before) & np.isfinite(after)
    before, after = before[both], after[both]
    top = min(TOP, len(before))
    ranks = pd.Series(before).corr(pd.Series(after), method="spearman") if len(before) > 1 else 1.0
    head_before = set(np.argsort(-before, kind="stable")[:top])
    head_after = set(np.argsort(-after, kind="stable")[:top])
    return {
        "score": column,
        "users": int(both.sum()),
        "mean_before": float(before.mean()) if len(before) else float("nan"),
        "mean_after": float(after.mean()) if len(after) else float("nan"),
        "rank_correlation": float(ranks),
        "top": top,
        "top_changed": len(head_before - head_after),
    }


def shift_line(task: str, shift: dict[str, Any]) -> str:
    """``churn on the latest scores' 3,360 users (as of 2011-09-01): mean churn_probability
    0.412 -> 0.455, rank correlation 0.93, 14 of the top 100 change``; of a larger table, on
    ``a sample of 100,000 of its 1,000,000 users``."""
    users = counted(shift["users"])
    if shift.get("of", 0) > SAMPLE_USERS:
        users = (
            f"users (a sample of {SAMPLE_USERS:,} of {shift['of']:,}, {shift['users']:,} scored)"
        )
    return (
        f"{task} on the latest scores' {users} (as of {shift['as_of']}): mean "
        f"{shift['score']} {shift['mean_before']:.3f} -> {shift['mean_after']:.3f}, rank "
        f"correlation {shift['rank_correlation']:.2f}, {shift['top_changed']} of the top "
        f"{shift['top']} change"
    )
