"""A silence an append opens: the file's first new event long after the dataset's last, as a
month's export skipped (October missing, November appended). Every user then looks silent
over those days, so churn labels and recency read the hole as real; the summary says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from features import contract as c

# A silence shorter than this is a quiet week, not a missing export.
LEAST_DAYS = 7


def silence_opened(old_events: Path, merged_events: Path) -> dict[str, Any] | None:
    """The days without events between the dataset's last event and the first one the
    append added after it, when longer than ``LEAST_DAYS`` and than any silence the
    dataset had before; None otherwise (late events, a gap the dataset knew already)."""
    import duckdb

    time = c.EVENT_TIME
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        ((last, longest),) = con.execute(
            f"SELECT max({time}), max(gap) FROM (SELECT {time}, "
            f"{time} - lag({time}) OVER (ORDER BY {time}) AS gap FROM read_parquet(?))",
            [str(old_events)],
        ).fetchall()
        if last is None:
            return None
        ((first,),) = con.execute(
            f"SELECT min({time}) FROM read_parquet(?) WHERE {time} > ?",
            [str(merged_events), last],
        ).fetchall()
    if first is None:
        return None
    days, before = (first - last).days, longest.days if longest is not None else 0
    if days < LEAST_DAYS or days <= before:
        return None
    return {
        "days": days,
        "from": f"{last:%Y-%m-%d}",
        "to": f"{first:%Y-%m-%d}",
        "longest_before": before,
    }


def silence_line(silence: dict[str, Any]) -> str:
    """The summary's line of :func:`silence_opened`."""
    return (
        f"    no event from {silence['from']} to {silence['to']} ({silence['days']} days), "
        f"longer than any silence the dataset had before ({silence['longest_before']} days): "
        "if an export is missing, append it (older events are accepted as late) and refresh "
        "again; until then every user looks silent over those days"
    )
