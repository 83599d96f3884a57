"""The Feast repository against real stores (DuckDB offline, SQLite online): services,
point-in-time retrieval without lost rows, online/offline parity, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from services import prepare
from workspaces import TrainedWorkspace, copy_workspace

from features import contract as c
from features.asof import AS_OF, compute_features
from features.labels import LABEL
from features.store import (
    FeatureStoreError,
    historical_features,
    online_features,
    open_store,
    service_features,
    store_paths,
)
from features.store_health import online_file
from lifecycle.cli import main
from lifecycle.settings import load_settings
from training.datasets import build_training_set


@pytest.fixture(scope="module")
def demo_home(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The module's copy of the shared demo workspace (ingested, features built, applied
    and materialized with default settings): what a workspace of its own would be."""
    return copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("demo_ws") / "workspace")


@pytest.fixture(scope="module")
def retail_home(tmp_path_factory: pytest.TempPathFactory, online_retail_loaded: Any) -> Path:
    """The whole online_retail file as `lifecycle import online-retail` writes it (the
    session's adapter load, written by the import's own write_online_retail), then built,
    applied and materialized."""
    from features.importing import write_online_retail

    home = tmp_path_factory.mktemp("retail_ws")
    dataset = load_settings(home=home, environ={}).workspace.dataset_dir("online_retail")
    write_online_retail(dataset, *online_retail_loaded)
    prepare(
        home,
        ["features", "build", "--dataset", "online_retail"],
        ["features", "apply", "--dataset", "online_retail"],
        ["features", "materialize", "--dataset", "online_retail"],
    )
    return home


def test_repository_has_one_service_per_model_version(demo_home: Path) -> None:
    settings = load_settings(home=demo_home, environ={})
    store = open_store(settings)
    assert sorted(s.name for s in store.list_feature_services()) == [
        "churn_v1",
        "conversion_v1",
        "ltv_v1",
    ]
    # Each holds exactly the feature table's features: what a model trained on it names.
    table = set(pq.read_schema(store_paths(settings).feature_table).names) - {c.USER_ID, AS_OF}
    for name in ("churn_v1", "conversion_v1", "ltv_v1"):
        features = service_features(store, name)
        assert len(features) == len(set(features)) and set(features) == table
    assert {v.name for v in store.list_feature_views()} == {
        "user_activity",
        "user_purchases",
        "user_profile",
    }
    assert (demo_home / "feast" / "demo" / "feature_store.yaml").is_file()


def test_no_entity_row_vanishes(demo_home: Path) -> None:
    settings = load_settings(home=demo_home, environ={})
    store = open_store(settings)
    table = pd.read_parquet(store_paths(settings).feature_table)
    late_user = (
        table.groupby(c.USER_ID)[AS_OF].min().idxmax()
    )  # signed up late: no row at the first cutoff
    first_cutoff, next_cutoff = sorted(table[AS_OF].unique())[:2]
    between = first_cutoff + (next_cutoff - first_cutoff) / 2  # before the next cutoff's rows
    known = table[table[AS_OF] == first_cutoff][c.USER_ID].iloc[0]
    rows = pd.DataFrame(
        {
            c.USER_ID: [known, "nobody", late_user, known, known],
            AS_OF: [
                first_cutoff,
                first_cutoff,
                first_cutoff,
                between,
                first_cutoff,
            ],
        }
    )
    rows[AS_OF] = rows[AS_OF].astype("datetime64[us, UTC]")
    rows["marker"] = range(len(rows))
    retrieved = historical_features(store, rows, "churn_v1")
    out = retrieved.frame
    assert len(out) == len(rows) and out["marker"].tolist() == list(range(5))  # every row, in order
    assert retrieved.missing == 2  # the unknown user and the user not yet signed up
    assert (
        out.loc[1, retrieved.feature_names].isna().all()
        and out.loc[2, retrieved.feature_names].isna().all()
    )
    # Days after a cutoff the row of that cutoff is still within the TTL; duplicates agree.
    expected = table[(table[c.USER_ID] == known) & (table[AS_OF] == first_cutoff)].iloc[0]
    for i in (0, 3, 4):
        assert out.loc[i, "tenure_days"] == pytest.approx(expected["tenure_days"])


def test_training_set_keeps_every_labelled_row(demo_home: Path) -> None:
    settings = load_settings(home=demo_home, environ={})
    for task in ("churn", "conversion", "ltv"):
        training = build_training_set(settings, task)
        assert training.report["rows_without_features"] == 0
        assert training.frame[LABEL].notna().all()
        assert len(training.frame) == sum(training.report["rows_by_cutoff"].values())
        assert not training.frame.duplicated([c.USER_ID, AS_OF]).any()
        assert set(training.feature_names) >= {
            "recency_days",
            "orders_90d",
            "channel",
            "overdue_ratio",
        }


