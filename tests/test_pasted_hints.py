"""Every map a refusal of a shop's own export names works when pasted (session 61's new user,
who brought online_retail's orders as an Excel orders.xlsx of Type Sale/Refund, and as a
JSON-lines stream of 'Order Completed' and 'Order Refunded' track calls): the maps are taken
from the refusal's words, as a user copies them, and the ingest they make loads."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main

# a shell word of a map a refusal names: --map event_time='Paid at', --map-type 'purchase=X'
MAP_WORDS = re.compile(r"--map(?:-type)? (?:[^\s;,()'\"]|'[^']*')+")
PLACEHOLDERS = ("CONTRACT", "COLUMN", "=TYPE", "SOURCE")


def pasted(message: str) -> list[str]:
    """The maps ``message`` names, as a user pastes them: each contract column's first (the
    likeliest candidate), placeholders left out."""
    words, seen = [], set()
    for found in MAP_WORDS.findall(message):
        option, value = shlex.split(found)
        key = (option, value.split("=", 1)[0] if option == "--map" else value)
        if any(p in value for p in PLACEHOLDERS) or key in seen:
            continue
        seen.add(key)
        words += [option, value]
    return words


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def _report(home: Path, dataset: str) -> dict:
    return json.loads((home / "datasets" / dataset / "report.json").read_text())


def _orders_book(path: Path, price_column: bool = False) -> Path:
    """orders.xlsx as a shop's Excel writes it: Type Sale/Refund, Total formatted as pounds;
    with ``price_column`` a unit price formatted so too, before the Total."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        ["Order", "Account", "Placed", "Type", *(["First Item Price"] * price_column), "Total"]
    )
    for n in range(12):
        placed = dt.datetime(2010, 12, 1 + n % 9, 8, 26)
        price = [2.55 + n] if price_column else []
        sheet.append([f"{536365 + n}", 17850 + n % 5, placed, "Sale", *price, 100 + n + 0.5])
    sheet.append(
        ["C536500", 17850, dt.datetime(2010, 12, 13, 9), "Refund", *([1.25] * price_column), 4.25]
    )
    for row in sheet.iter_rows(min_row=2, min_col=5):
        for cell in row:
            cell.number_format = '"£"#,##0.00'
    book.save(path)
    return path


def test_a_type_column_of_sale_and_refund_is_named_with_its_maps(tmp_path: Path) -> None:
    """orders.xlsx's `Type` holds Sale and Refund: refused without maps, the refusal named the
    user and time columns but nothing of the types (`refund` being a contract type name, no
    purchase-log hint was given, nor any other). It now names `--map event_type=Type
    --map-type purchase=Sale --map amount=Total`, and the maps pasted load the file."""
    home = tmp_path / "ws"
    book = _orders_book(tmp_path / "orders.xlsx")
    refused = _invoke("--home", str(home), "ingest", str(book))
    assert refused.exit_code != 0
    said = "'Type' holds each row's event type (Sale, Refund): --map event_type=Type "
    assert said + "--map-type purchase=Sale --map amount=Total reads it" in refused.output
    maps = pasted(refused.output)
    done = _invoke("--home", str(home), "ingest", str(book), *maps)
    assert done.exit_code == 0, (maps, done.output)
    assert "purchase=Sale 12 rows" in done.output
    report = _report(home, "orders")
    assert report["tables"]["events"]["rows_loaded"] == 13, report["tables"]["events"]


def test_the_missing_amount_names_the_orders_total_quoted(tmp_path: Path) -> None:
    """With the types mapped and no amount, the refusal named the first column named as money,
    a unit price (`If 'First Item Price' holds them, name it with --map amount=First Item
    Price`: unquoted, so pasted it maps `First` and fails on `Item`). It now names the total,
    as the first refusal ranks them, quoted for a shell."""
    home = tmp_path / "ws"
    book = _orders_book(tmp_path / "orders.xlsx", price_column=True)
    maps = ("--map", "user_id=Account", "--map", "event_time=Placed", "--map", "event_type=Type")
    refused = _invoke(
        "--home", str(home), "ingest", str(book), *maps, "--map-type", "purchase=Sale"
    )
    assert refused.exit_code != 0
    assert "If 'Total' holds them, name it with --map amount=Total;" in refused.output
    done = _invoke("--home", str(home), "ingest", str(book), *maps, *pasted(refused.output))
    assert done.exit_code == 0, done.output
    # only a priced unit column: named, quoted
    lone = tmp_path / "prices.csv"
    lone.write_text(
        "Account,Placed,Type,First Item Price\n"
        + "".join(f"{17850 + n},2010-12-0{1 + n} 08:26,purchase,2.{n}5\n" for n in range(5))
    )
    refused = _invoke("--home", str(home), "ingest", str(lone), *maps)
    assert "name it with --map amount='First Item Price';" in refused.output, refused.output


