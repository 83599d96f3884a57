"""Batch scoring: atomic scores tables, and score-all / at-risk / movers / segments / report
end to end against a real trained workspace (Feast, MLflow, LightGBM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from experiment_runs import run_experiment
from services import run_cli
from workspaces import TrainedWorkspace

from features.asof import AS_OF, feature_cutoffs
from features.store import historical_features, open_store, store_paths
from lifecycle.cli import main
from lifecycle.settings import load_settings
from lifecycle.workspace import LATEST_SCORES, PREVIOUS_SCORES
from serving import batch
from serving.batch import (
    ScoringError,
    read_scores,
    reason_rows,
    resolve_as_of,
    write_scores,
)
from serving.funnel import channel_funnel
from serving.list_files import read_list_file
from serving.list_seeds import seed_of
from serving.withheld_reasons import redacted

# -- the scores table on disk (no models needed) ------------------------------------------


def tiny_scores(value: float) -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["a", "b"], "churn_probability": [value, value / 2]})


def test_write_scores_points_latest_and_keeps_previous(tmp_path: Path) -> None:
    first = write_scores(
        tmp_path, tiny_scores(0.2), {"as_of": "2025-01-01", "model_versions": {"churn": "1"}}
    )
    second = write_scores(
        tmp_path, tiny_scores(0.4), {"as_of": "2025-02-01", "model_versions": {"churn": "2"}}
    )
    latest, previous = (
        read_scores(tmp_path / LATEST_SCORES),
        read_scores(tmp_path / PREVIOUS_SCORES),
    )
    assert latest.path == second and previous.path == first
    assert latest.as_of == "2025-02-01" and latest.metadata["model_versions"] == {"churn": "2"}
    assert latest.frame["churn_probability"].tolist() == [0.4, 0.2]
    assert second.name.startswith("scores-2025-02-01-") and oct(second.stat().st_mode)[-3:] == "644"


def test_a_crash_mid_write_leaves_the_previous_latest_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_scores(tmp_path, tiny_scores(0.3), {"as_of": "2025-01-01"})
    before = sorted(p.name for p in tmp_path.iterdir())

    def crash(table: object, where: str | Path, **_: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")  # some bytes reach the disk, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        write_scores(tmp_path, tiny_scores(0.9), {"as_of": "2025-02-01"})
    monkeypatch.undo()
    latest = read_scores(tmp_path / LATEST_SCORES)
    assert latest.path == good and latest.frame["churn_probability"].tolist() == [0.3, 0.15]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half file, no staging file


def test_old_tables_are_pruned_but_latest_and_previous_kept(tmp_path: Path) -> None:
    written = [
        write_scores(tmp_path, tiny_scores(0.1 * i), {"as_of": f"2025-01-0{i}"}, keep=1)
        for i in range(1, 6)
    ]
    remaining = sorted(tmp_path.glob("scores-*.parquet"))
    assert written[-1] in remaining and written[-2] in remaining and written[0] not in remaining
    assert len(remaining) == 3  # latest, previous and one more


def test_writing_a_table_reads_each_tables_metadata_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """score-all's write read every scores table's metadata twice: once to find the
    dataset's previous table (``table_before``), once to prune (``prune``); then score-all
    read them all again for the files it did not write (``strays``): one reading gives all."""
    from serving import scores_history

    for day in range(1, 4):
        write_scores(tmp_path, tiny_scores(0.1), {"as_of": f"2025-01-0{day}", "dataset": "shop"})
    stray = tmp_path / "scores-2025-01-01-20000101T000000000000Z.parquet"
    stray.write_bytes(b"half a download")
    read = counted_metadata_reads(monkeypatch)
    latest, strays = batch.write_scores_table(
        tmp_path, tiny_scores(0.2), {"as_of": "2025-01-04", "dataset": "shop"}
    )
    files = sorted(p.name for p in tmp_path.glob("scores-*.parquet"))
    assert sorted(read) == files and latest.name in files and len(files) == 5
    assert strays == scores_history.strays(tmp_path) and str(stray) in strays[0]
    assert read_scores(tmp_path / PREVIOUS_SCORES).as_of == "2025-01-03"


def counted_metadata_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files whose scores metadata the scores history reads, from now on."""
    from serving import scores_history

    read: list[str] = []
    real = scores_history.scores_metadata

    def counted(path: Path) -> dict[str, Any] | None:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(scores_history, "scores_metadata", counted)
    return read


def test_reasons_go_to_the_top_of_each_ranking() -> None:
    scores = pd.DataFrame(
        {
            "churn_probability": [0.9, 0.1, np.nan, 0.5, 0.2],
            "value_at_risk": [0.9, 5.0, np.nan, 0.5, 0.4],
            "ltv": [1.0, 50.0, 900.0, 1.0, 2.0],
        }
    )
    # top churn, top value at risk (and ltv); the lists' default floor leaves 1 out (churn
    # 0.1 < serving.medium_risk 0.2) of the risk rankings only: 0 then leads by value at
    # risk, and by ltv (no floor) 1 still leads
    assert reason_rows(scores, top=1).tolist() == [0, 1]
    assert reason_rows(scores, top=None).tolist() == [0, 1, 3, 4]  # every eligible user
    # the at-risk list by value at risk alone: its top user with --min-churn 0, and without
    assert reason_rows(scores, top=1, rankings=("value_at_risk",)).tolist() == [0, 1]
    assert reason_rows(scores, top=1, rankings=("value_at_risk",), medium_risk=0.05).tolist() == [1]
    assert reason_rows(scores, top=2, rankings=("churn_probability",)).tolist() == [0, 3]
    assert reason_rows(scores.drop(columns="churn_probability"), top=5).size == 0


