"""The prediction ledger and realized quality: every `score-all` appends what it predicted;
`lifecycle outcomes` labels the matured entries and grades them, lists the pending ones;
retention, re-runs at the same as-of and `forget` keep the ledger right.

The end-to-end tests run a copy of the shared trained demo workspace (Feast, MLflow,
LightGBM), scored at an old as-of whose horizons have passed and at the latest one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from experiment_runs import run_experiment
from scipy.stats import spearmanr
from services import prepare, run_cli
from sklearn.metrics import roc_auc_score
from workspaces import TrainedWorkspace, copy_workspace, replace_demo

from features import contract as c
from features.asof import feature_cutoffs
from features.ingest import ingest_events
from features.labels import LABEL, LabelSpec, compute_labels
from lifecycle import registry, tasks
from lifecycle.cli import main
from lifecycle.grades import GRADE_HELP, GRADES, grade
from lifecycle.outcomes import latest_outcomes, outcomes_section
from lifecycle.settings import load_settings
from lifecycle.tasks import LTV
from lifecycle.workspace import Workspace
from serving.ledger import LedgerError, append, entries, read_entry
from training.evaluation import expected_calibration_error

REPO = Path(__file__).resolve().parents[1]

# -- the ledger on disk (no models needed) ------------------------------------------------


def predictions(value: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c.USER_ID: ["a", "b", "c"],
            "churn_probability": [value, value / 2, np.nan],
            "risk_band": ["low", "low", None],
            "country": ["FR", "DE", "US"],  # personal: never in the ledger
            "reasons": ['[{"feature": "country"}]', None, None],
            "channel": ["ads", "seo", "ads"],
        }
    )


def entry_metadata(as_of: str, version: str = "1") -> dict[str, object]:
    return {
        "as_of": as_of,
        "model_versions": {"churn": version},
        "labels": {"churn": {"task": "churn", "horizon_days": 90}},
        "personal_columns": ["country"],
    }


def test_append_keeps_only_ids_and_task_outputs_and_a_replacing_rerun_leaves_one_partition(
    tmp_path: Path,
) -> None:
    workspace = Workspace(tmp_path)
    first = append(
        workspace, "demo", predictions(0.4), entry_metadata("2025-01-01"), retention_days=365
    )
    second = append(
        workspace,
        "demo",
        predictions(0.8),
        entry_metadata("2025-01-01", "2"),
        retention_days=365,
        replace=True,  # asked: other models' entry is kept otherwise (the test below)
    )
    assert first.path == second.path == workspace.ledger_partition("demo", "2025-01-01")
    files = sorted(workspace.ledger("demo").rglob("*.parquet"))
    assert files == [second.path]  # one partition, no duplicate part
    assert [p.name for p in second.path.parent.iterdir()] == ["part-0.parquet"]  # no staging
    frame = pd.read_parquet(second.path)
    assert list(frame.columns) == [c.USER_ID, "churn_probability", "risk_band"]
    assert frame["churn_probability"].tolist()[:2] == [0.8, 0.4]
    (entry,) = entries(workspace, "demo")
    assert entry.model_versions == {"churn": "2"} and entry.metadata["users"] == 3
    assert entry.matures_on("churn") == pd.Timestamp("2025-04-01", tz="UTC")


def test_an_entry_made_by_other_models_is_kept_unless_replacing_is_asked(tmp_path: Path) -> None:
    """`score-all --as-of` a past date after a retrain replaced that date's entry, the record
    of what was scored then and later graded, with the later models' scores, unsaid (trial W
    F5). An entry of other models is now kept and said, with the way to replace it; the same
    models' re-run replaces it as before, and so does one asked to."""
    workspace = Workspace(tmp_path)
    first = append(
        workspace, "demo", predictions(0.4), entry_metadata("2025-01-01"), retention_days=365
    )
    later = entry_metadata("2025-01-01", "2") | {"dataset": "demo"}
    kept = append(workspace, "demo", predictions(0.8), later, retention_days=365)
    assert kept.path == first.path and kept.kept is not None
    (entry,) = entries(workspace, "demo")
    assert entry.model_versions == {"churn": "1"}
    assert pd.read_parquet(first.path)["churn_probability"].tolist()[:2] == [0.4, 0.2]
    assert kept.to_dict()["kept"]["model_versions"] == {"churn": "1"}
    assert kept.lines()[1] == (
        "  kept the ledger's entry as of 2025-01-01 made by churn v1 (scored at ?), the record "
        "of what was scored then: these scores are not in the ledger; `lifecycle score-all "
        "--as-of 2025-01-01 --dataset demo --replace-ledger` replaces it"
    )
    same = append(
        workspace, "demo", predictions(0.6), entry_metadata("2025-01-01"), retention_days=365
    )
    assert same.kept is None and same.kept_line() is None
    assert pd.read_parquet(first.path)["churn_probability"].tolist()[:2] == [0.6, 0.3]
    replaced = append(workspace, "demo", predictions(0.8), later, retention_days=365, replace=True)
    assert replaced.kept is None and entries(workspace, "demo")[0].model_versions == {"churn": "2"}
    # Conversion answered as 1 - churn: its own unused model's version makes no other numbers.
    kinds = {"churn": "lightgbm", "conversion": "churn_complement"}
    answered = entry_metadata("2025-02-01") | {"model_kinds": kinds}
    answered["model_versions"] = {"churn": "1", "conversion": "1"}
    append(workspace, "demo", predictions(0.4), answered, retention_days=365)
    answered["model_versions"] = {"churn": "1", "conversion": "7"}
    assert append(workspace, "demo", predictions(0.5), answered, retention_days=365).kept is None


