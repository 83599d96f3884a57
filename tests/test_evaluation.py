"""Evaluation metrics against scikit-learn / scipy and hand-computed values; plots render."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training import evaluation as ev
from training import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def simulated_probabilities(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.uniform(0, 1, n)
    return rng.binomial(1, p).astype(float), p


# --- classification -----------------------------------------------------------------------


def test_classification_metrics_match_sklearn(rng: np.random.Generator) -> None:
    y, p = simulated_probabilities(rng, 2_000)
    noisy = np.clip(p + rng.normal(0, 0.2, p.size), 0, 1)
    metrics = ev.classification_metrics(y, noisy)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, noisy))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, noisy))
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, noisy))
    assert metrics["n"] == 2_000
    assert metrics["positives"] == y.sum()
    assert metrics["base_rate"] == pytest.approx(y.mean())
    assert metrics["lift_top_decile"] == pytest.approx(metrics["capture_top_decile"] / 0.1)


def twenty_rows() -> tuple[np.ndarray, np.ndarray]:
    # 5 positives in 20 rows (base rate 0.25); the two highest scores are rows 0 and 1.
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    score = np.linspace(0.95, 0.0, 20)
    return y, score


def test_lift_and_capture_by_hand() -> None:
    y, score = twenty_rows()
    # Top decile = 2 rows (rows 0, 1): 1 positive -> rate 0.5, lift 0.5 / 0.25 = 2, capture 1/5.
    metrics = ev.classification_metrics(y, score)
    assert metrics["lift_top_decile"] == pytest.approx(2.0)
    assert metrics["capture_top_decile"] == pytest.approx(0.2)
    # Top 20% = 4 rows (0..3): 2 positives -> capture 0.4.
    assert ev.capture_at(y, score, 0.2) == pytest.approx(0.4)
    assert ev.lift_at(y, score, 0.2) == pytest.approx(2.0)


def test_ties_at_the_cut_are_shared_and_order_free(rng: np.random.Generator) -> None:
    y, score = twenty_rows()
    # Rows 0, 1, 2 tie at the top (positives 1, 0, 1): the 2-row top decile takes 2/3 of the
    # group's 2 positives = 4/3; capture (4/3) / 5, lift (4/3 / 2) / 0.25 = 8/3.
    tied = score.copy()
    tied[:3] = 0.99
    assert ev.capture_at(y, tied) == pytest.approx(4 / 15)
    assert ev.lift_at(y, tied) == pytest.approx(8 / 3)
    shuffle = rng.permutation(y.size)
    assert ev.lift_at(y[shuffle], tied[shuffle]) == pytest.approx(8 / 3)


def test_constant_score_gives_lift_one_and_capture_a_tenth(rng: np.random.Generator) -> None:
    y, _ = simulated_probabilities(rng, 1_003)
    metrics = ev.classification_metrics(y, np.full(y.size, 0.3))
    assert metrics["lift_top_decile"] == pytest.approx(1.0)
    assert metrics["capture_top_decile"] == pytest.approx(0.1)
    assert metrics["auc"] == pytest.approx(0.5)
    gains = ev.gain_table(y, np.zeros(y.size))
    np.testing.assert_allclose(gains["cumulative_gain"], gains["population_share"])
    np.testing.assert_allclose(gains["bin_lift"], 1.0)


def test_ece_by_hand() -> None:
    p = np.array([0.1, 0.1, 0.2, 0.2, 0.4, 0.6, 0.6, 0.8, 0.8, 1.0])
    y = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 1], dtype=float)
    # Bin 1: mean p 0.2, observed 0.6 (gap 0.4); bin 2: mean p 0.76, observed 0.8 (gap 0.04).
    table = ev.calibration_table(y, p, bins=2)
    assert table["bin"].tolist() == [1, 2]
    assert table["count"].tolist() == [5, 5]
    np.testing.assert_allclose(table["mean_predicted"], [0.2, 0.76])
    np.testing.assert_allclose(table["observed_rate"], [0.6, 0.8])
    assert ev.expected_calibration_error(y, p, bins=2) == pytest.approx(0.22)


def test_calibration_table_keeps_ties_in_one_bin() -> None:
    p = np.array([0.2] * 6 + [0.9] * 4)
    y = np.array([0, 1, 0, 0, 1, 0, 1, 1, 0, 1], dtype=float)
    table = ev.calibration_table(y, p, bins=10)
    assert table["count"].tolist() == [6, 4]
    # ECE = 0.6 * |0.2 - 2/6| + 0.4 * |0.9 - 3/4|
    assert ev.expected_calibration_error(y, p) == pytest.approx(0.6 * (2 / 6 - 0.2) + 0.4 * 0.15)


def test_calibrated_model_has_small_ece_and_miscalibrated_large(
    rng: np.random.Generator,
) -> None:
    y, p = simulated_probabilities(rng, 100_000)
    calibrated = ev.expected_calibration_error(y, p)
    miscalibrated = ev.expected_calibration_error(y, p**2)
    assert calibrated < 0.02
    assert miscalibrated > 0.1
    table = ev.calibration_table(y, p)
    assert len(table) == 10
    assert table["count"].sum() == y.size
    assert table["count"].min() == table["count"].max() == 10_000


def test_gain_table_matches_hand_values() -> None:
    y, score = twenty_rows()
    gains = ev.gain_table(y, score, bins=10)
    assert len(gains) == 10
    # Positives at rows 0, 2, 5, 9, 14 -> bins 1, 2, 3, 5, 8.
    np.testing.assert_allclose(
        gains["cumulative_gain"], [0.2, 0.4, 0.6, 0.6, 0.8, 0.8, 0.8, 1.0, 1.0, 1.0]
    )
    np.testing.assert_allclose(gains["bin_lift"], [2, 2, 2, 0, 2, 0, 0, 2, 0, 0])
    assert gains["cumulative_lift"].iloc[0] == pytest.approx(2.0)
    assert gains["cumulative_lift"].iloc[-1] == pytest.approx(1.0)


# --- LTV ----------------------------------------------------------------------------------


def reference_gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """The common Kaggle formulation, valid when predictions have no ties."""

    def gini(order_by: np.ndarray) -> float:
        ordered = actual[np.argsort(-order_by)]
        return ordered.cumsum().sum() / ordered.sum() - (actual.size + 1) / 2

    return gini(pred) / gini(actual)


def ltv_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    # Zero-inflated, heavy-tailed revenue and a prediction correlated with it.
    signal = rng.normal(size=n)
    actual = np.where(rng.uniform(size=n) < 0.6, 0.0, np.exp(signal + rng.normal(size=n)))
    return actual, np.exp(signal)


def test_normalized_gini_perfect_random_reversed(rng: np.random.Generator) -> None:
    actual = rng.gamma(1.0, 50.0, 20_000)
    assert ev.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert ev.normalized_gini(actual, 2 * actual + 3) == pytest.approx(1.0)
    assert ev.normalized_gini(actual, -actual) == pytest.approx(-1.0)
    assert abs(ev.normalized_gini(actual, rng.uniform(size=actual.size))) < 0.03
    assert ev.normalized_gini(actual, np.ones(actual.size)) == pytest.approx(0.0)


def test_normalized_gini_matches_reference_and_ignores_tie_order(
    rng: np.random.Generator,
) -> None:
    actual, pred = ltv_sample(rng, 3_000)
    assert ev.normalized_gini(actual, pred) == pytest.approx(reference_gini(actual, pred))
    coarse = np.round(pred, 1)  # many ties
    shuffle = rng.permutation(actual.size)
    assert ev.normalized_gini(actual, coarse) == pytest.approx(
        ev.normalized_gini(actual[shuffle], coarse[shuffle])
    )


def test_ltv_metrics_values(rng: np.random.Generator) -> None:
    actual, pred = ltv_sample(rng, 5_000)
    metrics = ev.ltv_metrics(actual, pred)
    assert metrics["spearman"] == pytest.approx(spearmanr(actual, pred).statistic)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(pred - actual)))
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((pred - actual) ** 2)))
    assert metrics["total_error"] == pytest.approx(pred.sum() - actual.sum())
    assert metrics["total_error_pct"] == pytest.approx(pred.sum() / actual.sum() - 1)
    assert metrics["zero_share"] == pytest.approx(np.mean(actual == 0))
    assert metrics["n"] == 5_000
    assert 0.2 < metrics["normalized_gini"] < 1.0


def test_ltv_metrics_small_hand_example() -> None:
    metrics = ev.ltv_metrics([0.0, 10.0, 30.0, 0.0], [5.0, 5.0, 20.0, 2.0])
    assert metrics["mae"] == pytest.approx((5 + 5 + 10 + 2) / 4)
    assert metrics["total_error"] == pytest.approx(32 - 40)
    assert metrics["total_error_pct"] == pytest.approx(-0.2)
    assert metrics["mean_actual"] == pytest.approx(10.0)
    assert metrics["mean_predicted"] == pytest.approx(8.0)
    assert metrics["zero_share"] == pytest.approx(0.5)
    assert ev.spearman([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]) == 0.0


def test_decile_table_shape_and_order(rng: np.random.Generator) -> None:
    actual, pred = ltv_sample(rng, 1_005)
    table = ev.decile_table(actual, pred)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["count"].sum() == 1_005
    assert table["count"].max() - table["count"].min() <= 1
    assert table["mean_predicted"].is_monotonic_decreasing
    assert table["mean_predicted"].iloc[0] == table["mean_predicted"].max()
    assert table["share_of_actual"].sum() == pytest.approx(1.0)
    assert table["mean_actual"].iloc[0] > table["mean_actual"].iloc[-1]


def test_interval_coverage_by_hand() -> None:
    y = [1.0, 5.0, 10.0, 0.0, 3.0]
    lower = [0.0, 6.0, 2.0, 0.0, 3.0]
    upper = [2.0, 9.0, 10.0, 1.0, 4.0]
    # Inside (bounds inclusive): rows 0, 2, 3, 4; row 1 is below its interval.
    assert ev.interval_coverage(y, lower, upper) == pytest.approx(0.8)
    with pytest.raises(ValueError, match=r"lower > upper in 1 of 2 rows"):
        ev.interval_coverage([1.0, 2.0], [0.0, 3.0], [2.0, 1.0])


def test_interval_shares_by_hand() -> None:
    y = [1.0, 5.0, 10.0, 0.0, 3.0]
    lower = [0.0, 6.0, 2.0, 0.5, 3.0]
    upper = [2.0, 9.0, 9.0, 1.0, 4.0]
    # Below: rows 1 and 3; above: row 2; inside (bounds inclusive): rows 0 and 4.
    shares = ev.interval_shares(y, lower, upper)
    assert shares == pytest.approx({"below": 0.4, "inside": 0.4, "above": 0.2})
    # a crossed interval is refused, not counted (below 1.0 / inside -1.0 / above 1.0)
    with pytest.raises(ValueError, match=r"lower > upper in 2 of 2 rows \(first at position 0"):
        ev.interval_shares([1.0, 2.0], [5.0, 5.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"lower > upper in 1 of 2 rows"):
        ev.interval_shares([0.0, 2.0], [0.0, 3.0], [1.0, 1.0], zero_probability=[0.5, 0.5])


def test_roc_auc_matches_sklearn_with_ties(rng: np.random.Generator) -> None:
    y, p = simulated_probabilities(rng, 1_000)
    tied = np.round(p, 1)  # many ties
    assert ev.roc_auc(y, tied) == pytest.approx(roc_auc_score(y, tied))
    with pytest.raises(ValueError, match=r"single class"):
        ev.roc_auc(np.ones(5), np.linspace(0, 1, 5))


def test_paired_bootstrap_interval_brackets_the_difference(rng: np.random.Generator) -> None:
    y, p = simulated_probabilities(rng, 600)
    noisy = np.clip(p + rng.normal(0, 0.5, p.size), 0, 1)
    found = ev.paired_bootstrap(
        ev.roc_auc, y, p, {"noisy": noisy, "same": p}, resamples=300, seed=1
    )
    better = found["noisy"]
    assert better["difference"] == pytest.approx(ev.roc_auc(y, p) - ev.roc_auc(y, noisy))
    assert 0 < better["low"] <= better["difference"] <= better["high"]  # excludes zero
    assert found["same"] == {"difference": 0.0, "low": 0.0, "high": 0.0, "resamples": 300.0}
    again = ev.paired_bootstrap(ev.roc_auc, y, p, {"noisy": noisy}, resamples=300, seed=1)
    assert again["noisy"] == better  # seeded: the same draws
    with pytest.raises(ValueError, match=r"resamples must be a positive integer"):
        ev.paired_bootstrap(ev.roc_auc, y, p, {"noisy": noisy}, resamples=0)


def test_paired_bootstrap_skips_draws_where_the_metric_is_undefined() -> None:
    y = np.array([1.0] + [0.0] * 9)  # many draws miss the one positive
    score = np.linspace(1, 0, 10)
    found = ev.paired_bootstrap(ev.roc_auc, y, score, {"flat": np.zeros(10)}, resamples=100)
    assert 0 < found["flat"]["resamples"] < 100


@pytest.mark.parametrize("metric", [ev.roc_auc, ev.spearman, ev.normalized_gini])
def test_paired_bootstrap_at_once_equals_one_draw_at_a_time(
    metric: Callable[..., float], rng: np.random.Generator
) -> None:
    """The multiplicity path (training.resampled) gives the draws, skips and differences of
    drawing rows and calling the metric per draw (a wrapper the fast path does not know)."""
    rows = 12  # 2 buyers: about 1 draw in 9 holds none (a single class, equal values): skipped
    bought = np.isin(np.arange(rows), rng.choice(rows, 2, replace=False))
    target = (
        bought.astype(float)
        if metric is ev.roc_auc
        else np.where(bought, np.round(rng.gamma(1, 5, rows)), 0.0)
    )
    score = np.round(rng.random(rows) * 4)  # heavy ties
    others = {"tied": np.round(rng.random(rows) * 2), "flat": np.zeros(rows), "same": score}
    fast = ev.paired_bootstrap(metric, target, score, others, resamples=200, seed=5)
    slow = ev.paired_bootstrap(
        lambda y, s: metric(y, s), target, score, others, resamples=200, seed=5
    )
    assert fast.keys() == slow.keys()
    for name in others:
        assert fast[name]["resamples"] == slow[name]["resamples"], name
        for key in ("difference", "low", "high"):
            assert fast[name][key] == pytest.approx(slow[name][key], abs=1e-12), (name, key)
    if metric is not ev.spearman:  # Spearman is 0, not undefined, on a constant side
        assert fast["tied"]["resamples"] < 200  # the skipping was exercised


@pytest.mark.parametrize("metric", [ev.roc_auc, ev.spearman, ev.normalized_gini])
def test_paired_bootstrap_over_several_batches_equals_one_draw_at_a_time(
    metric: Callable[..., float], rng: np.random.Generator
) -> None:
    """With more rows than one batch of draws holds (about 1M row weights), every batch is
    scored with the sorts made once and the target's side of its own draws, not a batch's
    before it: the same intervals as drawing rows one draw at a time."""
    rows = 25_000  # 40 draws a batch: 60 draws are two batches, the second one smaller
    bought = rng.random(rows) < 0.2
    target = (
        bought.astype(float)
        if metric is ev.roc_auc
        else np.where(bought, np.round(rng.gamma(1, 5, rows)), 0.0)
    )
    score = np.round(rng.random(rows) * 50)
    others = {"tied": np.round(rng.random(rows) * 5), "noisy": score + rng.random(rows)}
    fast = ev.paired_bootstrap(metric, target, score, others, resamples=60, seed=2)
    slow = ev.paired_bootstrap(
        lambda y, s: metric(y, s), target, score, others, resamples=60, seed=2
    )
    for name in others:
        assert fast[name]["resamples"] == slow[name]["resamples"] == 60, name
        for key in ("difference", "low", "high"):
            assert fast[name][key] == pytest.approx(slow[name][key], abs=1e-12), (name, key)


# --- errors -------------------------------------------------------------------------------


def test_single_class_is_rejected_with_counts() -> None:
    with pytest.raises(ValueError, match=r"single class \(0 positives, 12 negatives in 12 rows\)"):
        ev.classification_metrics(np.zeros(12), np.linspace(0, 1, 12))
    with pytest.raises(ValueError, match=r"3 positives, 0 negatives"):
        ev.calibration_table([1, 1, 1], [0.2, 0.5, 0.9])


def test_nan_and_length_mismatch_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"p has 2 NaN and 0 infinite values out of 4"):
        ev.classification_metrics([0, 1, 0, 1], [0.1, np.nan, 0.3, np.nan])
    with pytest.raises(ValueError, match=r"y_true has 1 NaN"):
        ev.ltv_metrics(pd.Series([1.0, None, 2.0]), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"y_true has 3 values but p has 2"):
        ev.classification_metrics([0, 1, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match=r"y_true has 2 values but pred has 3"):
        ev.ltv_metrics([1.0, 2.0], [1.0, 2.0, 3.0])


def test_other_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"must be 0/1"):
        ev.classification_metrics([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        ev.classification_metrics([0, 1], [-0.5, 1.5])
    with pytest.raises(ValueError, match=r"all 3 actual values are equal"):
        ev.normalized_gini([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])


# --- comparison ---------------------------------------------------------------------------


def test_compare_marks_best_and_sorts() -> None:
    metrics = {
        "recency_baseline": {"auc": 0.70, "brier": 0.20},
        "lightgbm": {"auc": 0.81, "brier": 0.15},
        "constant": {"auc": 0.50, "brier": 0.25},
    }
    by_auc = ev.compare(metrics, primary="auc", higher_is_better=True)
    assert by_auc.index.tolist() == ["lightgbm", "recency_baseline", "constant"]
    assert by_auc["best"].tolist() == [True, False, False]
    assert list(by_auc.columns) == ["auc", "brier", "best"]
    by_brier = ev.compare(metrics, primary="brier", higher_is_better=False)
    assert by_brier.index[0] == "lightgbm"
    assert by_brier.loc["lightgbm", "best"]
    metrics["lightgbm"]["ece"] = 0.01
    with pytest.raises(
        ValueError, match=r"'ece' is missing for models \['recency_baseline', 'constant'\]"
    ):
        ev.compare(metrics, primary="ece", higher_is_better=False)


# --- plots --------------------------------------------------------------------------------


def drawn_artists(fig: Figure) -> int:
    return sum(len(ax.lines) + len(ax.patches) + len(ax.collections) for ax in fig.axes)


def test_plots_return_figures_with_data_and_save_png(
    rng: np.random.Generator, tmp_path: Path
) -> None:
    y, p = simulated_probabilities(rng, 2_000)
    actual, pred = ltv_sample(rng, 2_000)
    figures = {
        "calibration": plots.calibration_plot(y, {"model": p, "squared": p**2}),
        "gain": plots.gain_plot(y, {"model": p, "random": rng.uniform(size=y.size)}),
        "ltv_gain": plots.gain_plot(actual, {"model": pred}, value_label="revenue"),
        "deciles": plots.decile_plot(actual, {"model": pred, "mean": np.full(pred.size, 1.0)}),
        "importance": plots.importance_plot(
            [f"feature_{i}" for i in range(30)], rng.uniform(size=30), top=20
        ),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert drawn_artists(fig) > 0, name
        assert any(ax.get_title() for ax in fig.axes), name
        path = plots.save(fig, tmp_path / "plots" / f"{name}.png")
        content = path.read_bytes()
        assert content.startswith(PNG_SIGNATURE), name
        assert len(content) > 1_000, name
        # Drawn once, it is the very file matplotlib's savefig writes (which draws twice).
        fig.savefig(tmp_path / f"{name}-savefig.png", format="png", dpi=plots.DPI)
        assert content == (tmp_path / f"{name}-savefig.png").read_bytes(), name
    importance_ax = figures["importance"].axes[0]
    assert len(importance_ax.patches) == 20


def test_importance_plot_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"names has 2 entries but importances has 3"):
        plots.importance_plot(["a", "b"], [1.0, 2.0, 3.0])
