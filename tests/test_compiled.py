"""Compiled trees (lifecycle.compiled): the champions' outputs unchanged, the cache shared
safely between processes, LightGBM kept when compiling is unavailable or switched off."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workspaces import TrainedWorkspace

from lifecycle.compiled import OBJECT_SUFFIX, compile_trees
from lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
# lleaves sums the same leaf values in the same order as LightGBM: measured max 5e-12.
MAX_ABS_DIFF = 1e-9


def latest_users(workspace: TrainedWorkspace, rows: int = 500) -> pd.DataFrame:
    from features.store import store_paths

    table = pd.read_parquet(store_paths(workspace.settings()).feature_table)
    latest = table[table["as_of"] == table["as_of"].max()]
    return latest.head(rows).reset_index(drop=True)


def outputs(bundle: object, features: pd.DataFrame) -> np.ndarray:
    if bundle.is_probability:
        return bundle.predict(features)[:, None]
    return bundle.value_outlook(features).to_numpy(dtype="float64")


@pytest.mark.slow
def test_compiled_champions_give_lightgbm_outputs(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    from serving.scoring import compile_champions, load_champions

    settings = trained_workspace.settings()
    champions = load_champions(settings, cache=tmp_path / "models")
    features = latest_users(trained_workspace)
    before = {task: outputs(b, features) for task, b in champions.bundles.items()}
    for bundle in champions.bundles.values():
        # Into this test's directory (the shared workspace stays as it was). The LTV quantile
        # boosters (most of the ~2,600 trees, minutes to compile on a loaded box) are left
        # to LightGBM here: its mean and purchase parts are compiled; bench_compiled.py
        # compares every booster.
        boosters = {
            name: b for name, b in bundle.booster_files().items() if not name.startswith("quantile")
        }
        for name, booster in boosters.items():
            compiled = compile_trees(
                bundle.source / name, tmp_path / "compiled", f"{bundle.task}-test-{name}"
            )
            assert compiled is not None
            bundle.compiled[id(booster)] = compiled
        after = outputs(bundle, features)
        assert after.shape == before[bundle.task].shape
        assert np.nanmax(np.abs(after - before[bundle.task])) < MAX_ABS_DIFF
        assert np.array_equal(np.isnan(after), np.isnan(before[bundle.task]))
    # one booster per file, named by model and kept for the next start
    cached = sorted(p.name for p in (tmp_path / "compiled").iterdir())
    assert len(cached) == sum(len(b.compiled) for b in champions.bundles.values()) >= 4
    assert all(name.endswith(OBJECT_SUFFIX) and "-test-" in name for name in cached)
    # switched off: nothing compiled, nothing written
    off = load_settings(
        home=trained_workspace.home, environ={"LIFECYCLE_SERVING__COMPILE_TREES": "false"}
    )
    plain = load_champions(off, cache=tmp_path / "models-off")
    compile_champions(off, plain)
    assert not any(b.compiled for b in plain.bundles.values())
    assert not off.workspace.compiled_dir.exists()


def tiny_model(directory: Path) -> tuple[Path, np.ndarray]:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 4))
    target = (values[:, 0] + rng.normal(size=300) > 0).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(values, target), 8
    )
    path = directory / "booster.txt"
    booster.save_model(str(path))
    return path, values


def test_two_processes_compiling_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    import lightgbm as lgb

    model_file, values = tiny_model(tmp_path)
    cache = tmp_path / "compiled"
    script = (
        "import sys; from pathlib import Path; from lifecycle.compiled import compile_trees; "
        f"sys.exit(compile_trees(Path({str(model_file)!r}), Path({str(cache)!r}), 'm-v1') is None)"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("m-v1-"), files  # no staging left
    reused = compile_trees(model_file, cache, "m-v1", cached_only=True)
    assert reused is not None and reused.path == files[0]
    expected = lgb.Booster(model_file=str(model_file)).predict(values)
    assert np.max(np.abs(reused.predict(values) - expected)) < MAX_ABS_DIFF
    assert np.max(np.abs(reused.predict(values[:1]) - expected[:1])) < MAX_ABS_DIFF
    # a new model file under the same name is another cache entry, never the old code
    model_file.write_text(model_file.read_text().replace("num_leaves=7", "num_leaves=7 "))
    assert compile_trees(model_file, cache, "m-v1", cached_only=True) is None


def test_unavailable_compiler_keeps_lightgbm_with_one_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lifecycle.bundle import ModelBundle, load_booster

    model_file, values = tiny_model(tmp_path)
    names = [f"f{i}" for i in range(4)]
    bundle = ModelBundle("churn", load_booster(model_file), names, {}, "churn_v1", {}, {})
    features = pd.DataFrame(values, columns=names)
    expected = bundle.predict(features)
    monkeypatch.setitem(sys.modules, "lleaves", None)  # as if it were not installed
    with caplog.at_level(logging.WARNING, logger="lifecycle.compiled"):
        assert bundle.compile_trees(tmp_path / "compiled", "churn-v1") == 0
    assert len(caplog.records) == 1 and "predicting with LightGBM" in caplog.text
    assert np.array_equal(bundle.predict(features), expected)


@pytest.mark.slow
def test_benchmark_script_runs_and_finds_the_same_outputs() -> None:
    script = REPO / "experiments" / "bench_compiled.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    diff = float(done.stdout.split("largest |compiled - LightGBM| over 5,000 rows: ")[1].split()[0])
    assert diff < MAX_ABS_DIFF, done.stdout
    assert "one row, all boosters (CPU µs): {'lightgbm'" in done.stdout, done.stdout
