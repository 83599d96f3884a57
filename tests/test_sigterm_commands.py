"""A scheduler's SIGTERM part-way through `ingest`, `score-all`, `campaign start` and
`backtest` (a real subprocess, stopped at a known point mid-way: ``tests/fault_entry.py``).
Each died at once with no line (exit -15: Python's default for SIGTERM), where `train` and
`refresh` say what they kept; each now says in one line that it stopped and that the
workspace is as it was, exits 143 (128 + SIGTERM) and leaves the previous good state."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pandas as pd
import pytest
from experiment_runs import few_rounds
from services import run_cli, stopped_at
from workspaces import NO_COMPILE, NO_PLOTS

from lifecycle.settings import load_settings


@pytest.fixture
def home(trained_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in (NO_PLOTS | NO_COMPILE).items():
        monkeypatch.setenv(name, value)
    return trained_copy


def _stopped(home: Path, point: str, *args: str, as_json: bool = False) -> tuple[str, str]:
    """``lifecycle ARGS`` sent SIGTERM at ``point``: its stdout and its one line (asserted:
    exit 143, nothing else on stderr, which the ``--quiet`` progress leaves)."""
    marker = home.parent / f"reached-{point}-{uuid.uuid4().hex}"
    options = ("--home", str(home), "--quiet", *(["--json"] if as_json else []))
    returncode, out, err = stopped_at(point, marker, signal.SIGTERM, *options, *args)
    assert returncode == 143 and len(err.splitlines()) == 1, (returncode, err[-2000:])
    return out, err.splitlines()[0]


def _said(asked: str) -> str:
    return (
        f"Error: stopped (SIGTERM) during `lifecycle {asked}`: nothing it was writing was "
        f"kept, the workspace is as it was before it; `lifecycle {asked}` does it again"
    )


def test_ingest_stopped_by_sigterm_says_so_and_keeps_the_dataset(home: Path) -> None:
    events = home.parent / "shop.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(f"u{i},2024-01-{1 + i % 28:02d},purchase,{i}.5\n" for i in range(200))
    )
    run_cli(home, "ingest", str(events), "--dataset", "shop")
    dataset = load_settings(home=home, environ={}).workspace.dataset_dir("shop")
    before = pd.read_parquet(dataset / "events.parquet")
    _, line = _stopped(home, "ingest", "ingest", str(events), "--dataset", "shop")
    assert line == _said("ingest")
    pd.testing.assert_frame_equal(pd.read_parquet(dataset / "events.parquet"), before)
    run_cli(home, "ingest", str(events), "--dataset", "shop")  # and again, whole


def test_score_all_stopped_by_sigterm_says_so_in_its_document_and_keeps_the_table(
    home: Path,
) -> None:
    from lifecycle.workspace import LATEST_SCORES
    from serving.batch import read_scores

    scores = load_settings(home=home, environ={}).workspace.scores_dir
    latest = read_scores(scores / LATEST_SCORES)
    out, line = _stopped(home, "scores", "score-all", as_json=True)
    assert line == _said("score-all")
    assert json.loads(out) == {
        "status": "interrupted",
        "error": line.removeprefix("Error: "),
        "exit_code": 143,
    }
    after = read_scores(scores / LATEST_SCORES)
    assert after.path == latest.path
    pd.testing.assert_frame_equal(after.frame, latest.frame)


def test_campaign_start_stopped_by_sigterm_says_so_and_records_no_campaign(
    home: Path,
) -> None:
    listed = run_cli(home, "campaign", "list")
    _, line = _stopped(home, "campaign", "campaign", "start", "winback")
    assert line == _said("campaign start")
    assert run_cli(home, "campaign", "list") == listed
    assert not load_settings(home=home, environ={}).workspace.campaign("winback").exists()


def test_backtest_stopped_by_sigterm_says_so_and_keeps_the_champions(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in few_rounds().items():  # the stop is asserted, not the models
        monkeypatch.setenv(name, value)
    models = run_cli(home, "models")
    _, line = _stopped(home, "backtest", "backtest", "--cutoff", "2025-06-01", "--horizon", "60")
    assert line == _said("backtest")
    assert run_cli(home, "models") == models
