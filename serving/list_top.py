"""The top of the at-risk list as `lifecycle run` prints it (and the report's run): the list
`lifecycle at-risk` gives, with its control flags, under a title that says its ranking."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from lifecycle.settings import Settings
from serving.list_rankings import ranking_clause, ranking_words
from serving.list_text import format_rows, listed_words, unmatched_note
from serving.lists import (
    Filters,
    Privacy,
    at_risk,
    at_risk_filters,
    list_rows,
    listed_attributes,
    usable_rankings,
)


def print_top(
    settings: Settings,
    top: int = 10,
    *,
    echo: Callable[[str], None] = print,
    rank_by: str = "value_at_risk",
    privacy: Privacy | None = None,
) -> pd.DataFrame:
    """Print the top of the at-risk list from the latest scores table; returns the rows shown."""
    from serving.batch import latest_scores
    from serving.list_seeds import at_risk_seed
    from serving.units import units_for

    table = latest_scores(settings)
    filters = at_risk_filters(Filters(), table.frame, settings.serving.medium_risk)
    # the control flags `lifecycle at-risk` gives this list (it draws the seed, not 0)
    listed = str(table.metadata.get("dataset") or settings.dataset)
    seed = at_risk_seed(listed, table.as_of, filters, rank_by)
    ranked = at_risk(table.frame, filters, rank_by=rank_by, limit=top, seed=seed)
    rows = list_rows(ranked, privacy, extra=(rank_by,), **listed_attributes(table.metadata))
    floor = f", churn probability >= {filters.min_churn:g}" if filters.min_churn else ""
    why = None if len(rows) else unmatched_note(filters)
    echo(
        f"{settings.dataset}: {listed_words(len(rows), 'at-risk user', why)} by "
        f"{ranking_words(rank_by)}{floor} as of {table.as_of} "
        f"(of {len(table.frame):,} scored; control group flagged C, seed {seed}); "
        + ranking_clause(
            rank_by, usable_rankings(table.frame.columns), "lifecycle at-risk --rank-by"
        )
    )
    echo(units_for(settings, table.metadata).text())
    for line in format_rows(rows):
        echo(line)
    return rows
