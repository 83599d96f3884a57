"""A new user's own exports of online_retail's orders (session 60's walk-through): a CSV whose
columns are named as the shop names them (`Account`, `Placed`, `Type` of `Sale` and `Refund`)
and workbooks whose amounts are numbers formatted as pounds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main

MAPS = (
    "--map", "user_id=Account", "--map", "event_time=Placed", "--map", "event_type=Type",
    "--map", "amount=Total", "--map", "order_id=Order",
)  # fmt: skip


def _orders(path: Path, first: int = 0) -> Path:
    lines = ["Order,Account,Placed,Type,Total"]
    for n in range(first, first + 12):
        lines.append(f"{536365 + n},{17850 + n % 5},2010-12-0{1 + n % 9} 08:26,Sale,{10 + n}.50")
    lines.append(f"C{536500 + first},17850,2010-12-13 09:00,Refund,4.25")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_mapped_event_types_are_shown_as_the_user_wrote_them(tmp_path: Path) -> None:
    """`--map-type purchase=Completed` was said `purchase=completed 11,415 rows` in the
    summary, `datasets` and report.json (types are matched in lower case, and so stored):
    not what the user wrote, nor the file. They are now shown as written; an append that
    writes the same map in another case reads as the dataset's (not refused as another)."""
    home = ("--home", str(tmp_path / "ws"))
    ingest = (*home, "ingest", "--dataset", "shop", *MAPS, "--map-type", "purchase=Sale")
    done = _invoke(*ingest, "--map-type", "refund=REFUND", str(_orders(tmp_path / "a.csv")))
    assert done.exit_code == 0, done.output
    said = "read as the contract's event types (--map-type): purchase=Sale 12 rows"
    assert said in done.output and "purchase=sale" not in done.output
    listed = _invoke(*home, "datasets")
    assert said in listed.output, listed.output
    report = json.loads((tmp_path / "ws" / "datasets" / "shop" / "report.json").read_text())
    assert report["batches"][-1]["event_types"] == {"Sale": "purchase"}
    later = _orders(tmp_path / "b.csv", first=20)
    appended = _invoke(*home, "ingest", "--dataset", "shop", *MAPS, "--append",
                       "--map-type", "purchase=SALE", str(later))  # fmt: skip
    assert appended.exit_code == 0, appended.output
    assert "purchase=SALE 12 rows" in appended.output


def _workbook(path: Path, amount_format: str) -> Path:
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order", "Account", "Placed", "Type", "Total"])
    for n in range(12):
        placed = dt.datetime(2010, 12, 1 + n % 9, 8, 26)
        sheet.append([f"{536365 + n}", 17850 + n % 5, placed, "Sale", 1000 + n + 0.5])
    sheet.append(["C536500", 17850, dt.datetime(2010, 12, 13, 9), "Refund", -4.25])
    for (cell,) in sheet.iter_rows(min_row=2, min_col=5, max_col=5):
        cell.number_format = amount_format
    book.save(path)
    return path