def assert_online_matches_offline(home: Path, dataset: str, sample: int = 300) -> None:
    settings = load_settings(home=home, environ={})
    store = open_store(settings, dataset)
    table = pd.read_parquet(store_paths(settings, dataset).feature_table)
    latest = table.sort_values(AS_OF).groupby(c.USER_ID).tail(1)
    users = latest[c.USER_ID].sample(min(sample, len(latest)), random_state=0).tolist()
    online = online_features(store, users, "churn_v1")
    assert online.found.all()
    entity = latest.set_index(c.USER_ID).loc[users, [AS_OF]].reset_index()
    offline = historical_features(store, entity, "churn_v1").frame
    names = [n for n in online.frame.columns if n != c.USER_ID]
    assert set(names) == set(historical_features(store, entity.head(1), "churn_v1").feature_names)
    for name in names:
        left = pd.Series(online.frame[name].to_numpy(), name=name)
        right = pd.Series(offline[name].to_numpy(), name=name)
        if pd.api.types.is_numeric_dtype(right):
            np.testing.assert_allclose(
                left.astype(float), right.astype(float), rtol=1e-12, equal_nan=True, err_msg=name
            )
        else:
            assert left.fillna("<null>").tolist() == right.fillna("<null>").tolist(), name


def test_online_offline_parity_on_demo(demo_home: Path) -> None:
    assert_online_matches_offline(demo_home, "demo")


@pytest.mark.real_data
def test_online_offline_parity_on_online_retail(retail_home: Path) -> None:
    assert_online_matches_offline(retail_home, "online_retail")


@pytest.mark.real_data
def test_future_events_change_no_feature_on_online_retail(retail_home: Path) -> None:
    events = pd.read_parquet(retail_home / "datasets" / "online_retail" / "events.parquet")
    cutoff = pd.Timestamp("2011-06-01", tz="UTC")
    past = events[events[c.EVENT_TIME] <= cutoff]
    everything = compute_features(events, [cutoff])
    only_past = compute_features(past, [cutoff])
    pd.testing.assert_frame_equal(everything, only_past)
    assert len(everything) > 2000


def test_future_events_change_no_feature_on_demo(demo_home: Path) -> None:
    events = pd.read_parquet(demo_home / "datasets" / "demo" / "events.parquet")
    users = pd.read_parquet(demo_home / "datasets" / "demo" / "users.parquet")
    cutoff = pd.Timestamp("2025-01-01", tz="UTC")
    past = events[events[c.EVENT_TIME] <= cutoff]
    pd.testing.assert_frame_equal(
        compute_features(events, [cutoff], users=users),
        compute_features(past, [cutoff], users=users),
    )


def test_unknown_user_is_not_found(demo_home: Path) -> None:
    store = open_store(load_settings(home=demo_home, environ={}))
    online = online_features(store, ["u0000001", "no-such-user"], "ltv_v1")
    assert online.found.tolist() == [True, False]
    assert online.frame.loc[1].drop(c.USER_ID).isna().all()


def test_unknown_service_and_unapplied_repo_are_clear_errors(
    demo_home: Path, tmp_path: Path
) -> None:
    store = open_store(load_settings(home=demo_home, environ={}))
    with pytest.raises(
        FeatureStoreError,
        match=r"unknown feature service 'churn_v9'.*churn_v1, conversion_v1, ltv_v1",
    ):
        online_features(store, ["u0000001"], "churn_v9")
    with pytest.raises(
        FeatureStoreError,
        match=r"run `lifecycle features apply --dataset demo` first \(or `lifecycle refresh`",
    ):
        open_store(load_settings(home=tmp_path, environ={}))
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "features", "apply"])
    assert result.exit_code == 1 and "run `lifecycle features build` first" in result.stderr


def test_features_show_cli(demo_home: Path) -> None:
    result = CliRunner().invoke(
        main, ["--home", str(demo_home), "features", "show", "u0000002", "ghost"]
    )
    assert result.exit_code == 0, result.output
    assert "ghost  (not found in the online store)" in result.stdout
    assert "recency_days:" in result.stdout
    # --json is valid JSON: an unknown user's unknown values are null, never NaN
    shown = CliRunner().invoke(
        main, ["--home", str(demo_home), "--json", "features", "show", "u0000002", "ghost"]
    )
    assert shown.exit_code == 0, shown.output
    users = json.loads(shown.stdout, parse_constant=lambda name: pytest.fail(name))["users"]
    ghost = next(u for u in users if u["user_id"] == "ghost")
    assert ghost["recency_days"] is None


