"""A silence an append opens: the file's first new event long after the dataset's last, as a
month's export skipped (October missing, November appended). Every user then looks silent
over those days, so churn labels and recency read the hole as real; the summary says so."""

from __future__ import annotations

from typing import Any

from features import contract as c

# A silence shorter than this is a quiet week, not a missing export.
LEAST_DAYS = 7


def silence_opened(con: Any, latest: Any, added: str) -> dict[str, Any] | None:
    """The days without events between the dataset's last event (``latest``) and the first
    one the append adds after it, when at least ``LEAST_DAYS`` and longer than any silence
    the dataset had before; None otherwise (late events, a gap the dataset knew already).
    ``con``: :func:`features.appending.merge_events`' connection, its views ``old`` (the
    dataset's events) and ``new`` (the file's, those added where ``added``)."""
    time = c.EVENT_TIME
    if latest is None:
        return None
    ((first,),) = con.execute(
        f"SELECT min({time}) FROM new WHERE {added} AND {time} > ?", [latest]
    ).fetchall()
    if first is None or (first - latest).days < LEAST_DAYS:
        return None
    ((longest,),) = con.execute(  # the dataset's own silences: only for a gap worth saying
        f"SELECT max(gap) FROM (SELECT {time} - lag({time}) OVER (ORDER BY {time}) AS gap FROM old)"
    ).fetchall()
    days, before = (first - latest).days, longest.days if longest is not None else 0
    if days <= before:
        return None
    return {
        "days": days,
        "from": f"{latest:%Y-%m-%d}",
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
