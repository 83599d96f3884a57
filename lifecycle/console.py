"""Output for people and machines: progress goes to stderr, the result to stdout.

With ``--json`` the result is one JSON document on stdout and progress lines stay on
stderr, so ``lifecycle --json ... | jq`` works while a person still sees progress.

The libraries underneath (MLflow, alembic, Feast, BentoML, ...) talk on stderr; their words
are routed through :meth:`Console.debug`, shown only with ``--verbose``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import click

from lifecycle.cluster import WORKER_OUTPUT
from lifecycle.errors import UserError


class Console:
    def __init__(self, as_json: bool = False, quiet: bool = False, verbose: bool = False) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.verbose = verbose
        self._started = time.perf_counter()
        self._last_line = self._started
        self._doing = ""  # the last progress line: what a heartbeat says is still going on
        self._doing_since = self._started
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def debug(self, message: str) -> None:
        """A line for ``--verbose`` only (what the libraries underneath said)."""
        if self.verbose:
            click.echo(f"  . {message}", err=True)

    def step(self, message: str) -> None:
        """A progress line on stderr, with the time since the command started."""
        self._doing = message
        self._say(message)
        self._doing_since = self._last_line

    def note(self, message: str) -> None:
        """A progress line that is no step: a heartbeat goes on naming the step before it
        (it said '... still the other commands work on dataset ...' during an import)."""
        self._say(message)

    def _say(self, message: str) -> None:
        if not self.quiet:
            self._last_line = time.perf_counter()
            click.echo(f"[{self._last_line - self._started:6.1f}s] {message}", err=True)

    def start_heartbeat(self, silence_seconds: float = 10.0) -> None:
        """After ``silence_seconds`` without a progress line, say what is still running (a
        long step of a library, e.g. Feast materializing, is never silent for long)."""
        if self.quiet or self._heartbeat is not None:
            return

        def beat() -> None:
            while not self._stop.wait(0.5):
                now = time.perf_counter()
                if self._doing and now - self._last_line >= silence_seconds:
                    self._say(f"... still {self._doing} ({now - self._doing_since:.0f} s so far)")

        self._heartbeat = threading.Thread(target=beat, name="lifecycle-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        """Stop the heartbeat (the command is over)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None

    def rows(self, label: str, every_seconds: float = 2.0) -> Callable[[str, int], None]:
        """A callback ``(table, rows read)`` printing at most one line every ``every_seconds``
        per table, for files whose row count is unknown until read."""
        last: dict[str, float] = {}

        def report(table: str, done: int) -> None:
            now = time.perf_counter()
            if now - last.setdefault(table, self._started) >= every_seconds:
                last[table] = now
                rate = done / max(now - self._started, 1e-9)
                self._say(f"{label} {table}: {done:,} rows read ({rate:,.0f} rows/s)")

        return report

    def progress(self, label: str) -> Callable[[int, int], None]:
        """A callback ``(done, total)`` that prints a progress line at most every 10%."""
        last = [-1]

        def report(done: int, total: int) -> None:
            tenth = int(10 * done / total) if total else 10
            if tenth != last[0]:
                last[0] = tenth
                self.step(f"{label}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%)")

        return report

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        """The command's result: JSON document or readable lines, on stdout."""
        try:
            if self.as_json:
                click.echo(json.dumps(json_ready(data), indent=2, default=str, allow_nan=False))
            else:
                for line in lines:
                    click.echo(line)
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            raise
        except OSError as error:  # `> /dev/full`, a full disk: not the workspace's to fix
            # what stdout holds goes nowhere: else the flush at exit fails again (exit 120)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise UserError(
                f"cannot write the result to standard output (where it was sent: a file, a "
                f"pipe): {error.strerror}"
            ) from None


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinity (an unknown value) as None: JSON has neither,
    and ``json.dumps`` would write ``NaN``, which no JSON reader accepts."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a numpy scalar (float32 is no float)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# Loggers of the libraries underneath whose INFO and WARNING lines are theirs, not ours.
FOREIGN_LOGGERS = (
    "alembic",
    "bentoml",
    "feast",
    "huey",
    "lightgbm",
    "mlflow",
    "py.warnings",
    "sqlalchemy",
    "urllib3",
    WORKER_OUTPUT,  # what a local Dask cluster's workers wrote (LightGBM's lines, dask's logs)
)


class _ToConsole(logging.Handler):
    def __init__(self, console: Console) -> None:
        super().__init__(logging.DEBUG)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.debug(f"{record.name}: {record.getMessage()}")
        except Exception:  # a bad log call of a library must not end the command
            self.handleError(record)


class _ToConsoleStream:
    """A file-like object whose complete lines go to :meth:`Console.debug`."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.console.debug(line)
        return len(text)

    def flush(self) -> None:
        pass


def route_library_output(console: Console, loggers: Sequence[str] = FOREIGN_LOGGERS) -> None:
    """Send the libraries' log records and MLflow's printed notices ("Successfully
    registered model ...") to ``console.debug`` instead of stderr."""
    handler = _ToConsole(console)
    for name in loggers:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    logging.captureWarnings(True)  # library warnings become "py.warnings" records
    # MLflow prints through its own stream, and replaces its loggers' handlers when first
    # imported: patch it now if loaded, else right after it loads (importing MLflow here
    # would cost `lifecycle --help` seconds).
    _after_import("mlflow.utils.logging_utils", lambda module: _route_mlflow(module, console))


def _route_mlflow(module: ModuleType, console: Console) -> None:
    stream = _ToConsoleStream(console)
    module.MLFLOW_LOGGING_STREAM.write = stream.write  # type: ignore[attr-defined]
    module.MLFLOW_LOGGING_STREAM.flush = stream.flush  # type: ignore[attr-defined]


def _after_import(name: str, then: Callable[[ModuleType], None]) -> None:
    """Call ``then(module)`` now if ``name`` is imported, else once it has been."""
    if name in sys.modules:
        then(sys.modules[name])
        return
    for finder in sys.meta_path:  # one hook per module: a later console replaces it
        if isinstance(finder, _AfterImport) and finder.name == name:
            finder.then = then
            return
    sys.meta_path.insert(0, _AfterImport(name, then))


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, then = spec.loader, self.then
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            then(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def emit_error(as_json: bool, message: str) -> None:
    """Errors always reach stderr; in JSON mode stdout also gets ``{"error": ...}``."""
    if as_json:
        with contextlib.suppress(OSError):  # stdout itself may be what failed: stderr says it
            click.echo(json.dumps({"error": message}))
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)
