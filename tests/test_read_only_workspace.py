"""A workspace that cannot take a write, and a damaged online store: each command refuses
in one line naming the file, and what was there before is intact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from workspaces import TrainedWorkspace, fingerprint

from lifecycle.cli import main

LIFECYCLE = Path(sys.executable).with_name("lifecycle")
# root writes through file modes: it gets the workspace mounted read-only instead, in a
# mount namespace of its own (nothing outside the command sees the mount)
MOUNT_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


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


def run_read_only(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(LIFECYCLE), *args]
    if os.geteuid() == 0:
        command = ["unshare", "-m", "sh", "-c", MOUNT_READ_ONLY, "sh", str(home), *command]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ["LIFECYCLE_HOME"] = str(home)
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "args",
    [
        ("score-all",),
        ("features", "materialize"),
        ("features", "build"),
        ("report",),
        ("forget", "u1"),
        ("ingest", "EVENTS", "--dataset", "demo"),
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_a_read_only_workspace_is_one_line_and_left_intact(
    read_only_home: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-01,session\n")
    before = fingerprint(read_only_home)
    result = run_read_only(read_only_home, *(str(events) if a == "EVENTS" else a for a in args))
    if os.geteuid() == 0 and "mount" in result.stderr and result.returncode != 1:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()}")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot write {read_only_home}"), last
    assert ".tmp" not in last  # the file meant, not its staging name
    assert fingerprint(read_only_home) == before


def test_materialize_over_a_damaged_online_store_is_one_line(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_HOME", str(trained_copy))
    online = trained_copy / "feast" / "demo" / "online.db"
    size = online.stat().st_size
    online.write_bytes(b"not a database" * (size // 14 + 1))  # every page, its header too
    for journal in ("-wal", "-shm"):  # which would otherwise still hold good pages
        online.with_name(online.name + journal).unlink(missing_ok=True)
    runner = CliRunner()
    result = runner.invoke(main, ["features", "materialize"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: the online store {online} is damaged"), error
    assert "`lifecycle features materialize`" in error
    online.unlink()  # as the message says
    result = runner.invoke(main, ["features", "materialize"])
    assert result.exit_code == 0, result.output
    assert "online store: 2,000 users" in result.stdout