def test_an_xlsx_of_amounts_formatted_as_pounds_records_gbp(tmp_path: Path) -> None:
    """A workbook whose amounts are numbers formatted `"£"#,##0.00` (or Excel's UK currency
    format `[$£-809]#,##0.00`) was read as bare numbers and its dataset recorded no currency,
    while the CSV Excel saves of it (`£1,000.50`) records GBP: the cells' number formats
    were not read. A number cell now carries its format's sign or code, as that CSV does."""
    import pandas as pd

    from serving.answers import dataset_currency

    accounting = '_-[$£-809]* #,##0.00_-;-[$£-809]* #,##0.00_-;_-[$£-809]* "-"??_-;_-@_-'
    for n, amount_format in enumerate(('"£"#,##0.00', "[$£-809]#,##0.00", accounting)):
        book = _workbook(tmp_path / f"orders{n}.xlsx", amount_format)
        ws = tmp_path / f"ws{n}"
        done = _invoke("--home", str(ws), "ingest", "--dataset", "shop", *MAPS,
                       "--map-type", "purchase=Sale", "--negative-is-refund", str(book))  # fmt: skip
        assert done.exit_code == 0, done.output
        said = "    amounts in 'Total' written with £: read as GBP, the dataset's currency"
        assert said in done.output.splitlines(), amount_format
        events = ws / "datasets" / "shop" / "events.parquet"
        assert dataset_currency(events) == "GBP"
        refund = pd.read_parquet(events).query("event_type == 'refund'")
        assert refund["amount"].tolist() == [4.25]
    from features.xlsx_reading import format_mark

    # a format's own code, none for percentages, dates or a bare locale
    assert format_mark("#,##0.00 [$EUR]") == "EUR" and format_mark('"USD "0.00') == "USD"
    assert format_mark("0.00%") is format_mark("dd/mm/yyyy hh:mm") is None
    assert format_mark("[$-409]#,##0.00") is format_mark("General") is None


def test_a_dataset_whose_amounts_have_no_currency_is_told_how_to_record_one(
    tmp_path: Path,
) -> None:
    """Bare amounts (a CSV of `10.50`, an .xlsx of unformatted numbers, a Parquet export)
    loaded with no word: lists then said "no currency recorded" and nothing said why nor that
    `--currency GBP` records it. The summary and `datasets` now say it, with the options, once
    a dataset; with --currency, or amounts written `£10.50`, nothing is said."""
    home = ("--home", str(tmp_path / "ws"))
    orders = _orders(tmp_path / "a.csv")
    ingest = (*home, "ingest", *MAPS, "--map-type", "purchase=Sale")
    said = (
        "    amounts in 'Total' have no currency (13 purchase and refund rows: no sign or code "
        "written on them, no currency column): lists, the report and the API show them as bare "
        "numbers ('no currency recorded'); to record it, ingest the file again with --replace "
        "--currency CODE (an ISO 4217 code, e.g. --currency GBP), or --map currency=COLUMN for "
        "a column of codes"
    )
    bare = _invoke(*ingest, "--dataset", "bare", str(orders))
    assert bare.exit_code == 0, bare.output
    assert said in bare.output.splitlines()
    assert said in _invoke(*home, "datasets").output.splitlines()
    later = _orders(tmp_path / "b.csv", first=20)  # said once a dataset, not on each append
    appended = _invoke(*ingest, "--dataset", "bare", "--append", str(later))
    assert appended.exit_code == 0 and "have no currency" not in appended.output, appended.output
    given = _invoke(*ingest, "--dataset", "bare", "--replace", "--currency", "GBP", str(orders))
    assert given.exit_code == 0, given.output
    assert "have no currency" not in given.output
    pounds = tmp_path / "pounds.csv"
    pounds.write_text(
        orders.read_text().replace(",Sale,", ",Sale,£").replace(",Refund,", ",Refund,£")
    )
    signed = _invoke(*ingest, "--dataset", "pounds", str(pounds))
    assert signed.exit_code == 0, signed.output
    assert "have no currency" not in signed.output and "read as GBP" in signed.output


