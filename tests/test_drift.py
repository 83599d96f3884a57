"""Drift: PSI and the two-sample tests on known distributions, and `lifecycle monitor` on a
trained demo workspace before and after a documented shift of one channel's users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from experiment_runs import run_experiment
from scipy.stats import norm
from workspaces import TrainedWorkspace, copy_workspace

from features.asof import WORDS_ONLY, words_only
from serving.drift import (
    ColumnDrift,
    Thresholds,
    beyond_usual,
    categorical_psi,
    chi_square_test,
    column_drift,
    ks_test,
    numeric_psi,
    quantile_edges,
    smallest_significant_effect,
    verdict,
)

# -- PSI and the tests on known distributions ---------------------------------------------


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    values = np.random.default_rng(0).gamma(2.0, 3.0, 5000)
    assert numeric_psi(values, values) == 0.0
    assert categorical_psi(pd.Series(["a", "b", "b"]), pd.Series(["b", "a", "b"])) == 0.0


def test_psi_of_a_mean_shift_matches_the_normal_distribution() -> None:
    """N(0, 1) against N(0.5, 1) over the reference's deciles: the exact bin shares come from
    the normal CDF at the decile edges, so the sampled PSI must land on the analytic one."""
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 200_000), rng.normal(0.5, 1, 200_000)
    edges = norm.ppf(np.linspace(0, 1, 11)[1:-1])
    r = np.diff(np.concatenate([[0.0], norm.cdf(edges), [1.0]]))
    c = np.diff(np.concatenate([[0.0], norm.cdf(edges - 0.5), [1.0]]))
    analytic = float(np.sum((c - r) * np.log(c / r)))
    assert analytic == pytest.approx(0.23, abs=0.01)  # just under the usual 0.25 alarm
    assert numeric_psi(reference, current) == pytest.approx(analytic, rel=0.03)
    assert numeric_psi(reference, rng.normal(0, 1, 200_000)) < 0.001


def test_categorical_psi_by_hand_and_unseen_categories_at_epsilon() -> None:
    reference = pd.Series(["a"] * 50 + ["b"] * 50)
    current = pd.Series(["a"] * 25 + ["b"] * 75)
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert categorical_psi(reference, current) == pytest.approx(expected, rel=1e-12)
    # A new category "c" with 10% of the current rows: the reference share is epsilon.
    with_new = pd.Series(["a"] * 45 + ["b"] * 45 + ["c"] * 10)
    unseen = (0.45 - 0.5) * np.log(0.45 / 0.5) * 2 + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert categorical_psi(reference, with_new, epsilon=1e-4) == pytest.approx(unseen, rel=1e-9)


def test_empty_bins_stay_finite_and_missing_values_are_a_bin() -> None:
    reference = np.arange(1000, dtype=float)
    beyond = np.full(1000, 5000.0)  # every current value in the reference's last bin
    psi = numeric_psi(reference, beyond, epsilon=1e-4)
    expected = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
    assert np.isfinite(psi) and psi == pytest.approx(expected, rel=1e-9)
    half_missing = np.where(np.arange(1000) % 2 == 0, np.nan, reference)
    assert numeric_psi(reference, half_missing) > 1.0  # values went missing: drift
    assert len(quantile_edges(np.repeat([0.0, 1.0], [900, 100]), 10)) == 2  # ties merged


def test_a_value_held_by_a_bins_share_is_a_bin_of_its_own() -> None:
    """online_retail, trained to 2011-09-09: one gap before the training window (2011-02-05
    to 03-12, the log 66 to 101 days old) 91% of users had the 90/365-day order trend at its
    cap. Every decile edge was the cap, so one bin held the cap and every value below it: PSI
    read 0.024 for a move KS read as D 0.547, and the move since training (0.416) counted as
    drift beyond it. The cap is a bin of its own now: PSI sees the move, as KS does."""

    def capped(at_cap: int) -> pd.Series:  # of 1,000 users, the others spread below the cap
        return pd.Series(np.r_[np.full(at_cap, 4.0), np.linspace(0, 3.9, 1000 - at_cap)])

    earlier, last, latest = capped(950), capped(340), capped(170)
    by_hand = (0.66 - 0.05) * np.log(0.66 / 0.05) + (0.34 - 0.95) * np.log(0.34 / 0.95)
    assert numeric_psi(earlier, last) == pytest.approx(by_hand, rel=1e-9)  # was 0.0
    limits = Thresholds()
    before = column_drift("trend", earlier, last, kind="number", thresholds=limits)
    now = column_drift("trend", last, latest, kind="number", thresholds=limits)
    assert before.effect == pytest.approx(0.61) and before.psi > 2  # PSI and KS agree
    assert now.effect < before.effect and now.verdict == "drift"
    assert beyond_usual(now, before, limits).verdict == "usual"  # was watch: PSI 0.11 over 0
    # counts: an edge held by a bin's share splits off nothing they have (no value between)
    counts = np.repeat([0.0, 1.0, 2.0, 3.0, 7.0], [501, 200, 150, 100, 50])
    moved = np.repeat([0.0, 1.0, 2.0, 3.0, 7.0], [301, 300, 200, 150, 50])
    r, c = np.array([501, 200, 150, 100, 50]) / 1001, np.array([301, 300, 200, 150, 50]) / 1001
    assert numeric_psi(counts, moved) == pytest.approx(np.sum((c - r) * np.log(c / r)))


def test_a_comparison_kept_with_other_bins_is_not_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison one gap earlier is kept by its cutoffs, samples and thresholds; its PSI
    depends on the bins too, so one kept before the cap was a bin of its own (PSI 0.024 for
    online_retail's order trend) is computed again, not read back."""
    from lifecycle.settings import load_settings
    from serving import monitor

    settings = load_settings(home=tmp_path, environ={})
    key = [["2011-02-05", "2011-03-12", "2011-06-11"], ["trend_orders_90_365"]]
    now = monitor.comparison_path(settings, "online_retail", key)
    assert monitor.comparison_path(settings, "online_retail", key) == now
    monkeypatch.setattr(monitor, "BINNING", 1)  # the decile bins without a value of its own
    assert monitor.comparison_path(settings, "online_retail", key) != now


