"""Uplift learned from the demo's randomized win-back campaigns, checked against their truth.

One small demo with campaigns (3,000 users, six campaign dates: about 1,300 members) is
built per module with its as-of features; no model of the three tasks is trained.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from services import run_cli
from workspaces import fingerprint

from lifecycle.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

import uplift_demo  # noqa: E402  (experiments/ is not a package)

# Six campaigns instead of the demo's two: enough members for a fast test to see the types.
WEEKS_BEFORE_END = (78, 65, 52, 39, 26, 13)


@pytest.fixture(scope="module")
def campaign_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.demo_campaigns import CampaignDesign

    home = tmp_path_factory.mktemp("uplift_demo") / "workspace"
    uplift_demo.build_demo(home, 3000, 5, CampaignDesign(weeks_before_end=WEEKS_BEFORE_END))
    return home


@pytest.fixture(scope="module")
def table_and_truth(campaign_demo: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return uplift_demo.demo_table(campaign_demo)


def test_campaign_table_has_outcomes_after_and_features_at_the_campaign_date(
    campaign_demo: Path, table_and_truth: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    table, truth = table_and_truth
    assert sorted(table["arm"].unique()) == sorted(truth["campaign"].unique())
    assert table["arm"].nunique() == len(WEEKS_BEFORE_END)
    assert (table["treatment"].to_numpy() == ~truth["control"].to_numpy()).all()
    # The outcomes are what happened in the horizon: the truth's outcome of the member's arm.
    arm = np.where(table["treatment"], "targeted", "control")
    for column, truth_column in (("visit", "retained"), ("conversion", "purchased")):
        expected = np.where(
            arm == "targeted",
            truth[f"{truth_column}_if_targeted"],
            truth[f"{truth_column}_if_control"],
        )
        assert (table[column].to_numpy() == expected.astype(float)).all(), column
    # The features are the feature table's rows at the campaign's date, never a later cutoff.
    features = pd.read_parquet(campaign_demo / "features" / "demo" / "user_features.parquet")
    for name, rows in table.groupby("arm"):
        as_of = pd.Timestamp(truth.loc[truth["campaign"] == name, "as_of"].iloc[0])
        at = features[features["as_of"] == as_of].set_index("user_id").loc[rows["user_id"]]
        for column in ("orders_total", "recency_days", "sessions_90d", "channel"):
            assert (at[column].to_numpy() == rows[column].to_numpy()).all(), (name, column)
        assert "as_of" not in table.columns


def test_learner_recovers_the_user_types_effect_ordering(
    table_and_truth: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Ten user types (channel x engagement) with win-back probabilities from 0.04 to 0.60:
    the chosen learner's mean predicted uplift per type follows the truth's order."""
    from training.uplift import evaluate
    from training.uplift_campaign import campaign_from_frame

    table, truth = table_and_truth
    campaign = campaign_from_frame(table, "demo campaigns", "conversion")
    order = np.argsort(table["user_id"].astype(str).to_numpy(), kind="stable")
    truth = truth.iloc[order].reset_index(drop=True)
    evaluation = evaluate(campaign, load_settings(home=REPO, environ={}).training.seed, draws=20)
    uplift = evaluation.fitted.bundles[evaluation.chosen].predict(campaign.features)
    by_type = uplift_demo.type_ordering(truth, uplift)
    assert by_type["spearman"] >= 0.7, by_type
    frame = truth.assign(predicted=uplift)
    channels = frame.groupby("channel")[["effect_probability", "predicted"]].mean()
    assert channels["effect_probability"].rank().corr(channels["predicted"].rank()) >= 0.8
    engagement = frame.groupby("engagement")["predicted"].mean()
    assert engagement["high"] > engagement["low"] + 0.03, engagement


def _list(path: Path, members: pd.DataFrame, control: np.ndarray) -> Path:
    """A campaign list of ``members`` (one campaign's truth rows) with these control flags."""
    as_of = f"{members['as_of'].iloc[0]:%Y-%m-%d}"
    frame = pd.DataFrame({"user_id": members["user_id"], "control": control, "as_of": as_of})
    frame.to_csv(path, index=False)
    return path