def test_retention_drops_the_partitions_older_than_the_newest_minus_the_days(
    tmp_path: Path,
) -> None:
    workspace = Workspace(tmp_path)
    for as_of in ("2024-01-01", "2024-06-01"):
        append(workspace, "demo", predictions(0.3), entry_metadata(as_of), retention_days=300)
    assert [f"{e.as_of:%Y-%m-%d}" for e in entries(workspace, "demo")] == [
        "2024-01-01",
        "2024-06-01",
    ]
    # 2025-01-01 - 300 days = 2024-03-07: the January partition goes, June stays.
    result = append(
        workspace, "demo", predictions(0.3), entry_metadata("2025-01-01"), retention_days=300
    )
    assert result.dropped == ["2024-01-01"]
    assert result.outlived == {}  # churn's 90 days fit in 300
    assert [f"{e.as_of:%Y-%m-%d}" for e in entries(workspace, "demo")] == [
        "2024-06-01",
        "2025-01-01",
    ]
    short = append(
        workspace, "demo", predictions(0.3), entry_metadata("2025-01-08"), retention_days=60
    )
    assert short.outlived == {"churn": 90}  # score-all warns: these would never mature
    assert short.dropped == ["2024-06-01"]
    assert sorted(p.name for p in workspace.ledger("demo").iterdir()) == [
        "as_of=2025-01-01",
        "as_of=2025-01-08",
    ]  # nothing half-deleted left behind


def test_a_crash_mid_write_leaves_the_previous_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace(tmp_path)
    good = append(
        workspace, "demo", predictions(0.2), entry_metadata("2025-01-01"), retention_days=365
    )

    def crash(table: object, where: str | Path, **_: object) -> None:
        Path(where).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        append(
            workspace, "demo", predictions(0.9), entry_metadata("2025-01-01"), retention_days=365
        )
    monkeypatch.undo()
    assert pd.read_parquet(good.path)["churn_probability"].tolist()[:2] == [0.2, 0.1]
    assert [p.name for p in good.path.parent.iterdir()] == ["part-0.parquet"]


