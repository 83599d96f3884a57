"""Shared fixtures: a workspace per test and the real public data sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    for name in list(os.environ):
        if name.startswith("LIFECYCLE_") and name not in ("LIFECYCLE_HOME", "LIFECYCLE_DATA_ROOT"):
            monkeypatch.delenv(name)
    return workspace
