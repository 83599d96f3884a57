"""Whether an opened Feast store can still answer, and a damaged SQLite online store rebuilt.

A server opens the store once and keeps its SQLite connection: a file deleted, replaced or
emptied on disk afterwards is not seen by that connection (it reads the old file, or
nothing). :func:`store_problem` compares the files on disk with the ones the store opened
and says, in one line naming the command that fixes it, why the store cannot answer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger("lifecycle.features")

MATERIALIZE = "run `lifecycle features materialize`"
APPLY = "run `lifecycle features apply`, then `lifecycle features materialize`"
_OPENED = "_lifecycle_opened_files"  # kept on the store object: file -> identity when opened


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


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def open_online(store: FeatureStore) -> None:
    """Connect to the online store now and remember which files the store reads, so that
    :func:`store_problem` sees them deleted or replaced later."""
    from features.store import _row_store

    online = _row_store(store)
    if online is not None and (path := online_file(store)) is not None and path.is_file():
        online._get_conn(store.config)  # Feast connects lazily; the file exists: no new file
    store.__dict__[_OPENED] = _files(store, opened=True)


def _files(store: FeatureStore, opened: bool) -> list[tuple[str, str, Any]]:
    """(kind, path, identity when opened or None) of the registry and online store files."""
    files = [("registry", str(registry_file(store)))]
    if (online := online_file(store)) is not None:
        files.append(("online", str(online)))
    return [(kind, path, _identity(Path(path)) if opened else None) for kind, path in files]


def store_problem(store: FeatureStore, *, read: bool = True) -> str | None:
    """Why this opened store cannot answer, with the command that fixes it; None when it can.

    Always: the registry and online files still exist and are the files opened (one
    ``stat`` each: every request asks). With ``read``: every view's online table has rows
    (an emptied or unreadable store answers every user ``unknown_user``: wrong, not cold).
    """
    files = store.__dict__.get(_OPENED) or _files(store, opened=False)
    for kind, path, identity in files:
        try:
            stat = os.stat(path)
        except OSError:
            if kind == "registry":
                return f"the Feast registry {path} is gone: {APPLY}"
            return f"the online store {path} is gone: {MATERIALIZE}, then POST /reload"
        if identity is not None and (stat.st_dev, stat.st_ino) != identity:
            return f"{path} was replaced since the service opened it: POST /reload"
    online = online_file(store) if read else None
    return _online_rows_problem(store, online) if online is not None else None


def _online_rows_problem(store: FeatureStore, online: Path) -> str | None:
    from feast.infra.online_stores.sqlite import _table_id

    versioned = store.config.registry.enable_online_feature_view_versioning
    try:
        views = store.list_feature_views(allow_cache=True)
        with sqlite3.connect(f"{online.resolve().as_uri()}?mode=ro", uri=True) as connection:
            for view in views:
                table = _table_id(store.project, view, versioned)
                if connection.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is None:
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
