"""Medians of a large dataset's amounts (the append's shift and absurd-amount checks, the
maybe-cents note) in little memory: exact up to EXACT_MEDIAN_VALUES amounts, estimated
beyond. DuckDB's exact median of 2M amounts runs out of memory under a 16MB limit, as it did
between 10M and 15M under ingest.memory_limit's default 256MB."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features import contract as c
from features.amount_units import whole_amounts
from features.duckdb_memory import EXACT_MEDIAN_VALUES, INGEST, bounded, connect, median
from features.money_checks import absurd_amounts, refuse_amount_shift
from features.table_checks import TableChecks
from features.validation import ContractError
from lifecycle.sql import literal

ROWS = 2_000_000  # amounts 10.00 to 19.99, 2,000 of each: median 14.995
LIMIT = "16MB"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset's events of ``ROWS`` purchases, written by DuckDB in a fraction of a second."""
    path = tmp_path_factory.mktemp("large") / "events.parquet"
    connect().execute(
        f"COPY (SELECT 'u' || (i % 50000) AS {c.USER_ID}, TIMESTAMP '2020-01-01' + "
        f"to_seconds(i) AS {c.EVENT_TIME}, '{c.PURCHASE}' AS {c.EVENT_TYPE}, "
        f"(10 + (i % 1000) / 100)::DOUBLE AS {c.AMOUNT} FROM range({ROWS}) t(i)) "
        f"TO {literal(path)}"
    )
    return path


def _staged(tmp_path: Path, amounts: list[float]) -> str:
    """An appended file's staged good rows: its source rows and amounts."""
    path = tmp_path / "staged.parquet"
    values = ", ".join(f"({i + 1}, {a!r}::DOUBLE)" for i, a in enumerate(amounts))
    connect().execute(
        f"COPY (SELECT * FROM (VALUES {values}) t(source_row, {c.AMOUNT})) TO {literal(path)}"
    )
    return f"read_parquet({literal(path)})"


def test_an_append_to_a_dataset_of_millions_is_judged_within_the_memory_limit(
    stored: Path, tmp_path: Path
) -> None:
    assert ROWS > EXACT_MEDIAN_VALUES
    # a month in cents: 30 amounts of 1,500.00 or so, 100 times the dataset's
    staged = _staged(tmp_path, [1500 + i for i in range(30)])
    with bounded(connect(), LIMIT, tmp_path / "shop", *INGEST) as con:
        con.execute("CREATE TEMP TABLE held_back (source_row BIGINT)")
        with pytest.raises(ContractError) as refused:
            refuse_amount_shift(con, staged, "source_row", stored, 10, TableChecks(), "feb.csv")
    said = re.search(
        r"times the dataset's ([\d.,]+) \(of its ([\d,]+) amounts\)", str(refused.value)
    )
    assert said, refused.value
    assert abs(float(said[1]) - 14.995) <= 0.01 and said[2] == f"{ROWS:,}"


def test_absurd_amounts_of_an_append_to_millions_are_held_back_within_the_memory_limit(
    stored: Path, tmp_path: Path
) -> None:
    # a typo of a million among the file's orders: above 1,000 times the dataset's median
    staged = _staged(tmp_path, [12.0, 1e6, 17.5])
    checks = TableChecks()
    with bounded(connect(), LIMIT, tmp_path / "shop", *INGEST) as con:
        con.execute("CREATE TEMP TABLE held_back (source_row BIGINT)")
        found = absurd_amounts(con, staged, "source_row", 1000, checks, stored)
    assert found.tolist() == [2]
    note = checks.notes["absurd_amounts"]
    assert note["median_of"] == "dataset" and abs(note["median"] - 14.995) <= 0.01


def test_the_amounts_of_millions_are_judged_as_maybe_cents_within_the_memory_limit(
    stored: Path, tmp_path: Path
) -> None:
    with bounded(connect(), LIMIT, tmp_path / "shop", *INGEST) as con:
        amounts = whole_amounts(stored, con)
    assert amounts is not None and amounts["rows"] == ROWS and not amounts["whole"]
    assert abs(amounts["median"] - 14.995) <= 0.01


def test_a_median_of_few_values_is_the_exact_one() -> None:
    con = connect()
    rows = "(VALUES (1.0), (2.0), (3.0), (40.0)) t(x)"
    assert median(con, "x", rows, 4) == 2.5
    assert median(con, "x", f"{rows} WHERE x > 100", 0) is None


def test_a_median_of_millions_of_few_distinct_amounts_is_the_exact_one(
    stored: Path, tmp_path: Path
) -> None:
    """Beyond EXACT_MEDIAN_VALUES the median was DuckDB's t-digest estimate, which moves
    from run to run (14.9987, 14.9926 of these 2M amounts, whose median is 14.995): a
    dataset of a shop's 1,000 prices is now counted per price, the median exact (and in
    less CPU, docs/benchmarks.md). Many distinct amounts are still estimated."""
    rows = f"read_parquet({literal(stored)})"
    ((exact,),) = connect().execute(f"SELECT median({c.AMOUNT}) FROM {rows}").fetchall()
    with bounded(connect(), LIMIT, tmp_path / "shop", *INGEST) as con:
        assert median(con, c.AMOUNT, rows, ROWS) == exact == pytest.approx(14.995)
        assert median(con, c.AMOUNT, f"{rows} WHERE {c.AMOUNT} < 0", ROWS) is None
        apart = f"(SELECT i / 7 AS {c.AMOUNT} FROM range({ROWS}) t(i))"  # 2M distinct
        estimate = median(con, c.AMOUNT, apart, ROWS)
    assert estimate is not None and abs(estimate - (ROWS - 1) / 14) < ROWS / 7 * 0.001
