"""Whether an opened Feast store can still answer, and a damaged SQLite online store rebuilt.

A server opens the store once (``features.served_store``) and keeps its SQLite connection:
a file deleted, replaced or emptied on disk afterwards is not seen by that connection (it
reads the old file, or nothing). :func:`store_problem` compares the files on disk with the
ones the store opened and says, in one line naming the command that fixes it, why the store
cannot answer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureStore

    from features.served_store import ServedStore

logger = logging.getLogger("lifecycle.features")

MATERIALIZE = "run `lifecycle features materialize`"
APPLY = "run `lifecycle features apply`, then `lifecycle features materialize`"


def online_file(store: FeatureStore) -> Path | None:
    """The SQLite file of the store's online store; None for a server store (Redis)."""
    config = store.config.online_store
    kind = str(getattr(config, "type", ""))
    if kind != "sqlite" and not kind.endswith("SqliteOnlineStore"):
        return None
    path = Path(config.path)
    return path if path.is_absolute() else Path(store.config.repo_path) / path


def registry_file(store: FeatureStore) -> Path:
    """The registry file of an opened store (its config names it relative to the repository)."""
    path = Path(store.config.registry.path)
    return path if path.is_absolute() else Path(store.config.repo_path) / path


def store_problem(store: ServedStore, *, read: bool = True) -> str | None:
    """Why this opened store cannot answer, with the command that fixes it; None when it can.

    Always: the registry and online files still exist and are the files opened (one
    ``stat`` each: every request asks). With ``read``: every view's online table has rows,
    a Redis store answers and holds a materialization (``features.redis_health``); an
    emptied or unreadable store answers every user ``unknown_user``: wrong, not cold.
    """
    for kind, path, opened in store.files:
        try:
            stat = os.stat(path)
        except OSError:
            if kind == "registry":
                return f"the Feast registry {path} is gone: {APPLY}"
            return f"the online store {path} is gone: {MATERIALIZE}, then POST /reload"
        if opened is not None and (stat.st_dev, stat.st_ino) != opened:
            return f"{path} was replaced since the service opened it: POST /reload"
    if not read:
        return None
    if store.online_file is not None:
        return _online_rows_problem(store, store.online_file)
    from features import redis_health

    if not store.row_store and redis_health.is_redis(store.feast):  # a server, not a file
        return redis_health.held_problem(store.feast)
    return None


def _online_rows_problem(store: ServedStore, online: Path) -> str | None:
    try:
        with sqlite3.connect(f"{online.resolve().as_uri()}?mode=ro", uri=True) as connection:
            for view in store.registry.views.values():
                if connection.execute(f'SELECT 1 FROM "{view.table}" LIMIT 1').fetchone() is None:
                    return f"the online store {online} has no rows for {view.name}: {MATERIALIZE}"
    except sqlite3.OperationalError as error:
        return f"the online store {online} cannot answer ({error}): {MATERIALIZE}"
    except sqlite3.DatabaseError as error:
        return f"the online store {online} is damaged ({error}): {MATERIALIZE}"
    return None


def unreadable(database: Path) -> str | None:
    """Why an SQLite file is damaged (``PRAGMA quick_check``), None when it is whole or absent."""
    if not database.is_file():
        return None
    try:
        with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as connection:
            (verdict,) = connection.execute("PRAGMA quick_check(1)").fetchone()
    except sqlite3.DatabaseError as error:
        return str(error)
    return None if verdict == "ok" else " ".join(str(verdict).split())  # one line


def discard_damaged_online_store(database: Path) -> str | None:
    """Remove a damaged SQLite online store (it holds only what materialize writes from the
    offline table) so the caller rebuilds it; returns the damage, None when it was whole."""
    damage = unreadable(database)
    if damage is None:
        return None
    logger.warning("the online store %s is damaged (%s): rebuilding it", database, damage)
    for suffix in ("", "-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    return damage
