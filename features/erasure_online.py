"""Erasure from a dataset's online store (SQLite or Redis): the users' Feast entity keys,
deleted and, in SQLite, vacuumed so the bytes are gone too (``features.erasure``); and which
ids a store holds, read only (:func:`online_held`): materialize upserts, so a user whose
events the dataset no longer holds (a rolling export replaced it) keeps the features
materialized before, a row of a user until ``forget`` deletes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.online_rows import entity_keys

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def forget_online(settings: Settings, name: str, ids: set[str]) -> tuple[dict[str, int], list[str]]:
    """Delete the users' rows from the dataset's online store: ({location: rows removed},
    [a store type this cannot reach]); nothing when the store was never materialized."""
    from features.store import project_name, store_paths

    paths = store_paths(settings, name)
    store = settings.feast.online_store
    location = f"online/{name}"
    if store in ("sqlite", "sqlite-feast"):
        if not paths.online_db.is_file():
            return {}, []
        if not ids:  # no user asked here (`forget 3` of ids 00001..): the file is not opened
            return {location: 0}, []
        import sqlite3

        keys = entity_keys(c.USER_ID, sorted(ids), 3)  # the sqlite store's key layout
        conn = sqlite3.connect(paths.online_db)
        try:
            tables = _user_tables(conn, project_name(name))
            marks = ",".join("?" * len(keys))
            entities = 0
            with conn:  # one transaction: all tables or none
                for t in tables:
                    found = conn.execute(
                        f'SELECT COUNT(DISTINCT entity_key) FROM "{t}" WHERE entity_key IN ({marks})',
                        keys,
                    ).fetchone()[0]
                    conn.execute(f'DELETE FROM "{t}" WHERE entity_key IN ({marks})', keys)
                    entities += found
            if entities:
                # Deleted rows linger in free pages, B-tree dividers and the write-ahead log:
                # rebuild the file and empty the log so the bytes are gone too.
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return {location: entities}, []  # (user, feature view) rows
    if store == "redis":
        if not paths.registry.is_file():
            return {}, []
        if not ids:
            return {location: 0}, []
        from features import redis_health

        feast_store, keys = _redis_keys(settings, name, sorted(ids))
        return {location: redis_health.erase(feast_store, keys)}, []
    return {}, [f"online store type {store!r}"]


def redact_online(settings: Settings, name: str, ids: set[str]) -> tuple[int, list[str]]:
    """The users' ids mentioned as whole tokens in other users' text features of the
    dataset's online store (a users attribute ``referred_by``), redacted as the feature table
    they were materialized from is (``features.scrub``): (the mentions redacted, [why a store
    could not be]). A SQLite store of a column per feature (``sqlite``) is updated in place,
    each distinct value read once, and vacuumed when changed, as :func:`forget_online`'s
    deletions are; another type keeps them until materialized again (said when the feature
    table held one)."""
    from features.store import project_name, store_paths

    paths, store = store_paths(settings, name), settings.feast.online_store
    if not ids or (not paths.online_db.is_file() and store != "redis"):
        return 0, []
    if store != "sqlite":
        return 0, [
            f"mentions of the users in other users' text features, in the {store} online store "
            f"of {name}: run `lifecycle features materialize --dataset {name}` (it serves the "
            "feature table's values, redacted)"
        ]
    import sqlite3

    conn = sqlite3.connect(paths.online_db)
    try:
        with conn:  # one transaction: all tables or none
            count = sum(
                _redact_column(conn, table, column, ids)
                for table in _user_tables(conn, project_name(name))
                for column in _text_columns(conn, table)
            )
        if count:  # the replaced text lingers in free pages and the log, as deleted rows do
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return count, []


def _text_columns(conn: Any, table: str) -> list[str]:
    return [col[1] for col in conn.execute(f'PRAGMA table_info("{table}")') if col[2] == "TEXT"]


def _redact_column(conn: Any, table: str, column: str, ids: set[str]) -> int:
    """A TEXT column of the store without the mentions of ``ids``: each distinct value
    holding one replaced where it occurs; the mentions redacted (per row)."""
    import pyarrow as pa

    from features.scrub import redact_table, token_pattern

    name = column.replace('"', '""')
    held = conn.execute(
        f'SELECT "{name}", COUNT(*) FROM "{table}" WHERE "{name}" IS NOT NULL GROUP BY 1'
    ).fetchall()
    values = pa.table({"value": pa.array([v for v, _ in held], pa.string())})
    redacted, found = redact_table(values, ids)
    if not found:
        return 0
    mentions, count = token_pattern(ids), 0
    for (value, rows), new in zip(held, redacted.column("value").to_pylist(), strict=True):
        if new != value:
            conn.execute(f'UPDATE "{table}" SET "{name}" = ? WHERE "{name}" = ?', (new, value))
            count += rows * mentions.redact(value)[1]
    return count


def online_held(settings: Settings, name: str, ids: set[str]) -> set[str]:
    """Of ``ids``, those the dataset's online store (SQLite or Redis) holds a row of, read
    only; none when it was never materialized, or is of a type this cannot reach."""
    from features.store import project_name, store_paths

    paths, ordered = store_paths(settings, name), sorted(ids)
    store = settings.feast.online_store
    if not ordered:
        return set()
    if store in ("sqlite", "sqlite-feast"):
        if not paths.online_db.is_file():
            return set()
        import sqlite3

        keys = entity_keys(c.USER_ID, ordered, 3)
        marks = ",".join("?" * len(keys))
        # read only: the file, its write-ahead log and index stay as they are
        conn = sqlite3.connect(f"{paths.online_db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            held = {
                bytes(key)
                for t in _user_tables(conn, project_name(name))
                for (key,) in conn.execute(
                    f'SELECT DISTINCT entity_key FROM "{t}" WHERE entity_key IN ({marks})', keys
                )
            }
        finally:
            conn.close()
        return {u for u, key in zip(ordered, keys, strict=True) if key in held}
    if store == "redis" and paths.registry.is_file():
        from features import redis_health

        feast_store, keys = _redis_keys(settings, name, ordered)
        found = redis_health.held(feast_store, keys)
        return {u for u, held in zip(ordered, found, strict=True) if held}
    return set()


def _user_tables(conn: Any, prefix: str) -> list[str]:
    """The SQLite store's tables of a project (``prefix``) keyed by entity: its views'."""
    return [
        t
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if t.startswith(f"{prefix}_")
        and any(col[1] == "entity_key" for col in conn.execute(f'PRAGMA table_info("{t}")'))
    ]


def _redis_keys(settings: Settings, name: str, user_ids: Sequence[str]) -> tuple[Any, list[bytes]]:
    """The dataset's Feast store, opened, and the users' Redis keys in it."""
    from features.feast_loader import load_feast
    from features.store import open_store

    load_feast()
    from feast.infra.online_stores.helpers import _redis_key

    feast_store = open_store(settings, name)
    config = feast_store.config
    keys = [
        _redis_key(config.project, key, config.entity_key_serialization_version)
        for key in _entity_protos(user_ids)
    ]
    return feast_store, keys


def _entity_protos(user_ids: Sequence[str]) -> list[Any]:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    return [
        EntityKeyProto(join_keys=[c.USER_ID], entity_values=[ValueProto(string_val=u)])
        for u in user_ids
    ]
