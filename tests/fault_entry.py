"""Subprocess entry point for tests/test_faults.py: the lifecycle CLI with a fault point.

usage: python tests/fault_entry.py POINT MARKER CLI-ARGS...

When the command reaches POINT the process writes MARKER and hangs there, so the test
can SIGKILL it at a known, demonstrably mid-way moment. POINT ``none`` runs the command
unchanged; ``registering`` writes the number of each registry write to MARKER (before the
register, after it, after each alias move) and waits for the test to probe it (no hang).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def hang(marker: str) -> None:
    Path(marker).write_text("reached")
    while True:
        time.sleep(1)


def in_turn(marker: str, most: float = 60.0) -> None:
    """Write the next step's number to MARKER, then wait (``most`` seconds at most) until the
    test has probed serving at it (MARKER.probed holds a number as high): each registry
    write is met by a probe however fast the machine (a count of probes in a window was not)."""
    step = int(Path(marker).read_text()) + 1 if Path(marker).exists() else 1
    Path(marker).write_text(str(step))
    probed, until = Path(f"{marker}.probed"), time.monotonic() + most
    while time.monotonic() < until:
        if probed.exists() and int(probed.read_text() or 0) >= step:
            return
        time.sleep(0.02)


def install(point: str, marker: str) -> None:
    if point == "materialize":  # after the first view's rows are written, before the commit
        from features.online_store import UserRowSqliteOnlineStore

        write = UserRowSqliteOnlineStore._insert

        def write_then_hang(self: Any, *args: Any, **kwargs: Any) -> None:
            write(self, *args, **kwargs)
            hang(marker)

        UserRowSqliteOnlineStore._insert = write_then_hang  # type: ignore[method-assign]
    elif point == "register":  # a new version is registered, no alias moved yet
        from mlflow import MlflowClient

        MlflowClient.set_registered_model_alias = lambda *_, **__: hang(marker)  # type: ignore[method-assign]
    elif point == "register_own_error":  # as register, the stop made a library's own error
        from mlflow import MlflowClient

        from lifecycle.errors import Stopped

        class SchemaError(Exception):  # pydantic-core's, raised as MLflow was imported
            pass

        def hang_as_a_library(*_: Any, **__: Any) -> None:
            try:
                hang(marker)
            except Stopped as stop:
                raise SchemaError(f"Invalid Schema: ... Stopped: {stop.signum}") from None

        MlflowClient.set_registered_model_alias = hang_as_a_library  # type: ignore[method-assign]
    elif point == "registering":  # each registry write waits for a probe of the test's
        import mlflow
        from mlflow import MlflowClient

        register, move = mlflow.register_model, MlflowClient.set_registered_model_alias

        def register_in_turn(*args: Any, **kwargs: Any) -> Any:
            in_turn(marker)  # before the version exists
            version = register(*args, **kwargs)
            in_turn(marker)  # registered, no alias moved
            return version

        def move_in_turn(self: Any, *args: Any, **kwargs: Any) -> None:
            move(self, *args, **kwargs)
            in_turn(marker)  # an alias moved (champion, challenger)

        mlflow.register_model = register_in_turn
        MlflowClient.set_registered_model_alias = move_in_turn  # type: ignore[method-assign]
    elif point == "alias":  # the champion alias has moved, its promotion tag not yet written
        from mlflow import MlflowClient

        MlflowClient.set_model_version_tag = lambda *_, **__: hang(marker)  # type: ignore[method-assign]
    elif point == "scores":  # half a scores table is on disk
        import pyarrow.parquet as pq

        write_table = pq.write_table

        def half_then_hang(table: Any, where: Any, **kwargs: Any) -> None:
            if "scores" not in Path(str(where)).name:
                return write_table(table, where, **kwargs)
            Path(where).write_bytes(b"PAR1 half a table")
            hang(marker)

        pq.write_table = half_then_hang
    elif point == "ingest":  # a first chunk's good rows are staged, no dataset swapped yet
        from features.staged_tables import ParquetSink

        write = ParquetSink.write

        def stage_then_hang(self: Any, *args: Any, **kwargs: Any) -> None:
            write(self, *args, **kwargs)
            if "staged" in self.path.name:
                hang(marker)

        ParquetSink.write = stage_then_hang  # type: ignore[method-assign]
    elif point == "campaign":  # a campaign's table is half written to its staging name
        import pyarrow.parquet as pq

        write_table = pq.write_table

        def campaign_half_then_hang(table: Any, where: Any, **kwargs: Any) -> None:
            if Path(str(where)).parent.name != "campaigns":
                return write_table(table, where, **kwargs)
            Path(where).write_bytes(b"PAR1 half a table")
            hang(marker)

        pq.write_table = campaign_half_then_hang
    elif point == "backtest":  # every cutoff judged, its MLflow run not logged yet
        import lifecycle.backtest

        lifecycle.backtest.log_run = lambda *_, **__: hang(marker)  # type: ignore[assignment]
    elif point != "none":
        raise SystemExit(f"unknown fault point {point}")


if __name__ == "__main__":
    point, marker, *cli_args = sys.argv[1:]
    install(point, marker)
    from lifecycle.cli import run

    run(cli_args)  # as the lifecycle script runs it
