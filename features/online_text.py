"""Users' text features in an online store (a users attribute ``referred_by`` naming another
user), as ``lifecycle forget`` redacts the erased users' ids in them and ``lifecycle datasets
check`` reads them, for every layout the project writes (``features.erasure_online.OnlineStore``):

- the default SQLite store (``feast.online_store = "sqlite"``, ``features.online_store``): a
  table per view, a TEXT column per text feature;
- Feast's own SQLite store (``sqlite-feast``): a row per user and feature, the value a
  serialized ``ValueProto`` (and its text again in ``value_text``);
- Redis (``features.redis_writer``, as Feast writes it): a hash per user of the dataset's Feast
  project, a field per feature (murmur3 of ``<view>:<feature>``) holding a ``ValueProto``.

Which features are text is the store's own (a TEXT column) or the Feast registry's (a
``String`` feature of a view). Each distinct value is redacted once (``features.scrub``: the
whole-token rule of every other table), and written back where it occurs; a SQLite file
changed is vacuumed, so the replaced text leaves its free pages and log too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from features.erasure_online import OnlineStore
    from features.redacted_cells import Batches

SCAN_KEYS = 2_000  # Redis keys read (and written back) in one pipeline


def redacted_values(values: Iterable[str], ids: set[str]) -> dict[str, tuple[str, int]]:
    """Of distinct ``values``, those mentioning one of ``ids`` as a whole token: value -> (the
    value redacted, the mentions)."""
    import pyarrow as pa

    from features.scrub import redact_table, token_pattern

    held = list(values)
    table = pa.table({"value": pa.array(held, pa.string())})
    redacted, found = redact_table(table, ids)
    if not found:
        return {}
    mentions = token_pattern(ids)
    return {
        old: (new, mentions.redact(old)[1])
        for old, new in zip(held, redacted.column("value").to_pylist(), strict=True)
        if new != old
    }


def redact(store: OnlineStore, ids: set[str]) -> int:
    """The mentions of ``ids`` in the store's text features, redacted (per cell)."""
    if store.path is None:
        return _redact_redis(store, ids)
    import sqlite3

    from features.erasure_online import user_tables

    strings = _feast_strings(store) if _feast_layout(store) else {}
    conn = sqlite3.connect(store.path)
    try:
        with conn:  # one transaction: all tables or none
            count = 0
            for table in user_tables(conn, store.project):
                if table in strings or _is_feast_table(conn, table):
                    count += _redact_rows(conn, table, strings.get(table, []), ids)
                else:
                    count += sum(
                        _redact_column(conn, table, col, ids) for col in _text(conn, table)
                    )
        if count:  # the replaced text lingers in free pages and the log, as deleted rows do
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return count


def _text(conn: Any, table: str) -> list[str]:
    return [col[1] for col in conn.execute(f'PRAGMA table_info("{_q(table)}")') if col[2] == "TEXT"]


def _q(name: str) -> str:
    return name.replace('"', '""')


def _is_feast_table(conn: Any, table: str) -> bool:
    """A table of Feast's own SQLite store: a row per user and feature."""
    names = {col[1] for col in conn.execute(f'PRAGMA table_info("{_q(table)}")')}
    return {"feature_name", "value"} <= names


def _feast_layout(store: OnlineStore) -> bool:
    import sqlite3
    from contextlib import closing

    from features.erasure_online import user_tables

    uri = f"{store.path.resolve().as_uri()}?mode=ro"  # type: ignore[union-attr]
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return any(_is_feast_table(conn, t) for t in user_tables(conn, store.project))


def _redact_column(conn: Any, table: str, column: str, ids: set[str]) -> int:
    """A TEXT column of the default store without the mentions of ``ids``."""
    name, count = _q(column), 0
    held = dict(
        conn.execute(
            f'SELECT "{name}", COUNT(*) FROM "{_q(table)}" WHERE "{name}" IS NOT NULL GROUP BY 1'
        ).fetchall()
    )
    for old, (new, mentions) in redacted_values(held, ids).items():
        conn.execute(f'UPDATE "{_q(table)}" SET "{name}" = ? WHERE "{name}" = ?', (new, old))
        count += held[old] * mentions
    return count


def _redact_rows(conn: Any, table: str, features: list[str], ids: set[str]) -> int:
    """The text ``features`` of a table of Feast's SQLite store without the mentions of
    ``ids``: the ``ValueProto`` and its ``value_text``."""
    from feast.protos.feast.types.Value_pb2 import Value

    if not features:
        return 0
    marks = ",".join("?" * len(features))
    rows = conn.execute(
        f'SELECT feature_name, value, COUNT(*) FROM "{_q(table)}" '
        f"WHERE feature_name IN ({marks}) GROUP BY 1, 2",
        features,
    ).fetchall()
    texts = {(f, blob): _string(blob) for f, blob, _ in rows}
    changed = redacted_values({t for t in texts.values() if t is not None}, ids)
    has_text = "value_text" in {col[1] for col in conn.execute(f'PRAGMA table_info("{_q(table)}")')}
    count = 0
    for feature, blob, n in rows:
        if (text := texts[feature, blob]) not in changed:
            continue
        new, mentions = changed[text]
        sets = "value = ?, value_text = ?" if has_text else "value = ?"
        values = [Value(string_val=new).SerializeToString(), *([new] if has_text else [])]
        conn.execute(
            f'UPDATE "{_q(table)}" SET {sets} WHERE feature_name = ? AND value = ?',
            [*values, feature, blob],
        )
        count += n * mentions
    return count


