"""Line-item exports (Shopify's orders export): one row per line item, the order's customer,
date and total on its first row only. Its later lines are read as lines of an order already
read, never quarantined as 96% missing_event_time, and each order counts once."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from features import contract as c
from features import ingest
from features.read_words import repeated_totals_line
from lifecycle.cli import main

HEADER = (
    "Name,Email,Financial Status,Paid at,Currency,Subtotal,Shipping,Taxes,Total,"
    "Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,"
    "Refunded Amount,Id\n"
)
# four orders as Shopify writes them: #1001 of four lines, #1002 of one, #1003 a guest's
# (no Email) of two lines, #1004 refunded, of two lines; later lines hold only Name and items
SHOPIFY = HEADER + (
    "#1001,a@example.com,paid,2011-01-03 08:26:00 +0000,GBP,29.10,4.95,4.85,34.05,0.00,"
    "2011-01-03 08:26:00 +0000,6,WHITE HANGING HEART T-LIGHT HOLDER,2.55,85123A,0.00,4501\n"
    "#1001,,,,,,,,,,,6,WHITE METAL LANTERN,3.39,71053,,\n"
    "#1001,,,,,,,,,,,2,RED WOOLLY HOTTIE,0.00,84029E,,\n"
    "#1001,,,,,,,,,,,3,PAPER CHAIN KIT,2.95,22086,,\n"
    "#1002,b@example.com,paid,2011-01-04 09:00:00 +0000,GBP,15.30,4.95,2.55,20.25,0.00,"
    "2011-01-04 09:00:00 +0000,6,GLASS STAR FROSTED T-LIGHT HOLDER,2.55,21730,0.00,4502\n"
    "#1003,,paid,2011-01-05 10:00:00 +0000,GBP,20.00,0.00,3.33,20.00,0.00,"
    "2011-01-05 10:00:00 +0000,2,JUMBO BAG,5.00,85099B,0.00,4503\n"
    "#1003,,,,,,,,,,,2,LUNCH BAG,5.00,20725,,\n"
    "#1004,a@example.com,refunded,2011-02-01 11:00:00 +0000,GBP,40.00,0.00,6.67,40.00,0.00,"
    "2011-02-01 11:00:00 +0000,4,ALARM CLOCK,7.50,22727,40.00,4504\n"
    "#1004,,,,,,,,,,,1,DOORMAT,10.00,48194,,\n"
)
MAPS = ["--map", "user_id=Email", "--map", "event_time=Created at", "--event-type", "purchase"]


def test_a_shopify_orders_export_counts_each_order_once_with_its_total(
    home: Path, tmp_path: Path
) -> None:
    export = tmp_path / "orders_export.csv"
    export.write_text(SHOPIFY)
    # the first refusal names the order's Total as the amount, not a line's price
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert first.exit_code == 1
    assert "a log of purchases only (user, time, amount: --map amount=Total)" in first.stderr
    # mapped as told, without the order column: the later lines were missing_event_time
    # (5 of 9 rows), now the refusal names the column that reads them
    args = ["ingest", str(export), *MAPS, "--map", "amount=Total", "--dataset", "shop"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1].endswith(
        "first bad row 2: missing_event_time. Is this the right file and mapping? 5 rows "
        "without a user id or a time repeat the row above's 'Name': the line items of an "
        "order whose customer, date and total are on its first row only (a line-item export, "
        "as Shopify's orders export): --map order_id=Name reads them as lines of their order"
    )
    done = CliRunner().invoke(main, [*args, "--map", "order_id=Name"])
    assert done.exit_code == 0, done.output
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.ORDER_ID].tolist() == ["#1001", "#1002", "#1004"]
    assert events[c.USER_ID].tolist() == ["a@example.com", "b@example.com", "a@example.com"]
    assert events[c.AMOUNT].tolist() == [34.05, 20.25, 40.0]  # each order's Total, once
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    table = report["tables"]["events"]
    assert table["rows_loaded"] == 3
    assert table["reasons"] == {"line_item_of_order": 5, "missing_user_id": 1}
    assert table["notes"]["line_items_of_orders"] == {
        "column": "Name",
        "orders": 3,
        "set_aside": 5,
        "filled": 0,
        "amount": "Total",
        "without_user": 5,
        "without_time": 5,
    }
    assert table["notes"]["rows_without_user"]["rows"] == 1  # the guest's order, once
    assert (
        "    5 line_item_of_order rows: line items of 3 orders read on an earlier row of the "
        "same 'Name' (customer, time and amount on the order's first row only, as Shopify's "
        "orders export writes them): each order counted once, with its 'Total'; not counted "
        "as bad rows"
    ) in done.output.splitlines()


def test_one_line_item_and_one_guest_order_read_in_the_singular(home: Path, tmp_path: Path) -> None:
    # an export of one order's second line and one guest order said "1 line_item_of_order
    # rows" and "1 orders (1 row) had no user id": counts read as any count does
    export = tmp_path / "orders_export.csv"
    export.write_text("".join(SHOPIFY.splitlines(keepends=True)[i] for i in (0, 5, 6, 7)))
    args = ["ingest", str(export), *MAPS, "--map", "amount=Total", "--map", "order_id=Name"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert (
        "    1 line_item_of_order row: line items of 1 order read on an earlier row of the "
        "same 'Name'"
    ) in done.output
    assert "1 order (1 row) had no user id (guest orders): 20 of purchases" in done.output
    line = repeated_totals_line(
        {"by": "", "rows": 1, "column": "order_total", "orders": 1, "of": 1, "guest_rows": 0}
    )
    assert line.startswith("    1 line_item_of_order row: 'order_total' repeats one amount")


def test_line_items_with_their_own_amount_join_their_order_across_chunks(tmp_path: Path) -> None:
    # a line's price mapped as the amount: each later line takes its order's customer and
    # time and is summed into it (one order id and day), in any chunk size
    export = tmp_path / "orders_export.csv"
    export.write_text(SHOPIFY)
    mapping = c.ColumnMapping.parse(
        ["user_id=Email", "event_time=Created at", "amount=Lineitem price", "order_id=Name"],
        default_event_type=c.PURCHASE,
    )
    loaded = []
    for chunk_rows in (1, 2, 100):
        folder = tmp_path / f"shop{chunk_rows}"
        summary = ingest.ingest_events(export, folder, mapping=mapping, chunk_rows=chunk_rows)
        events = pd.read_parquet(folder / "events.parquet")
        loaded.append(events)
        by_order = events.groupby(c.ORDER_ID)[c.AMOUNT].sum().round(2).to_dict()
        assert by_order == {"#1001": 8.89, "#1002": 2.55, "#1004": 17.5}
        assert set(events.loc[events[c.ORDER_ID] == "#1001", c.USER_ID]) == {"a@example.com"}
        assert events[c.EVENT_TIME].nunique() == 3
        notes = json.loads((folder / "report.json").read_text())["tables"]["events"]["notes"]
        assert notes["line_items_of_orders"]["filled"] == 5  # the guest's line stays a guest's
        assert notes["rows_without_user"]["rows"] == 2
        assert "map the order's total as the amount (--map amount=Total)" in "\n".join(
            summary.lines()
        )
    pd.testing.assert_frame_equal(loaded[0], loaded[2])
    pd.testing.assert_frame_equal(loaded[1], loaded[2])


def test_later_lines_repeating_the_email_or_the_date_are_lines_of_their_order(
    tmp_path: Path,
) -> None:
    # exports differ in what a later line repeats (one seen fills Email on every line):
    # a line that leaves its customer or its time to the order's first row is one of its lines
    mapping = c.ColumnMapping.parse(
        ["user_id=Email", "event_time=Created at", "amount=Total", "order_id=Name"],
        default_event_type=c.PURCHASE,
    )
    header = SHOPIFY.splitlines()[0].split(",")
    loaded = []
    for column in (header.index("Email"), header.index("Created at")):
        rows = [line.split(",") for line in SHOPIFY.splitlines()]
        first: dict[str, str] = {}
        for row in rows[1:]:
            first.setdefault(row[0], row[column])
            row[column] = first[row[0]]
        export = tmp_path / f"export{column}.csv"
        export.write_text("\n".join(",".join(row) for row in rows) + "\n")
        folder = tmp_path / f"shop{column}"
        ingest.ingest_events(export, folder, mapping=mapping, chunk_rows=3)
        loaded.append(pd.read_parquet(folder / "events.parquet"))
        table = json.loads((folder / "report.json").read_text())["tables"]["events"]
        assert table["reasons"] == {"line_item_of_order": 5, "missing_user_id": 1}
        # what the lines set aside lacked: the column filled on every line is not counted,
        # but for the guest order's line, whose Email is blank on its first row too
        note = table["notes"]["line_items_of_orders"]
        lacked = {"without_user": 1 if column == header.index("Email") else 5}
        lacked["without_time"] = 0 if column == header.index("Created at") else 5
        assert {key: note[key] for key in lacked} == lacked
    for events in loaded:
        assert events[c.ORDER_ID].tolist() == ["#1001", "#1002", "#1004"]
        assert events[c.AMOUNT].tolist() == [34.05, 20.25, 40.0]


def test_an_order_total_written_on_every_line_counts_once(home: Path, tmp_path: Path) -> None:
    # WooCommerce's one row per item repeats the order's fields, order_total too, on each
    # line: summed, every order counted once a line (26 times on online_retail's invoices)
    lines = ["order_number,order_date,status,order_total,billing_email,item_name,item_total"]
    for n in range(21):
        total = f"{10 + n}.50"
        day = f"2011-01-{n + 1:02d} 10:00:00"
        lines += [
            f"{2000 + n},{day},completed,{total},c{n % 5}@example.com,MUG,4.00",
            f"{2000 + n},{day},completed,{total},c{n % 5}@example.com,PLATE,{6 + n}.50",
        ]
    lines.append("2021,2011-01-25 10:00:00,completed,3.00,c1@example.com,SPOON,3.00")
    export = tmp_path / "woo.csv"
    export.write_text("\n".join(lines) + "\n")
    args = ["ingest", str(export), "--map", "user_id=billing_email", "--map"]
    args += ["event_time=order_date", "--map", "amount=order_total", "--event-type", "purchase"]
    for by, dataset in ((["--map", "order_id=order_number"], "woo"), ([], "moments")):
        done = CliRunner().invoke(main, [*args, *by, "--dataset", dataset])
        assert done.exit_code == 0, done.output
        events = pd.read_parquet(home / "datasets" / dataset / "events.parquet")
        assert len(events) == 22
        assert events[c.AMOUNT].sum() == sum(10.5 + n for n in range(21)) + 3.0
        table = json.loads((home / "datasets" / dataset / "report.json").read_text())
        table = table["tables"]["events"]
        assert table["reasons"] == {"line_item_of_order": 21}
        note = table["notes"]["order_totals_on_lines"]
        assert note == {
            "column": "order_total",
            "orders": 21,
            "of": 21,
            "rows": 21,
            "by": "order_number" if by else None,
        }
        said = "by 'order_number'" if by else "by customer and time"
        assert (
            f"    21 line_item_of_order rows: 'order_total' repeats one amount on every line of "
            f"21 of the 21 orders of several lines ({said}): an order's total written on each "
            "of its lines"
        ) in done.output
    # the lines' own amounts: nothing is held back, each order is its lines summed
    item = [*args[:-3], "amount=item_total", "--event-type", "purchase", "--dataset", "items"]
    done = CliRunner().invoke(main, [*item, "--map", "order_id=order_number"])
    assert done.exit_code == 0, done.output
    assert len(pd.read_parquet(home / "datasets" / "items" / "events.parquet")) == 43


def _woo_export(path: Path, order_column: str = "order_number") -> list[float]:
    """A WooCommerce-like export (one row per item, the order's fields and order_total on
    each): 21 orders of two lines, and 3 guest orders (no billing_email) of three lines;
    returns the guest orders' totals."""
    lines = [
        f"{order_column},order_date,status,shipping_total,tax_total,order_total,"
        "billing_email,item_name,item_total"
    ]
    for n in range(21):
        day = f"2011-01-{n + 1:02d} 10:00:00"
        for item, price in (("MUG", "4.00"), ("PLATE", f"{6 + n}.50")):
            lines.append(
                f"{2000 + n},{day},completed,4.95,1.00,{10 + n}.50,c{n % 5}@example.com,"
                f"{item},{price}"
            )
    guests = [30.0, 45.25, 12.0]
    for g, total in enumerate(guests):
        day = f"2011-01-{g + 3:02d} 12:00:00"
        for item in ("SPOON", "FORK", "KNIFE"):
            lines.append(f"{3000 + g},{day},completed,0.00,0.00,{total:.2f},,{item},1.00")
    path.write_text("\n".join(lines) + "\n")
    return guests


