"""The same input gives the same dataset, row for row: an ingest and an append order the rows
they write totally, ties on (event_time, user_id) too (an append's merge had no tie-break:
two identical appends of online_retail's months wrote 60 rows in another order)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
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