def test_reasons_go_to_the_top_of_each_stage_by_return_probability() -> None:
    scores = pd.DataFrame(
        {
            "churn_probability": [0.9, 0.1, 0.6, 0.95],
            "lifecycle_stage": ["churned", "active", "churned", "churned"],
        }
    )
    # by return probability (1 - churn): 1 leads the whole list, 2 the churned (win-back);
    # by churn 3 leads, of the active 1
    assert reason_rows(scores, top=1).tolist() == [1, 2, 3]
    assert reason_rows(scores.drop(columns="lifecycle_stage"), top=1).tolist() == [1, 3]
    # rankings named: those lists only, of every stage (a caller pulling just those)
    assert reason_rows(scores, top=1, rankings=("return_probability",)).tolist() == [1]


# -- end to end on the shared trained workspace (a copy where a test writes) ---------------


@pytest.fixture
def home(trained_workspace: TrainedWorkspace) -> Path:
    """The shared trained and batch-scored workspace, for tests that only read it."""
    return trained_workspace.home


def test_score_all_scores_every_known_user_with_one_code_path(trained_copy: Path) -> None:
    from serving.scoring import load_champions, score_frame

    scored = json.loads(run_cli(trained_copy, "--json", "score-all"))
    settings = load_settings(home=trained_copy, environ={})
    table = read_scores(Path(scored["path"]))
    paths = store_paths(settings)
    features = pd.read_parquet(paths.feature_table)
    as_of = features[AS_OF].max()
    assert scored["as_of"] == f"{as_of:%Y-%m-%d}"
    assert sorted(table.frame["user_id"]) == sorted(
        features.loc[features[AS_OF] == as_of, "user_id"]
    )
    # Stamped with as-of and model versions, in the metadata and as columns.
    assert (
        table.metadata["model_versions"]
        == scored["model_versions"]
        == {"churn": "1", "conversion": "1", "ltv": "1"}
    )
    assert (table.frame["churn_model_version"] == "1").all()
    # the served expected_purchases' days, recorded: the units line states them (review R2 #7)
    from serving.units import units_for

    days = load_champions(settings).outlook_days()
    assert days and table.metadata["outlook_days"] == days
    said = f"expected_purchases: in the next {days:g} days"
    assert units_for(settings, table.metadata).text().endswith(said)
    assert (pd.to_datetime(table.frame[AS_OF], utc=True) == as_of).all()
    # country and device are no person's (features.identifiers): shown, not withheld (trial 115)
    assert table.metadata["personal_columns"] == []
    assert set(table.metadata["shown_columns"]) == {"country", "device"}
    # The same numbers as the shared scoring function on Feast features for a sample of users.
    sample = table.frame.sample(50, random_state=0)
    rows = sample[["user_id"]].assign(**{AS_OF: as_of}).reset_index(drop=True)
    retrieved = historical_features(open_store(settings), rows, "churn_v1").frame
    direct = score_frame(load_champions(settings), retrieved, reasons=False)
    for column in (
        "churn_probability",
        "conversion_probability",
        "ltv",
        "ltv_p90",
        "value_at_risk",
    ):
        np.testing.assert_allclose(direct[column].to_numpy(), sample[column].to_numpy(), rtol=1e-9)
    # Reasons are in words, about features that pushed churn up; country/device values said.
    reasons = [json.loads(r) for r in table.frame["reasons"].dropna()]
    assert len(reasons) == table.frame["churn_probability"].notna().sum()
    assert all(r["contribution"] > 0 and r["text"] for rs in reasons for r in rs)
    about = [r for rs in reasons for r in rs if r["feature"] in ("country", "device")]
    assert about and all(r["value"] is not None and "(withheld)" not in r["text"] for r in about)


def test_the_win_back_recipe_ranks_the_whole_churned_stage_by_return_probability(
    home: Path,
) -> None:
    """docs/lists.md's win-back list, `at-risk --stage churned --rank-by return_probability`:
    every churned user the churn model scored, highest 1 - churn probability first (trial W:
    the list ranked by conversion probability held one-order customers only, unsaid)."""
    table = read_scores(home / "scores" / LATEST_SCORES).frame
    churned = table[table["lifecycle_stage"] == "churned"]
    scored = churned[churned["churn_probability"].notna()]
    assert len(scored) > 100  # the demo has a churned stage to rank

    def listed(rank_by: str) -> dict[str, Any]:
        options = ("--stage", "churned", "--rank-by", rank_by, "--top", "100000")
        return json.loads(run_cli(home, "--json", "at-risk", *options))

    back = listed("return_probability")
    rows = pd.DataFrame(back["rows"])
    assert sorted(rows["user_id"]) == sorted(scored["user_id"].astype(str))
    want = 1 - scored.set_index(scored["user_id"].astype(str))["churn_probability"]
    assert rows["return_probability"].tolist() == pytest.approx(want[rows["user_id"]].tolist())
    order = rows.sort_values(["return_probability", "user_id"], ascending=[False, True])
    assert rows["user_id"].tolist() == order["user_id"].tolist()
    text = run_cli(home, "at-risk", "--stage", "churned", "--rank-by", "return_probability")
    assert "users by return probability (1 - churn probability: any activity" in text
    # ranked by conversion, the repeat customers have no score: left out, and counted
    by_conversion = listed("conversion_probability")
    lacking = int(churned["conversion_probability"].isna().sum())
    assert lacking > 0 and len(by_conversion["rows"]) == len(churned) - lacking
    assert any(
        note.startswith(f"left out: {lacking:,} users the filters keep without a conversion")
        for note in by_conversion["notes"]
    )


