"""`lifecycle monitor` after the data's end moved: the feature table rebuilt from a later
end has other weekly cutoffs than the ones the champion was trained on. The reference is
then the rows whose cutoff falls within the training window's dates, never the latest
cutoff's rows compared with themselves; a window with no rows left is not compared (noted),
and a refusal when no champion has rows."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.asof import AS_OF, feature_cutoffs, words_only
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.monitor import MonitorError, monitor
from serving.scoring import load_champions

LATER = pd.Timedelta(days=3)  # not a whole number of weeks: every weekly cutoff moves


def _cli(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def _append_later_events(home: Path, folder: Path) -> None:
    """The demo's last three days again, three days later, appended; features rebuilt."""
    events = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")
    last = events[c.EVENT_TIME].max()
    days = events[events[c.EVENT_TIME] > last - LATER].copy()
    days[c.EVENT_TIME] = days[c.EVENT_TIME] + LATER
    path = folder / "later.parquet"
    days.to_parquet(path, index=False)
    assert _cli(home, "ingest", str(path), "--dataset", "demo", "--append")[0] == 0
    assert _cli(home, "features", "build")[0] == 0


@pytest.fixture
def moved(trained_copy: Path, tmp_path: Path) -> Path:
    settings = load_settings(home=trained_copy, environ={})
    before = set(feature_cutoffs(settings.workspace.feature_table("demo")))
    _append_later_events(trained_copy, tmp_path)
    after = set(feature_cutoffs(settings.workspace.feature_table("demo")))
    trained = load_champions(settings, "demo").bundles["churn"].data_window["trained_on"]
    assert not {pd.Timestamp(t, tz="UTC") for t in trained["cutoffs"]} & after  # all moved
    assert before != after
    return trained_copy


def test_the_reference_is_the_rows_within_the_training_window(moved: Path) -> None:
    settings = load_settings(home=moved, environ={})
    result = monitor(settings)
    table = pd.read_parquet(settings.workspace.feature_table("demo"), columns=[AS_OF])
    stamps = pd.to_datetime(table[AS_OF], utc=True)
    latest = stamps.max()

    champions = load_champions(settings, "demo").bundles

    grid = set(stamps.unique())

    @functools.cache
    def inside(task: str) -> set[pd.Timestamp]:  # the table's cutoffs nearest the window's
        trained = champions[task].data_window["trained_on"]["cutoffs"][-6:]
        first, last = (pd.Timestamp(t, tz="UTC") for t in (trained[0], trained[-1]))
        used = {pd.Timestamp(t, tz="UTC") for t in result.reference_cutoffs[task]}
        assert all(first <= t <= last and t < latest and t in grid for t in used)
        assert len(used) == len(trained)  # as many as it trained on, not every week between
        for t in (pd.Timestamp(d, tz="UTC") for d in trained):
            nearest = min(used, key=lambda u, t=t: abs(u - t))
            assert abs(nearest - t) < pd.Timedelta(days=7)  # within one step of the grid
        return used

    features = [col for col in result.columns if col.source == "feature"]
    assert features
    for col in features:
        readers = [task for task, bundle in champions.items() if col.name in bundle.feature_names]
        cutoffs = set().union(*(inside(task) for task in readers))
        expected = int(stamps.isin(cutoffs).sum())
        assert 0 < expected < settings.monitor.max_rows  # every row read, not a sample
        assert col.reference_rows == expected, col.name
        assert col.current_rows == int((stamps == latest).sum())  # not those rows again
    assert any("cutoffs nearest the training window's 6" in n for n in result.notes), result.notes


