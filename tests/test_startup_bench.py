"""The start-up benchmark runs (``bench_serving.py --startup-only``, issue 17): one start of
``bentoml serve`` and of the bare-uvicorn baseline on a copy of the shared workspace, each mark in the
order a start reaches it, and every step of a start timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))
from bench_serving_startup import STEPS, lines  # noqa: E402


def test_one_start_is_timed_mark_by_mark_and_step_by_step(
    trained_copy: Path, tmp_path: Path
) -> None:
    """A copy: a started server re-mirrors the registry's aliases (and takes their lock)."""
    out = tmp_path / "startup.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
        "LIFECYCLE_HOME": str(trained_copy),
        "LIFECYCLE_SERVING__COMPILE_TREES": "false",  # starts are timed without a compile
    }
    subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "bench_serving.py"),
            "--startup-only",
            "--runs",
            "1",
            "--json",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    result = json.loads(out.read_text())
    marks = result["bentoml"]["marks"]
    assert 0 < marks["worker_spawned"] < marks["live"] <= marks["ready"] <= marks["first_answer"]
    assert 0 < result["bare"]["marks"]["ready"] <= result["bare"]["marks"]["first_answer"]
    cpu = result["bentoml"]["cpu_at_ready"]
    assert cpu["arbiter"] > 0 and cpu["worker"] > 0
    steps = result["steps"]["steps"]
    assert list(steps) == list(STEPS) and all(step["cpu"] > 0 for step in steps.values())
    assert any("**`/readyz` 200" in line for line in lines(result))