def test_a_campaign_started_from_a_ranking_some_users_lack_says_and_records_them(
    trained_copy: Path,
) -> None:
    """`campaign start --rank-by conversion_probability` builds the at-risk list, which leaves
    out the users without that score: at-risk and /at_risk count them, campaign start said
    nothing and recorded a source naming only the ranking (review R1 L3)."""
    churned = read_scores(trained_copy / "scores" / LATEST_SCORES).frame
    churned = churned[churned["lifecycle_stage"] == "churned"]
    lacking = int(churned["conversion_probability"].isna().sum())
    assert lacking > 0
    said = f"left out: {lacking:,} users the filters keep without a conversion probability"
    options = ("--stage", "churned", "--rank-by", "conversion_probability", "--top", "20")
    options += ("--control-share", "0.5")  # each name draws its own controls: some of 20
    text = run_cli(trained_copy, "campaign", "start", "back", *options)
    assert f"note: {said}" in text
    started = json.loads(run_cli(trained_copy, "--json", "campaign", "start", "back2", *options))
    assert any(note.startswith(said) for note in started["notes"])
    listed = json.loads(run_cli(trained_copy, "--json", "campaign", "list"))["campaigns"]
    assert all(said in campaign["source"] for campaign in listed)  # recorded with it
    by_churn = run_cli(trained_copy, "campaign", "start", "churn", "--stage", "churned")
    assert "left out" not in by_churn  # value at risk: every churned user has it


