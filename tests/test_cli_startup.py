"""What a `lifecycle` call pays before its command runs. `./run lifecycle --help` took about
1 s a call, `.venv/bin/lifecycle ingest --help` 0.2 CPU-s: `./run` compiled every installed
module's bytecode again at each call (`uv sync --compile-bytecode`, 0.57 s), and lifecycle's
own callback read the settings (pydantic-settings) before click read the command's
`--help`; `datasets history --help` imported pandas too. Each process here is a real one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what no command's help needs: the stages' libraries, and the settings' (0.2 CPU-s)
HEAVY = (
    "feast",
    "mlflow",
    "bentoml",
    "lightgbm",
    "pandas",
    "duckdb",
    "sklearn",
    "scipy",
    "pyarrow",
    "numpy",
    "dask",
    "pydantic_settings",
)
# the `lifecycle` script's own code, then the heavy modules it imported, as JSON on stderr
LIFECYCLE = """
import json, sys
sys.argv = ["lifecycle", *sys.argv[1:]]
from lifecycle.cli import run
try:
    run()
finally:
    print(json.dumps([m for m in HEAVY if m in sys.modules]), file=sys.stderr)
"""


def lifecycle(*args: str, home: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """A `lifecycle ARGS` process of this checkout; its result and the heavy modules it
    imported."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ |= {"LIFECYCLE_HOME": str(home), "PYTHONPATH": str(REPO)}
    code = LIFECYCLE.replace("HEAVY", repr(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=environ, capture_output=True, text=True
    )
    return done, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["ingest", "--help"],
        ["at-risk", "--top", "5", "-h"],
        ["datasets", "--help"],
        ["datasets", "history", "--help"],
        ["campaign", "start", "--help"],
        ["features", "show", "-h"],
    ],
)
def test_a_commands_help_imports_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    done, imported = lifecycle(*args, home=tmp_path / "workspace")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: lifecycle "), done.stdout
    assert imported == [], imported


def test_help_is_shown_under_settings_that_cannot_be_read(tmp_path: Path) -> None:
    """A command's help reads no settings, so a broken settings file does not refuse it;
    the command itself still does, naming the file. `--dataset -h` gives the option a
    value: no help, as click reads it."""
    home = tmp_path / "workspace"
    home.mkdir()
    (home / "lifecycle.toml").write_text("[training\n")
    done, _ = lifecycle("ingest", "--help", home=home)
    assert done.returncode == 0 and done.stdout.startswith("Usage: lifecycle ingest ")
    done, _ = lifecycle("ingest", "events.csv", home=home)
    assert done.returncode == 1 and "lifecycle.toml" in done.stderr, done.stderr
    done, imported = lifecycle("features", "show", "--dataset", "-h", home=tmp_path / "other")
    assert "Usage: lifecycle features show [OPTIONS]" not in done.stdout
    assert "pydantic_settings" in imported  # the command ran: its settings were read


def test_settings_imports_no_training_library(tmp_path: Path) -> None:
    """`lifecycle settings` checks the model names under training.models through their
    specs, which lived with the training code: it imported pandas, NumPy and SciPy (0.73
    CPU-s). The specs are a module of their own; a misspelt name is still refused."""
    done, imported = lifecycle("settings", home=tmp_path / "workspace")
    assert done.returncode == 0 and 'dataset = "demo"' in done.stdout, done.stderr
    assert imported == ["pydantic_settings"], imported
    home = tmp_path / "other"
    home.mkdir()
    (home / "lifecycle.toml").write_text("[training.models.chrun]\nnum_leaves = 7\n")
    done, _ = lifecycle("settings", home=home)
    assert done.returncode == 1
    assert "training.models.chrun: there is no model 'chrun'" in done.stderr, done.stderr


def test_the_dataset_listing_imports_no_pandas(tmp_path: Path) -> None:
    """`lifecycle datasets` repeats each ingest's notes, whose words lived in the modules
    that read the file: it imported pandas and NumPy (0.55-0.61 CPU-s for one small dataset).
    The words are modules of their own, the users table is counted by DuckDB (pyarrow
    imports NumPy), and the listing still says every note."""
    home = tmp_path / "workspace"
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,event_time,event_type,amount,order_id\n"
        "1.0,13/01/2025 10:00,purchase,£12.50,A1\n"
        "2.0,14/01/2025 11:00,purchase,£0.00,A2\n"
        "3.0,02/03/2025 09:00,purchase,£7.25,A3\n"
        "1.0,20/02/2025 12:00,refund,£2.00,A4\n"
        ",21/02/2025 12:00,purchase,£9.00,A5\n"
        ",21/02/2025 12:00,purchase,£9.00,A5\n"
        "3.0,22/02/2025 12:00,purchase,£9.00,A6\n"
        "3.0,22/02/2025 12:00,purchase,£9.00,A6\n"
        "3.0,23/02/2025 12:00,page_view,,\n"
    )
    users = tmp_path / "users.csv"
    users.write_text("user_id,country\n1,UK\n2,FR\n3,UK\n")
    done, _ = lifecycle("ingest", str(events), "--users", str(users), home=home)
    assert done.returncode == 0, done.stderr
    done, imported = lifecycle("datasets", home=home)
    assert done.returncode == 0, done.stderr
    assert imported == ["duckdb", "pydantic_settings"], imported
    for said in (
        "now: 6 events of 3 users, 2025-01-13 .. 2025-03-02; users table 3 rows",
        "user_id: every id written with .0 (18074.0), read as the integer",
        "event types kept as activity, not as purchases or refunds: 'page_view' 1 row",
        "purchases at 0.00 kept (a free item of an order: activity, no revenue): 1",
        "'event_time' read day first: all 8 of its dates whose order shows are day first",
        "times without a zone ('event_time') read as UTC",
        "amounts in 'amount' written with £: read as GBP, the dataset's currency",
        "1 duplicate_row rows: re-sent orders (each the same order id as a row loaded)",
        "1 order (2 rows, 1 of them exact repeats counted once) had no user id (guest orders)",
    ):
        assert said in done.stdout, done.stdout
    # a damaged users table is named, as a damaged events table is (pyarrow's traceback)
    users_table = (home / "datasets" / "events" / "users.parquet").resolve()
    users_table.write_bytes(users_table.read_bytes()[:100])
    done, _ = lifecycle("datasets", home=home)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "dataset 'events': users.parquet cannot be read" in done.stdout, done.stdout


