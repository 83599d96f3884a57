"""Training on a Dask cluster through ``lightgbm.dask``: same specs, same bundle, same calibration.

Selected by ``training.engine = "dask"``; the cluster is ``dask.scheduler`` (see
:mod:`serving.distributed`). The training rows become Dask dataframes partitioned over the
workers, and LightGBM trains data-parallel across them. ``lightgbm.dask`` has no early
stopping (each worker would judge on its own share of the validation rows), so boosting
runs in chunks of ``dask.rounds_per_chunk`` rounds, each continuing the previous booster,
and the client checks the whole validation set after every tree with LightGBM's own rule
(stop after ``early_stopping_rounds`` rounds without improvement; keep the best
iteration). Calibration and quantile models follow exactly as in :func:`training.models.fit_bundle`.

Distributed LightGBM (4.x) bins each feature on one worker, from that worker's rows only,
and a worker whose rows hold no value of a categorical feature dies while binning it (the
others then fail with "Socket recv error"). So the rows are dealt to the partitions in turn
(each partition spans every cutoff, as the whole matrix does), a categorical feature empty in
every training row (online_retail's ``channel``) goes to the cluster as a plain column (it
splits nothing either way), and one empty in some partition only is refused in one line.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lifecycle.bundle import ModelBundle
from lifecycle.cluster import dask_client
from training.errors import TrainingError
from training.models import ModelSpec, fit_bundle

if TYPE_CHECKING:
    from distributed import Client

    from lifecycle.settings import Settings

BIN_SAMPLE_ROWS = 200_000  # LightGBM's default bin_construct_sample_cnt
Loss = Callable[[np.ndarray, np.ndarray], float]  # (label, raw score) -> loss, lower is better


def validation_loss(params: dict[str, Any]) -> Loss:
    """The loss LightGBM's metric of these parameters computes, on raw scores."""
    metric = params.get("metric") or params["objective"]
    if metric == "binary_logloss":

        def logloss(y: np.ndarray, raw: np.ndarray) -> float:
            p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
            return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

        return logloss
    if metric == "tweedie":
        rho = float(params.get("tweedie_variance_power", 1.5))

        def tweedie(y: np.ndarray, raw: np.ndarray) -> float:
            a = y * np.exp((1 - rho) * raw) / (1 - rho)
            b = np.exp((2 - rho) * raw) / (2 - rho)
            return float(np.mean(-a + b))

        return tweedie
    if metric == "gamma":

        def gamma(y: np.ndarray, raw: np.ndarray) -> float:  # negative log-likelihood, log link
            return float(np.mean(y * np.exp(-raw) + raw))

        return gamma
    if metric == "quantile":
        alpha = float(params["alpha"])

        def pinball(y: np.ndarray, raw: np.ndarray) -> float:
            delta = y - raw
            return float(np.mean(np.where(delta >= 0, alpha * delta, (alpha - 1) * delta)))

        return pinball
    raise ValueError(f"no validation loss for LightGBM metric {metric!r} on the Dask path")


def _estimator(objective: str) -> Any:
    import lightgbm as lgb

    return lgb.DaskLGBMClassifier if objective == "binary" else lgb.DaskLGBMRegressor


def _dask_frames(
    matrix: pd.DataFrame,
    label: pd.Series,
    categorical: list[int],
    client: Client,
    sample_rows: int = BIN_SAMPLE_ROWS,
) -> tuple[Any, Any, list[int], int]:
    """Training matrix and label as Dask dataframes with matching partitions, one per worker,
    the categorical features the cluster can bin (see the module's docstring), and the rows
    each worker is to bin from (LightGBM's ``bin_construct_sample_cnt``, asked: ``sample_rows``;
    see :func:`_binning_sample`)."""
    import dask
    import dask.dataframe as dd

    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    parts = max(min(len(workers), len(matrix)), 1)
    x = matrix.reset_index(drop=True)
    y = pd.Series(np.asarray(label, dtype="float64"), name="label")
    shares = [np.arange(part, len(x), parts) for part in range(parts)]  # rows dealt in turn
    binnable = _binnable_categorical(x, categorical, shares)
    sample_rows = _binning_sample(x, binnable, shares, sample_rows)

    def pinned(frame: pd.DataFrame | pd.Series, part: int) -> Any:
        """Partition ``part`` of ``frame``, held by the ``part``-th worker (by address)."""
        rows = dd.from_pandas(frame.iloc[shares[part]], npartitions=1)
        return client.persist(rows, workers=workers[part : part + 1] or None)

    with dask.config.set({"dataframe.convert-string": False}):
        x_dask = dd.concat([pinned(x, part) for part in range(parts)])
        y_dask = dd.concat([pinned(y, part) for part in range(parts)])
    return x_dask, y_dask, binnable, sample_rows


