"""Blank rows under a file's last row of data: skipped and counted, not rows.

A spreadsheet keeps the rows it once formatted or emptied below its data (a sheet's
<dimension> ``A1:H100001`` over 1,200 rows), and its CSV export ends in as many ``,,,,``
lines: each was read as a row and quarantined as ``empty_row`` ("1,200 rows loaded of
6,200, 5,000 quarantined"). :func:`skip_blank_tail` holds back each run of blank rows
(``features.quarantine.blank_rows``: every cell missing or spaces) until a row with a value
follows, which releases it (a blank row between data rows stays ``empty_row``, at its
source row); the run under the last row with a value is skipped, its count in the last
frame's ``attrs[BLANK_ROWS_SKIPPED]`` (a report note, said by ingest). Of the files a
spreadsheet writes, CSV and Excel (``features.reading.read_chunks``); Parquet and JSON lines
are written by programs, whose row of nulls is a row written.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from features.quarantine import RAGGED_ROWS, blank_rows

# attrs key of the last frame, and report note: the blank rows under the last row of data
BLANK_ROWS_SKIPPED = "blank_rows_skipped"


def skip_blank_tail(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``frames`` but the blank rows under the last row with a value, counted in the last
    frame's attrs (a frame of no rows, the header's columns, when no row has a value). A
    frame is yielded once the next is read: the last one carries the count."""
    pending: pd.DataFrame | None = None  # rows read, the last one with a value
    held: list[pd.DataFrame] = []  # blank rows after it, released by a row with a value
    shape: pd.DataFrame | None = None  # the columns, when no row has a value
    for frame in frames:
        shape = frame.iloc[:0] if shape is None else shape
        filled = np.flatnonzero(~blank_rows(frame).to_numpy(dtype=bool))
        if not len(filled):
            held += [frame] if len(frame) else []
            continue
        if pending is not None:
            yield pending
        yield from held
        pending, tail = _split(frame, int(filled[-1]) + 1)
        held = [tail] if len(tail) else []
    skipped = sum(len(frame) for frame in held)
    if pending is None:
        if shape is None:
            return
        pending = shape.copy()
        pending.attrs = {k: v for k, v in shape.attrs.items() if k != RAGGED_ROWS}
    if skipped:
        pending.attrs[BLANK_ROWS_SKIPPED] = skipped
    yield pending


def _split(frame: pd.DataFrame, at: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame``'s rows before ``at`` and from it, each with the attrs, its rows out of line
    with the header (``RAGGED_ROWS``: offsets in the frame) counted from its own start."""
    if at == len(frame):
        return frame, frame.iloc[:0]
    ragged = frame.attrs.get(RAGGED_ROWS, {})
    parts = []
    for part, start, rows in ((frame.iloc[:at], 0, range(at)), (frame.iloc[at:], at, None)):
        part = part.copy()
        part.attrs = {k: v for k, v in frame.attrs.items() if k != RAGGED_ROWS}
        own = {o - start: r for o, r in ragged.items() if (o < at) == (rows is not None)}
        if own:
            part.attrs[RAGGED_ROWS] = own
        parts.append(part)
    return parts[0], parts[1]
