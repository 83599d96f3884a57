"""Purchase logs given as an Excel workbook (.xlsx): read cell by cell as the text a CSV of
the sheet holds, so the CSV path's rules load them (features/xlsx_reading.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from features import contract as c
from features import ingest
from features.csv_format import CsvFormat
from features.reading import read_chunks, read_table
from features.validation import ContractError

ONLINE_RETAIL = Path("/work/shared/data/online_retail/online_retail_transactions.csv.gz")
MAPS = ["user_id=CustomerID", "event_time=InvoiceDate", "amount=UnitPrice"]


def _purchases() -> c.ColumnMapping:
    return c.ColumnMapping.parse(
        MAPS, default_event_type=c.PURCHASE, negative_amount_is_refund=True
    )


def _sample_rows(count: int) -> str:
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", newline="") as lines:
        return "".join(itertools.islice(lines, count + 1))


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="needs /work/shared/data/online_retail")
def test_an_xlsx_of_online_retail_loads_what_its_csv_loads(tmp_path: Path) -> None:
    """4,000 rows of online_retail saved as a workbook with typed cells (dates, numbers, ids
    as numbers with blanks for guests): the same events and the same quarantine as the CSV."""
    text = _sample_rows(4000)
    (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
    typed = pd.read_csv(io.StringIO(text), dtype={"InvoiceNo": str, "StockCode": str})
    typed["InvoiceDate"] = pd.to_datetime(typed["InvoiceDate"])
    assert typed["CustomerID"].isna().any() and typed["CustomerID"].dtype == "float64"
    typed.to_excel(tmp_path / "orders.xlsx", index=False, sheet_name="Online Retail")
    loaded, reports = {}, {}
    for kind in ("csv", "xlsx"):
        summary = ingest.ingest_events(
            tmp_path / f"orders.{kind}", tmp_path / kind, mapping=_purchases()
        )
        loaded[kind] = pd.read_parquet(tmp_path / kind / "events.parquet")
        reports[kind] = summary.tables["events"]
    assert len(loaded["csv"]) > 2500
    assert loaded["xlsx"][c.USER_ID].str.fullmatch(r"[0-9]{5}").all()  # 17850, never 17850.0
    pd.testing.assert_frame_equal(loaded["xlsx"], loaded["csv"])
    for key in ("rows_read", "rows_loaded", "rows_quarantined", "reasons", "notes"):
        assert reports["xlsx"][key] == reports["csv"][key], key
    assert reports["csv"]["reasons"]  # guests and repeats: the rules were used


def workbook_of(
    path: Path, sheets: dict[str, list[list[object]]], hidden: frozenset[str] = frozenset()
) -> Path:
    """An .xlsx at ``path`` of these sheets (``hidden``: those hidden), as openpyxl writes it."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


HEADER = ["CustomerID", "InvoiceDate", "UnitPrice", "Note"]


def test_cells_read_as_the_text_a_csv_of_the_sheet_holds(tmp_path: Path) -> None:
    """Title rows above the header, a blank row, numbers, dates and a totals row: the rows
    under the header, each cell as text; a cell past the header's columns is extra_fields."""
    path = workbook_of(
        tmp_path / "report.xlsx",
        {
            "Orders": [
                ["Sales report, December 2010"],
                [],
                HEADER,
                [17850, dt.datetime(2010, 12, 1, 8, 26), 2.55, "ok"],
                [13047.0, dt.datetime(2010, 12, 1, 8, 34, 0, 250_000), 3, None],
                [],
                ["u-7", dt.date(2010, 12, 2), -4.5, True, "stray"],
                ["Total", None, 1.05],
            ]
        },
    )
    frame = read_table(path)
    assert frame.columns.tolist() == HEADER
    assert frame.to_dict("list") == {
        "CustomerID": ["17850", "13047", "", "u-7", "Total"],
        "InvoiceDate": [
            "2010-12-01 08:26:00",
            "2010-12-01 08:34:00.250",
            "",
            "2010-12-02 00:00:00",
            "",
        ],
        "UnitPrice": ["2.55", "3", "", "-4.5", "1.05"],
        "Note": ["ok", "", "", "TRUE", ""],
    }
    assert frame.attrs["ragged_rows"] == {3: "extra_fields"}
    summary = ingest.ingest_events(path, tmp_path / "ds", mapping=_purchases())
    reasons = summary.tables["events"]["reasons"]
    assert reasons == {"empty_row": 1, "extra_fields": 1, "totals_row": 1}
    quarantine = pd.read_csv(tmp_path / "ds" / "quarantine" / "events.csv", dtype=str)
    # source_row is the data row under the header (Excel's row less the header's, 3)
    assert quarantine.set_index(c.SOURCE_ROW)[c.REASON].to_dict() == {
        "3": "empty_row",
        "4": "extra_fields",
        "5": "totals_row",
    }


