"""What a local Dask cluster's workers write on the command's terminal, as log records.

A ``local:N`` cluster's worker processes share the command's stdout and stderr: LightGBM's
lines (its C library's included) and dask's own logs, such as a failed task's "Compute Failed"
traceback, landed above the command's one-line error. Each worker's output becomes records of
the ``WORKER_OUTPUT`` logger instead, forwarded to the command's process, where the CLI shows
them with ``--verbose`` only, as the other libraries' words (``lifecycle.console``).

A worker that crashes (LightGBM's native code dies on a signal) writes nothing more: its pipe
dies with it. Its nanny, in the command's process, notes the death in a record of its own,
which dask's silenced logs dropped; :func:`worker_deaths_logged` makes it a ``WORKER_OUTPUT``
record too ("Worker process 4211 was killed by signal 11 (SIGSEGV)"), the one line that
says why the other workers then fail with "Socket recv error".
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from lifecycle.cluster import WORKER_OUTPUT

if TYPE_CHECKING:
    from distributed import Client, Worker


class WorkerOutputToLog(WorkerPlugin):
    """The worker's file descriptors 1 and 2 become a pipe whose lines are ``WORKER_OUTPUT``
    records there."""

    idempotent = True  # one pipe a worker, however often registered

    def setup(self, worker: Worker) -> None:
        lines = logging.getLogger(WORKER_OUTPUT)
        lines.propagate = False  # only the forwarding handler: none writes to the pipe again
        lines.setLevel(logging.INFO)
        read, write = os.pipe()
        for stream in (1, 2):
            os.dup2(write, stream)
        os.close(write)

        def pump() -> None:
            with os.fdopen(read, errors="replace") as output:
                for line in output:
                    if line.strip():
                        lines.info("%s: %s", worker.name, line.rstrip())

        threading.Thread(target=pump, name="lifecycle-worker-output", daemon=True).start()


def forward_worker_output(client: Client) -> None:
    """Every worker's output (those that join later too) to ``WORKER_OUTPUT`` records here."""
    client.register_plugin(WorkerOutputToLog(), name="lifecycle-worker-output")
    client.forward_logging(WORKER_OUTPUT)


NANNY = "distributed.nanny"  # a local cluster's nannies live in the command's process
DEATH = re.compile(r"Worker process \d+ (was killed by|exited with status)")


class _WorkerDeaths(logging.Handler):
    """The nanny's "Worker process N was killed by signal S" as a ``WORKER_OUTPUT`` record,
    the signal named."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not DEATH.match(message):
            return
        killed = re.search(r"killed by signal (\d+)$", message)
        if killed:
            with contextlib.suppress(ValueError):
                message += f" ({signal.Signals(int(killed.group(1))).name})"
        logging.getLogger(WORKER_OUTPUT).warning("%s", message)


@contextlib.contextmanager
def worker_deaths_logged() -> Iterator[None]:
    """Inside the block, a local cluster's worker that dies is a ``WORKER_OUTPUT`` record."""
    nanny = logging.getLogger(NANNY)
    handler, level = _WorkerDeaths(logging.INFO), nanny.level
    nanny.addHandler(handler)
    if nanny.getEffectiveLevel() > logging.INFO:  # the death is an INFO record
        nanny.setLevel(logging.INFO)
    try:
        yield
    finally:
        nanny.removeHandler(handler)
        nanny.setLevel(level)