def test_an_entry_without_label_definitions_is_refused_naming_the_file(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    with pytest.raises(LedgerError, match="metadata lacks labels"):
        append(
            workspace,
            "demo",
            predictions(0.2),
            {"as_of": "2025-01-01", "model_versions": {}},
            retention_days=365,
        )
    assert not workspace.ledger_dir.exists()  # nothing written
    path = workspace.ledger_partition("demo", "2025-01-01")
    path.parent.mkdir(parents=True)
    pd.DataFrame({c.USER_ID: ["a"]}).to_parquet(path)
    with pytest.raises(LedgerError, match=f"ledger file {path}: its metadata lacks"):
        read_entry(path)


def test_realized_quality_of_a_task_answered_by_churn_is_that_of_what_answered(
    tmp_path: Path,
) -> None:
    """/models gave conversion v1 (served as 1 - churn v8 on online_retail) the realized
    quality of the answers 1 - churn v2 had given (session 49): the realized quality is now
    keyed by what answered, so a champion answered by another churn version has none yet."""
    from lifecycle.outcomes import Outcomes, store_outcomes

    settings = load_settings(home=tmp_path, environ={})
    by_churn = {"task": "conversion", "model_version": "1", "answered_by": "1 - churn v2"}
    by_itself = {"task": "churn", "model_version": "2"}
    rows = [
        {**by_churn, "as_of": "2011-09-01", "auc": 0.56, "grade": "poor"},
        {**by_itself, "as_of": "2011-09-01", "auc": 0.74, "grade": "good"},
    ]
    store_outcomes(settings.workspace.outcomes("shop"), Outcomes("shop", "2011-12-09", "now", rows))
    latest = latest_outcomes(settings, "shop")
    assert set(latest["conversion"]) == {"1 - churn v2"}  # not conversion's own v1
    assert latest["conversion"]["1 - churn v2"]["auc"] == 0.56
    assert latest["churn"]["2"]["auc"] == 0.74


@pytest.mark.parametrize(
    ("lift", "perfect", "expected"),
    [
        (2.0, 2.0, "excellent"),  # as good as a perfect ranking
        (1.6, 2.0, "excellent"),  # 60% of the way
        (1.5, 2.0, "good"),
        (1.3, 2.0, "fair"),
        (1.1, 2.0, "poor"),
        (0.8, 10.0, "poor"),  # worse than random
        (4.0, 10.0, "fair"),  # 33%: a 5% base rate allows lift 10
        (1.0, 1.0, "n/a"),  # every outcome equal: nothing to rank
        # online_retail's churn: 1.493 / 2.30 is 65% of a perfect lift, but 38% of its gain
        (1.493, 1 / 0.434, "fair"),
    ],
)
def test_grade_reads_lift_against_a_perfect_ranking(
    lift: float, perfect: float, expected: str
) -> None:
    assert grade(lift, perfect) == expected
    assert [name for name, _ in GRADES] == ["excellent", "good", "fair"]
    # what the help, the report and docs/loop.md say it is (they said "lift as a share of a
    # perfect ranking's lift", which would grade 1.493 / 2.30 excellent)
    formula = "(lift - 1) / (perfect lift - 1)"
    assert formula in GRADE_HELP
    assert formula in " ".join((REPO / "docs" / "loop.md").read_text().split())


# -- end to end on a trained demo workspace -------------------------------------------------


TASKS = ("churn", "conversion", "ltv")  # the shared workspace's champions


@pytest.fixture(scope="module")
def scored_home(
    trained_workspace: TrainedWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, str]:
    """A copy of the shared trained demo workspace, scored at an old as-of whose LTV horizon
    (365 days) has passed, and at the latest cutoff (pending)."""
    home = copy_workspace(trained_workspace.home, tmp_path_factory.mktemp("ledger_ws") / "ws")
    settings = load_settings(home=home, environ={})
    cutoffs = feature_cutoffs(settings.workspace.feature_table("demo"))
    data_ends = pd.read_parquet(settings.workspace.events("demo"))[c.EVENT_TIME].max()
    matured = [t for t in cutoffs if t + pd.Timedelta(days=LTV.horizon_days) <= data_ends]
    old, latest = f"{matured[-3]:%Y-%m-%d}", f"{cutoffs[-1]:%Y-%m-%d}"
    prepare(
        home,
        ["score-all", "--as-of", old, "--allow-partial", "--reasons-top", "10"],
        ["score-all", "--allow-partial", "--reasons-top", "10"],
    )
    # The champions were refit on every matured cutoff, so they learned the old date's
    # outcomes: its entry is in sample (test_an_entry_whose_outcomes_the_model_learned_is_...).
    # Here it stands for an entry of models that had learned outcomes up to that date, as a
    # ledger grows between refreshes: how the outcomes are measured is the subject.
    _learned_until(settings.workspace, old, {task: old for task in TASKS})
    return home, old, latest


def _learned_until(workspace: Workspace, as_of: str, learned: dict[str, str]) -> None:
    """The ledger entry of ``as_of`` rewritten as made by models that learned ``learned``."""
    entry = next(e for e in entries(workspace, "demo") if f"{e.as_of:%Y-%m-%d}" == as_of)
    metadata = {**entry.metadata, "learned_until": learned}
    append(workspace, "demo", entry.predictions(), metadata, retention_days=10_000)


@pytest.fixture
def ws(scored_home: tuple[Path, str, str], tmp_path: Path) -> tuple[Path, str, str]:
    home, old, latest = scored_home
    return copy_workspace(home, tmp_path / "ws"), old, latest


def outcomes_json(home: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "outcomes"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_score_all_writes_the_ledger_with_versions_and_label_definitions(
    ws: tuple[Path, str, str],
) -> None:
    home, old, latest = ws
    settings = load_settings(home=home, environ={})
    found = entries(settings.workspace, "demo")
    assert [f"{e.as_of:%Y-%m-%d}" for e in found] == [old, latest]
    for entry in found:
        assert set(entry.model_versions) == set(TASKS)
        assert entry.labels["ltv"]["horizon_days"] == LTV.horizon_days
        assert entry.labels["churn"]["task"] == "churn"
        frame = entry.predictions()
        attributes = {*entry.metadata["personal_columns"], *entry.metadata["shown_columns"]}
        assert attributes and not attributes & set(frame.columns)  # the demo has some; none here
        assert {"churn_probability", "ltv", "ltv_p10", "ltv_p90"} <= set(frame.columns)
        assert "reasons" not in frame and c.CHANNEL not in frame
        assert frame[c.USER_ID].is_unique


def test_outcomes_equal_metrics_computed_by_hand_and_the_latest_is_pending(
    ws: tuple[Path, str, str],
) -> None:
    home, old, latest = ws
    out = outcomes_json(home)
    settings = load_settings(home=home, environ={})
    events = settings.workspace.events("demo")
    users = settings.workspace.users_if_any("demo")
    (old_entry, latest_entry) = entries(settings.workspace, "demo")
    predicted = old_entry.predictions()
    rows = {(r["as_of"], r["task"]): r for r in out["matured"]}
    assert set(rows) == {(old, task) for task in TASKS}

    # Churn, by hand: its label at the old as-of, joined to the users it scored.
    spec = LabelSpec.from_dict(old_entry.labels["churn"])
    labels = compute_labels(events, [old], spec, users=users)
    churn = predicted[predicted["churn_probability"].notna()].merge(
        labels[[c.USER_ID, LABEL]], on=c.USER_ID
    )
    row = rows[(old, "churn")]
    assert row["model_version"] == old_entry.model_versions["churn"]
    assert row["n"] == len(churn) > 500
    assert row["auc"] == pytest.approx(roc_auc_score(churn[LABEL], churn["churn_probability"]))
    assert row["ece"] == pytest.approx(
        expected_calibration_error(churn[LABEL], churn["churn_probability"])
    )
    assert row["mean_predicted"] == pytest.approx(churn["churn_probability"].mean())
    assert row["actual_rate"] == pytest.approx(churn[LABEL].mean())
    # the users behind that rate and the window they were judged on, as the backtest's JSON
    # names a count (`positives`): the JSON gave n and the end only
    assert row["positives"] == churn[LABEL].sum() > 0 and row["window_start"] == old
    after = pd.read_parquet(events)
    after = after[(after[c.EVENT_TIME] > pd.Timestamp(old, tz="UTC"))]
    after = after[after[c.EVENT_TIME] <= pd.Timestamp(row["matured_on"], tz="UTC")]
    acted = churn[c.USER_ID].isin(after.loc[after[c.EVENT_TYPE] != c.REFUND, c.USER_ID])
    assert row["positives"] == row["n"] - acted.sum()  # churned: no activity in the window
    top = churn.nlargest(len(churn) // 10, "churn_probability")
    assert row["lift_top_decile"] == pytest.approx(
        top[LABEL].mean() / churn[LABEL].mean(), rel=0.05
    )
    assert row["grade"] in {"excellent", "good", "fair", "poor"}
    assert (
        row["matured_on"] == f"{pd.Timestamp(old) + pd.Timedelta(days=spec.horizon_days):%Y-%m-%d}"
    )

    # LTV, by hand.
    spec = LabelSpec.from_dict(old_entry.labels["ltv"])
    labels = compute_labels(events, [old], spec, users=users)
    ltv = predicted[predicted["ltv"].notna()].merge(labels[[c.USER_ID, LABEL]], on=c.USER_ID)
    row = rows[(old, "ltv")]
    assert row["n"] == len(ltv)
    assert row["spearman"] == pytest.approx(spearmanr(ltv[LABEL], ltv["ltv"]).statistic)
    assert row["total_error"] == pytest.approx(ltv["ltv"].sum() - ltv[LABEL].sum())
    assert row["positives"] == (ltv[LABEL] > 0).sum() > 0  # users with any value
    assert row["window_start"] == old
    # the interval counted as training and the backtest count it: a realized 0 where the
    # model gave it F0 = 1 - P(any value) > 0 by its randomized PIT, below with weight
    # min(F0, 0.1) / F0 and above with max(F0 - 0.9, 0) / F0
    f0 = 1 - ltv["purchase_probability"].to_numpy(dtype=float)
    value = ltv[LABEL].to_numpy(dtype=float)
    tied = (value <= 0) & (f0 > 0)
    f0 = np.clip(f0, 1e-12, 1)
    below = np.where(tied, np.minimum(f0, 0.1) / f0, value < ltv["ltv_p10"])
    above = np.where(tied, np.maximum(f0 - 0.9, 0) / f0, value > ltv["ltv_p90"])
    assert row["below_p10"] == pytest.approx(below.mean())
    assert row["above_p90"] == pytest.approx(above.mean())
    assert row["coverage_p10_p90"] == pytest.approx(1 - below.mean() - above.mean())
    inside = (ltv[LABEL] >= ltv["ltv_p10"]) & (ltv[LABEL] <= ltv["ltv_p90"])
    assert row["coverage_p10_p90"] < inside.mean()  # the plain count: a tied 0 inside
    assert -1 <= row["normalized_gini"] <= 1 and row["grade"] in {
        "excellent",
        "good",
        "fair",
        "poor",
    }

    # The latest entry: nothing matured yet, each task pending until as_of + its horizon.
    pending = {(r["as_of"], r["task"]): r["matures_on"] for r in out["pending"]}
    assert pending == {
        (latest, task): f"{latest_entry.matures_on(task):%Y-%m-%d}" for task in TASKS
    }
    assert pending[(latest, "ltv")] > out["data_ends"]

    # Stored for the report and the service: no recomputation there.
    stored = json.loads(settings.workspace.outcomes("demo").read_text())
    assert stored["matured"] == out["matured"]
    by_version = latest_outcomes(settings)
    version = old_entry.model_versions["churn"]
    assert by_version["churn"][version]["auc"] == rows[(old, "churn")]["auc"]
    title, section = outcomes_section(settings) or ("", "")
    assert title.startswith("Realized quality") and "pending" in section and old in section
    report = CliRunner().invoke(main, ["--home", str(home), "--json", "report"])
    assert report.exit_code == 0, report.output
    assert (
        "Realized quality (predictions vs what happened)" in json.loads(report.stdout)["sections"]
    )


def test_outcomes_set_each_forecast_beside_what_its_versions_test_promised(
    ws: tuple[Path, str, str],
) -> None:
    """`outcomes` printed "churn v2 good auc 0.739" and nothing of the 0.727 its test had
    measured (session 49, online_retail by month): the engineer could not tell whether the
    model kept its promise. Each forecast row now carries its version's test metrics, as
    the registry recorded them, and a line setting them beside the realized ones."""
    home, old, _latest = ws
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "outcomes"])
    assert result.exit_code == 0, result.output
    rows = {(r["as_of"], r["task"]): r for r in json.loads(result.stdout)["matured"]}
    row = rows[(old, "churn")]
    settings = load_settings(home=home, environ={})
    version = registry.client(settings).get_model_version(
        registry.model_name("demo", "churn"), row["model_version"]
    )
    recorded = float(version.tags["test.auc"])
    assert row["tested"]["auc"] == pytest.approx(recorded)
    assert row["tested_on"].startswith("test ") and version.tags["test_cutoff"] in row["tested_on"]
    text = CliRunner().invoke(main, ["--home", str(home), "outcomes"])
    assert text.exit_code == 0, text.output
    said = f"against its {row['tested_on']} (tested -> realized): auc {recorded:.3f} -> "
    assert f"{said}{row['auc']:.3f} ({row['auc'] - recorded:+.3f})" in text.output


def test_an_entry_whose_outcomes_the_model_learned_is_in_sample_and_not_graded(
    ws: tuple[Path, str, str],
) -> None:
    """Scores of an earlier date (`score-all --as-of`) by champions refit on every matured
    cutoff were graded "excellent, auc 0.973" (trial 95): the models had learned those very
    outcomes. Such an entry is measured, said to be in sample, given no grade, and is not
    the champion's realized quality for /models and the gauges."""
    home, old, _ = ws
    settings = load_settings(home=home, environ={})
    (_, latest_entry) = entries(settings.workspace, "demo")
    learned = latest_entry.metadata["learned_until"]  # what score-all recorded of them
    data_ends = pd.read_parquet(settings.workspace.events("demo"))[c.EVENT_TIME].max()
    assert learned["churn"] > old and learned["churn"] <= f"{data_ends:%Y-%m-%d}"
    _learned_until(settings.workspace, old, learned)
    out = outcomes_json(home)
    rows = {r["task"]: r for r in out["matured"] if r["as_of"] == old}
    assert set(rows) == set(TASKS)
    for task, row in rows.items():
        version = latest_entry.model_versions[task]
        assert row["grade"] == "in sample", row
        assert row["in_sample"] == f"v{version} learned from the events up to {learned[task]}"
        assert 0.5 < row.get("auc", row.get("spearman", 0)) <= 1  # still measured
    assert latest_outcomes(settings) == {}
    said = CliRunner().invoke(main, ["--home", str(home), "outcomes"])
    assert said.exit_code == 0, said.output
    line = next(x for x in said.stdout.splitlines() if f"{old} churn" in x)
    assert "in sample" in line and f"learned from the events up to {learned['churn']}" in line


def test_outcomes_count_a_realized_zero_on_a_p10_of_zero_by_its_pit() -> None:
    """`lifecycle outcomes` counted a 0 on a P10 of 0 inside the interval where training and
    the backtest count it by its randomized PIT, so one calibrated model read about 0.8 in
    them and 0.9 or more here. With the ledger's P(any value) it is counted as there; a row
    without one (NaN) counts it inside."""
    from lifecycle.outcomes import realized_metrics

    predicted = pd.DataFrame(
        {
            "ltv": [4.0, 1.0, 5.0, 8.0, 3.0],
            "ltv_p10": [0.0, 0.0, 1.0, 1.0, 0.0],
            "ltv_p90": [10.0, 10.0, 10.0, 10.0, 10.0],
            "purchase_probability": [0.5, 0.05, 0.9, 0.9, np.nan],
        }
    )
    actual = np.array([0.0, 0.0, 5.0, 20.0, 0.0])
    metrics = realized_metrics(LTV, predicted, actual)
    # F0 0.5: below 0.1 / 0.5, inside the rest; F0 0.95: below 0.1 / 0.95, above 0.05 / 0.95
    below = (0.2 + 0.1 / 0.95) / 5
    above = (0.05 / 0.95 + 1) / 5
    assert metrics["below_p10"] == pytest.approx(below)
    assert metrics["above_p90"] == pytest.approx(above)
    assert metrics["coverage_p10_p90"] == pytest.approx(1 - below - above)
    plain = realized_metrics(LTV, predicted.drop(columns="purchase_probability"), actual)
    assert plain["coverage_p10_p90"] == pytest.approx(4 / 5) and plain["below_p10"] == 0


def test_an_outcome_of_conversion_answered_by_churn_names_churns_version(tmp_path: Path) -> None:
    """On a log of purchases, conversion is answered as 1 - churn: `outcomes` said "conversion
    v1 ... auc 0.584", crediting a version that answered nothing."""
    from lifecycle.outcomes import Outcomes, _identity
    from serving.ledger import LedgerEntry
    from serving.scoring import CHURN_COMPLEMENT

    labels = {t: {"task": t, "horizon_days": 90} for t in ("churn", "conversion")}
    entry = LedgerEntry(
        tmp_path / "part-0.parquet",
        {
            "as_of": "2011-07-01",
            "model_versions": {"churn": "5", "conversion": "1"},
            "model_kinds": {"churn": "lightgbm", "conversion": CHURN_COMPLEMENT},
            "labels": labels,
        },
    )
    answered = _identity(entry, "conversion")
    assert answered["answered_by"] == "1 - churn v5" and answered["model_version"] == "1"
    assert "answered_by" not in _identity(entry, "churn")
    row = answered | {"grade": "fair", "n": 1364, "auc": 0.584}
    pending = answered | {"matures_on": "2011-09-29"}
    lines = Outcomes("shop", "2011-09-09", "now", [row], [pending]).lines()
    assert lines[1].startswith("  2011-07-01 conversion  1 - churn v5 fair ")
    assert lines[2] == "  2011-07-01 conversion  1 - churn v5 pending until 2011-09-29"


def test_each_matured_line_names_the_days_its_outcomes_were_read_from() -> None:
    """On online_retail scored as of 2011-09-09 (churn 90 days, LTV 365), `outcomes` printed
    `2011-09-09 churn v1 good n=3,404 auc 0.741, ...`: the window the users were judged on
    was only in the JSON. Each line now says it, as the pending ones say their date."""
    from lifecycle.outcomes import Outcomes

    row = {
        "as_of": "2011-09-09",
        "task": "churn",
        "model_version": "1",
        "horizon_days": 90,
        "matured_on": "2011-12-08",
        "grade": "good",
        "n": 3404.0,
        "auc": 0.7414,
    }
    pending = {**row, "task": "ltv", "horizon_days": 365, "matures_on": "2012-09-08"}
    lines = Outcomes("online_retail", "2011-12-09", "now", [row], [pending]).lines()
    assert lines[1] == (
        "  2011-09-09 churn       v1    good      n=3,404 over the 90 days to 2011-12-08: auc 0.741"
    )
    assert lines[2] == "  2011-09-09 ltv         v1    pending until 2012-09-08"


def test_a_rerun_at_the_same_as_of_does_not_duplicate_the_ledger(
    ws: tuple[Path, str, str],
) -> None:
    home, old, _ = ws
    settings = load_settings(home=home, environ={})
    path = settings.workspace.ledger_partition("demo", old)
    before = pd.read_parquet(path)
    run_cli(home, "score-all", "--as-of", old, "--allow-partial", "--reasons-top", "10")
    after = pd.read_parquet(path)
    assert len(after) == len(before) and after[c.USER_ID].is_unique
    assert len(list(path.parent.glob("*.parquet"))) == 1
    assert len(entries(settings.workspace, "demo")) == 2


def test_score_all_as_of_a_past_date_keeps_the_entry_other_models_made(
    ws: tuple[Path, str, str],
) -> None:
    """Trial W F5 through the CLI: the old date's entry made by other versions (as before a
    retrain) is kept by `score-all --as-of`, which says so; `--replace-ledger` replaces it."""
    home, old, _ = ws
    settings = load_settings(home=home, environ={})
    entry = next(e for e in entries(settings.workspace, "demo") if f"{e.as_of:%Y-%m-%d}" == old)
    now = entry.model_versions
    before = {task: "99" for task in now}
    append(
        settings.workspace,
        "demo",
        entry.predictions(),
        {**entry.metadata, "model_versions": before},
        retention_days=10_000,
        replace=True,
    )
    said = run_cli(home, "score-all", "--as-of", old, "--allow-partial", "--reasons-top", "1")
    assert f"  kept the ledger's entry as of {old} made by churn v99, " in said
    assert f"`lifecycle score-all --as-of {old} --dataset demo --replace-ledger` replaces it" in (
        said
    )
    assert read_entry(entry.path).model_versions == before
    said = run_cli(home, "score-all", "--as-of", old, "--reasons-top", "1", "--replace-ledger")
    assert "kept the ledger's entry" not in said
    assert read_entry(entry.path).model_versions == now


def test_score_all_at_the_latest_cutoff_replaces_the_entry_other_models_made(
    ws: tuple[Path, str, str],
) -> None:
    """Today's scores are what the lists send: a re-score at the latest cutoff after `promote`
    replaces the entry other models made (only a past date's record is kept)."""
    home, _, latest = ws
    settings = load_settings(home=home, environ={})
    entry = next(e for e in entries(settings.workspace, "demo") if f"{e.as_of:%Y-%m-%d}" == latest)
    now = entry.model_versions
    append(
        settings.workspace,
        "demo",
        entry.predictions(),
        {**entry.metadata, "model_versions": {task: "99" for task in now}},
        retention_days=10_000,
        replace=True,
    )
    said = run_cli(home, "score-all", "--allow-partial", "--reasons-top", "1")
    assert "kept the ledger's entry" not in said
    assert read_entry(entry.path).model_versions == now


def test_retention_on_score_all_drops_the_oldest_as_of(ws: tuple[Path, str, str]) -> None:
    home, old, latest = ws
    days = (pd.Timestamp(latest) - pd.Timestamp(old)).days
    output = run_cli(
        home,
        "score-all",
        "--allow-partial",
        "--reasons-top",
        "10",
        env={"LIFECYCLE_LEDGER__RETENTION_DAYS": str(days - 1)},
    )
    settings = load_settings(home=home, environ={})
    assert [f"{e.as_of:%Y-%m-%d}" for e in entries(settings.workspace, "demo")] == [latest]
    assert f"dropped by ledger.retention_days: as of {old}" in output
    assert "warning" not in output  # LTV's 365 days fit in the retention


def test_forget_removes_the_users_from_every_ledger_partition(ws: tuple[Path, str, str]) -> None:
    home, old, latest = ws
    settings = load_settings(home=home, environ={})
    files = [e.path for e in entries(settings.workspace, "demo")]
    frames = [pd.read_parquet(p) for p in files]
    gone = sorted(set(frames[0][c.USER_ID]) & set(frames[1][c.USER_ID]))[:2]
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "forget", *gone])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["removed"]["ledger"] == 2 * len(gone)
    # The champions learned from them: named, with the way to replace them (the gate may keep
    # a champion a retrained model does not beat, so retraining alone is not enough).
    client = registry.client(settings)
    champions = {
        f"{name} v{version}"
        for name in (registry.model_name("demo", t) for t in tasks.names())
        if (version := registry.aliases(client, name).get(registry.CHAMPION))
    }
    assert len(champions) >= 3 and set(out["champions_trained_with_users"]) == champions
    assert "lifecycle promote TASK VERSION" in out["not_covered"][0]
    for path, frame in zip(files, frames, strict=True):
        after = pq.read_table(path)
        assert not set(gone) & set(after[c.USER_ID].to_pylist())
        assert after.num_rows == len(frame) - len(gone)  # nobody else lost
        assert read_entry(path).metadata["as_of"] in (old, latest)  # metadata kept
    outcomes_json(home)  # still measurable without them


