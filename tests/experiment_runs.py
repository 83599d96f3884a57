"""Running an experiment script as its docstring says, for the tests of its quick mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_experiment(script: str, *args: str, timeout: int = 300) -> str:
    """The standard output of ``python experiments/SCRIPT ARGS`` run from the repository;
    a failed run fails the test with the end of its standard error."""
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def few_rounds() -> dict[str, str]:
    """experiments/quick.py's cap on every model's boosting rounds, as LIFECYCLE_* settings,
    for a test whose assertions hold for any number of trees (early stopping otherwise grows
    ~2,500 trees over LTV's five boosters on the demo)."""
    sys.path.insert(0, str(REPO / "experiments"))
    from quick import few_rounds as capped

    return capped()
