"""Feast's SQLite online store with batched writes.

Feast 0.67's SQLite store executes one upsert per (user, feature) inside a Python loop;
this subclass sends the same rows with one ``executemany`` per batch, in key order, without
an fsync per page, and leaves ``value_text`` empty (only Feast's document search reads it).
Reads, schema and file format are Feast's own, so stock Feast reads the store as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc


class BatchedSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    type: Literal["features.online_store.BatchedSqliteOnlineStore"] = (  # type: ignore[assignment]
        "features.online_store.BatchedSqliteOnlineStore"
    )


class BatchedSqliteOnlineStore(SqliteOnlineStore):
    def online_write_batch(
        self,
        config: RepoConfig,
        table: Any,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        online = config.online_store
        if getattr(online, "vector_enabled", False) or getattr(
            online, "enable_openai_compatible_store", False
        ):
            return super().online_write_batch(config, table, data, progress)
        conn = self._get_conn(config)
        name = _table_id(
            config.project, table, config.registry.enable_online_feature_view_versioning
        )
        upsert = (
            f"INSERT INTO {_quote_id(name)} (entity_key, feature_name, value, value_text, event_ts, created_ts) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
            "value = excluded.value, value_text = excluded.value_text, "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts"
        )
        version = config.entity_key_serialization_version
        rows = []
        for entity_key, values, timestamp, created_ts in data:
            key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            event_ts = to_naive_utc(timestamp)
            created = to_naive_utc(created_ts) if created_ts is not None else None
            for feature_name, value in values.items():
                rows.append((key, feature_name, value.SerializeToString(), None, event_ts, created))
        rows.sort(key=lambda row: (row[0], row[1]))  # in index order: B-tree pages are touched once
        # One transaction per batch; the journal still makes it all-or-nothing if the process
        # dies, but no fsync per page: the online store is rebuilt from the offline table anyway.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        with conn:
            conn.executemany(upsert, rows)
        if progress:
            progress(len(data))
        return None
