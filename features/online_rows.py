"""Reading the one-row-per-user SQLite online store without Feast.

``features.online_store.UserRowSqliteOnlineStore`` writes the tables (it is a Feast store
plug-in, so importing it imports Feast); the scoring service only reads them, by table name
and column, which needs nothing of Feast: the serialized entity keys, a :class:`ReadPlan` of
where each feature sits in a row, and one query per 500 keys (:func:`select_rows`). The
store plug-in reads through the same functions.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

KEY, EVENT_TS, CREATED_TS = "entity_key", "event_ts", "created_ts"  # the fixed columns
_STRING = 2  # feast.value_type.ValueType.STRING


def entity_keys(join_key: str, values: Iterable[str], version: int) -> list[bytes]:
    """Feast's serialized entity keys of single-key string entities (e.g. ``user_id``)."""
    if version >= 3:  # Feast's layout written directly: a proto per id cost ~1 µs of 2 per key
        string = struct.pack("<I", _STRING)
        name = join_key.encode("utf8")
        prefix = struct.pack("<I", 1) + string + struct.pack("<I", len(name)) + name + string
        keys = []
        for value in values:
            encoded = str(value).encode("utf8")
            keys.append(prefix + struct.pack("<I", len(encoded)) + encoded)
        return keys
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    return [
        serialize_entity_key(
            EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=str(v))]),
            entity_key_serialization_version=version,
        )
        for v in values
    ]


def quote_id(name: str) -> str:
    """An SQLite identifier, quoted (as Feast's ``_quote_id``)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ReadPlan:
    """Views' tables and features to read, and where each lands in a row of :func:`select_rows`."""

    tables: list[tuple[str, list[str]]]  # (a view's online table, its features read)
    stamps: list[int]  # positions of each view's event time
    numbers: list[int]
    number_names: pd.Index
    texts: list[int]
    text_names: pd.Index  # the join key first

    @classmethod
    def of(cls, join_key: str, reads: list[tuple[str, list[str], dict[str, str]]]) -> ReadPlan:
        """From (table, features, feature -> SQLite column type) per view."""
        stamps, numbers, number_names, texts, text_names = [], [], [], [], []
        position = 0
        for _, features, types in reads:
            stamps.append(position)
            for offset, feature in enumerate(features, start=position + 1):
                if types[feature] == "TEXT":
                    texts.append(offset)
                    text_names.append(feature)
                else:
                    numbers.append(offset)
                    number_names.append(feature)
            position += len(features) + 1
        return cls(
            [(table, list(features)) for table, features, _ in reads],
            stamps,
            numbers,
            pd.Index(number_names),
            texts,
            pd.Index([join_key, *text_names]),
        )


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to the online store file, as Feast's SQLite store opens it (shared by the
    server's threads); readers never wait for a writer (materialize) and see its last commit."""
    conn = sqlite3.connect(
        str(path),
        detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES,
        check_same_thread=False,
    )
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def select_rows(
    conn: sqlite3.Connection,
    tables: Sequence[tuple[str, Sequence[str]]],
    keys: list[bytes],
    selects: dict[Any, str],
) -> list[tuple[Any, ...]]:
    """One row per key, in key order, across views: (event µs, *features) per view, all None
    if absent. One query per 500 keys: the keys are a ``VALUES`` list left-joined to every
    view's table; ``selects`` caches the statements."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows += conn.execute(_select(tables, len(chunk), selects), chunk).fetchall()
    if len(rows) != len(keys):  # a left join gives one row per key; a damaged file may not
        raise sqlite3.DatabaseError(f"{len(rows)} rows came back for {len(keys)} users")
    return rows


def _select(tables: Sequence[tuple[str, Sequence[str]]], count: int, cache: dict[Any, str]) -> str:
    shape = tuple((table, tuple(features)) for table, features in tables)
    sql = cache.get((shape, count))
    if sql is None:
        selected, joins = [], []
        for i, (table, features) in enumerate(shape):
            alias = f"v{i}"
            selected += [f"{alias}.{EVENT_TS}", *(f"{alias}.{quote_id(f)}" for f in features)]
            joins.append(f"LEFT JOIN {quote_id(table)} {alias} ON {alias}.{KEY} = k.key")
        values = ",".join(f"({i},?)" for i in range(count))
        sql = (
            f"WITH k(pos, key) AS (VALUES {values}) SELECT {', '.join(selected)} "
            f"FROM k {' '.join(joins)} ORDER BY k.pos"
        )
        if len(cache) > 64:
            cache.clear()
        cache[(shape, count)] = sql
    return sql
