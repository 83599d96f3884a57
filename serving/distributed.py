"""Batch scoring as partitioned work on a Dask cluster: the same ``score_frame``, per partition.

The cluster comes from settings (:func:`lifecycle.cluster.dask_client`). Each partition is scored by
:func:`serving.scoring.score_frame` with the champions scattered once to every worker, so
the scores are those of the in-process path, row for row.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from serving.scoring import Champions, score_frame

if TYPE_CHECKING:
    from distributed import Client


def _partitions(rows: int, client: Client, partition_rows: int) -> int:
    """Enough partitions to keep every worker busy and none larger than ``partition_rows``."""
    workers = max(len(client.scheduler_info(n_workers=-1)["workers"]), 1)
    return max(workers, -(-rows // max(partition_rows, 1)), 1)


def _score_partition(features: pd.DataFrame, champions: Champions, reasons: bool) -> pd.DataFrame:
    return score_frame(champions, features, reasons=reasons)


def score_partitioned(
    champions: Champions,
    features: pd.DataFrame | Any,
    client: Client,
    *,
    partition_rows: int = 100_000,
    reasons: bool = True,
) -> pd.DataFrame:
    """``score_frame`` over the rows of ``features`` (pandas or Dask), one task per partition.

    The result has the rows and index of the input, in input order, exactly as the
    in-process ``score_frame(champions, features)`` would return them.
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
        scored = frame.map_partitions(_score_partition, shared, reasons, meta=meta)
        return client.compute(scored).result()


def score_parquet(
    champions: Champions,
    features_path: Path,
    out_dir: Path,
    client: Client,
    *,
    partition_rows: int = 100_000,
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
        scored = frame.map_partitions(_score_partition, shared, False, meta=meta)
        out_dir.mkdir(parents=True, exist_ok=True)
        scored.to_parquet(str(out_dir), write_index=False, compute=True)
    return {"rows": rows, "partitions": scored.npartitions, "out": str(out_dir)}