def test_ks_and_chi_square_detect_what_they_should() -> None:
    rng = np.random.default_rng(2)
    same = ks_test(rng.normal(size=3000), rng.normal(size=3000))
    moved = ks_test(rng.normal(size=3000), rng.normal(1, 1, size=3000))
    assert same[1] > 0.001 and moved[1] < 1e-12 and moved[0] == pytest.approx(0.38, abs=0.04)
    statistic, p_value, cramers_v = chi_square_test(
        pd.Series(["a"] * 500 + ["b"] * 500), pd.Series(["a"] * 250 + ["b"] * 750)
    )
    # 2 x 2 table: chi2 = n * phi^2, phi = (ad - bc) / sqrt(row and column totals)
    phi = (500 * 750 - 500 * 250) / np.sqrt(1000 * 1000 * 750 * 1250)
    assert cramers_v == pytest.approx(phi, rel=1e-9) and statistic == pytest.approx(2000 * phi**2)
    assert p_value < 1e-20


def test_huge_samples_do_not_flag_a_negligible_shift() -> None:
    """A 0.02 standard-deviation shift on a million rows is significant but not drift."""
    rng = np.random.default_rng(3)
    reference = pd.Series(rng.normal(0, 1, 1_000_000))
    current = pd.Series(rng.normal(0.02, 1, 1_000_000))
    found = column_drift("x", reference, current, kind="number")
    assert found.p_value < 0.001 and found.effect < 0.1 and found.psi < 0.1
    assert found.verdict == "watch"
    shifted = column_drift("x", reference, current * 2 + 1, kind="number")
    assert shifted.verdict == "drift"


