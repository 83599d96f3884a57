"""A loyalty-card export without amounts written one row per item bought (Kaggle's "Groceries
dataset": Member_number, Date as 21-07-2015, itemDescription; an item bought twice on one day
is two identical rows), ingested with --amount-default 1 --keep-repeats: the rows of one
member and day are one order, its value the items, and every word says items, never that
each row was a purchase ("largest order 212 purchases" of a one-visit basket)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from features import contract as c
from features.asof import compute_features
from features.basket_rows import ITEMS_FROM
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.reason_words import reason_text
from serving.revenue import before_refunds_words, revenue_totals, revenue_words
from serving.units import purchase_counts, units_for

MAPS = ["--map", "user_id=Member_number", "--map", "event_time=Date", "--event-type", "purchase"]
COUNTED = ["--amount-default", "1", "--keep-repeats"]
# a shop's range: more names than a column of event types holds (its first refusal names no
# item column as the types, as of Kaggle's 167 items)
ITEMS = tuple(f"{kind} {k}" for k in range(20) for kind in ("whole milk", "rolls/buns", "soda"))


def _baskets(path: Path, days: range, members: int = 10) -> Path:
    """Member m's basket on day d: 1 + (m + d) % 4 items, the first twice (two identical rows)
    when the basket has three items or more."""
    rows = []
    for d in days:
        for m in range(1, members + 1):
            basket = [ITEMS[(7 * m + 3 * d + k) % len(ITEMS)] for k in range(1 + (m + d) % 4)]
            basket += basket[:1] if len(basket) >= 3 else []
            rows += [f"{1000 + m},{d:02d}-07-2015,{item}" for item in basket]
    path.write_text("Member_number,Date,itemDescription\n" + "\n".join(rows) + "\n")
    return path


def test_a_log_of_one_row_per_item_counts_items_in_orders_of_a_day(
    home: Path, tmp_path: Path
) -> None:
    """On the old code the summary said 'LTV is in purchases', the units 'amounts are purchases
    counted (... each purchase 1)' and the reasons 'largest order 5 purchases'."""
    log = _baskets(tmp_path / "Groceries_dataset.csv", range(13, 23))
    raw = pd.read_csv(log)
    # Its first refusal names every option it needs, --amount-default too (it took a second
    # refusal to learn it): the maps and the options it names load it.
    refused = CliRunner().invoke(main, ["ingest", str(log), "--dataset", "groc"]).stderr
    assert "--map user_id=Member_number" in refused and "--map event_time=Date" in refused
    assert refused.rstrip().endswith(
        "a log of purchases only (user and time, no amount column) takes --event-type purchase "
        "--amount-default 1 (each row counts 1)"
    )
    days = raw.drop_duplicates(["Member_number", "Date"])
    assert len(raw) >= ITEMS_FROM * len(days)  # baskets: items, not purchases
    done = CliRunner().invoke(main, ["ingest", str(log), "--dataset", "groc", *MAPS, *COUNTED])
    assert done.exit_code == 0, done.output
    assert (
        f"{len(raw):,} purchase/refund rows given amount 1 (no amount column: LTV is in items, "
        f"not purchases: its {len(raw):,} purchase rows are {len(days):,} orders of "
        f"{len(raw) / len(days):.1f} rows on average (the rows of one user at one moment are "
        "one order, each row one item))"
    ) in done.stdout
    folder = home / "datasets" / "groc"
    notes = json.loads((folder / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["rows_of_orders"] == {
        "rows": len(raw),
        "orders": len(days),
        "several": int((raw.groupby(["Member_number", "Date"]).size() > 1).sum()),
        "items": True,
    }
    assert notes["amount_unit"].startswith("items")
    counted = purchase_counts(folder)
    assert (counted.noun, counted.each) == ("items", 1.0)
    units = units_for(load_settings(home=home), {"dataset": "groc"})
    assert units.amounts == (
        "amounts are items counted (a log without amounts, one row per item: each row 1, the "
        "rows of one user at one moment one order), no money"
    )
    assert units.currency == "none: amounts are items counted"
    assert reason_text("max_order_value", 5.0, counted) == "largest order 5 items"
    assert reason_text("revenue_90d", 12.0, counted) == "12 items in the last 90 days"
    # What the features count: orders are member-days, the value their rows (repeats kept).
    events = pd.read_parquet(folder / "events.parquet")
    member = events[events[c.USER_ID] == "1001"]
    features = compute_features(events, ["2015-07-23"], windows=(30,)).set_index(c.USER_ID)
    assert features.loc["1001", "orders_total"] == member[c.EVENT_TIME].nunique() == 10
    assert features.loc["1001", "revenue_total"] == len(member)
    # Its sales head, of a log with no refund: its items, and no refund words of noise.
    scores = pd.DataFrame({"revenue": [float(len(raw))], "refunds": [0.0]})
    totals = revenue_totals(scores, folder / "events.parquet", "2015-07-23")
    assert totals is not None and totals["purchases_all"] == len(raw)
    said = revenue_words(totals, units.value_name("revenue")) + before_refunds_words(
        totals, "items"
    )
    assert said == f"items to date {len(raw):,}, no refund in the data"
    # New days appended keep the dataset's words: the same file shape, more baskets.
    later = _baskets(tmp_path / "later.csv", range(23, 26))
    appended = CliRunner().invoke(main, ["ingest", str(later), "--dataset", "groc", "--append"])
    assert appended.exit_code == 0, appended.output
    assert purchase_counts(folder).noun == "items"


def test_a_log_of_one_row_per_purchase_still_counts_purchases(home: Path, tmp_path: Path) -> None:
    """One row per purchase, two purchases of a day now and then identical rows (one order of
    2 as features count it): the value is purchases, and said so."""
    rows = [f"{1000 + m},{d:02d}-07-2015" for d in range(13, 23) for m in range(1, 11)]
    rows += rows[:20]  # 20 of the 100 member-days hold a second purchase
    log = tmp_path / "visits.csv"
    log.write_text("Member_number,Date\n" + "\n".join(rows) + "\n")
    done = CliRunner().invoke(main, ["ingest", str(log), "--dataset", "visits", *MAPS, *COUNTED])
    assert done.exit_code == 0, done.output
    assert "120 purchase/refund rows given amount 1 (no amount column: LTV is in purchases)" in (
        done.stdout
    )
    folder = home / "datasets" / "visits"
    notes = json.loads((folder / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["rows_of_orders"] == {"rows": 120, "orders": 100, "several": 20, "items": False}
    assert purchase_counts(folder).noun == "purchases"
    units = units_for(load_settings(home=home), {"dataset": "visits"})
    assert units.amounts.startswith("amounts are purchases counted (a log without amounts: each ")


def test_a_large_log_whose_orders_do_not_fit_memory_is_counted_in_a_window(
    tmp_path: Path,
) -> None:
    """The aggregate of 1M orders of two rows ran out of 24MB (its table of orders stays in
    memory): an ingest of such a log failed there; a window over each order's rows spills."""
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.basket_rows import rows_of_orders

    n = 1_000_000
    first = pd.Timestamp("2020-01-01", tz="UTC")
    pq.write_table(
        pa.table(
            {
                c.USER_ID: np.repeat(np.arange(n) % 200_000, 2).astype(str),
                c.EVENT_TIME: first + pd.to_timedelta(np.repeat(np.arange(n), 2), unit="m"),
                c.EVENT_TYPE: np.full(2 * n, c.PURCHASE),
                c.AMOUNT: np.ones(2 * n),
            }
        ),
        tmp_path / "events.parquet",
    )
    with duckdb.connect() as con:
        con.execute("SET memory_limit = '24MB'")
        con.execute("SET threads = 1")
        con.execute(f"SET temp_directory = '{tmp_path / 'spill'}'")
        said = rows_of_orders(tmp_path / "events.parquet", con)
    assert said["rows_of_orders"] == {"rows": 2 * n, "orders": n, "several": n, "items": True}


def test_an_append_to_a_dataset_of_money_is_not_told_to_count_its_rows(
    home: Path, tmp_path: Path
) -> None:
    """A file without amounts or types appended to a dataset holding money: its refusal names
    --event-type purchase alone, as --amount-default 1 would be refused there (its purchases
    need amounts)."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\nc1,2024-01-01,purchase,12.5\n")
    assert CliRunner().invoke(main, ["ingest", str(shop), "--dataset", "shop"]).exit_code == 0
    later = tmp_path / "later.csv"
    later.write_text("user_id,event_time\nc1,2024-01-05\n")
    refused = CliRunner().invoke(main, ["ingest", str(later), "--dataset", "shop", "--append"])
    assert refused.stderr.rstrip().endswith(
        "a log of purchases only (user and time, no amount column) takes --event-type purchase"
    )
