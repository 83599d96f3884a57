"""A guest row (no user id) counts once over a dataset's files: re-sent beside guest rows kept
by an older ingest, or sent again as another export of the same rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import contract as c
from features import guest_orders
from features.guest_orders import GUEST_ROWS, dataset_guest_orders

MOSTLY_GUESTS = {"LIFECYCLE_INGEST__MAX_BAD_FRACTION": "0.9"}
MAPS = ["user_id=customer", "event_time=time", "order_id=invoice"]


def _lines() -> pd.DataFrame:
    """``LINES`` as a warehouse types them: text, the amount a number."""
    lines = pd.read_csv(pd.io.common.StringIO(LINES), dtype=str)
    lines["amount"] = lines["amount"].astype(float)
    return lines


def _ingest(home: Path, path: Path, *extra: str) -> Any:
    from click.testing import CliRunner

    from lifecycle.cli import main

    ingest = ["ingest", str(path), "--dataset", "shop", "--event-type", "purchase"]
    ingest += [part for m in MAPS for part in ("--map", m)]
    done = CliRunner().invoke(main, ["--home", str(home), *ingest, *extra], env=MOSTLY_GUESTS)
    assert done.exit_code == 0, done.output
    return done


def _contract_row_keys(rows: pd.DataFrame) -> np.ndarray:
    """The guest row key before 2a59ed9 (ba221f2's ``_row_keys``): contract fields alone."""
    keyed = pd.DataFrame(index=rows.index)
    for name in (n for n in c.EVENT_FIELDS if n != c.USER_ID):
        if name not in rows:
            keyed[name] = pd.Series(pd.NA, index=rows.index, dtype="string")
        elif pd.api.types.is_datetime64_any_dtype(rows[name]):
            keyed[name] = rows[name].dt.as_unit("us")
        elif name == c.AMOUNT:
            keyed[name] = rows[name].astype(float)
        else:
            keyed[name] = rows[name].astype("string")
    return pd.util.hash_pandas_object(keyed, index=False).to_numpy()


def _write_as_before(self: Any, path: Path) -> None:
    """ba221f2's ``RowsWithoutUser.write``: its four columns, each row once by its key."""
    if self._rows:
        rows = pd.concat(self._rows, ignore_index=True).drop_duplicates("row")
        rows[["row", "order", "amount", "sign"]].to_parquet(path, index=False)


LINES = (
    "invoice,customer,time,amount,stock_code\n"
    "536365,17850,2010-12-01 08:26,15.30,85123A\n"
    "536366,,2010-12-01 09:00,10.00,71053\n"  # a guest invoice: two products at 10.00
    "536366,,2010-12-01 09:00,10.00,84406B\n"
    "536367,,2010-12-01 10:00,7.50,22752\n"
)


def test_guest_rows_kept_by_an_older_ingest_count_once_when_sent_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 40 #1: guest_rows.parquet kept before 2a59ed9 holds each row's key of its
    contract fields alone; 2a59ed9 keyed rows by their other columns too, so no re-sent row
    matched a kept one and a dataset ingested before counted each re-sent guest order twice
    (44.0 of purchases in 4 orders). Now a re-sent row matches such a row by its contract
    fields: counted once, and an append re-sending only guest rows adds nothing."""
    first = tmp_path / "dec.csv"
    first.write_text(LINES)
    with monkeypatch.context() as before:  # the dataset as the older ingest left it
        before.setattr(guest_orders, "_row_keys", lambda rows, *_: (_contract_row_keys(rows),) * 2)
        before.setattr(guest_orders.RowsWithoutUser, "write", _write_as_before)
        _ingest(home, first)
    dataset = home / "datasets" / "shop"
    assert list(pd.read_parquet(dataset / GUEST_ROWS).columns) == ["row", "order", "amount", "sign"]
    # by its contract fields the old key held 536366's two lines as one row: 17.50
    assert dataset_guest_orders(dataset)["purchases"] == 17.5
    again = tmp_path / "dec_again.csv"
    again.write_text(LINES.replace("536365,17850", "536368,17850", 1))  # one new user row too
    done = _ingest(home, again, "--append")
    said = dataset_guest_orders(dataset)
    assert {k: said[k] for k in ("rows", "repeats", "orders", "purchases")} == {
        "rows": 6,  # 3 and 3 sent
        "repeats": 4,  # 536366's second line was one with its first under the old key
        "orders": 2,
        "purchases": 17.5,  # as before the append, not 17.5 + 27.5
    }
    assert "nothing new" not in done.stdout  # its user row is new
    # the same append again: nothing new (each guest row was "something new" each time)
    done = _ingest(home, again, "--append")
    assert "nothing new" in done.stdout, done.stdout
    # a new guest order beside the old rows is kept by its full key, and counts
    new_guest = tmp_path / "dec_new_guest.csv"
    new_guest.write_text(
        LINES.splitlines()[0]
        + "\n536369,,2010-12-02 10:00,4.00,22752\n536370,17850,2010-12-02 11:00,3.00,22752\n"
    )
    _ingest(home, new_guest, "--append")
    assert dataset_guest_orders(dataset)["purchases"] == 21.5


def test_a_guest_order_sent_as_a_partition_then_as_a_file_counts_once(
    home: Path, tmp_path: Path
) -> None:
    """Review 40 #8: every column other than the contract's keyed a guest row, the partition
    column ``dt`` of a folder's path and an export's ``_loaded_at`` too, so the same guest
    order sent once in a partitioned folder and once as a single file (another export) counted
    twice. Partition columns and names starting with ``_`` key no row: it counts once."""
    lines = _lines()
    folder = tmp_path / "events" / "dt=2010-12-01"
    folder.mkdir(parents=True)
    lines.assign(_loaded_at=pd.Timestamp("2010-12-02 03:00")).to_parquet(folder / "part-0.parquet")
    _ingest(home, tmp_path / "events")
    dataset = home / "datasets" / "shop"
    assert dataset_guest_orders(dataset)["purchases"] == 27.5
    export = lines.assign(_loaded_at=pd.Timestamp("2010-12-09 03:00"))
    export.loc[0, "invoice"] = "536368"  # one new user row
    export.to_parquet(tmp_path / "dec.parquet")
    _ingest(home, tmp_path / "dec.parquet", "--append")
    said = dataset_guest_orders(dataset)
    assert {k: said[k] for k in ("rows", "repeats", "orders", "purchases")} == {
        "rows": 6,
        "repeats": 3,
        "orders": 2,
        "purchases": 27.5,  # not 55.0
    }


@pytest.mark.parametrize("folder_first", [True, False])
def test_a_guest_order_in_a_partition_and_in_a_file_with_its_column_counts_once(
    home: Path, tmp_path: Path, folder_first: bool
) -> None:
    """Session 41 D #2: a single file holding the partition as an ordinary column (`dt`, as
    a warehouse unload without partitioning writes it) keyed its guest rows by it, the
    folder's rows not: the same guest orders sent both ways counted twice (55.0), in either
    order. A dataset keys its guest rows by one rule now, recorded with them: `dt` keys none
    after the folder, and every row of both after the file."""
    lines = _lines()
    folder = tmp_path / "events" / "dt=2010-12-01"
    folder.mkdir(parents=True)
    lines.to_parquet(folder / "part-0.parquet")
    export = lines.assign(dt="2010-12-01")
    export.loc[0, "invoice"] = "536368"  # one new user row: the append adds something
    export.to_parquet(tmp_path / "dec.parquet")
    first, then = (tmp_path / "events", tmp_path / "dec.parquet")[:: 1 if folder_first else -1]
    _ingest(home, first)
    _ingest(home, then, "--append")
    said = dataset_guest_orders(home / "datasets" / "shop")
    assert {k: said[k] for k in ("rows", "repeats", "orders", "purchases")} == {
        "rows": 6,
        "repeats": 3,
        "orders": 2,
        "purchases": 27.5,  # not 55.0
    }


def test_a_month_imported_then_ingested_again_keeps_its_guest_orders(
    home: Path, tmp_path: Path, shared_data: Path
) -> None:
    """Session 41 L #2: `import online-retail` keyed a guest line by the adapter's columns and
    values (stock_code, quantity 6 of a refund, currency GBP) and `ingest` by the file's
    (StockCode or stock_code, -6, no currency), so a month imported and then `ingest
    --append`ed again counted its guest orders twice (December 2010: 502,060 of purchases
    for 251,030). A dataset's guest rows are keyed alike by both routes now: the amounts
    stay as the import said, and so do the counts but for the 70 guest stock adjustments
    (session 51: the import holds them back as a customer's, the ingest cannot tell them)."""
    import duckdb
    from click.testing import CliRunner

    from features.adapters import ONLINE_RETAIL_FILE
    from lifecycle.cli import main

    lines = pd.read_csv(shared_data / ONLINE_RETAIL_FILE, dtype=str)
    dec = lines[lines["InvoiceDate"] < "2011-01-01"]
    imported = tmp_path / "dec.csv"
    dec.to_csv(imported, index=False)
    total = (dec["Quantity"].astype(float) * dec["UnitPrice"].astype(float)).round(2)
    named = {"StockCode": "stock_code", "Description": "description", "Quantity": "quantity"}
    named |= {"UnitPrice": "unit_price", "Country": "country"}  # as the dataset holds them
    again = tmp_path / "dec_again.csv"
    dec.assign(Total=total).rename(columns=named).to_csv(again, index=False)
    runner = CliRunner()
    done = runner.invoke(main, ["import", "online-retail", str(imported), "--dataset", "shop"])
    assert done.exit_code == 0, done.output
    dataset = home / "datasets" / "shop"
    said = dataset_guest_orders(dataset)
    events = f"SELECT event_type, count(*) FROM read_parquet('{dataset / 'events.parquet'}')"
    held = dict(duckdb.sql(events + " GROUP BY 1").fetchall())
    args = ["ingest", str(again), "--append", "--dataset", "shop", "--event-type", "purchase"]
    args += ["--negative-is-refund", "--map", "user_id=CustomerID", "--map", "amount=Total"]
    args += ["--map", "event_time=InvoiceDate", "--map", "order_id=InvoiceNo"]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    after = dataset_guest_orders(dataset)
    counted = ("purchases", "refunds")
    assert said["purchases"] > 0 and said["refunds"] > 0
    assert {k: after[k] for k in counted} == {k: said[k] for k in counted}
    # each once, but for the guest stock adjustments (quantity <= 0 at 0.00, one a line and
    # an invoice): the import holds them back as non_positive_quantity, as a customer's; the
    # ingest, which has no quantity rule, keeps them as 0.00 purchases
    guest = dec[dec["CustomerID"].isna() & ~dec["InvoiceNo"].str.startswith("C")]
    adjustments = guest[guest["Quantity"].astype(float) <= 0]
    assert (adjustments["UnitPrice"].astype(float) == 0).all()
    assert len(adjustments) == adjustments["InvoiceNo"].nunique() == 70
    assert after["orders"] == said["orders"] + 70
    assert after["rows"] - after["repeats"] == said["rows"] - said["repeats"] + 70
    # review R2 #3: the customers' refund lines too (the import stores a refund's quantity
    # 6, the file -6): each held once, not 684 of them again
    assert held["refund"] > 0
    # and every purchase line once, the 3 at a unit price of 0 too: the import keeps them as
    # 0.00 purchases, as ingest does (they were added again: the import had refused them)
    free = dec["CustomerID"].notna() & (dec["UnitPrice"].astype(float) == 0)
    assert free.sum() == 3
    assert dict(duckdb.sql(events + " GROUP BY 1").fetchall()) == held


def test_the_same_guest_orders_sent_again_after_a_folder_appended_count_once(
    home: Path, tmp_path: Path
) -> None:
    """Review R2 #1: a dataset begun from a file without `dt` kept its rule (no column
    unkeyed) when a folder's append brought `dt` into its columns, so `dt` keyed the rows of
    the next folder (or file with `dt`): the same guest orders sent again counted twice
    (55.0). The dataset's rule takes in the partition columns each append leaves unkeyed."""
    lines = _lines()
    first = tmp_path / "dec.csv"
    lines.to_csv(first, index=False)
    _ingest(home, first)
    dataset = home / "datasets" / "shop"
    sent = [first]
    for n, invoice in enumerate(("536368", "536369", "536370")):  # a new user row each
        again = lines.copy()
        again.loc[0, "invoice"] = invoice
        if n < 2:  # a folder, twice
            folder = tmp_path / f"events{n}" / "dt=2010-12-01"
            folder.mkdir(parents=True)
            again.to_parquet(folder / "part-0.parquet")
            sent.append(folder.parent)
        else:  # a file holding the partition as a column
            again.assign(dt="2010-12-01").to_parquet(tmp_path / "dec_dt.parquet")
            sent.append(tmp_path / "dec_dt.parquet")
        _ingest(home, sent[-1], "--append")
        said = dataset_guest_orders(dataset)
        assert {k: said[k] for k in ("rows", "repeats", "orders", "purchases")} == {
            "rows": 3 * len(sent),
            "repeats": 3 * (len(sent) - 1),
            "orders": 2,
            "purchases": 27.5,  # not 55.0
        }, sent[-1]


def test_rows_stored_with_an_empty_currency_match_when_sent_again_with_currency(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review R2 #2: --currency fills an unmapped 'Currency' column's empty cells since
    502239b, and an append reuses the dataset's --currency, so a dataset stored before (its
    cells empty) was sent its rows again saying GBP: a user's 5.00 purchase held twice and a
    guest's 10.00 order counted again (17.50 -> 27.50). An append leaves the empty cells
    empty where the dataset holds such cells: each row once."""
    import duckdb

    from features.currency import AmountCurrency

    lines = (
        "invoice,customer,time,amount,Currency\n"
        "536365,17850,2010-12-01 08:26,15.30,GBP\n"
        "536364,17851,2010-12-01 08:30,5.00,\n"
        "536366,,2010-12-01 09:00,10.00,\n"
        "536367,,2010-12-01 10:00,7.50,GBP\n"
    )
    first = tmp_path / "dec.csv"
    first.write_text(lines)
    made = AmountCurrency.of
    with monkeypatch.context() as before:  # the cells as an ingest before 502239b kept them
        before.setattr(
            AmountCurrency,
            "of",
            classmethod(lambda cls, *a: replace(made(*a), blanks_kept=True)),
        )
        _ingest(home, first, "--currency", "GBP")
    dataset = home / "datasets" / "shop"
    events = f"read_parquet('{dataset / 'events.parquet'}')"
    held = duckdb.sql(f'SELECT user_id, amount, "Currency" FROM {events} ORDER BY 1').fetchall()
    assert held == [("17850", 15.3, "GBP"), ("17851", 5.0, "")]
    again = tmp_path / "again.csv"
    again.write_text(lines + "536368,17850,2010-12-02 08:26,1.00,GBP\n")
    _ingest(home, again, "--append")  # --currency GBP as recorded
    after = duckdb.sql(f'SELECT user_id, amount, "Currency" FROM {events} ORDER BY 1, 2')
    assert after.fetchall() == [
        ("17850", 1.0, "GBP"),
        ("17850", 15.3, "GBP"),
        ("17851", 5.0, ""),  # once, as stored
    ]
    assert dataset_guest_orders(dataset)["purchases"] == 17.5  # not 27.5


def test_a_guest_rows_key_is_the_same_in_every_process_when_two_columns_snake_case_alike(
    tmp_path: Path,
) -> None:
    """Review R2 #4: `StockCode` and `stock_code` both key a row as `stock_code`, and their
    order came from a set's, which PYTHONHASHSEED changes between processes: the same row
    keyed otherwise in a later run (an append) counted again. Tied names are ordered as the
    file writes them: one key in every process."""
    import os
    import subprocess
    import sys

    script = tmp_path / "key.py"
    script.write_text(
        "import pandas as pd\n"
        "from features.guest_orders import _row_keys\n"
        "rows = pd.DataFrame({'event_time': pd.to_datetime(['2010-12-01 09:00']),\n"
        "    'event_type': ['purchase'], 'amount': [10.0], 'order_id': ['536366'],\n"
        "    'StockCode': ['71053'], 'stock_code': ['X'], 'Qty': ['1']})\n"
        "print(_row_keys(rows, frozenset(), True)[0][0])\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, str(script)],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(1, 9)
    }
    assert len(keys) == 1, keys


def test_guest_rows_apart_only_by_the_sign_of_a_number_not_the_quantity_are_two(
    home: Path, tmp_path: Path
) -> None:
    """Review R2 #5: the canonical key read every other column's number by its magnitude, so
    two guest lines apart only by an adjustment of 5 and -5 were one row, the second dropped
    as a repeat (17.50 for 27.50). Only the quantity the import stores positive is read so;
    a refund line sent with its quantity -2 or 2 is still one row."""
    sent = tmp_path / "dec.csv"
    sent.write_text(
        "invoice,customer,time,amount,stock_code,adjustment,Quantity\n"
        "536365,17850,2010-12-01 08:26,15.30,85123A,0,1\n"
        "536366,,2010-12-01 09:00,10.00,71053,5,1\n"
        "536366,,2010-12-01 09:00,10.00,71053,-5,1\n"
        "536367,,2010-12-01 10:00,7.50,22752,0,-2\n"
    )
    _ingest(home, sent)
    dataset = home / "datasets" / "shop"
    assert dataset_guest_orders(dataset)["purchases"] == 27.5  # not 17.5
    again = tmp_path / "again.csv"
    again.write_text(
        sent.read_text().replace("536365,17850", "536368,17850").replace(",0,-2\n", ",0,2\n")
    )
    _ingest(home, again, "--append")
    said = dataset_guest_orders(dataset)
    assert {k: said[k] for k in ("rows", "repeats", "purchases")} == {
        "rows": 6,
        "repeats": 3,  # 536367 with its quantity 2 too
        "purchases": 27.5,
    }


def test_a_folder_of_no_guest_rows_appended_still_leaves_its_partition_unkeyed(
    home: Path, tmp_path: Path
) -> None:
    """A folder appended with user rows alone brought `dt` into the dataset's columns and,
    without guest rows of its own, recorded nothing of it: the next folder's `dt` keyed its
    rows, so the guest orders the first file sent, sent again in a folder, counted twice."""
    lines = _lines()
    first = tmp_path / "dec.csv"
    lines.to_csv(first, index=False)
    _ingest(home, first)
    users_only = tmp_path / "users" / "dt=2010-12-02"
    users_only.mkdir(parents=True)
    lines.iloc[:1].assign(invoice="536368").to_parquet(users_only / "part-0.parquet")
    _ingest(home, users_only.parent, "--append")
    folder = tmp_path / "events" / "dt=2010-12-01"
    folder.mkdir(parents=True)
    lines.assign(invoice=lines["invoice"].mask(lines.index == 0, "536369")).to_parquet(
        folder / "part-0.parquet"
    )
    _ingest(home, folder.parent, "--append")
    said = dataset_guest_orders(home / "datasets" / "shop")
    assert {k: said[k] for k in ("rows", "repeats", "purchases")} == {
        "rows": 6,
        "repeats": 3,
        "purchases": 27.5,  # not 55.0
    }


@pytest.mark.parametrize("canonical", [True, False])
def test_a_guest_rows_other_columns_read_as_pythons_strip_and_regexes_read_them(
    canonical: bool,
) -> None:
    """The other columns' text is built in Arrow (one pass per step, not a Python call per
    cell); it is the text pandas' per-cell strip, match, rstrip and lstrip gave, for cells
    of the digits, points, signs and spaces (Python's whitespace, not ASCII only) a number
    is written with, and NA."""
    import random

    draw = random.Random(44)
    marks = ["0", "1", ".", "-", " ", "\u3000", "\n", "\x1c", "a", "é"]
    cells = ["".join(draw.choices(marks, k=draw.randint(0, 6))) for _ in range(20_000)]
    rows = pd.DataFrame(
        {
            "Quantity": pd.Series([*cells, None], dtype=object),
            "note": pd.Series([*cells, None], dtype="string"),
            "unit_price": [1.5, 2.0, -3.0, 6.50] * 5_000 + [np.nan],
        },
        index=pd.RangeIndex(3, 3 + len(cells) + 1),
    )
    named = {n: c.snake_case(n) if canonical else n for n in rows.columns}
    per_cell = pd.Series("", index=rows.index, dtype="string")
    for name in sorted(rows.columns, key=lambda n: (named[n], n)):
        text = rows[name].astype("string").str.strip()
        point = text.str.match(guest_orders._POINT_NUMBER).fillna(False).astype(bool)
        text = text.mask(point, text.str.rstrip("0").str.rstrip("."))
        if canonical and named[name] in guest_orders.UNSIGNED:
            negative = text.str.match(guest_orders._NUMBER).fillna(False).astype(bool)
            text = text.mask(negative, text.str.lstrip("-"))
        per_cell += (f"{named[name]}\x1f" + text.mask(text == "") + "\x1e").fillna("")
    built = guest_orders._other_columns(rows, frozenset(), canonical)
    pd.testing.assert_series_equal(built, per_cell, check_exact=True, check_names=False)
    assert per_cell.str.contains("quantity\x1f1\x1e" if canonical else "Quantity\x1f-1").any()


def test_guest_rows_are_kept_when_the_dates_are_read_in_a_second_pass(
    home: Path, tmp_path: Path
) -> None:
    # Day-first dates (13/04/2011 proves the order) make the reader pass over the file again
    # with the order found; that pass wrote no guest_rows.parquet, so the guest orders of such
    # a file were neither counted once beside an append nor named in segments and the report.
    day_first = tmp_path / "day_first.csv"
    day_first.write_text(
        "invoice,customer,time,amount\n"
        "536365,17850,13/04/2011 08:26,15.30\n"
        "536366,,02/04/2011 09:00,10.00\n"
        "536367,,03/04/2011 10:00,7.50\n"
    )
    done = _ingest(home, day_first)
    assert "'time' read day first" in done.output, done.output
    kept = pd.read_parquet(home / "datasets" / "shop" / GUEST_ROWS)
    assert sorted(kept["amount"]) == [7.5, 10.0]
    assert dataset_guest_orders(home / "datasets" / "shop")["orders"] == 2