def straightforward_drift(
    reference: pd.Series, current: pd.Series, kind: str, limits: Thresholds
) -> tuple[float, float, float, str]:
    """PSI, test statistic, p-value and verdict computed the plain way, column by column:
    pandas bins and counts, scipy's own two-sample tests on the unsorted values."""
    from scipy.stats import chi2_contingency, ks_2samp

    if kind == "category":
        ref = reference.astype("string").fillna("(missing)").value_counts()
        cur = current.astype("string").fillna("(missing)").value_counts()
        table = pd.concat([ref, cur], axis=1).fillna(0).T.to_numpy(dtype=float)
        shares = table / table.sum(axis=1, keepdims=True)
        statistic, p_value, _, _ = chi2_contingency(table, correction=False)
        effect = np.sqrt(statistic / table.sum())
    else:
        ref_values, cur_values = reference.to_numpy(float), current.to_numpy(float)
        edges = np.unique(np.nanquantile(ref_values, np.linspace(0, 1, limits.bins + 1)[1:-1]))
        bounds = [-np.inf, *edges, np.inf]
        present = ref_values[~np.isnan(ref_values)]
        points = {e for e in edges if (present == e).sum() * limits.bins >= len(present)}

        def shares_of(values: np.ndarray) -> np.ndarray:
            bins = pd.cut(pd.Series(values), bounds, right=True).value_counts(sort=False)
            counts: list[int] = []
            for edge, count in zip([*edges, np.inf], bins.to_numpy(), strict=True):
                at = int((values == edge).sum()) if edge in points else 0
                counts += [count - at, at] if edge in points else [count]  # its own bin
            return np.append(counts, np.isnan(values).sum()) / len(values)

        shares = np.vstack([shares_of(ref_values), shares_of(cur_values)])
        result = ks_2samp(
            np.nan_to_num(ref_values, nan=-np.inf),
            np.nan_to_num(cur_values, nan=-np.inf),
            method="asymp",
        )
        statistic = effect = float(result.statistic)
        p_value = float(result.pvalue)
    r, c = np.maximum(shares, limits.epsilon)
    psi = float(np.sum((c - r) * np.log(c / r)))
    return psi, float(statistic), float(p_value), verdict(psi, p_value, effect, limits)


def test_the_monitor_gives_the_numbers_of_the_straightforward_computation() -> None:
    """compare_frames (sorted once, binned by look-ups, KS at distinct values, categories
    counted before naming) answers what the plain computation answers, column by column."""
    from serving.monitor import compare_frames

    rng = np.random.default_rng(4)
    n_ref, n_cur = 30_000, 20_000

    def frame(n: int, shift: float) -> pd.DataFrame:
        sessions = rng.poisson(3 + 4 * shift, n).astype(float)  # many ties
        return pd.DataFrame(
            {
                "revenue": rng.gamma(0.8, 20 * (1 + shift), n),
                "sessions": np.where(rng.random(n) < 0.3 + shift, np.nan, sessions),
                "tenure_days": rng.normal(200, 50, n).round() + 30 * shift,
                "small_shift": rng.normal(0.03 * shift, 1, n),
                "activated": rng.random(n) < 0.6,
                "channel": rng.choice(
                    ["organic", "email", "social", None], n, p=[0.5, 0.2, 0.2, 0.1]
                )
                if shift == 0
                else rng.choice(["organic", "email", "affiliate", None], n),
                # a ratio at its cap for 13% of the reference, 4% of the shifted rows: that
                # value is a bin of its own (drawn apart: the other columns' draws as before)
                "capped_ratio": np.minimum(
                    np.random.default_rng(n + int(shift)).exponential(2 - 0.8 * shift, n), 4.0
                ),
            }
        )

    reference, current = frame(n_ref, 0.0), frame(n_cur, 1.0)
    stable = frame(n_cur, 0.0)
    limits = Thresholds()
    names = list(reference.columns)
    for other in (current, stable):
        found = compare_frames(
            reference, other, names, source="feature", thresholds=limits, categorical=["channel"]
        )
        assert [col.name for col in found] == names
        for col in found:
            kind = "category" if col.name in ("activated", "channel") else "number"
            assert col.kind == kind
            psi, statistic, p_value, expected = straightforward_drift(
                reference[col.name], other[col.name], kind, limits
            )
            assert col.psi == pytest.approx(psi, rel=1e-9, abs=1e-12), col.name
            assert col.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-12), col.name
            assert col.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-300), col.name
            assert col.verdict == expected, col.name
            assert (col.reference_rows, col.current_rows) == (n_ref, len(other))
    flagged = {
        c.name
        for c in compare_frames(
            reference, current, names, source="feature", thresholds=limits, categorical=["channel"]
        )
        if c.verdict == "drift"
    }
    # not the small shift
    assert flagged == {"revenue", "sessions", "tenure_days", "channel", "capped_ratio"}


