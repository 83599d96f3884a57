"""A new workspace's MLflow store is a copy of an empty migrated one (``store_template``):
the same schema MLflow's own migrations make, a store that works in full, and MLflow's own
creation whenever the cache cannot serve."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lifecycle import registry
from lifecycle.settings import load_settings
from lifecycle.store_template import cache_dir, start_from_template


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cache_dir()


def schema(database: Path) -> tuple[list[tuple[str, str, list[Any]]], list[tuple[str]]]:
    """Tables (their columns: name, type, not null, key), indexes (their columns), triggers,
    and the revision: what migrations make. Not the SQL text: where SQLite rebuilds a table
    in a migration, a second run in one process may write its constraints in another order."""

    def shape(db: sqlite3.Connection, kind: str, name: str) -> list[Any]:
        if kind == "table":
            return sorted(r[1:4] + r[5:6] for r in db.execute(f"PRAGMA table_info('{name}')"))
        if kind == "index":
            return [r[2] for r in db.execute(f"PRAGMA index_info('{name}')")]
        return []

    with sqlite3.connect(database) as db:
        objects = db.execute(
            "SELECT type, name FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
        shapes = [(kind, name, shape(db, kind, name)) for kind, name in objects]
        return shapes, db.execute("SELECT version_num FROM alembic_version").fetchall()


def store_works(home: Path) -> str:
    """Track a run and register a version with an alias in ``home``'s store; its
    experiment's artifact location."""
    client = registry.client(load_settings(home=home, environ={}))
    experiment = client.create_experiment("check", artifact_location=str(home / "artifacts"))
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "auc", 0.75)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("demo-churn")
    version = client.create_model_version(
        "demo-churn", f"runs:/{run.info.run_id}/m", run_id=run.info.run_id
    )
    client.set_registered_model_alias("demo-churn", "champion", version.version)
    assert client.get_model_version_by_alias("demo-churn", "champion").run_id == run.info.run_id
    assert client.get_metric_history(run.info.run_id, "auc")[0].value == 0.75
    assert [e.name for e in client.search_experiments()] == ["check", "Default"]
    return client.get_experiment(experiment).artifact_location


def test_a_new_store_is_the_migrated_template_and_works(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own creation, for the schema to compare with: no cache to copy from
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    (tmp_path / "not-a-folder").write_text("a file where the cache would be")
    migrated = tmp_path / "migrated"
    store_works(migrated)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))

    first, second = tmp_path / "first", tmp_path / "second"
    assert store_works(first) == str(first / "artifacts")
    templates = sorted(cache.glob("mlflow-*-empty.db"))
    assert len(templates) == 1, templates
    assert store_works(second) == str(second / "artifacts")
    database = second / "mlflow" / "mlflow.db"
    assert schema(database) == schema(templates[0]) == schema(migrated / "mlflow" / "mlflow.db")
    with sqlite3.connect(templates[0]) as db:  # tables only: MLflow makes Default per store
        assert db.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
    assert not [p.name for p in database.parent.iterdir() if p.name.startswith(".mlflow.db")]


def test_a_damaged_template_is_made_again(cache: Path, tmp_path: Path) -> None:
    store_works(tmp_path / "first")
    template = next(cache.glob("mlflow-*-empty.db"))
    template.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    store_works(tmp_path / "second")
    assert schema(template) == schema(tmp_path / "first" / "mlflow" / "mlflow.db")


def test_an_existing_store_is_never_replaced(cache: Path, tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    database.write_bytes(b"someone's store")
    assert start_from_template(database) is False
    assert database.read_bytes() == b"someone's store"
    assert start_from_template(tmp_path / "new.db") is True
    assert schema(tmp_path / "new.db")[1]
