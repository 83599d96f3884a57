"""Ingest into the workspace: dataset folders, quarantine files, atomic replacement, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features import ingest
from lifecycle.cli import main

EVENTS = (
    "CustomerID,When,Total\n"
    "17850,2010-12-01 08:26:00,15.30\n"
    ",2010-12-01 09:00:00,3.00\n"
    "13047,2010-12-01 10:00:00,-2.50\n"
    "13047,2010-12-02 10:00:00,20.00\n"
)
MAPS = ["--map", "user_id=CustomerID", "--map", "event_time=When", "--map", "amount=Total"]


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    path.write_text(EVENTS)
    return path


def test_ingest_writes_dataset_quarantine_and_report(tmp_path: Path, events_csv: Path) -> None:
    mapping = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=When", "amount=Total"], default_event_type=c.PURCHASE
    )
    summary = ingest.ingest_events(
        events_csv, tmp_path / "datasets" / "shop", mapping=mapping, max_bad_fraction=0.6
    )
    folder = tmp_path / "datasets" / "shop"
    events = pd.read_parquet(folder / "events.parquet")
    assert events[c.USER_ID].tolist() == ["17850", "13047"]
    quarantine = pd.read_csv(folder / "quarantine" / "events.csv", dtype=str)
    assert quarantine[c.REASON].tolist() == ["missing_user_id", "negative_amount"]
    assert quarantine[c.SOURCE_ROW].tolist() == ["2", "3"]
    report = json.loads((folder / "report.json").read_text())
    assert report["tables"]["events"]["rows_quarantined"] == 2
    assert summary.tables["events"]["rows_loaded"] == 2
    assert "2 quarantined" in summary.lines()[1]


def test_failure_mid_write_keeps_the_previous_dataset(
    tmp_path: Path, events_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "datasets" / "shop"
    mapping = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=When", "amount=Total"], default_event_type="purchase"
    )
    ingest.ingest_events(events_csv, folder, mapping=mapping, max_bad_fraction=0.6)
    before = pd.read_parquet(folder / "events.parquet")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)  # dies after events.parquet is written
    with pytest.raises(OSError, match="disk full"):
        ingest.ingest_events(events_csv, folder, mapping=mapping, max_bad_fraction=0.6)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "events.parquet"), before)
    assert json.loads((folder / "report.json").read_text())["tables"]["events"]["rows_loaded"] == 2
    leftovers = [
        p for p in (folder.parent / ".versions").iterdir() if p.resolve() != folder.resolve()
    ]
    assert leftovers == []  # the half-written version was removed


def test_cli_ingest_human_and_json(home: Path, events_csv: Path) -> None:
    runner = CliRunner()
    args = [
        "ingest",
        str(events_csv),
        "--dataset",
        "shop",
        "--event-type",
        "purchase",
        "--negative-is-refund",
        *MAPS,
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "dataset 'shop'" in result.stdout and "1 missing_user_id" in result.stdout
    result = runner.invoke(main, ["--json", "--quiet", *args])
    data = json.loads(result.stdout)
    assert data["tables"]["events"]["rows_loaded"] == 3  # the negative amount became a refund
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.EVENT_TYPE].tolist() == ["purchase", "refund", "purchase"]


def test_cli_errors_are_one_clear_line(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert "missing.csv: file not found" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["--json", "ingest", str(tmp_path / "missing.csv")])
    assert json.loads(result.stdout)["error"].endswith("missing.csv: file not found")
    result = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv"), "--map", "user_id"])
    assert result.exit_code == 2 and "CONTRACT_COLUMN=SOURCE_COLUMN" in result.output


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, name


def test_datasets_lists_ingested(home: Path, events_csv: Path) -> None:
    runner = CliRunner()
    assert "no datasets" in runner.invoke(main, ["datasets"]).stdout
    runner.invoke(
        main,
        [
            "ingest",
            str(events_csv),
            "--dataset",
            "shop",
            "--event-type",
            "purchase",
            "--allow-negative",
            *MAPS,
        ],
    )
    data = json.loads(runner.invoke(main, ["--json", "datasets"]).stdout)
    assert [d["name"] for d in data["datasets"]] == ["shop"]
