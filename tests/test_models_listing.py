"""`lifecycle models` lists versions, tags and metrics: what serves each task it reads from
the champions' metadata, parsing no booster (it imported LightGBM, and through it and the
promotion gate's metrics scikit-learn and SciPy, 0.56 of its 2.73 CPU-s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from services import run_cli
from workspaces import TrainedWorkspace

from lifecycle import bundle

# what `lifecycle models` imports, printed as JSON after its output
IMPORTED = """
import json, sys
from lifecycle.cli import main
try:
    main(["--quiet", "models"])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in ("lightgbm", "sklearn", "scipy.stats") if m in sys.modules)))
"""


def test_models_parses_no_booster(
    trained_workspace: TrainedWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The churn and conversion champions are still read (whether churn answers conversion),
    their bundles' metadata alone: the old code parsed both boosters."""
    parsed: list[Path] = []
    real = bundle.load_booster

    def counted(path: Path) -> Any:
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(bundle, "load_booster", counted)
    listed = json.loads(run_cli(trained_workspace.home, "--json", "models"))["models"]
    assert parsed == []
    champions = {r["task"]: r["version"] for r in listed if "champion" in r["aliases"]}
    assert champions == {"churn": "1", "conversion": "1", "ltv": "1"}
    assert not any("answered_by" in r or "served_where" in r for r in listed)


def test_models_imports_no_learning_library(trained_workspace: TrainedWorkspace) -> None:
    """In a process of its own: neither LightGBM nor scikit-learn nor scipy.stats."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ["LIFECYCLE_HOME"] = str(trained_workspace.home)
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    *listing, imported = done.stdout.splitlines()
    assert any(line.startswith("demo-churn v1 ") for line in listing), done.stdout
    assert json.loads(imported) == []