def test_an_entry_of_replaced_data_is_not_graded_against_the_new_events(
    ws: tuple[Path, str, str], tmp_path: Path
) -> None:
    """`lifecycle run --users 1500` after the default demo replaced it by other customers
    under the same ids, and `outcomes` graded the old entry against their events ("poor,
    AUC 0.506" where it had been "excellent, AUC 0.973"). An append keeps it gradable."""
    home, old, latest = ws
    settings = load_settings(home=home, environ={})
    events = pd.read_parquet(settings.workspace.events("demo"))
    week = events[events[c.EVENT_TIME] > events[c.EVENT_TIME].max() - pd.Timedelta(days=7)]
    week = week.assign(**{c.EVENT_TIME: week[c.EVENT_TIME] + pd.Timedelta(days=7)})
    week.to_parquet(tmp_path / "week.parquet", index=False)
    ingest_events(tmp_path / "week.parquet", settings.workspace.dataset_dir("demo"), mode="append")
    appended = outcomes_json(home)
    assert {(r["as_of"], r["task"]) for r in appended["matured"]} == {(old, t) for t in TASKS}
    assert appended["not_gradable"] == []

    before = str(entries(settings.workspace, "demo")[0].metadata["lineage"]["dataset_version"])
    replace_demo(settings, tmp_path / "other")
    now = settings.workspace.dataset_dir("demo").resolve().name
    out = outcomes_json(home)
    assert out["matured"] == [] and out["pending"] == []
    rows = {(r["as_of"], r["task"]): r for r in out["not_gradable"]}
    assert set(rows) == {(as_of, t) for as_of in (old, latest) for t in TASKS}
    assert rows[(old, "churn")]["reason"] == (
        f"dataset version {before} was replaced by {now} (a new ingest, not an append): "
        "its users' outcomes are not in these events"
    )
    printed = run_cli(home, "outcomes").splitlines()
    assert printed[0].endswith(": 0 matured, 0 pending, 6 not gradable"), printed[0]
    assert any(line.startswith(f"  {old} churn ") and " not gradable: " in line for line in printed)
    _, section = outcomes_section(settings) or ("", "")
    assert section.count("<td>not gradable</td>") == 6 and "was replaced by" in section


