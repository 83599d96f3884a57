"""The Dask cluster that training and batch scoring share, from settings.

``dask.scheduler`` is a scheduler address (``tcp://host:8786``) or ``local:N`` for a
``LocalCluster`` of N single-threaded worker processes started for the duration of the work;
what they write, and a worker's death, become log records (:mod:`lifecycle.worker_output`),
not the terminal's lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

    from lifecycle.settings import Settings

LOCAL_PREFIX = "local:"
WORKER_OUTPUT = "dask_workers"  # logger of what a local cluster's workers wrote, one record a line


@contextlib.contextmanager
def dask_client(settings: Settings) -> Iterator[Client]:
    """A client on the configured cluster; a ``local:N`` cluster lives only inside the block."""
    from distributed import Client, LocalCluster

    from lifecycle.worker_output import forward_worker_output, worker_deaths_logged

    scheduler = settings.dask.scheduler
    if not scheduler.startswith(LOCAL_PREFIX):
        with Client(scheduler, timeout=settings.dask.connect_timeout_seconds) as client:
            yield client
        return
    workers = int(scheduler.removeprefix(LOCAL_PREFIX) or 1)
    with (
        worker_deaths_logged(),  # outlives the cluster: a death noted as it closes is said too
        LocalCluster(
            n_workers=workers,
            threads_per_worker=settings.dask.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR: worker chatter would bury the command's output
        ) as cluster,
        Client(cluster) as client,
    ):
        forward_worker_output(client)
        yield client
