"""TreeSHAP tables (lifecycle.treeshap): LightGBM's ``pred_contrib`` to 1e-9 on the shared
workspace's churn champion and on models with every kind of split, the same reasons in
the answers, and LightGBM kept where tables are not built."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from workspaces import NO_COMPILE, TrainedWorkspace

from lifecycle.settings import load_settings
from lifecycle.treeshap import TreeShap

MAX_ABS_DIFF = 1e-9  # rounding of a different summation order; measured ~4e-15


def hostile_rows(typical: np.ndarray, categorical: list[int], seed: int = 0) -> np.ndarray:
    """Rows around the typical ones plus every edge a split decides on: NaN, exact zeros,
    +-tiny values (LightGBM's zero threshold), negatives, huge values, unknown,
    negative and out-of-range category codes."""
    rng = np.random.default_rng(seed)
    rows = typical[rng.integers(0, len(typical), 400)].copy()
    shape = rows.shape
    rows[rng.random(shape) < 0.15] = np.nan
    rows[rng.random(shape) < 0.15] = 0.0
    rows[rng.random(shape) < 0.05] = 1e-36
    rows[rng.random(shape) < 0.05] = -1e-36
    rows[rng.random(shape) < 0.05] *= -3.0
    rows[rng.random(shape) < 0.03] = 1e12
    for j in categorical:
        rows[:, j] = rng.choice([np.nan, -1.0, 0.0, 1.0, 2.0, 3.0, 7.0, 40.0, 2.7], len(rows))
    edges = np.vstack([np.full(shape[1], np.nan), np.zeros(shape[1]), np.full(shape[1], -1.0)])
    return np.vstack([rows, edges])


def assert_contributions_equal(booster: Any, rows: np.ndarray) -> None:
    """Both ways of reading the leaves (the compiled kernel, the tables) give LightGBM's
    contributions, for a batch and one row at a time (the online shape)."""
    want = booster.predict(rows, pred_contrib=True)[:, :-1]
    text = booster.model_to_string()
    native, tables = TreeShap(text), TreeShap(text, native=False)
    assert native._native is not None and tables._native is None
    for explainer in (native, tables):
        got = explainer.contributions(rows)
        assert got.shape == want.shape
        assert np.abs(got - want).max() < MAX_ABS_DIFF
        for position in range(0, len(rows), max(1, len(rows) // 25)):
            one = explainer.contributions(rows[position : position + 1])
            assert np.abs(one[0] - want[position]).max() < MAX_ABS_DIFF


def test_tables_give_lightgbm_contributions_for_the_churn_champion(scorer: Any) -> None:
    from features.store import store_paths
    from serving.feature_matrix import FeatureMatrix, layout_of

    bundle = scorer.state.champions.bundles["churn"]
    frame = pd.read_parquet(store_paths(scorer.settings).feature_table)
    latest = frame[frame["as_of"] == frame["as_of"].max()].head(300)
    matrix = FeatureMatrix.from_frame(layout_of({"churn": bundle}), latest)
    typical = matrix.model("churn")
    categorical = [j for j, n in enumerate(bundle.feature_names) if n in bundle.categories]
    assert categorical, "the demo's churn model reads a categorical feature"
    assert_contributions_equal(
        bundle.booster, np.vstack([typical, hostile_rows(typical, categorical)])
    )


def test_a_large_input_is_split_over_threads_with_the_same_values(scorer: Any) -> None:
    """Batch scoring explains thousands of rows through the tables too: split over the
    cores, each row's values are those of one pass, and LightGBM's to 1e-9."""
    bundle = scorer.state.champions.bundles["churn"]
    assert bundle.tabulate_reasons()
    rng = np.random.default_rng(3)
    rows = rng.normal(0, 30, size=(4 * 512 + 7, len(bundle.feature_names)))
    one_pass = np.zeros((len(rows), len(bundle.feature_names)))
    bundle.shap_tables._add(rows, one_pass)
    got = bundle.contributions_matrix(rows)
    assert np.array_equal(got, one_pass)
    want = bundle.booster.predict(rows, pred_contrib=True)[:, :-1]
    assert np.abs(got - want).max() < MAX_ABS_DIFF


def test_the_kernel_reads_little_per_row(scorer: Any) -> None:
    """32-bit positions and one byte per path step: half of what 64-bit ones read, which
    evicted more of the compiled trees the same request predicts with."""
    explainer = TreeShap(scorer.state.champions.bundles["churn"].booster.model_to_string())
    assert explainer._native is not None
    assert explainer._native.bytes_read < 24 * len(explainer._steps_node)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_tables_follow_every_kind_of_split(zero_as_missing: bool) -> None:
    """Missing values as NaN, as zero or none at all, default directions, categorical
    bitsets and one feature split many times on a path."""
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    rows = 3000
    values = rng.normal(size=(rows, 6))
    values[:, 4] = rng.integers(0, 40, rows)  # a categorical code with many categories
    values[:, 5] = rng.integers(0, 3, rows)
    values[rng.random((rows, 6)) < 0.1] = np.nan
    values[rng.random((rows, 6)) < 0.1] = 0.0
    target = (
        np.nan_to_num(values[:, 0]) * 2
        + np.sin(np.nan_to_num(values[:, 0]) * 3)
        + np.isnan(values[:, 1])
        + (np.nan_to_num(values[:, 4]) % 7 == 1)
        + rng.normal(size=rows)
        > 0.5
    ).astype(float)
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 48,
        "min_data_in_leaf": 5,
        "max_cat_to_onehot": 2,
        "cat_smooth": 1,
        "zero_as_missing": zero_as_missing,
    }
    data = lgb.Dataset(values, target, categorical_feature=[4, 5])
    booster = lgb.train(params, data, 30)
    text = booster.model_to_string()
    assert any(f"num_cat={n}" in text for n in range(1, 30)), "categorical splits are exercised"
    assert_contributions_equal(booster, hostile_rows(values[:200], [4, 5], seed=2))


def test_the_answers_give_the_same_reasons_with_tables(
    trained_workspace: TrainedWorkspace,
) -> None:
    from serving.batch import read_scores
    from serving.scorer import Scorer

    table = read_scores(trained_workspace.scores_path).frame
    users = table[table["churn_probability"].notna()]["user_id"].astype(str).head(40).tolist()
    scorer = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    scorer.load()
    bundle = scorer.state.champions.bundles["churn"]
    assert bundle.shap_tables is None  # not compiled: LightGBM explains
    before = scorer.score(users, reasons="fresh").users
    assert bundle.tabulate_reasons() and bundle.shap_tables is not None
    assert not scorer.state.champions.bundles["ltv"].tabulate_reasons()  # not explained
    after = scorer.score(users, reasons="fresh").users
    alone = [scorer.score([u], reasons="fresh").users[0] for u in users[:5]]
    explained = 0
    for old, new in zip(before, after, strict=True):
        assert new.model_dump(exclude={"reasons"}) == old.model_dump(exclude={"reasons"})
        assert [(r.feature, r.value, r.text) for r in new.reasons] == [
            (r.feature, r.value, r.text) for r in old.reasons
        ]
        for a, b in zip(new.reasons, old.reasons, strict=True):
            assert abs(a.contribution - b.contribution) < MAX_ABS_DIFF
        explained += bool(new.reasons)
    assert explained >= 20
    for one, many in zip(alone, after, strict=False):
        assert one.model_dump() == many.model_dump()


def test_without_the_kernel_too_large_tables_keep_lightgbm_with_one_log_line(
    scorer: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import copy

    import lifecycle.treeshap as treeshap

    bundle = copy.copy(scorer.state.champions.bundles["churn"])
    bundle.shap_tables = None
    monkeypatch.setattr(treeshap, "_native_kernel", lambda: None)  # llvmlite unavailable
    monkeypatch.setattr(treeshap, "MAX_TABLE_VALUES", 10)
    with caplog.at_level(logging.WARNING, logger="lifecycle.compiled"):
        assert not bundle.tabulate_reasons()
    assert bundle.shap_tables is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert "no TreeSHAP tables for the churn model" in line and "limit 10" in line


def test_a_copy_sent_elsewhere_explains_through_lightgbm(scorer: Any) -> None:
    bundle = scorer.state.champions.bundles["churn"]
    bundle.tabulate_reasons()
    copied = pickle.loads(pickle.dumps(bundle))
    assert copied.shap_tables is None and bundle.shap_tables is not None


def test_a_model_versions_treeshap_is_saved_once_and_a_new_champions_is_its_own(
    scorer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each list built its model's TreeSHAP again (~65 ms of CPU for a 5,000-user shop's
    churn model). It is saved beside the compiled trees, under the model version and a hash
    of the model text: a second load reads it (nothing built), with the same values; a new
    champion (another model text, even under the same name) builds and saves its own. Where
    the compiled trees' folder does not exist yet, it is made and the TreeSHAP saved there."""
    import copy

    import lightgbm

    from lifecycle.treeshap import SAVED_SUFFIX

    champion = scorer.state.champions.bundles["churn"]
    cache, name = tmp_path / "compiled", "demo_churn-v1-booster"
    rows = np.random.default_rng(5).normal(0, 30, size=(64, len(champion.feature_names)))
    first = copy.copy(champion)
    first.shap_tables = None
    assert not cache.exists()
    assert first.tabulate_reasons(cache, name)  # no compiled trees' folder yet: made
    (saved,) = cache.glob(f"*{SAVED_SUFFIX}")
    assert saved.name.startswith(f"{name}-")
    built = first.shap_tables.contributions(rows)

    def no_build(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("built again where a saved TreeSHAP was there to read")

    again = copy.copy(champion)
    again.shap_tables = None
    with monkeypatch.context() as patched:
        patched.setattr(TreeShap, "__init__", no_build)
        assert again.tabulate_reasons(cache, name)
    assert np.array_equal(again.shap_tables.contributions(rows), built)

    # a new champion under the name used before (a workspace trained again): one leaf differs
    lines = champion.booster.model_to_string().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("leaf_value="))
    digit = len("leaf_value=") + 3  # a digit of the first value (tree_sizes: the same length)
    changed = "1" if lines[at][digit] != "1" else "2"
    lines[at] = lines[at][:digit] + changed + lines[at][digit + 1 :]
    challenger = copy.copy(champion)
    challenger.shap_tables = None
    challenger.booster = lightgbm.Booster(model_str="\n".join(lines))
    assert challenger.tabulate_reasons(cache, name)
    assert len(list(cache.glob(f"*{SAVED_SUFFIX}"))) == 2
    own = challenger.booster.predict(rows, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(challenger.shap_tables.contributions(rows), own, atol=1e-9)
    assert not np.allclose(challenger.shap_tables.contributions(rows), built, atol=1e-9)


def test_a_list_with_trees_compiled_saves_the_treeshap_before_any_compiled_folder(
    trained_copy: Path,
) -> None:
    """A workspace trained with ``serving.compile_trees`` off (no compiled folder), listed
    with it on: each list built the churn model's TreeSHAP again (nothing saved without the
    folder). Now the first saves it and the next reads it, the same values; no trees are
    compiled by a list (``trees=False``), and with the setting off every path still explains
    through LightGBM, nothing prepared or written (af8552b0, reverted, mixed the two)."""
    import shutil

    from lifecycle.compiled import OBJECT_SUFFIX
    from lifecycle.treeshap import SAVED_SUFFIX
    from serving.scoring import compile_champions, load_champions

    on = load_settings(home=trained_copy, environ={})
    shutil.rmtree(on.workspace.compiled_dir, ignore_errors=True)
    off = load_settings(home=trained_copy, environ=NO_COMPILE)
    unexplained = load_champions(off)
    assert compile_champions(off, unexplained, trees=False) is None
    assert not on.workspace.compiled_dir.exists()  # off: nothing prepared, nothing written
    assert unexplained.bundles["churn"].shap_tables is None  # explained through LightGBM

    first = load_champions(on)
    compile_champions(on, first, trees=False)  # what a list explaining users does
    (saved,) = on.workspace.compiled_dir.glob(f"*{SAVED_SUFFIX}")
    assert saved.name.startswith("demo-churn-v1-booster-")
    assert not list(on.workspace.compiled_dir.glob(f"*{OBJECT_SUFFIX}"))  # no trees compiled
    written = saved.stat().st_mtime_ns

    second = load_champions(on)
    compile_champions(on, second, trees=False)  # the next list reads it
    assert [p.name for p in on.workspace.compiled_dir.iterdir()] == [saved.name]
    assert saved.stat().st_mtime_ns == written
    churn = first.bundles["churn"]
    rows = np.random.default_rng(7).normal(0, 30, size=(32, len(churn.feature_names)))
    assert np.array_equal(
        second.bundles["churn"].shap_tables.contributions(rows),
        churn.shap_tables.contributions(rows),
    )