def test_guest_lines_of_an_order_total_on_every_line_count_once(home: Path, tmp_path: Path) -> None:
    # a guest order's lines were quarantined (missing_user_id) before the repeated total was
    # seen: the guests' amount was each order's total once a line (3 times here)
    export = tmp_path / "woo.csv"
    guests = _woo_export(export)
    args = ["ingest", str(export), "--map", "user_id=billing_email", "--map"]
    args += ["event_time=order_date", "--map", "amount=order_total", "--event-type", "purchase"]
    for by, dataset in ((["--map", "order_id=order_number"], "woo"), ([], "moments")):
        done = CliRunner().invoke(main, [*args, *by, "--dataset", dataset])
        assert done.exit_code == 0, done.output
        folder = home / "datasets" / dataset
        assert len(pd.read_parquet(folder / "events.parquet")) == 21
        table = json.loads((folder / "report.json").read_text())["tables"]["events"]
        assert table["reasons"] == {"line_item_of_order": 27, "missing_user_id": 3}
        said = table["notes"]["rows_without_user"]
        assert (said["rows"], said["purchases"]) == (3, sum(guests))
        assert table["notes"]["order_totals_on_lines"]["guest_rows"] == 6
        kept = pd.read_parquet(folder / "guest_rows.parquet")
        assert sorted(kept["amount"]) == sorted(guests)
        quarantined = pd.concat(pd.read_csv(f) for f in (folder / "quarantine").glob("*.csv"))
        by_reason = quarantined.groupby("reason")["item_name"].agg(lambda s: sorted(set(s)))
        assert by_reason["missing_user_id"] == ["SPOON"]  # each guest order's first line
        assert by_reason["line_item_of_order"] == ["FORK", "KNIFE", "PLATE"]
        what = "3 orders (3 rows)" if by else "3 rows"  # without order ids, rows
        assert f"{what} had no user id (guest orders): 87.25 of purchases" in done.output
        assert "(6 of them lines of guest orders, counted so too)" in done.output


