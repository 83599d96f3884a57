"""An ingest's files read once however many passes it makes: a workbook's frames, as read
the first time, are set aside in the workspace and given again to each later pass (a second
pass reads the raw values of repeats; a file whose dates show one order is read in it).

openpyxl reads online_retail's sheet of 541,909 rows in about 52 s, a CSV of it in 2: read
twice, the workbook's ingest took 309 s against the CSV's 19 s. Other files are read on each
pass (a CSV or Parquet file reads in seconds; JSON lines set themselves aside once read).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from features.csv_format import CsvFormat
from features.json_reading import spill_file, spilling
from features.reading import read_chunks
from features.xlsx_reading import is_workbook


class ReadOnce:
    """Within ``with``: :meth:`chunks` of a workbook reads it the first time (setting each
    frame aside, as read, in an unlinked temporary file in ``folder``: nothing is left on
    disk, on success or failure) and gives the frames set aside on every later call for the
    same key. A first read stopped before its end (an error) sets nothing aside."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._read: dict[str, tuple[IO[bytes], int]] = {}  # key -> (its frames, how many)

    def __enter__(self) -> ReadOnce:
        return self

    def __exit__(self, *exc: Any) -> None:
        for spill, _ in self._read.values():
            spill.close()
        self._read.clear()

    def chunks(
        self, key: str, path: Path, chunk_rows: int, csv: CsvFormat | None
    ) -> Iterator[pd.DataFrame]:
        """:func:`features.reading.read_chunks` of ``path``, a workbook's read once per
        ``key`` (a table of the ingest)."""
        if key in self._read:
            spill, count = self._read[key]
            spill.seek(0)
            for _ in range(count):
                yield pickle.load(spill)
            return
        frames = read_chunks(path, chunk_rows, csv, spill_dir=self.folder)
        if not is_workbook(Path(path)):
            yield from frames
            return
        spill, count = spill_file(self.folder), 0
        try:
            for frame in frames:
                with spilling(self.folder):
                    pickle.dump(frame, spill, pickle.HIGHEST_PROTOCOL)
                count += 1
                yield frame
        except BaseException:  # an error, or a pass stopped early: read again next time
            spill.close()
            raise
        self._read[key] = (spill, count)