def test_samples_are_the_same_rows_every_run_and_about_the_limit(tmp_path: Path) -> None:
    from serving.monitor import read_rows

    cutoffs = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"], utc=True)
    table = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(20_000)] * 3,
            "as_of": np.repeat(cutoffs, 20_000),
            "sessions_30d": np.arange(60_000, dtype=float),
        }
    )
    path = tmp_path / "features.parquet"
    table.to_parquet(path)
    everything = read_rows(path, list(cutoffs[:2]), ["sessions_30d"])
    assert len(everything) == 40_000 and everything["sessions_30d"].max() == 39_999
    first = read_rows(path, list(cutoffs[:2]), ["sessions_30d"], limit=5_000)
    again = read_rows(path, list(cutoffs[:2]), ["sessions_30d"], limit=5_000)
    assert 4_500 < len(first) < 5_500 and first.equals(again)
    assert first["sessions_30d"].between(0, 39_999).all()  # only the cutoffs asked for
    assert read_rows(path, [cutoffs[2]], None, limit=30_000).shape == (20_000, 3)


def test_verdict_thresholds() -> None:
    limits = Thresholds(psi_alert=0.25, psi_warn=0.1, p_value=0.001, min_effect=0.1)
    assert verdict(0.3, 0.5, 0.0, limits) == "drift"
    assert verdict(0.05, 1e-6, 0.2, limits) == "drift"
    assert verdict(0.05, 1e-6, 0.05, limits) == "watch"
    assert verdict(0.15, 0.5, 0.0, limits) == "watch"
    assert verdict(0.05, 0.5, 0.3, limits) == "stable"
    assert verdict(0.0, float("nan"), float("nan"), limits) == "stable"


def _moved(psi: float, effect: float, p_value: float, rows: int = 20_000) -> ColumnDrift:
    limits = Thresholds()
    return ColumnDrift(
        "tenure_days", "feature", "number", psi, "ks", effect, effect, p_value,
        verdict(psi, p_value, effect, limits), rows * 5, rows,
    )  # fmt: skip


def test_only_what_moved_beyond_the_usual_counts() -> None:
    """The excess over the same comparison one gap earlier is judged by the thresholds."""
    limits = Thresholds()
    ageing = beyond_usual(_moved(0.22, 0.18, 0.0), _moved(0.26, 0.20, 0.0), limits)
    assert ageing.verdict == "usual" and (ageing.usual_psi, ageing.usual_effect) == (0.26, 0.20)
    assert ageing.psi == 0.22 and ageing.effect == 0.18  # the numbers stay today's
    # A real shift on a column that also ages: the excess itself is past the drift PSI.
    assert beyond_usual(_moved(0.60, 0.30, 0.0), _moved(0.26, 0.20, 0.0), limits).verdict == (
        "drift"
    )
    # ... or its effect is: PSI excess 0.1 (watch), D excess 0.12 with a significant test.
    assert beyond_usual(_moved(0.36, 0.32, 0.0), _moved(0.26, 0.20, 0.0), limits).verdict == (
        "drift"
    )
    # A small move that the same span never showed is still watched: an excess D of 0.05 is
    # more than 20,000 against 100,000 rows find by chance at p < 0.001.
    smallest = smallest_significant_effect(_moved(0.05, 0.05, 1e-9), limits.p_value)
    assert 0.014 < smallest < 0.016  # 1.95 * sqrt(1/100000 + 1/20000)
    assert beyond_usual(_moved(0.05, 0.05, 1e-9), _moved(0.0, 0.0, 1.0), limits).verdict == (
        "watch"
    )
    # ... and one within what chance finds at that size is as usual.
    assert beyond_usual(_moved(0.05, 0.05, 1e-9), _moved(0.05, 0.04, 1e-9), limits).verdict == (
        "usual"
    )
    # Never more severe than today's own verdict: a stable column stays stable.
    assert beyond_usual(_moved(0.05, 0.01, 0.5), _moved(0.0, 0.0, 1.0), limits).verdict == (
        "stable"
    )
    # Cramer's V: chi-square's critical value with one degree of freedom over all the rows.
    categories = ColumnDrift("channel", "feature", "category", 0.0, "chi2", 20.0, 0.03, 1e-5,
                             "watch", 90_000, 10_000)  # fmt: skip
    assert smallest_significant_effect(categories, 0.001) == pytest.approx(
        np.sqrt(10.828 / 100_000), rel=1e-3
    )


