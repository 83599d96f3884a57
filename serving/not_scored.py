"""Why a task has no score for a user: the task's population (``features.labels.LabelSpec``)
leaves them out. One wording for a list's note on the users a ranking leaves out
(``serving.lists.unscored_note``) and for ``/score``'s per-user ``not_scored``: conversion is
defined for users who have not reached its target (a repeat customer has no conversion
probability), churn with a lookback for users active in it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from json.encoder import encode_basestring_ascii as quoted  # json.dumps of a str, itself
from typing import Any

import numpy as np
import pandas as pd

from features.labels import LabelSpec
from lifecycle.tasks import get as get_task

# Why a task's score is missing, by its population (lifecycle.tasks.Population).
UNSCORED_WHY = {
    "before_target": "{task} scores only users before its target: one who reached it has none",
    "recently_active": "{task} scores only users active in its lookback",
}

# The field's one description: /score's users, /at_risk's rows and the scores table's column
# (there JSON text, :func:`not_scored_json`).
NOT_SCORED_DOC = (
    "task (asked, on /score) -> why its score is null for this user: the task's population "
    "leaves them out (conversion is of users before its target: a repeat customer has reached "
    "it; churn with a lookback: users active in it); null when every task scored the user"
)

# the part of a why that is one user's own (their order count, their last activity), which a
# list of many says once without: "; this user has 2 orders", "; last active 48 days before"
_USERS_OWN = re.compile(r"; (?:this user has|last active|no activity yet)[^)]*")

_TARGETS = {"first_purchase": "a first purchase", "repeat_purchase": "a second purchase"}


def user_why(spec: LabelSpec, orders: float, recency: float) -> str:
    """Why one user outside ``spec``'s population has no score of its task, with the user's
    own count (``orders``: orders_total, ``recency``: recency_days, NaN where none)."""
    return task_whys(spec, np.array([orders], dtype=float), np.array([recency], dtype=float))[0]


def task_whys(spec: LabelSpec, orders: np.ndarray, recency: np.ndarray) -> list[str]:
    """:func:`user_why` of many users outside ``spec``'s population at once (float arrays of
    their orders_total and recency_days, NaN where none): the fixed words are made once, the
    user's own count is put in each (a scores table's million users)."""
    task = spec.task
    if get_task(task).population == "recently_active":
        head = f"{UNSCORED_WHY['recently_active'].format(task=task)} ({spec.lookback_days} days up to as_of; "
        return [
            f"{head}{'no activity yet' if last != last else f'last active {last:g} days before'})"
            for last in recency.tolist()  # last != last: NaN
        ]
    held = np.where(np.isnan(orders), 0.0, orders).astype(np.int64)  # int(): toward zero
    words = {count: _target_why(spec, count) for count in np.unique(held).tolist()}
    return [words[count] for count in held.tolist()]


def shared_why(why: str) -> str:
    """``why`` without the user's own count: what a list says once of the many users it
    holds for the same reason (``serving.list_text``)."""
    return _USERS_OWN.sub("", why)


def _target_why(spec: LabelSpec, held: int) -> str:
    task = spec.task
    wanted = spec.orders_before_target
    target = _TARGETS.get(str(spec.target), str(spec.target))
    if held > wanted:
        return (
            f"{UNSCORED_WHY['before_target'].format(task=task)} (its target: {target}; "
            f"this user has {held:,} orders)"
        )
    return (
        f"{task} scores only users with {wanted} order{'s' * (wanted != 1)} before its target "
        f"({target}); this user has {'none' if held == 0 else f'{held:,}'} yet"
    )


def _outside(
    labels: Mapping[str, Mapping[str, Any]],
    tasks: Iterable[str],
    column: Callable[[str], np.ndarray],
    rows: int,
) -> Iterator[tuple[str, np.ndarray, list[str]]]:
    """Each of ``tasks`` whose population leaves some rows out: the task, those rows and
    why, row by row (:func:`task_whys`)."""
    for task in tasks:
        spec = LabelSpec.from_dict(dict(labels[task]))
        if spec.everyone:
            continue
        outside = np.flatnonzero(~spec.eligible_columns(column, rows))
        if not outside.size:
            continue
        orders = _or_nan(column, "orders_total", rows)[outside]
        recency = _or_nan(column, "recency_days", rows)[outside]
        yield task, outside, task_whys(spec, orders, recency)


def not_scored(
    labels: Mapping[str, Mapping[str, Any]],
    tasks: Iterable[str],
    column: Callable[[str], np.ndarray],
    rows: int,
) -> list[dict[str, str] | None]:
    """Per row: task -> why its score is missing, for each of ``tasks`` (label definitions
    ``labels``) whose population leaves the row's user out; None where every one scores it.
    ``column``: the float feature column by name (NaN for missing), as
    ``LabelSpec.eligible_columns`` reads it."""
    out: list[dict[str, str] | None] = [None] * rows
    for task, outside, whys in _outside(labels, tasks, column, rows):
        for row, why in zip(outside.tolist(), whys, strict=True):
            out[row] = {**(out[row] or {}), task: why}
    return out


def _or_nan(column: Callable[[str], np.ndarray], name: str, rows: int) -> np.ndarray:
    try:
        return np.asarray(column(name), dtype=float)
    except KeyError:
        return np.full(rows, np.nan)


def not_scored_json(
    labels: Mapping[str, Mapping[str, Any]], tasks: Iterable[str], features: pd.DataFrame
) -> list[str | None]:
    """:func:`not_scored` of each row of a feature frame as the scores table holds it (JSON
    text, as its reasons): the words /score gives the same user. The text is
    ``json.dumps(not_scored, sort_keys=True)``, put together task by task over the rows a
    task leaves out rather than a dict and a ``dumps`` per user (docs/benchmarks.md)."""
    rows = len(features)

    def column(name: str) -> np.ndarray:
        if name not in features:
            raise KeyError(name)
        return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)

    out: list[str | None] = [None] * rows
    for task, outside, whys in _outside(labels, sorted(tasks), column, rows):  # sort_keys
        key = f"{json.dumps(task)}: "
        for row, why in zip(outside.tolist(), whys, strict=True):
            said = out[row]
            out[row] = key + quoted(why) if said is None else f"{said}, {key}{quoted(why)}"
    return [None if said is None else "{" + said + "}" for said in out]


def not_scored_values(texts: Iterable[Any]) -> list[dict[str, str] | None]:
    """The scores table's ``not_scored`` JSON texts as /score's dicts (null kept)."""
    return [json.loads(t) if isinstance(t, str) else None for t in texts]
