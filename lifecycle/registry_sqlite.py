"""The local MLflow registry (its SQLite file) read with ``sqlite3``, for a refusal that
should not wait seconds for the MLflow client's import; every write and every other read
goes through MLflow (``lifecycle.registry``)."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def local_versions(settings: Settings, name: str) -> list[int] | None:
    """The versions of model ``name`` in the local SQLite registry, read with ``sqlite3``
    (milliseconds, where the MLflow client's import and store take seconds: the first
    ``POST /promote`` of a version no model has took 4.9 s to refuse); None where this
    cannot say (a tracking server, no database yet, a schema it does not know): ask MLflow.
    MLflow keeps a deleted version's row, staged ``Deleted_Internal``: not a version."""
    from lifecycle.registry import sqlite_database, tracking_uri

    database = sqlite_database(tracking_uri(settings))
    if database is None or not database.is_file():
        return None
    try:
        opened = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        with contextlib.closing(opened) as db:
            rows = db.execute(
                "SELECT version FROM model_versions "
                "WHERE name = ? AND current_stage != 'Deleted_Internal'",
                (name,),
            ).fetchall()
    except sqlite3.Error:
        return None
    return [int(version) for (version,) in rows]