def test_the_first_refusal_names_the_order_total_and_the_order_column(tmp_path: Path) -> None:
    # WooCommerce's first refusal offered --map amount=shipping_total (the first column
    # named as money), a part of the order's amount, and said nothing of its order column
    export = tmp_path / "woo.csv"
    _woo_export(export)
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert first.exit_code == 1
    assert "(user, time, amount: --map amount=order_total) takes --event-type purchase" in (
        first.stderr
    )
    assert first.stderr.rstrip().endswith(
        "; 'order_number' repeats an order's id on its lines (one row per line item): "
        "--map order_id=order_number reads them as one order"
    )
    # a line's amount only when no order's total is there; no component ever
    text = export.read_text().replace("order_total", "grand_total")
    export.write_text(text)
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert "--map amount=grand_total)" in first.stderr
    lines = [line.split(",") for line in text.splitlines()]
    export.write_text("\n".join(",".join(row[:5] + row[6:]) for row in lines) + "\n")
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert "--map amount=item_total)" in first.stderr
    # an order_id column is read by its name: nothing to map; Shopify's Name is named
    _woo_export(export, order_column="order_id")
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert "--map amount=order_total)" in first.stderr
    assert "--map order_id" not in first.stderr
    export.write_text(SHOPIFY)
    first = CliRunner().invoke(main, ["ingest", str(export)])
    assert "a log of purchases only (user, time, amount: --map amount=Total) takes" in (
        first.stderr
    )
    assert "'Name' repeats an order's id on its lines (one row per line item): --map " in (
        first.stderr
    )


