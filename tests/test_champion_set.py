"""The champions of one training of every task move together, once every task is judged
(``lifecycle.champion_set``), on a real MLflow registry and its aliases mirror: a service
probed during a refresh answered churn v3 with LTV v1 for 95 s. A champion the new data
cannot replace, of data the dataset no longer holds, is warned of (refresh, score-all and
a served ``/readyz``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from experiment_runs import few_rounds
from services import bentoml_server, every_worker_settled, run_cli
from workspaces import (
    NO_COMPILE,
    NO_PLOTS,
    TASKS,
    TrainedWorkspace,
    checkpoint_sqlite,
    copy_workspace,
    replace_demo,
)

from lifecycle import aliases_mirror, champion_set, registry, steps
from lifecycle.errors import UserError
from lifecycle.refresh import RefreshResult, model_problem, refresh
from lifecycle.settings import Settings, load_settings
from serving.replaced_data import ReplacedData
from training import pipeline

CONVERSION = "conversion"  # not trainable on the 800 customers of the replaced demo
ENVIRON = NO_COMPILE | NO_PLOTS | few_rounds()


@pytest.fixture(scope="module")
def replaced_demo(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The trained demo replaced by 800 other customers, features rebuilt and published:
    every champion is of data that no longer exists, so each new model is judged as a first
    model and wins (tests/test_promotion.py); conversion cannot be trained on so few. Built
    once for the module; each test changes its own copy (``replaced``)."""
    folder = tmp_path_factory.mktemp("replaced")
    home = copy_workspace(trained_workspace.home, folder / "workspace")
    settings = load_settings(home=home, environ=ENVIRON)
    replace_demo(settings, folder / "other", users=800)
    steps.build_features(settings)
    steps.publish_features(settings)
    checkpoint_sqlite(home)
    return home


@pytest.fixture
def replaced(replaced_demo: Path, tmp_path: Path) -> Settings:
    """This test's own copy of ``replaced_demo``."""
    return load_settings(
        home=copy_workspace(replaced_demo, tmp_path / "workspace"), environ=ENVIRON
    )


def champions_now(settings: Settings) -> Callable[[], tuple[dict[str, str], dict[str, str]]]:
    """What the registry's champion aliases name, and what the aliases mirror (which a
    running service follows) names, read from outside any training."""
    client = registry.client(settings, fluent=False)
    names = {t: registry.model_name("demo", t) for t in TASKS}
    mirror = aliases_mirror.aliases_file(registry.tracking_uri(settings))

    def now() -> tuple[dict[str, str], dict[str, str]]:
        registered = {
            t: registry.aliases(client, n).get(registry.CHAMPION) for t, n in names.items()
        }
        served = aliases_mirror.mirrored_champions(aliases_mirror.read_mirror(mirror) or {}, names)
        return registered, served  # type: ignore[return-value]

    return now


def looking_after_each_task(
    monkeypatch: pytest.MonkeyPatch, look: Callable[[], Any], fail: str | None = None
) -> list[tuple[str, Any]]:
    """Each task's training, then what ``look`` sees (``fail``: that task raises instead)."""
    seen: list[tuple[str, Any]] = []
    train_task = pipeline.train_task

    def trained(settings: Settings, task: str, **options: Any) -> Any:
        if task == fail:
            raise UserError(f"{task}: the disk is full (a test's failure)")
        result = train_task(settings, task, **options)
        seen.append((task, look()))
        return result

    monkeypatch.setattr(pipeline, "train_task", trained)
    return seen