class _RankedClient:
    """``client`` as lightgbm.dask is to see it: ``who_has`` answers in the order asked.

    lightgbm.dask makes the workers LightGBM's ranks in the order of ``client.who_has``'s answer
    for the training partitions, and distributed answers in the order of a set of their keys
    (string hashing: a new order each fit). Distributed LightGBM bins each feature on one rank
    from that rank's rows, so the model followed that order: with it the order of the
    partitions, rank 0 the worker holding the first, the same rows and seed give the same model.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name == "_client":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict[str, list[str]]:
        answer = self._client.who_has(futures, **kwargs)
        if futures is None:
            return dict(answer)
        asked = dict.fromkeys(future.key for future in self._client.futures_of(futures))
        return {key: answer[key] for key in asked}


def _binnable_categorical(
    x: pd.DataFrame, categorical: list[int], shares: list[np.ndarray]
) -> list[int]:
    """``categorical`` without the features no training row holds; one that some partition
    (``shares``: its rows) does not hold is a :class:`TrainingError`."""
    present = x.iloc[:, categorical].notna().to_numpy()
    kept = []
    for column, index in enumerate(categorical):
        if not present[:, column].any():
            continue  # no value anywhere: not split on in either engine
        empty = [part for part, rows in enumerate(shares) if not present[rows, column].any()]
        if empty:
            raise TrainingError(
                f"Dask training: the categorical feature '{x.columns[index]}' has values in "
                f"{int(present[:, column].sum())} of {len(x):,} training rows, none in partition "
                f"{empty[0] + 1} of {len(shares)}, and LightGBM's distributed binning dies on "
                "that; train in process (training.engine = local) or on fewer Dask workers"
            )
        kept.append(index)
    return kept


def _binning_sample(
    x: pd.DataFrame, categorical: list[int], shares: list[np.ndarray], sample_rows: int
) -> int:
    """``sample_rows``, or the largest partition's size where a sample of ``sample_rows`` rows
    of a partition could miss every value of a categorical feature (odds above 1e-12).

    Each worker bins from a random sample of its rows, and one whose sample holds no value of
    a categorical feature dies binning it as one whose rows hold none does: 8 rows of 4,000
    holding a category, a sample of 100 rows of each 2,000-row partition, crashed a worker.
    A whole partition sampled holds what the partition holds (:func:`_binnable_categorical`).
    """
    present = x.iloc[:, categorical].notna().to_numpy()
    for rows in shares:
        n = len(rows)
        if n <= sample_rows:
            continue
        for held in present[rows].sum(axis=0):
            if n - held >= sample_rows and _log_choose(n - held, sample_rows) - _log_choose(
                n, sample_rows
            ) > math.log(1e-12):  # hypergeometric: all sampled rows among those without it
                return max(len(part) for part in shares)
    return sample_rows


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _await_released(client: Client, minutes: int) -> None:
    """Wait (at most ``minutes``, LightGBM's ``time_out``) until no worker still runs a part of
    an earlier fit: one whose worker failed leaves the others' parts waiting on it that long,
    and a fit started beside them had its own workers wait on the held one as long, failing
    with "Socket recv error" when it did not come in time."""
    import time

    def held(dask_worker: Any) -> int:  # its threads in a part of a fit (sent by value)
        return sum(str(task.key).startswith("_train_part") for task in dask_worker.state.executing)

    deadline = time.monotonic() + 60 * minutes
    while sum(client.run(held).values()) and time.monotonic() < deadline:
        time.sleep(1.0)


def boost(
    client: Client,
    x_train: Any,
    y_train: Any,
    x_valid: np.ndarray | None,
    y_valid: np.ndarray | None,
    params: dict[str, Any],
    spec: ModelSpec,
    categorical: list[int],
    rounds_per_chunk: int,
    network_timeout_minutes: int = 10,
) -> Any:
    """A booster trained on the cluster, early-stopped on the validation rows; ``best_iteration``
    set. Without validation rows (a refit, whose number of trees is known) it grows
    ``spec.num_boost_round`` trees in one fit: in chunks, each scored on the training rows, a
    refit of online_retail's churn (92,009 rows) took 184 s of a 213 s Dask training.

    ``network_timeout_minutes`` is LightGBM's ``time_out`` unless ``params`` set it: a worker
    failing with an error (not a crash) after the workers connected leaves the others waiting
    on it in LightGBM's network that long, each holding a thread of its worker (120 minutes by
    LightGBM's default: on a scheduler's cluster, the next training waited behind them)."""
    import lightgbm as lgb
    from lightgbm.basic import LightGBMError

    # lightgbm.dask prints its notices ("Finding random open ports for workers") on stdout,
    # where --json's one document goes: records of the "lightgbm" logger instead
    notices = logging.getLogger("lightgbm")
    notices.setLevel(logging.INFO)
    lgb.register_logger(notices)
    estimator = _estimator(params["objective"])
    loss = validation_loss(params)
    # Each worker uses its own cores; the in-process thread count does not apply there.
    cluster_params = {k: v for k, v in params.items() if k not in ("num_threads", "metric")}
    cluster_params = {"time_out": network_timeout_minutes} | cluster_params
    _await_released(client, int(cluster_params["time_out"]))  # the one in force
    booster: Any = None
    checked = x_valid is not None and y_valid is not None
    if not checked:
        rounds_per_chunk = spec.num_boost_round
    raw = np.zeros(len(y_valid) if checked else 0)
    best_loss, best_iteration, trees = np.inf, 0, 0
    while trees < spec.num_boost_round:
        rounds = min(rounds_per_chunk, spec.num_boost_round - trees)
        model = estimator(client=_RankedClient(client), n_estimators=rounds, **cluster_params)
        try:
            model.fit(x_train, y_train, categorical_feature=categorical, init_model=booster)
        except LightGBMError as error:  # one worker's failure reaches the others as a socket error
            raise TrainingError(
                f"Dask training: LightGBM failed on the cluster ({str(error).strip()}); the "
                "workers' output says why (--verbose shows a local cluster's); train in process "
                "with training.engine = local"
            ) from error
        booster = model.booster_
        stopped = False
        if not checked:
            best_iteration = booster.current_iteration()
            break
        for tree in range(trees, booster.current_iteration()):
            raw += booster.predict(x_valid, start_iteration=tree, num_iteration=1, raw_score=True)
            current = loss(y_valid, raw)
            if current < best_loss:
                best_loss, best_iteration = current, tree + 1
            elif tree + 1 - best_iteration >= spec.early_stopping_rounds:
                stopped = True
                break
        trees = booster.current_iteration()
        if stopped or rounds == 0:
            break
    booster.best_iteration = max(best_iteration, 1)
    return booster


def fit_bundle_dask(
    task: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    *,
    settings: Settings,
    client: Client | None = None,
    **fit: Any,
) -> ModelBundle:
    """:func:`training.models.fit_bundle` (same keyword arguments) with the boosting done by
    ``lightgbm.dask`` on the cluster of ``client`` (default: one from the settings)."""
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(settings))
        cluster = client

        def trainer(
            draft: ModelBundle,
            train: pd.DataFrame,
            valid: pd.DataFrame,
            label: str,
            categorical: list[int],
            spec: ModelSpec,
            seed: int,
        ) -> Any:
            refit = valid is train  # as in process: a known number of trees, nothing to check
            x_valid = None if refit else draft.matrix(valid).to_numpy(dtype="float64")
            y_valid = None if refit else valid[label].to_numpy(dtype="float64")
            params = spec.lgb_params(seed)
            x_train, y_train, binnable, sample_rows = _dask_frames(
                draft.matrix(train),
                train[label],
                categorical,
                cluster,
                params.get("bin_construct_sample_cnt", BIN_SAMPLE_ROWS),
            )
            params["bin_construct_sample_cnt"] = sample_rows
            return lambda objective_params: boost(
                cluster,
                x_train,
                y_train,
                x_valid,
                y_valid,
                params | objective_params,
                spec,
                binnable,
                settings.dask.rounds_per_chunk,
                settings.dask.network_timeout_minutes,
            )

        return fit_bundle(task, train, valid, trainer=trainer, **fit)
