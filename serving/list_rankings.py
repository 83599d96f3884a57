"""What a list's ranking means, and the others it could be ranked by, as its title says them.

The at-risk list is ranked by value at risk (churn probability x LTV) by default: the value
at stake, not the customers likeliest to leave. On online_retail cut at 2011-09-09, its top
100 bought nothing in the next 91 days 29.0% of the time (the rest of the list: 50.0%),
where ranked by churn probability the top 100 did 75.0% (48.4%): an operator reading "at
risk" as "likely to leave" took the wrong list. So the title says what its ranking ranks
first and the ``--rank-by`` that ranks the likeliest to leave (docs/lists.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifecycle.list_fields import RETURN_PROBABILITY

DEFAULT_RANKING = "value_at_risk"
LEAVING = "churn_probability"
# what the top of each ranking is, in an operator's words
RANKS_FIRST = {
    "value_at_risk": "the most value at stake, not the likeliest to leave",
    "churn_probability": "the likeliest to leave",
    "return_probability": "the likeliest to come back",
    "ltv": "the most value expected",
    "conversion_probability": "the likeliest to reach the conversion target",
    "expected_saved_value": "the most value a campaign is expected to save",
}


def ranking_words(rank_by: str) -> str:
    """What a list is ranked by, for its title: value at risk says what it multiplies, the
    return probability what it is the complement of."""
    if rank_by == "value_at_risk":
        return "value at risk (churn probability x LTV)"
    if rank_by == RETURN_PROBABILITY:
        return "return probability (1 - churn probability: any activity in churn's window)"
    return rank_by.replace("_", " ")


def ranks_first(rank_by: str) -> str | None:
    """Who the top of a list ranked by ``rank_by`` is (None for a ranking without words)."""
    return RANKS_FIRST.get(rank_by)


def other_rankings(rank_by: str, usable: Sequence[str]) -> list[str]:
    """The rankings of ``usable`` (what the scores table can rank by) other than ``rank_by``."""
    return [choice for choice in usable if choice != rank_by]


def reasons_note(rank_by: str, reasons: Any) -> str | None:
    """What a list's reasons explain where its ranking is not a churn risk: the churn
    model's, so the win-back list's first user (online_retail 13027, 84% likely to come
    back) read "reasons: no activity for 113 days; ..." as if that were why they rank first.
    None for the rankings by churn risk (value at risk, churn probability), and where none
    of the listed rows' ``reasons`` (the stored JSON) gives one."""
    if not any(isinstance(said, str) and said not in ("", "[]") for said in reasons):
        return None
    if rank_by in (DEFAULT_RANKING, LEAVING) or ranks_first(rank_by) is None:
        return None
    return (
        "reasons are what raised each user's churn risk above the average user's, not why "
        f"this ranking puts them first ({ranks_first(rank_by)})"
    )


def ranking_fields(rank_by: str, usable: Sequence[str]) -> dict[str, object]:
    """A list's ranking in fields, as ``lifecycle at-risk --json`` and ``/at_risk`` answer
    it: ``ranks_first`` (:func:`ranks_first`) and ``other_rankings`` (:func:`other_rankings`)."""
    return {"ranks_first": ranks_first(rank_by), "other_rankings": other_rankings(rank_by, usable)}


def ranking_clause(rank_by: str, usable: Sequence[str], option: str = "--rank-by") -> str:
    """What a title says of its ranking: who comes first, the option that ranks the
    likeliest to leave when this ranking does not, and the other rankings (``option``: the
    CLI's, or the API's field); ``""`` for a ranking without words."""
    first = ranks_first(rank_by)
    if first is None:
        return ""
    others = other_rankings(rank_by, usable)
    leaving = LEAVING in others and rank_by != LEAVING
    also = [
        f"{choice} (the default)" if choice == DEFAULT_RANKING else choice
        for choice in others
        if not (leaving and choice == LEAVING)
    ]
    those = "those" if rank_by == DEFAULT_RANKING else "the likeliest to leave"
    said = [f"`{option} {LEAVING}` ranks {those}"] if leaving else []
    if also:
        said.append(f"{'also' if leaving else f'`{option}` also ranks by'}: {', '.join(also)}")
    return f"first come {first}" + (f" ({'; '.join(said)})" if said else "")
