"""Feast's DuckDB offline store with point-in-time joins as DuckDB ``ASOF`` joins.

Feast 0.67 builds its point-in-time join through ibis: an inner join of every entity row
with every older feature row of its user, then a window dedup, then a left join back, with
ibis compiling the plan first. On 1.2M entity rows that was 3.4-4.7x a plain ``ASOF LEFT JOIN``
of the same rows. This subclass answers :meth:`get_historical_features` with one SQL query:
one ``ASOF LEFT JOIN`` per Parquet source (views over the same source, timestamp and TTL
share it), the TTL applied as Feast does (``ts <= row time <= ts + ttl``), rows in entity
order, reading only the source rows some entity row can reach (scoring one date reads the
cutoffs of one TTL, not the whole table). Requests it does not cover (SQL entity queries,
field mappings, created-timestamp tie-breaks, renamed join keys, non-Parquet sources) go to
Feast's own implementation.

The registry names the feature table relative to the Feast repository (so a copied or moved
workspace reads its own table). Feast's DuckDB reader opens ``FileSource.path`` as it is,
relative to the working directory, so every read and write here first makes a relative
path absolute against ``config.repo_path``, Feast's own rule
(:meth:`FileSource.get_uri_for_file_path`): :class:`LocatedDuckDBOfflineStore` is Feast's
store with that one change, :class:`AsofDuckDBOfflineStore` adds the ASOF join.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.feast_loader import load_feast

load_feast()  # before Feast's modules: they import without its slow type checks

from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.repo_config import RepoConfig

from lifecycle.sql import identifier, literal

ROW = "__entity_row"  # entity order, carried through the join and dropped


class LocatedDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["features.offline_store.LocatedDuckDBOfflineStore"] = (  # type: ignore[assignment]
        "features.offline_store.LocatedDuckDBOfflineStore"
    )


class AsofDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["features.offline_store.AsofDuckDBOfflineStore"] = (  # type: ignore[assignment]
        "features.offline_store.AsofDuckDBOfflineStore"
    )


@dataclass
class _SourceJoin:
    """Views read from one Parquet source with the same timestamp, join keys and TTL."""

    path: str
    timestamp: str
    join_keys: tuple[str, ...]
    ttl: timedelta | None
    columns: list[tuple[str, str]] = field(default_factory=list)  # (source column, output name)

    def older_than_ttl(self, when: str) -> str:
        """SQL: ``when`` less the TTL, the oldest row time still fresh at ``when``."""
        assert self.ttl is not None
        return f"{when} - INTERVAL {int(self.ttl.total_seconds() * 1e6)} MICROSECONDS"


def _plan(
    config: RepoConfig,
    feature_views: list[Any],
    feature_refs: list[str],
    entity_df: Any,
    full_feature_names: bool,
    filter_by_created_timestamp: bool,
) -> list[_SourceJoin] | None:
    """One join per source, or None when the request needs Feast's general implementation."""
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores.file_source import FileSource

    if not isinstance(entity_df, pd.DataFrame) or filter_by_created_timestamp:
        return None
    joins: dict[tuple[Any, ...], _SourceJoin] = {}
    for view in feature_views:
        source = view.batch_source
        projection = view.projection
        if (
            not isinstance(source, FileSource)
            or not isinstance(source.file_format, ParquetFormat | None)
            or source.field_mapping
            or source.created_timestamp_column
            or projection.join_key_map
            or "://" in source.path
        ):
            return None
        join_keys = tuple(e.name for e in view.entity_columns)
        if not join_keys or any(k not in entity_df.columns for k in join_keys):
            return None
        path = locate(config, source).path
        ttl = view.ttl if view.ttl else None
        key = (path, source.timestamp_field, join_keys, ttl)
        join = joins.setdefault(key, _SourceJoin(path, source.timestamp_field, join_keys, ttl))
        prefix = projection.name_to_use()
        alias = projection.name_alias or view.name
        for ref in feature_refs:
            view_name, feature = ref.split(":", 1)
            if view_name == prefix:
                join.columns.append(
                    (feature, f"{alias}__{feature}" if full_feature_names else feature)
                )
    return list(joins.values())


def _reachable(entity: str, timestamp: str, join: _SourceJoin) -> str:
    """The source rows some entity row can take: of its users, not after the latest entity time,
    and (with a TTL) not older than the earliest one less the TTL. The join holds the rows it
    reads in memory; the others would find no entity row or be dropped as stale, so leaving
    them out changes no answer, and scoring one date reads a few cutoffs, not the table."""
    row_time = f"CAST({identifier(join.timestamp)} AS TIMESTAMPTZ)"

    def entity_time(of: str) -> str:
        return f"(SELECT {of}({identifier(timestamp)}) FROM {entity})"

    bounds = [f"{row_time} <= {entity_time('max')}"]
    if join.ttl:
        bounds.append(f"{row_time} >= {join.older_than_ttl(entity_time('min'))}")
    if len(join.join_keys) == 1:
        key = identifier(join.join_keys[0])
        bounds.append(f"{key} IN (SELECT {key} FROM {entity})")
    return " AND ".join(bounds)


