"""Batch scoring as partitioned work on a Dask cluster: the same ``score_frame``, per partition.

The cluster comes from settings (:func:`lifecycle.cluster.dask_client`). Each partition is scored by
:func:`serving.scoring.score_frame` with the champions scattered once to every worker, so
the scores are those of the in-process path, row for row. A copy of a bundle leaves its
compiled trees behind (native code of the client's process), and LightGBM's predictions
differ from them in the last bits (1e-12 on online_retail's churn and LTV): so each worker
loads the trees the client scores with from the compiled cache (``serving.compile_trees``),
and those it cannot find there (a cluster without the workspace) predict through LightGBM.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from serving.scoring import Champions, score_frame

if TYPE_CHECKING:
    from distributed import Client


# The bundle copies a worker has looked up in the compiled cache (by id; weak, so a copy
# that is gone frees its id for the next)
_LOOKED_UP: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def _partitions(rows: int, client: Client, partition_rows: int) -> int:
    """Enough partitions to keep every worker busy and none larger than ``partition_rows``."""
    workers = max(len(client.scheduler_info(n_workers=-1)["workers"]), 1)
    return max(workers, -(-rows // max(partition_rows, 1)), 1)


# task -> the compiled cache's folder and the champion's name there, whether the client
# predicts with compiled trees and whether it explains with TreeSHAP tables: what a worker
# loads to score as the client does
SameTrees = Mapping[str, tuple[Path, str, bool, bool]]


def same_trees(champions: Champions, cache_dir: Path, names: Mapping[str, str]) -> SameTrees:
    """What the workers load to predict with the very trees the client's champions use."""
    return {
        task: (cache_dir, names[task], bool(bundle.compiled), bundle.shap_tables is not None)
        for task, bundle in champions.bundles.items()
        if bundle.compiled or bundle.shap_tables is not None
    }


def _score_partition(
    features: pd.DataFrame, champions: Champions, reasons: bool, trees: SameTrees
) -> pd.DataFrame:
    for task, (cache_dir, name, compiled, tables) in trees.items():
        bundle = champions.bundles[task]  # the worker's one copy: loaded by its first partition
        # Only where the client's are compiled (a cache filled mid-run by a server must not
        # make later partitions differ), and looked up once per worker copy.
        if compiled and not bundle.compiled and _LOOKED_UP.get(id(bundle)) is not bundle:
            _LOOKED_UP[id(bundle)] = bundle
            bundle.compile_trees(cache_dir, name, cached_only=True)
        if tables:
            bundle.tabulate_reasons()
    return score_frame(champions, features, reasons=reasons)


def score_partitioned(
    champions: Champions,
    features: pd.DataFrame | Any,
    client: Client,
    *,
    partition_rows: int = 100_000,
    reasons: bool = True,
    trees: SameTrees | None = None,
) -> pd.DataFrame:
    """``score_frame`` over the rows of ``features`` (pandas or Dask), one task per partition.

    The result has the rows and index of the input, in input order, exactly as the
    in-process ``score_frame(champions, features)`` would return them; ``trees``
    (:func:`same_trees`) when the champions' trees are compiled.
    """
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        if isinstance(features, pd.DataFrame):
            if features.empty:
                return score_frame(champions, features, reasons=reasons)
            frame = dd.from_pandas(
                features,
                npartitions=_partitions(len(features), client, partition_rows),
                sort=False,
            )
        else:
            frame = features
        meta = score_frame(champions, frame.head(2, npartitions=-1), reasons=reasons).iloc[:0]
        [shared] = client.scatter([champions], broadcast=True)
        scored = frame.map_partitions(_score_partition, shared, reasons, trees or {}, meta=meta)
        return client.compute(scored).result()


def score_parquet(
    champions: Champions,
    features_path: Path,
    out_dir: Path,
    client: Client,
    *,
    partition_rows: int = 100_000,
    trees: SameTrees | None = None,
) -> dict[str, Any]:
    """Score a Parquet feature table partition by partition into ``out_dir`` (one file each).

    Nothing is gathered on the client: for tables larger than its memory. Reasons are left
    out (they are nested lists); the ranked lists take them from ``score_frame`` on the top rows.
    """
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):
        frame = dd.read_parquet(str(features_path), split_row_groups="adaptive")
        rows = int(frame.map_partitions(len).sum().compute())
        wanted = _partitions(rows, client, partition_rows)
        if frame.npartitions < wanted:
            frame = frame.repartition(npartitions=wanted)
        meta = score_frame(champions, frame.head(2, npartitions=-1), reasons=False).iloc[:0]
        [shared] = client.scatter([champions], broadcast=True)
        scored = frame.map_partitions(_score_partition, shared, False, trees or {}, meta=meta)
        out_dir.mkdir(parents=True, exist_ok=True)
        scored.to_parquet(str(out_dir), write_index=False, compute=True)
    return {"rows": rows, "partitions": scored.npartitions, "out": str(out_dir)}
