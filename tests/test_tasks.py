"""The task registry: one declaration per task, and a fourth task declared only in
``tests/fourth_task.py`` that is labelled, trained, registered, scored and listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from services import prepare, run_cli
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace, copy_workspace

from features import contract as c
from features.asof import AS_OF
from features.labels import LABEL, compute_labels, label_spec
from features.store import open_store
from lifecycle import registry, tasks
from lifecycle.list_fields import list_fields, rank_by_choices
from lifecycle.settings import load_settings

SCORE = "buy_soon_probability"


@pytest.fixture(scope="module")
def buy_soon() -> Iterator[tasks.Task]:
    """The fourth task, registered for this module only (other modules see three)."""
    from fourth_task import BUY_SOON

    tasks.register(BUY_SOON)
    try:
        yield BUY_SOON
    finally:
        tasks.unregister(BUY_SOON.name)


@pytest.fixture(scope="module")
def home(
    trained_workspace: TrainedWorkspace,
    tmp_path_factory: pytest.TempPathFactory,
    buy_soon: tasks.Task,
) -> Path:
    """A copy of the shared trained demo workspace (the three built-in champions) in which
    the fourth task gets its feature service (`features apply` with it registered), is
    trained and scored with the others."""
    home = copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("fourth_task") / "ws")
    prepare(
        home,
        ["features", "apply"],
        ["train", buy_soon.name],
        ["score-all"],
        env=NO_COMPILE
        | NO_PLOTS,  # the champions' trees are never compiled: the test server predicts
    )
    return home


def test_built_in_tasks_are_declared_once() -> None:
    assert tasks.names() == ("churn", "conversion", "ltv")
    assert [t.score for t in tasks.all_tasks()] == [
        "churn_probability",
        "conversion_probability",
        "ltv",
    ]
    with pytest.raises(
        tasks.UnknownTaskError, match="unknown task 'nps'; expected one of churn, conversion, ltv"
    ):
        tasks.get("nps")
    with pytest.raises(tasks.UnknownTaskError, match="built-in task"):
        tasks.unregister("churn")
    with pytest.raises(tasks.UnknownTaskError, match="identifier other than 'all'"):
        tasks.register(tasks.Task(**{**tasks.CHURN.__dict__, "name": "all"}))


def test_task_modules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_loaded_modules", set())  # restored afterwards
    monkeypatch.setenv(tasks.TASK_MODULES_ENV, "no_such_task_module")
    with pytest.raises(tasks.UnknownTaskError, match=r"no_such_task_module.*cannot be imported"):
        tasks.names()


def test_fourth_task_labels_any_order_in_its_horizon(home: Path, buy_soon: tasks.Task) -> None:
    """Its label is its declaration's: every known user, 1 when they order in the 30 days."""
    settings = load_settings(home=home, environ={})
    events = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")
    cutoff = events[c.EVENT_TIME].min().normalize() + pd.Timedelta(days=200)
    spec = label_spec(buy_soon.name, settings.labels, events=events)
    assert spec.horizon_days == 30 and spec.everyone
    labels = compute_labels(events, [cutoff], spec).set_index(c.USER_ID)[LABEL]
    seen = events[events[c.EVENT_TIME] <= cutoff]
    assert set(labels.index) == set(seen[c.USER_ID])  # every user known at the cutoff
    window = events[
        (events[c.EVENT_TIME] > cutoff)
        & (events[c.EVENT_TIME] <= cutoff + pd.Timedelta(days=30))
        & (events[c.EVENT_TYPE] == c.PURCHASE)
    ]
    expected = labels.index.isin(window[c.USER_ID].unique()).astype(int)
    np.testing.assert_array_equal(labels.to_numpy(), expected)
    assert 0 < labels.mean() < 1


def test_fourth_task_trains_registers_and_is_gated(home: Path, buy_soon: tasks.Task) -> None:
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    name = registry.model_name("demo", buy_soon.name)
    champion = registry.alias_version(client, name, registry.CHAMPION)
    assert champion is not None, "the fourth task has a champion"
    tags = client.get_model_version(name, champion.version).tags
    assert float(tags["test.auc"]) > 0.6
    store = open_store(settings)
    service = store.get_feature_service(f"{buy_soon.name}_v1")  # versioned like every task's
    assert service.name == "buy_soon_v1"
    models = json.loads(run_cli(home, "--json", "models"))
    assert buy_soon.name in {m["task"] for m in models["models"]}


def test_fourth_task_is_scored_and_listed(home: Path, buy_soon: tasks.Task) -> None:
    scores = pd.read_parquet(home / "scores" / "latest.parquet")
    assert SCORE in scores and scores[SCORE].notna().all()  # population: every known user
    assert scores[SCORE].between(0, 1).all() and scores[SCORE].nunique() > 10
    assert "buy_soon_model_version" in scores
    assert SCORE in rank_by_choices() and SCORE in list_fields()
    listed = json.loads(run_cli(home, "--json", "at-risk", "--rank-by", SCORE, "--top", "20"))
    rows = listed["rows"]
    assert len(rows) == 20
    values = [row[SCORE] for row in rows]
    assert values == sorted(values, reverse=True)
    top = scores.sort_values([SCORE, c.USER_ID], ascending=[False, True]).head(20)
    assert [row[c.USER_ID] for row in rows] == top[c.USER_ID].astype(str).tolist()
    assert AS_OF in scores


def test_fourth_task_is_served_over_http(home: Path, buy_soon: tasks.Task) -> None:
    """A real `bentoml serve` in which the task comes from LIFECYCLE_TASK_MODULES: asked for,
    answered with the batch's number, listed, and named in the API document."""
    import os

    import httpx
    from services import bentoml_server

    tests_dir = str(Path(__file__).resolve().parent)
    env = {
        tasks.TASK_MODULES_ENV: "fourth_task",
        "PYTHONPATH": os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])),
    }
    scores = pd.read_parquet(home / "scores" / "latest.parquet").set_index(c.USER_ID)
    user = str(scores[SCORE].idxmax())
    with bentoml_server(home, env, ready_path="/readyz") as base:
        answer = httpx.post(
            f"{base}/score", json={"user_ids": [user], "tasks": [buy_soon.name]}, timeout=60
        )
        assert answer.status_code == 200, (home / "server.log").read_text()[-3000:]
        body = answer.json()
        assert body["model_versions"][buy_soon.name] == str(
            scores.loc[user, "buy_soon_model_version"]
        )
        served = body["users"][0]
        assert served["status"] == "scored"
        assert served[SCORE] == pytest.approx(scores.loc[user, SCORE], rel=1e-6)
        assert served["churn_probability"] is None  # not asked for
        listed = httpx.post(f"{base}/at_risk", json={"rank_by": SCORE, "limit": 5}, timeout=60)
        assert listed.status_code == 200, listed.text
        rows = listed.json()["users"]
        assert rows[0][c.USER_ID] == user and rows[0][SCORE] == pytest.approx(scores[SCORE].max())
        document = httpx.get(f"{base}/docs.json", timeout=60).json()
        assert SCORE in json.dumps(document["components"]["schemas"])
