"""Workbooks not written by Excel (features/xlsx_reading.py): shared, inline or formula
strings, numbers stored as text, rows and cells without their ``r``, a ``<dimension>`` left
out or wrong (openpyxl's read-only mode trusts it), the 1904 date system, hidden sheets, and
the binary .xlsb. Each as the writer writes it, hand-written where no installed writer does."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pandas as pd
import pytest

from features import contract as c
from features import ingest
from features.csv_format import CsvFormat
from features.reading import read_chunks, read_table
from features.validation import ContractError
from tests.test_xlsx_ingest import workbook_of

ONLINE_RETAIL = Path("/work/shared/data/online_retail/online_retail_transactions.csv.gz")
MAPS = ["user_id=CustomerID", "event_time=InvoiceDate", "amount=UnitPrice"]
NS = "http://schemas.openxmlformats.org/"
DAY_ZERO = {1900: dt.datetime(1899, 12, 30), 1904: dt.datetime(1904, 1, 1)}


def _letters(index: int) -> str:
    out, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def hand_written(
    path: Path,
    rows: list[list[Any]],
    *,
    dimension: str | None = "whole",
    strings: str = "shared",
    row_r: bool = True,
    cell_r: bool = True,
    date1904: bool = False,
) -> Path:
    """``rows`` (str, int, float, bool, datetime, None) as a workbook's one sheet, written
    as other programs write it: ``strings`` shared (Excel's), inline or ``str``; ``dimension``
    the ``<dimension ref>`` ('whole': the right one; None: none); rows or cells without their
    ``r`` attribute; datetimes as serials with a date style, from 1904-01-01 if ``date1904``.
    Styles and the package around the sheet are openpyxl's."""
    skeleton = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["a", dt.datetime(2010, 1, 1)])  # its styles: s="1" a date format
    book.save(skeleton)
    day_zero = DAY_ZERO[1904 if date1904 else 1900]
    shared: list[str] = []
    lines = []
    for number, row in enumerate(rows, 1):
        cells = []
        for index, value in enumerate(row):
            ref = f' r="{_letters(index)}{number}"' if cell_r else ""
            if value is None:
                cells.append("" if cell_r else "<c/>")  # without r, a cell keeps its place
            elif isinstance(value, bool):
                cells.append(f'<c{ref} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f"<c{ref}><v>{value!r}</v></c>")
            elif isinstance(value, dt.datetime):
                days = (value - day_zero) / dt.timedelta(days=1)
                cells.append(f'<c{ref} s="1"><v>{days!r}</v></c>')
            elif strings == "shared":
                shared.append(value)
                cells.append(f'<c{ref} t="s"><v>{len(shared) - 1}</v></c>')
            elif strings == "inline":
                cells.append(f'<c{ref} t="inlineStr"><is><t>{escape(value)}</t></is></c>')
            else:
                cells.append(f'<c{ref} t="str"><v>{escape(value)}</v></c>')
        lines.append((f'<row r="{number}">' if row_r else "<row>") + "".join(cells) + "</row>")
    width = max(len(row) for row in rows)
    ref = f"A1:{_letters(width - 1)}{len(rows)}" if dimension == "whole" else dimension
    sheet = (
        f'<worksheet xmlns="{NS}spreadsheetml/2006/main">'
        + (f'<dimension ref="{ref}"/>' if ref else "")
        + "<sheetData>"
        + "".join(lines)
        + "</sheetData></worksheet>"
    )
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(path, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            elif name == "xl/workbook.xml" and date1904:
                data = data.replace(b"<workbookPr />", b'<workbookPr date1904="1"/>')
            elif name == "[Content_Types].xml" and shared:
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            elif name == "xl/_rels/workbook.xml.rels" and shared:
                data = data.replace(
                    b"</Relationships>",
                    f'<Relationship Type="{NS}officeDocument/2006/relationships/sharedStrings" '
                    'Target="sharedStrings.xml" Id="rId9"/></Relationships>'.encode(),
                )
            out.writestr(name, data)
        if shared:
            items = "".join(f"<si><t>{escape(text)}</t></si>" for text in shared)
            out.writestr(
                "xl/sharedStrings.xml", f'<sst xmlns="{NS}spreadsheetml/2006/main">{items}</sst>'
            )
    return path


def _purchases() -> c.ColumnMapping:
    return c.ColumnMapping.parse(
        MAPS, default_event_type=c.PURCHASE, negative_amount_is_refund=True
    )


def _loaded(path: Path, out: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    summary = ingest.ingest_events(path, out, mapping=_purchases())
    report = summary.tables["events"]
    kept = ("rows_read", "rows_loaded", "rows_quarantined", "reasons", "notes")
    return pd.read_parquet(out / "events.parquet"), {k: report[k] for k in kept}


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and value != value:
        return None
    return value.item() if hasattr(value, "item") else value


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """1,200 online_retail rows: the CSV, its rows typed as a sheet holds them and as text
    (numbers stored as text), and what ingest loads of the CSV."""
    if not ONLINE_RETAIL.exists():
        pytest.skip("needs /work/shared/data/online_retail")
    folder = tmp_path_factory.mktemp("retail")
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", newline="") as lines:
        text = "".join(itertools.islice(lines, 1201))
    (folder / "orders.csv").write_text(text, encoding="utf-8")
    typed = pd.read_csv(io.StringIO(text), dtype={"InvoiceNo": str, "StockCode": str})
    typed["InvoiceDate"] = pd.to_datetime(typed["InvoiceDate"])
    texts = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    header = list(typed.columns)
    return {
        "folder": folder,
        "typed": typed,
        "rows": [header] + [[_plain(v) for v in row] for row in typed.itertuples(index=False)],
        "texts": [header] + [[v or None for v in row] for row in texts.itertuples(index=False)],
        "csv": _loaded(folder / "orders.csv", folder / "csv"),
    }


WRITERS = {
    "excel_shared_strings": {},
    "inline_strings": {"strings": "inline"},
    "formula_strings": {"strings": "str"},
    "numbers_stored_as_text": {"text": True},
    "dimension_A1_A1": {"dimension": "A1:A1"},  # Google Sheets' and some exporters'
    "dimension_short": {"dimension": "A1:H10"},
    "no_dimension": {"dimension": None},
    "rows_without_r": {"row_r": False},
    "cells_without_r": {"row_r": False, "cell_r": False},
}


@pytest.mark.parametrize("writer", [*WRITERS, "openpyxl_write_only", "pandas_to_excel"])
def test_a_workbook_of_another_writer_loads_what_its_csv_loads(
    retail: dict[str, Any], writer: str, tmp_path: Path
) -> None:
    """The same 1,200 rows as each writer writes them: the same events, rows, reasons and
    notes as the CSV. A dimension of A1:A1 over them read one cell (refused: no data rows),
    one of A1:H10 read 9 rows of 1,200 and said nothing."""
    path = tmp_path / "orders.xlsx"
    if writer == "openpyxl_write_only":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("Orders")
        for row in retail["rows"]:
            sheet.append(row)
        book.save(path)
    elif writer == "pandas_to_excel":
        retail["typed"].to_excel(path, index=False)
    else:
        options = dict(WRITERS[writer])
        rows = retail["texts"] if options.pop("text", False) else retail["rows"]
        hand_written(path, rows, **options)
    events, report = _loaded(path, tmp_path / "ds")
    expected_events, expected = retail["csv"]
    assert report == expected
    pd.testing.assert_frame_equal(events, expected_events)


def test_a_1904_workbook_reads_its_dates_and_its_serial_numbers_from_1904(
    home: Path, tmp_path: Path
) -> None:
    """A workbook of the 1904 date system (<workbookPr date1904="1"/>): its date cells read
    right, and a time column of numbers (a date column that lost its format) is read from
    1904-01-01, said so; read from 1899-12-30 it was 4 years and a day early, silently."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    times = [dt.datetime(2010, 12, 1, 8, 26), dt.datetime(2011, 1, 2, 14, 30)]
    serials = [(t - DAY_ZERO[1904]) / dt.timedelta(days=1) for t in times]
    header = ["CustomerID", "InvoiceDate", "UnitPrice"]
    dated = hand_written(
        tmp_path / "dated.xlsx",
        [header, [17850, times[0], 2.5], [13047, times[1], 3]],
        date1904=True,
    )
    numbers = hand_written(
        tmp_path / "numbers.xlsx",
        [header, [17850, serials[0], 2.5], [13047, serials[1], 3]],
        date1904=True,
    )
    assert read_table(numbers)["InvoiceDate"].tolist() == [
        "39051.35138888889",
        "39083.604166666664",
    ]
    args = [*[a for m in MAPS for a in ("--map", m)], "--event-type", "purchase"]
    for path in (dated, numbers):
        loaded = CliRunner().invoke(main, ["ingest", str(path), *args])
        assert loaded.exit_code == 0, loaded.output
        assert "events: 2 rows loaded of 2, 0 quarantined" in loaded.output
        events = pd.read_parquet(home / "datasets" / path.stem / "events.parquet")
        assert events[c.EVENT_TIME].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
            "2010-12-01 08:26:00",
            "2011-01-02 14:30:00",
        ]
    assert (
        "'InvoiceDate' read as a spreadsheet's serial dates, all 2 of its values (days since "
        "1904-01-01: the workbook is of the 1904 date system: 39051.35138888889 is "
        "2010-12-01 08:26:00)"
    ) in loaded.output
    assert "4 years and a day early" not in loaded.output


def test_hidden_sheets_are_not_chosen_unless_named(tmp_path: Path) -> None:
    """A visible data sheet beside a hidden lookup sheet (with cells) is read; it was
    refused as 'several sheets with cells'. Of two visible sheets with cells the refusal
    marks the hidden one; --sheet reads a hidden sheet named."""
    orders = [["CustomerID", "InvoiceDate", "UnitPrice"], [17850, dt.datetime(2010, 12, 1), 2.5]]
    lookup = [["Code", "Country"], ["UK", "United Kingdom"]]
    one = workbook_of(
        tmp_path / "one.xlsx", {"Lookup": lookup, "Orders": orders}, frozenset({"Lookup"})
    )
    assert read_table(one)["CustomerID"].tolist() == ["17850"]
    named = next(read_chunks(one, csv=CsvFormat(sheet="Lookup")))
    assert named["Country"].tolist() == ["United Kingdom"]
    two = workbook_of(
        tmp_path / "two.xlsx",
        {"Orders": orders, "Pivot": [["Country", "Total"]], "Lookup": lookup},
        frozenset({"Lookup"}),
    )
    with pytest.raises(ContractError) as refused:
        read_table(two)
    assert str(refused.value).startswith(
        f"{two}: a workbook of 3 sheets ('Orders', 'Pivot', 'Lookup' (hidden)), 2 of them "
        "visible with cells; "
    )


def test_a_chart_sheet_is_never_chosen(tmp_path: Path) -> None:
    """A data sheet beside a chart sheet (cells none) is read; it failed with AttributeError
    ('Chartsheet' object has no attribute 'iter_rows'). Named, it is refused in one line."""
    from openpyxl.chart import BarChart, Reference

    book = openpyxl.Workbook()
    orders = book.active
    orders.title = "Orders"
    for row in [["CustomerID", "InvoiceDate", "UnitPrice"], [17850, dt.datetime(2010, 12, 1), 2.5]]:
        orders.append(row)
    chart = BarChart()
    chart.add_data(Reference(orders, min_col=3, min_row=1, max_row=2))
    book.create_chartsheet("Chart").add_chart(chart)
    path = tmp_path / "charted.xlsx"
    book.save(path)
    assert read_table(path)["CustomerID"].tolist() == ["17850"]
    with pytest.raises(ContractError) as refused:
        next(read_chunks(path, csv=CsvFormat(sheet="Chart")))
    assert (
        str(refused.value)
        == f"{path}: sheet 'Chart' is a chart, no cells; its sheets: 'Orders', 'Chart'"
    )


def test_an_excel_binary_workbook_is_refused_in_one_line(tmp_path: Path) -> None:
    """.xlsb (a zip of xl/workbook.bin) has no reader here: one line saying what to save it
    as, named .xlsb or .csv (it was 'unknown file type' calling it an Excel 97-2003 .xls,
    and named .csv 'a zip archive of 3 files')."""
    binary = tmp_path / "orders.xlsb"
    with zipfile.ZipFile(binary, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
        archive.writestr("xl/worksheets/sheet1.bin", b"\x81\x01\x00")
    named_csv = tmp_path / "orders.csv"
    named_csv.write_bytes(binary.read_bytes())
    for path in (binary, named_csv):
        with pytest.raises(ContractError) as refused:
            read_table(path)
        assert str(refused.value) == (
            f"{path}: an Excel binary workbook (.xlsb): save it as .xlsx (Excel Workbook) or "
            "the sheet as CSV"
        )
