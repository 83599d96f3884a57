"""An LTV blended with BG/NBD + Gamma-Gamma (training.combination): the weight the test rows
choose, and a blended bundle that predicts, saves, loads and serves as one model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from workspaces import TrainedWorkspace

from lifecycle.bundle import QUANTILES, blend_values
from lifecycle.maths import FLOATS
from lifecycle.mixture import zero_below
from training.combination import BLEND_RULE, WEIGHTS, choose_blend

GINI = "normalized_gini"


def halves(rng: np.random.Generator, n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A zero-inflated value, the product of two parts: each forecast below sees one part."""
    first, second = rng.gamma(2.0, 1.0, n), rng.gamma(2.0, 1.0, n)
    return first * second * (rng.random(n) < 0.4), first, second


def test_two_forecasts_that_each_miss_a_part_are_blended() -> None:
    y, first, second = halves(np.random.default_rng(3))
    ours, rule = 0.4 * first * second.mean(), 0.4 * second * first.mean()
    chosen = choose_blend("ltv", y, {"lightgbm": ours, BLEND_RULE: rule}, GINI)
    assert chosen is not None and chosen.weight in WEIGHTS
    assert set(chosen.tried) == {"1", *(f"{w:g}" for w in WEIGHTS)}
    assert chosen.tried[f"{chosen.weight:g}"] > chosen.tried["1"]  # better than LightGBM alone
    assert chosen.to_dict()["rule"] == BLEND_RULE


def test_a_rule_that_adds_nothing_leaves_lightgbm_alone() -> None:
    rng = np.random.default_rng(4)
    y, first, second = halves(rng)
    ours = 0.4 * first * second  # the whole signal
    rule = rng.permutation(ours)  # the same values, unrelated to anyone's outcome
    chosen = choose_blend("ltv", y, {"lightgbm": ours, BLEND_RULE: rule}, GINI)
    assert chosen is not None and chosen.weight == 1.0
    # equal forecasts tie everywhere: ties go to LightGBM's larger share
    tied = choose_blend("ltv", y, {"lightgbm": ours, BLEND_RULE: ours.copy()}, GINI)
    assert tied is not None and tied.weight == 1.0


def test_no_rule_no_blend() -> None:
    y = np.array([0.0, 1.0, 2.0, 0.0])
    assert choose_blend("ltv", y, {"lightgbm": y}, GINI) is None
    broken = {"lightgbm": y, BLEND_RULE: np.array([0.0, np.nan, 1.0, 2.0])}
    assert choose_blend("ltv", y, broken, GINI) is None
    assert np.allclose(blend_values(0.75, np.array([4.0]), np.array([8.0])), [5.0])


def test_a_quantile_is_zero_where_no_value_is_at_least_that_likely() -> None:
    """The q-quantile of a value that is 0 with probability 1 - p is 0 wherever q <= 1 - p,
    on arrays and on one row's floats alike; above that the quantile is kept."""
    purchase = np.array([0.07, 0.5, 0.85, 0.95, np.nan])
    quantiles = [np.full(5, 10.0), np.full(5, 20.0), np.full(5, 30.0)]
    got = np.column_stack(zero_below(purchase, quantiles, QUANTILES))
    want = [[0, 0, 0], [0, 0, 30], [0, 20, 30], [10, 20, 30], [10, 20, 30]]
    assert np.array_equal(got, np.array(want, dtype=float))
    for row, p in enumerate(purchase):
        floats = zero_below(float(p), [10.0, 20.0, 30.0], QUANTILES, FLOATS)
        assert floats == got[row].tolist()


@pytest.fixture(scope="module")
def blend_of(scorer: Any, trained_workspace: TrainedWorkspace) -> Any:
    """The shared workspace's LTV champion and the same model blended 3:1 with a BG/NBD +
    Gamma-Gamma rule fitted on the latest cutoff's users, and those users' features."""
    from features.store import store_paths
    from lifecycle.rules import fit_rule

    # the champion itself may be blended (the test rows chose it): start from LightGBM alone
    ltv = replace(scorer.state.champions.bundles["ltv"], blend=None, blend_weight=1.0)
    table = pd.read_parquet(store_paths(trained_workspace.settings()).feature_table)
    latest = table[table["as_of"] == table["as_of"].max()].reset_index(drop=True)
    rule = fit_rule(
        BLEND_RULE, "ltv", latest, ltv.feature_names, horizon_days=365, windows=[7, 30, 90, 365]
    )
    return ltv, replace(ltv, blend=rule, blend_weight=0.75), latest