# -- `lifecycle monitor` on a trained demo workspace, before and after a shift -------------

# The injected shift, at the latest cutoff only (the champion trained on earlier cutoffs):
# a tracking bug in the paid_search app (32% of the demo's users) fires extra sessions for
# each of its users: +1 in the last 7 days, +6 in 30, +18 in 90 and 365 days and in total;
# and the email channel is renamed "affiliate", a channel the model never saw.
EXTRA_SESSIONS = {
    "sessions_7d": 1,
    "sessions_30d": 6,
    "sessions_90d": 18,
    "sessions_365d": 18,
    "sessions_total": 18,
}
SHIFTED = {*EXTRA_SESSIONS, "channel"}


def monitor_cli(home: Path, *args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from lifecycle.cli import main

    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", "monitor", *args])
    return result.exit_code, result.stdout


def inject_shift(feature_table: Path) -> int:
    """Rewrite the latest cutoff's rows as documented above; returns the users shifted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.asof import AS_OF
    from lifecycle.storage import atomic_file

    table = pq.read_table(feature_table)
    frame = table.to_pandas()
    latest = frame[AS_OF] == frame[AS_OF].max()
    paid_search = latest & (frame["channel"] == "paid_search")
    for column, extra in EXTRA_SESSIONS.items():
        frame.loc[paid_search, column] += extra
    frame.loc[latest & (frame["channel"] == "email"), "channel"] = "affiliate"
    with atomic_file(feature_table) as staging:
        pq.write_table(pa.Table.from_pandas(frame, schema=table.schema), staging)
    return int(paid_search.sum())


@pytest.fixture(scope="module")
def workspace(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the shared trained demo workspace: its three champions and their batch
    scores (inputs and scores are watched per champion)."""
    return copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("drift_ws") / "ws")


@pytest.fixture(scope="module")
def untouched(workspace: Path) -> tuple[int, dict]:
    code, out = monitor_cli(workspace, "--json")
    return code, json.loads(out)


@pytest.fixture(scope="module")
def shifted(workspace: Path, untouched: tuple[int, dict]) -> tuple[int, dict, str]:
    """The same workspace after the shift (after ``untouched`` measured it), scored again."""
    from services import run_cli

    from lifecycle.settings import load_settings

    settings = load_settings(home=workspace, environ={})
    assert inject_shift(settings.workspace.feature_table("demo")) > 300
    run_cli(workspace, "score-all")
    code, out = monitor_cli(workspace, "--json")
    _, text = monitor_cli(workspace)
    return code, json.loads(out), text


def test_the_untouched_demo_does_not_drift(workspace: Path, untouched: tuple[int, dict]) -> None:
    from lifecycle import tasks
    from lifecycle.settings import load_settings
    from serving.scoring import load_champions

    code, result = untouched
    assert code == 0 and result["drifting"] == []
    settings = load_settings(home=workspace, environ={})
    champions = load_champions(settings).bundles
    assert set(champions) == {"churn", "conversion", "ltv"}  # the shared build trains each
    features = {c["name"] for c in result["columns"] if c["source"] == "feature"}
    inputs = {name for champion in champions.values() for name in champion.feature_names}
    # every model input is watched, but those read for the reasons' words only, which no
    # tree splits on (lifecycle.champion_inputs.learned_inputs): their drift moves no score
    assert set(WORDS_ONLY) <= inputs and "cancelled_orders_30d" in inputs  # session 60
    assert features == {name for name in inputs if not words_only(name)}
    scores = {c["name"]: c for c in result["columns"] if c["source"] == "score"}
    assert set(scores) == {name for task in champions for name in tasks.get(task).outputs}
    assert scores["churn_probability"]["test"] == "ks" and scores["risk_band"]["test"] == "chi2"
    for task, champion in champions.items():
        # The champion's reference scores are kept (scores only, no user ids) for the next runs.
        kept = pd.read_parquet(settings.workspace.drift_reference_scores("demo", task, "1"))
        assert list(kept.columns) == list(tasks.get(task).outputs) and len(kept) > 1000, task
        reference = result["reference_cutoffs"][task]
        trained = champion.data_window["trained_on"]["cutoffs"]
        assert reference == trained[-6:] and result["current_as_of"] > trained[-1], task
    assert tasks.get("churn").outputs == ("churn_probability", "risk_band")  # among them


