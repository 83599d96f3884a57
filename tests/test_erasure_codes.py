"""`lifecycle forget` matches a user by the column the ingest read their id from: a product
code, an invoice number or an order id equal to a forgotten id is no mention of that user,
and the rows holding one stay (online_retail: 27 customer ids are also stock codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main

# Customer 15036 beside product 15036, invoice 15036 and an anonymous line of product 15036.
RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536001,85123A,WHITE HANGING HEART,6,2010-12-01 08:26,2.55,15036,United Kingdom
536002,71053,WHITE METAL LANTERN,6,2010-12-02 08:26,3.39,15036,United Kingdom
536003,15036,ASSORTED COLOURS SILK FAN,12,2010-12-01 09:00,0.85,17850,United Kingdom
15036,22633,HAND WARMER UNION JACK,6,2010-12-03 09:00,1.85,12583,France
536005,15036,ASSORTED COLOURS SILK FAN,12,2010-12-01 10:00,0.85,,United Kingdom
536006,22632,HAND WARMER RED POLKA DOT,6,2010-12-04 10:00,-1,15036,United Kingdom
536007,84029G,KNITTED UNION FLAG HOT WATER BOTTLE,6,2010-12-05 10:00,3.39,17850,United Kingdom
"""
# A log of its own names: user 7's rows, user 17's order 7 and note, a row out of line
# with the header that mentions 7, and an anonymous row whose free text names 7.
SHOP = """Customer,When,Kind,Total,OrderNo,Note
7,2024-01-01,purchase,10,1,first
7,2024-01-02,purchase,oops,2,bad amount
17,2024-01-03,purchase,12,7,gift for 7
17,2024-01-04,purchase,5,8,again
7,2024-01-05,purchase,3,9,x,extra
,2024-01-06,purchase,4,10,called 7
"""
SHOP_MAP = ["user_id=Customer", "event_time=When", "event_type=Kind", "amount=Total"]


