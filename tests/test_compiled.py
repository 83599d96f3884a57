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
from experiment_runs import few_rounds, run_experiment
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace

from lifecycle.compiled import OBJECT_SUFFIX, compile_trees
from lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
# lleaves sums the same leaf values in the same order as LightGBM: measured max 5e-12.
MAX_ABS_DIFF = 1e-9


def latest_users(workspace: TrainedWorkspace | Path, rows: int = 500) -> pd.DataFrame:
    from features.store import store_paths

    home = workspace if isinstance(workspace, Path) else workspace.home
    table = pd.read_parquet(store_paths(load_settings(home=home, environ={})).feature_table)
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
    # switched off: nothing compiled, nothing written, nothing prepared (the shared
    # workspace's folder holds only the TreeSHAP a list with trees compiled saved there)
    off = load_settings(
        home=trained_workspace.home, environ={"LIFECYCLE_SERVING__COMPILE_TREES": "false"}
    )
    before = sorted(off.workspace.compiled_dir.iterdir())
    plain = load_champions(off, cache=tmp_path / "models-off")
    compile_champions(off, plain)
    assert not any(b.compiled for b in plain.bundles.values())
    assert not any(b.shap_tables is not None for b in plain.bundles.values())
    assert sorted(off.workspace.compiled_dir.iterdir()) == before
    assert not any(p.name.endswith(OBJECT_SUFFIX) for p in before)


def test_champions_loaded_without_a_folder_leave_none_behind(
    trained_workspace: TrainedWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`score-all`, `monitor` and the service load the champions without a folder of their
    own: the downloads are gone once loaded (each load left 6 MB in the temporary folder),
    the bundles score as those kept on disk, and compiling one writes out the registry's
    very file, so it finds the same compiled trees."""
    import tempfile

    from serving.scorer import Scorer
    from serving.scoring import load_champions
    from serving.uplift import uplift_champion_or_none

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    settings = trained_workspace.settings()
    champions = load_champions(settings)
    assert champions.bundles and not champions.unavailable
    assert uplift_champion_or_none(settings, settings.dataset) == (None, None)
    scorer = Scorer(trained_workspace.settings(NO_COMPILE))
    scorer.load()
    scorer.reload()
    assert scorer.score(list(latest_users(trained_workspace, 3)["user_id"])).users
    assert sorted(p.name for p in scratch.iterdir()) == []

    kept = load_champions(settings, cache=tmp_path / "models")
    features = latest_users(trained_workspace)
    for task, bundle in champions.bundles.items():
        assert bundle.source is None
        np.testing.assert_array_equal(
            outputs(bundle, features), outputs(kept.bundles[task], features)
        )
        for name, booster in bundle.booster_files().items():
            written = tmp_path / "written" / task / name
            written.parent.mkdir(parents=True, exist_ok=True)
            booster.save_model(str(written))
            assert written.read_bytes() == (kept.bundles[task].source / name).read_bytes()


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


def test_small_requests_through_each_threads_buffers_equal_lleaves(tmp_path: Path) -> None:
    """Up to ``BUFFERED_ROWS`` rows predict through per-thread buffers: the values of
    lleaves' own predict for every size around the limits, and threads never mix answers."""
    from concurrent.futures import ThreadPoolExecutor

    from lifecycle.compiled import BUFFERED_ROWS

    model_file, values = tiny_model(tmp_path)
    compiled = compile_trees(model_file, tmp_path / "compiled", "m-v1")
    assert compiled is not None and compiled._direct is not None
    values = np.concatenate([values, values])  # 600 rows
    for rows in (1, 2, 4, BUFFERED_ROWS, BUFFERED_ROWS + 1, 300):
        want = compiled._model.predict(values[:rows], n_jobs=1)
        assert np.array_equal(compiled.predict(values[:rows]), want), rows
    assert np.array_equal(compiled.predict(values[5:6]), compiled._model.predict(values[5:6]))
    with pytest.raises(ValueError, match="dimension"):
        compiled.predict(values[:2, :3])

    def one_by_one(start: int) -> list[float]:
        return [float(compiled.predict(values[i : i + 1])[0]) for i in range(start, start + 200)]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(one_by_one, (0, 100, 200, 300)))
    for start, got in zip((0, 100, 200, 300), answers, strict=True):
        assert got == compiled._model.predict(values[start : start + 200], n_jobs=1).tolist()


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
    stdout = run_experiment("bench_compiled.py", "--quick", timeout=900)
    diff = float(stdout.split("largest |compiled - LightGBM| over 5,000 rows: ")[1].split()[0])
    assert diff < MAX_ABS_DIFF, stdout
    assert "one row, all boosters (CPU µs): {'lightgbm'" in stdout, stdout


