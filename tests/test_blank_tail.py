"""Blank rows under a file's last row of data are skipped and said, for CSV as for a sheet.

A CSV exported from a sheet whose rows were once formatted below its data ends in thousands
of `,,,,` lines: 1,200 rows and 5,000 such lines read "1,200 rows loaded of 6,200, 5,000
quarantined", each blank line written to the quarantine file (a workbook's were skipped)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features import ingest
from features.reading import read_chunks
from features.validation import ContractError
from lifecycle.cli import main

HEADER = "user_id,event_time,event_type,amount,note\n"
ROWS = "".join(
    f"u{i % 40},2024-01-{1 + i % 28:02d} {i // 28 % 24:02d}:{i % 60:02d},purchase,2.5,\n"
    for i in range(1_200)
)


def test_a_csv_s_blank_lines_under_its_data_are_skipped_not_quarantined(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.csv"
    # one blank line between the data (row 601) stays empty_row; 5,000 under it are skipped
    rows = ROWS.splitlines(keepends=True)
    path.write_text(
        HEADER + "".join(rows[:600]) + ",,,,\n" + "".join(rows[600:]) + ",,,,\n" * 5_000
    )
    frames = list(read_chunks(path, chunk_rows=700))  # the blank run crosses a frame's end
    assert sum(len(frame) for frame in frames) == 1_201
    assert frames[-1].attrs["blank_rows_skipped"] == 5_000
    read = pd.concat(frames)
    assert read.index.tolist() == list(range(1_201)) and (read.loc[600] == "").all()
    summary = ingest.ingest_events(path, tmp_path / "shop", chunk_rows=700)
    events = summary.tables["events"]
    assert (events["rows_read"], events["rows_loaded"]) == (1_201, 1_200)
    assert events["reasons"] == {"empty_row": 1}
    held = pd.read_csv(tmp_path / "shop" / "quarantine" / "events.csv", dtype=str)
    assert held[c.SOURCE_ROW].tolist() == ["601"]
    said = CliRunner().invoke(main, ["--home", str(tmp_path / "ws"), "ingest", str(path)])
    assert said.exit_code == 0, said.output
    assert "events: 1,200 rows loaded of 1,201, 1 quarantined (1 empty_row" in said.output
    assert (
        "    5,000 blank rows under the last row of data skipped (every cell empty: a sheet's "
        "rows once formatted or emptied, the ',,,' lines of its CSV): not rows, none quarantined"
    ) in said.output


def test_a_csv_of_a_header_and_blank_lines_only_is_refused_saying_them(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ",,,,\n" * 3)
    with pytest.raises(ContractError, match=r"no data rows: its 3 rows are empty \(every cell"):
        ingest.ingest_events(path, tmp_path / "shop")
    said = CliRunner().invoke(main, ["--home", str(tmp_path / "ws"), "ingest", str(path)])
    assert said.exit_code != 0
    assert "no data rows: its 3 rows are empty (every cell blank; columns: user_id" in said.output
