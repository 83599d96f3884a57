"""The DuckDB connection of the builds over a whole event log (features, labels), in UTC, and
its memory.

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


class OutOfMemory(UserError):
    """DuckDB ran out of memory under ``features.memory_limit`` (it could not spill enough)."""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose session time zone is UTC."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextlib.contextmanager
def bounded(
    con: duckdb.DuckDBPyConnection, memory_limit: str | None, beside: Path
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` limited to ``memory_limit``, spilling to a folder beside ``beside`` (a file
    being built), for the block; the connection is closed and the folder removed after it.
    ``memory_limit`` None: DuckDB's own default (80% of the memory), no spill folder."""
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
        raise OutOfMemory(out_of_memory(memory_limit, error)) from None
    finally:
        con.close()
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


def out_of_memory(memory_limit: str | None, error: Exception) -> str:
    """One line: what ran out, the setting, and what to do."""
    said = str(error).splitlines()[0].removeprefix("Out of Memory Error: ")[:160]
    limit = f"{SETTING} = {memory_limit!r}" if memory_limit else f"{SETTING} unset"
    return (
        f"DuckDB ran out of memory building the features ({said}) with {limit}: raise "
        f"{SETTING} (e.g. LIFECYCLE_FEATURES__MEMORY_LIMIT=8GB) or free disk space for "
        "its spill folder beside the feature table"
    )