def test_the_monitor_reads_only_the_score_columns_of_the_latest_scores(workspace: Path) -> None:
    """Parquet column projection: the tasks' outputs with their values, and the metadata."""
    from lifecycle import tasks
    from lifecycle.settings import load_settings
    from serving.batch import latest_scores
    from serving.monitor import latest_score_columns

    settings = load_settings(home=workspace, environ={})
    whole, projected = latest_scores(settings), latest_score_columns(settings)
    expected = [name for name in tasks.output_columns() if name in whole.frame]
    assert "churn_probability" in expected and len(whole.frame.columns) > len(expected)
    assert list(projected.frame.columns) == expected
    pd.testing.assert_frame_equal(projected.frame, whole.frame[expected])
    assert projected.metadata == whole.metadata and projected.path == whole.path


def test_the_shifted_inputs_are_flagged_and_the_stable_ones_are_not(
    workspace: Path, shifted: tuple[int, dict, str]
) -> None:
    from lifecycle.settings import load_settings
    from serving.drift_results import drift_gauges, last_result

    code, result, text = shifted
    assert code == 3  # EXIT_DRIFT: what cron or an orchestrator alerts on
    features = {c["name"]: c for c in result["columns"] if c["source"] == "feature"}
    flagged = {name for name, c in features.items() if c["verdict"] == "drift"}
    assert flagged == SHIFTED
    assert all(features[name]["psi"] >= 0.25 for name in SHIFTED - {"sessions_total"})
    assert features["channel"]["psi"] > 1.0  # a channel the training window never had
    assert set(result["drifting"]) >= SHIFTED
    assert f"drifting ({len(result['drifting'])}): " in text
    assert all(name in text.splitlines()[-2] for name in SHIFTED)
    # What was saved for the report and the service is this result.
    settings = load_settings(home=workspace, environ={})
    assert last_result(settings)["drifting"] == result["drifting"]
    gauges = drift_gauges(last_result(settings))
    assert gauges[("alert", "drifting")] == len(result["drifting"])
    assert gauges[("feature", "channel")] == features["channel"]["psi"]


