"""A workbook or a JSON lines file that lacks a mapped column is refused from its header and
first rows, as a CSV is, before its rows are read (session 61: a 300,000-line JSON stream
took 4.1 CPU-s to be refused, parsed and set aside whole, 0.6 s now; a 67,320-row workbook
4.95, 0.76 now). A JSON line has no header: a field its first objects lack that a later line
gives is the full read's to judge, never refused from the first lines."""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import pytest

from features import contract as c
from features import ingest
from features.column_checks import FIRST_ROWS
from features.contract import ContractError

ROWS = 3 * FIRST_ROWS  # a bad row well past the first rows read (and the frame after them)
BAD_ROW = ROWS - 400


def _bad_cell_workbook(path: Path) -> Path:
    """A sheet of ``ROWS`` rows whose cell C of row ``BAD_ROW`` is a number cell holding
    text (openpyxl cannot read it: the full read refuses the file there)."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Client", "Sold On", "Total"])
    for n in range(ROWS):
        sheet.append([17850 + n % 40, f"2010-12-0{1 + n % 9} 08:26", 1.5 + n % 7])
    plain = path.with_name("plain.xlsx")
    book.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                cell = f'<c r="C{BAD_ROW + 1}"'.encode()
                data = re.sub(cell + rb"([^>]*)><v>[^<]*</v>", cell + rb"\1><v>abc</v>", data)
                assert b"<v>abc</v>" in data
            out.writestr(item, data)
    return path


def _refused(path: Path, tmp_path: Path, **options: object) -> str:
    read: list[tuple[str, int]] = []
    with pytest.raises(ContractError) as refused:
        ingest.ingest_events(path, tmp_path / "d", progress=lambda *r: read.append(r), **options)
    assert read == []  # no pass read the rows
    assert not (tmp_path / "d").exists()
    return str(refused.value)


def test_a_workbook_without_the_columns_is_refused_from_its_first_rows(tmp_path: Path) -> None:
    """The old code read the sheet through its first chunk (all of a file under 100,000 rows)
    before the header's refusal: a cell far down it cannot read was refused in its place
    (`cannot be read as xlsx: invalid literal for int()`)."""
    book = _bad_cell_workbook(tmp_path / "sales.xlsx")
    said = _refused(book, tmp_path)
    assert said.startswith(f"{book}: missing column 'user_id', 'event_time', 'event_type';")
    assert "'Client' (e.g. 17850) may hold the user id: --map user_id=Client" in said


def _track(n: int, **fields: object) -> str:
    when = dt.datetime(2010, 12, 1, 8) + dt.timedelta(minutes=n)  # each line its own moment
    return json.dumps(
        {"userId": str(17850 + n % 30), "timestamp": f"{when:%Y-%m-%dT%H:%M}Z", **fields}
    )


def test_a_json_stream_without_the_columns_is_refused_from_its_first_lines(tmp_path: Path) -> None:
    """The old code parsed the whole file, setting each chunk aside, before the first chunk
    was checked: a line far down that is no JSON was refused in the missing column's place."""
    stream = tmp_path / "events.jsonl"
    lines = [_track(n, event="Order Completed", properties={"revenue": 2.5}) for n in range(ROWS)]
    lines[BAD_ROW] = '{"userId": "17850", "timestamp": '  # cut short
    stream.write_text("\n".join(lines) + "\n")
    said = _refused(stream, tmp_path)
    assert said.startswith(f"{stream}: missing column 'user_id', 'event_time', 'event_type';")
    assert "--map user_id=userId" in said and "--map event_time=timestamp" in said


def test_a_field_only_later_lines_give_is_not_refused_from_the_first(tmp_path: Path) -> None:
    """A stream whose first lines are page views (no `properties.revenue`) and whose orders
    come later loads with `--map amount=properties.revenue`: its first lines lack the field,
    a later line names it. A field no line names is refused from the first lines."""
    stream = tmp_path / "events.jsonl"
    views = [_track(n, event="session") for n in range(FIRST_ROWS + 200)]
    orders = [
        _track(FIRST_ROWS + 200 + n, event="purchase", properties={"revenue": 10.5})
        for n in range(50)
    ]
    stream.write_text("\n".join(views + orders) + "\n")
    maps = {c.USER_ID: "userId", c.EVENT_TIME: "timestamp", c.EVENT_TYPE: "event"}
    mapping = c.ColumnMapping(columns={**maps, c.AMOUNT: "properties.revenue"})
    summary = ingest.ingest_events(stream, tmp_path / "d", mapping=mapping)
    assert summary.tables["events"]["rows_loaded"] == FIRST_ROWS + 250
    wrong = c.ColumnMapping(columns={**maps, c.AMOUNT: "properties.value"})
    said = _refused(stream, tmp_path / "w", mapping=wrong)
    assert said.startswith(f"{stream}: missing column 'properties.value' (for amount);")
