"""Training and batch scoring on a Dask ``LocalCluster`` (2 worker processes, 1 thread each).

Distributed LightGBM does not build the very same trees as in-process LightGBM (each
worker bins and histograms its own share), so the Dask model's test metrics are held to
a stated tolerance of the in-process model's: ``METRIC_TOLERANCE`` (measured here: AUC
0.926 vs 0.925, normalized Gini 0.942 vs 0.939-0.942). Batch scores of one model are
held to exact equality, row for row.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from experiment_runs import few_rounds
from services import prepare
from workspaces import NO_PLOTS, TrainedWorkspace, copy_workspace

from features import contract as c
from features.labels import LABEL
from features.store import latest_feature_rows, store_paths
from lifecycle.bundle import VALUE_LEVELS, ModelBundle
from lifecycle.settings import SettingsError, load_settings
from serving.distributed import score_parquet, score_partitioned
from serving.scoring import load_champions, score_frame
from training import evaluation
from training.datasets import build_training_set
from training.distributed import (
    _binnable_categorical,
    _dask_frames,
    boost,
    fit_bundle_dask,
    validation_loss,
)
from training.errors import TrainingError
from training.models import fit_bundle, model_specs, refit_recipe
from training.pipeline import train_task
from training.time_splits import time_split

METRIC_TOLERANCE = 0.02  # |Dask - in-process| on test AUC (churn) and normalized Gini (LTV)
DASK_ENV = {"LIFECYCLE_TRAINING__ENGINE": "dask", "LIFECYCLE_DASK__SCHEDULER": "local:2"}


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """The module's one cluster, started as ``dask.scheduler = "local:2"`` starts it
    (``lifecycle.cluster``); the pipeline's training below reaches it by its address (that
    path of ``dask_client``), so the module starts 2 worker processes once, not twice."""
    from lifecycle.cluster import dask_client

    with dask_client(load_settings(environ=DASK_ENV)) as dask:
        yield dask


@pytest.fixture(scope="module")
def home(trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained workspace: the Dask churn model is registered in it."""
    return copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("dask") / "workspace")


@pytest.fixture(scope="module")
def churn_results(trained_workspace: TrainedWorkspace, home: Path, client: Any) -> dict:
    """The churn model the pipeline trained in process (the workspace's champion), and the
    same training with ``training.engine = dask`` (on the module's cluster)."""
    local = trained_workspace.results["churn"]
    # The Dask model's metrics differ from the local one's only by chance (partitioning), so
    # which one the gate keeps would too: the in-process model stays champion for the tests
    # that score with it.
    never_promoted = (
        DASK_ENV
        | NO_PLOTS
        | {
            "LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "1",
            "LIFECYCLE_DASK__SCHEDULER": client.scheduler.address,
            # Fewer round trips to the cluster (each Dask fit starts a LightGBM network on
            # the workers and bins its rows): the early-stopping checks stay per tree, and
            # each of the four fits (evaluated, refit, two cross-fitted halves; ~330-400
            # trees) still continues its booster over a second chunk.
            "LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "200",
        }
    )
    distributed = train_task(load_settings(home=home, environ=never_promoted), "churn")
    return {"local": local, "dask": distributed}


def _fit_arguments(training: Any, split: Any, settings: Any) -> dict[str, Any]:
    """What fit_bundle and fit_bundle_dask take beside the task and the rows, as training does."""
    return {
        "label": LABEL,
        "feature_names": training.feature_names,
        "service": training.service,
        "label_spec": training.spec.to_dict(),
        "data_window": split.to_dict(),
        "specs": model_specs(settings),
    }


def test_dask_engine_is_chosen_by_settings_only() -> None:
    settings = load_settings(environ=DASK_ENV)
    assert settings.training.engine == "dask" and settings.dask.scheduler == "local:2"
    assert load_settings(environ={}).training.engine == "local"  # the default is unchanged
    with pytest.raises(SettingsError, match=r"training\.engine"):
        load_settings(environ={"LIFECYCLE_TRAINING__ENGINE": "spark"})


