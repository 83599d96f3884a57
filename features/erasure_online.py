"""Erasure from a dataset's online stores (:class:`OnlineStore`: a SQLite file, Redis): the
users' Feast entity keys, deleted and, in SQLite, vacuumed so the bytes are gone too
(``features.erasure``); their mentions in other users' text features, redacted
(``features.online_text``); and which ids a store holds, read only (:func:`online_held`):
materialize upserts, so a user whose events the dataset no longer holds (a rolling export
replaced it) keeps the features materialized before, a row of a user until ``forget`` deletes
it. Which stores a dataset has is one list, ``features.erasure_places.online_stores``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.online_rows import entity_keys

if TYPE_CHECKING:
    from lifecycle.settings import Settings


@dataclass(frozen=True, eq=False)
class OnlineStore:
    """A dataset's online store: a SQLite file (``path``: the default store of a column per
    feature, or Feast's own of a row per feature; a file written under another setting still
    holds its users) or Redis (``path`` None: the hashes of the dataset's Feast project)."""

    settings: Settings
    dataset: str
    path: Path | None

    @property
    def project(self) -> str:
        from features.store import project_name

        return project_name(self.dataset)

    @property
    def location(self) -> str:
        """``forget``'s name of it (``removed``, ``redacted``): one per dataset."""
        return f"online/{self.dataset}"

    def named(self, home: Path) -> str:
        """``datasets check``'s: the file, of ``home``, without its suffix (Redis:
        ``feast/<dataset>/redis``)."""
        if self.path is None:
            return f"feast/{self.dataset}/redis"
        return self.path.relative_to(home).with_suffix("").as_posix()


def forget_online(store: OnlineStore, ids: set[str]) -> int:
    """Delete the users' rows from the store: the (user, view) rows (Redis: the users'
    hashes) removed."""
    if not ids:  # no user asked here (`forget 3` of ids 00001..): the store is not opened
        return 0
    if store.path is None:
        from features import redis_health

        feast_store, keys = _redis_keys(store.settings, store.dataset, sorted(ids))
        return redis_health.erase(feast_store, keys)
    import sqlite3

    keys = entity_keys(c.USER_ID, sorted(ids), 3)  # the sqlite stores' key layout
    conn = sqlite3.connect(store.path)
    try:
        marks = ",".join("?" * len(keys))
        entities = 0
        with conn:  # one transaction: all tables or none
            for t in user_tables(conn, store.project):
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
    return entities


def redact_online(store: OnlineStore, ids: set[str]) -> int:
    """The users' ids mentioned as whole tokens in other users' text features of the store (a
    users attribute ``referred_by``), redacted as the feature table they were materialized
    from is (``features.online_text``): the mentions redacted."""
    from features.online_text import redact

    return redact(store, ids) if ids else 0


def online_held(settings: Settings, name: str, ids: set[str]) -> set[str]:
    """Of ``ids``, those one of the dataset's online stores holds a row of, read only; none
    when it was never materialized."""
    from features.erasure_places import online_stores

    ordered, held = sorted(ids), set()
    if not ordered:
        return set()
    for store in online_stores(settings, [name]):
        if store.path is None:
            from features import redis_health

            feast_store, keys = _redis_keys(settings, name, ordered)
            found = redis_health.held(feast_store, keys)
            held |= {u for u, hit in zip(ordered, found, strict=True) if hit}
            continue
        import sqlite3

        keys = entity_keys(c.USER_ID, ordered, 3)
        marks = ",".join("?" * len(keys))
        # read only: the file, its write-ahead log and index stay as they are
        conn = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            stored = {
                bytes(key)
                for t in user_tables(conn, store.project)
                for (key,) in conn.execute(
                    f'SELECT DISTINCT entity_key FROM "{t}" WHERE entity_key IN ({marks})', keys
                )
            }
        finally:
            conn.close()
        held |= {u for u, key in zip(ordered, keys, strict=True) if key in stored}
    return held


def user_tables(conn: Any, prefix: str) -> list[str]:
    """A SQLite store's tables of a project (``prefix``) keyed by entity: its views'."""
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
