"""The control-group seed of a list asked for without one: drawn from what the list is (its
kind, dataset, scores date, ranking and filters), never from where it is printed or written,
nor from its length or control share. A list previewed on screen and the same list written to
any folder hold out the same users; a longer list of the same selection (or an API page) flags
its first rows as the shorter one; a larger control share holds out those of the smaller one
and more; two different lists of one date hold out other users. `lifecycle at-risk`, `movers`
and the API's ``/at_risk`` draw it here, so one request over HTTP and on the command line
flags the same control users. (The seed was 0 for every printed list and ``/at_risk``, and a
written list's came from its file name: the preview and the file flagged other users.)"""

from __future__ import annotations

import json
from typing import Any

from serving.lists import Filters, drawn_seed

# the title's words for a seed drawn here; --json and /at_risk give the values themselves
DRAWN_WORDS = (
    "drawn from what the list is (its kind, dataset, scores date, ranking and filters): "
    "the same list holds out the same users, printed or written anywhere"
)


def list_drawn_from(
    kind: str,
    dataset: str,
    as_of: Any,
    filters: Filters,
    **ranking: Any,
) -> dict[str, Any]:
    """What a list's seed is drawn from: ``kind`` (``at-risk``, ``movers``), its dataset and
    scores date, ``ranking`` (``rank_by``; movers' ``by`` and the date compared with) and its
    filters (the churn floor the list applied included); not its top nor its control share,
    so the preview of a list's first rows flags them as the full list does. The filters
    in one order: ``--where country=Spain --where country=France`` is ``{"country":
    ["France", "Spain"]}``, as the API's ``where``."""
    # a churn floor of 0 is none: `--min-churn 0` lists every user, as no floor does
    bounds = {"min_ltv": filters.min_ltv, "min_churn": filters.min_churn or None}
    named = {"segment": filters.segment, "stage": filters.stage, "channel": filters.channel}
    selection: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
    selection |= {k: float(v) for k, v in bounds.items() if v is not None}
    if filters.where:
        selection["where"] = {k: sorted(v) for k, v in sorted(filters.where_values().items())}
    return {
        "list": kind,
        "dataset": str(dataset),
        "as_of": None if as_of is None else str(as_of),
        **{k: None if v is None else str(v) for k, v in ranking.items()},
        "filters": selection,
    }


def seed_of(drawn_from: dict[str, Any]) -> int:
    """The seed of the list :func:`list_drawn_from` describes: a stable hash of it."""
    return drawn_seed("list:" + json.dumps(drawn_from, sort_keys=True, separators=(",", ":")))


def at_risk_seed(dataset: str, as_of: Any, filters: Filters, rank_by: str = "value_at_risk") -> int:
    """The seed `lifecycle at-risk` draws for this list (``filters`` as it applied them, its
    churn floor included): the report's top and the main job's printed top flag its users.
    (Both took seed 0: on CDNOW the report held out other users than `at-risk` did.)"""
    return seed_of(list_drawn_from("at-risk", dataset, as_of, filters, rank_by=rank_by))