# Run before the module's cluster starts (the next test asks for it): idle, that cluster
# (its scheduler here, two worker processes) costs ~2 CPU-s per 30 s, and this test runs
# two clusters of its own for ~20 s.
# A fit LightGBM fails on a real local:2 cluster (a categorical feature no row holds, sent as
# categorical: the worker binning it dies, the other gets "Socket recv error"), with library
# output routed as the CLI routes it, in a process of its own (the routing is process-wide).
# The worker dies of a segfault on purpose, the one the product's _binnable_categorical keeps
# away: LightGBM 4.7's distributed binning copies the feature's categories from a null pointer
# (BinMapper::CopyTo, from DatasetLoader::ConstructFromSampleData), so each run of this test
# leaves two "segfault at 0 ... in libc.so.6" lines in the kernel log, one a subprocess.
FAILING_FIT = """
import sys
import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from lifecycle.cluster import dask_client
from lifecycle.console import Console, route_library_output
from lifecycle.settings import load_settings
from training.distributed import boost
from training.errors import TrainingError
from training.models import model_specs

if __name__ == "__main__":
    route_library_output(Console(verbose=sys.argv[1] == "--verbose"))
    settings = load_settings(environ={"LIFECYCLE_DASK__SCHEDULER": "local:2"})
    spec = model_specs(settings)["churn"]
    x = pd.DataFrame({"recency": np.arange(400.0), "channel": np.nan})
    y = pd.Series(np.arange(400) % 2, dtype="float64", name="label")
    try:  # the error said once the cluster is closed, as the CLI says it
        with dask_client(settings) as client, dask.config.set({"dataframe.convert-string": False}):
            dealt = [dd.from_pandas(frame.iloc[part::2], npartitions=1) for part in (0, 1) for frame in (x, y)]
            x_dask = client.persist(dd.concat(dealt[0::2]))
            y_dask = client.persist(dd.concat(dealt[1::2]))
            boost(client, x_dask, y_dask, x.to_numpy(), y.to_numpy(), spec.lgb_params(1), spec, [1], 10)
    except TrainingError as error:
        print(f"Error: {error}", file=sys.stderr)
"""