def test_an_order_total_on_the_first_line_only_folds_its_later_lines(
    home: Path, tmp_path: Path
) -> None:
    # customer and time on every line, the order's total on its first only: the later lines
    # were missing_amount (8 of 12: refused), the order column never named
    rows = ["Name,Email,Created at,Total,Lineitem name,Lineitem price"]
    for n in range(4):
        for item, total in (("MUG", f"{20 + n}.50"), ("PLATE", ""), ("CUP", "")):
            rows.append(f"#{1001 + n},c{n}@example.com,2011-01-0{n + 1} 10:00:00,{total},{item},4")
    export = tmp_path / "orders_export.csv"
    export.write_text("\n".join(rows) + "\n")
    args = ["ingest", str(export), *MAPS, "--map", "amount=Total", "--dataset", "shop"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert refused.stderr.rstrip().endswith(
        "8 rows without an amount, a user id or a time repeat the row above's 'Name': the line "
        "items of an order whose total is on its first row only (a line-item export): --map "
        "order_id=Name reads them as lines of their order"
    )
    done = CliRunner().invoke(main, [*args, "--map", "order_id=Name"])
    assert done.exit_code == 0, done.output
    # the summary says what the later lines lacked: the amount only
    assert (
        "    8 line_item_of_order rows: line items of 4 orders read on an earlier row of the "
        "same 'Name' (amount on the order's first row only): each order counted once, with its "
        "'Total'; not counted as bad rows"
    ) in done.output.splitlines()
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.AMOUNT].tolist() == [20.5, 21.5, 22.5, 23.5]
    table = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert table["tables"]["events"]["reasons"] == {"line_item_of_order": 8}
    # across chunks too
    mapping = c.ColumnMapping.parse(
        ["user_id=Email", "event_time=Created at", "amount=Total", "order_id=Name"],
        default_event_type=c.PURCHASE,
    )
    folder = tmp_path / "chunked"
    ingest.ingest_events(export, folder, mapping=mapping, chunk_rows=2)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "events.parquet"), events)
    # rows without an amount given one (--amount-default) stay rows of their own
    folder = tmp_path / "defaulted"
    ingest.ingest_events(export, folder, mapping=mapping, amount_default=1.0)
    assert len(pd.read_parquet(folder / "events.parquet")) == 12


