"""The Dask training's workers as LightGBM is to see them, on a real ``LocalCluster`` (2 worker
processes, 1 thread each): ``_RankedClient`` answers where the training partitions are in
the order asked, whatever order they were computed in, and a worker that hangs (stopped
with SIGSTOP: a frozen process, as a swapping machine's or a debugger's) is said naming
the wait that ran out, not as a library's socket error or a connection's traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lifecycle.cluster import dask_client
from lifecycle.settings import load_settings
from training.distributed import _dask_frames, _RankedClient, boost
from training.errors import TrainingError
from training.models import model_specs

MINUTE = {"LIFECYCLE_DASK__SCHEDULER": "local:2", "LIFECYCLE_DASK__NETWORK_TIMEOUT_MINUTES": "1"}


@contextlib.contextmanager
def _cluster() -> Iterator[tuple[Any, dict[str, int]]]:
    """A ``local:2`` cluster as the CLI starts it, and its workers' process ids by address;
    every worker stopped in the block is continued before the cluster closes."""
    with dask_client(load_settings(environ=MINUTE)) as client:
        pids = client.run(os.getpid)
        try:
            yield client, pids
        finally:
            for pid in pids.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def _training(client: Any, rounds: int) -> tuple[Any, ...]:
    """A refit's arguments to ``boost``: 20,000 rows over the two workers, ``rounds`` trees."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({f"f{i}": rng.normal(size=20_000) for i in range(5)})
    y = pd.Series((x["f0"] + rng.normal(size=20_000) > 0).astype(float))
    spec = replace(model_specs(load_settings(environ={}))["churn"], num_boost_round=rounds)
    x_dask, y_dask, categorical, _ = _dask_frames(x, y, [], client)
    return client, x_dask, y_dask, None, None, spec.lgb_params(1), spec, categorical, rounds, 1


def test_who_has_answers_in_the_order_asked_whatever_the_order_computed() -> None:
    """LightGBM's ranks follow ``who_has``'s answer; here the later futures finish first."""
    with _cluster() as (client, pids):
        workers = sorted(pids)
        futures = [
            client.submit(time.sleep, 0.6 - 0.1 * i, key=f"part-{i}", workers=workers[i % 2 :][:1])
            for i in range(6)
        ]
        client.gather(futures)
        ranked = _RankedClient(client)
        for asked in (futures, futures[::-1], futures[1::2] + futures[::2]):
            answer = ranked.who_has(asked)
            assert list(answer) == [f.key for f in asked]
            assert all(list(answer[f"part-{i}"]) == [workers[i % 2]] for i in range(6))


def test_a_worker_hanging_in_training_is_said_naming_the_timeout() -> None:
    """A worker frozen mid-training: the other's receive ran out after LightGBM's time_out and
    the error was "LightGBM failed on the cluster (Socket recv error, Resource temporarily
    unavailable (code: 11)); the workers' output says why": they say nothing of it."""
    with _cluster() as (client, pids):
        arguments = _training(client, 5_000)

        def stop_one() -> None:  # once LightGBM trains, and a second into it
            while not any(
                str(key).startswith("_train_part")
                for keys in client.processing().values()
                for key in keys
            ):
                time.sleep(0.1)
            time.sleep(1.0)
            os.kill(pids[sorted(pids)[1]], signal.SIGSTOP)

        stopper = threading.Thread(target=stop_one, daemon=True)
        stopper.start()
        started = time.monotonic()
        with pytest.raises(TrainingError) as raised:
            boost(*arguments)
        stopper.join(timeout=1)
    message = str(raised.value)
    assert message.startswith("Dask training: a LightGBM worker gave no answer within 1 minute ")
    assert "dask.network_timeout_minutes" in message, message
    assert 60 <= time.monotonic() - started < 240


def test_a_worker_hanging_before_training_is_said_in_one_line() -> None:
    """A worker frozen before the training: the wait for an earlier fit's threads asks every
    worker, and the scheduler's CommClosedError came through as it was."""
    with _cluster() as (client, pids):
        arguments = _training(client, 10)
        os.kill(pids[sorted(pids)[1]], signal.SIGSTOP)
        with pytest.raises(TrainingError, match="a worker did not answer the scheduler"):
            boost(*arguments)