def test_a_workbook_of_several_sheets_is_read_when_one_has_cells_else_names_them(
    tmp_path: Path,
) -> None:
    rows = [HEADER, [17850, dt.datetime(2010, 12, 1), 2.5, ""]]
    one = workbook_of(tmp_path / "one.xlsx", {"Sheet1": [], "Orders": rows, "Sheet3": []})
    assert read_table(one)["CustomerID"].tolist() == ["17850"]
    two = workbook_of(tmp_path / "two.xlsx", {"Orders": rows, "Pivot": [["Country", "Total"]]})
    with pytest.raises(ContractError) as refused:
        read_table(two)
    assert str(refused.value).startswith(
        f"{two}: a workbook of 2 sheets ('Orders', 'Pivot'), 2 of them with cells; "
    )
    chosen = next(read_chunks(two, csv=CsvFormat(sheet="Orders")))
    assert chosen["CustomerID"].tolist() == ["17850"]
    with pytest.raises(
        ContractError, match=r"has no sheet 'Order' \(--sheet\); its sheets: 'Orders', 'Pivot'"
    ):
        next(read_chunks(two, csv=CsvFormat(sheet="Order")))


def test_a_formula_without_its_calculated_value_is_refused_naming_the_cell(
    tmp_path: Path,
) -> None:
    """openpyxl (a script) writes formulas without their values: their cells read as blank,
    so a column of =B2*C2 totals loaded as nothing at all."""
    rows = [HEADER, [17850, dt.datetime(2010, 12, 1), "=2*1.25", ""]]
    path = workbook_of(tmp_path / "formulas.xlsx", {"Orders": rows})
    with pytest.raises(ContractError) as refused:
        read_table(path)
    assert str(refused.value).startswith(
        f"{path}: sheet 'Orders', cell C2 holds a formula whose value the workbook does not hold"
    )
    # as Excel saves it, with the value it calculated: the value is read
    calculated = tmp_path / "calculated.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(calculated, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, done = re.subn(
                    rb"<f>2\*1.25</f>(?:<v\s*/>|<v></v>)?", b"<f>2*1.25</f><v>2.5</v>", data
                )
                assert done == 1
            target.writestr(item, data)
    assert read_table(calculated)["UnitPrice"].tolist() == ["2.5"]


def test_a_workbook_or_a_zipped_csv_named_csv_is_read(tmp_path: Path) -> None:
    rows = [HEADER, [17850, dt.datetime(2010, 12, 1), 2.5, ""]]
    workbook = tmp_path / "export.csv"
    workbook_of(tmp_path / "export.xlsx", {"Orders": rows}).rename(workbook)
    assert read_table(workbook)["InvoiceDate"].tolist() == ["2010-12-01 00:00:00"]
    zipped = tmp_path / "orders.csv"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("orders.csv", "CustomerID,InvoiceDate,UnitPrice\n17850,2010-12-01,2.5\n")
    assert read_table(zipped)["UnitPrice"].tolist() == ["2.5"]


def test_an_old_excel_workbook_is_refused_in_one_line(tmp_path: Path) -> None:
    old = tmp_path / "orders.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    named_csv = tmp_path / "orders.csv"
    named_csv.write_bytes(old.read_bytes())
    for path in (old, named_csv):
        with pytest.raises(ContractError) as refused:
            read_table(path)
        assert (
            "an Excel 97-2003 .xls workbook: save it as .xlsx (Excel Workbook) or the sheet as CSV"
            in str(refused.value)
        )
        assert "\n" not in str(refused.value)


