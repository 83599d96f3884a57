"""A workspace copied or moved: re-point what MLflow keeps as absolute paths.

MLflow's SQLite store keeps artifact locations as absolute ``file://`` URIs (experiments,
runs, model versions, logged models) and has no relative form. A copy of the workspace
would load its models from the original (or fail once the original is gone) and train new
versions into the original's artifact folder. :func:`relocate_mlflow_store` finds the
artifact root the store was filled under from the workspace's own experiments (each lives
at ``<root>/<experiment name>``, ``training.tracking.experiment_for``) and, when that root
is not this workspace's, replaces it in every text column, in one transaction.

The Feast registry needs no such step: it names the feature table relative to the
repository (``features.store.StorePaths.feature_table_in_repo``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from lifecycle.errors import UserError

_checked: set[tuple[Path, str]] = set()  # (database, root) already current in this process


def _path_of(uri: str) -> str:
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri


def foreign_roots(connection: sqlite3.Connection, artifact_root: str) -> list[str]:
    """Artifact roots (as paths) of this store's experiments that are another workspace's:
    same layout (the root's last two folders, ``mlflow/artifacts``), another place."""
    root = _path_of(artifact_root).rstrip("/")
    layout = "/" + "/".join(root.split("/")[-2:])
    found = set()
    for name, location in connection.execute("SELECT name, artifact_location FROM experiments"):
        path = _path_of(location or "").rstrip("/")
        if not path.endswith(f"/{name}"):
            continue  # not created by lifecycle (MLflow's Default experiment, a server's)
        parent = path.removesuffix(f"/{name}")
        if parent != root and parent.endswith(layout):
            found.add(parent)
    return sorted(found)


def relocate_mlflow_store(database: Path, artifact_root: str) -> list[str]:
    """Re-point the MLflow SQLite store ``database`` at ``artifact_root`` (this workspace's)
    when it was filled in a workspace elsewhere; the roots replaced (none when current).

    A read-only store is left as it is: its models then load from where it says.
    """
    key = (database.resolve(), artifact_root)
    if key in _checked or not database.is_file():
        return []
    new = _path_of(artifact_root).rstrip("/")
    connection = sqlite3.connect(database, timeout=30)  # opens lazily: errors come below
    try:
        with connection:  # one transaction: a reader sees the old or the new locations
            try:
                old_roots = foreign_roots(connection, artifact_root)
            except sqlite3.OperationalError as error:
                if "no such table" in str(error):  # no experiments table yet: a new store
                    return []
                raise
            for old in old_roots:
                # URIs first (they hold the path %-quoted), then any plain path left
                _replace_prefix(connection, f"file://{quote(old)}/", f"file://{quote(new)}/")
                _replace_prefix(connection, f"{old}/", f"{new}/")
    except sqlite3.DatabaseError as error:  # OperationalError too (locked, read-only)
        if "readonly" in str(error):
            return []
        raise unreadable_store(database, error) from error
    finally:
        connection.close()
    _checked.add(key)
    return old_roots


def unreadable_store(database: Path, error: Exception) -> UserError:
    """The error saying the MLflow SQLite store ``database`` cannot be read (damaged, locked
    by another process past the wait, not a database at all)."""
    if "locked" in str(error):
        return UserError(
            f"the tracking store {database} is locked by another process ({error}): "
            "try again once it has finished"
        )
    return UserError(
        f"the tracking store {database} cannot be read ({error}): the registered "
        "models are there; restore it from a copy of the workspace"
    )


def _replace_prefix(connection: sqlite3.Connection, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in every text value of every table."""
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        for column in connection.execute(f'PRAGMA table_info("{table}")').fetchall():
            name, declared = column[1], (column[2] or "").upper()
            if any(kind in declared for kind in ("CHAR", "TEXT", "CLOB")):
                connection.execute(
                    f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                    f'WHERE instr("{name}", ?) > 0',
                    (old, new, old),
                )