def invoke(home: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def quarantine(home: Path, dataset: str) -> pd.DataFrame:
    path = home / "datasets" / dataset / "quarantine" / "events.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_a_product_code_or_invoice_equal_to_a_forgotten_customer_stays(tmp_path: Path) -> None:
    (tmp_path / "retail.csv").write_text(RETAIL)
    home = tmp_path / "ws"
    invoke(home, "--quiet", "import", "online-retail", str(tmp_path / "retail.csv"), "--dataset", "shop")  # fmt: skip
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    held = quarantine(home, "shop")
    assert (events[c.USER_ID] == "15036").sum() == 2 and (held["CustomerID"] == "15036").sum() == 1
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert report["quarantine_user_columns"] == {"events.csv": "CustomerID"}

    # An id that is only a product code is no user: nothing found, nothing changed.
    untouched = invoke(home, "--json", "forget", "71053")
    assert json.loads(untouched)["not_found"] == ["71053"]
    assert quarantine(home, "shop").equals(held)

    out = json.loads(invoke(home, "--json", "forget", "15036"))
    # the customer's 2 events, 1 quarantined line and 1 users row; nobody else's
    assert out["removed"]["datasets/shop"] == 4
    assert out["redacted"] == {}
    after = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert after.equals(events[events[c.USER_ID] != "15036"].reset_index(drop=True))
    assert after.loc[after[c.USER_ID] == "17850", "stock_code"].tolist() == ["15036", "84029G"]
    assert after.loc[after[c.USER_ID] == "12583", c.ORDER_ID].tolist() == ["15036"]
    left = quarantine(home, "shop")
    assert left.equals(held[held["CustomerID"] != "15036"].reset_index(drop=True))
    assert left[["reason", "StockCode"]].values.tolist() == [["missing_user_id", "15036"]]
    counts = json.loads((home / "datasets" / "shop" / "report.json").read_text())["tables"]
    assert counts["events"]["rows_quarantined"] == 1 and counts["events"]["rows_erased"] == 3


def test_a_mapped_log_loses_its_users_rows_and_keeps_other_users_order_ids(
    tmp_path: Path,
) -> None:
    (tmp_path / "shop.csv").write_text(SHOP)
    home = tmp_path / "ws"
    maps = [arg for pair in [*SHOP_MAP, "order_id=OrderNo"] for arg in ("--map", pair)]
    invoke(home, "--quiet", "ingest", str(tmp_path / "shop.csv"), "--dataset", "shop", *maps)
    held = quarantine(home, "shop")
    assert sorted(held["reason"]) == ["extra_fields", "invalid_amount", "missing_user_id"]

    out = json.loads(invoke(home, "--json", "forget", "7"))
    after = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert after[c.USER_ID].tolist() == ["17", "17"]
    assert after[c.ORDER_ID].tolist() == ["7", "8"]  # an order id, not a mention
    assert after["Note"].tolist() == ["gift for [forgotten]", "again"]
    left = quarantine(home, "shop")
    # the user's bad row and the row out of line (whose columns say nothing) are gone; the
    # anonymous row stays, its free text redacted
    assert left["reason"].tolist() == ["missing_user_id"]
    assert left["Note"].tolist() == ["called [forgotten]"]
    assert left["OrderNo"].tolist() == ["10"]
    assert out["removed"]["datasets/shop"] == 1 + 2  # the event and two quarantined rows


def test_a_product_description_naming_a_number_equal_to_a_forgotten_customer_stays(
    tmp_path: Path,
) -> None:
    """online_retail's product `SET 10 CARDS HANGING BAUBLES 17080` (2 lines, customer 15810)
    became `... [forgotten]` on `forget 17080`, customer 17080 being another person: a
    product's catalogue name, not a mention of anyone, as its stock code is not. The adapter
    names the description a code column too."""
    lines = RETAIL + (
        "536008,35004C,SET 10 CARDS HANGING BAUBLES 17080,1,2010-12-06 10:00,2.55,12583,France\n"
        "536009,35004C,SET 10 CARDS HANGING BAUBLES 17080,1,2010-12-06 11:00,-1,12583,France\n"
        "536010,22633,HAND WARMER UNION JACK,2,2010-12-07 10:00,1.85,17080,United Kingdom\n"
    )
    (tmp_path / "retail.csv").write_text(lines)
    home = tmp_path / "ws"
    invoke(home, "--quiet", "import", "online-retail", str(tmp_path / "retail.csv"), "--dataset", "shop")  # fmt: skip
    out = json.loads(invoke(home, "--json", "forget", "17080"))
    assert out["users"] == 1 and out["redacted"] == {}
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert "SET 10 CARDS HANGING BAUBLES 17080" in set(events["description"])
    assert "SET 10 CARDS HANGING BAUBLES 17080" in set(quarantine(home, "shop")["Description"])


def test_the_check_names_a_description_still_text_and_the_import_that_makes_it_a_code(
    tmp_path: Path,
) -> None:
    """A dataset imported before online_retail's description became a code column keeps it as
    text (its report's code_columns lack it: here written as that import wrote them), so
    `forget 17080` still redacts `SET 10 CARDS HANGING BAUBLES 17080`, and `datasets check`
    said nothing of it. It now names it and the command that makes it a code; once run, the
    current version is a code, the older one text until pruned (said, no command)."""
    (tmp_path / "retail.csv").write_text(RETAIL)
    home = tmp_path / "ws"
    invoke(home, "--quiet", "import", "online-retail", str(tmp_path / "retail.csv"), "--dataset", "shop")  # fmt: skip
    report = home / "datasets" / "shop" / "report.json"
    held = json.loads(report.read_text())
    held["code_columns"] = [n for n in held["code_columns"] if n.lower() != "description"]
    report.write_text(json.dumps(held, indent=2))

    [found] = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
    assert found["description_as_text"] == ["shop"]
    fix = f"lifecycle import online-retail {tmp_path / 'retail.csv'} --dataset shop --replace"
    said = invoke(home, "datasets", "check")
    assert "  description: the product description is TEXT in its current version" in said
    assert said.rstrip().endswith(f"to make it a code: `{fix}`")

    invoke(home, "--quiet", *fix.split()[1:])
    [found] = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
    [older] = found["description_as_text"]
    assert older.startswith("shop@")
    said = invoke(home, "datasets", "check")
    assert "description is TEXT in older versions only" in said and "to make it" not in said
