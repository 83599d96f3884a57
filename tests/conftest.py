"""Shared fixtures: a workspace per test, the real public data sets, and one trained demo
workspace per session (read-only; a test that changes it works on a copy)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workspaces import (
    NO_COMPILE,
    TrainedWorkspace,
    build_trained_workspace,
    changed_files,
    clear_lifecycle_environ,
    copy_workspace,
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
    """A test that wrote into the shared workspace would change what later tests see."""
    yield
    if "trained_workspace" in request.fixturenames:
        shared: TrainedWorkspace = request.getfixturevalue("trained_workspace")
        changed = changed_files(shared)
        assert not changed, (
            f"{request.node.nodeid} changed the shared trained workspace {shared.home}: "
            f"{changed[:10]}; use the trained_copy fixture to change a workspace"
        )


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
def scorer(trained_workspace: TrainedWorkspace) -> Iterator[Any]:
    """A scorer of the shared workspace, its trees through LightGBM (nothing compiled)."""
    from serving.scorer import Scorer

    loaded = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    loaded.load()
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def http() -> Iterator[Any]:
    """One HTTP client for a module's requests to a served process. It keeps no connection
    alive (a new one per request, as ``httpx.post`` makes) but is built once: ``httpx.post``
    builds a client per call, ~25 ms of CPU each."""
    import httpx

    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield client
