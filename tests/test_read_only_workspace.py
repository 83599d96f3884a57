"""A workspace that cannot take a write: each command refuses in one line naming the file,
and what was there before is intact (a damaged online store is rebuilt by materialize:
tests/test_service_hardening.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from workspaces import TrainedWorkspace, fingerprint

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
