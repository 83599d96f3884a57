"""An SQLite online store with one row per user and view, one column per feature.

Feast 0.67's SQLite store keeps one row per (user, feature) holding a serialized
``ValueProto``, and materialize turns every cell of the offline table into a protobuf
first: 45 features x 100k users is 4.5M protobufs and rows. Here a view's table has a
column per feature (REAL or TEXT as declared), keyed by Feast's serialized entity key:

- :meth:`write_frames` loads a DataFrame of latest rows straight into the table (what
  ``lifecycle features materialize`` uses); :meth:`read_rows` returns the rows of many
  users and views with one query (``features.online_rows``, which the scoring service
  also reads with, without Feast);
- ``online_write_batch`` / ``online_read`` speak Feast's protobuf interface, so
  ``FeatureStore.materialize``, ``get_online_features`` and the ``feast`` CLI work as usual.

A table whose columns no longer match its view (features added or removed) is rebuilt
empty on ``apply``; materialize refills it.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.feast_loader import load_feast

load_feast()  # before Feast's modules: they import without its slow type checks

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
from feast.types import PrimitiveFeastType
from feast.value_type import ValueType

from features.online_rows import CREATED_TS, EVENT_TS, KEY, ReadPlan, entity_keys, select_rows

_EPOCH = datetime(1970, 1, 1)
# Feast value type -> (SQLite column type, ValueProto field); other types are refused on apply.
_COLUMN_TYPES = {
    ValueType.DOUBLE: ("REAL", "double_val"),
    ValueType.FLOAT: ("REAL", "float_val"),
    ValueType.INT64: ("INTEGER", "int64_val"),
    ValueType.INT32: ("INTEGER", "int32_val"),
    ValueType.BOOL: ("INTEGER", "bool_val"),
    ValueType.STRING: ("TEXT", "string_val"),
}


class UserRowSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    type: Literal["features.online_store.UserRowSqliteOnlineStore"] = (  # type: ignore[assignment]
        "features.online_store.UserRowSqliteOnlineStore"
    )


def _value_type(feature: Any) -> ValueType | None:
    dtype = feature.dtype
    return dtype.to_value_type() if isinstance(dtype, PrimitiveFeastType) else None


def column_type(feature: Any) -> str | None:
    """The SQLite column type of a view's feature here; None for a type this store refuses."""
    value_type = _value_type(feature)
    return _COLUMN_TYPES[value_type][0] if value_type in _COLUMN_TYPES else None


def _columns(view: Any) -> list[tuple[str, str, str]]:
    """(feature, SQLite type, ValueProto field) of a view, in schema order."""
    columns = []
    for feature in view.features:
        dtype = feature.dtype
        value_type = _value_type(feature)
        if value_type not in _COLUMN_TYPES:
            raise ValueError(
                f"feature view {view.name!r}: feature {feature.name!r} has type {dtype}; "
                f"this online store holds {', '.join(t.name for t in _COLUMN_TYPES)} only"
            )
        sql_type, field = _COLUMN_TYPES[value_type]
        columns.append((feature.name, sql_type, field))
    return columns


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int | None) -> datetime | None:
    """Naive UTC, as Feast's own SQLite store returns event times."""
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def _python(value: ValueProto) -> Any:
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    result = getattr(value, kind)
    return None if isinstance(result, float) and math.isnan(result) else result


class UserRowSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store, re-laid out as one row per entity per view."""

    def _table(self, config: RepoConfig, view: Any) -> str:
        return _table_id(
            config.project, view, config.registry.enable_online_feature_view_versioning
        )

    def _get_conn(self, config: RepoConfig) -> sqlite3.Connection:
        fresh = self._conn is None
        conn = super()._get_conn(config)
        if fresh:  # readers never wait for a writer (materialize) and see its last commit
            conn.execute("PRAGMA journal_mode = WAL")
        return conn

    def _connection(self, config: RepoConfig) -> sqlite3.Connection:
        conn = self._get_conn(config)
        conn.execute("PRAGMA synchronous = OFF")  # rebuilt from the offline table if lost
        return conn

    # -- schema -----------------------------------------------------------------------------

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[Any],
        tables_to_keep: Sequence[Any],
        entities_to_delete: Sequence[Any],
        entities_to_keep: Sequence[Any],
        partial: bool,
    ) -> None:
        conn = self._connection(config)
        with conn:
            for view in tables_to_keep:
                name = self._table(config, view)
                wanted = [(KEY, "BLOB"), (EVENT_TS, "INTEGER"), (CREATED_TS, "INTEGER")]
                wanted += [(feature, sql_type) for feature, sql_type, _ in _columns(view)]
                have = [
                    (row[1], row[2])
                    for row in conn.execute(f"PRAGMA table_info({_quote_id(name)})")
                ]
                if have == wanted:
                    continue
                conn.execute(f"DROP TABLE IF EXISTS {_quote_id(name)}")
                body = ", ".join(f"{_quote_id(column)} {sql_type}" for column, sql_type in wanted)
                conn.execute(
                    f"CREATE TABLE {_quote_id(name)} ({body}, PRIMARY KEY ({KEY})) WITHOUT ROWID"
                )
            for view in tables_to_delete:
                conn.execute(f"DROP TABLE IF EXISTS {_quote_id(self._table(config, view))}")

    # -- bulk paths -------------------------------------------------------------------------

    def write_frames(
        self, config: RepoConfig, views: Sequence[Any], frame: pd.DataFrame, timestamp: str
    ) -> int:
        """Upsert one row per entity of ``frame`` (join key, ``timestamp``, features) into every view.

        One transaction for all views: a writer killed half-way leaves every view as it was.
        """
        conn = self._connection(config)
        with conn:
            for view in views:
                names, rows = self._frame_rows(config, view, frame, timestamp)
                self._insert(conn, config, view, names, rows)
        return len(frame)

    def _frame_rows(
        self, config: RepoConfig, view: Any, frame: pd.DataFrame, timestamp: str
    ) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
        join_keys = [e.name for e in view.entity_columns]
        if len(join_keys) != 1:
            raise ValueError(
                f"feature view {view.name!r}: bulk writes need exactly one join key, it has "
                f"{join_keys or 'none (apply the view first)'}"
            )
        (join_key,) = join_keys
        columns = _columns(view)
        missing = [f for f, _, _ in columns if f not in frame.columns]
        if missing:
            raise ValueError(f"feature view {view.name!r}: the frame lacks {', '.join(missing)}")
        keys = entity_keys(join_key, frame[join_key], config.entity_key_serialization_version)
        stamps = pd.to_datetime(frame[timestamp], utc=True).astype("datetime64[us, UTC]")
        values: list[list[Any]] = [keys, stamps.astype("int64").tolist(), [None] * len(frame)]
        for feature, sql_type, _ in columns:
            series = frame[feature]
            if sql_type == "REAL":
                values.append(series.astype("float64").tolist())  # NaN is stored as NULL
            else:
                values.append(series.astype(object).where(series.notna(), None).tolist())
        return [KEY, EVENT_TS, CREATED_TS, *(f for f, _, _ in columns)], zip(*values, strict=True)

    def _read_view(
        self, config: RepoConfig, view: Any, features: list[str], keys: list[bytes]
    ) -> dict[bytes, tuple[Any, ...]]:
        """Rows of one view by serialized entity key: (event time in microseconds, *features); absent keys left out."""
        rows = self.read_rows(config, [(view, features)], keys)
        return {key: row for key, row in zip(keys, rows, strict=True) if row[0] is not None}

    def read_rows(
        self, config: RepoConfig, reads: Sequence[tuple[Any, Sequence[str]]], keys: list[bytes]
    ) -> list[tuple[Any, ...]]:
        """One row per key, in key order, across views: (event µs, *features) per view, all
        None if absent (:func:`features.online_rows.select_rows`)."""
        tables = [(self._table(config, view), features) for view, features in reads]
        return self._read_tables(config, tables, keys)

    def _read_tables(
        self, config: RepoConfig, tables: Sequence[tuple[str, Sequence[str]]], keys: list[bytes]
    ) -> list[tuple[Any, ...]]:
        selects = self.__dict__.setdefault("_selects", {})
        return select_rows(self._get_conn(config), tables, keys, selects)

    def read_frame(
        self, config: RepoConfig, plan: ReadPlan, ids: list[str]
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """(one row per id in order: the join key, text features, then numbers as float64;
        whether each id has a row in any view)."""
        (join_key, *_) = plan.text_names
        keys = entity_keys(join_key, ids, config.entity_key_serialization_version)
        rows = self._read_tables(config, plan.tables, keys)
        found = np.fromiter(
            (any(row[i] is not None for i in plan.stamps) for row in rows),
            dtype=bool,
            count=len(rows),
        )
        numbers = np.array([[row[i] for i in plan.numbers] for row in rows], dtype=float)
        texts = np.array(
            [[u, *(row[i] for i in plan.texts)] for u, row in zip(ids, rows, strict=True)],
            dtype=object,
        )
        # Two blocks with prebuilt column indexes: a frame per call costs ~0.15 ms this way.
        frame = pd.concat(
            [
                pd.DataFrame(
                    texts.reshape(len(rows), len(plan.texts) + 1),
                    columns=plan.text_names,
                    dtype=object,
                ),
                pd.DataFrame(
                    numbers.reshape(len(rows), len(plan.numbers)),
                    columns=plan.number_names,
                    dtype=float,
                ),
            ],
            axis=1,
            copy=False,
        )
        return frame, found

    def _insert(
        self,
        conn: sqlite3.Connection,
        config: RepoConfig,
        view: Any,
        names: list[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        marks = ", ".join("?" * len(names))
        columns = ", ".join(_quote_id(n) for n in names)
        conn.executemany(
            f"INSERT OR REPLACE INTO {_quote_id(self._table(config, view))} ({columns}) VALUES ({marks})",
            rows,
        )

    # -- Feast's protobuf interface ---------------------------------------------------------

    def online_write_batch(
        self,
        config: RepoConfig,
        table: Any,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        features = [f for f, _, _ in _columns(table)]
        version = config.entity_key_serialization_version
        rows = [
            (
                serialize_entity_key(key, entity_key_serialization_version=version),
                _micros(event_ts),
                _micros(created_ts),
                *(_python(values[f]) if f in values else None for f in features),
            )
            for key, values, event_ts, created_ts in data
        ]
        conn = self._connection(config)
        with conn:
            self._insert(conn, config, table, [KEY, EVENT_TS, CREATED_TS, *features], rows)
        if progress:
            progress(len(data))

    def online_read(
        self,
        config: RepoConfig,
        table: Any,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        columns = _columns(table)
        if requested_features is not None:
            wanted = set(requested_features)
            columns = [column for column in columns if column[0] in wanted]
        version = config.entity_key_serialization_version
        keys = [
            serialize_entity_key(k, entity_key_serialization_version=version) for k in entity_keys
        ]
        rows = self._read_view(config, table, [f for f, _, _ in columns], keys)
        result: list[tuple[datetime | None, dict[str, ValueProto] | None]] = []
        for key in keys:
            row = rows.get(key)
            if row is None:
                result.append((None, None))
                continue
            values = {}
            for (feature, _, field), value in zip(columns, row[1:], strict=True):
                if value is None:
                    values[feature] = ValueProto()
                else:
                    values[feature] = ValueProto(
                        **{field: bool(value) if field == "bool_val" else value}
                    )
            result.append((_moment(row[0]), values))
        return result
