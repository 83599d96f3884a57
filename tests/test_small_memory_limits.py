"""An ingest's whole-table steps under a small ingest.memory_limit: a file of 2M rows (1M
orders of two lines, each repeating its order's total) ran out of 32MB in repeated_totals,
whose aggregate held every order id on each of DuckDB's two threads (and count(DISTINCT)
its amounts, which never spills), and of 17MB with one thread; the exact median of 1M amounts ran out of 17MB (16 MiB,
the least the setting takes). What still cannot fit says so in one line naming the
setting, the step and a value to set."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features import contract as c
from features.appending import merge_events
from features.duckdb_memory import INGEST, OutOfMemory, bounded, connect, median
from features.id_spellings import SPELT_APART, spelt_apart
from features.line_items import OrderLines, repeated_totals
from features.quarantine import Quarantine
from features.read_words import LINE_ITEMS_NOTE, REPEATED_TOTALS
from features.staged_tables import write_sorted
from features.table_checks import TableChecks
from lifecycle.sql import literal

ROWS = 2_000_000  # 1M orders of two lines


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file's staged good rows: each order's total on both of its lines (DuckDB, 1 s)."""
    path = tmp_path_factory.mktemp("orders") / "staged.parquet"
    connect().execute(
        f"COPY (SELECT i + 1 AS source_row, 'u' || (i // 2 % 50000) AS {c.USER_ID}, "
        f"TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i // 2) AS {c.EVENT_TIME}, "
        f"'{c.PURCHASE}' AS {c.EVENT_TYPE}, (10 + (i // 2 % 1000) / 100)::DOUBLE AS {c.AMOUNT}, "
        f"'o' || (i // 2) AS {c.ORDER_ID} FROM range({ROWS}) t(i)) TO {literal(path)}"
    )
    return f"read_parquet({literal(path)})"


def _repeated_totals(limit: str, orders: str, tmp_path: Path) -> tuple[list[int], TableChecks]:
    checks = TableChecks()
    with bounded(connect(), limit, tmp_path / "shop", *INGEST) as con:
        con.execute("CREATE TEMP TABLE held_back (source_row BIGINT)")
        found = repeated_totals(con, orders, "source_row", checks)
    return found.tolist(), checks


def test_the_totals_on_the_lines_of_many_orders_are_found_under_the_least_limit(
    orders: str, tmp_path: Path
) -> None:
    """The aggregate of order ids ran out of 17MB from 150,000 orders (of 1M, up to 23MB); its
    window, which spills, takes over. The file's first 250,000 orders (5 s, where 1M take 20)."""
    rows = ROWS // 4
    part = f"(SELECT * FROM {orders} WHERE source_row <= {rows})"
    found, checks = _repeated_totals("17MB", part, tmp_path)
    assert len(found) == rows // 2 and found[:3] == [2, 4, 6]  # each order's second line
    note = checks.notes[REPEATED_TOTALS]
    assert (note["orders"], note["of"], note["rows"]) == (rows // 2, rows // 2, rows // 2)


def test_a_median_of_a_million_amounts_is_estimated_under_the_least_limit(tmp_path: Path) -> None:
    with bounded(connect(), "17MB", tmp_path / "shop", *INGEST) as con:
        con.execute(
            "CREATE TEMP TABLE amounts AS SELECT (10 + (i % 1000) / 100)::DOUBLE AS a "
            "FROM range(1000000) t(i)"
        )
        assert abs(median(con, "a", "amounts", 1_000_000) - 14.995) <= 0.01
        assert median(con, "a", "amounts WHERE a < 10.04", 4_000) == 10.015  # exact


def test_out_of_memory_names_the_setting_the_step_and_a_value_to_set(
    orders: str, tmp_path: Path
) -> None:
    shop, out = tmp_path / "shop", tmp_path / "sorted.parquet"
    with pytest.raises(OutOfMemory) as refused, bounded(connect(), "17MB", shop, *INGEST) as con:
        _sort_by_customer(con, orders, out)
    said = str(refused.value)
    assert "\n" not in said and "ingest.memory_limit = '17MB'" in said, said
    assert f" in tests.test_small_memory_limits.{_sort_by_customer.__name__} (" in said, said
    assert "(e.g. LIFECYCLE_INGEST__MEMORY_LIMIT=256MB)" in said, said
    with bounded(connect(), "256MB", shop, *INGEST) as con:  # the value said works
        _sort_by_customer(con, orders, out)
    assert pq.read_metadata(out).num_rows == ROWS


def test_a_file_s_rows_are_sorted_into_the_dataset_under_the_least_limit(
    orders: str, tmp_path: Path
) -> None:
    """An ingest's last step, its good rows (those not held back) in time order: DuckDB's sort
    of the filtered file ran out of 24MB; held in a table first, 16 MiB sort it."""
    out = tmp_path / "events.parquet"
    schema = pq.read_schema(orders.removeprefix("read_parquet('").removesuffix("')"))
    with bounded(connect(), "17MB", tmp_path / "shop", *INGEST) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            "CREATE TEMP TABLE held_back AS SELECT 7 * range AS source_row FROM range(1000)"
        )
        write_sorted(
            con,
            f"SELECT * FROM {orders} WHERE source_row NOT IN (SELECT source_row FROM held_back)",
            f"{c.EVENT_TIME}, {c.USER_ID}, source_row",
            schema,
            out,
        )
    written = pq.read_table(out, columns=[c.EVENT_TIME, "source_row"])
    assert written.num_rows == ROWS - 1_000 + 1  # row 0 is no source row: 999 held
    times = written.column(c.EVENT_TIME).to_numpy()
    assert (times[1:] >= times[:-1]).all()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_duckdb_runs_no_more_threads_than_the_cpus_the_process_may_use(tmp_path: Path) -> None:
    """Held to one CPU (as ``taskset -c 0`` or a container's cpuset holds it), DuckDB still
    counts the machine's CPUs: two threads here under 256MB, before; one now."""
    probe = (
        "import os, sys; from pathlib import Path\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from features.duckdb_memory import INGEST, bounded, connect\n"
        "with bounded(connect(), '256MB', Path(sys.argv[1]) / 'shop', *INGEST) as con:\n"
        "    print(con.execute(\"SELECT current_setting('threads')\").fetchone()[0])\n"
    )
    root = Path(__file__).resolve().parents[1]
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert ran.stdout.split() == ["1"], ran.stdout + ran.stderr


