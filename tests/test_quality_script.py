"""The quality experiment runs in CI with tiny sizes (as MLflow runs every example script)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from experiment_runs import run_main

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {
    ("demo", "churn"),
    ("demo", "conversion"),
    ("demo", "ltv"),
    ("online_retail", "churn"),
    ("online_retail", "conversion"),
    ("online_retail", "ltv"),
    ("telco_churn", "churn"),
}
# A guard against a hung run, not a speed check (two test workers share the cores;
# a busy shared box may need more: QUALITY_QUICK_TIMEOUT=600).
TIMEOUT_SECONDS = float(os.environ.get("QUALITY_QUICK_TIMEOUT", "300"))


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_SECONDS)
def test_quality_quick_produces_a_row_per_dataset_and_task(
    shared_data: Path, tmp_path: Path
) -> None:
    out, metrics = tmp_path / "quality.md", tmp_path / "quality.json"
    # the script's main in this process: the claim is the script's, not a process's
    printed = run_main(
        "quality.py",
        *("--quick", "--data-root", str(shared_data), "--out", str(out), "--json", str(metrics)),
        cwd=tmp_path,
    )
    table = out.read_text()
    assert table in printed
    lines = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    header, rows = lines[0], lines[1:]
    assert "beats every baseline" in header and "oracle" in header
    found = {tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows}
    assert found == EXPECTED
    assert "The ORACLE" in table
    records = json.loads(metrics.read_text())
    for record in records:
        assert "not run" not in record["verdict"], record
        assert "lightgbm" in record["metrics"] and len(record["metrics"]) >= 3
        if record["dataset"] == "demo":
            assert "oracle" in record["metrics"]
    assert {r["evaluation"].split()[0] for r in records if r["dataset"] == "demo"} == {
        "test",
        "observed",
    }
    # the test window as `lifecycle models` and the report say it, not "test cutoff LAST"
    window = re.compile(r"(^|, )test \d{4}-\d\d-\d\d(\.\.\d{4}-\d\d-\d\d)?$")
    tested = [r["evaluation"] for r in records if not r["evaluation"].startswith("observed")]
    tested = [e for e in tested if "fold" not in e]  # telco: k-fold CV, no cutoff
    assert tested and all(window.search(e) for e in tested), tested
    # The doc's block (--doc) renders the same table from the recorded rows.
    sys.path.insert(0, str(REPO / "experiments"))
    from quality import render_doc

    header = table.splitlines()[0]
    block = render_doc("quality", {"header": header, "rows": records}).splitlines()
    assert block[0] == f"{header}:"
    assert block[2:] == [line for line in table.splitlines() if line.startswith("|")]


def test_a_partial_rerun_replaces_only_its_rows_and_says_when() -> None:
    """``--only telco_churn --doc``: the other data sets keep their recorded rows, the table
    keeps its order, and the header says which rows are newer; a second re-run replaces
    the first one's note instead of stacking another."""
    sys.path.insert(0, str(REPO / "experiments"))
    from quality import remeasured

    def row(dataset: str, auc: float) -> dict[str, object]:
        return {
            "dataset": dataset,
            "task": "churn",
            "evaluation": "e",
            "rows": 10,
            "metrics": {"lightgbm": {"auc": auc}},
            "verdict": "yes",
        }

    recorded = {
        "header": "Quality (full size; 2347 s)",
        "rows": [row("demo", 0.9), row("online_retail", 0.7), row("telco_churn", 0.8)],
    }
    once = remeasured(recorded, [row("telco_churn", 0.85)], "re-measured day 1, 90 s")
    assert [(r["dataset"], r["metrics"]["lightgbm"]["auc"]) for r in once["rows"]] == [
        ("demo", 0.9),
        ("online_retail", 0.7),
        ("telco_churn", 0.85),
    ]
    assert once["header"] == "Quality (full size; 2347 s); telco_churn re-measured day 1, 90 s"
    twice = remeasured(
        once, [row("telco_churn", 0.86), row("demo", 0.95)], "re-measured day 2, 9 s"
    )
    assert [r["dataset"] for r in twice["rows"]] == ["demo", "online_retail", "telco_churn"]
    assert twice["header"] == (
        "Quality (full size; 2347 s); demo re-measured day 2, 9 s; telco_churn re-measured day 2, 9 s"
    )
