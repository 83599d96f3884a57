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


def _events(path: Path, rows: int) -> Path:
    lines = (
        f"{10_000 + i % 5_000},2011-{1 + i % 12:02d}-03,purchase,{i % 97}.50\n" for i in range(rows)
    )
    path.write_text("user_id,event_time,event_type,amount\n" + "".join(lines))
    return path


def test_a_full_disk_names_the_file_it_meant_to_write(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrow's failed write on a full disk names no file: the line said 'cannot write: Error
    writing bytes to file. Detail: [errno 28] ...', where a read-only one names the file."""
    import errno

    import click
    import duckdb
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from lifecycle.cli import _store_unwritable, main

    events = _events(tmp_path / "events.csv", 50)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "base"]).exit_code == 0
    before = fingerprint(home)

    def full(*args: object, **kwargs: object) -> None:  # Arrow's words, no file named
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    for args in (["--replace"], ["--append"]):
        result = CliRunner().invoke(main, ["ingest", str(events), "--dataset", "base", *args])
        assert result.exit_code == 1, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith(
            f"Error: cannot write {home / 'datasets' / 'base'}: No space left on device ("
        ), last
        assert "free space on that disk" in last and "already there are unchanged" in last
    assert fingerprint(home) == before
    staging = home / "features" / ".user_features.parquet.file.0a0a0a0a-1-0a.tmp"
    duckdb_full = duckdb.IOException(
        f'IO Error: Async write failed: {{"exception_message":"Could not write file '
        f'\\"{staging}\\": No space left on device","errno":"28"}}'
    )
    said = _store_unwritable(click.Context(main), duckdb_full)
    assert said is not None and said.startswith(
        f"cannot write {home / 'features' / 'user_features.parquet'}: No space left on device"
    ), said


def test_a_real_full_disk_is_one_line_and_left_intact(tmp_path: Path) -> None:
    """The same on a real full disk (a 4 MB tmpfs with 32 KB left), for ingest and features
    build (DuckDB's write was a traceback): one line naming the file, the dataset unchanged,
    no staging left. Root only (it mounts, in a mount namespace of its own)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a small disk")
    events = _events(tmp_path / "events.csv", 20_000)
    disk = tmp_path / "disk"
    disk.mkdir()
    lifecycle = Path(sys.executable).with_name("lifecycle")
    script = f"""
mount -t tmpfs -o size=4m tmpfs {disk} || exit 3
export LIFECYCLE_HOME={disk}/ws
{lifecycle} ingest {events} --dataset base >/dev/null 2>&1 || exit 4
md5sum {disk}/ws/datasets/base/events.parquet > {disk}/before
free=$(df --output=avail -k {disk} | tail -1)
dd if=/dev/zero of={disk}/filler bs=1k count=$((free - 32)) 2>/dev/null
{lifecycle} ingest {events} --dataset base --replace 2>&1 | tail -1
{lifecycle} features build --dataset base 2>&1 | tail -1
md5sum -c --quiet {disk}/before && echo kept
find {disk}/ws -name '*.tmp'
"""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    run = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode == 3:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    ingest, build, *rest = run.stdout.strip().splitlines()
    assert ingest.startswith(f"Error: cannot write {disk}/ws/datasets/base: No space left"), ingest
    assert build.startswith(
        f"Error: cannot write {disk}/ws/features/base/user_features.parquet: No space left"
    ), build
    assert rest == ["kept"]  # the dataset as it was, no staging left
