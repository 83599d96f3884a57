"""Event times far from all the others: a year typed wrong (2025 for 2015).

The dataset's newest event is its "today": one purchase dated ten years after the rest made
every user of the log silent for ten years, every churn label one class and every score
meaningless, with nothing said. A few rows (at most 0.1% of a file of 1,000 rows or more)
separated from every other event by a silence of a year or more, and ten times longer than
any other silence of the file, are held back as ``isolated_event_time``, at either end. The
file alone is judged: new days appended after a long pause are the dataset's to hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features import contract as c
from features.read_words import ISOLATED_NOTE
from features.source_files import SourceFiles
from features.table_checks import TableChecks
from lifecycle.sql import identifier

ISOLATED_EVENT_TIME = "isolated_event_time"  # quarantine reason
MIN_ROWS = 1_000  # a smaller file has too few events to tell a typo from a return
MAX_SHARE = 0.001  # of the file's rows
MIN_GAP_DAYS = 365
GAP_RATIO = 10  # times the longest other silence of the file


def isolated_times(
    con: Any, staged: str, row: str, checks: TableChecks, files: SourceFiles
) -> np.ndarray:
    """Source rows (sorted, none already held back) of events isolated in time, added to the
    ``held_back`` table; the gap, the range of the rest and the first row (in its file of
    ``files``) are noted."""
    time = identifier(c.EVENT_TIME)
    loaded = f"{row} NOT IN (SELECT source_row FROM held_back)"
    days = con.execute(
        f"SELECT CAST({time} AS DATE) AS day, count(*) AS n FROM {staged} WHERE {loaded} "
        "GROUP BY 1 ORDER BY 1"
    ).fetchnumpy()
    day, rows = days["day"].astype("datetime64[D]"), days["n"].astype(np.int64)
    total = int(rows.sum())
    if total < MIN_ROWS or len(day) < 3:
        return np.array([], dtype=np.int64)
    gaps = np.diff(day).astype(np.int64)  # gaps[k]: between day[k] and day[k + 1]
    limit = max(1.0, MAX_SHARE * total)
    # each end's widest silence with few enough rows beyond it
    before = np.cumsum(rows)[:-1]  # rows on or before day[k]
    head = np.flatnonzero(before <= limit).tolist()
    tail = np.flatnonzero(total - before <= limit).tolist()
    widest = {
        end: max(ks, key=gaps.__getitem__) for end, ks in (("head", head), ("tail", tail)) if ks
    }
    cuts = {end: k for end, k in widest.items() if gaps[k] >= MIN_GAP_DAYS}
    first, last = _rest(cuts, len(day))
    if first >= last:
        return np.array([], dtype=np.int64)
    inside = int(gaps[first:last].max())  # the longest silence of the rest
    cuts = {end: k for end, k in cuts.items() if gaps[k] >= GAP_RATIO * max(inside, 1)}
    if not cuts:
        return np.array([], dtype=np.int64)
    first, last = _rest(cuts, len(day))
    longest = min(int(gaps[k]) for k in cuts.values())
    rest = (str(day[first]), str(day[last]))
    outside = (
        f"({loaded}) AND (CAST({time} AS DATE) < DATE '{rest[0]}' "
        f"OR CAST({time} AS DATE) > DATE '{rest[1]}')"
    )
    found = np.sort(
        con.execute(f"SELECT {row} AS source_row FROM {staged} WHERE {outside}").fetchnumpy()[
            "source_row"
        ]
    )
    con.execute(f"INSERT INTO held_back SELECT {row} FROM {staged} WHERE {outside}")
    column = checks.named.get(c.EVENT_TIME, c.EVENT_TIME)
    first_row, first_file = files.find(int(found[0]))
    checks.notes[ISOLATED_NOTE] = {
        "column": column,
        "rows": len(found),
        "first_row": first_row,
        "gap_days": longest,
        "rest": f"{rest[0]} .. {rest[1]}",
    } | ({"first_file": first_file} if first_file else {})
    return found


def _rest(cuts: dict[str, int], days: int) -> tuple[int, int]:
    """The first and last day (indices) of the events left between the cuts."""
    return (cuts["head"] + 1 if "head" in cuts else 0, cuts["tail"] if "tail" in cuts else days - 1)
