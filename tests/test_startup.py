"""The scoring service starts without what it never runs: scikit-learn (pulled in by
``lightgbm.compat``) and Feast's offline store (ibis). Checked in a fresh process, where
``sys.modules`` tells what was imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workspaces import TrainedWorkspace

REPO = Path(__file__).resolve().parents[1]
NOT_LOADED = ("sklearn", "ibis", "feast.infra.offline_stores.duckdb")

STARTUP = """
import json, sys
from lifecycle.bundle import import_lightgbm_without_sklearn
from lifecycle.settings import load_settings
from serving.scorer import Scorer

import_lightgbm_without_sklearn()  # what the service does in a server process
state = Scorer(load_settings()).load()
print(json.dumps({
    "loaded": sorted(name for name in %r if name in sys.modules),
    "tasks": sorted(state.champions.bundles),
}))
"""


def test_a_loaded_scorer_has_imported_neither_sklearn_nor_the_offline_store(
    trained_workspace: TrainedWorkspace,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
        "LIFECYCLE_HOME": str(trained_workspace.home),
        "LIFECYCLE_SERVING__COMPILE_TREES": "false",  # the shared workspace is not written
    }
    done = subprocess.run(
        [sys.executable, "-c", STARTUP % (NOT_LOADED,)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tasks"] == ["churn", "conversion", "ltv"]  # it did load the champions
    assert report["loaded"] == []


def test_lightgbm_without_sklearn_leaves_sklearn_importable() -> None:
    script = (
        "import sys; from lifecycle.bundle import import_lightgbm_without_sklearn\n"
        "import_lightgbm_without_sklearn(); import lightgbm\n"
        "assert 'sklearn' not in sys.modules and hasattr(lightgbm, 'Booster')\n"
        "import sklearn.isotonic; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