def test_a_cluster_failure_is_one_line_and_library_output_only_verbose(tmp_path: Path) -> None:
    """A killed or failing worker printed dask's "Compute Failed" traceback, and the workers
    LightGBM's [Info] lines, above the one-line error; lightgbm.dask its "Finding random open
    ports" on stdout. Now all of it is library output: ``--verbose`` only. A worker that
    crashed said nothing there (its output dies with it; its nanny's notice was silenced), so
    ``--verbose`` showed only the survivor's "Socket recv error", not why: now the death is
    one of the workers' lines."""
    script = tmp_path / "failing_fit.py"
    script.write_text(FAILING_FIT)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    runs = {
        mode: subprocess.Popen(
            [sys.executable, str(script), mode],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for mode in ("--quiet", "--verbose")
    }
    (out, err), (verbose_out, verbose_err) = (run.communicate(timeout=300) for run in runs.values())
    assert out == "", out
    assert err.splitlines() == [err.strip()] and err.startswith(
        "Error: Dask training: LightGBM failed on the cluster (Socket recv error"
    ), err
    assert "--verbose shows" in err and "training.engine = local" in err
    assert verbose_out == "", verbose_out
    workers = [line for line in verbose_err.splitlines() if "[LightGBM]" in line]
    assert workers and all(line.startswith("  . dask_workers: ") for line in workers), verbose_err
    assert "  . lightgbm: Finding random open ports for workers" in verbose_err.splitlines()
    death = r"^  \. dask_workers: Worker process \d+ was killed by signal 11 \(SIGSEGV\)$"
    assert re.search(death, verbose_err, re.MULTILINE), verbose_err
    assert verbose_err.strip().endswith(err.strip())


def test_dask_trained_churn_matches_in_process_metrics(churn_results: dict) -> None:
    local = churn_results["local"].metrics["lightgbm"]
    distributed = churn_results["dask"].metrics["lightgbm"]
    assert abs(distributed["auc"] - local["auc"]) <= METRIC_TOLERANCE, (local, distributed)
    assert distributed["auc"] > 0.85
    assert distributed["ece"] < 0.05  # calibrated on the validation cutoff, as in process
    # Same split, same rows: only the engine differs.
    assert churn_results["dask"].split == churn_results["local"].split
    assert churn_results["dask"].version != churn_results["local"].version


def test_dask_ltv_bundle_matches_in_process(home: Path, client: object) -> None:
    # One Dask fit per model: fewer round trips to the cluster on a busy 2-core box. Both
    # engines fit the same specs, capped at few rounds (the five LTV boosters grow ~2,500
    # trees otherwise): what is compared is the engine, on the same model.
    environ = {"LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "100"} | few_rounds()
    settings = load_settings(home=home, environ=environ)
    training = build_training_set(settings, "ltv")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    frame = training.frame
    parts = split.parts(frame)
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    common = _fit_arguments(training, split, settings)
    local = fit_bundle("ltv", train, valid, **common)
    distributed = fit_bundle_dask("ltv", train, valid, settings=settings, client=client, **common)
    y = test[LABEL].to_numpy(dtype=float)
    gini = {
        name: evaluation.ltv_metrics(y, bundle.predict(test))["normalized_gini"]
        for name, bundle in (("local", local), ("dask", distributed))
    }
    assert abs(gini["dask"] - gini["local"]) <= METRIC_TOLERANCE, gini
    assert set(distributed.quantile_boosters) == set(VALUE_LEVELS)
    assert distributed.purchase_booster is not None
    interval = distributed.predict_interval(test)
    assert (interval["p10"] <= interval["p50"]).all() and (interval["p50"] <= interval["p90"]).all()
    # Early stopping kept the best iteration, and the saved bundle keeps exactly that model.
    assert 1 <= distributed.booster.best_iteration <= distributed.booster.current_iteration()
    reloaded = ModelBundle.load(distributed.save(home / "dask_ltv_bundle"))
    np.testing.assert_array_equal(reloaded.predict(test), distributed.predict(test))


def test_dask_trains_with_a_categorical_feature_no_row_holds(home: Path, client: object) -> None:
    """online_retail's log has no sales channel, so its categorical ``channel`` is empty in
    every row; distributed LightGBM's worker binning it died on that ("Socket recv error" on
    the other). The demo's churn rows with the channel emptied the same way train on Dask,
    within the tolerance of the in-process model on the same rows."""
    settings = load_settings(home=home, environ={"LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "100"})
    training = build_training_set(settings, "churn")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    parts = split.parts(training.frame.assign(**{c.CHANNEL: None}))
    common = _fit_arguments(training, split, load_settings(home=home, environ=few_rounds()))
    assert c.CHANNEL in training.feature_names
    local = fit_bundle("churn", parts["train"], parts["valid"], **common)
    distributed = fit_bundle_dask(
        "churn", parts["train"], parts["valid"], settings=settings, client=client, **common
    )
    assert distributed.categories[c.CHANNEL] == []  # still the bundle's categorical feature
    y = parts["test"][LABEL].to_numpy(dtype=float)
    auc = {
        name: evaluation.roc_auc(y, bundle.predict(parts["test"]))
        for name, bundle in (("local", local), ("dask", distributed))
    }
    assert abs(auc["dask"] - auc["local"]) <= METRIC_TOLERANCE, auc


def test_dask_trains_with_a_categorical_its_binning_sample_could_miss(
    home: Path, client: object
) -> None:
    """Each worker bins from a sample of ``bin_construct_sample_cnt`` rows of its partition, and
    one whose sample held no value of a categorical feature died as on a partition holding none
    (a segfault; the other worker: "Socket recv error"). A sample of 100 rows and the demo's
    churn with a channel in 16 rows: the workers now bin from every row of their partition."""
    settings = load_settings(home=home, environ={"LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "100"})
    training = build_training_set(settings, "churn")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    frame = training.frame.reset_index(drop=True)
    rare = frame.index.isin(frame.sample(16, random_state=0).index)
    parts = split.parts(frame.assign(**{c.CHANNEL: frame[c.CHANNEL].where(rare)}))
    common = _fit_arguments(training, split, load_settings(home=home, environ=few_rounds()))
    specs = common.pop("specs")
    small_sample = {
        task: spec.overridden({"bin_construct_sample_cnt": 100}) for task, spec in specs.items()
    }
    shares = [np.arange(part, len(parts["train"]), 2) for part in (0, 1)]
    held = [int(parts["train"][c.CHANNEL].iloc[rows].notna().sum()) for rows in shares]
    assert all(held) and min(len(rows) for rows in shares) > 2000, held  # each holds a few
    bundle = fit_bundle_dask(
        "churn",
        parts["train"],
        parts["valid"],
        settings=settings,
        client=client,
        specs=small_sample,
        **common,
    )
    assert bundle.categories[c.CHANNEL]  # binned as a categorical, by both workers
    assert (
        evaluation.roc_auc(
            parts["test"][LABEL].to_numpy(dtype=float), bundle.predict(parts["test"])
        )
        > 0.85
    )


def test_a_dask_refit_grows_its_trees_in_one_fit(
    home: Path, client: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A refit's number of trees is known (the evaluated booster's): it grew them in chunks
    of ``dask.rounds_per_chunk`` fits, each scoring every training row tree by tree, and on
    online_retail's churn (92,009 rows) that refit took 184 s of the Dask training's 213 s.
    Now one fit (lightgbm.dask says "Finding random open ports" once a fit)."""
    settings = load_settings(home=home, environ=few_rounds())
    training = build_training_set(settings, "churn")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    parts = split.parts(training.frame)
    common = _fit_arguments(training, split, settings)
    evaluated = fit_bundle("churn", parts["train"], parts["valid"], **common)
    trees = evaluated.booster.best_iteration
    chunked = load_settings(home=home, environ={"LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "10"})
    fit = functools.partial(fit_bundle_dask, settings=chunked, client=client, specs=common["specs"])
    caplog.set_level(logging.INFO, logger="lightgbm")
    refit = refit_recipe(evaluated, parts["train"], label=LABEL, data_window={}, seed=7, fit=fit)
    fits = [r for r in caplog.records if "Finding random open ports" in r.getMessage()]
    assert trees > 10 and len(fits) == 1, (trees, len(fits))
    assert refit.booster.current_iteration() == refit.booster.best_iteration == trees


def test_dask_trains_on_online_retail_within_the_tolerance(
    shared_data: Path, tmp_path: Path, client: object
) -> None:
    """Real data, imported as docs/datasets.md says: every 8th customer of online_retail (551
    customers, 49,238 invoice lines). Its categoricals are what distributed binning dies on:
    ``channel`` empty in every row, ``country`` of many values held by few rows each."""
    lines = pd.read_csv(shared_data / "online_retail/online_retail_transactions.csv.gz", dtype=str)
    some = lines[pd.to_numeric(lines["CustomerID"], errors="coerce") % 8 == 0]
    some.to_csv(tmp_path / "retail.csv", index=False)
    home = tmp_path / "workspace"
    prepare(
        home,
        ["import", "online-retail", str(tmp_path / "retail.csv")],
        ["features", "build", "--dataset", "online_retail"],
        ["features", "apply", "--dataset", "online_retail"],
    )
    # one Dask fit: few_rounds caps the trees at 100
    environ = {"LIFECYCLE_DATASET": "online_retail", "LIFECYCLE_DASK__ROUNDS_PER_CHUNK": "100"}
    environ |= few_rounds()
    settings = load_settings(home=home, environ=environ)
    training = build_training_set(settings, "churn")
    split = time_split(training.cutoffs, training.spec.horizon_days)
    parts = split.parts(training.frame)
    common = _fit_arguments(training, split, settings)
    local = fit_bundle("churn", parts["train"], parts["valid"], **common)
    distributed = fit_bundle_dask(
        "churn", parts["train"], parts["valid"], settings=settings, client=client, **common
    )
    assert distributed.categories[c.CHANNEL] == [] and len(distributed.categories["country"]) > 5
    y = parts["test"][LABEL].to_numpy(dtype=float)
    auc = {
        name: evaluation.roc_auc(y, bundle.predict(parts["test"]))
        for name, bundle in (("local", local), ("dask", distributed))
    }
    assert abs(auc["dask"] - auc["local"]) <= METRIC_TOLERANCE and auc["dask"] > 0.6, auc


def test_dask_training_gives_the_same_model_from_the_same_rows_and_seed(client: Any) -> None:
    """LightGBM's rank 0 was the worker Dask's ``who_has`` listed first, an order that changed
    from fit to fit, and each rank bins features from its own rows: the demo's churn grew 312
    to 421 trees run to run. Here the two partitions differ in content (odd rows on another
    scale), so the rank order shows in the model: six fits, one model."""
    rng = np.random.default_rng(0)
    odd = np.arange(4000) % 2  # the rows are dealt to the partitions in turn: odd rows in one
    x = pd.DataFrame({f"f{i}": rng.normal(size=4000) * (1 + 9 * odd) + 5 * odd for i in range(4)})
    y = pd.Series((x["f0"] + x["f1"] + rng.normal(size=4000) > 2.5).astype(float))
    spec = replace(model_specs(load_settings(environ={}))["churn"], num_boost_round=30)
    predictions = []
    for _ in range(6):
        x_dask, y_dask, categorical, _ = _dask_frames(x, y, [], client)
        booster = boost(
            client, x_dask, y_dask, None, None, spec.lgb_params(1), spec, categorical, 30
        )
        predictions.append(booster.predict(x.to_numpy()))
    assert booster.current_iteration() == 30
    differences = [float(np.abs(p - predictions[0]).max()) for p in predictions]
    assert differences == [0.0] * 6, differences


def test_a_categorical_feature_missing_from_one_partition_is_refused_in_one_line() -> None:
    matrix = pd.DataFrame({"recency": [1.0, 2.0, 3.0, 4.0], "country": [0.0, np.nan, 1.0, np.nan]})
    dealt = [np.array([0, 2]), np.array([1, 3])]
    with pytest.raises(TrainingError, match=r"'country' .* none in partition 2 of 2") as refused:
        _binnable_categorical(matrix, [1], dealt)
    assert "training.engine = local" in str(refused.value) and "\n" not in str(refused.value)
    assert _binnable_categorical(matrix, [1], [np.arange(4)]) == [1]
    assert _binnable_categorical(matrix.assign(country=np.nan), [1], dealt) == []


def test_validation_loss_matches_lightgbm_metrics() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0, 3.0])
    raw = np.array([-1.0, 0.5, 2.0, 0.0, 1.0])
    logloss = validation_loss({"objective": "binary", "metric": "binary_logloss"})
    p = 1 / (1 + np.exp(-raw[:4]))
    assert logloss(y[:4], raw[:4]) == pytest.approx(
        -np.mean(y[:4] * np.log(p) + (1 - y[:4]) * np.log(1 - p))
    )
    pinball = validation_loss({"objective": "quantile", "metric": "quantile", "alpha": 0.9})
    assert pinball(np.array([2.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx((0.9 + 0.1) / 2)
    tweedie = validation_loss({"objective": "tweedie", "metric": "tweedie"})
    assert np.isfinite(tweedie(y, raw))
    # Gamma deviance up to a term of the label only (LightGBM's gamma metric): least at the mean
    gamma = validation_loss({"objective": "gamma", "metric": "gamma"})
    spend = np.array([2.0, 5.0, 11.0])
    grid = np.linspace(0.0, 3.0, 301)
    best = grid[np.argmin([gamma(spend, np.full(3, r)) for r in grid])]
    assert best == pytest.approx(np.log(spend.mean()), abs=0.01)
    with pytest.raises(ValueError, match="no validation loss"):
        validation_loss({"objective": "lambdarank", "metric": "ndcg"})


def _champions_and_features(home: Path, churn_results: dict, tmp_path: Path) -> tuple:
    settings = load_settings(home=home, environ={})
    champions = load_champions(settings, cache=tmp_path / "models")
    assert champions.versions["churn"] == churn_results["local"].version
    features = latest_feature_rows(store_paths(settings))
    return champions, features


def test_dask_batch_scores_equal_in_process_scores(
    home: Path, churn_results: dict, client: object, tmp_path: Path
) -> None:
    champions, features = _champions_and_features(home, churn_results, tmp_path)
    features = features.sample(frac=1.0, random_state=1)  # any row order, kept as given
    expected = score_frame(champions, features)
    scored = score_partitioned(champions, features, client, partition_rows=300)
    assert len(scored) == len(features) == 2000
    # Reasons hold NaN feature values, and NaN != NaN inside lists: compare them as JSON text.
    pd.testing.assert_series_equal(
        scored.pop("reasons").map(json.dumps), expected.pop("reasons").map(json.dumps)
    )
    pd.testing.assert_frame_equal(scored, expected, check_exact=True)
    assert scored["churn_probability"].notna().sum() > 100


def test_dask_workers_compile_only_where_the_client_did(
    home: Path, churn_results: dict, client: object, tmp_path: Path
) -> None:
    """Below ``COMPILE_PAYS_ROWS`` the client predicts through LightGBM and explains with
    TreeSHAP tables; a cache that holds the champion's compiled trees (a server of the same
    workspace compiled them, perhaps while score-all ran) must not make the workers predict
    otherwise: their scores stay the client's to the last bit (review R of session 44)."""
    from lifecycle.compiled import champion_names
    from serving.distributed import same_trees

    settings = load_settings(home=home, environ={})
    champions, features = _champions_and_features(home, churn_results, tmp_path)
    names = champion_names(settings.dataset, champions.versions)
    churn = champions.bundles["churn"]
    assert not churn.compiled and churn.tabulate_reasons()
    server, _ = _champions_and_features(home, churn_results, tmp_path / "server")
    assert server.bundles["churn"].compile_trees(settings.workspace.compiled_dir, names["churn"])
    trees = same_trees(champions, settings.workspace.compiled_dir, names)
    assert trees["churn"][2:] == (False, True)  # the client: tables, no compiled trees
    expected = score_frame(champions, features, reasons=False)
    scored = score_partitioned(
        champions, features, client, partition_rows=300, reasons=False, trees=trees
    )
    pd.testing.assert_frame_equal(scored, expected, check_exact=True)


def test_dask_parquet_scoring_equals_in_process_scores(
    home: Path, churn_results: dict, client: object, tmp_path: Path
) -> None:
    champions, features = _champions_and_features(home, churn_results, tmp_path)
    features_path = tmp_path / "latest.parquet"
    features.to_parquet(features_path, index=False)
    done = score_parquet(champions, features_path, tmp_path / "scores", client, partition_rows=500)
    assert done["rows"] == 2000 and done["partitions"] >= 4
    scored = pd.read_parquet(tmp_path / "scores").sort_values(c.USER_ID, ignore_index=True)
    expected = score_frame(champions, features, reasons=False)
    expected = expected.sort_values(c.USER_ID, ignore_index=True)
    pd.testing.assert_frame_equal(scored, expected, check_exact=True, check_dtype=False)
    assert (scored.dtypes.drop(c.USER_ID) == expected.dtypes.drop(c.USER_ID)).all()


def test_score_all_on_dask_equals_in_process(
    home: Path, churn_results: dict, client: object
) -> None:
    """``serving.batch_engine = dask`` changes where batch scoring runs, not one value, with
    the champion's compiled trees too: the workers' copies left them behind and predicted
    through LightGBM (online_retail: 47 of 4,372 churn probabilities and 4,129 LTVs off by
    ~1e-12, the docs said exactly equal)."""
    from lifecycle import registry
    from serving.batch import score_all

    settings = load_settings(home=home, environ={})
    champions = load_champions(settings, cache=home / "champions")
    name = f"{registry.model_name(settings.dataset, 'churn')}-v{champions.versions['churn']}"
    # Only churn's (~4 s): score_all uses the compiled trees it finds cached, as on real data
    churn = champions.bundles["churn"]
    assert churn.compile_trees(settings.workspace.compiled_dir, name) == 1
    local = score_all(settings, write=False, allow_partial=True).scores
    env = {
        "LIFECYCLE_SERVING__BATCH_ENGINE": "dask",
        "LIFECYCLE_DASK__SCHEDULER": client.scheduler.address,
    }
    distributed = score_all(
        load_settings(home=home, environ=env), write=False, allow_partial=True
    ).scores
    assert len(local) > 1000
    assert local["churn_probability"].notna().sum() > 100
    reasons = [scores.pop("reasons").map(json.dumps) for scores in (local, distributed)]
    pd.testing.assert_series_equal(*reasons)  # NaN values inside lists: compared as JSON text
    pd.testing.assert_frame_equal(local, distributed, check_exact=True)


# Last in the module, its process started with the first test: see failed_then_next_fit.
# A worker failing with an error (not a crash) after LightGBM's workers connected: a gamma
# model and a negative spend in the second partition only, refused by LightGBM on that worker.
# Then the next fit on the same cluster, as a training on a scheduler's cluster would follow.
FAILED_THEN_NEXT_FIT = """
import dataclasses
import time
import numpy as np
import pandas as pd
from lifecycle.cluster import dask_client
from lifecycle.settings import load_settings
from training.distributed import _dask_frames, boost
from training.errors import TrainingError
from training.models import model_specs

if __name__ == "__main__":
    minute = {"LIFECYCLE_DASK__NETWORK_TIMEOUT_MINUTES": "1"}
    settings = load_settings(environ={"LIFECYCLE_DASK__SCHEDULER": "local:2"} | minute)
    spec = dataclasses.replace(model_specs(settings)["churn"], num_boost_round=10)
    params = spec.lgb_params(1) | {"objective": "gamma", "metric": "gamma"}
    x = pd.DataFrame({"recency": np.arange(400.0)})
    spend = pd.Series(1.0 + np.arange(400) % 3)
    with dask_client(settings) as client:
        for name, label in (("failing", spend.where(spend.index != 1, -1.0)), ("next", spend)):
            start = time.monotonic()
            x_dask, y_dask, _, _ = _dask_frames(x, label, [], client)
            timeout = settings.dask.network_timeout_minutes
            try:
                boost(client, x_dask, y_dask, None, None, params, spec, [], 10, timeout)
                print(f"{name}: trained in {time.monotonic() - start:.0f} s", flush=True)
            except TrainingError as error:
                print(f"{name}: {error}", flush=True)
"""


WAITED_TEST = "test_a_worker_failing_with_an_error_holds_the_cluster_only_for_the_network_timeout"


@pytest.fixture(scope="module", autouse=True)
def failed_then_next_fit(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen, Path] | None]:
    """FAILED_THEN_NEXT_FIT's process, started with the module's first test when its test is
    selected: ~60 s of its ~70 s are LightGBM's one-minute ``time_out`` (its least: whole
    minutes), idle, and waited beside the module's other tests rather than after them."""
    if not any(item.name == WAITED_TEST for item in request.session.items):
        yield None
        return
    folder = tmp_path_factory.mktemp("failed_then_next_fit")
    script = folder / "failed_then_next_fit.py"
    script.write_text(FAILED_THEN_NEXT_FIT)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    # Its output to files: a pipe nobody reads until the test could fill and stall it.
    with (folder / "stdout").open("w") as out, (folder / "stderr").open("w") as err:
        run = subprocess.Popen(
            [sys.executable, str(script)], env=env, stdout=out, stderr=err, start_new_session=True
        )
    yield run, folder
    if run.poll() is None:  # its test was not reached (a failure with -x, an interrupt)
        with contextlib.suppress(ProcessLookupError):  # its cluster's workers too
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def test_a_worker_failing_with_an_error_holds_the_cluster_only_for_the_network_timeout(
    failed_then_next_fit: tuple[subprocess.Popen, Path],
) -> None:
    """One worker's Python-level error left the other waiting on it in LightGBM's network for
    LightGBM's ``time_out``, 120 minutes, holding its thread: on a cluster that outlives the
    command (a scheduler's), the next training waited behind it. Now
    ``dask.network_timeout_minutes`` bounds it (1 here: the next fit trains after a minute)."""
    run, folder = failed_then_next_fit
    run.wait(timeout=300)
    stdout = (folder / "stdout").read_text()
    assert len(stdout.splitlines()) == 2, stdout + (folder / "stderr").read_text()[-2000:]
    failing, following = stdout.splitlines()
    assert failing.startswith("failing: Dask training: LightGBM failed on the cluster ([gamma]")
    trained = re.fullmatch(r"next: trained in (\d+) s", following)
    assert trained and int(trained.group(1)) < 150, stdout
