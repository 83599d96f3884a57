"""OpenMP's waiting: lifecycle makes LightGBM's threads spin briefly, then sleep, unless told
otherwise, and the benchmark that chose it runs (experiments/bench_threads.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))
from bench_threads import BASELINE, WAITS  # noqa: E402

READ = "import lifecycle, os; print(os.environ.get('GOMP_SPINCOUNT'))"


def policy_seen(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", READ], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_lightgbm_threads_spin_briefly_unless_the_user_chose() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    assert policy_seen(env) == "1000"
    assert policy_seen(env | {"GOMP_SPINCOUNT": "50"}) == "50"
    assert policy_seen(env | {"OMP_WAIT_POLICY": "ACTIVE"}) == "None"


def test_benchmark_runs_quick_and_compares_to_one_passive_thread(tmp_path: Path) -> None:
    out = tmp_path / "threads.json"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "bench_threads.py"),
            "--quick",
            "--busy",
            "0",
            "--json",
            str(out),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    results = json.loads(out.read_text())
    assert results["rows"] == 2_000 and list(results["settings"]) == ["quiet"]
    for runs in results["settings"].values():
        assert set(runs) == {f"{wait}, {n}" for wait in WAITS for n in ("1 thread", "2 threads")}
        assert runs[BASELINE]["ratio"] == 1.0
        for run in runs.values():
            assert run["wall"] > 0 and run["ratio"] == run["wall"] / runs[BASELINE]["wall"]
