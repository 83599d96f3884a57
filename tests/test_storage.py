"""Atomic writes and their staging: writers killed mid-write leave staging that the next
write in the same folder removes; a live writer's staging is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle.storage import (
    VERSIONS,
    atomic_dir,
    atomic_file,
    pid_alive,
    staging_name,
    sweep_stale,
    sweep_tree,
)

REPO = Path(__file__).resolve().parents[1]

# A writer that stops mid-write: it has staged half its output and waits to be killed.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from lifecycle.storage import atomic_dir, atomic_file

    kind, target = sys.argv[1], Path(sys.argv[2])
    with (atomic_dir if kind == "dir" else atomic_file)(target) as staging:
        if kind == "file":
            staging.write_bytes(b"PAR1 half a table")
        elif kind == "dir":
            (staging / "events.parquet").write_bytes(b"PAR1 half a table")
        print(staging, flush=True)
        if kind == "duckdb":  # a table written by DuckDB's COPY (features build), minutes long
            import duckdb

            duckdb.connect().execute(
                "COPY (SELECT sum(hash(i)) AS s FROM range(100000000000) t(i)) "
                f"TO '{staging}' (FORMAT parquet)"
            )
        time.sleep(600)
    """
)


def start_writer(kind: str, target: Path) -> tuple[subprocess.Popen[str], Path]:
    """A real writer process stopped mid-write; returns it and its staging path."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, str(target)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    staging = Path(process.stdout.readline().strip())
    assert staging.name and staging.exists(), "the writer never staged anything"
    return process, staging


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # reaped: its pid is gone


@pytest.fixture
def writers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            kill(process)


def test_killed_file_writer_is_cleaned_by_the_next_write_but_a_live_one_is_kept(
    tmp_path: Path, writers: list[subprocess.Popen[str]]
) -> None:
    target = tmp_path / "scores" / "latest.parquet"
    with atomic_file(target) as staging:
        staging.write_bytes(b"good v1")
    killed, stale = start_writer("file", target)
    live, running = start_writer("file", target)
    # a table written under a new name each time is never written again: its staging goes too
    killed_other, stale_other = start_writer("file", target.with_name("scores-2.parquet"))
    writers += [killed, live, killed_other]
    kill(killed)
    kill(killed_other)
    assert stale.exists() and target.read_bytes() == b"good v1"  # the crash changed nothing
    assert not pid_alive(killed.pid) and pid_alive(live.pid)

    with atomic_file(target) as staging:
        staging.write_bytes(b"good v2")
    assert target.read_bytes() == b"good v2"
    assert not stale.exists(), "the dead writer's staging file is still there"
    assert not stale_other.exists(), "a dead writer's staging of another table is still there"
    assert running.exists(), "a live writer's staging file was removed"
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        ["latest.parquet", running.name]
    )


def test_a_writer_killed_mid_duckdb_copy_leaves_nothing_after_the_next_write(
    tmp_path: Path, writers: list[subprocess.Popen[str]]
) -> None:
    """`features build` killed mid-COPY left DuckDB's own 'tmp_<staging name>' beside the
    table, which no later write removed (one more per kill, holding users' features)."""
    target = tmp_path / "features" / "user_features.parquet"
    killed, stale = start_writer("duckdb", target)
    writers.append(killed)
    copying = stale.with_name(f"tmp_{stale.name}")
    for _ in range(600):  # DuckDB opens it as the COPY starts
        if copying.exists():
            break
        time.sleep(0.05)
    assert copying.exists(), "the COPY never started"
    kill(killed)

    with atomic_file(target) as staging:
        staging.write_bytes(b"good")
    assert sorted(p.name for p in target.parent.iterdir()) == ["user_features.parquet"]


def test_killed_dataset_writer_is_cleaned_and_never_counts_as_a_version(
    tmp_path: Path, writers: list[subprocess.Popen[str]]
) -> None:
    dataset = tmp_path / "datasets" / "shop"
    for n in (1, 2):
        with atomic_dir(dataset) as staging:
            (staging / "events.parquet").write_text(f"v{n}")
    versions = dataset.parent / VERSIONS
    good = sorted(p.name for p in versions.iterdir())
    assert len(good) == 2 and all(name.startswith("shop@") for name in good)
    second = dataset.resolve().name
    killed, stale = start_writer("dir", dataset)
    live, running = start_writer("dir", dataset)
    writers += [killed, live]
    kill(killed)
    assert stale.is_dir() and stale.parent == versions and stale.name.startswith(".shop.dir.")
    assert (dataset / "events.parquet").read_text() == "v2"

    with atomic_dir(dataset) as staging:
        (staging / "events.parquet").write_text("v3")
    assert (dataset / "events.parquet").read_text() == "v3"
    assert not stale.exists(), "the dead writer's staging folder is still there"
    assert running.is_dir(), "a live writer's staging folder was removed"
    kept = sorted(p.name for p in versions.iterdir() if not p.name.startswith("."))
    assert len(kept) == 2 and second in kept  # v2 (what a reader may hold) and v3
    assert not [p for p in dataset.parent.iterdir() if p.name.endswith(".tmp")]  # no link left


def test_sweep_only_touches_dead_staging_of_this_host(tmp_path: Path) -> None:
    other_host = tmp_path / ".t.parquet.file.00000000-1-abcdef.tmp"  # host tag not ours
    mine_live = tmp_path / staging_name("t.parquet", "file")  # this process: alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    mine_dead = tmp_path / mine_live.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-")
    other_target = tmp_path / mine_dead.name.replace(".t.parquet.", ".u.parquet.")
    plain = tmp_path / ".notes.tmp"  # not a staging name: never ours to delete
    for path in (other_host, mine_live, mine_dead, other_target, plain):
        path.write_text("x")
    if _host_tag_is("00000000"):
        pytest.skip("this host's tag happens to be 00000000")
    assert sweep_stale(tmp_path, "t.parquet") == [mine_dead]
    assert sweep_tree(tmp_path) == [other_target]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (other_host, mine_live, plain)
    )


def _host_tag_is(tag: str) -> bool:
    return staging_name("x", "file").split(".")[3].startswith(tag)


@pytest.fixture
def flushed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files and folders os.fsync is called on (then it runs as usual)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a file descriptor")
    calls: list[Path] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        calls.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return calls


def test_atomic_file_flushes_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, flushed: list[Path]
) -> None:
    target = tmp_path / "scores.parquet"
    with atomic_file(target) as staging:
        staging.write_bytes(b"rows")
    staged, folder = flushed
    assert staged.parent == tmp_path and staged.name.startswith(".scores.parquet.file.")
    assert folder == tmp_path
    assert target.read_bytes() == b"rows"


def test_atomic_dir_flushes_every_file_and_folder_then_the_swap(
    tmp_path: Path, flushed: list[Path]
) -> None:
    target = tmp_path / "shop"
    with atomic_dir(target) as staging:
        (staging / "quarantine").mkdir()
        (staging / "events.parquet").write_bytes(b"events")
        (staging / "quarantine" / "events.csv").write_text("source_row,reason\n")
    version = target.resolve()
    names = [p.name for p in flushed]
    assert {"events.parquet", "events.csv", "quarantine"} <= set(names)
    assert flushed.count(tmp_path / VERSIONS) >= 1  # the rename of the finished version
    assert flushed[-1] == tmp_path  # the symlink swap
    assert (version / "events.parquet").read_bytes() == b"events"
