"""A workspace is its own wherever it lives: ``cp -r`` it, move or delete the original, and
the copy builds, applies, materializes, trains, scores and retrieves reading and writing
only itself.

The Feast registry names the feature table relative to the repository (Feast's own readers
get it made absolute by ``features.offline_store``); MLflow's store, which only knows
absolute artifact locations, is re-pointed the first time the copy opens it
(``lifecycle.relocation``).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from experiment_runs import few_rounds
from services import run_cli
from workspaces import NO_COMPILE, fingerprint

from features import contract as c
from features.asof import AS_OF
from features.store import (
    FeatureStoreError,
    apply,
    historical_features,
    materialize,
    online_features,
    open_store,
    store_paths,
)
from lifecycle.settings import Settings, load_settings

SERVICE = "churn_v1"


def settings(home: Path, **feast: str) -> Settings:
    return load_settings(home=home, environ=NO_COMPILE, feast=feast)


def cp_r(source: Path, destination: Path) -> Path:
    """What ``cp -r`` does: files as they are, symlinks kept as symlinks; nothing re-pointed."""
    shutil.copytree(source, destination, symlinks=True)
    return destination


def entity_rows(home: Path, users: int = 50) -> pd.DataFrame:
    table = pd.read_parquet(store_paths(settings(home)).feature_table, columns=[c.USER_ID, AS_OF])
    rows = table.sort_values([c.USER_ID, AS_OF]).groupby(c.USER_ID).tail(1).head(users)
    rows[AS_OF] = pd.to_datetime(rows[AS_OF], utc=True)
    return rows.reset_index(drop=True)


def mentions(home: Path, text: str) -> list[str]:
    """Files of a workspace holding ``text``, but for notes nothing reads back: the path an
    MLmodel file was logged at, and the input file an ingest report names."""
    return sorted(
        str(path.relative_to(home))
        for path in home.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and path.name not in ("MLmodel", "report.json")
        and text.encode() in path.read_bytes()
    )


def test_the_registry_names_the_feature_table_relative_to_the_repository(
    trained_copy: Path,
) -> None:
    store = open_store(settings(trained_copy))
    paths = {source.path for source in store.list_data_sources()}
    paths |= {view.batch_source.path for view in store.list_feature_views()}
    assert paths == {"../../features/demo/user_features.parquet"}
    registry = store_paths(settings(trained_copy)).registry
    assert str(trained_copy).encode() not in registry.read_bytes()


def test_a_copy_of_a_moved_workspace_reads_and_writes_only_itself(
    trained_copy: Path, tmp_path: Path
) -> None:
    copy = cp_r(trained_copy, tmp_path / "a copy")  # a space: %20 in MLflow's URIs
    moved = trained_copy.rename(tmp_path / "moved")  # the original's paths now lead nowhere
    before = fingerprint(moved)
    # The model's trees are not what is asserted: few boosting rounds (plots still written).
    env = NO_COMPILE | few_rounds()

    run_cli(copy, "features", "build", env=env)
    run_cli(copy, "features", "apply", env=env)
    run_cli(copy, "features", "materialize", env=env)
    run_cli(copy, "train", "churn", env=env)
    run_cli(copy, "score-all", env=env)

    config = settings(copy)
    rows = entity_rows(copy)
    retrieved = historical_features(open_store(config), rows, SERVICE)
    assert retrieved.missing == 0
    online = online_features(open_store(config), rows[c.USER_ID].tolist(), SERVICE)
    assert online.found.all()
    table = pd.read_parquet(store_paths(config).feature_table)
    assert retrieved.frame["tenure_days"].notna().all()
    assert set(retrieved.frame[c.USER_ID]) <= set(table[c.USER_ID])

    assert not trained_copy.exists()  # nothing wrote to (or re-created) the original's path
    assert fingerprint(moved) == before  # nor into the original where it lives now
    assert mentions(copy, str(trained_copy) + "/") == []
    with sqlite3.connect(copy / "mlflow" / "mlflow.db") as db:
        sources = [row[0] for row in db.execute("SELECT storage_location FROM model_versions")]
    db.close()
    assert len(sources) >= 4  # three copied versions and the churn model trained in the copy
    assert all(source.startswith((copy / "mlflow").as_uri()) for source in sources)


def test_feasts_own_readers_read_the_copys_feature_table(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Feast's ibis join and ``FeatureStore.materialize`` (Feast's path into another online
    store) read the relative file source against the repository, not the working directory
    (the tests run from the project folder, where ``../../features`` is nothing)."""
    copy = cp_r(trained_copy, tmp_path / "copy")
    shutil.rmtree(trained_copy)
    rows = entity_rows(copy)
    ours = historical_features(open_store(settings(copy)), rows, SERVICE)
    feasts = historical_features(open_store(settings(copy, offline_store="duckdb")), rows, SERVICE)
    assert ours.missing == feasts.missing == 0
    pd.testing.assert_frame_equal(
        ours.frame[ours.feature_names].astype(object),
        feasts.frame[ours.feature_names].astype(object),
        check_like=True,
    )

    config = settings(copy, online_store="sqlite-feast")
    for online_db in (copy / "feast" / "demo").glob("online.db*"):
        online_db.unlink()  # Feast's own SQLite store lays its tables out otherwise
    summary = materialize(config)
    table = pd.read_parquet(store_paths(config).feature_table, columns=[c.USER_ID])
    assert summary["users"] == table[c.USER_ID].nunique()
    online = online_features(open_store(config), rows[c.USER_ID].tolist(), SERVICE)
    assert online.found.all()


def test_a_registry_applied_elsewhere_is_refused_until_applied_here(
    trained_copy: Path, tmp_path: Path
) -> None:
    """A workspace applied before paths were relative holds the original's absolute path:
    reading through it would read the original's table, so it is refused; ``apply`` fixes it."""
    import pyarrow.parquet as pq

    from features import repo
    from features.store import service_refs, warnings_quiet

    original_table = store_paths(settings(trained_copy)).feature_table.resolve()
    store = open_store(settings(trained_copy))
    existing = {s.name: service_refs(s) for s in store.list_feature_services()}
    objects = repo.definitions(
        str(original_table), pq.read_schema(original_table), existing_services=existing
    )
    with warnings_quiet():
        store.apply(objects)  # source and views as an apply before relative paths left them
    assert {v.batch_source.path for v in store.list_feature_views()} == {str(original_table)}
    copy = cp_r(trained_copy, tmp_path / "copy")

    with pytest.raises(FeatureStoreError, match="run `lifecycle features apply --dataset demo`"):
        open_store(settings(copy))
    apply(settings(copy))
    store = open_store(settings(copy))
    paths = {source.path for source in store.list_data_sources()}
    paths |= {view.batch_source.path for view in store.list_feature_views()}
    assert paths == {"../../features/demo/user_features.parquet"}