def test_a_blended_bundle_predicts_saves_and_loads_as_one_model(
    blend_of: Any, tmp_path: Path
) -> None:
    from lifecycle.bundle import ModelBundle

    alone, blend, rows = blend_of
    X = alone.encode(rows)
    rule = blend.blend.predict(X)
    assert np.ptp(rule) > 0 and not np.allclose(rule, alone.predict_matrix(X))
    want = 0.75 * alone.predict_matrix(X) + 0.25 * rule
    assert np.array_equal(blend.predict_matrix(X), want)
    outlook, own = blend.value_outlook_matrix(X), alone.value_outlook_matrix(X)
    assert np.array_equal(outlook[:, 0], want)  # the value is the blend's
    # So is each quantile, with the same weights (the rule's exact P10-P90), except that the
    # q-quantile is 0 where the served P(any value) p has q <= 1 - p (the rule's part buys
    # more often: its quantiles alone made a P10 above 0 beside P(any) 0.07); the interval
    # holds the blended value wherever each part's interval holds its own; P(any) is kept.
    rules = blend.blend.value_outlook(X)[:, :3]
    assert blend.blends_interval and not alone.blends_interval
    mean = 0.75 * own[:, 1:4] + 0.25 * rules
    no_value = np.array(QUANTILES)[None, :] <= 1.0 - own[:, 4:5]
    assert (no_value & (mean > 0)).any()  # the case this rule is for, at P10 at least
    assert np.allclose(outlook[:, 1:4], np.where(no_value, 0.0, mean), rtol=0, atol=1e-9)
    assert np.allclose(blend.interval_matrix(X), outlook[:, 1:4], rtol=0, atol=1e-9)
    assert (np.diff(outlook[:, 1:4], axis=1) >= 0).all()
    held = (own[:, 1] <= own[:, 0]) & (own[:, 0] <= own[:, 3])
    held &= (rules[:, 0] <= rule) & (rule <= rules[:, 2])
    assert held.any()
    inside = (outlook[:, 1] <= want + 1e-9) & (want <= outlook[:, 3] + 1e-9)
    assert inside[held].all()
    assert np.array_equal(outlook[:, 4], own[:, 4], equal_nan=True)
    assert (alone.kind, blend.kind) == ("lightgbm", f"lightgbm+{BLEND_RULE}")

    loaded = ModelBundle.load(blend.save(tmp_path / "bundle"))
    assert loaded.kind == blend.kind and loaded.blend_weight == 0.75
    assert np.array_equal(loaded.value_outlook_matrix(X), outlook, equal_nan=True)
    assert json.loads((tmp_path / "bundle" / "bundle.json").read_text())["blend_weight"] == 0.75
    plain = ModelBundle.load(alone.save(tmp_path / "alone"))
    assert plain.blend is None and not (tmp_path / "alone" / "blend").exists()