def test_datasets_says_amounts_have_no_currency_from_what_is_recorded(tmp_path: Path) -> None:
    """A dataset ingested before ingest said its amounts had no currency said nothing of it in
    `datasets` until its next append, and one appended to after it was said said nothing
    again (the listing shows the last ingest's notes). `datasets` now says it of both, read
    from the report and the events' Parquet footer (no rows: hence no count of them), with
    the way to record one; once recorded (--replace --currency GBP, pasted), nothing."""
    home = ("--home", str(tmp_path / "ws"))
    ingest = (*home, "ingest", *MAPS, "--map-type", "purchase=Sale", "--dataset", "bare")
    orders = _orders(tmp_path / "a.csv")
    assert _invoke(*ingest, str(orders)).exit_code == 0
    path = tmp_path / "ws" / "datasets" / "bare" / "report.json"
    report = json.loads(path.read_text())  # as ingested before 2026-12-07: no such note
    del report["tables"]["events"]["notes"]["amounts_without_currency"]
    del report["batches"][-1]["amounts_without_currency"]
    path.write_text(json.dumps(report))
    said = (
        "    amounts in 'Total' have no currency (no sign or code written on them, no currency "
        "column): lists, the report and the API show them as bare numbers ('no currency "
        "recorded'); to record it, {again} (an ISO 4217 code, e.g. --currency GBP), or --map "
        "currency=COLUMN for a column of codes"
    )
    listed = _invoke(*home, "datasets").output.splitlines()
    assert said.format(again="ingest the file again with --replace --currency CODE") in listed
    listed = json.loads(_invoke(*home, "--json", "datasets").output)["datasets"][0]
    assert listed["amounts_without_currency"]["column"] == "Total"
    given = _invoke(*ingest, "--replace", "--currency", "GBP", str(orders))  # as told
    assert given.exit_code == 0, given.output
    assert "have no currency" not in _invoke(*home, "datasets").output
    # said by its first ingest, then appended to: the append's notes do not repeat it
    later = (*home, "ingest", *MAPS, "--map-type", "purchase=Sale", "--dataset", "later")
    assert _invoke(*later, str(orders)).exit_code == 0
    appended = _invoke(*later, "--append", str(_orders(tmp_path / "b.csv", first=20)))
    assert appended.exit_code == 0 and "have no currency" not in appended.output
    again = (
        "ingest the dataset's files again with --currency CODE (the first with --replace, then "
        "--append the later ones)"
    )
    assert said.format(again=again) in _invoke(*home, "datasets").output.splitlines()


def test_orders_sent_again_as_excels_csv_are_already_ingested(tmp_path: Path) -> None:
    """A workbook's unit price formatted as pounds reads `£2.1` (the number as Excel's General
    writes it, with its format's sign), where Excel's CSV of the sheet writes `£2.10` and
    `£1,000.50`: the same orders sent again as that CSV loaded again (363 of my 4,146 orders,
    their revenue counted twice), as an extra column was compared as written unless a bare
    decimal. A number with a currency mark or thousands commas is now compared by its value."""
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order", "Account", "Placed", "Type", "Unit Price", "Total"])
    rows = []
    for n in range(12):
        placed = dt.datetime(2010, 12, 1 + n % 9, 8, 26 + n)
        price, total = (2.1, 1000.5) if n % 2 else (0.85 + n, 10.0 + n)
        sheet.append([f"{536365 + n}", 17850 + n % 5, placed, "Sale", price, total])
        money = f'"£{price:,.2f}","£{total:,.2f}"'  # quoted, as Excel quotes £1,000.50
        rows.append(f"{536365 + n},{17850 + n % 5},{placed:%d/%m/%Y %H:%M},Sale,{money}")
    for row in sheet.iter_rows(min_row=2, min_col=5):
        for cell in row:
            cell.number_format = '"£"#,##0.00'
    book.save(tmp_path / "orders.xlsx")
    again = tmp_path / "orders.csv"  # as Excel saves the sheet: its formats' text
    again.write_text("Order,Account,Placed,Type,Unit Price,Total\n" + "\n".join(rows) + "\n")
    home = ("--home", str(tmp_path / "ws"))
    ingest = (*home, "ingest", *MAPS, "--map-type", "purchase=Sale", "--dataset", "shop")
    done = _invoke(*ingest, str(tmp_path / "orders.xlsx"))
    assert done.exit_code == 0, done.output
    appended = _invoke(*ingest, "--append", "--date-order", "dayfirst", str(again))
    assert appended.exit_code == 0, appended.output
    assert "0 rows loaded of 12, 12 quarantined (12 already_ingested" in appended.output, (
        appended.output
    )
