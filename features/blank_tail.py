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

A run is held as :class:`_Blank` parts, not as its rows: each part's length and its first
row, and only the rows whose cells are not that row's (spaces, a ragged line's cells). 1M
``,,,,,,,,,`` lines under 1,000 rows held 170 MB as frames; a part is rebuilt, as it was
read, only when a row with a value follows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.quarantine import RAGGED_ROWS, blank_rows
from features.read_words import BLANK_ROWS_SKIPPED


def skip_blank_tail(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``frames`` but the blank rows under the last row with a value, counted in the last
    frame's attrs (a frame of no rows, the header's columns, when no row has a value). A
    frame is yielded once the next is read: the last one carries the count."""
    pending: pd.DataFrame | None = None  # rows read, the last one with a value
    held: list[_Blank] = []  # blank rows after it, released by a row with a value
    shape: pd.DataFrame | None = None  # the columns, when no row has a value
    for frame in frames:
        shape = frame.iloc[:0] if shape is None else shape
        filled = np.flatnonzero(~blank_rows(frame).to_numpy(dtype=bool))
        if not len(filled):
            held += [_Blank.of(frame)] if len(frame) else []
            continue
        if pending is not None:
            yield pending
        yield from (part.frame() for part in held)
        pending, tail = _split(frame, int(filled[-1]) + 1)
        held = [_Blank.of(tail)] if len(tail) else []
    skipped = sum(part.rows for part in held)
    if pending is None:
        if shape is None:
            return
        pending = shape.copy()
        pending.attrs = {k: v for k, v in shape.attrs.items() if k != RAGGED_ROWS}
    if skipped:
        pending.attrs[BLANK_ROWS_SKIPPED] = skipped
    yield pending


@dataclass(frozen=True)
class _Blank:
    """A frame of blank rows as little as gives it back: its index, its first row (with the
    frame's columns, types and attrs) and the rows whose cells are not all that row's."""

    index: pd.Index
    first: pd.DataFrame
    others: np.ndarray  # positions of the rows unlike the first, in the frame
    unlike: pd.DataFrame  # those rows

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Blank:
        alike = np.ones(len(frame), dtype=bool)
        for i in range(frame.shape[1]):
            cells = frame.iloc[:, i].to_numpy()
            first = cells[0]
            # a CSV's or a sheet's cells are text: the rest (none read so) is kept as it is
            alike &= (cells == first) if isinstance(first, str) else False
        others = np.flatnonzero(~alike)
        index = frame.index  # a range: anew, without the labels a lookup cached (80 kB)
        if isinstance(index, pd.RangeIndex):
            index = pd.RangeIndex(index.start, index.stop, index.step, name=index.name)
        return cls(index, frame.iloc[:1].copy(), others, frame.iloc[others].copy())

    @property
    def rows(self) -> int:
        return len(self.index)

    def frame(self) -> pd.DataFrame:
        """The frame as it was read."""
        if not len(self.others):
            frame = self.first.take(np.zeros(self.rows, dtype=np.intp))
        else:
            rows = pd.concat([self.first, self.unlike])
            which = np.zeros(self.rows, dtype=np.intp)
            which[self.others] = np.arange(1, len(self.others) + 1)
            frame = rows.take(which)
        frame.index = self.index
        frame.attrs = self.first.attrs
        return frame


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