def test_pruning_keeps_served_versions_the_newest_others_and_other_models(
    tmp_path: Path,
) -> None:
    from lifecycle.compiled import prune_versions

    cache = tmp_path / "compiled"
    cache.mkdir()
    names = [
        *(f"demo-churn-v{v}-booster-{v:016x}{OBJECT_SUFFIX}" for v in (1, 2, 3, 4, 5, 12)),
        f"demo-churn-v2-purchase_booster-{0:016x}{OBJECT_SUFFIX}",
        f"demo-churn-extra-v1-booster-{0:016x}{OBJECT_SUFFIX}",  # another model's name
        f".demo-churn-v1-abc{OBJECT_SUFFIX}",  # a compile under way (staging file)
        # the churn model's saved TreeSHAP goes with its version's trees
        *(f"demo-churn-v{v}-booster-{v:016x}.shap.npz" for v in (1, 2)),
        f".demo-churn-v1-booster-{1:016x}.shap.npz-x1",  # being saved (staging file)
    ]
    for name in names:
        (cache / name).write_bytes(b"object")
    # v2 and v5 served; of the others (12, 4, 3, 1) the two newest stay
    deleted = prune_versions(cache, {"demo-churn": {"2", "5"}}, keep=2)
    assert sorted(p.name for p in deleted) == [
        f"demo-churn-v1-booster-{1:016x}{OBJECT_SUFFIX}",
        f"demo-churn-v1-booster-{1:016x}.shap.npz",
        f"demo-churn-v3-booster-{3:016x}{OBJECT_SUFFIX}",
    ]
    left = {p.name for p in cache.iterdir()}
    assert left == set(names) - {p.name for p in deleted}
    assert prune_versions(cache, {"demo-churn": {"2", "5"}}, keep=2) == []  # nothing more


@pytest.mark.slow
def test_training_compiles_a_new_champion_and_prunes_unserved_versions(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Registered and promoted by training: compiled into the workspace's cache from the
    registered files, so a server loading the champion finds every booster cached."""
    from lifecycle import registry
    from serving.scoring import compile_champions, load_champions
    from training.pipeline import train_task

    # What is asserted is what training compiles, prunes and a server finds cached, and that
    # compiled trees predict as LightGBM's: any number of trees, so few boosting rounds (each
    # tree is also compiled), and no plots.
    environ = {"LIFECYCLE_SERVING__COMPILED_VERSIONS_KEPT": "0"} | NO_PLOTS | few_rounds()
    settings = load_settings(home=trained_copy, environ=environ)
    client = registry.client(settings)
    old = registry.alias_version(client, "demo-churn", registry.CHAMPION).version
    client.delete_registered_model_alias("demo-churn", registry.CHAMPION)  # the gate promotes
    cache = settings.workspace.compiled_dir
    cache.mkdir(parents=True, exist_ok=True)
    stale = cache / f"demo-churn-v{old}-booster-{0:016x}{OBJECT_SUFFIX}"
    other = cache / f"demo-conversion-v1-booster-{0:016x}{OBJECT_SUFFIX}"  # conversion champion
    for path in (stale, other):
        path.write_bytes(b"object")

    said: list[str] = []
    result = train_task(settings, "churn", progress=said.append)

    assert result.promoted, result.gate
    # the compile is said, not left inside "checking the promotion gate" (a fifth of train all)
    assert said[-1] == f"churn: compiling v{result.version}'s trees for serving " + (
        "(serving.compile_trees)"
    ), said
    compiled = sorted(p.name for p in cache.glob(f"demo-churn-v{result.version}-*"))
    assert compiled and all(name.endswith(OBJECT_SUFFIX) for name in compiled)
    assert not stale.exists()  # v{old} is no longer champion nor challenger, and none are kept
    assert other.exists()
    # A loading server uses them without compiling anything itself.
    champions = load_champions(settings, cache=tmp_path / "models")
    churn = champions.bundles["churn"]
    compile_champions(settings, champions, cached_only=True)
    assert len(churn.compiled) == len(churn.booster_files()) == len(compiled)
    features = latest_users(trained_copy)
    lightgbm = churn.booster.predict(churn.encode(features))
    through = churn.predict_trees(churn.booster, churn.encode(features))
    assert np.max(np.abs(through - lightgbm)) < MAX_ABS_DIFF