def _query(entity: str, timestamp: str, entity_columns: list[str], joins: list[_SourceJoin]) -> str:
    selects = [f"e.{identifier(name)}" for name in entity_columns]
    froms = [f"{entity} e"]
    ts = f"e.{identifier(timestamp)}"
    for i, join in enumerate(joins):
        alias = f"s{i}"
        row_time = f"{alias}.__row_time"
        fresh = f"{row_time} >= {join.older_than_ttl(ts)}" if join.ttl else None
        needed = [*join.join_keys, *dict.fromkeys(column for column, _ in join.columns)]
        inner = ", ".join(
            [identifier(n) for n in needed]
            + [f"CAST({identifier(join.timestamp)} AS TIMESTAMPTZ) AS __row_time"]
        )
        source = f"read_parquet({literal(join.path)}) WHERE {_reachable(entity, timestamp, join)}"
        on = " AND ".join(
            [f"e.{identifier(k)} = {alias}.{identifier(k)}" for k in join.join_keys]
            + [f"{ts} >= {row_time}"]
        )
        froms.append(f"ASOF LEFT JOIN (SELECT {inner} FROM {source}) {alias} ON {on}")
        for column, output in join.columns:
            value = f"{alias}.{identifier(column)}"
            selects.append(
                f"CASE WHEN {fresh} THEN {value} END AS {identifier(output)}"
                if fresh
                else f"{value} AS {identifier(output)}"
            )
    return f"SELECT {', '.join(selects)} FROM {' '.join(froms)} ORDER BY e.{ROW}"


class AsofRetrievalJob(RetrievalJob):
    """Runs the ASOF query when the result is asked for; rows come back in entity order."""

    def __init__(
        self,
        entity_df: pd.DataFrame,
        sql: str,
        full_feature_names: bool,
        metadata: RetrievalMetadata,
    ) -> None:
        super().__init__()
        self._entity_df = entity_df
        self._sql = sql
        self._full_feature_names = full_feature_names
        self._metadata = metadata

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.register("entity_rows", self._entity_df)
            return con.sql(self._sql).to_arrow_table()  # a relation: no extra copy of the rows
        finally:
            con.close()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def to_sql(self) -> str:
        return self._sql

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[Any]:
        return []

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def persist(
        self, storage: Any, allow_overwrite: bool = False, timeout: int | None = None
    ) -> None:
        from pathlib import Path

        from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

        if not isinstance(storage, SavedDatasetFileStorage):
            raise ValueError(f"can only persist to a file, not {type(storage).__name__}")
        target = Path(storage.file_options.uri)
        if target.exists() and not allow_overwrite:
            raise FileExistsError(f"{target} exists; pass allow_overwrite=True to replace it")
        pq.write_table(self.to_arrow(), target)


def locate(config: RepoConfig, source: Any) -> Any:
    """``source`` with a path relative to the Feast repository made absolute against it (a
    copy; any other source as it is)."""
    from feast.infra.offline_stores.file_source import FileSource

    if not isinstance(source, FileSource) or config.repo_path is None:
        return source
    path = FileSource.get_uri_for_file_path(config.repo_path, source.path)
    if path == source.path:
        return source
    located = copy.deepcopy(source)
    located.file_options.uri = path
    return located


def _located_view(config: RepoConfig, view: Any) -> Any:
    source = getattr(view, "batch_source", None)
    located_source = locate(config, source)
    if located_source is source:
        return view
    located = copy.copy(view)  # Feast's __copy__ keeps the projection (aliases, join keys)
    located.batch_source = located_source
    return located


class LocatedDuckDBOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB store (its ibis point-in-time join), reading and writing file sources
    whose paths are relative to the Feast repository."""

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig, data_source: Any, *args: Any, **kwargs: Any
    ) -> RetrievalJob:
        return DuckDBOfflineStore.pull_latest_from_table_or_query(
            config, locate(config, data_source), *args, **kwargs
        )

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig, data_source: Any, *args: Any, **kwargs: Any
    ) -> RetrievalJob:
        return DuckDBOfflineStore.pull_all_from_table_or_query(
            config, locate(config, data_source), *args, **kwargs
        )

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[Any],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: Any,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        return DuckDBOfflineStore.get_historical_features(
            config,
            [_located_view(config, view) for view in feature_views],
            feature_refs,
            entity_df,
            registry,
            project,
            full_feature_names=full_feature_names,
            filter_by_created_timestamp=filter_by_created_timestamp,
        )

    @staticmethod
    def offline_write_batch(
        config: RepoConfig, feature_view: Any, table: pa.Table, progress: Any
    ) -> None:
        DuckDBOfflineStore.offline_write_batch(
            config, _located_view(config, feature_view), table, progress
        )


class AsofDuckDBOfflineStore(LocatedDuckDBOfflineStore):
    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[Any],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: Any,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        from feast.infra.offline_stores import offline_utils
        from feast.on_demand_feature_view import OnDemandFeatureView

        joins = _plan(
            config,
            feature_views,
            feature_refs,
            entity_df,
            full_feature_names,
            filter_by_created_timestamp,
        )
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        if joins is None or odfvs:
            return LocatedDuckDBOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names=full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
            )
        assert isinstance(entity_df, pd.DataFrame)
        schema = dict(zip(entity_df.columns, entity_df.dtypes, strict=True))
        timestamp = offline_utils.infer_event_timestamp_from_entity_df(schema)
        stamps = pd.to_datetime(entity_df[timestamp], utc=True)  # naive times are UTC, as in Feast
        rows = entity_df.assign(**{timestamp: stamps, ROW: np.arange(len(entity_df))})
        columns = [name for name in entity_df.columns]
        metadata = RetrievalMetadata(
            features=feature_refs,
            keys=[name for name in columns if name != timestamp],
            min_event_timestamp=stamps.min().to_pydatetime() if len(stamps) else None,
            max_event_timestamp=stamps.max().to_pydatetime() if len(stamps) else None,
        )
        return AsofRetrievalJob(
            rows, _query("entity_rows", timestamp, columns, joins), full_feature_names, metadata
        )