def test_a_dataset_of_serial_dates_is_listed_without_pandas(tmp_path: Path) -> None:
    """A time column of a spreadsheet's serial dates is said with its example read as a time
    (``45667.5 is 2025-01-10 12:00:00``): the listing converted it with pandas, 0.3 CPU-s of
    imports for one line. The time is kept in the ingest's note now; a report written before
    it (no ``shown``) is still said in the same words."""
    home = tmp_path / "workspace"
    events = tmp_path / "events.csv"
    rows = [(1, "45667.5"), (2, "45668.25"), (1, "45700.75"), (3, "45701")]
    events.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(f"{user},{time},purchase,10\n" for user, time in rows)
    )
    done, _ = lifecycle("ingest", str(events), home=home)
    assert done.returncode == 0, done.stderr
    said = (
        "'event_time' read as a spreadsheet's serial dates, all 4 of its values (days since "
        "1899-12-30, Excel's 1900 date system: 45667.5 is 2025-01-10 12:00:00)"
    )
    assert said in done.stdout, done.stdout
    done, imported = lifecycle("datasets", home=home)
    assert done.returncode == 0, done.stderr
    assert imported == ["duckdb", "pydantic_settings"], imported
    assert said in done.stdout, done.stdout
    # a report of before the time was kept: the same line, read with pandas
    reports = list((home / "datasets" / "events").rglob("report.json"))
    assert reports, list((home / "datasets" / "events").rglob("*"))
    for report in reports:
        written = json.loads(report.read_text())
        note = written["tables"]["events"]["notes"]["dates_read_as"]["event_time"]
        assert note.pop("shown") == "2025-01-10 12:00:00", note
        report.write_text(json.dumps(written, indent=2))
    done, imported = lifecycle("datasets", home=home)
    assert done.returncode == 0 and said in done.stdout, done.stdout
    assert "pandas" in imported


def _fake_uv(folder: Path, check_exit: int) -> Path:
    """A `uv` that writes each command line it is given into uv.log; `sync --check`
    exits ``check_exit`` (0: the environment is in sync, 1: outdated)."""
    folder.mkdir()
    uv = folder / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {folder / "uv.log"}\n'
        f'case "$*" in *--check*) exit {check_exit};; esac\n'
    )
    uv.chmod(0o755)
    return folder / "uv.log"


def test_run_only_checks_an_environment_already_in_sync(tmp_path: Path) -> None:
    """`./run lifecycle ARGS` ran `uv sync --frozen --compile-bytecode` at every call, which
    compiles every installed module again (0.57 s of a 0.7 s `./run lifecycle --help`). It
    now asks `uv sync --check` first and syncs only an environment that is not in sync."""
    script = tmp_path / "run"
    shutil.copy(REPO / "run", script)
    environ = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    log = _fake_uv(tmp_path / "bin", check_exit=0)
    done = subprocess.run(
        [str(script), "lifecycle", "--help"], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "sync --frozen --check --python 3.11 --quiet",
        "run --frozen --no-sync lifecycle --help",
    ]
    shutil.rmtree(tmp_path / "bin")
    log = _fake_uv(tmp_path / "bin", check_exit=1)  # outdated: synced, bytecode compiled
    done = subprocess.run(
        [str(script), "lifecycle", "datasets"], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == [
        "sync --frozen --check --python 3.11 --quiet",
        "sync --frozen --compile-bytecode --python 3.11 --quiet",
        "run --frozen --no-sync lifecycle datasets",
    ]


@pytest.mark.parametrize("module", ["lifecycle", "lifecycle.cli"])
def test_python_m_runs_the_lifecycle_script(module: str, tmp_path: Path) -> None:
    """`python -m lifecycle.cli --help` printed nothing and exited 0 (the module only defined
    the commands) and `python -m lifecycle` was no module to run: both are the script."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done, wrong = (
        subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            check=False,
        )
        for args in (["datasets", "--help"], ["no-such-command"])
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: lifecycle datasets"), done.stdout
    assert wrong.returncode == 2 and "No such command 'no-such-command'" in wrong.stderr
