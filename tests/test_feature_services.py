"""Feature services versioned for real, against a real Feast repository (DuckDB offline,
SQLite online) and a real MLflow store: a model names exactly the features it was trained
on; adding a feature makes a new service version and leaves the champion's intact; a
champion whose service is gone (or changed under its name) is refused, with the fix."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from services import prepare
from workspaces import NO_COMPILE, NO_PLOTS

from features import contract as c
from features import repo
from features.asof import AS_OF
from features.store import (
    FeatureStoreError,
    apply,
    historical_features,
    latest_feature_rows,
    materialize,
    online_features,
    open_store,
    service_features,
    service_refs,
    store_paths,
    task_service,
)
from lifecycle.settings import Settings, load_settings
from serving.scoring import load_champions, score_frame
from training.datasets import build_training_set

NEW_FEATURE = "orders_per_tenure_day"  # the feature added after the champion was trained
FIRST = {"churn": "churn_v1", "conversion": "conversion_v1", "ltv": "ltv_v1"}
SECOND = {"churn": "churn_v2", "conversion": "conversion_v2", "ltv": "ltv_v2"}


@dataclass(frozen=True)
class Evolved:
    """A workspace whose churn champion was trained on ``churn_v1``, after which a feature
    was added to the feature table, applied and materialized."""

    home: Path
    refs_before: dict[str, frozenset[str]]  # every service's view:feature refs before
    champion_features: list[str]
    first_apply: dict[str, Any]
    second_apply: dict[str, Any]


def settings_of(home: Path) -> Settings:
    return load_settings(home=home, environ=NO_COMPILE | NO_PLOTS)


def add_feature(settings: Settings) -> None:
    """A new numeric feature column in the feature table, as a new feature in features.asof
    would write it."""
    path = store_paths(settings).feature_table
    table = pq.read_table(path)
    orders = pc.cast(table["orders_total"], "double")
    tenure = pc.add(pc.cast(table["tenure_days"], "double"), 1.0)
    pq.write_table(table.append_column(NEW_FEATURE, pc.divide(orders, tenure)), path)


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> Evolved:
    from training.pipeline import train_task

    home = tmp_path_factory.mktemp("versions_ws")
    prepare(home, ["demo-data", "--users", "1500", "--seed", "3"], ["features", "build"])
    settings = settings_of(home)
    first_apply = apply(settings)
    materialize(settings)
    champion = train_task(settings, "churn")
    assert champion.promoted and champion.version == "1"
    store = open_store(settings)
    refs_before = {s.name: service_refs(s) for s in store.list_feature_services()}
    champion_features = service_features(store, "churn_v1")
    add_feature(settings)
    second_apply = apply(settings)
    materialize(settings)
    return Evolved(home, refs_before, champion_features, first_apply, second_apply)


def copied(evolved: Evolved, tmp_path: Path) -> Settings:
    """The evolved workspace copied, for a test that damages its Feast registry."""
    home = tmp_path / "workspace"
    shutil.copytree(evolved.home, home)
    return settings_of(home)


def table_features(settings: Settings) -> set[str]:
    columns = set(pq.read_schema(store_paths(settings).feature_table).names)
    return columns - {c.USER_ID, AS_OF}


# -- naming versions (no store) ----------------------------------------------------------


def test_a_version_is_found_by_its_feature_set_and_the_next_one_follows_the_highest() -> None:
    one, two = frozenset({"v:a"}), frozenset({"v:a", "v:b"})
    assert repo.current_service("churn", one, {}) == ("churn_v1", True)
    existing = {"churn_v1": one, "churn_v2": two, "ltv_v7": frozenset({"v:c"})}
    assert repo.current_service("churn", two, existing) == ("churn_v2", False)
    assert repo.current_service("churn", one, existing) == ("churn_v1", False)  # back to v1's set
    assert repo.current_service("churn", frozenset({"v:b"}), existing) == ("churn_v3", True)
    assert repo.current_service("ltv", one, existing) == ("ltv_v8", True)
    assert repo.service_versions("churn", ["churn_v1", "churn_v10", "churn_x", "ltv_v2"]) == {
        1: "churn_v1",
        10: "churn_v10",
    }


# -- adding a feature ----------------------------------------------------------------------


def test_adding_a_feature_makes_new_versions_and_keeps_the_old_ones_exactly(
    evolved: Evolved,
) -> None:
    settings = settings_of(evolved.home)
    assert evolved.first_apply["new_services"] == sorted(FIRST.values())
    assert evolved.second_apply["current_services"] == SECOND
    assert evolved.second_apply["new_services"] == sorted(SECOND.values())
    store = open_store(settings)
    refs = {s.name: service_refs(s) for s in store.list_feature_services()}
    assert set(refs) == set(FIRST.values()) | set(SECOND.values())
    for task, first in FIRST.items():
        assert refs[first] == evolved.refs_before[first]  # untouched by the second apply
        assert refs[SECOND[task]] - refs[first] == {f"user_profile:{NEW_FEATURE}"}
        assert refs[first] <= refs[SECOND[task]]
        # Each service holds exactly the features of the table it was created from.
        assert set(service_features(store, SECOND[task])) == table_features(settings)
    assert NEW_FEATURE not in service_features(store, "churn_v1")
    # Applying the same features again is a no-op: the version follows from the feature set.
    again = apply(settings)
    assert again["new_services"] == [] and again["current_services"] == SECOND
    assert {s.name: service_refs(s) for s in open_store(settings).list_feature_services()} == refs


def test_old_version_still_reads_exactly_its_features_online_and_offline(
    evolved: Evolved,
) -> None:
    settings = settings_of(evolved.home)
    store = open_store(settings)
    latest = latest_feature_rows(store_paths(settings)).head(50)
    entity = latest[[c.USER_ID, AS_OF]].assign(
        **{AS_OF: pd.to_datetime(latest[AS_OF], utc=True).astype("datetime64[us, UTC]")}
    )
    offline = historical_features(store, entity, "churn_v1")
    assert offline.feature_names == evolved.champion_features
    assert NEW_FEATURE not in offline.frame.columns and offline.missing == 0
    online = online_features(store, latest[c.USER_ID].tolist(), "churn_v1")
    assert online.found.all()
    assert set(online.frame.columns) - {c.USER_ID} == set(evolved.champion_features)
    newer = online_features(store, latest[c.USER_ID].tolist(), "churn_v2")
    np.testing.assert_allclose(
        newer.frame[NEW_FEATURE].to_numpy(dtype=float),
        latest[NEW_FEATURE].to_numpy(dtype=float),
        rtol=1e-12,
    )


def test_a_new_model_trains_on_the_new_version_and_names_exactly_its_features(
    evolved: Evolved,
) -> None:
    settings = settings_of(evolved.home)
    training = build_training_set(settings, "churn")
    assert training.service == "churn_v2"
    assert training.feature_names == service_features(open_store(settings), "churn_v2")
    assert NEW_FEATURE in training.feature_names


def test_training_refuses_features_no_service_holds_yet(evolved: Evolved, tmp_path: Path) -> None:
    settings = copied(evolved, tmp_path)
    path = store_paths(settings).feature_table
    table = pq.read_table(path)
    pq.write_table(
        table.append_column("late_feature", pc.cast(table["orders_total"], "double")), path
    )
    with pytest.raises(
        FeatureStoreError,
        match=r"no churn feature service of dataset 'demo' holds the features of .*"
        r"user_features\.parquet \(not in any churn service: user_profile:late_feature\): "
        r"run `lifecycle features apply`",
    ):
        task_service(open_store(settings), store_paths(settings), "churn")


# -- serving the champion ------------------------------------------------------------------


def test_the_champion_keeps_being_served_with_its_service(evolved: Evolved) -> None:
    from serving.scorer import Scorer

    settings = settings_of(evolved.home)
    champions = load_champions(settings, cache=evolved.home / "models-check")
    bundle = champions.bundles["churn"]
    assert champions.versions["churn"] == "1" and "churn" not in champions.unavailable
    assert bundle.service == "churn_v1" and bundle.feature_names == evolved.champion_features
    latest = latest_feature_rows(store_paths(settings)).head(40)
    users = latest[c.USER_ID].tolist()
    scorer = Scorer(settings)
    state = scorer.load()
    assert state.fetch == {"churn_v1": "churn_v1"}
    response = scorer.score(users, ["churn"])
    assert response.model_versions == {"churn": "1"}
    assert "churn" not in response.unavailable
    served = [u.churn_probability for u in response.users]
    assert [u.status for u in response.users] == ["scored"] * len(users)
    models = scorer.models().models
    assert [(m.task, m.feature_service) for m in models] == [("churn", "churn_v1")]
    # The same scores as the champion on the table's rows without the new feature.
    expected = score_frame(champions, latest.drop(columns=NEW_FEATURE), reasons=False)
    np.testing.assert_allclose(
        np.array(served, dtype=float), expected["churn_probability"].to_numpy(), rtol=1e-9
    )


def test_a_champion_whose_service_is_gone_is_refused_with_the_fix(
    evolved: Evolved, tmp_path: Path
) -> None:
    from serving.errors import ApiError
    from serving.scorer import Scorer

    settings = copied(evolved, tmp_path)
    open_store(settings).delete_feature_service("churn_v1")
    champions = load_champions(settings, cache=tmp_path / "models")
    assert "churn" not in champions.bundles and "churn" not in champions.versions
    refusal = champions.unavailable["churn"]
    assert refusal.startswith(
        "champion demo-churn v1 reads feature service 'churn_v1', which is gone from the "
        "Feast registry "
    )
    assert "(it has: churn_v2, conversion_v1, conversion_v2, ltv_v1, ltv_v2)" in refusal
    assert "`lifecycle train churn`" in refusal
    assert '`lifecycle promote churn challenger --reason "churn_v1 unavailable" --force`' in refusal
    scorer = Scorer(settings)
    scorer.load()
    # No model can answer (only churn was trained): a 503 with the refusal, where it was a
    # 200 of nulls calling every user, known or not, an unknown user.
    with pytest.raises(ApiError) as refused:
        scorer.score(["u0000001"], ["churn"])
    assert refused.value.status == 503
    assert refused.value.message == f"no model can serve churn: churn: {refusal}"
    assert scorer.models().unavailable["churn"] == refusal


def test_a_champion_whose_service_changed_under_its_name_is_refused(
    evolved: Evolved, tmp_path: Path
) -> None:
    """A Feast repository re-created from scratch numbers from v1 again, with today's
    features: ``churn_v1`` exists but is not what the champion was trained on."""
    settings = copied(evolved, tmp_path)
    shutil.rmtree(store_paths(settings).repo)
    assert apply(settings)["current_services"] == FIRST
    refusal = load_champions(settings, cache=tmp_path / "models").unavailable["churn"]
    assert refusal.startswith(
        "champion demo-churn v1 reads feature service 'churn_v1', which no longer holds "
        f"exactly the features the model was trained on (lacks: none; adds: {NEW_FEATURE})"
    )
    assert "`lifecycle train churn`" in refusal


def test_an_attribute_that_identifies_people_is_in_the_table_but_no_service(
    tmp_path: Path,
) -> None:
    """A users file with an email column made it a categorical feature of every model: each
    user's email in the LightGBM model's own files and the MLflow artifacts, where forget
    cannot reach, for a 'category' no new user has."""
    from features.asof import build_feature_table

    users = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(60)],
            "email": [f"person{i}@example.com" for i in range(60)],
            "country": ["UK", "FR", "DE"] * 20,
            "age": [str(20 + i) for i in range(60)],  # read as text: a number, no identity
        }
    ).astype({"age": "int64"})
    events = pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(60)],
            c.EVENT_TIME: pd.date_range("2025-01-01", periods=60, freq="D", tz="UTC").as_unit("us"),
            c.EVENT_TYPE: "purchase",
            c.AMOUNT: 10.0,
        }
    )
    events.to_parquet(tmp_path / "events.parquet", index=False)
    users.to_parquet(tmp_path / "users.parquet", index=False)
    out = tmp_path / "user_features.parquet"
    summary = build_feature_table(
        tmp_path / "events.parquet", tmp_path / "users.parquet", out, windows=[30], frequency="7D"
    )
    assert summary["not_features"] == ["email"]
    schema = pq.read_schema(out)
    assert "email" in schema.names  # kept in the table: lists take it with --allow-column
    profile = repo.task_features(schema, "churn")[repo.PROFILE_VIEW]
    assert "email" not in profile and {"country", "age"} <= set(profile)
    assert "email" in dict(repo.view_features(schema)[repo.PROFILE_VIEW])
