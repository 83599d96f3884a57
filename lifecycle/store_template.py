"""A new MLflow SQLite store copied from an empty, migrated one instead of migrated anew.

MLflow creates a new SQLite store by running every schema migration since its first
release: about 2 s of CPU for each new workspace, backtest scratch workspace and test. The
schema is fixed per MLflow version, so the first new store of a machine keeps an empty
migrated database in the user's cache (``$XDG_CACHE_HOME/lifecycle``, else
``~/.cache/lifecycle``), and later new stores start as a copy of it (about 0.05 s). The
template holds tables only, no experiment: MLflow then creates its Default experiment
under the new store's own artifact root, as for a store it migrated itself.

Only a speed-up: whenever the cache cannot be used (no home, read-only, a damaged
template), MLflow creates the store as before and says what is wrong in its own words.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lifecycle"


def _migrated(database: Path) -> bool:
    """A whole SQLite database whose schema MLflow has brought to a revision."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA quick_check").fetchone() != ("ok",):
                return False
            return bool(db.execute("SELECT version_num FROM alembic_version").fetchall())
    except sqlite3.Error:
        return False


def _template() -> Path:
    """This MLflow version's empty migrated store in the cache, made once (atomically)."""
    import mlflow
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    template = cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"
    if template.is_file() and _migrated(template):
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".mlflow-", suffix=".db", dir=template.parent)
    os.close(handle)
    try:
        engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{name}")
        try:
            _initialize_tables(engine)
        finally:
            engine.dispose()
        os.replace(name, template)  # a reader sees no template or a whole one
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return template


def start_from_template(database: Path) -> bool:
    """Create the missing SQLite store ``database`` as a copy of the migrated template;
    False (and nothing created) when the cache cannot serve, so that MLflow creates it."""
    if database.exists():
        return False
    try:
        template = _template()
        # a new file under the umask, as MLflow's own store would be (mkstemp's is 0600)
        name = database.parent / f".{database.name}.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            shutil.copyfile(template, name)
            try:
                os.link(name, database)  # never over a store another process just made
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        return True
    except Exception:  # a cache only: MLflow's own creation reports what is wrong
        return False
