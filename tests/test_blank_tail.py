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


def test_a_blank_tail_is_counted_not_held(tmp_path: Path) -> None:
    """The run of blank lines under the data was held as frames until the file ended: 1M
    ',,,,,,,,,' lines cost 304 MB peak against 214 MB. Now it is held as its parts' lengths
    and first rows: reading it costs what reading its lines does (traced by tracemalloc,
    which counts numpy's and pandas' buffers, not Arrow's)."""
    import tracemalloc

    path = tmp_path / "orders.csv"
    path.write_text(HEADER + ROWS + ",,,,\n" * 250_000)
    peaks = {}
    for name, columns in (("skipped", None), ("read as rows", HEADER.strip().split(","))):
        tracemalloc.start()
        try:
            rows = sum(len(frame) for frame in read_chunks(path, 10_000, columns=columns))
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert rows == (1_200 if columns is None else 251_200)
    # old code: 3.3x (the 250,000 rows' cells, 10 MB, held to the end)
    assert peaks["skipped"] < 1.5 * peaks["read as rows"], peaks


BETWEEN = [",,,,\n"] * 70 + ["  , ,,,\n", ",,\n"] + [",,,,\n"] * 48  # 120 lines, 2 frames
SPACES = "  , ,,,"  # a blank line of spaces, kept as it is in the quarantine


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_blank_rows_between_data_keep_their_rows_and_cells_when_the_tail_is_counted(
    tmp_path: Path, kind: str
) -> None:
    """Blank rows held back (as counts) and then followed by data are given back as read:
    each `empty_row` at its source row, a line of spaces with its spaces, a short line
    `missing_fields`; the tail (blank and spaces) is counted, in any frame size."""
    rows = ROWS.splitlines(keepends=True)
    lines = rows[:60] + BETWEEN + rows[60:] + [",,,,\n", SPACES + "\n"] * 150
    if kind == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        for line in [HEADER, *lines]:
            cells = line.rstrip("\n").split(",")
            book.active.append([cell if cell.strip() else None for cell in cells])
            if line == SPACES + "\n":  # the spaces themselves, as typed
                row = book.active.max_row
                book.active.cell(row, 1).value, book.active.cell(row, 2).value = "  ", " "
        path = tmp_path / "orders.xlsx"
        book.save(path)
    else:
        path = tmp_path / "orders.csv"
        path.write_text(HEADER + "".join(lines))
    reports, held = [], []
    for chunk_rows in (50, 100_000):
        out = tmp_path / f"shop{chunk_rows}"
        events = ingest.ingest_events(path, out, chunk_rows=chunk_rows).tables["events"]
        reports.append(events)
        held.append(pd.read_csv(out / "quarantine" / "events.csv", dtype=str, na_filter=False))
    assert reports[0] == reports[1] and held[0].equals(held[1])
    assert (reports[0]["rows_read"], reports[0]["rows_loaded"]) == (1_320, 1_200)
    assert reports[0]["notes"]["blank_rows_skipped"] == 300
    reasons = held[0].set_index(c.SOURCE_ROW)[c.REASON]
    assert reasons.index.tolist() == [str(row) for row in range(61, 181)]
    short = "missing_fields" if kind == "csv" else "empty_row"  # a sheet's row has its cells
    assert reasons.value_counts().to_dict() == (
        {"empty_row": 119, short: 1} if kind == "csv" else {"empty_row": 120}
    )
    assert reasons["132"] == short
    spaces = held[0].loc[held[0][c.SOURCE_ROW] == "131"].iloc[0]
    assert (spaces[c.USER_ID], spaces[c.EVENT_TIME]) == ("  ", " ")
