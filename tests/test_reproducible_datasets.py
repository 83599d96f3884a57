"""The same input gives the same dataset, row for row: an ingest and an append order the rows
they write totally, ties on (event_time, user_id) too (an append's merge had no tie-break:
two identical appends of online_retail's months wrote 60 rows in another order)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.appending import merge_events
from lifecycle.cli import main
from lifecycle.sql import literal
from lifecycle.workspace import Workspace

HEADER = "user_id,event_time,event_type,amount\n"


def _ties(path: Path, days: range, copies: int, users: int = 200) -> Path:
    """Purchases of ``users`` users, each ``copies`` times at the same moment with another
    amount (rows tied on time and user, none a repeat), one moment a user a day from
    2025-01-01 on. Over 122,880 rows (a DuckDB row group): sorted by two threads."""
    start = pd.Timestamp("2025-01-01")
    lines = [
        f"u{u},{start + pd.Timedelta(days=d, hours=u % 24)},purchase,{k + 1 + u / 1000:.3f}\n"
        for d in days
        for k in range(copies)
        for u in range(users)
    ]
    path.write_text(HEADER + "".join(lines))
    return path


def _ingest(home: Path, dataset: str, *args: str) -> pd.DataFrame:
    result = CliRunner().invoke(main, ["--json", "--quiet", "ingest", *args, "--dataset", dataset])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tables"]["events"]["rows_loaded"] > 0
    return pd.read_parquet(Workspace(home).events(dataset))


def test_the_same_ingest_and_the_same_append_write_the_same_rows_in_the_same_order(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _ties(tmp_path / "first.csv", range(60), 12)
    # the next export: its first days are late (tied with the dataset's rows), then new ones
    second = _ties(tmp_path / "second.csv", range(50, 70), 13)
    runs = []
    for dataset, memory in (("one", "256MB"), ("two", "32MB")):  # DuckDB on 2 threads, then 1
        monkeypatch.setenv("LIFECYCLE_INGEST__MEMORY_LIMIT", memory)
        ingested = _ingest(home, dataset, str(first))
        runs.append((ingested, _ingest(home, dataset, str(second), "--append")))
    (ingested, appended), (ingested_again, appended_again) = runs
    pd.testing.assert_frame_equal(ingested, ingested_again)
    assert len(appended) == len(ingested) + 200 * (10 + 10 * 13)  # late days' 13th copy, new days
    pd.testing.assert_frame_equal(appended, appended_again)
    # the ties in file order, the dataset's before the file's: each user-day's amounts rise
    steps = appended.groupby([c.EVENT_TIME, c.USER_ID])[c.AMOUNT].diff().dropna()
    assert (steps > 0).all()


def _purchases(con: duckdb.DuckDBPyConnection, path: Path, rows: int, first: float) -> Path:
    """``rows`` purchases of 50 users in moments of 100 tied rows (the same time and user),
    their amounts rising in file order from ``first`` (all apart); in row groups of 10,000 rows."""
    con.execute(
        f"COPY (SELECT 'u' || (i // 100 % 50) AS {c.USER_ID}, TIMESTAMPTZ '2025-01-01 00:00:00+00'"
        f" + to_hours(i // 5000) AS {c.EVENT_TIME}, '{c.PURCHASE}' AS {c.EVENT_TYPE}, "
        f"({first} + i / 100)::DOUBLE AS {c.AMOUNT} FROM range({rows}) t(i)) "
        f"TO {literal(path)} (ROW_GROUP_SIZE 10000)"
    )
    return path


def test_a_merge_of_a_file_without_staged_rows_numbers_them_in_file_order(tmp_path: Path) -> None:
    """merge_events on a plain file (no staged source rows) numbered its rows by
    ``row_number() OVER ()``: in the order DuckDB's threads hand them on, which it does not
    promise. Now by their place in the file: on 1 thread or 4, the same rows in the same order,
    the ties in file order (the dataset's first)."""
    con = duckdb.connect()
    old = _purchases(con, tmp_path / "events.parquet", 20_000, -1000.0)
    new = _purchases(con, tmp_path / "new.parquet", 200_000, 0.0)  # 20 row groups
    merged = []
    for threads, in_order in ((1, True), (4, False)):
        with duckdb.connect() as con:
            con.execute(f"SET threads = {threads}")
            con.execute(f"SET preserve_insertion_order = {in_order}")
            out = tmp_path / f"merged_{threads}.parquet"
            merge_events(old, new, out, tmp_path / "held.csv", source="new.csv", con=con)
        merged.append(pd.read_parquet(out))
    one, four = merged
    assert len(one) == 220_000  # no row of the file equals one of the dataset's
    pd.testing.assert_frame_equal(one, four)
    steps = one.groupby([c.EVENT_TIME, c.USER_ID])[c.AMOUNT].diff().dropna()
    assert (steps > 0).all()  # the dataset's row of a tie, then the file's in file order