def _sort_by_customer(con: duckdb.DuckDBPyConnection, orders: str, out: Path) -> None:
    """A step of ours sorting the 2M rows by customer and order (write_sorted, which the
    ingest's last step and an append's merge call)."""
    schema = pq.read_schema(orders.removeprefix("read_parquet('").removesuffix("')"))
    write_sorted(con, f"SELECT * FROM {orders}", f"{c.USER_ID}, {c.ORDER_ID}", schema, out)


def test_out_of_memory_read_through_arrow_names_the_step_and_the_limit(
    orders: str, tmp_path: Path
) -> None:
    """DuckDB's sort of 2M rows by a repeating string key fits 19MB, but reading its result
    batch by batch (Arrow's reader, write_batches) pins more than that: DuckDB's words come
    as Arrow's OSError, not DuckDB's exception, and still make the one line."""
    shop = tmp_path / "shop"
    with pytest.raises(OutOfMemory) as refused, bounded(connect(), "19MB", shop, *INGEST) as con:
        con.execute("SET enable_progress_bar = false")
        _sort_by_customer(con, orders, tmp_path / "sorted.parquet")
    raised = refused.value.__context__  # what bounded caught
    assert isinstance(raised, OSError) and not isinstance(raised, duckdb.Error), repr(raised)
    said = str(refused.value)
    assert "\n" not in said and "ingest.memory_limit = '19MB'" in said, said
    assert f" in tests.test_small_memory_limits.{_sort_by_customer.__name__} (" in said, said
    assert "(failed to pin block of size" in said, said


def test_ids_spelt_apart_among_many_users_are_found_under_the_least_limit(
    tmp_path: Path,
) -> None:
    """A list of ids per spelling key of 100,000 users ran out of 17MB (a 2M-event log's
    ingest, past repeated_totals); the lists are built for the keys of several ids only."""
    events = tmp_path / "events.parquet"
    connect().execute(
        f"COPY (SELECT (100000 + i)::VARCHAR AS {c.USER_ID} FROM range(200000) t(i) "
        f"UNION ALL SELECT '0' || (100000 + i) FROM range(3) t(i) "
        f"UNION ALL SELECT ' 100005 ') TO {literal(events)}"
    )
    with bounded(connect(), "17MB", tmp_path / "shop", *INGEST) as con:
        note = spelt_apart(con, f"read_parquet({literal(events)})")[SPELT_APART]
    assert (note["groups"], note["ids"]) == (4, 8), note
    assert note["example"] == [" 100005 ", "100005"], note