def test_non_randomized_campaigns_are_refused_with_one_line_and_nothing_written(
    campaign_demo: Path, table_and_truth: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    from click.testing import CliRunner

    from lifecycle.cli import main

    table, truth = table_and_truth
    last = truth["campaign"] == sorted(truth["campaign"].unique())[-1]
    members = truth[last]
    no_control = _list(
        campaign_demo.parent / "all-targeted.csv", members, np.zeros(len(members), bool)
    )
    # Half held out, but only members who did not buy: the control arm is of one class.
    did_not_buy = table.loc[last.to_numpy(), "conversion"].to_numpy() == 0
    chosen = did_not_buy & (np.arange(len(members)) % 2 == 0)
    one_class = _list(campaign_demo.parent / "not-random.csv", members, chosen)
    before = fingerprint(campaign_demo)
    cases = (
        (no_control, "visit", "no control rows (every row is treated)"),
        (one_class, "conversion", "is 0 in every control row"),
    )
    for path, outcome, expected in cases:
        result = CliRunner().invoke(
            main,
            ["--home", str(campaign_demo), "--quiet", "train-uplift", "--dataset", "demo",
             "--from-list", str(path), "--outcome", outcome],
        )  # fmt: skip
        assert result.exit_code != 0
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output, (
            result.output
        )
        path.unlink()
    assert fingerprint(campaign_demo) == before
    assert not (campaign_demo / "mlflow").exists()


def test_one_campaign_under_two_names_is_refused_before_training(campaign_demo: Path) -> None:
    """A recorded campaign and the list it was started from (here: a list and a copy dated a
    day later, as a campaign recorded from it is dated by its scores table) put every member
    in the table twice, in the training and the test split alike; so do two campaigns of one
    day sharing members, whose effects cannot be told apart."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    first = sorted((campaign_demo / "demo" / "campaign_lists").glob("*.csv"))[0]
    rows = pd.read_csv(first, dtype={"user_id": str})
    day = pd.Timestamp(rows["as_of"].iloc[0])
    later = campaign_demo.parent / "later.csv"
    rows.assign(as_of=f"{day + pd.Timedelta(days=1):%Y-%m-%d}").to_csv(later, index=False)
    flipped = campaign_demo.parent / "flipped.csv"
    rows.assign(control=~rows["control"].astype(bool)).to_csv(flipped, index=False)
    before = fingerprint(campaign_demo)
    same = " (e.g. {}, every one with the same control flag)"
    for copy, shared in ((later, same), (flipped, f" on {day:%Y-%m-%d} (e.g. {{}})")):
        result = CliRunner().invoke(
            main,
            ["--home", str(campaign_demo), "--quiet", "train-uplift", "--dataset", "demo",
             "--from-list", str(first), "--from-list", str(copy)],
        )  # fmt: skip
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.strip() == (
            f"Error: campaigns {first.stem} and {copy.stem} share {len(rows):,} members"
            f"{shared.format(min(rows['user_id']))}: the same campaign given twice (a recorded "
            "campaign and its list), or two of one day whose effects cannot be told apart; "
            "give one of them"
        )
    assert fingerprint(campaign_demo) == before
    assert not (campaign_demo / "mlflow").exists()


def test_cli_trains_from_the_demo_campaign_lists(campaign_demo: Path) -> None:
    lists = sorted((campaign_demo / "demo" / "campaign_lists").glob("*.csv"))
    args = [arg for path in lists for arg in ("--from-list", str(path))]
    out = run_cli(
        campaign_demo, "--json", "train-uplift", "--dataset", "demo", *args,
        "--outcome", "conversion", "--bootstrap-draws", "20",
    )  # fmt: skip
    import json

    result = json.loads(out)
    assert result["model"] == "demo-uplift" and result["version"] == "1"
    assert result["split"]["test"] > 200
    assert result["test"][f"{result['learner']}.qini"] > 0


def test_experiment_script_runs_on_a_built_demo(
    campaign_demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        uplift_demo.main(["--home", str(campaign_demo), "--outcome", "visit", "--draws", "20"]) == 0
    )
    printed = capsys.readouterr().out
    for ranking in ("t_learner", "x_learner", "transformed_outcome", "response_model", "oracle"):
        assert re.search(rf"^  {ranking}.* Qini -?\d\.\d{{4}} \[", printed, re.MULTILINE), printed
    assert "user types' Spearman (test):" in printed


def test_a_campaign_date_the_feature_grid_lacks_has_its_features_computed_there(
    campaign_demo: Path, tmp_path: Path
) -> None:
    """`train-uplift --campaigns retain-sep` after a refresh (online_retail): the rebuilt
    table's weekly grid no longer held 2011-09-01, the features of 2011-08-27 were used and
    12 of 498 members, first seen between the two days, were left out. The campaign's own
    day is computed (events before it only: nothing the campaign caused is an input)."""
    from features.asof import compute_features
    from serving.campaign_uplift import (
        COMPUTED_AT,
        campaign_uplift_table,
        list_campaign,
        table_notes,
    )

    settings = load_settings(home=campaign_demo, environ={})
    first = sorted((campaign_demo / "demo" / "campaign_lists").glob("*.csv"))[0]
    rows = pd.read_csv(first, dtype={"user_id": str})
    cutoff = pd.Timestamp(rows["as_of"].iloc[0], tz="UTC")
    day = cutoff + pd.Timedelta(days=3)  # no cutoff of the table: it is weekly
    held = pd.read_parquet(settings.workspace.feature_table("demo"), columns=["as_of"])["as_of"]
    assert day not in set(held) and cutoff in set(held)
    events = settings.workspace.events("demo")
    users = settings.workspace.users_if_any("demo")
    at_day = compute_features(
        events,
        [day],
        users=users,
        windows=settings.features.windows_days,
        not_activity_types=settings.labels.not_activity_types,
    )
    at_cutoff = compute_features(events, [cutoff], users=users, windows=(7,))
    newcomers = sorted(set(at_day["user_id"]) - set(at_cutoff["user_id"]))[:6]
    assert newcomers  # users first seen between the cutoff and the campaign's day
    listed = pd.concat(
        [rows, pd.DataFrame({"user_id": newcomers, "control": [True, False] * 3})]
    ).assign(as_of=f"{day:%Y-%m-%d}")
    moved = tmp_path / "moved.csv"
    listed.to_csv(moved, index=False)
    table = campaign_uplift_table(settings, [list_campaign(moved, 30, "demo")], "demo")
    assert sorted(table["user_id"]) == sorted(listed["user_id"])  # nobody left out
    expected = at_day.set_index("user_id").loc[table["user_id"]]
    for column in ("orders_total", "recency_days", "sessions_90d"):
        computed = expected[column].to_numpy(dtype=float)
        assert table[column].to_numpy(dtype=float) == pytest.approx(computed, nan_ok=True), column
    assert table_notes(table)[COMPUTED_AT] == [
        f"campaign moved: features computed at its as-of date {day:%Y-%m-%d}, which the "
        "feature table's cutoffs do not hold (a table rebuilt on another grid)"
    ]


def test_members_unknown_at_the_campaign_date_are_counted_not_dropped_silently(
    campaign_demo: Path,
) -> None:
    """A randomized test whose users enter at their first visit (retentioneering's A/B log):
    `train-uplift --from-list` fitted on 234 of 1,127 members and said nothing of the 893
    who were no users yet at the feature cutoff before the list's date."""
    from serving.campaign_uplift import campaign_uplift_table, left_out_lines, list_campaign
    from serving.campaigns import CampaignError

    settings = load_settings(home=campaign_demo, environ={})
    first = sorted((campaign_demo / "demo" / "campaign_lists").glob("*.csv"))[0]
    rows = pd.read_csv(first, dtype={"user_id": str})
    strangers = rows.head(7).assign(user_id=[f"newcomer-{i}" for i in range(7)])
    mixed = campaign_demo.parent / "with_newcomers.csv"
    pd.concat([rows, strangers]).to_csv(mixed, index=False)
    table = campaign_uplift_table(settings, [list_campaign(mixed, 90, "demo")], "demo")
    assert len(table) == len(rows)
    (line,) = left_out_lines(table)
    assert line.startswith(
        f"campaign with_newcomers: 7 of {len(rows) + 7:,} members left out, not yet users at "
    )
    known = campaign_uplift_table(settings, [list_campaign(first, 90, "demo")], "demo")
    assert left_out_lines(known) == []
    only = campaign_demo.parent / "newcomers.csv"
    strangers.to_csv(only, index=False)
    with pytest.raises(CampaignError, match=r"campaign newcomers: none of its 7 members is a user"):
        campaign_uplift_table(settings, [list_campaign(only, 90, "demo")], "demo")


def test_members_left_out_at_a_computed_campaign_date_are_said_unknown_at_that_date(
    campaign_demo: Path, tmp_path: Path
) -> None:
    """A campaign whose features were computed at its own date said its unknown members were
    "not yet users at <its date> (the last feature cutoff before its as-of date)", a cutoff
    the table lacks (review R L3, session 46); the refusal of a campaign of strangers named
    that date as the table's cutoff too."""
    from serving.campaign_uplift import campaign_uplift_table, left_out_lines, list_campaign
    from serving.campaigns import CampaignError

    moved, day = _campaign_off_the_grid(campaign_demo, tmp_path)
    rows = pd.read_csv(moved, dtype={"user_id": str})
    strangers = rows.head(3).assign(user_id=[f"newcomer-{i}" for i in range(3)])
    pd.concat([rows, strangers]).to_csv(moved, index=False)
    settings = load_settings(home=campaign_demo, environ={})
    table = campaign_uplift_table(settings, [list_campaign(moved, 30, "demo")], "demo")
    assert left_out_lines(table) == [
        f"campaign moved: 3 of {len(rows) + 3:,} members left out, not yet users at "
        f"{day:%Y-%m-%d}, its as-of date (features computed there): no features to learn from"
    ]
    only = tmp_path / "strangers.csv"
    strangers.to_csv(only, index=False)
    with pytest.raises(CampaignError) as refused:
        campaign_uplift_table(settings, [list_campaign(only, 30, "demo")], "demo")
    assert str(refused.value) == (
        "campaign strangers: none of its 3 members is a user of 'demo' known at "
        f"{day:%Y-%m-%d}, its as-of date (features computed there)"
    )


def _campaign_off_the_grid(campaign_demo: Path, tmp_path: Path) -> tuple[Path, pd.Timestamp]:
    """The first demo campaign dated three days after its cutoff: a day the weekly feature
    table lacks, so its features are computed there."""
    first = sorted((campaign_demo / "demo" / "campaign_lists").glob("*.csv"))[0]
    rows = pd.read_csv(first, dtype={"user_id": str})
    day = pd.Timestamp(rows["as_of"].iloc[0], tz="UTC") + pd.Timedelta(days=3)
    moved = tmp_path / "moved.csv"
    rows.assign(as_of=f"{day:%Y-%m-%d}").to_csv(moved, index=False)
    return moved, day


def test_an_event_after_the_campaign_date_changes_no_computed_feature(
    campaign_demo: Path, tmp_path: Path
) -> None:
    """The as-of property of features computed at a campaign's own date (review R M1,
    session 46): a member's event one day after the campaign's date, which the campaign may
    have caused, is no input; the same event is one of their features two days later."""
    import shutil

    from features.table_settings import features_at
    from serving.campaign_uplift import COMPUTED_AT, campaign_uplift_table, list_campaign

    moved, day = _campaign_off_the_grid(campaign_demo, tmp_path)
    settings = load_settings(home=campaign_demo, environ={})
    before = campaign_uplift_table(settings, [list_campaign(moved, 30, "demo")], "demo")
    assert before.attrs[COMPUTED_AT] == {"moved": f"{day:%Y-%m-%d}"}
    member = str(before["user_id"].iloc[0])
    home = tmp_path / "workspace"
    shutil.copytree(campaign_demo, home)  # links followed: the copy's events are its own
    copied = load_settings(home=home, environ={})
    events_path = copied.workspace.events("demo").resolve()
    assert home.resolve() in events_path.parents, events_path
    events = pd.read_parquet(events_path)
    own = events[events["user_id"].astype(str) == member]
    added = own.tail(1).assign(event_time=day + pd.Timedelta(days=1, hours=12))
    if "order_id" in added:
        added = added.assign(order_id="asof-test-1")
    pd.concat([events, added], ignore_index=True).to_parquet(events_path, index=False)
    after = campaign_uplift_table(copied, [list_campaign(moved, 30, "demo")], "demo")
    inputs = [c for c in before.columns if c not in ("user_id", "visit", "conversion", "spend")]
    mine = before.set_index("user_id").loc[member, inputs]
    assert after.set_index("user_id").loc[member, inputs].equals(mine)
    later = features_at(copied, "demo", [day + pd.Timedelta(days=2)]).set_index("user_id")
    original = features_at(settings, "demo", [day + pd.Timedelta(days=2)]).set_index("user_id")
    assert not later.loc[member].equals(original.loc[member])  # the event is read after it


def test_features_of_a_campaign_date_under_changed_settings_fall_back_and_say_so(
    campaign_demo: Path, tmp_path: Path
) -> None:
    """The settings' guard compared columns only (review R M1, session 46): after a change
    of labels.not_activity_types (values, not columns) one campaign's features were computed
    under the new rule beside the table's other rows under the old one, and nothing said
    so. Now the table's recorded settings hash is compared: the earlier cutoff is used and
    the table's notes say why."""
    from features.asof import AS_OF
    from serving.campaign_uplift import (
        COMPUTED_AT,
        FEATURES_FROM,
        campaign_uplift_table,
        list_campaign,
        table_notes,
    )

    moved, day = _campaign_off_the_grid(campaign_demo, tmp_path)
    settings = load_settings(home=campaign_demo, environ={})
    labels = settings.labels.model_copy(update={"not_activity_types": ["support_ticket"]})
    changed = settings.model_copy(update={"labels": labels})
    table = campaign_uplift_table(changed, [list_campaign(moved, 30, "demo")], "demo")
    cutoff = day - pd.Timedelta(days=3)
    assert table.attrs[COMPUTED_AT] == {}
    assert table_notes(table)[FEATURES_FROM] == [
        f"campaign moved: features of the earlier cutoff {cutoff:%Y-%m-%d}, not computed at "
        "its as-of date: the feature table was built with other features settings: run "
        "`lifecycle features build --dataset demo`"
    ]
    held = pd.read_parquet(settings.workspace.feature_table("demo"))
    held = held[held[AS_OF] == cutoff].astype({"user_id": str}).set_index("user_id")
    expected = held.loc[table["user_id"], "recency_days"].to_numpy(dtype=float)
    assert table["recency_days"].to_numpy(dtype=float) == pytest.approx(expected, nan_ok=True)