def test_a_json_stream_of_order_events_is_told_its_type_maps(tmp_path: Path) -> None:
    """A Segment stream's `event` of 'Order Completed' and 'Order Refunded': the refusal said
    `--map event_type=event reads it`, and that pasted was refused again (no event is a
    purchase, --map-type purchase=TYPE). It now names the --map-type of each, quoted, and
    the maps pasted load its purchases and refunds."""
    home = tmp_path / "ws"
    stream = tmp_path / "events.jsonl"
    lines = []
    for n in range(12):
        event = "Order Refunded" if n == 11 else "Order Completed"
        props = {"order_id": f"o{n}", "revenue": 10.5 + n, "currency": "GBP"}
        lines.append({"type": "track", "userId": str(17850 + n % 4), "event": event,
                      "timestamp": f"2010-12-{1 + n:02d}T08:26:00Z", "properties": props})  # fmt: skip
    stream.write_text("".join(json.dumps(line) + "\n" for line in lines))
    refused = _invoke("--home", str(home), "ingest", str(stream))
    assert refused.exit_code != 0
    said = "--map event_type=event --map-type 'purchase=Order Completed' --map-type 'refund=Order Refunded'"
    assert said in refused.output, refused.output
    maps = pasted(refused.output)
    done = _invoke("--home", str(home), "ingest", str(stream), *maps)
    assert done.exit_code == 0, (maps, done.output)
    assert "purchase=Order Completed 11 rows" in done.output, done.output


def test_a_payments_export_with_refunds_is_told_its_types_first(tmp_path: Path) -> None:
    """A Stripe payments export (`Status` Paid or Refunded, `Amount`): the refusal offered
    `--event-type purchase` first, which pasted loaded its refunds as purchases (761 of my
    4,146 payments), and WooCommerce's `customer_email` was offered as event types. A column
    whose words name refunds is now named with its maps instead, and an e-mail column never."""
    home = tmp_path / "ws"
    payments = tmp_path / "payments.csv"
    lines = ["id,Created (UTC),Amount,Currency,Status,Customer ID,Customer Email"]
    for n in range(12):
        status = "Refunded" if n % 4 == 3 else "Paid"
        lines.append(
            f"ch_{n},2010-12-{1 + n:02d} 08:26,{10 + n}.50,gbp,{status},cus_{n % 3},c{n % 3}@example.com"
        )
    payments.write_text("\n".join(lines) + "\n")
    refused = _invoke("--home", str(home), "ingest", str(payments))
    assert refused.exit_code != 0
    said = (
        "'Status' holds each row's event type (Paid, Refunded): --map event_type=Status "
        "--map-type purchase=Paid --map-type refund=Refunded --map amount=Amount reads it"
    )
    assert said in refused.output and "--event-type purchase" not in refused.output
    assert "event_type='Customer Email'" not in refused.output
    done = _invoke("--home", str(home), "ingest", str(payments), *pasted(refused.output))
    assert done.exit_code == 0, done.output
    report = _report(home, "payments")
    assert report["batches"][-1]["event_types"] == {"Paid": "purchase", "Refunded": "refund"}
    woo = tmp_path / "woo.csv"
    woo.write_text(
        "order_number,order_date,status,customer_email,order_total\n"
        + "".join(
            f"{100 + n},2010-12-{1 + n:02d} 08:26,wc-completed,c{n % 2}@example.com,{n}.5\n"
            for n in range(6)
        )
    )
    refused = _invoke("--home", str(home), "ingest", str(woo))
    assert "if 'status' holds each row's event type, --map event_type=status" in refused.output


def test_repeated_lines_of_an_order_total_on_every_line_name_no_keep_repeats(
    tmp_path: Path,
) -> None:
    """A WooCommerce export (`order_total` on each line) whose orders hold two equal lines:
    the summary said `--keep-repeats loads every copy`, and that pasted counted each copy as
    a purchase of the order's total again (my export: 965 more purchases, revenue 1,589,296
    -> 2,024,773). They are now said as lines of an order counted once, no option named."""
    woo = tmp_path / "woo.csv"
    lines = ["order_number,order_date,customer_email,order_total,item_name"]
    for n in range(25):
        when = f"2010-12-{1 + n % 28:02d} 08:{n:02d}"
        items = ["MUG", "MUG", "LAMP"] if n % 5 == 0 else ["MUG", "LAMP", "BAG"]
        lines += [f"{100 + n},{when},c{n % 7}@example.com,{20 + n}.5,{item}" for item in items]
    woo.write_text("\n".join(lines) + "\n")
    maps = ("--map", "user_id=customer_email", "--map", "event_time=order_date")
    maps += ("--map", "amount=order_total", "--map", "order_id=order_number")
    done = _invoke(
        "--home", str(tmp_path / "ws"), "ingest", str(woo), *maps, "--event-type", "purchase"
    )
    assert done.exit_code == 0, done.output
    said = (
        "5 duplicate_row rows: the same in every column as a row loaded, kept once: lines of an "
        "order whose 'order_total' is written on every line, so the order counts once"
    )
    assert said in done.output and "--keep-repeats" not in done.output, done.output