@pytest.mark.real_data
def test_an_id_written_18074_0_is_the_customer_ingest_loaded_as_18074(retail_home: Path) -> None:
    """Ingest reads CustomerID 18074.0 as 18074: a lookup of 18074.0 (an id copied from a
    pandas export) finds that customer, not a stranger; one known as given stays itself."""
    assert c.lookup_user_ids(["18074.0", "18074", "A1"]) == ["18074.0", "18074", "A1"]
    assert c.answering_user_id("18074.0", {"18074"}) == "18074"
    assert c.answering_user_id("18074.0", {"18074.0", "18074"}) == "18074.0"
    assert c.answering_user_id("18074.5", set()) == "18074.5"
    assert c.answering_user_id("99999.0", {"18074"}) == "99999.0"  # told as asked
    shown = CliRunner().invoke(
        main,
        ["--home", str(retail_home), "--json", "features", "show", "--dataset", "online_retail",
         "18074.0", "18074", "99999.0"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    users = json.loads(shown.stdout)["users"]
    assert [u["user_id"] for u in users] == ["18074.0", "18074", "99999.0"]
    assert [u["found"] for u in users] == [True, True, False]
    assert {k: v for k, v in users[0].items() if k != "user_id"} == {
        k: v for k, v in users[1].items() if k != "user_id"
    }


def test_features_show_after_a_users_column_went_reads_the_current_service(
    tmp_path: Path,
) -> None:
    """On Feast's own online path (Redis, sqlite-feast), `features show` after a replace that
    dropped a users column ended in Feast's ValueError traceback: its default service,
    churn_v1, asks for the column. It shows churn's service of the current feature table
    now, and a stale service named is the one line the row store says."""
    home = tmp_path / "ws"
    env = {"LIFECYCLE_FEAST__ONLINE_STORE": "sqlite-feast"}
    prepare(home, ["demo-data", "--users", "200"], ["features", "build"], env=env)
    users = pd.read_parquet(home / "demo" / "users.parquet").drop(columns=["country"])
    users.to_parquet(tmp_path / "users.parquet")
    events, fewer = str(home / "demo" / "events.parquet"), str(tmp_path / "users.parquet")
    prepare(
        home,
        ["features", "apply"],
        ["ingest", events, "--users", fewer, "--dataset", "demo", "--replace"],
        ["features", "build"],
        ["features", "apply"],
        ["features", "materialize"],
        env=env,
    )
    show = ["--home", str(home), "features", "show", "u0000001"]
    shown = CliRunner(env=env).invoke(main, show)
    assert shown.exit_code == 0, shown.output
    assert "channel:" in shown.stdout and "country" not in shown.stdout
    stale = CliRunner(env=env).invoke(main, [*show, "--service", "churn_v1"])
    assert stale.exit_code == 1 and "Traceback" not in stale.output, stale.output
    assert (
        "feature service churn_v1 (what the models learned from) asks feature view "
        "user_profile for country, which the dataset no longer has"
    ) in stale.stderr


def test_feasts_own_sqlite_store_with_its_tables_dropped_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    """With `feast.online_store = "sqlite-feast"`, an online store whose tables were dropped
    ended a read (`features show`, `/score`, `/at_risk`'s reasons) in Feast's
    `sqlite3.OperationalError: no such table` traceback, where the row store and Redis say
    the store cannot answer. Now it says so too, naming the file and the way on."""
    import sqlite3

    home = tmp_path / "ws"
    env = {"LIFECYCLE_FEAST__ONLINE_STORE": "sqlite-feast"}
    prepare(
        home,
        ["demo-data", "--users", "200"],
        ["features", "build"],
        ["features", "apply"],
        ["features", "materialize"],
        env=env,
    )
    store = open_store(load_settings(home=home, environ=env))
    online = online_file(store)
    assert online is not None
    with sqlite3.connect(online) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            connection.execute(f'DROP TABLE "{table}"')
    shown = CliRunner(env=env).invoke(main, ["--home", str(home), "features", "show", "u0000001"])
    assert shown.exit_code == 1 and shown.stderr.startswith(
        f"Error: the online store {online} cannot answer (no such table: "
    ), shown.output
    assert shown.stderr.endswith("): run `lifecycle features materialize`\n"), shown.stderr