def test_a_blended_value_answers_alike_on_either_path(
    blend_of: Any, scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    """The float path of a few users and the array path, to the bit (the value and its
    interval, both blended), and /models says so."""
    from serving import rowpath
    from serving.batch import read_scores
    from serving.hotpath import online_matrix
    from serving.scorer import _python_values
    from serving.scoring import score_matrix

    _, blend, _ = blend_of
    state = scorer.state
    champions = replace(state.champions, bundles={**state.champions.bundles, "ltv": blend})
    ids = read_scores(trained_workspace.scores_path).frame["user_id"].astype(str).tolist()[:64]
    matrix = online_matrix(state.store, state.layout, state.fetch, champions, ids)
    models = rowpath.row_models(champions)
    compared = 0
    for start in range(0, len(ids), rowpath.MAX_ROWS):
        few = matrix.take(np.arange(start, min(start + rowpath.MAX_ROWS, len(ids))))
        want = {
            k: _python_values(v) for k, v in score_matrix(champions, few, reasons=False).items()
        }
        got = rowpath.score_rows(champions, models, few, reasons=False)
        assert json.dumps(got, default=repr) == json.dumps(want, default=repr)
        compared += sum(v is not None for v in got["ltv_p10"])
    assert compared > 0
    scorer.state = replace(state, champions=champions, row_models=models)
    try:
        answer = scorer.score(ids[:3])
        assert answer.model_kinds["ltv"] == f"lightgbm+{BLEND_RULE}"
        assert {m.task: m.kind for m in scorer.models().models}["ltv"] == answer.model_kinds["ltv"]
    finally:
        scorer.state = state


def test_a_blended_request_checks_the_purchase_history_once(
    blend_of: Any, scorer: Any, trained_workspace: TrainedWorkspace, monkeypatch: Any
) -> None:
    """The float path of a blended value checks a request's purchase histories once, in the
    rule's interval: the rule's value is worked out on floats, not by the rule's predict
    (whose expected purchases and Gamma-Gamma spend each checked them again as arrays)."""
    from lifecycle import btyd
    from serving import rowpath
    from serving.batch import read_scores
    from serving.hotpath import online_matrix

    _, blend, _ = blend_of
    state = scorer.state
    champions = replace(state.champions, bundles={**state.champions.bundles, "ltv": blend})
    ids = read_scores(trained_workspace.scores_path).frame["user_id"].astype(str).tolist()[:3]
    matrix = online_matrix(state.store, state.layout, state.fetch, champions, ids)
    models = rowpath.row_models(champions)
    checked = []
    original = btyd._as_arrays
    monkeypatch.setattr(btyd, "_as_arrays", lambda **named: checked.append(1) or original(**named))
    rowpath.score_rows(champions, models, matrix, reasons=False)
    assert len(checked) == 1  # the code before: 3 (the rule's value twice, its interval)


def test_training_registers_the_blend_the_test_rows_chose(
    scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    """The shared workspace's LTV training: the weights tried on its test rows, the one kept,
    the rule served with it fitted on the latest cutoff's users, and the registry saying so."""
    from features.store import store_paths
    from lifecycle import registry

    result = trained_workspace.results["ltv"]
    bundle = scorer.state.champions.bundles["ltv"]
    chosen = bundle.data_window["blend"]
    tried = chosen["tried"]
    assert chosen["rule"] == BLEND_RULE and chosen["metric"] == result.gate_metric
    assert set(tried) == {"1", *(f"{w:g}" for w in WEIGHTS)}
    best = max(tried.values())
    assert tried[f"{chosen['weight']:g}"] == best
    assert all(
        float(w) <= chosen["weight"] for w, v in tried.items() if v == best
    )  # ties: more LightGBM
    # this seeded demo's test rows prefer a blend, so the branch that serves one is exercised
    assert chosen["weight"] < 1.0 and bundle.blend_weight == chosen["weight"]
    assert bundle.blend is not None and bundle.kind == f"lightgbm+{BLEND_RULE}"
    # measured as served: the recorded gate metric is the blend's
    assert result.metrics["lightgbm"][result.gate_metric] == best
    assert result.to_dict()["blend"] == chosen  # `train --json` and the run's words say so
    said = [line for line in result.lines() if "LightGBM alone" in line]
    assert len(said) == 1 and f"{BLEND_RULE}'s" in said[0] and f"{tried['1']:.4f}" in said[0]
    table = pd.read_parquet(store_paths(trained_workspace.settings()).feature_table)
    assert bundle.data_window["rule_fitted_on"]["cutoff"] == f"{table['as_of'].max():%Y-%m-%d}"
    client = registry.client(trained_workspace.settings())
    version = client.get_model_version(result.model_name, result.version)
    assert version.tags["kind"] == bundle.kind
    # the run's lightgbm.* metrics are the blend's; each share tried is logged beside them
    logged = client.get_run(result.run_id).data.metrics
    assert logged[f"lightgbm.{result.gate_metric}"] == pytest.approx(best)
    for share, value in tried.items():
        assert logged[f"lightgbm_share_{share}.{result.gate_metric}"] == pytest.approx(value)


def test_the_line_of_a_blend_says_it_is_one_and_each_share() -> None:
    """Session 58, `./run main --users 1500`: `lightgbm above is LightGBM's value 50% and
    bgnbd_gamma_gamma's 50%` read as LightGBM's value halved; the line says it is a blend."""
    from training.combination import Blend

    blend = Blend(0.75, "normalized_gini", {"1": 0.9059, "0.75": 0.9206, "0.5": 0.91})
    assert blend.lines() == [
        "  lightgbm above is a blend: 75% LightGBM's value and 25% bgnbd_gamma_gamma's "
        "(normalized_gini 0.9206; LightGBM alone 0.9059)"
    ]
    assert Blend(1.0, "normalized_gini", {"1": 0.9}).lines() == []
