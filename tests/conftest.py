"""Shared fixtures: a workspace per test, the real public data sets, and one trained demo
workspace per session (read-only; a test that changes it works on a copy)."""

from __future__ import annotations

import fcntl
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import (
    MIRROR,
    SHARED_SERVER_SETTINGS,
    SharedServer,
    bentoml_server,
    every_worker_settled,
)
from workspaces import (
    NO_COMPILE,
    TrainedWorkspace,
    build_trained_workspace,
    changed_files,
    clear_lifecycle_environ,
    copy_workspace,
    fingerprint,
    shared_trained_workspace,
)

from lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    return Path(os.environ.get("LIFECYCLE_DATA_ROOT", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; outside CI a missing folder skips the test, in CI it fails it."""
    root = shared_data_root()
    if not root.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the real data folder {root} is missing")
        pytest.skip(f"real data folder {root} is absent")
    return root


@pytest.fixture(scope="session")
def online_retail_loaded(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(events, users) of the whole online_retail file through its adapter, as `lifecycle
    import online-retail` loads it: ~10 CPU-s, once per run (under pytest-xdist the first
    worker to ask loads it while the others wait, then they read its pickle, ~0.4 CPU-s).
    Read it, never change it; a test whose claim is the import itself imports again."""
    from features import adapters

    source = shared_data / adapters.ONLINE_RETAIL_FILE
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return adapters.online_retail(source)
    root = tmp_path_factory.getbasetemp().parent  # the workers' base folders share it
    loaded = root / "online-retail.pickle"
    with (root / "online-retail.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not loaded.is_file():
            staged = loaded.with_suffix(".partial")  # renamed whole: a failed load is redone
            staged.write_bytes(pickle.dumps(adapters.online_retail(source), protocol=5))
            staged.rename(loaded)
    return pickle.loads(loaded.read_bytes())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace, set as LIFECYCLE_HOME for code and subprocesses."""
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("LIFECYCLE_HOME", str(workspace))
    clear_lifecycle_environ(monkeypatch, keep=("LIFECYCLE_HOME",))
    return workspace


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorkspace:
    """The demo (2,000 users, seed 5) ingested, in Feast, trained, registered and batch
    scored, built once per session with default settings. Read it, never change it: every
    test using it is checked afterwards (``_shared_workspace_unchanged``). Under
    pytest-xdist it is built once for all workers and each gets its own copy."""
    home = tmp_path_factory.mktemp("trained") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        if "PYTEST_XDIST_WORKER" in os.environ:  # the workers' base folders share a parent
            return shared_trained_workspace(tmp_path_factory.getbasetemp().parent, home)
        return build_trained_workspace(home)


@pytest.fixture
def trained_copy(trained_workspace: TrainedWorkspace, tmp_path: Path) -> Path:
    """This test's own copy of the trained workspace, free to change."""
    return copy_workspace(trained_workspace.home, tmp_path / "workspace")


@pytest.fixture
def trained(trained_workspace: TrainedWorkspace) -> dict:
    """The first training of each task, as the shared workspace was built."""
    return trained_workspace.results


@pytest.fixture(autouse=True)
def _shared_workspace_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that wrote into the shared workspace, or the one the shared server serves,
    would change what later tests see."""
    yield
    if "trained_workspace" in request.fixturenames:
        shared: TrainedWorkspace = request.getfixturevalue("trained_workspace")
        changed = changed_files(shared)
        assert not changed, (
            f"{request.node.nodeid} changed the shared trained workspace {shared.home}: "
            f"{changed[:10]}; use the trained_copy fixture to change a workspace"
        )
    if "shared_server" in request.fixturenames:
        served: SharedServer = request.getfixturevalue("shared_server")
        changed = served.changed()
        assert not changed, (
            f"{request.node.nodeid} changed the workspace of the shared server "
            f"{served.workspace.home}: {changed[:10]}; a test that changes what is served "
            "starts its own server (services.bentoml_server)"
        )


@pytest.fixture(scope="session")
def shared_server(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedServer]:
    """One real ``bentoml serve`` (``services.bentoml_server``, SHARED_SERVER_SETTINGS) of a
    copy of the shared trained workspace per test worker, started when a test first asks
    for it, for modules that only send requests: each start spared is a start to ready and
    settled (4-10 CPU-s of its process tree measured). Its log and BentoML home are beside
    the copy, whose files no test may change (checked after each test:
    ``_shared_workspace_unchanged``)."""
    folder = tmp_path_factory.mktemp("shared_server")
    home = copy_workspace(trained_workspace.home, folder / "workspace")
    scores = home / trained_workspace.scores_path.relative_to(trained_workspace.home.resolve())
    with bentoml_server(home, SHARED_SERVER_SETTINGS, ready_path="/readyz", workdir=folder) as base:
        every_worker_settled(base)  # the start's registry check wrote what it writes
        copy = TrainedWorkspace(home, trained_workspace.results, scores, fingerprint(home))
        champions = json.loads((home / MIRROR).read_text())["models"]
        yield SharedServer(base, folder / "server.log", copy, champions)


@pytest.fixture(scope="module")
def served_home(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A module's copy of the shared trained workspace for serving tests; churn gets a
    second registered version (same artifacts) to promote."""
    from services import serving_copy

    destination = tmp_path_factory.mktemp("serving_ws") / "workspace"
    with serving_copy(trained_workspace.home, destination) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def known_users(served_home: Path) -> list[str]:
    """The first 200 users of the served copy's demo features."""
    from services import known_user_ids

    return known_user_ids(served_home)


@pytest.fixture(scope="module")
def scorer(trained_workspace: TrainedWorkspace) -> Any:
    """A scorer of the shared workspace, its trees through LightGBM (nothing compiled)."""
    from serving.scorer import Scorer

    loaded = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    loaded.load()
    return loaded


@pytest.fixture(scope="module")
def http() -> Iterator[Any]:
    """One HTTP client for a module's requests to a served process. It keeps no connection
    alive (a new one per request, as ``httpx.post`` makes) but is built once: ``httpx.post``
    builds a client per call, ~25 ms of CPU each. Its timeout is a minute, not httpx's 5 s:
    a cold ``/reload`` takes ~3 s on a quiet machine, and a loaded CI runner doubles that."""
    import httpx

    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(limits=limits, timeout=60) as client:
        yield client


# The modules that take longest on a test worker (module fixtures that train, serve or run
# an experiment script), the longest first: 106 s down to 25 s each in a whole run on two
# workers of a busy 2-core machine, the next ones 22 s or less. `./run tests` gives
# pytest-xdist `--no-loadscope-reorder`, so it hands the modules out in this order; its
# default orders them by their number of tests, which sent the long modules of a few tests
# (soak, fuzz, the experiment scripts) last, and one worker idled 37 s at the end while the
# other ran the soak. The second is one that needs no shared trained workspace: the other
# worker runs it while the first builds that workspace. Any other module runs after these,
# in the usual order.
LONGEST_MODULES = (
    "test_faults.py",
    "test_store_backends.py",
    "test_refresh.py",
    "test_dask.py",
    "test_champion_set.py",
    "test_quality_script.py",
    "test_compiled.py",
    "test_backtests_script.py",
    "test_adapters.py",
    "test_label_free.py",
    "test_mlflow_server.py",
    "test_backtest.py",
    "test_benchmark_scripts.py",  # ~80 CPU-s of calls: bench_refresh, _serving, _backtest_scale
    "test_feature_store.py",
    "test_drift.py",
    "test_soak.py",
    "test_service_workers.py",
    "test_ablations.py",
    "test_cli_surface.py",
    "test_ingest.py",
    "test_read_only_workspace.py",
    "test_batch.py",
    "test_count_only_words.py",
    "test_service_hardening.py",
    "test_campaigns.py",
    "test_uplift_demo.py",
    "test_snapshot.py",
    "test_fuzz_api.py",
    "test_tasks.py",
    "test_lineage.py",
    "test_feature_services.py",
    "test_ledger.py",
    "test_rowpath.py",
)


def pytest_unconfigure(config: pytest.Config) -> None:
    """A test process ends as the lifecycle script does (``exit_without_collecting``): its
    shutdown traversed every object left (MLflow, Feast, pandas, the tests' data) again and
    again, ~0.8 CPU-s and 3 s of wall measured after a module of six tests, each worker."""
    from lifecycle.cli import exit_without_collecting

    exit_without_collecting()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first, each module's tests in their own order."""
    first = {name: rank for rank, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))
