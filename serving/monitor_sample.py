"""The monitor's current samples, kept by `score-all`, which already holds them in memory.

`lifecycle monitor` compares a sample of the latest cutoff's feature rows (the rows
:func:`serving.monitor.read_rows` picks by a hash of user and cutoff) and a sample of the
latest scores table's score columns (the positions :func:`serving.monitor.sample_positions`
draws) with the training window. Reading them from the feature table and the scores table
was most of a later monitor run on 1M users (decoding 45 columns of 1M rows to keep 100k).
`score-all` has the feature matrix and the scores in memory: it writes the same rows of the
same columns beside the scores (:attr:`Workspace.monitor_samples`), and the monitor reads
them when they still describe what it would read, else it reads as before:

- features: the same dataset, as-of date (the feature table's latest cutoff when written),
  champion versions, columns and ``monitor.max_rows``, and the same feature table (its
  lineage id, size and modification time: a rebuilt or rewritten table is not the one
  sampled);
- scores: the scores table ``latest`` points to now, and the same ``monitor.max_rows``.

Values are stored in the feature table's (and the scores table's) own Arrow types and read
back by the same readers, so the monitor's answer is the same either way
(``tests/test_monitor_sample.py``). The samples hold user rows without ids: ``lifecycle
forget`` deletes them (the next `score-all` writes them again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import lineage, tasks
from lifecycle.champion_inputs import learned_inputs
from lifecycle.sql import literal

if TYPE_CHECKING:
    import pyarrow as pa

    from lifecycle.settings import Settings
    from serving.batch import ScoresTable
    from serving.scoring import Champions

SAMPLE_KEY = b"lifecycle_monitor"  # Parquet key-value metadata: what a sample was taken of
# Samples are written plain: dictionary-encoding 100k distinct floats a column is most of the
# cost of writing one (0.49 s of CPU for 45 columns, 0.07 s plain) and of reading it back
# (0.19 s, 0.04 s plain), for 10% fewer bytes. A cache rewritten every run, not an archive.
PLAIN: dict[str, Any] = {"use_dictionary": False, "compression": "none"}


def feature_table_identity(table_path: Path) -> dict[str, Any]:
    """What tells one feature table from a rebuilt or rewritten one."""
    built = lineage.read(table_path) or {}
    stat = table_path.stat()
    return {"id": built.get("id", ""), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def keep_samples(
    settings: Settings,
    champions: Champions,
    features: pd.DataFrame,
    scores: pd.DataFrame,
    metadata: dict[str, Any],
    *,
    feature_table: Path,
    scores_table: Path,
    latest_cutoff: bool,
) -> list[Path]:
    """Write the monitor's samples of a `score-all` run (features only when it scored the
    latest cutoff); returns the files written. A sample that cannot be taken exactly (the
    feature table changed meanwhile) is not written, and an outdated one is removed."""
    features_path, scores_path = settings.workspace.monitor_samples
    written = []
    if _keep_scores(settings, scores, scores_table, scores_path):
        written.append(scores_path)
    if latest_cutoff:
        if _keep_features(settings, champions, features, metadata, feature_table, features_path):
            written.append(features_path)
        else:
            features_path.unlink(missing_ok=True)
    return written


def _keep_features(
    settings: Settings,
    champions: Champions,
    features: pd.DataFrame,
    metadata: dict[str, Any],
    table_path: Path,
    path: Path,
) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.monitor import read_rows

    limit = settings.monitor.max_rows
    identity = feature_table_identity(table_path)
    if identity["id"] != metadata.get("lineage", {}).get("feature_table", ""):
        return False  # rebuilt since score-all retrieved its features
    as_of = pd.Timestamp(metadata["as_of"], tz="UTC")
    users = read_rows(table_path, [as_of], [c.USER_ID], limit=limit)[c.USER_ID]
    if feature_table_identity(table_path) != identity:
        return False
    positions = _positions(features[c.USER_ID], users)
    # what the monitor judges (lifecycle.champion_inputs.learned_inputs), not every input
    names = sorted({name for b in champions.bundles.values() for name in learned_inputs(b)[0]})
    schema = pq.read_schema(table_path)
    if positions is None or not set(names) <= set(schema.names) & set(features.columns):
        return False
    described = {
        "dataset": metadata["dataset"],
        "as_of": metadata["as_of"],
        "model_versions": dict(champions.versions),
        "max_rows": limit,
        "columns": names,
        "feature_table": identity,
    }
    try:  # column by column, in the feature table's own types (read back as it is read)
        table = pa.Table.from_arrays(
            [pa.array(features[n].array.take(positions), type=schema.field(n).type) for n in names],
            schema=pa.schema([schema.field(n) for n in names]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    _write(path, table, described)
    return True


def _positions(known: pd.Series, users: pd.Series) -> np.ndarray | None:
    """Where each of ``users`` is in ``known`` (None: one is missing). score-all's users are
    in id order: a binary search then, a third of the cost of hashing a million ids."""
    ids, wanted = known.to_numpy(), users.to_numpy()
    if known.is_monotonic_increasing:
        positions = np.searchsorted(ids, wanted).clip(max=max(len(ids) - 1, 0))
        return positions if len(ids) and (ids[positions] == wanted).all() else None
    positions = pd.Index(known).get_indexer(users)
    return None if (positions < 0).any() else positions


def _keep_scores(settings: Settings, scores: pd.DataFrame, scores_table: Path, path: Path) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.monitor import sample_positions

    limit = settings.monitor.max_rows
    schema = pq.read_schema(scores_table)
    names = [n for n in tasks.output_columns() if n in scores and n in schema.names]
    rows = sample_positions(len(scores), limit)
    sample = (scores if rows is None else scores.iloc[rows])[names]
    table = pa.Table.from_pandas(
        sample, schema=pa.schema([schema.field(n) for n in names]), preserve_index=False
    )
    _write(path, table, {"scores_table": scores_table.name, "max_rows": limit})
    return True


def _write(path: Path, table: pa.Table, described: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    from lifecycle.storage import atomic_file

    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata({**existing, SAMPLE_KEY: json.dumps(described)})
    with atomic_file(path) as staging:  # user rows: private to the workspace's owner (0600)
        pq.write_table(table, staging, **PLAIN)


def _described(path: Path) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    raw = (pq.read_schema(path).metadata or {}).get(SAMPLE_KEY)
    return json.loads(raw) if raw else None


def sample_dataset(settings: Settings, path: Path) -> str | None:
    """The dataset whose rows a kept sample holds (None: it does not say, or is unreadable)."""
    from serving.answers import scores_metadata

    try:
        described = _described(path) or {}
    except (OSError, ValueError):
        return None
    if "dataset" in described:
        return str(described["dataset"])
    table = described.get("scores_table")
    scored = scores_metadata(settings.workspace.scores_dir / table) if table else None
    return (scored or {}).get("dataset")


def kept_features(
    settings: Settings,
    dataset: str,
    table_path: Path,
    versions: dict[str, str],
    names: list[str],
) -> tuple[pd.Timestamp, pd.DataFrame] | None:
    """The latest cutoff and the monitor's sample of ``names`` at it, as `score-all` kept
    them, if they are what :func:`serving.monitor.read_rows` would read now; else None."""
    path = settings.workspace.monitor_samples[0]
    described = _described(path)
    if (
        described is None
        or described.get("dataset") != dataset
        or described.get("max_rows") != settings.monitor.max_rows
        or described.get("model_versions") != versions
        or not set(names) <= set(described.get("columns", []))
        or described.get("feature_table") != feature_table_identity(table_path)
    ):
        return None
    return pd.Timestamp(described["as_of"], tz="UTC"), read_like_duckdb(path, names)


def read_like_duckdb(path: Path, names: list[str]) -> pd.DataFrame:
    """Columns of a Parquet file as DuckDB's ``.df()`` gives them (what read_rows returns),
    read by pyarrow when it gives the same dtypes and values: floats, text, and integers or
    flags without missing values (DuckDB makes those nullable ``Int64``/``boolean``).
    DuckDB spent 0.23 s of CPU converting a 100k-row sample of 45 columns, pyarrow 0.04 s."""
    import duckdb
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=names)
    if all(_same_in_pandas(table.column(name)) for name in names):
        return table.to_pandas()
    selected = ", ".join(f'"{name}"' for name in names)
    with duckdb.connect() as connection:
        return connection.execute(f"SELECT {selected} FROM read_parquet({literal(path)})").df()


def _same_in_pandas(column: pa.ChunkedArray) -> bool:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    return (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and column.null_count == 0


def kept_scores(settings: Settings) -> ScoresTable | None:
    """The sampled score columns of the table ``latest`` points to, with its metadata, as
    `score-all` kept them (the rows the monitor would sample); None when not kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.batch import LATEST_SCORES, METADATA_KEY, ScoresTable

    path = settings.workspace.monitor_samples[1]
    latest = settings.workspace.scores_dir / LATEST_SCORES
    described = _described(path)
    if (
        described is None
        or not latest.exists()
        or described.get("scores_table") != latest.resolve().name
        or described.get("max_rows") != settings.monitor.max_rows
    ):
        return None
    try:
        raw = (pq.read_schema(latest).metadata or {}).get(METADATA_KEY)
    except (pa.ArrowException, OSError):  # damaged: read whole next, and refused naming it
        return None
    metadata = json.loads(raw) if raw else {}
    return ScoresTable(pq.read_table(path).to_pandas(), metadata, latest.resolve())
