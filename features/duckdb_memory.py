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
        con.execute(f"SET threads = {threads_within(con, memory_limit)}")
    try:
        yield con
    except (duckdb.OutOfMemoryException, OSError) as error:
        # a result read through Arrow (to_arrow_reader) ran out as an OSError of its words
        if not isinstance(error, duckdb.OutOfMemoryException) and not str(error).startswith(
            "Out of Memory Error"
        ):
            raise
        raise OutOfMemory(out_of_memory(memory_limit, error, setting, building)) from None
    finally:
        con.close()
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


# What one of DuckDB's threads needs at least: a hash aggregate of 1M order ids (an ingest's
# repeated_totals over 2M rows) ran out of 32MB with two threads and took 1.2 s with one; it
# ran with two under 48MB. Each thread holds buffers of its own, which do not spill. Measured
# on 2 cores only: the eight this allows under the default 256MB were never run.
MEMORY_PER_THREAD = "32MB"


def threads_within(con: duckdb.DuckDBPyConnection, memory_limit: str) -> int:
    """The connection's threads, fewer under a small ``memory_limit``: one per
    :data:`MEMORY_PER_THREAD` (the default 256MB takes up to eight, the least, 16 MiB, one),
    and never more than the CPUs this process may run on (DuckDB counts the machine's: two
    in a process held to one CPU by its affinity, as ``taskset`` or a container's cpuset)."""
    from lifecycle.setting_types import memory_bytes

    ((threads,),) = con.execute("SELECT current_setting('threads')").fetchall()
    per_memory = memory_bytes(memory_limit) // memory_bytes(MEMORY_PER_THREAD)
    return max(1, min(int(threads), usable_cpus(), per_memory))


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity where the system has one (Linux), else
    the machine's count."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def out_of_memory(
    memory_limit: str | None,
    error: Exception,
    setting: str = SETTING,
    building: tuple[str, str] = ("the features", "the feature table"),
) -> str:
    """One line: what ran out, in which step (the innermost function of ours it ran in),
    the setting, and a value to try: the setting's default, or twice the limit above it."""
    said = str(error).splitlines()[0].removeprefix("Out of Memory Error: ")[:160]
    limit = f"{setting} = {memory_limit!r}" if memory_limit else f"{setting} unset"
    variable = "LIFECYCLE_" + setting.upper().replace(".", "__")
    step = _step(error)
    return (
        f"DuckDB ran out of memory building {building[0]}{step} ({said}) with {limit}: "
        f"raise {setting} (e.g. {variable}={_larger(memory_limit, setting)}) or free disk "
        f"space for its spill folder beside {building[1]}"
    )


# modules of helpers a step calls: the step is the function of ours that called them
_HELPERS = ("features/duckdb_memory.py", "features/staged_tables.py", "lifecycle/sql.py")


def _step(error: BaseException) -> str:
    """`` in <module>.<function>``: the innermost frame of the project's code (a helper's
    caller) the error was raised through; empty if none."""
    import traceback

    root = Path(__file__).resolve().parents[1]
    step = ""
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_file() and path.is_relative_to(root) and ".venv" not in path.parts:
            name = path.relative_to(root).as_posix()
            if not name.endswith(_HELPERS):
                step = f" in {name.removesuffix('.py').replace('/', '.')}.{frame.name}"
    return step


def _larger(memory_limit: str | None, setting: str) -> str:
    """The setting's default if ``memory_limit`` is below it, else twice the limit."""
    from features import validation
    from lifecycle.setting_types import memory_bytes

    default = validation.DEFAULT_MEMORY_LIMIT if setting == INGEST[0] else DEFAULT_MEMORY_LIMIT
    if memory_limit is None or memory_bytes(memory_limit) < memory_bytes(default):
        return default
    return f"{2 * memory_bytes(memory_limit) // 10**6:,}MB".replace(",", "")


# Up to this many values a median is DuckDB's exact one; beyond, its t-digest estimate: the
# exact median holds every value (under ingest.memory_limit's default 256MB it ran out between
# 10M and 15M amounts; approx_quantile took 30M in 3.7 s), an estimate a few kilobytes. It is
# a threshold's scale (10 times a dataset's median amount), and off by about 0.01% (49.965
# for 49.969 over 2M amounts): a value that close to a threshold is judged either way.
EXACT_MEDIAN_VALUES = 1_000_000
# ... and as many as the connection's memory limit holds at this many bytes a value: the
# exact median of 1M doubles ran out of 17MB (16 MiB, the least the setting takes), of 500k
# not, nor of 1M under 24MB
EXACT_MEDIAN_BYTES = 32


# ... and beyond, of at most this many distinct values (a shop's prices; DuckDB's HyperLogLog
# estimate of them, 0.18 CPU-s over 16M amounts) exact all the same, from each value's count:
# a GROUP BY of that many values holds a few MB, and is faster than the estimate
FEW_DISTINCT_VALUES = 100_000


def median(con: duckdb.DuckDBPyConnection, value: str, rows: str, count: int) -> float | None:
    """The median of ``value`` over ``rows`` (what follows FROM: a table, read_parquet(...),
    with its WHERE), of ``count`` values: exact up to :data:`EXACT_MEDIAN_VALUES` (and as
    many as the memory limit holds, :data:`EXACT_MEDIAN_BYTES` each) or of up to
    :data:`FEW_DISTINCT_VALUES` distinct values, estimated beyond (``approx_quantile``), so
    a dataset of any size has one in little memory. None: no value."""
    exact = count <= min(EXACT_MEDIAN_VALUES, memory_limit(con) // EXACT_MEDIAN_BYTES)
    if not exact:
        ((distinct,),) = con.execute(
            f"SELECT approx_count_distinct({value}) FROM {rows}"
        ).fetchall()
        if distinct <= FEW_DISTINCT_VALUES:
            return _counted_median(con, value, rows)
    how = "median({})" if exact else "approx_quantile({}, 0.5)"
    ((found,),) = con.execute(f"SELECT {how.format(value)} FROM {rows}").fetchall()
    return None if found is None else float(found)


def _counted_median(con: duckdb.DuckDBPyConnection, value: str, rows: str) -> float | None:
    """DuckDB's exact median of ``value`` over ``rows`` from each distinct value's count:
    of n values, lo + (hi - lo) * 0.5, lo and hi the ((n - 1) // 2)-th and (n // 2)-th in
    order (0-based), as its ``median`` interpolates."""
    lo, hi = con.execute(
        f"WITH g AS (SELECT v, count(*) AS k FROM (SELECT {value} AS v FROM {rows}) "
        "WHERE v IS NOT NULL GROUP BY v), "
        "c AS (SELECT v, sum(k) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) AS upto, "
        "sum(k) OVER () AS n FROM g) "
        "SELECT min(v) FILTER (WHERE upto > (n - 1) // 2), min(v) FILTER (WHERE upto > n // 2) "
        "FROM c"
    ).fetchone()
    if lo is None:
        return None
    lo, hi = float(lo), float(hi)
    return lo if lo == hi else lo + (hi - lo) * 0.5


def memory_limit(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit in bytes, as DuckDB says it ('16.2 MiB', '3.0 GB')."""
    import re

    ((said,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    number, unit, binary = re.fullmatch(
        r"([\d.]+)\s*([KMGT]?)(i?)B?(?:ytes)?", said.strip()
    ).groups()
    return int(float(number) * (1024 if binary else 1000) ** " KMGT".index(unit or " "))