def test_outcomes_judges_each_data_once_not_each_entry(
    ws: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`outcomes` ran the replaced-data check (which reads the kept dataset versions'
    reports) once per ledger entry; entries of one dataset version share its verdict."""
    from lifecycle import lineage

    home = ws[0]
    settings = load_settings(home=home, environ={})
    judged: list[str] = []
    real = lineage.replaced

    def counted(settings: Any, built: dict[str, Any], now: dict[str, Any]) -> str | None:
        judged.append(str(built.get("dataset_version")))
        return real(settings, built, now)

    monkeypatch.setattr(lineage, "replaced", counted)
    found = entries(settings.workspace, "demo")
    assert len({str(e.metadata["lineage"]["dataset_version"]) for e in found}) == 1 < len(found)
    assert len(outcomes_json(home)["matured"]) == len(TASKS)  # the old entry; latest pending
    assert len(judged) == 1
    replace_demo(settings, tmp_path / "other")
    judged.clear()
    assert len(outcomes_json(home)["not_gradable"]) == len(found) * len(TASKS)
    assert len(judged) == 1


def test_outcomes_without_a_ledger_says_what_to_run(home: Path) -> None:
    # No dataset 'shop' at all: score-all would refuse it too, so that is not the advice.
    result = CliRunner().invoke(main, ["--home", str(home), "outcomes", "--dataset", "shop"])
    assert result.exit_code == 1 and "score-all" not in result.output
    assert f"outcomes: no dataset 'shop' in {home}: ingest or import it first" in result.output
    events = home / "datasets" / "shop" / "events.parquet"  # an events dataset, never scored
    events.parent.mkdir(parents=True)
    pd.DataFrame({c.USER_ID: ["a"], c.EVENT_TYPE: ["purchase"]}).to_parquet(events)
    result = CliRunner().invoke(main, ["--home", str(home), "outcomes", "--dataset", "shop"])
    assert result.exit_code != 0
    assert "no prediction ledger for dataset shop" in result.output
    # no features yet: score-all would refuse in turn; refresh makes them and the scores
    assert "`lifecycle refresh --dataset shop` builds them" in result.output
    assert not (home / "outcomes").exists()  # nothing written


@pytest.mark.slow
def test_benchmark_script_runs_quick() -> None:
    stdout = run_experiment("bench_ledger.py", "--quick")
    ratio = float(stdout.split("ledger adds ")[1].split("%")[0])
    assert "N 5,000:" in stdout and ratio > 0
    assert "ledger append (5,000 rows" in stdout  # every scored user reached the ledger


def test_models_and_metrics_show_the_champions_realized_quality(
    ws: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `lifecycle outcomes`, the service's /models carries each champion's newest
    matured realized metrics and grade, and /metrics the gauges of them."""
    from services import service_asgi_app
    from starlette.testclient import TestClient

    home, old, _ = ws
    outcomes_json(home)
    settings = load_settings(home=home, environ={})
    stored = latest_outcomes(settings)
    monkeypatch.setenv("LIFECYCLE_HOME", str(home))
    # Predicting through LightGBM: the service's background compile of the nine boosters
    # (~30 s of CPU) outlived the test in this process, and nothing here reads them.
    monkeypatch.setenv("LIFECYCLE_SERVING__COMPILE_TREES", "false")
    with TestClient(service_asgi_app()) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "service never became ready"
            time.sleep(0.2)
        models = {m["task"]: m for m in client.post("/models", json={}).json()["models"]}
        metrics = client.get("/metrics").text
    for task in ("churn", "ltv"):
        realized = models[task]["realized"]
        assert realized == stored[task][models[task]["version"]]
        assert realized["as_of"].startswith(old)
        assert realized["grade"] in {name for name, _ in GRADES} | {"poor"}
    auc = stored["churn"][models["churn"]["version"]]["auc"]
    line = next(
        row
        for row in metrics.splitlines()
        if row.startswith("lifecycle_realized_quality{")
        and 'metric="auc"' in row
        and 'task="churn"' in row
    )
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(auc)
