"""An append merged into a dataset of millions of events within ingest.memory_limit: DuckDB's
sort of the dataset's rows UNION ALL the file's, read by two threads, ran out of a 32MB
limit over 2M events (of the default 256MB over 16M), where the sort of one table spills."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from features import contract as c
from features.appending import merge_events
from features.duckdb_memory import INGEST, bounded, connect
from lifecycle.sql import literal

ROWS = 2_000_000


def _events(path: Path, rows: int, user: str, start: str) -> Path:
    """``rows`` purchases, one a second from ``start``, written by DuckDB (0.5 s for 2M)."""
    connect().execute(
        f"COPY (SELECT '{user}' || (i % 50000) AS {c.USER_ID}, TIMESTAMPTZ '{start}' + "
        f"to_seconds(i) AS {c.EVENT_TIME}, '{c.PURCHASE}' AS {c.EVENT_TYPE}, "
        f"(10 + (i % 1000) / 100)::DOUBLE AS {c.AMOUNT} FROM range({rows}) t(i)) "
        f"TO {literal(path)}"
    )
    return path


def test_an_append_to_millions_of_events_is_merged_within_the_memory_limit(
    tmp_path: Path,
) -> None:
    old = _events(tmp_path / "events.parquet", ROWS, "u", "2020-01-01 00:00:00+00")
    # 30 purchases of new users on the dataset's last day: late, sorted among its events
    new = _events(tmp_path / "new.parquet", 30, "n", "2020-01-23 00:00:00+00")
    out = tmp_path / "merged.parquet"
    with bounded(connect(), "32MB", tmp_path / "shop", *INGEST) as con:
        merge_events(old, new, out, tmp_path / "held.csv", source="new.csv", con=con)
    merged = pq.read_table(out, columns=[c.EVENT_TIME, c.USER_ID])
    assert merged.num_rows == ROWS + 30
    times = merged.column(c.EVENT_TIME).to_numpy()
    assert (times[1:] >= times[:-1]).all()  # in time order, the new rows among the old
    assert sum(u.startswith("n") for u in merged.column(c.USER_ID).to_pylist()) == 30
