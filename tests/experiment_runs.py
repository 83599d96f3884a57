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
