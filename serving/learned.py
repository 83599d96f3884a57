"""What the models had learned from when they scored: each task's ``learned_until``.

A model learned from the events before a date (``ModelBundle.outcomes_learned_until``: the
outcomes of its training cutoffs, or the users' histories a label-free model was fitted
on). Its scores as of an earlier date are no forecast: it saw what came after (`score-all
--as-of` a past date with models made since). The scores table and the ledger entry keep
the date per task in their metadata (``learned_until``); `lifecycle outcomes` grades such
an entry in sample, and score-all and the lists say so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from lifecycle.tasks import CHURN

if TYPE_CHECKING:
    from serving.scoring import Champions


def learned_until(champions: Champions) -> dict[str, str | None]:
    """Task -> up to when the model answering it learned: conversion answered as 1 - churn
    (``CHURN_COMPLEMENT``) is churn's, not its own unused model's."""
    until = {t: b.outcomes_learned_until for t, b in champions.bundles.items()}
    kinds = champions.kinds
    return {t: _answering(until, kinds.get(t), t) for t in until}


def task_learned_until(metadata: dict[str, Any], task: str) -> str | None:
    """The task's ``learned_until`` in a scores table's or ledger entry's metadata: churn's
    where churn answered it (an entry from before recorded the unused model's)."""
    kind = (metadata.get("model_kinds") or {}).get(task)
    return _answering(metadata.get("learned_until") or {}, kind, task)


def _answering(until: dict[str, str | None], kind: str | None, task: str) -> str | None:
    """``task``'s date of ``until`` as its ``kind`` answers it: churn's for 1 - churn; the
    later of churn's and its own where each answers some users (``scoring.in_part``), as
    either model's answers past the as-of are no forecast."""
    from serving.scoring import CHURN_COMPLEMENT, in_part

    if kind == CHURN_COMPLEMENT:
        return until.get(CHURN.name)
    if in_part(kind):
        dates = [d for d in (until.get(CHURN.name), until.get(task)) if d]
        return max(dates, key=pd.Timestamp) if dates else None
    return until.get(task)


def learned_after(metadata: dict[str, Any]) -> dict[str, str]:
    """Task -> ``<model> learned from the events up to DATE`` for each task whose model
    learned from events after the metadata's as-of."""
    from serving.answers import table_answerers

    as_of = pd.Timestamp(metadata["as_of"])
    found = {}
    for task, version in table_answerers(metadata).items():
        until = task_learned_until(metadata, task)
        if until and as_of < pd.Timestamp(until):
            model = version if version.startswith("1 - ") else f"v{version}"
            found[task] = f"{model} learned from the events up to {until}"
    return found


def learned_after_words(metadata: dict[str, Any]) -> str | None:
    """``ltv v6 learned from the events up to 2011-09-05, after 2011-08-01 (its scores are
    not a forecast as of then)``, or None where every model learned before the as-of."""
    found = learned_after(metadata)
    if not found:
        return None
    said = "; ".join(f"{task} {words}" for task, words in found.items())
    whose = "its scores are" if len(found) == 1 else "their scores are"
    return f"{said}, after {metadata['as_of']} ({whose} not a forecast as of then)"
