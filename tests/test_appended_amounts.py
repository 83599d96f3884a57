"""Amounts of new days (`ingest --append`, `refresh FILE`) judged beside the dataset's: a few
huge rows appended were their own median, and loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main

HEADER = "user_id,event_time,event_type,amount\n"
# a shop whose orders are 10 to 19 (median 14.5)
HISTORY = HEADER + "".join(f"u{i},2011-01-{i + 1:02d},purchase,{10 + i}\n" for i in range(10))


def _run(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(main, ["--quiet", *args])
    return done.exit_code, done.output


def test_an_append_of_a_few_huge_rows_is_judged_against_the_dataset(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_INGEST__MAX_AMOUNT_RATIO", "100")
    history = tmp_path / "history.csv"
    history.write_text(HISTORY)
    assert _run("ingest", str(history), "--dataset", "shop")[0] == 0
    dataset = home / "datasets" / "shop"
    # two typos among four rows: the file's own median (45,006.50) let them in
    appended = tmp_path / "february.csv"
    appended.write_text(
        HEADER + "u1,2011-02-01,purchase,90000\nu2,2011-02-02,purchase,12\n"
        "u3,2011-02-03,refund,95000\nu4,2011-02-04,purchase,13\n"
    )
    code, output = _run("ingest", str(appended), "--dataset", "shop", "--append")
    assert code == 0, output
    events = pd.read_parquet(dataset / "events.parquet")
    assert len(events) == 12 and events[c.AMOUNT].max() == 19
    held = pd.read_csv(dataset / "quarantine" / "events-append-1.csv", dtype=str)
    assert held[[c.SOURCE_ROW, c.REASON, c.AMOUNT]].values.tolist() == [
        ["1", "absurd_amount", "90000"],
        ["3", "absurd_amount", "95000"],
    ]
    # the median of the dataset with the file's rows: 10..19, 12, 13 and the two -> 14.5
    assert (
        "2 absurd_amount rows: 'amount' above 1,450.00 (100 times the dataset's median amount, "
        "14.50: settings ingest.max_amount_ratio)"
    ) in output
    note = json.loads((dataset / "report.json").read_text())["tables"]["events"]["notes"]
    assert note["absurd_amounts"]["median_of"] == "dataset"
    # a file of nothing but typos is refused whole, by ingest and by refresh: the dataset
    # keeps its version
    version = dataset.resolve()
    typos = tmp_path / "march.csv"
    typos.write_text(HEADER + "u4,2011-03-01,purchase,5e6\nu5,2011-03-02,purchase,6e6\n")
    for command in (["ingest", str(typos), "--append"], ["refresh", str(typos)]):
        code, output = _run(*command, "--dataset", "shop")
        assert code != 0
        assert "march.csv: 2 of 2 rows are bad" in output and "(2 absurd_amount)" in output
        assert dataset.resolve() == version


def _retail_month(month: str, price: float) -> str:
    """Online Retail's invoice lines of one month: 25 customers, one invoice each."""
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for i in range(25):
        lines.append(
            f"{month.replace('-', '')}{i:02d},8509{i},ITEM {i},{2 + i % 3},"
            f"{month}-{1 + i:02d} 10:00:00,{price + i / 10:.2f},{12000 + i},United Kingdom"
        )
    return "\n".join(lines) + "\n"