def test_reasons_top_explains_the_at_risk_lists_as_served(trained_copy: Path) -> None:
    """`score-all --reasons-top N` explained the top N of each unfloored ranking: the at-risk
    lists as served, without the users below the medium risk band, listed users without
    reasons (the demo by ltv at N=3; by value at risk at N=4 with a band from 0.3)."""

    def listed(*options: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return json.loads(run_cli(trained_copy, "--json", "at-risk", *options, env=env))["rows"]

    run_cli(trained_copy, "score-all", "--reasons-top", "3")
    by_ltv = listed("--top", "3", "--rank-by", "ltv")  # no churn floor ranked by ltv
    assert by_ltv == listed("--top", "3", "--rank-by", "ltv", "--min-churn", "0")
    rows = by_ltv + listed("--top", "3") + listed("--top", "3", "--min-churn", "0")
    rows += listed("--top", "3", "--rank-by", "churn_probability")
    assert [r["user_id"] for r in rows if not r["top_reasons"]] == []
    band = {"LIFECYCLE_SERVING__MEDIUM_RISK": "0.3"}
    run_cli(trained_copy, "score-all", "--reasons-top", "4", env=band)
    served = listed("--top", "4", env=band)
    assert served != listed("--top", "4", "--min-churn", "0", env=band)
    assert [r["user_id"] for r in served if not r["top_reasons"]] == []


def test_reasons_top_explains_the_win_back_list(trained_copy: Path) -> None:
    """`score-all --reasons-top N` explained the top N of value at risk and the tasks' scores
    of every stage at once: a list ranked by return probability, the win-back list (churned
    users, `--stage churned`) above all, showed its top users unexplained (7 months of
    online_retail, N=50: 12 of the win-back list's top 50 had reasons, of the list of every
    stage 11). Each stage's list by each ranking is explained now."""
    run_cli(trained_copy, "score-all", "--reasons-top", "5")
    table = read_scores(trained_copy / "scores" / LATEST_SCORES).frame.set_index("user_id")
    for stage in ((), ("--stage", "churned"), ("--stage", "silent")):
        options = ("--top", "5", "--rank-by", "return_probability", *stage)
        said = json.loads(run_cli(trained_copy, "--json", "at-risk", *options))
        listed = [row["user_id"] for row in said["rows"]]
        assert len(listed) == 5, said
        # computed for each (a user nothing pushes towards churn has none in words)
        assert table.loc[listed, "reasons"].notna().all(), (stage, table.loc[listed, "reasons"])
        if stage:  # lapsed users: their reasons say why
            assert all(row["top_reasons"] for row in said["rows"]), said["rows"]


def test_stages_and_the_funnel_agree_on_who_never_was_active(
    trained_workspace: TrainedWorkspace,
) -> None:
    """The demo's users who only signed up (the funnel's signed up, not active: no activation,
    session or order, and no event after their first day) are never_active once past their
    first 30 days (new before), not churned or silent, as stages_v2 called them."""
    table = read_scores(trained_workspace.home / "scores" / LATEST_SCORES).frame
    counts = (table["activated"] == 0) & (table["sessions"] == 0) & (table["orders"] == 0)
    later_day = table["days_since_last_activity"] < table["tenure_days"] - 1  # NaN: no activity
    not_active = counts & ~later_day
    funnel = channel_funnel(table)
    assert int(funnel["signed_up"].sum() - funnel["active"].sum()) == not_active.sum()
    assert not_active.sum() > 100
    stages = table.loc[not_active, "lifecycle_stage"]
    assert set(stages) == {"never_active", "new"}
    assert (table["lifecycle_stage"] == "never_active").sum() == (stages == "never_active").sum()


def test_score_users_in_chunks_gives_the_pre_change_scores_and_reasons(
    scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    """The batch table's every score column, scored in uneven chunks, is the frozen
    pre-change scoring's (``reference_scoring``) to the bit, and each explained row's
    reasons are its reasons as the table stores them (personal values withheld)."""
    import reference_scoring

    settings = load_settings(home=trained_workspace.home, environ={})
    champions = scorer.state.champions  # trees through LightGBM, as the reference predicts
    table = store_paths(settings).feature_table
    entity_rows = batch.known_users(table, resolve_as_of(table, None))
    features = batch.retrieve_features(
        open_store(settings, settings.dataset), entity_rows, champions.services
    )
    got = batch.score_users(
        champions, features, reasons_top=40, reasons_by=("value_at_risk",), chunk_rows=700
    )
    want = reference_scoring.score_frame(champions, features)
    assert len(features) > 2 * 700  # three chunks, the last one shorter
    scored = [column for column in want.columns if column != "reasons"]
    pd.testing.assert_frame_equal(got[scored], want[scored], check_exact=True)
    explained = np.flatnonzero(got["reasons"].notna().to_numpy())
    assert explained.tolist() == reason_rows(want, 40, ("value_at_risk",)).tolist()
    # the top 40 by value at risk, and of the at-risk list without the low risk band
    value = want["value_at_risk"].where(want["churn_probability"].notna())
    floored = value.where(want["churn_probability"] >= champions.bands[1])
    assert set(explained) == set(value.nlargest(40).index) | set(floored.nlargest(40).index)
    personal = set(batch.personal_columns(features))
    for row in explained:
        said = [redacted(r, personal) for r in want["reasons"].iloc[row]]
        assert got["reasons"].iloc[row] == json.dumps(
            said, default=lambda v: v.item() if hasattr(v, "item") else str(v)
        )


def test_at_risk_cli_exports_ranked_rows_without_personal_columns(
    trained_copy: Path, tmp_path: Path
) -> None:
    home = trained_copy  # a written list is recorded in the workspace's export register
    out = tmp_path / "at_risk.csv"
    printed = run_cli(home, "at-risk", "--top", "25", "--out", str(out))
    assert str(out) in printed
    rows = pd.read_csv(out)
    assert len(rows) == 25 and rows["value_at_risk"].is_monotonic_decreasing
    for column in (
        "user_id",
        "churn_probability",
        "ltv",
        "ltv_p10",
        "ltv_p90",
        "risk_band",
        "lifecycle_stage",
        "segment",
        "days_since_last_activity",
        "top_reasons",
        "control",
    ):
        assert column in rows.columns, column
    assert "reasons" not in rows.columns  # the raw JSON stays in the scores table
    assert {"country", "device"} <= set(rows.columns)  # no person's: shown (trial 115)
    assert rows["top_reasons"].fillna("").str.len().gt(0).mean() > 0.8
    channel = run_cli(
        home, "--json", "at-risk", "--top", "5", "--channel", "email", "--min-churn", "0.3"
    )
    records = json.loads(channel)["rows"]
    assert records and all(
        r["channel"] == "email" and r["churn_probability"] >= 0.3 for r in records
    )
    # whom a filtered list holds and how its control group was drawn, said in it
    asked = json.loads(channel)
    assert asked["filters"] == {"channel": "email", "min_churn": 0.3}
    drawn_from = asked["control"]["drawn_from"]  # printed: drawn from the list, as written
    assert drawn_from["filters"] == {"channel": "email", "min_churn": 0.3}
    assert asked["control"] == {"share": 0.1, "seed": seed_of(drawn_from), "drawn_from": drawn_from}
    assert not [n for n in asked["notes"] if n.startswith("no scored user matches")]
    nobody = json.loads(
        run_cli(home, "--json", "at-risk", "--channel", "email", "--min-ltv", "1e12")
    )
    assert nobody["rows"] == []
    # the at-risk list's floor is one of its filters (the low risk band left out, trial 114)
    matches = "no scored user matches all of: channel email, ltv >= 1e+12, churn probability >= 0.2"
    assert [n for n in nobody["notes"] if n.startswith("no scored user")] == [matches]
    written = tmp_path / "email.json"
    options = ("--channel", "email", "--min-churn", "0.3", "--control-share", "0.2", "--seed", "4")
    run_cli(home, "at-risk", "--top", "5", *options, "--out", str(written))
    assert json.loads(written.read_text())["title"].endswith(
        "; only channel email, churn probability >= 0.3; control group: share 0.2 of all "
        "scored users, seed 4"
    )
    key_env = {"LIFECYCLE_PRIVACY__PSEUDONYM_KEY": "test-key"}
    hidden = json.loads(
        run_cli(home, "--json", "at-risk", "--top", "5", "--pseudonymize", env=key_env)
    )["rows"]
    plain = json.loads(run_cli(home, "--json", "at-risk", "--top", "5"))["rows"]
    assert [r["user_id"] for r in hidden] != [r["user_id"] for r in plain]
    assert [r["value_at_risk"] for r in hidden] == [r["value_at_risk"] for r in plain]
    with_country = json.loads(
        run_cli(home, "--json", "at-risk", "--top", "2", "--allow-column", "country")
    )["rows"]
    assert all(r["country"] for r in with_country)
    parquet = tmp_path / "list.parquet"
    run_cli(home, "at-risk", "--top", "3", "--rank-by", "ltv", "--out", str(parquet))
    assert pd.read_parquet(parquet)["ltv"].is_monotonic_decreasing
    # After an append (or a restore) the list is still the last score-all's, without a word
    # that the data moved on; an erasure (the feature table follows it) is no such change.
    assert "behind the data" not in printed
    run_cli(home, "forget", plain[-1]["user_id"])
    assert "behind the data" not in run_cli(home, "at-risk", "--top", "2")
    later = tmp_path / "later.csv"
    later.write_text(
        "user_id,event_time,event_type,amount,currency,order_id\n"
        "u0000001,2026-06-01 10:00:00,session,,,\n"
    )
    built_from = (home / "datasets" / "demo").readlink().name  # what the features read
    run_cli(home, "ingest", str(later), "--dataset", "demo", "--append")
    behind = json.loads(run_cli(home, "--json", "at-risk", "--top", "2"))["notes"]
    scored = read_scores(home / "scores" / LATEST_SCORES).frame
    low = int((scored["churn_probability"] < 0.2).sum())  # the low risk band, left out
    assert behind == [
        f"left out: {low:,} scored users below the medium risk band (churn probability under "
        "0.2, serving.medium_risk); `--min-churn 0` lists them too",
        f"note: these scores are behind the data (the feature table of 'demo' was built from "
        f"dataset version {built_from}, the dataset is now "
        f"{(home / 'datasets' / 'demo').readlink().name}): `lifecycle refresh --dataset demo` "
        "scores it again",
    ]


def test_as_of_must_be_a_cutoff_and_features_build_adds_one(trained_copy: Path) -> None:
    home = trained_copy
    settings = load_settings(home=home, environ={})
    table = store_paths(settings).feature_table
    latest = read_scores(home / "scores" / LATEST_SCORES).path
    with pytest.raises(ScoringError, match="run `lifecycle features build --as-of 2025-06-15`"):
        resolve_as_of(table, "2025-06-15")
    result = CliRunner().invoke(main, ["--home", str(home), "score-all", "--as-of", "2025-06-15"])
    assert result.exit_code == 1 and "features build --as-of 2025-06-15" in result.stderr
    run_cli(home, "features", "build", "--as-of", "2025-06-15")
    assert resolve_as_of(table, "2025-06-15") == pd.Timestamp("2025-06-15", tz="UTC")
    segments = run_cli(home, "segments", "--as-of", "2025-06-15")
    assert "segments as of 2025-06-15" in segments and "champions" in segments
    assert "super users (by revenue kept after refunds): the top 20% of the " in segments
    # Nothing was written: the latest table is still the one scored before.
    assert read_scores(home / "scores" / LATEST_SCORES).path == latest


def test_scores_of_an_earlier_cutoff_name_the_models_that_learned_after_it(
    trained_copy: Path,
) -> None:
    """`score-all --as-of` a month back, with champions refit on every matured cutoff, said
    only that the scores were of an earlier cutoff (trial W F6): not that those models had
    learned from the events after it, so the list is no forecast as of then. score-all, its
    JSON and the lists now name each such model and up to when it learned."""
    home = trained_copy
    settings = load_settings(home=home, environ={})
    cutoffs = feature_cutoffs(store_paths(settings).feature_table)
    day, latest = f"{cutoffs[-5]:%Y-%m-%d}", f"{cutoffs[-1]:%Y-%m-%d}"
    said = run_cli(home, "score-all", "--as-of", day, "--reasons-top", "1")
    made_with = read_scores(home / "scores" / LATEST_SCORES).metadata
    versions, learned = made_with["model_versions"], made_with["learned_until"]
    after = {t: f"v{versions[t]} learned from the events up to {d}" for t, d in learned.items()}
    after = {t: words for t, words in after.items() if learned[t] > day}
    assert set(after) == {"churn", "conversion", "ltv"}  # each learned outcomes to about now
    words = "; ".join(f"{t} {w}" for t, w in after.items())
    assert f"  note: {words}, after {day} (their scores are not a forecast as of then)" in said
    listed = run_cli(home, "at-risk", "--top", "1")
    assert (
        f"note: these scores are as of {day}, an earlier cutoff than the data's latest "
        f"({latest}), and {words}, after {day} (their scores are not a forecast" in listed
    )
    scored = json.loads(run_cli(home, "--json", "score-all", "--as-of", day, "--reasons-top", "1"))
    assert scored["learned_after_as_of"] == after
    now = json.loads(run_cli(home, "--json", "score-all", "--reasons-top", "1"))
    assert now["learned_after_as_of"] == {}  # the latest cutoff: a forecast
    assert "not a forecast" not in run_cli(home, "at-risk", "--top", "1")


def _champion_and_a_new_version(home: Path) -> tuple[str, str]:
    """demo-churn's champion version and a new version of the same model (not promoted)."""
    from lifecycle import registry

    client = registry.client(load_settings(home=home, environ={}))
    name = registry.model_name("demo", "churn")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    newer = client.create_model_version(name, source=champion.source, run_id=champion.run_id)
    return str(champion.version), str(newer.version)


def _former_champions_note(was: str, now: str) -> str:
    return (
        f"note: these scores were made by models no longer champion (churn version {was}, now "
        f"version {now}): `lifecycle score-all --dataset demo` scores with the champions"
    )


def test_a_list_after_a_promotion_says_its_scores_are_the_former_champions(
    trained_copy: Path,
) -> None:
    """Trial M (online_retail): after `promote churn 3` (and after the rollback to v1) the CLI's
    at-risk listed the last score-all's scores, of the former champion, without a word, while
    `/at_risk` marks them `stale`. Every list now says which versions made them and what is
    champion now, until a score-all; a rollback to the versions that made them ends it."""
    home = trained_copy
    was, newer = _champion_and_a_new_version(home)
    assert "no longer champion" not in run_cli(home, "at-risk", "--top", "1")
    run_cli(home, "promote", "churn", newer, "--reason", "m", "--force")
    listed = run_cli(home, "at-risk", "--top", "1")
    assert _former_champions_note(was, newer) in listed
    run_cli(home, "promote", "churn", was, "--reason", "rollback")
    assert "no longer champion" not in run_cli(home, "at-risk", "--top", "1")


def test_segments_and_the_report_after_a_promotion_say_their_scores_are_the_former_champions(
    trained_copy: Path,
) -> None:
    """Trial M: after a promotion the lists said their scores were the former champion's
    (above), while `segments` (LTV shares) and `report` (its "Model quality (champions)"
    beside them) read the same table without a word. Both say it now, in the report's HTML
    too, until the versions that made the table serve again."""
    import html

    home = trained_copy
    was, newer = _champion_and_a_new_version(home)
    run_cli(home, "promote", "churn", newer, "--reason", "m", "--force")
    note = _former_champions_note(was, newer)
    segments = run_cli(home, "segments").splitlines()
    assert segments[1] == note, segments[:3]
    # a past date's segments (--as-of) are made right by scoring that date again (review R2)
    date = json.loads(run_cli(home, "--json", "segments"))["as_of"]
    dated = json.loads(run_cli(home, "--json", "segments", "--as-of", date))["notes"]
    assert dated == [note.replace("--dataset demo`", f"--dataset demo --as-of {date}`")], dated
    report = json.loads(run_cli(home, "--json", "report"))
    assert report["notes"] == [note]
    assert f'<p class="note warn">{html.escape(note)}</p></header>' in Path(
        report["path"]
    ).read_text(encoding="utf-8")
    run_cli(home, "promote", "churn", was, "--reason", "rollback")
    assert json.loads(run_cli(home, "--json", "segments"))["notes"] == []
    report = json.loads(run_cli(home, "--json", "report"))
    assert report["notes"] == [] and "no longer champion" not in Path(report["path"]).read_text()


def test_movers_compare_latest_with_previous(trained_copy: Path) -> None:
    home = trained_copy
    settings = load_settings(home=home, environ={})
    month_before = feature_cutoffs(store_paths(settings).feature_table)[-5]  # weekly cutoffs
    earlier = batch.score_all(settings, month_before, reasons_top=None)
    # every list from then on comes from that earlier table: said, not only by its date
    behind = run_cli(home, "at-risk", "--top", "1")
    assert f"note: these scores are as of {month_before:%Y-%m-%d}, an earlier cutoff" in behind
    latest = batch.score_all(settings, reasons_top=None)
    assert "an earlier cutoff" not in run_cli(home, "at-risk", "--top", "1")
    assert read_scores(home / "scores" / PREVIOUS_SCORES).path == earlier.path.resolve()
    listing = json.loads(run_cli(home, "--json", "movers", "--top", "10"))
    rows = listing["rows"]
    assert rows and listing["previous"] == str(earlier.path.resolve())
    # written, the list printed: its seed is drawn from what it is (its two dates too), not
    # from the file (printed: seed 0; written: a seed of the file name)
    out = home / "movers.csv"
    written = json.loads(run_cli(home, "--json", "movers", "--top", "10", "--out", str(out)))
    assert written["control"] == listing["control"]
    assert listing["control"]["drawn_from"]["since"] == f"{month_before:%Y-%m-%d}"
    assert read_list_file(out)["control"].tolist() == [r["control"] for r in rows]
    changes = [r["value_at_risk_change"] for r in rows]
    assert all(c > 0 for c in changes) and changes == sorted(changes, reverse=True)
    before = earlier.scores.set_index("user_id")
    now = latest.scores.set_index("user_id")
    # by value at risk, of the users whose churn probability rose too (a purchase raises LTV)
    riskier = (now["churn_probability"] - before["churn_probability"]) > 0
    rise = (now["value_at_risk"] - before["value_at_risk"])[
        riskier.reindex(now.index, fill_value=False)
    ]
    biggest = rise.dropna().sort_values(ascending=False)
    assert rows[0]["user_id"] == biggest.index[0]
    assert len(rows) == min(10, int((biggest > 0).sum()))
    assert {"country", "device"} <= set(rows[0])  # no person's: listed (trial 115)
    # A list for one country: filtered by the attribute, and listed (no person's)
    country = str(now["country"].dropna().iloc[0])
    listed = json.loads(run_cli(home, "--json", "at-risk", "--where", f"country={country}"))
    ids = [r["user_id"] for r in listed["rows"]]
    assert ids and set(now.loc[ids, "country"]) == {country}
    assert (
        listed["filters"] == {"where": [["country", country]], "min_churn": 0.2}  # the floor
        and {r["country"] for r in listed["rows"]} == {country}
    )
    refused = CliRunner().invoke(main, ["--home", str(home), "at-risk", "--where", "country"])
    assert refused.exit_code == 2 and "expected COLUMN=VALUE" in refused.output
    # Scored again with nothing new: no one rose, and the list says so (it said only "(no
    # users match)", as a filter that matched nobody does).
    again = batch.score_all(settings, reasons_top=None)
    printed = run_cli(home, "movers").splitlines()
    as_of = read_scores(again.path).as_of
    assert read_scores(latest.path).as_of == as_of
    # ... in its title, once (session 59: the title said "top 0 risers")
    nobody = f"nobody's value at risk rose between the two tables of {as_of}"
    assert printed[0].startswith(f"demo: no risers ({nobody}) in value at risk: "), printed
    assert not [line for line in printed[1:] if nobody in line], printed


def test_score_all_names_each_scores_file_it_did_not_write_and_leaves_it(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """... reading each scores file's metadata once for its tables and the strays alike."""
    stray = trained_copy / "scores" / "scores-2025-01-01-20000101T000000000000Z.parquet"
    stray.write_bytes(b"half a download")
    read = counted_metadata_reads(monkeypatch)
    printed = run_cli(trained_copy, "score-all").splitlines()
    files = sorted(p.name for p in stray.parent.glob("scores-*.parquet"))
    assert sorted(read) == files and stray.name in files
    assert (
        f"  warning: {stray}: not a readable Parquet file; not read as a scores table nor "
        f"pruned: move it out of {stray.parent} (or delete it) if it is not needed"
    ) in printed
    assert stray.read_bytes() == b"half a download"


def test_report_is_self_contained_with_model_plots(trained_copy: Path) -> None:
    home = trained_copy
    printed = json.loads(run_cli(home, "--json", "report"))
    path = Path(printed["path"])
    text = path.read_text()
    assert printed["images"] >= 9  # 5 report plots + gain/calibration/deciles of the champions
    assert text.count("data:image/png;base64,") == printed["images"]
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for section in (
        "Score distributions",
        "Model quality",
        "Predicted LTV by decile",
        "Segments",
        "Funnel",
        "at-risk users",
    ):
        assert section in text, section
    # the list's columns are fixed (sections after it, such as drift, name model inputs):
    # no attribute column; the reasons say a country, no person's (trial 115)
    listed = text.split("at-risk users")[-1].split("<h2")[0]
    assert "<table" in listed and ">country<" not in listed


def test_score_and_report_is_what_run_ends_with(trained_copy: Path) -> None:
    from serving.report import score_and_report

    home = trained_copy
    lines: list[str] = []
    summary = score_and_report(load_settings(home=home, environ={}), top=5, echo=lines.append)
    # the low risk band left out, as `lifecycle at-risk` does (trial 114), and said
    by = "by value at risk (churn probability x LTV), churn probability >= 0.2 as of"
    assert lines[0].startswith(f"demo: top 5 at-risk users {by}")
    assert lines[1].startswith("money in ")  # the units, then the table
    assert "ctl" in lines[2] and summary["top"][0]["user_id"] in lines[3]
    assert lines[-1] == f"report: {summary['report']}" and Path(summary["report"]).is_file()
    from serving.list_top import print_top

    one: list[str] = []  # it said "top 1 at-risk users"
    print_top(load_settings(home=home, environ={}), 1, echo=one.append)
    assert one[0].startswith(f"demo: top 1 at-risk user {by}")
    assert (
        read_scores(home / "scores" / LATEST_SCORES).path
        == Path(summary["scores"]["path"]).resolve()
    )


MAX_QUICK_RATIO = 10  # batch scoring time / pure LightGBM predict time, 5k users
MAX_MEMORY_MULTIPLE = 2  # peak memory above start / feature matrix size (the benchmark's aim)


@pytest.mark.slow
def test_benchmark_script_stays_within_its_time_and_memory_bounds() -> None:
    stdout = run_experiment("bench_batch_scoring.py", "--quick")
    ratio = float(stdout.split("ratio to LightGBM predict: ")[1].split("x")[0])
    memory_multiple = float(stdout.split(" MiB = ")[1].split("x")[0])
    reasons = int(stdout.split("reasons for ")[1].split(" users")[0].replace(",", ""))
    assert "users: 5,000" in stdout and reasons > 0
    # At 5k users fixed per-call costs (segments, reasons, ranking) dominate: measured 4.6x
    # pure predict on a loaded 2-core box (the 1.5x aim is for 1M users). Scoring that did
    # per-row Python work, or scored each user more than once, would be far above 10x.
    assert ratio < MAX_QUICK_RATIO, stdout
    # Scoring must not hold several copies of the feature matrix at once: 1.57x by traced
    # allocations in chunks of 1,000 rows, the same in every run (the resident set of this
    # 2 MiB matrix moved 1.3x-3.1x from run to run: CI failed at 3.13x); one chunk of all
    # 5,000 rows is 2.9x.
    assert memory_multiple <= MAX_MEMORY_MULTIPLE, stdout


def _failing(home: Path, *args: str) -> str:
    """The one error line of a refused command (no traceback)."""
    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


def test_lists_read_only_their_datasets_scores(trained_copy: Path) -> None:
    """One latest scores table per workspace: once another dataset scored, the lists, movers,
    segments and the service's /at_risk of this one refuse, naming both datasets; scored
    again, its movers compare its own two tables."""
    from serving.answers import ListAnswers
    from serving.errors import ApiError

    home = trained_copy
    settings = load_settings(home=home, environ={})
    table = read_scores(settings.workspace.latest_scores)
    head = run_cli(home, "at-risk", "--top", "2").splitlines()[0]
    assert head.startswith("demo: top 2 users by value at risk")
    write_scores(settings.workspace.scores_dir, table.frame, {**table.metadata, "dataset": "grown"})
    for command in (
        ["at-risk"],
        ["movers"],
        ["segments"],
        ["report"],
        ["at-risk", "--dataset", "demo"],
        ["report", "--dataset", "demo"],
    ):
        line = _failing(home, *command)
        assert "holds dataset grown, not demo" in line, command
        assert "lifecycle score-all --dataset demo" in line, command
    # the latest table is grown's, its only one (the demo's before it is no previous of it):
    # no "pass --dataset demo" back
    line = _failing(home, "movers", "--dataset", "grown")
    assert "compares two scores tables of dataset grown, and the latest (" in line
    assert "is its only one in " in line
    assert "pass --dataset" not in line and "lifecycle score-all --dataset grown" in line
    with pytest.raises(ApiError) as refused:
        ListAnswers(settings, "demo").table()
    assert refused.value.status == 404 and "holds dataset grown" in refused.value.message
    # Doing what the refusal says: movers compare the demo's two tables, grown's between them
    # not counted (it refused: the previous table holds dataset grown)
    rescored = batch.score_all(settings, reasons_top=None)
    moved = json.loads(run_cli(home, "--json", "movers"))
    assert moved["dataset"] == "demo" and moved["previous"] == str(table.path)
    assert moved["latest"] == str(Path(rescored.path).resolve())


def test_the_service_names_its_dataset_in_the_score_all_it_asks_for(tmp_path: Path) -> None:
    """A service of online_retail (`serve --dataset` sets the workers' settings dataset) said
    "run `lifecycle score-all`" on /readyz and /at_risk once demo had scored: a plain
    score-all, in the operator's shell, scored demo again."""
    from types import SimpleNamespace

    from serving.answers import ListAnswers
    from serving.errors import ApiError

    settings = load_settings(home=tmp_path / "ws", environ={"LIFECYCLE_DATASET": "online_retail"})
    answers = ListAnswers(settings, "online_retail")
    with pytest.raises(ApiError) as missing:
        answers.table()
    assert "--dataset online_retail" in missing.value.message
    write_scores(
        settings.workspace.scores_dir, tiny_scores(0.2), {"as_of": "2025-01-01", "dataset": "demo"}
    )
    with pytest.raises(ApiError) as refused:
        answers.table()
    said = refused.value.message
    assert "the latest scores table holds dataset demo" in said
    assert "--dataset online_retail" in said and "score-all`" not in said, said
    champions = SimpleNamespace(versions={"churn": "2"}, bundles={}, kinds={"churn": "lightgbm"})
    stale = answers.stale(SimpleNamespace(champions=champions))
    assert stale is not None and stale.fix == "lifecycle score-all --dataset online_retail"


def test_lists_carry_the_ranked_score_and_the_ltv_median(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    home = trained_workspace.home
    ranked = json.loads(
        run_cli(home, "--json", "at-risk", "--top", "5", "--rank-by", "conversion_probability")
    )
    values = [r["conversion_probability"] for r in ranked["rows"]]
    assert values and values == sorted(values, reverse=True) and ranked["dataset"] == "demo"
    plain = json.loads(run_cli(home, "--json", "at-risk", "--top", "5"))["rows"]
    assert all(r["ltv_p10"] <= r["ltv_p50"] <= r["ltv_p90"] for r in plain)
    assert "conversion_probability" not in plain[0]
    printed = run_cli(home, "at-risk", "--top", "3", "--rank-by", "conversion_probability")
    # the table's header (ranked by conversion: no churn floor, no line counting it)
    assert "conversion" in printed.splitlines()[2]


def test_files_that_are_no_scores_table_are_one_line(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "young.csv"
    csv.write_text("user_id,event_time\nu1,2025-01-01\n")
    garbage = tmp_path / "bad.parquet"
    garbage.write_bytes(b"not parquet at all")
    events = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": ["u1"], "event_time": [pd.Timestamp("2025-01-01")]}).to_parquet(events)
    for path in (csv, garbage):
        line = _failing(home, "at-risk", "--scores", str(path))
        assert line == (
            f"Error: {path}: not a scores table written by `lifecycle score-all` "
            "(not a Parquet file)"
        )
    line = _failing(home, "at-risk", "--scores", str(events))
    assert line.startswith(f"Error: {events}: not a scores table written by `lifecycle score-all`")
    assert line.endswith("(it lacks churn_probability, conversion_probability, ltv, value_at_risk)")


def test_a_table_without_ltv_ranks_by_churn_and_movers_name_model_changes(
    trained_copy: Path,
) -> None:
    """`score-all --allow-partial` without an LTV champion: the default list falls back to
    churn probability and says so; asked for value at risk, the error names the missing
    model and the rankings the table has. Movers across another model version say so."""
    home = trained_copy
    settings = load_settings(home=home, environ={})
    table = read_scores(settings.workspace.latest_scores)
    partial = table.frame.drop(columns=["ltv", "ltv_p10", "ltv_p50", "ltv_p90", "value_at_risk"])
    versions = {"churn": "7", "conversion": table.metadata["model_versions"]["conversion"]}
    write_scores(
        settings.workspace.scores_dir, partial, {**table.metadata, "model_versions": versions}
    )
    listed = json.loads(run_cli(home, "--json", "at-risk", "--top", "5"))
    assert listed["rank_by"] == "churn_probability"
    champion = table.metadata["model_versions"]["churn"]  # the table says v7 made it
    stale = (
        f"note: these scores were made by models no longer champion (churn version 7, now "
        f"version {champion}): `lifecycle score-all --dataset demo` scores with the champions"
    )
    low = int((partial["churn_probability"] < 0.2).sum())  # the low risk band, left out
    assert listed["notes"] == [
        "ranked by churn probability: the scores table has no "
        "value_at_risk (no ltv model scored it)",
        f"left out: {low:,} scored users below the medium risk band (churn probability under "
        "0.2, serving.medium_risk); `--min-churn 0` lists them too",
        stale,
    ]
    churn = [r["churn_probability"] for r in listed["rows"]]
    assert churn == sorted(churn, reverse=True)
    assert listed["notes"][0] in run_cli(home, "at-risk", "--top", "2")
    line = _failing(home, "at-risk", "--rank-by", "value_at_risk")
    assert line == (
        "Error: --rank-by value_at_risk: the scores table has no value_at_risk (no ltv model "
        "scored it); rank by churn_probability, conversion_probability, return_probability"
    )
    moved = json.loads(run_cli(home, "--json", "movers", "--by", "churn_probability"))
    before = table.metadata["model_versions"]["churn"]
    assert moved["model_changes"] == {"churn": [before, "7"]}
    # the same scores under another version's name: nobody rose, and the list says so
    assert moved["rows"] == [] and moved["notes"] == [
        f"churn: the model differs between the two tables (v{before} -> v7); part of each "
        "change is the model's, not the user's",
        f"both tables are of {table.as_of}: each change comes from the models or the data",
        f"nobody's churn probability rose between the two tables of {table.as_of}",
        stale,
    ]


def test_movers_say_a_model_changed_only_where_the_numbers_maker_did() -> None:
    """online_retail after a refresh: `movers` said "conversion: the model differs between
    the two tables (v3 -> v5); part of each change is the model's", while both tables'
    conversion was 1 - churn v2 (a log of purchases: conversion's own model answers nothing).
    What made the numbers is compared, and named so when it moved."""
    from serving.batch import ScoresTable
    from serving.movers import model_changes, mover_notes
    from serving.scoring import CHURN_COMPLEMENT

    kinds = {"churn": "rfm_score", "conversion": CHURN_COMPLEMENT, "ltv": "bgnbd_gamma_gamma"}

    def table(day: str, churn: str, conversion: str, ltv: str) -> ScoresTable:
        versions = {"churn": churn, "conversion": conversion, "ltv": ltv}
        return ScoresTable(
            pd.DataFrame(), {"as_of": day, "model_versions": versions, "model_kinds": kinds}
        )

    july = table("2011-07-01", "2", "3", "3")
    october = table("2011-10-01", "2", "5", "4")
    assert model_changes(july, october) == {"ltv": ("3", "4")}
    rescored = table("2011-10-01", "10", "5", "4")
    changes = model_changes(october, rescored)
    assert changes == {"churn": ("2", "10"), "conversion": ("1 - churn v2", "1 - churn v10")}
    notes = mover_notes(changes, october, rescored, "value_at_risk", nobody=False)
    assert notes[:2] == (
        "churn: the model differs between the two tables (v2 -> v10); part of each change is "
        "the model's, not the user's",
        "conversion: the model differs between the two tables (1 - churn v2 -> 1 - churn v10); "
        "part of each change is the model's, not the user's",
    )


def test_score_all_says_what_answered_conversion_on_a_log_of_one_event() -> None:
    """`scored ... with churn v1, conversion v2, ltv v1` while the report said conversion v2
    is not what serves: a one-time buyer's conversion is 1 - churn v1."""
    from serving.batch import BatchResult
    from serving.scoring import CHURN_COMPLEMENT

    result = BatchResult(
        None,
        pd.Timestamp("2011-09-10"),
        3412,
        {"churn": "1", "conversion": "2", "ltv": "1"},
        {},
        {"score": 1.0},
        pd.DataFrame(),
        kinds={"churn": "lightgbm", "conversion": CHURN_COMPLEMENT, "ltv": "lightgbm"},
    )
    assert result.lines()[0].startswith(
        "scored 3,412 users as of 2011-09-10 with churn v1, conversion 1 - churn v1, ltv v1 in"
    )
    result.kinds["conversion"] = "lightgbm"
    assert "conversion v2, ltv v1" in result.lines()[0]
