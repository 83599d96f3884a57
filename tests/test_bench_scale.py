"""The scale experiments run small in CI: their JSON is whole and their doc tables render from it
(the full-size figures in docs/scale.md are these renderers on recorded results)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from services import require_binary

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
sys.path.insert(0, str(EXPERIMENTS))


def _run_json(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(EXPERIMENTS / script), *args, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


@pytest.mark.slow
def test_features_at_scale_small_run_renders_against_its_scan() -> None:
    import bench_features_scale

    results = _run_json("bench_features_scale.py", "--users", "2000", "--cutoffs", "2")
    demo, scan, features = results["demo"], results["scan"], results["features"]
    assert demo["users"] == 2000 and demo["events"] > 0
    assert len(features["cutoffs"]) == 2
    # one row per user known at each cutoff: as many as the baseline's grouped pass finds
    # among users with events, at most every user at every cutoff
    assert scan["rows"] <= features["rows"] <= 2 * 2000
    assert features["peak_rss_mb"] > 0 and scan["seconds"] >= 0
    table = bench_features_scale.render_doc("bench_features_scale", results)
    assert f"| every feature, {features['rows']:,} rows |" in table
    assert "| one scan (baseline) |" in table and "2,000 demo users" in table


@pytest.mark.slow
def test_online_stores_small_run_renders_both_stores(tmp_path: Path) -> None:
    require_binary("redis-server", "apt-get install -y --no-install-recommends redis-server")
    import bench_online_store

    results = _run_json("bench_online_store.py", "--users", "600", "--reps", "10", "--warmup", "2")
    for store in ("sqlite", "redis"):
        measured = results[store]
        assert measured["users"] > 0, store
        assert 0 < measured["x1"]["p50_ms"] <= measured["x1"]["p99_ms"], store
        assert 0 < measured["x100"]["p50_ms"] <= measured["x100"]["p99_ms"], store
    assert results["sqlite"]["users"] == results["redis"]["users"]
    table = bench_online_store.render_doc("bench_online_store", results)
    assert (
        "| SQLite (our bulk path) |" in table
        and "| Redis (Feast's layout, a user per HSET) |" in table
    )
    assert "Redis against SQLite in this run" in table


def test_backtest_scale_replicas_are_new_customers_on_nearby_days(tmp_path: Path) -> None:
    """experiments/bench_backtest_scale.py's larger logs: the first copy is the log itself,
    each other copy has its own user ids and moves each purchase by at most 3 days, never
    outside the log's span; a row whose time is no date is kept once, as it was."""
    import bench_backtest_scale
    import pandas as pd

    log = tmp_path / "log.csv"
    log.write_text(
        "user_id,event_time,event_type,amount\n"
        "a,2020-01-01,purchase,5\nb,2020-01-10,purchase,7\na,2020-02-01,purchase,3\n"
        "c,yesterday,purchase,1\n"
    )
    out = tmp_path / "x3.csv"
    counts = bench_backtest_scale.replicate(log, 3, out)
    table = pd.read_csv(out, dtype=str)
    assert counts == {"rows": 4 + 2 * 3, "users": 3 + 2 * 2}
    assert table.iloc[:4].equals(pd.read_csv(log, dtype=str))
    copies = table.iloc[4:]
    assert sorted(copies["user_id"].unique()) == ["ar1", "ar2", "br1", "br2"]
    original = pd.to_datetime(table.iloc[:3]["event_time"]).to_numpy()
    for replica in ("r1", "r2"):
        rows = copies[copies["user_id"].str.endswith(replica)]
        moved = pd.to_datetime(rows["event_time"]).to_numpy() - original
        assert (abs(moved) <= pd.Timedelta(days=3)).all()
        assert rows["amount"].tolist() == ["5", "7", "3"]
    stamps = pd.to_datetime(copies["event_time"])
    assert stamps.min() >= pd.Timestamp("2020-01-01") and stamps.max() <= pd.Timestamp("2020-02-01")
