"""A workspace that cannot take a write: each command refuses in one line naming the file,
and what was there before is intact (a damaged online store is rebuilt by materialize:
tests/test_service_hardening.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import run_read_only
from workspaces import TrainedWorkspace, fingerprint


@pytest.fixture
def read_only_home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A trained workspace the commands below cannot write to."""
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: no way to make a folder read-only")
        shared: TrainedWorkspace = request.getfixturevalue("trained_workspace")
        yield shared.home  # read-only to the command; the shared check proves it unchanged
        return
    home: Path = request.getfixturevalue("trained_copy")
    folders = [home, *(p for p in home.rglob("*") if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        folder.chmod(0o555)
    yield home
    for folder in folders:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    "args",
    [
        ("score-all",),
        ("features", "materialize"),
        ("features", "build"),
        ("report",),
        ("forget", "u1"),
        ("ingest", "EVENTS", "--dataset", "demo"),
        ("train", "churn"),
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_a_read_only_workspace_is_one_line_and_left_intact(
    read_only_home: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-01,session\n")
    before = fingerprint(read_only_home)
    given = (str(events) if a == "EVENTS" else a for a in args)
    result = run_read_only(read_only_home, *given, home=read_only_home)
    if os.geteuid() == 0 and "mount" in result.stderr and result.returncode != 1:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()}")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot write {read_only_home}"), last
    assert ".tmp" not in last  # the file meant, not its staging name
    if args == ("score-all",):  # refused before every user was scored, not after
        assert "retrieving features" not in result.stderr, result.stderr
    if args[0] == "train":  # before its minutes of work: it was a traceback after them
        assert "mlflow" in last and "churn:" not in result.stderr, result.stderr
    assert fingerprint(read_only_home) == before


def test_a_write_that_fails_deep_in_a_library_is_one_line() -> None:
    """MLflow registering into a full or read-only store raised SQLite's error under
    SQLAlchemy's and MLflow's own: 159 and 321 lines of traceback."""
    import errno
    import sqlite3

    import click

    from lifecycle.cli import _store_unwritable, main

    ctx = click.Context(main)
    for deep in (
        sqlite3.OperationalError("attempt to write a readonly database"),
        sqlite3.OperationalError("database or disk is full"),
    ):
        try:
            try:
                raise deep
            except sqlite3.OperationalError as error:
                raise RuntimeError("(mlflow) could not register") from error
        except RuntimeError as wrapped:
            said = _store_unwritable(ctx, wrapped)
        assert said is not None and said.startswith("cannot write the model registry"), said
        assert str(deep) in said and "run the command again" in said
    full = OSError(errno.ENOSPC, "No space left on device", "/w/mlflow/artifacts/booster.txt")
    try:
        raise RuntimeError("copy failed") from full
    except RuntimeError as wrapped:
        assert _store_unwritable(ctx, wrapped).startswith(
            "cannot write /w/mlflow/artifacts/booster.txt: No space left on device"
        )
    assert _store_unwritable(ctx, RuntimeError("a bug")) is None  # still a traceback
