"""A backtest without --out copies the dataset into a scratch workspace per cutoff. It was
made in the system's temporary folder: a backtest killed there (the OOM killer, kill -9)
left a whole copy of the users' events where `forget` never looked, and their rows outlived
the erasure. Now it is a staging folder of the workspace, which `forget` sweeps once its
process is gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from services import run_cli
from test_backtest import CUTOFF, DEMO_ENV, HORIZON
from test_erasure_text import invoke

ROOT = Path(__file__).resolve().parents[1]


def _holding(folders: list[Path], user: str) -> list[str]:
    """Parquet files under ``folders`` with a row of ``user`` (their user_id column)."""
    found = []
    for folder in folders:
        for table in folder.rglob("*.parquet"):
            if "user_id" in pq.read_schema(table).names:
                ids = pq.read_table(table, columns=["user_id"])["user_id"].to_pylist()
                found += [str(table)] if user in ids else []
    return found


def test_a_killed_backtests_copy_of_the_users_is_erased_by_forget(tmp_path: Path) -> None:
    home, temporary = tmp_path / "ws", tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, **DEMO_ENV, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    env |= {"TMPDIR": str(temporary), "LIFECYCLE_TRAINING__PLOTS": "false"}
    run_cli(home, "demo-data", "--users", "400", "--seed", "5", env=DEMO_ENV)
    command = [sys.executable, "-m", "lifecycle", "--home", str(home), "--quiet", "backtest",
               "--cutoff", CUTOFF, "--horizon", str(HORIZON), "--resamples", "100"]  # fmt: skip
    backtest = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, copied = time.monotonic() + 120, []
        while not copied:  # its copy of the dataset written: killed as the OOM killer would
            assert backtest.poll() is None, backtest.communicate(timeout=10)[1]
            assert time.monotonic() < deadline, "the backtest copied no dataset in 120 s"
            copied = [
                p
                for folder in (home, temporary)
                for p in folder.rglob("workspace/datasets/demo/events.parquet")
            ]
            time.sleep(0.1)
        time.sleep(1)  # its rows flushed: a Parquet file is whole once renamed into place
        os.kill(backtest.pid, signal.SIGKILL)
        backtest.wait(timeout=30)
    finally:
        backtest.kill()
    user = pd.read_parquet(copied[0], columns=["user_id"])["user_id"].iloc[0]
    assert _holding([home, temporary], user)
    said = invoke(home, "forget", user)
    assert _holding([home, temporary], user) == []  # the scratch copy too
    assert "removed staging of a killed writer: .backtest.dir." in said
    assert not list(temporary.iterdir())  # nothing of the backtest outside the workspace
    # a backtest still running keeps its copy (it removes it when it ends): forget leaves it
    from lifecycle.exports import SCRATCH_MARKER
    from lifecycle.storage import staging_folder

    live = staging_folder(home, "backtest") / CUTOFF / "workspace"  # this process's: alive
    shutil.copytree(home / "datasets", live / "datasets")
    (live / SCRATCH_MARKER).write_text("a backtest's scratch workspace\n")
    other = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")["user_id"].iloc[0]
    said = invoke(home, "forget", other)
    assert str(live) not in said and ".backtest.dir." not in said
    assert _holding([live], other)  # not rewritten under the running backtest


@pytest.mark.real_data
def test_a_killed_imports_staged_rows_are_erased_by_forget(
    shared_data: Path, tmp_path: Path
) -> None:
    """`import online-retail` validates the file into a temporary folder before the dataset
    is written. It was the system's: an import killed there (a --replace of the monthly
    file, OOM) left the whole file's validated rows, erased customers' among them, where no
    `forget` looked. Now it is a staging folder of the workspace, swept by `forget`."""
    home, temporary = tmp_path / "ws", tmp_path / "tmp"
    temporary.mkdir()
    source = shared_data / "online_retail" / "online_retail_transactions.csv.gz"
    run_cli(home, "import", "online-retail", str(source))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    env["TMPDIR"] = str(temporary)
    command = [sys.executable, "-m", "lifecycle", "--home", str(home), "--quiet", "import",
               "online-retail", str(source), "--replace"]  # fmt: skip
    again = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, staged = time.monotonic() + 120, []
        while not staged:  # rows validated into its temporary folder: killed
            assert again.poll() is None, again.communicate(timeout=10)[1]
            assert time.monotonic() < deadline, "the import staged no rows in 120 s"
            staged = [
                p
                for folder in (home, temporary)
                for p in folder.rglob("*.parquet")
                if "validate" in str(p) and "work" in p.parts
            ]
            time.sleep(0.05)
        time.sleep(2)  # more chunks written
        os.kill(again.pid, signal.SIGKILL)
        again.wait(timeout=30)
    finally:
        again.kill()
    left = [p for f in (home, temporary) for p in f.rglob("*") if "validate" in str(p)]
    assert left  # the killed import's folder, holding validated rows
    said = invoke(home, "forget", "17850")  # the file's first customer
    assert not [p for f in (home, temporary) for p in f.rglob("*") if "validate" in str(p)]
    assert "removed staging of a killed writer: .validate.dir." in said
