"""What a local Dask cluster's workers write on the command's terminal, as log records.

A ``local:N`` cluster's worker processes share the command's stdout and stderr: LightGBM's
lines (its C library's included) and dask's own logs, such as a failed task's "Compute Failed"
traceback, landed above the command's one-line error. Each worker's output becomes records of
the ``WORKER_OUTPUT`` logger instead, forwarded to the command's process, where the CLI shows
them with ``--verbose`` only, as the other libraries' words (``lifecycle.console``).
"""

from __future__ import annotations

import logging
import os
import threading
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