def test_equal_amounts_on_an_orders_rows_are_no_repeated_total_where_amounts_hardly_vary(
    home: Path, tmp_path: Path
) -> None:
    # A shop of one price (e-books at 4.99), its orders of two or three titles: every order's
    # rows hold one amount, as a total written on each line would, but so would any rows of
    # theirs (read as repeated totals: 300 of 600 purchases quarantined as line_item_of_order);
    # and a log whose genuine repeats --keep-repeats keeps, each a purchase by the user's word
    # (its 300 repeats were quarantined so, while the summary said them kept)
    lines = ["order,customer,date,price,title"]
    repeats = ["customer,date,price"]
    for u in range(100):
        for d in range(1, 4):
            day = f"2024-0{d}-1{u % 9}"
            titles = 1 + (u + d) % 3
            lines += [f"{u}-{d},u{u},{day},4.99,title{t}" for t in range(titles)]
            repeats += [f"u{u},{day},{1 + u % 40}.99"] * (2 if u % 2 == 0 else 1)
    args = ["--map", "user_id=customer", "--map", "event_time=date", "--map", "amount=price"]
    args += ["--event-type", "purchase"]
    for name, rows, extra in (
        ("ebooks", lines, ["--map", "order_id=order"]),
        ("repeats", repeats, ["--keep-repeats"]),
    ):
        export = tmp_path / f"{name}.csv"
        export.write_text("\n".join(rows) + "\n")
        done = CliRunner().invoke(main, ["ingest", str(export), *args, *extra, "--dataset", name])
        assert done.exit_code == 0, done.output
        events = pd.read_parquet(home / "datasets" / name / "events.parquet")
        assert len(events) == len(rows) - 1, done.output
        table = json.loads((home / "datasets" / name / "report.json").read_text())
        assert "order_totals_on_lines" not in table["tables"]["events"]["notes"]
        assert "line_item_of_order" not in done.output