def test_the_champions_of_a_training_of_every_task_move_together_after_the_last_gate(
    replaced: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each task's gate moved its champion alias as soon as it was trained: a service read
    churn's new champion with LTV's old one. Now no alias moves (in the registry or the
    mirror) before the last task's gate, and the verdicts and final champions are those of
    the trainings one at a time."""
    one_at_a_time = copy_workspace(replaced.workspace.home, tmp_path / "one-at-a-time")
    now = champions_now(replaced)
    before, mirrored = now()
    assert before == mirrored and all(before.values())
    seen = looking_after_each_task(monkeypatch, now)
    done = steps.train_tasks(replaced)
    assert [task for task, _ in seen] == ["churn", "ltv"] and list(done.refused) == [CONVERSION]
    assert all(look == (before, before) for _, look in seen), seen  # nothing moved meanwhile
    after, mirrored = now()
    assert mirrored == after
    assert after == before | {r.task: r.champion for r in done.results}
    assert after["churn"] != before["churn"] and after["ltv"] != before["ltv"]
    winners = ", ".join(f"demo-{t} v{after[t]}" for t in ("churn", "ltv"))
    assert f"champions moved together once every task was judged: {winners}" in done.lines()

    # The same trainings one at a time (train_task alone moves at once): the same verdicts.
    monkeypatch.undo()
    alone = load_settings(home=one_at_a_time, environ=ENVIRON)
    results = [pipeline.train_task(alone, task) for task in TASKS if task != CONVERSION]
    assert [(r.task, r.version, r.promoted, r.gate) for r in results] == [
        (r.task, r.version, r.promoted, r.gate) for r in done.results
    ]
    assert champions_now(alone)() == (after, after)


def test_a_training_that_fails_after_some_winners_moves_no_champion_and_says_so(
    replaced: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LTV's training fails after churn's won its gate: it does not move (a service keeps
    the set it had), the refresh says so, and churn is judged again by the next refresh
    (its version counts as never judged)."""
    now = champions_now(replaced)
    before, _ = now()
    looking_after_each_task(monkeypatch, now, fail="ltv")
    done = refresh(replaced)
    assert done.status == "failed" and done.error == "ltv: the disk is full (a test's failure)"
    assert now() == (before, before)
    client = registry.client(replaced)
    newest = max(int(v.version) for v in client.search_model_versions("name = 'demo-churn'"))
    said = (
        f"no champion moved: demo-churn v{newest} won its gate, but the training stopped "
        "before every task was judged; `lifecycle train all` (or `lifecycle refresh`) judges "
        "it again"
    )
    train = next(s for s in done.steps if s.step == "train")
    assert train.status == "failed" and train.detail["lines"] == [said]
    assert f"  {said}" in done.lines()
    assert model_problem(replaced, client, "demo", "churn") == (
        f"churn v{newest} {registry.NEVER_JUDGED}"
    )


def test_a_training_killed_before_its_champions_moved_leaves_its_winners_never_judged(
    replaced: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed (SIGKILL, the OOM killer) after its gates and before the staged moves
    were made leaves winners with a gate verdict and no alias: they read as judged, so the
    next refresh trained nothing and the better models never served. Their tag of a staged
    move keeps them never judged until the move is made."""
    now = champions_now(replaced)
    before, _ = now()
    with monkeypatch.context() as dying:
        dying.setattr(champion_set, "_make", lambda *_: None)  # died before the moves
        steps.train_tasks(replaced, ["churn", "ltv"])
    assert now() == (before, before)
    client = registry.client(replaced)
    newest = max(int(v.version) for v in client.search_model_versions("name = 'demo-churn'"))
    assert model_problem(replaced, client, "demo", "churn") == (
        f"churn v{newest} {registry.NEVER_JUDGED}"
    )
    listed = run_cli(replaced.home, "models")
    assert "never made: its training stopped before the champions of the run moved" in listed
    done = refresh(replaced)
    train = next(s for s in done.steps if s.step == "train")
    assert train.status == "ran", "\n".join(done.lines())
    after, served = now()
    assert after == served and int(after["churn"]) > newest
    newest_version = client.get_model_version("demo-churn", after["churn"])
    assert registry.judged(newest_version)
    assert registry.STAGED_TAG not in (newest_version.tags or {})


@pytest.fixture(scope="module")
def refreshed_demo(
    replaced_demo: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, RefreshResult, str]:
    """``replaced_demo`` refreshed (once for the module): churn and LTV learned from the new
    data, conversion (too few users to train) still served by its champion of the old; and
    the warning said of it."""
    home = copy_workspace(replaced_demo, tmp_path_factory.mktemp("refreshed") / "workspace")
    replaced = load_settings(home=home, environ=ENVIRON)
    old = registry.alias_version(registry.client(replaced), "demo-conversion", registry.CHAMPION)
    done = refresh(replaced)
    assert done.status == "not_promoted" and CONVERSION in done.steps[3].detail["not_trained"]
    now = replaced.workspace.dataset_dir("demo").resolve().name
    warning = (
        f"conversion: champion demo-conversion v{old.version} was trained on data the dataset "
        f"no longer holds (dataset version {old.tags['lineage.dataset_version']} was replaced by "
        f"{now} (a new ingest, not an append)) and still serves, a model of other data: "
        "`lifecycle train conversion` replaces it once this data can train it"  # no version
        # of this data to promote: none offered
    )
    checkpoint_sqlite(home)
    return home, done, warning


@pytest.fixture
def conversion_of_replaced_data(
    refreshed_demo: tuple[Path, RefreshResult, str], tmp_path: Path
) -> tuple[Settings, RefreshResult, str]:
    """This test's own copy of ``refreshed_demo``: its settings, the refresh and its warning."""
    home, done, warning = refreshed_demo
    copy = copy_workspace(home, tmp_path / "workspace")
    return load_settings(home=copy, environ=ENVIRON), done, warning


def test_a_champion_of_replaced_data_the_new_data_cannot_replace_is_warned_of(
    conversion_of_replaced_data: tuple[Settings, RefreshResult, str],
) -> None:
    """The demo replaced by 800 other customers: conversion cannot be trained on them, and
    its champion, learned from customers the dataset no longer holds, served on with no word
    from refresh or score-all (the gate no longer weighs it, but nothing replaced it)."""
    replaced, done, warning = conversion_of_replaced_data
    assert done.warnings == [warning]  # churn and ltv: models of this data now
    assert done.lines()[-1] == f"  warning: {warning}"
    scored = run_cli(replaced.workspace.home, "score-all")
    assert f"  warning: {warning}" in scored.splitlines()


def test_readyz_warns_of_a_served_champion_of_replaced_data(
    conversion_of_replaced_data: tuple[Settings, RefreshResult, str],
) -> None:
    """The same champion, served: /readyz answered 200 with no warning. It now carries
    refresh's, judged from the lineage the aliases mirror records (no MLflow client in a
    worker); a mirror written before it recorded lineage is read (no warning from it) and
    rewritten by the server's check after start, which then warns."""
    replaced, _, warning = conversion_of_replaced_data
    champions = registry.champion_versions(registry.client(replaced), "demo")
    assert ReplacedData(replaced, "demo").warnings(champions) == [warning]
    mirror = aliases_mirror.aliases_file(registry.tracking_uri(replaced))
    assert mirror is not None
    document = json.loads(mirror.read_text())
    for entry in document["models"].values():  # as written before it recorded lineage
        del entry["lineage"]
    mirror.write_text(json.dumps(document))
    assert ReplacedData(replaced, "demo").warnings(champions) == []
    models = {name: {**entry, "lineage": "damaged"} for name, entry in document["models"].items()}
    assert aliases_mirror.mirrored_lineages(models, "demo", champions) == {}
    with bentoml_server(replaced.workspace.home, {}, ready_path="/readyz") as base:
        every_worker_settled(base)  # the check after start rewrote the mirror
        ready = httpx.get(f"{base}/readyz", timeout=60)
        assert ready.status_code == 200, ready.text
        assert ready.json()["warnings"] == [warning]
    assert (
        champions["conversion"]
        in json.loads(mirror.read_text())["models"]["demo-conversion"]["lineage"]
    )