def test_an_append_of_amounts_in_another_unit_is_refused_and_the_dataset_kept(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a shop whose purchases are 10 to 39 (median 24.5)
    history = tmp_path / "history.csv"
    history.write_text(
        HEADER + "".join(f"u{i},2011-01-{1 + i % 28:02d},purchase,{10 + i}\n" for i in range(30))
    )
    assert _run("ingest", str(history), "--dataset", "shop")[0] == 0
    dataset = home / "datasets" / "shop"
    version = dataset.resolve()
    # February exported in cents: every amount x100, none absurd beside the file's median
    cents = tmp_path / "february.csv"
    cents.write_text(
        HEADER
        + "".join(f"u{i},2011-02-{1 + i % 28:02d},purchase,{1000 + 100 * i}\n" for i in range(25))
    )
    for command in (["ingest", str(cents), "--append"], ["refresh", str(cents)]):
        code, output = _run(*command, "--dataset", "shop")
        assert code == 1, output
        assert (
            "february.csv: the median of its 25 amounts ('amount') is 2,200.00, 89.8 times the "
            "dataset's 24.50 (of its 30 amounts): another unit or currency (cents, a currency "
            "mistake)? Nothing was appended"
        ) in " ".join(output.split())
        assert "LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT=0" in output
        assert dataset.resolve() == version
    # the amounts are right (the shop moved to crates): the setting lets them in
    monkeypatch.setenv("LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT", "0")
    code, output = _run("ingest", str(cents), "--dataset", "shop", "--append")
    assert code == 0, output
    assert len(pd.read_parquet(dataset / "events.parquet")) == 55


def test_a_month_of_online_retail_in_another_currency_is_refused_by_import_and_refresh(
    home: Path, tmp_path: Path
) -> None:
    first = tmp_path / "retail-2011-01.csv"
    first.write_text(_retail_month("2011-01", 2.5))
    assert _run("import", "online-retail", str(first))[0] == 0
    dataset = home / "datasets" / "online_retail"
    version = dataset.resolve()
    # February's prices x100 (pence read as pounds)
    wrong = tmp_path / "retail-2011-02.csv"
    wrong.write_text(_retail_month("2011-02", 250.0))
    for command in (
        ["import", "online-retail", str(wrong), "--append"],
        ["refresh", str(wrong), "--source", "online-retail", "--dataset", "online_retail"],
    ):
        code, output = _run(*command)
        assert code == 1, output
        assert "retail-2011-02.csv: the median of its 25 amounts" in " ".join(output.split())
        assert dataset.resolve() == version
    # the month in pounds appends
    right = tmp_path / "retail-2011-02-right.csv"
    right.write_text(_retail_month("2011-02", 2.5))
    code, output = _run("import", "online-retail", str(right), "--append")
    assert code == 0, output
    assert len(pd.read_parquet(dataset / "events.parquet")) == 50


def test_online_retail_reads_its_absurd_amounts_by_the_setting_on_import_and_append(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest.max_amount_ratio` was read by ingest but not by `import online-retail` (first
    or --append) nor `refresh --source online-retail`: their lines kept the default limit
    (100,000 x the median), so a tighter setting let a typo's line through."""
    monkeypatch.setenv("LIFECYCLE_INGEST__MAX_AMOUNT_RATIO", "100")
    typo = "{month}99,85999,TYPO,1,{month}-28 10:00:00,5000.00,12099,United Kingdom\n"
    first = tmp_path / "retail-2011-01.csv"
    first.write_text(_retail_month("2011-01", 2.5) + typo.format(month="2011-01"))
    code, output = _run("import", "online-retail", str(first))
    assert code == 0, output
    dataset = home / "datasets" / "online_retail"
    # the median line is about 10 here: 5,000.00 is beyond 100 times it
    assert "1 absurd_amount" in output, output
    for month, command in (
        ("2011-02", ["import", "online-retail", "{path}", "--append"]),
        (
            "2011-03",
            ["refresh", "{path}", "--source", "online-retail", "--dataset", "online_retail"],
        ),
    ):
        path = tmp_path / f"retail-{month}.csv"
        path.write_text(_retail_month(month, 2.5) + typo.format(month=month))
        code, output = _run(*(part.format(path=path) for part in command))
        assert code == 0, output
        assert "1 absurd_amount" in output, output
    events = pd.read_parquet(dataset / "events.parquet")
    assert len(events) == 75 and events[c.AMOUNT].max() < 5000


def test_money_far_above_a_log_of_purchases_counted_is_refused_for_what_it_is(
    home: Path, tmp_path: Path
) -> None:
    """A log without amounts, ingested with --amount-default 1 (LTV in purchases), then a
    month whose file has prices (CDNOW's dollars, median 27.77): the shift's refusal said
    "another unit or currency (cents, a currency mistake)?" and, if its amounts are right,
    LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT=0, which sums money with purchases counted."""
    counted = tmp_path / "january.csv"
    counted.write_text(
        "user_id,event_time,event_type\n"
        + "".join(f"u{i},2011-01-{1 + i % 28:02d},purchase\n" for i in range(30))
    )
    assert _run("ingest", str(counted), "--dataset", "log", "--amount-default", "1")[0] == 0
    dataset = home / "datasets" / "log"
    version = dataset.resolve()
    priced = tmp_path / "february.csv"
    priced.write_text(
        HEADER + "".join(f"u{i},2011-02-{1 + i % 28:02d},purchase,{25 + i}\n" for i in range(25))
    )
    for command in (["ingest", str(priced), "--append"], ["refresh", str(priced)]):
        code, output = _run(*command, "--dataset", "log")
        assert code == 1, output
        said = " ".join(output.split())
        assert (
            "february.csv: the median of its 25 amounts ('amount') is 37.00, 37 times the "
            "dataset's 1.00 (of its 30 amounts): the dataset's amounts are purchases counted "
            "(its files had no amount column: --amount-default), this file's money. Nothing was "
            "appended; ingest the file as a dataset of its own (--dataset NAME), or append it "
            "read as the dataset's files were; LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT=0 would sum "
            "the two kinds into one LTV"
        ) in said
        assert "another unit or currency" not in said
        assert dataset.resolve() == version