def test_a_window_without_rows_is_a_refusal_naming_it(moved: Path) -> None:
    environ = {"LIFECYCLE_MONITOR__REFERENCE_CUTOFFS": "1"}  # a one-day window: no cutoff
    settings = load_settings(home=moved, environ=environ)
    window = load_champions(settings, "demo").bundles["churn"].data_window["trained_on"]
    with pytest.raises(MonitorError) as refused:
        monitor(settings)
    message = str(refused.value)
    assert window["cutoffs"][-1] in message and "lifecycle train churn" in message
    result = CliRunner(env=environ).invoke(main, ["--home", str(moved), "monitor"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert window["cutoffs"][-1] in result.output


def test_the_legend_gives_both_rules_of_watch() -> None:
    """A significant test with a small effect is "watch" at any PSI: the legend says so."""
    from serving.drift import Thresholds, verdict
    from serving.monitor import MonitorResult, drift_section_html

    limits = Thresholds()
    assert verdict(0.011, limits.p_value / 10, limits.min_effect / 2, limits) == "watch"
    result = MonitorResult("demo", "2025-01-01", {"churn": ["2024-12-01"]}, None, [], limits)
    legend = result.lines()[-1]
    assert f"watch at PSI >= {limits.psi_warn}, or p < {limits.p_value} with a smaller" in legend
    assert f"Watch: PSI ≥ {limits.psi_warn}, or p &lt; {limits.p_value}" in drift_section_html(
        result
    )


def test_a_champion_fitted_on_the_latest_cutoff_is_noted_and_the_others_measured(
    trained_copy: Path,
) -> None:
    """A label-free LTV fitted on the latest cutoff (online_retail: one year of history for a
    365-day horizon) has no earlier rows: the monitor says so and still measures churn and
    conversion, instead of refusing with "no rows in the training window" it has."""
    settings = load_settings(home=trained_copy, environ={})
    champions = load_champions(settings, "demo")
    latest = feature_cutoffs(settings.workspace.feature_table("demo"))[-1]
    champions.bundles["ltv"].data_window["trained_on"]["cutoffs"] = [f"{latest:%Y-%m-%d}"]
    result = monitor(settings, champions=champions)
    assert any(
        note.startswith("ltv: not compared: its champion was fitted on the latest cutoff itself")
        for note in result.notes
    ), result.notes
    scored = {col.name for col in result.columns if col.source == "score"}
    assert "churn_probability" in scored and not scored & {"ltv", "ltv_p50", "ltv_p90"}
    only_ltv = set(champions.bundles["ltv"].feature_names) - {
        name for task in ("churn", "conversion") for name in champions.bundles[task].feature_names
    }
    compared = {col.name for col in result.columns if col.source == "feature"}
    assert compared and not compared & only_ltv
    for task in ("churn", "conversion"):  # every champion fitted there: nothing to compare
        champions.bundles[task].data_window["trained_on"]["cutoffs"] = [f"{latest:%Y-%m-%d}"]
    with pytest.raises(MonitorError, match="every champion was fitted on the latest cutoff"):
        monitor(settings, champions=champions)


def test_a_champion_with_no_rows_left_in_its_window_is_noted_and_the_others_measured(
    trained_copy: Path,
) -> None:
    """A label-free LTV fitted on one date that the rebuilt weekly grid no longer holds (a
    rollback to it after a refresh, online_retail) refused the whole monitor: churn and
    conversion went unmeasured too."""
    settings = load_settings(home=trained_copy, environ={})
    champions = load_champions(settings, "demo")
    latest = feature_cutoffs(settings.workspace.feature_table("demo"))[-1]
    gone = f"{latest - pd.Timedelta(days=1):%Y-%m-%d}"  # between two weekly cutoffs
    champions.bundles["ltv"].data_window["trained_on"]["cutoffs"] = [gone]
    result = monitor(settings, champions=champions)
    assert any(
        note.startswith(
            f"ltv: not compared: the feature table has no rows in the ltv champion's "
            f"training window {gone}..{gone}"
        )
        and "lifecycle train ltv" in note
        for note in result.notes
    ), result.notes
    scored = {col.name for col in result.columns if col.source == "score"}
    assert "churn_probability" in scored and not scored & {"ltv", "ltv_p50", "ltv_p90"}


def test_the_earlier_cutoffs_are_the_reference_one_gap_back() -> None:
    from serving.monitor import earlier_cutoffs

    weekly = list(pd.date_range("2024-01-03", "2025-12-31", freq="7D", tz="UTC"))
    reference = weekly[-20:-13:2]  # four cutoffs, the last 13 weeks before the latest
    earlier = earlier_cutoffs(weekly, reference, weekly[-1])
    gap = weekly[-1] - reference[-1]
    assert len(earlier) == len(reference)
    for before, cutoff in zip(earlier, reference, strict=True):
        assert before <= cutoff - gap < before + pd.Timedelta(days=7)  # the table's last by then
    assert earlier[-1] == weekly[-1] - 2 * gap  # the mirror of the latest against the reference
    # A table that does not reach one gap before any reference cutoff: none at all.
    assert earlier_cutoffs(weekly[5:], weekly[5:9], weekly[-1]) == []


def test_reference_cutoffs_reached_one_gap_back_are_mirrored_without_the_others() -> None:
    """online_retail through October 2011, its churn champion trained through 2011-06-02 (the
    gate kept it over September's and October's): the reference 2011-05-03..05-31 one gap
    (154 days) back starts 2010-11-30, a week before the table's first cutoff, so no earlier
    comparison was made at all, and `monitor` judged every input against the reference
    alone: 18 columns drifting (tenure_days PSI 1.79), exit 3, on the real month. The four
    reference cutoffs the table reaches are mirrored: no drift; a month of prices x100 drifts
    in its 8 money columns alone."""
    from serving.monitor import earlier_cutoffs

    table = list(pd.date_range("2010-12-07", "2011-11-01", freq="7D", tz="UTC"))
    reference = list(pd.date_range("2011-05-03", "2011-05-31", freq="7D", tz="UTC"))
    latest = table[-1]
    gap = latest - reference[-1]
    assert reference[0] - gap < table[0] <= reference[1] - gap  # the first is a week short
    earlier = earlier_cutoffs(table, reference, latest)
    assert len(earlier) == len(reference) - 1
    for before, cutoff in zip(earlier, reference[1:], strict=True):
        assert before <= cutoff - gap < before + pd.Timedelta(days=7)


def test_customers_ageing_as_they_did_before_is_not_drift(trained_copy: Path) -> None:
    """On the freshly trained demo, tenure and the purchase probability moved past the drift
    thresholds since the training window (customers a quarter older, LTV's window a year
    back): by as much as the same comparison one gap earlier, so no drift and exit 0."""
    from serving.drift import verdict

    settings = load_settings(home=trained_copy, environ={})
    result = monitor(settings)
    limits = result.thresholds
    judged = {(col.source, col.name): col for col in result.columns}
    aged = [
        col
        for col in result.columns
        if verdict(col.psi, col.p_value, col.effect, limits) == "drift"  # by today's numbers
    ]
    assert {(col.source, col.name) for col in aged} >= {("feature", "tenure_days")}
    for col in aged:
        assert col.verdict == "usual" and col.usual_psi is not None
        assert col.psi < col.usual_psi + limits.psi_warn and col.effect < col.usual_effect + 0.1
    assert all(col.usual_psi is not None for col in judged.values())  # every column mirrored
    assert result.drifting == [] and not result.alerting
    code, text = _cli(trained_copy, "monitor")
    assert code == 0 and "no drift" in text and "before: the PSI of the same comparison" in text


def test_conversion_answered_as_one_minus_churn_is_watched_on_churns_window(
    trained_copy: Path,
) -> None:
    """On a log of purchases conversion is served as 1 - churn (``Champions.one_event``): its
    drift reference followed the conversion champion, which answered nothing, so CDNOW's
    collapse of 1 - churn read PSI 3.9 one month and "stable" the next, when a new rule
    became conversion champion. Its window is churn's; its own champion's inputs are not
    watched."""
    from features.labels import ACTIVITY, PURCHASES
    from serving.scoring import CHURN_COMPLEMENT

    settings = load_settings(home=trained_copy, environ={})
    champions = load_champions(settings, "demo")
    churn, conversion = champions.bundles["churn"], champions.bundles["conversion"]
    churn.data_window[ACTIVITY] = PURCHASES  # a log of purchases: one event
    conversion.label.update(target="repeat_purchase", horizon_days=churn.label["horizon_days"])
    assert champions.kinds["conversion"] == CHURN_COMPLEMENT
    own = conversion.data_window["trained_on"]["cutoffs"]
    conversion.data_window["trained_on"]["cutoffs"] = own[:3]  # another window than churn's
    conversion.feature_names = [*conversion.feature_names, "only_conversion_reads_this"]
    result = monitor(settings, champions=champions)
    assert result.reference_cutoffs["conversion"] == result.reference_cutoffs["churn"]
    watched = {col.name for col in result.columns if col.source == "feature"}
    read = set(churn.feature_names) | set(champions.bundles["ltv"].feature_names)
    assert watched == {n for n in read if not words_only(n)}  # read for words only: not judged