def _order_rows(first: int, rows: int, lines: int) -> pd.DataFrame:
    """A line-item export's rows from row ``first`` on: orders of ``lines`` rows, customer,
    date and total on the first row only (Shopify's layout)."""
    at = np.arange(first, first + rows)
    order = pd.Series((at // lines).astype(str), index=at)
    head = at % lines == 0
    return pd.DataFrame(
        {
            "Name": "#" + order,
            "Email": np.where(head, "c" + order + "@example.com", ""),
            "Created at": np.where(head, "2024-01-01 10:00:00", ""),
            "Total": np.where(head, "12.50", ""),
        },
        index=at,
    )


def test_a_chunk_of_order_lines_costs_its_rows_not_the_orders_read_before() -> None:
    """OrderLines looked the chunk's orders up with isin(every order read so far): with
    100,000 orders held, a 1,000-row chunk hashed them all again (3.9 MB; 13 MB
    and 1.4 s with 300,000). Each is looked up in the dict now."""
    columns = {c.USER_ID: "Email", c.EVENT_TIME: "Created at", c.AMOUNT: "Total"}
    order_lines = OrderLines(c.ColumnMapping({**columns, c.ORDER_ID: "Name"}))
    held = _order_rows(0, 100_000, 1)
    order_lines.fold(held, Quarantine(held), {})
    chunk = _order_rows(500_000, 1_000, 5).set_axis(range(100_000, 101_000))
    notes: dict[str, Any] = {}
    tracemalloc.start()
    try:
        order_lines.fold(chunk, Quarantine(chunk), notes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert notes[LINE_ITEMS_NOTE]["orders"] == 200 and notes[LINE_ITEMS_NOTE]["set_aside"] == 800
    assert peak < 1_000_000, f"{peak:,} bytes to fold 1,000 rows"


def _events(path: Path, rows: range, order: str = "i") -> None:
    """Purchases of rows ``rows`` (a second apart, two a customer), in ``order``."""
    connect().execute(
        f"COPY (SELECT 'u' || (i // 2 % 50000) AS {c.USER_ID}, TIMESTAMPTZ "
        f"'2020-01-01 00:00:00+00' + to_seconds(i // 2) AS {c.EVENT_TIME}, '{c.PURCHASE}' AS "
        f"{c.EVENT_TYPE}, (10 + i % 1000 / 100)::DOUBLE AS {c.AMOUNT} "
        f"FROM range({rows.start}, {rows.stop}) t(i) ORDER BY {order}) TO {literal(path)}"
    )


def test_an_append_to_millions_of_rows_sorts_its_new_rows_not_the_dataset(tmp_path: Path) -> None:
    """20,000 rows appended to 1.98M: the merge sorted all 2M by time and user and ran out of
    17MB to 23MB; the dataset's rows before the file's first are written as they are."""
    old, new, out = tmp_path / "events.parquet", tmp_path / "new.parquet", tmp_path / "out.parquet"
    _events(old, range(1_980_000))
    _events(new, range(1_980_000, 2_000_000))
    with bounded(connect(), "17MB", tmp_path / "shop", *INGEST) as con:
        merge_events(old, new, out, tmp_path / "held.csv", source="new.csv", con=con)
    assert pq.read_metadata(out).num_rows == 2_000_000
    written = pq.read_table(out, columns=[c.EVENT_TIME, c.AMOUNT])
    times = written.column(c.EVENT_TIME).to_numpy()
    assert (times[1:] >= times[:-1]).all()
    assert written.column(c.AMOUNT)[1_979_999:1_980_001].to_pylist() == pytest.approx([19.99, 10])


def test_a_dataset_out_of_order_is_sorted_with_the_file_s_rows(tmp_path: Path) -> None:
    """The dataset's rows are written unsorted only while they are seen in order: a file of
    another writer's, newest first, is sorted with the new rows as before."""
    old, new, out = tmp_path / "events.parquet", tmp_path / "new.parquet", tmp_path / "out.parquet"
    _events(old, range(1_000), order="i DESC")
    _events(new, range(999, 1_010))  # its first row is the dataset's newest, held
    merge_events(old, new, out, tmp_path / "held.csv", source="new.csv")
    written = pq.read_table(out).to_pandas()
    assert len(written) == 1_010 and written[c.EVENT_TIME].is_monotonic_increasing
    tied = written.groupby(c.EVENT_TIME)[c.USER_ID].apply(list)
    assert tied.iloc[0] == ["u0", "u0"] and tied.iloc[-1] == ["u504", "u504"]