def _string(blob: bytes | None) -> str | None:
    """The text a serialized ``ValueProto`` holds; None for another type or none."""
    from feast.protos.feast.types.Value_pb2 import Value

    if blob is None:
        return None
    value = Value.FromString(blob)
    return value.string_val if value.WhichOneof("val") == "string_val" else None


def _views(store: OnlineStore) -> tuple[Any, list[tuple[Any, list[str]]]]:
    """The dataset's Feast store, opened, and each view with its text features."""
    from feast.types import String

    from features.store import open_store

    feast_store = open_store(store.settings, store.dataset)
    views = [
        (view, [f.name for f in view.features if f.dtype == String])
        for view in feast_store.list_feature_views()
    ]
    return feast_store, [(view, names) for view, names in views if names]


def _feast_strings(store: OnlineStore) -> dict[str, list[str]]:
    """Table of Feast's SQLite store -> its text features, by the registry."""
    from feast.infra.online_stores.sqlite import _table_id

    feast_store, views = _views(store)
    versioning = feast_store.config.registry.enable_online_feature_view_versioning
    return {_table_id(store.project, view, versioning): names for view, names in views}


def _redis_fields(store: OnlineStore) -> tuple[Any, dict[bytes, str]]:
    """The store's client and its hash fields of text features -> ``<view>.<feature>``."""
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import _versioned_fv_name

    feast_store, views = _views(store)
    fields = {}
    for view, names in views:
        name = _versioned_fv_name(view, feast_store.config)
        fields |= {_mmh3(f"{name}:{feature}"): f"{name}.{feature}" for feature in names}
    return feast_store, fields


def _redis_users(client: Any, project: str) -> Iterator[list[bytes]]:
    """The keys of the project's users (an entity key, then the project's name), by batch."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    end, batch = project.encode(), []
    for key in client.scan_iter(match=b"*" + end, count=SCAN_KEYS):
        if key.startswith(b"lifecycle:"):  # the lineage key (``features.redis_health``)
            continue
        try:  # another project's whose name ends in this one's is not an entity key here
            deserialize_entity_key(key[: -len(end)], 3)
        except Exception:
            continue
        batch.append(key)
        if len(batch) == SCAN_KEYS:
            yield batch
            batch = []
    if batch:
        yield batch


def _redis_cells(store: OnlineStore) -> Iterator[tuple[Any, list[bytes], list[bytes], list[list]]]:
    """By batch of users: the client, the text features' fields, the users' keys and their
    text (None where absent or not text)."""
    from features import redis_health

    feast_store, fields = _redis_fields(store)
    if not fields:
        return
    client, order = redis_health._client(feast_store), list(fields)
    with redis_health.reaching_store(feast_store):
        for keys in _redis_users(client, store.project):
            reads = client.pipeline(transaction=False)
            for key in keys:
                reads.hmget(key, order)
            texts = [[_string(v) for v in held] for held in reads.execute()]
            yield client, order, keys, texts


def _redact_redis(store: OnlineStore, ids: set[str]) -> int:
    from feast.protos.feast.types.Value_pb2 import Value

    count = 0
    for client, order, keys, texts in _redis_cells(store):
        changed = redacted_values({t for row in texts for t in row if t is not None}, ids)
        if not changed:
            continue
        writes = client.pipeline(transaction=False)
        for key, row in zip(keys, texts, strict=True):
            new = {f: changed[t] for f, t in zip(order, row, strict=True) if t in changed}
            if new:
                writes.hset(
                    key,
                    mapping={
                        f: Value(string_val=v).SerializeToString() for f, (v, _) in new.items()
                    },
                )
                count += sum(n for _, n in new.values())
        writes.execute()
    return count


def text_batches(store: OnlineStore) -> Batches:
    """The store's text features, read only, named ``<view's table>.<feature>`` (Redis:
    ``<view>.<feature>``), as ``features.redacted_cells`` reads a table's text columns."""
    import pyarrow as pa

    if store.path is None:
        _, fields = _redis_fields(store)
        names = list(fields.values())

        def redis() -> Iterator[list[Any]]:
            for _, _, _, texts in _redis_cells(store):
                yield [pa.array(list(column), pa.string()) for column in zip(*texts, strict=True)]

        return names, redis()
    return _sqlite_batches(store)


def _sqlite_batches(store: OnlineStore) -> Batches:
    """A SQLite store's text features, read only: a batch per table."""
    import sqlite3

    import pyarrow as pa

    from features.erasure_online import user_tables

    strings = _feast_strings(store) if _feast_layout(store) else {}
    conn = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)  # type: ignore[union-attr]
    tables = user_tables(conn, store.project)
    columns = [
        (t, col, t in strings or _is_feast_table(conn, t))
        for t in tables
        for col in (
            strings.get(t, []) if t in strings or _is_feast_table(conn, t) else _text(conn, t)
        )
    ]

    def values(table: str, column: str, rows: bool) -> pa.Array:
        if rows:
            read = conn.execute(f'SELECT value FROM "{_q(table)}" WHERE feature_name = ?', [column])
            return pa.array([_string(v) for (v,) in read], pa.string())
        read = conn.execute(f'SELECT "{_q(column)}" FROM "{_q(table)}"')
        return pa.array([None if v is None else str(v) for (v,) in read], pa.string())

    def batches() -> Iterator[list[Any]]:
        try:
            for table in dict.fromkeys(t for t, _, _ in columns):
                yield [
                    values(t, col, rows) if t == table else pa.array([], pa.string())
                    for t, col, rows in columns
                ]
        finally:
            conn.close()

    return [f"{t}.{col}" for t, col, _ in columns], batches()
