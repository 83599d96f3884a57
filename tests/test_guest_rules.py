"""Rows without a user id (guest orders) follow the rules a user's rows follow: a guest row
that breaks another rule is quarantined for it, as a user's would be, and only rows that
pass every other rule are guest orders (`missing_user_id`, `rows_without_user`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features import adapters, ingest
from features import contract as c

RETAIL = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\n"  # a guest order
    "C536367,22633,HAND WARMER,-2,2010-12-01 09:00:00,1.85,,United Kingdom\n"  # its credit
    "536368,21275,?,-5,2010-12-01 10:00:00,0,,United Kingdom\n"  # a stock adjustment
    "536369,21275,?,-5,2010-12-01 10:00:00,0,17850,United Kingdom\n"  # a customer's
    "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom\n"
)


def test_online_retails_guest_adjustments_are_no_guest_orders(tmp_path: Path) -> None:
    """Session 51: online_retail's 3,710 guest orders and 1,777,026.03 of guest purchases
    counted 182 credit notes and 1,336 stock adjustments (quantity <= 0 at 0.00) as orders
    and two 'Adjust bad debt' rows at a negative price as +11,062.06 purchases each: a row
    without a customer was quarantined as missing_user_id before its other faults were
    read. A guest line is held back as a customer's line like it is; a credit note is a
    refund, never an order."""
    path = tmp_path / "lines.csv"
    path.write_text(RETAIL)
    events, _ = adapters.online_retail(path, max_bad_fraction=0.9)
    reasons = events.quarantine.set_index(c.SOURCE_ROW)[c.REASON].to_dict()
    assert reasons == {
        2: "missing_user_id",
        3: "missing_user_id",
        4: "non_positive_quantity",
        5: "non_positive_quantity",
        6: "negative_unit_price",
    }
    assert events.report.notes["rows_without_user"] == {
        "rows": 2,
        "repeats": 0,
        "orders": 1,
        "purchases": 11.1,
        "refunds": 3.7,
        "first": "2010-12-01",
        "last": "2010-12-01",
    }
    assert events.report.notes["lines_without_customer"] == 4  # as the file holds them


def test_an_ingests_guest_rows_are_checked_as_users_rows(tmp_path: Path) -> None:
    """The same rule in `ingest`: a guest row of a negative amount is negative_amount and one
    of no amount missing_amount, as a user's are (both were missing_user_id: 4 guest orders,
    its -7.00 taken off the guest purchases), and a guest refund is no guest order."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "user_id,event_time,event_type,amount,order_id\n"
        "u1,2024-01-01,purchase,10.00,#1\n"
        ",2024-01-02,purchase,20.00,#2\n"  # a guest order
        ",2024-01-03,refund,5.00,#C3\n"  # its credit note
        ",2024-01-04,purchase,-7.00,#4\n"
        "u2,2024-01-05,purchase,-7.00,#5\n"
        ",2024-01-06,purchase,,#6\n"
    )
    summary = ingest.ingest_events(path, tmp_path / "shop", max_bad_fraction=0.9)
    held = pd.read_csv(tmp_path / "shop" / "quarantine" / "events.csv", dtype=str)
    assert held[[c.SOURCE_ROW, c.REASON]].values.tolist() == [
        ["2", "missing_user_id"],
        ["3", "missing_user_id"],
        ["4", "negative_amount"],
        ["5", "negative_amount"],
        ["6", "missing_amount"],
    ]
    said = summary.tables["events"]["notes"]["rows_without_user"]
    assert {k: said[k] for k in ("rows", "orders", "purchases", "refunds")} == {
        "rows": 2,
        "orders": 1,
        "purchases": 20.0,
        "refunds": 5.0,
    }