def test_the_process_exit_status_is_what_cron_sees(
    workspace: Path, shifted: tuple[int, dict, str]
) -> None:
    command = [str(Path(sys.executable).with_name("lifecycle"))]  # the script cron runs
    done = subprocess.run(
        [*command, "--home", str(workspace), "-q", "monitor", "--dataset", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LIFECYCLE_MONITOR__PSI_ALERT": "0.3"},
    )
    assert done.returncode == 3, done.stderr
    assert "drifting (" in done.stdout and "drift at PSI >= 0.3" in done.stdout
    # Thresholds so loose nothing drifts: exit 0.
    loose = {"LIFECYCLE_MONITOR__PSI_ALERT": "50", "LIFECYCLE_MONITOR__MIN_EFFECT": "1"}
    done = subprocess.run(
        [*command, "--home", str(workspace), "-q", "monitor"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **loose},
    )
    assert done.returncode == 0 and "no drift" in done.stdout, done.stderr


def test_the_report_section_names_the_drifting_ones(
    workspace: Path, shifted: tuple[int, dict, str]
) -> None:
    from lifecycle.settings import load_settings
    from serving.batch import latest_scores
    from serving.monitor import drift_section

    settings = load_settings(home=workspace, environ={})
    section = drift_section(settings, latest_scores(settings))
    assert "Drifting (" in section and all(f"<td>{name}</td>" in section for name in SHIFTED)
    assert section.count("<tr>") == len(shifted[1]["columns"]) + 1  # and the header row


def test_the_report_has_the_drift_section(
    workspace: Path, shifted: tuple[int, dict, str], tmp_path: Path
) -> None:
    from services import run_cli

    from lifecycle.settings import load_settings
    from serving.drift_results import last_result

    settings = load_settings(home=workspace, environ={})
    settings.workspace.drift_result(settings.dataset).unlink()
    out = tmp_path / "report.html"
    built = json.loads(run_cli(workspace, "--json", "report", "--out", str(out)))
    # saved as `lifecycle monitor` saves it: what /monitor answers is of this report's day
    assert last_result(settings)["columns"] == shifted[1]["columns"]
    title = "Drift: inputs and scores against the training window"
    assert title in built["sections"]
    document = out.read_text()
    section = document.split(title, 1)[1].split("</section>", 1)[0]
    assert "Drifting (" in section and "<td>sessions_30d</td>" in section


@pytest.mark.slow
def test_benchmark_script_runs_quick() -> None:
    stdout = run_experiment("bench_monitor.py", "--quick", timeout=600)
    later = float(stdout.split("later runs ")[-1].split("x")[0])
    assert later > 0 and "scoring 5,000 users" in stdout
    assert "ratio to score-all (wall): ledger" in stdout
    assert "ratio to score-all (cpu): ledger" in stdout
    assert "drifting on identically distributed cutoffs: none" in stdout


def test_an_unmeasurable_workspace_is_one_clear_line_and_nothing_written(
    workspace: Path, home: Path
) -> None:
    from lifecycle.settings import load_settings

    code, out = monitor_cli(home, "--json")
    assert code == 1  # no dataset at all: building features would not help
    error = json.loads(out)["error"]
    assert error == f"monitor: no dataset 'demo' in {home}: ingest or import it first"
    events = home / "datasets" / "demo" / "events.parquet"  # a dataset, no features yet
    events.parent.mkdir(parents=True)
    pd.DataFrame({"user_id": ["a"], "event_type": ["purchase"]}).to_parquet(events)
    code, out = monitor_cli(home, "--json")
    error = json.loads(out)["error"]
    assert code == 1 and "no feature table at" in error and "lifecycle features build" in error
    assert not load_settings(home=home, environ={}).workspace.monitor_dir.exists()
    # An unknown dataset in a monitored workspace: the last good result stays as it was.
    saved = load_settings(home=workspace, environ={}).workspace.drift_result("demo")
    before = saved.read_bytes() if saved.exists() else None
    code, out = monitor_cli(workspace, "--dataset", "nosuch")
    assert code == 1 and out == ""
    assert (saved.read_bytes() if saved.exists() else None) == before


def test_the_table_is_as_wide_as_its_longest_worded_name() -> None:
    """A log without money names its amount features as their reasons word them: 'N purchases
    refunded in the last 180 days' (41 characters) pushed its row's PSI and every column after
    it out of line with the header, the name column being 32 wide (review R1 L2)."""
    from serving.drift import ColumnDrift
    from serving.monitor import MonitorResult
    from serving.units import Counted

    named = ("refund_amount_180d", "orders_30d")
    columns = [
        ColumnDrift(n, "feature", "number", 0.5, "ks", 0.3, 0.3, 1e-9, "drift", 9, 9) for n in named
    ]
    result = MonitorResult(
        "demo", "2025-12-31", {"churn": ["2025-10-01"]}, None, columns, Thresholds(),
        purchase_counts=Counted(1.0),
    )  # fmt: skip
    header, long, short = result.lines()[1:4]
    assert long.startswith("N purchases refunded in the last 180 days feature ")
    assert short.startswith("orders_30d ")
    for row in (long, short):  # every column where the header has it
        assert row.index(" feature ") == header.index(" source ")
        assert row.index("0.500") + len("0.500") == header.index("PSI") + len("PSI")


def test_the_section_escapes_column_names() -> None:
    from serving.drift import ColumnDrift
    from serving.monitor import MonitorResult, drift_section_html

    column = ColumnDrift("<b>x</b>", "feature", "number", 0.5, "ks", 0.3, 0.3, 1e-9, "drift", 9, 9)
    result = MonitorResult(
        "demo", "2025-12-31", {"churn": ["2025-10-01"]}, None, [column], Thresholds()
    )
    section = drift_section_html(result)
    assert "<b>x</b>" not in section and "&lt;b&gt;x&lt;/b&gt;" in section
    assert "watch" not in drift_section_html(None, "no <champion>") and "&lt;champion&gt;" in (
        drift_section_html(None, "no <champion>")
    )
