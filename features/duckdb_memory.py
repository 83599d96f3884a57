"""The DuckDB connection of the builds over a whole event log (features, labels), in UTC, and
its memory; and the cursors one ingest's steps each work in (:func:`cursor`).

Without a limit DuckDB holds up to 80% of the machine's memory before it spills: the as-of
feature table of 306,410 customers (10.6M user-cutoff rows) held 8.8 GB. With
``features.memory_limit`` set, its joins, aggregates and sort spill to a folder beside the
table they build (a hidden staging folder, removed after; one left by a killed build is
swept by the next atomic write there), never to the current directory. Out of memory even
so: one line naming the setting, not DuckDB's traceback.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.errors import UserError
from lifecycle.sql import literal

if TYPE_CHECKING:
    import duckdb

DEFAULT_MEMORY_LIMIT = "4GB"  # as settings features.memory_limit
SETTING = "features.memory_limit"
# bounded()'s words for an ingest's connection (validating and merging a file into a dataset)
INGEST = ("ingest.memory_limit", ("the dataset", "the dataset"))


class OutOfMemory(UserError):
    """DuckDB ran out of memory under ``features.memory_limit`` or ``ingest.memory_limit`` (it
    could not spill enough)."""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose session time zone is UTC."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextlib.contextmanager
def cursor(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of ``con`` for the block, closed after: the connection's database and memory
    limit, but temporary tables and session settings (the time zone) of its own, as a new
    connection has. Opening a connection costs 15 ms of CPU, a cursor 0.15 ms: one ingest
    opens one and each of its steps works in a cursor of it. ``con`` None: a connection of
    its own (a step run alone: `datasets`, `forget`). A Python function (create_function)
    is registered on the connection, never in a cursor: it is the catalog's, and called once
    the cursor is closed, it crashes the process."""
    import duckdb

    with con.cursor() if con is not None else duckdb.connect() as own:
        yield own


@contextlib.contextmanager
def bounded(
    con: duckdb.DuckDBPyConnection,
    memory_limit: str | None,
    beside: Path,
    setting: str = SETTING,
    building: tuple[str, str] = ("the features", "the feature table"),
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` limited to ``memory_limit``, spilling to a folder beside ``beside`` (a file
    being built), for the block; the connection is closed and the folder removed after it.
    ``memory_limit`` None: DuckDB's own default (80% of the memory), no spill folder.
    Out of memory: one line naming ``setting`` and ``building`` (what, and the table the
    spill folder is beside)."""
    import duckdb

    from lifecycle.storage import staging_name

    spill = None
    if memory_limit is not None:
        spill = beside.parent / staging_name(f"{beside.name}.spill", "dir")
        spill.mkdir(parents=True)
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
        con.execute(f"SET temp_directory = {literal(spill)}")
    try:
        yield con
    except duckdb.OutOfMemoryException as error:
        raise OutOfMemory(out_of_memory(memory_limit, error, setting, building)) from None
    finally:
        con.close()
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


def out_of_memory(
    memory_limit: str | None,
    error: Exception,
    setting: str = SETTING,
    building: tuple[str, str] = ("the features", "the feature table"),
) -> str:
    """One line: what ran out, the setting, and what to do."""
    said = str(error).splitlines()[0].removeprefix("Out of Memory Error: ")[:160]
    limit = f"{setting} = {memory_limit!r}" if memory_limit else f"{setting} unset"
    variable = "LIFECYCLE_" + setting.upper().replace(".", "__")
    return (
        f"DuckDB ran out of memory building {building[0]} ({said}) with {limit}: raise "
        f"{setting} (e.g. {variable}=8GB) or free disk space for its spill folder beside "
        f"{building[1]}"
    )


# Up to this many values a median is DuckDB's exact one; beyond, its t-digest estimate: the
# exact median holds every value (under ingest.memory_limit's default 256MB it ran out between
# 10M and 15M amounts; approx_quantile took 30M in 3.7 s), an estimate a few kilobytes. It is
# a threshold's scale (10 times a dataset's median amount), and off by about 0.01% (49.965
# for 49.969 over 2M amounts): a value that close to a threshold is judged either way.
EXACT_MEDIAN_VALUES = 1_000_000


def median(con: duckdb.DuckDBPyConnection, value: str, rows: str, count: int) -> float | None:
    """The median of ``value`` over ``rows`` (what follows FROM: a table, read_parquet(...),
    with its WHERE), of ``count`` values: exact up to :data:`EXACT_MEDIAN_VALUES`, estimated
    beyond (``approx_quantile``), so a dataset of any size has one in little memory. None: no
    value."""
    how = "median({})" if count <= EXACT_MEDIAN_VALUES else "approx_quantile({}, 0.5)"
    ((found,),) = con.execute(f"SELECT {how.format(value)} FROM {rows}").fetchall()
    return None if found is None else float(found)