def test_ingest_sheet_option_chooses_the_sheet_of_several(home: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lifecycle.cli import main

    rows = [HEADER, [17850, dt.datetime(2010, 12, 1), 2.5, ""]]
    path = workbook_of(tmp_path / "orders.xlsx", {"Orders": rows, "Pivot": [["a", "b"]]})
    args = [
        "ingest",
        str(path),
        *[a for m in MAPS for a in ("--map", m)],
        "--event-type",
        "purchase",
    ]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0 and "--sheet NAME (e.g. --sheet 'Orders')" in refused.output
    loaded = CliRunner().invoke(main, [*args, "--sheet", "Orders"])
    assert loaded.exit_code == 0, loaded.output
    assert "dataset 'orders', named after orders.xlsx" in loaded.output
    assert "events: 1 row loaded of 1, 0 quarantined" in loaded.output


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="needs /work/shared/data/online_retail")
def test_an_ingest_reads_a_workbook_once_for_every_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeats make ingest pass over the file twice: a workbook's sheet (openpyxl's read of
    online_retail: 52 s) is read once and its rows set aside for the second pass, also when
    it is named .csv; the events and the quarantine are the CSV's, and nothing is left over."""
    text = _sample_rows(3000)
    (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
    typed = pd.read_csv(io.StringIO(text), dtype={"InvoiceNo": str, "StockCode": str})
    typed["InvoiceDate"] = pd.to_datetime(typed["InvoiceDate"])
    typed.to_excel(tmp_path / "orders.xlsx", index=False, sheet_name="Online Retail")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "orders.csv").write_bytes((tmp_path / "orders.xlsx").read_bytes())
    opened = []
    load_workbook = openpyxl.load_workbook

    def counted(*args: object, **kwargs: object) -> object:
        opened.append(args)
        return load_workbook(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", counted)
    loaded, reports = {}, {}
    for kind, path in {
        "csv": tmp_path / "orders.csv",
        "xlsx": tmp_path / "orders.xlsx",
        "named_csv": tmp_path / "export" / "orders.csv",
    }.items():
        opened.clear()
        summary = ingest.ingest_events(path, tmp_path / kind, mapping=_purchases(), chunk_rows=700)
        # a workbook: opened for its header and first rows (a missing column refused from
        # them, features.column_checks.refuse_from_first_lines), then read once for every pass
        assert len(opened) == (0 if kind == "csv" else 2), kind
        loaded[kind] = pd.read_parquet(tmp_path / kind / "events.parquet")
        reports[kind] = summary.tables["events"]
        assert not (tmp_path / kind / ".work").exists()
    assert reports["csv"]["reasons"]["duplicate_row"] > 0  # the second pass was made
    # refused after its first pass (too many guest rows): nothing of it is left on disk
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    opened.clear()
    with pytest.raises(ContractError, match="rows are bad"):
        ingest.ingest_events(
            tmp_path / "orders.xlsx", tmp_path / "xlsx", mapping=_purchases(), max_bad_fraction=0.01
        )
    assert len(opened) == 2  # its first rows, then the sheet for its first pass
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    for kind in ("xlsx", "named_csv"):
        pd.testing.assert_frame_equal(loaded[kind], loaded["csv"])
        for key in ("rows_read", "rows_loaded", "rows_quarantined", "reasons", "notes"):
            assert reports[kind][key] == reports["csv"][key], (kind, key)


def test_serial_dates_in_a_csv_load_said_in_the_summary_and_mixed_ones_are_quarantined(
    home: Path, tmp_path: Path
) -> None:
    """A CSV of a sheet whose date column lost its format (40544.5 for 2011-01-01 12:00) was
    refused ('format the column as dates'): it loads, a summary line saying the column was
    read as serial dates of the 1900 system and what a 1904 sheet would do. Serials among
    dates are no time written as the rest are: unparseable_event_time each (mostly so:
    refused, naming the column), as before."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    header = "CustomerID,InvoiceDate,UnitPrice\n"
    serial = tmp_path / "serial.csv"
    serial.write_text(header + "17850,40544.5,2.5\n13047,40545.604166666664,3\n17850,40546,1\n")
    args = [*[a for m in MAPS for a in ("--map", m)], "--event-type", "purchase"]
    loaded = CliRunner().invoke(main, ["ingest", str(serial), *args])
    assert loaded.exit_code == 0, loaded.output
    assert "events: 3 rows loaded of 3, 0 quarantined" in loaded.output
    assert (
        "'InvoiceDate' read as a spreadsheet's serial dates, all 3 of its values (days since "
        "1899-12-30, Excel's 1900 date system: 40544.5 is 2011-01-01 12:00:00); a sheet of the "
        "1904 system (old Mac Excel) would read 4 years and a day early"
    ) in loaded.output
    events = pd.read_parquet(home / "datasets" / "serial" / "events.parquet")
    assert events[c.EVENT_TIME].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
        "2011-01-01 12:00:00",
        "2011-01-02 14:30:00",
        "2011-01-03 00:00:00",
    ]
    mixed = tmp_path / "mixed.csv"
    dates = "".join(f"17850,2011-01-{day:02d} 10:00,2.5\n" for day in range(2, 9))
    mixed.write_text(header + "13047,40544.5,3\n" + dates)
    loaded = CliRunner().invoke(main, ["ingest", str(mixed), *args])
    assert loaded.exit_code == 0, loaded.output
    assert "events: 7 rows loaded of 8, 1 quarantined (1 unparseable_event_time" in loaded.output
    assert "serial dates" not in loaded.output
    mostly = tmp_path / "mostly.csv"
    mostly.write_text(header + "13047,40544.5,3\n17850,40545,3\n17850,2011-01-04 10:00,2.5\n")
    refused = CliRunner().invoke(main, ["ingest", str(mostly), *args])
    assert refused.exit_code != 0
    assert "column 'InvoiceDate' should hold timestamps" in refused.output
    assert "2 of 3 filled values do not parse (e.g. row 1 has InvoiceDate='40544.5')" in (
        refused.output
    )


def test_a_users_workbook_of_several_sheets_has_its_own_option(home: Path, tmp_path: Path) -> None:
    """A users file given as a workbook of several sheets was refused naming --sheet, which
    chooses the events file's sheet (given, it was not the users file's): --users-sheet
    chooses the users file's, named in its refusal, and recorded for appends."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    rows = [HEADER, [17850, dt.datetime(2010, 12, 1), 2.5, ""]]
    events = workbook_of(tmp_path / "orders.xlsx", {"Orders": rows, "Pivot": [["a", "b"]]})
    users = workbook_of(
        tmp_path / "customers.xlsx",
        {
            "Customers": [["user_id", "channel"], [17850, "web"]],
            "Notes": [["exported by", "crm"]],
        },
    )
    args = ["ingest", str(events), "--users", str(users), *[a for m in MAPS for a in ("--map", m)]]
    args += ["--event-type", "purchase", "--sheet", "Orders"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0
    assert (
        f"{users}: a workbook of 2 sheets ('Customers', 'Notes'), 2 of them with cells; name the "
        "one to read with --users-sheet NAME (e.g. --users-sheet 'Customers')"
    ) in " ".join(refused.output.split())
    missing = CliRunner().invoke(main, [*args, "--users-sheet", "Users"])
    assert "has no sheet 'Users' (--users-sheet); its sheets: 'Customers', 'Notes'" in (
        " ".join(missing.output.split())
    )
    loaded = CliRunner().invoke(main, [*args, "--users-sheet", "Customers"])
    assert loaded.exit_code == 0, loaded.output
    assert "users: 1 row loaded of 1, 0 quarantined" in loaded.output
    users_table = pd.read_parquet(home / "datasets" / "orders" / "users.parquet")
    assert users_table[c.USER_ID].tolist() == ["17850"]
    report = (home / "datasets" / "orders" / "report.json").read_text()
    assert '"users_sheet": "Customers"' in report and '"sheet": "Orders"' in report


def test_blank_rows_under_the_data_are_skipped_and_said_not_quarantined(
    home: Path, tmp_path: Path
) -> None:
    """A sheet whose rows were once formatted or emptied below its data (its <dimension>
    A1:H2301 over 1,200 rows, as Excel keeps a column's format or cleared cells): each such
    row was quarantined as `empty_row` and counted as read ("1,200 rows loaded of 2,300,
    1,100 quarantined"). They are skipped and said; a blank row with data under it is
    still `empty_row`, at its source_row."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for i in range(1_200):
        sheet.append([17850 + i % 40, dt.datetime(2010, 12, 1) + dt.timedelta(hours=i), 2.5])
    sheet.insert_rows(601)  # one blank row between the data: Excel row 601, source_row 600
    bold = openpyxl.styles.Font(bold=True)
    for row in range(1_203, 2_203):  # formatted, no value, across 8 columns
        for column in range(1, 9):
            sheet.cell(row=row, column=column).font = bold
    for row in range(2_203, 2_302):  # cleared: empty text, or spaces
        sheet.cell(row=row, column=1).value = "" if row % 2 else "  "
    path = tmp_path / "orders.xlsx"
    book.save(path)
    assert (
        'dimension ref="A1:H2301"'
        in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    )
    frames = list(read_chunks(path, chunk_rows=500))  # the blank run crosses a frame's end
    assert sum(len(frame) for frame in frames) == 1_201
    assert frames[-1].attrs["blank_rows_skipped"] == 1_099
    args = [
        "ingest",
        str(path),
        *[a for m in MAPS for a in ("--map", m)],
        "--event-type",
        "purchase",
    ]
    loaded = CliRunner().invoke(main, args)
    assert loaded.exit_code == 0, loaded.output
    assert "events: 1,200 rows loaded of 1,201, 1 quarantined (1 empty_row," in loaded.output
    assert (
        "    1,099 blank rows under the last row of data skipped (every cell empty: a sheet's "
        "rows once formatted or emptied, the ',,,' lines of its CSV): not rows, none quarantined"
    ) in loaded.output.splitlines()
    quarantine = pd.read_csv(home / "datasets" / "orders" / "quarantine" / "events.csv", dtype=str)
    assert quarantine.set_index(c.SOURCE_ROW)[c.REASON].to_dict() == {"600": "empty_row"}


def test_a_time_column_of_whole_serials_each_once_is_said_to_read_as_ids(
    home: Path, tmp_path: Path
) -> None:
    """An order number column (40512..41000) mapped as the time by mistake loaded as 489 days
    from 2010-11-30 to 2012-04-01, one order each, said only as "read as a spreadsheet's
    serial dates" beside the file's real dates. Whole serials each on one row (20 or more)
    are now said to read as an order number or id; a sheet's date column saved unformatted,
    whose days repeat across orders, is read as before with no such line."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    header = "OrderNo,OrderDate,CustomerID,UnitPrice\n"
    rows = "".join(
        f"{number},{40546 + i // 4},{17850 + i % 30},2.5\n"
        for i, number in enumerate(range(40512, 41001))
    )
    path = tmp_path / "orders.csv"
    path.write_text(header + rows)
    args = ["--map", "user_id=CustomerID", "--map", "amount=UnitPrice", "--event-type", "purchase"]
    mistaken = CliRunner().invoke(main, ["ingest", str(path), "--map", "event_time=OrderNo", *args])
    assert mistaken.exit_code == 0, mistaken.output
    assert "events: 489 rows loaded of 489, 0 quarantined" in mistaken.output
    assert (
        "    'OrderNo': its 489 values are whole numbers, each on its own row, read as 489 days "
        "from 2010-11-30 to 2012-04-01, every day between, as an order number or id reads, "
        "where a sheet's dates repeat a day across rows: if it is not the time, ingest again "
        "with --map event_time=<the column of dates>"
    ) in mistaken.output.splitlines()
    report = (home / "datasets" / "orders" / "report.json").read_text()
    assert '"each_once": {' in report
    dates = CliRunner().invoke(
        main, ["ingest", str(path), "--map", "event_time=OrderDate", *args, "--replace"]
    )
    assert dates.exit_code == 0, dates.output
    assert "'OrderDate' read as a spreadsheet's serial dates, all 489 of its values" in dates.output
    assert "each on its own row" not in dates.output


@pytest.mark.parametrize("zone", ["Europe/London", "Asia/Tokyo"])
def test_whole_serials_each_once_are_said_to_read_as_ids_in_the_zone_they_were_read_in(
    home: Path, tmp_path: Path, zone: str
) -> None:
    """Read in a zone with summer time (Europe/London), the same 489 order numbers are local
    midnights at two UTC clocks, so the line was not said; read east of UTC (Asia/Tokyo) it
    named the days a day early (from 2010-11-29). Days and clocks are the zone's wall time."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    rows = "".join(
        f"{number},{17850 + i % 30},2.5\n" for i, number in enumerate(range(40512, 41001))
    )
    path = tmp_path / "orders.csv"
    path.write_text("OrderNo,CustomerID,UnitPrice\n" + rows)
    args = [
        "--map",
        "user_id=CustomerID",
        "--map",
        "amount=UnitPrice",
        "--map",
        "event_time=OrderNo",
    ]
    done = CliRunner().invoke(
        main, ["ingest", str(path), *args, "--event-type", "purchase", "--timezone", zone]
    )
    assert done.exit_code == 0, done.output
    assert (
        "    'OrderNo': its 489 values are whole numbers, each on its own row, read as 489 days "
        "from 2010-11-30 to 2012-04-01, every day between,"
    ) in done.output, done.output
