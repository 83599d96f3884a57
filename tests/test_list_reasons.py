"""Lists filtered below `score-all --reasons-top N` (`--segment`, `--where`): every listed
user's churn reasons, computed at list time by the model version and as-of of the table,
or one note saying how many lack them and why. Against a real trained workspace."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from services import run_cli

from features.asof import feature_cutoffs
from features.store import open_store, store_paths
from lifecycle.aliases_mirror import ALIASES_FILE
from lifecycle.cli import main
from lifecycle.settings import load_settings
from lifecycle.workspace import LATEST_SCORES
from serving.batch import ScoresTable, read_scores, write_scores
from serving.reason_words import reasons_text

TOP = 5


def _listed(home: Path, *options: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return json.loads(run_cli(home, "--json", "at-risk", "--top", str(TOP), *options, env=env))


def _filtered_lists(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """A list per RFM segment and per country (`--where`), with no churn floor: each
    reaches below the top N of every ranking."""
    segments = [("--segment", s) for s in sorted(table["segment"].dropna().unique())]
    countries = [("--where", f"country={s}") for s in sorted(table["country"].dropna().unique())]
    return [(*pair, "--min-churn", "0") for pair in segments + countries]


def test_a_filtered_list_explains_every_listed_user_as_explaining_all_does(
    trained_copy: Path, tmp_path: Path
) -> None:
    """`score-all --reasons-top 1` then lists of one segment or country: their users outside
    the top 1 of each ranking were listed with blank reasons (the docs admitted it). Each
    listed user now has the reasons `--reasons-top 0` (explain all) stores for them; the
    written forms of the list carry them too."""
    scores = trained_copy / "scores" / LATEST_SCORES
    run_cli(trained_copy, "score-all", "--reasons-top", "0")
    every = read_scores(scores).frame.set_index("user_id")["reasons"]
    run_cli(trained_copy, "score-all", "--reasons-top", "1")
    table = read_scores(scores).frame
    stored = table.set_index("user_id")["reasons"]
    unexplained = 0
    for options in _filtered_lists(table):
        said = _listed(trained_copy, *options)
        for row in said["rows"]:
            user = row["user_id"]
            unexplained += pd.isna(stored[user])
            assert row["top_reasons"] == reasons_text(every[user]), (options, user)
        assert not [n for n in said["notes"] if "without churn reasons" in n], said["notes"]
    assert unexplained >= 10  # the lists did reach users the table left unexplained
    options = _filtered_lists(table)[0]
    shown = {r["user_id"]: r["top_reasons"] for r in _listed(trained_copy, *options)["rows"]}
    for suffix, read in (
        (".csv", pd.read_csv),
        (".parquet", pd.read_parquet),
        (".json", lambda p: pd.DataFrame(json.loads(p.read_text())["rows"])),
        (".xlsx", pd.read_excel),
    ):
        out = tmp_path / f"list{suffix}"
        _listed(trained_copy, *options, "--out", str(out))
        written = read(out).fillna("")
        assert (
            dict(zip(written["user_id"].astype(str), written["top_reasons"], strict=True)) == shown
        ), suffix


def test_a_list_explains_its_users_exactly_as_score_all_does(
    trained_copy: Path, tmp_path: Path
) -> None:
    """`score-all` (serving.compile_trees on, the default) explains with the precomputed
    TreeSHAP of lifecycle.treeshap, a list computing its users' reasons explained with
    LightGBM's `pred_contrib` instead: the same words, contributions apart in their last
    digits, and four times the CPU. A list now explains by the same TreeSHAP: every user's
    reasons are the very JSON `score-all` stores for them."""
    from serving.list_reasons import explain_listed

    scores = trained_copy / "scores" / LATEST_SCORES
    run_cli(trained_copy, "score-all")  # every eligible user explained
    table = read_scores(scores)
    every = table.frame.set_index("user_id")["reasons"]
    assert every.notna().sum() >= 100
    blank = read_scores(write_scores(tmp_path, table.frame.assign(reasons=None), table.metadata))
    settings = load_settings(home=trained_copy, environ={})
    listed, notes = explain_listed(settings, blank, blank.frame)
    computed = listed.set_index("user_id")["reasons"]
    assert not [n for n in notes if "without churn reasons" in n], notes
    differing = [user for user in every.index if computed[user] != every[user]]
    assert differing == [], (len(differing), differing[:3])


def test_reasons_that_cannot_be_computed_are_said_in_one_note(
    trained_copy: Path, tmp_path: Path
) -> None:
    """A table whose churn model version is gone from the registry, or whose as-of features
    are no longer in the feature table: the list names how many listed users lack reasons
    and why, in one note, instead of blank reasons said nowhere."""
    run_cli(trained_copy, "score-all", "--reasons-top", "1")
    table = read_scores(trained_copy / "scores" / LATEST_SCORES)
    options = _filtered_lists(table.frame)[0]
    for changed, why in (
        ({"model_versions": {**table.metadata["model_versions"], "churn": "99"}}, "v99"),
        ({"as_of": "2001-01-01"}, "features as of 2001-01-01 are no longer in"),
    ):
        folder = tmp_path / why.split()[0]
        path = write_scores(folder, table.frame, {**table.metadata, **changed})
        said = _listed(trained_copy, *options, "--scores", str(path))
        stored = table.frame.set_index("user_id")["reasons"]
        blank = sum(pd.isna(stored[row["user_id"]]) for row in said["rows"])
        notes = [n for n in said["notes"] if "without churn reasons" in n]
        assert blank and len(notes) == 1 and why in notes[0], said["notes"]
        assert notes[0].startswith(f"{blank} listed user"), notes
    # The expected failures of a registry or a store (MLflow's error, the project's) are
    # notes too: a tracking URI mistyped, then the dataset's Feast store not applied.
    said = _listed(trained_copy, *options, env={"LIFECYCLE_TRACKING__URI": "htp://127.0.0.1:5000"})
    note = _reasons_note(table, said)
    assert note.startswith(
        "churn model v1, which made these scores, cannot be loaded:  Model registry "
        "functionality is unavailable; got unsupported URI 'htp://127.0.0.1:5000' "
    ), note
    repo = store_paths(load_settings(home=trained_copy, environ={})).repo
    (repo / "registry.db").rename(tmp_path / "registry.db")
    assert _reasons_note(table, _listed(trained_copy, *options)) == (
        f"their features as of {table.as_of} cannot be read: no feature store for dataset "
        f"'demo' at {repo}: run `lifecycle features apply --dataset demo` first (or "
        "`lifecycle refresh`, which takes a dataset through every step)"
    )


def test_a_damaged_tracking_store_is_said_in_one_line(trained_copy: Path, tmp_path: Path) -> None:
    """The MLflow store overwritten with bytes that are not a database (its aliases mirror
    gone, so the store itself is asked): computing a list's reasons crashed the list with a
    `sqlite3.DatabaseError: file is not a database` traceback, and `lifecycle models` alike.
    Now the list says it in its note, and `models` refuses in one line naming the file."""
    table = read_scores(trained_copy / "scores" / LATEST_SCORES)
    path = write_scores(tmp_path, table.frame.assign(reasons=None), table.metadata)
    mlflow_dir = load_settings(home=trained_copy, environ={}).workspace.mlflow_dir
    (mlflow_dir / ALIASES_FILE).unlink()
    database = mlflow_dir / "mlflow.db"
    database.write_bytes(b"not a database " * 100)
    said = _listed(trained_copy, *_filtered_lists(table.frame)[0], "--scores", str(path))
    damaged = (
        f"the tracking store {database} cannot be read (file is not a database): the "
        "registered models are there; restore it from a copy of the workspace"
    )
    assert _reasons_note(read_scores(path), said) == (
        f"churn model v1, which made these scores, cannot be loaded: {damaged}"
    )
    result = CliRunner().invoke(main, ["--home", str(trained_copy), "models"])
    assert result.exit_code == 1 and result.output == f"Error: {damaged}\n", result.output


def _reasons_note(table: ScoresTable, said: dict[str, Any]) -> str:
    """The list's one note on churn reasons, after its count of listed users lacking them
    (those without stored reasons: all of them)."""
    stored = table.frame.set_index("user_id")["reasons"]
    blank = sum(pd.isna(stored[row["user_id"]]) for row in said["rows"])
    notes = [n for n in said["notes"] if "without churn reasons" in n]
    counted = f"{blank} listed {'user' if blank == 1 else 'users'} without churn reasons: "
    assert blank and len(notes) == 1 and notes[0].startswith(counted), said["notes"]
    return notes[0].removeprefix(counted)


def test_a_defect_computing_reasons_is_not_turned_into_a_note(
    trained_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception computing a list's reasons became a note ("their features ... cannot be
    read: ..."), the list exiting 0: a defect read as the user's problem. Now only a
    registry's or a store's expected failures are (test above); a defect is a traceback.
    The one injected piece: a feature retrieval raising a TypeError, as a bug in it would."""
    import serving.batch

    def defective(*_: object) -> None:
        raise TypeError("a defect in the feature retrieval")

    table = read_scores(trained_copy / "scores" / LATEST_SCORES)
    path = write_scores(tmp_path, table.frame.assign(reasons=None), table.metadata)
    monkeypatch.setattr(serving.batch, "retrieve_features", defective)
    options = _filtered_lists(table.frame)[0]
    result = CliRunner().invoke(
        main, ["--home", str(trained_copy), "--json", "at-risk", "--scores", str(path), *options]
    )
    assert isinstance(result.exception, TypeError), result.output
    assert str(result.exception) == "a defect in the feature retrieval"


def test_a_version_whose_feature_service_changed_is_not_called_gone(trained_copy: Path) -> None:
    """After `score-all --reasons-top 1`, the feature service churn v1 reads was deleted from
    the Feast registry (the feature table unchanged): the note said "the churn model that
    made these scores is gone: champion demo-churn v1 ..." and advised a promotion. The
    version is there; its feature service changed, and score-all is the way on."""
    run_cli(trained_copy, "score-all", "--reasons-top", "1")
    table = read_scores(trained_copy / "scores" / LATEST_SCORES)
    settings = load_settings(home=trained_copy, environ={})
    open_store(settings).delete_feature_service("churn_v1")
    said = _listed(trained_copy, *_filtered_lists(table.frame)[0])
    registry = store_paths(settings).repo.resolve() / "registry.db"
    assert _reasons_note(table, said) == (
        "churn model v1, which made these scores, reads feature service 'churn_v1', which is "
        f"gone from the Feast registry {registry} (it has: conversion_v1, ltv_v1); "
        "`lifecycle score-all` scores and explains them again"
    )


def test_movers_and_the_report_explain_their_rows(trained_copy: Path, tmp_path: Path) -> None:
    """The movers list and the report's at-risk rows read the same table: after
    `score-all --reasons-top 1` their rows outside the top 1 had blank reasons too."""
    scores = trained_copy / "scores" / LATEST_SCORES
    run_cli(trained_copy, "score-all", "--reasons-top", "0")
    every = read_scores(scores).frame.set_index("user_id")["reasons"]
    settings = load_settings(home=trained_copy, environ={})
    earlier = feature_cutoffs(store_paths(settings).feature_table)[-5]
    run_cli(trained_copy, "score-all", "--as-of", f"{earlier:%Y-%m-%d}", "--reasons-top", "1")
    run_cli(trained_copy, "score-all", "--reasons-top", "1")
    stored = read_scores(scores).frame.set_index("user_id")["reasons"]
    said = json.loads(
        run_cli(trained_copy, "--json", "movers", "--top", "10", "--by", "churn_probability")
    )
    users = [row["user_id"] for row in said["rows"]]
    assert len(users) == 10 and stored[users].isna().sum() >= 5, said
    assert [row["top_reasons"] for row in said["rows"]] == [reasons_text(every[u]) for u in users]
    out = tmp_path / "report.html"
    run_cli(trained_copy, "report", "--top", "20", "--out", str(out))
    listed = [row["user_id"] for row in _listed(trained_copy, "--top", "20")["rows"]]
    assert stored[listed].isna().sum() >= 10
    document = out.read_text()
    missing = [u for u in listed if html.escape(reasons_text(every[u])) not in document]
    assert missing == [], missing


NOTHING_RAISED = (
    "with no churn reason to give: no feature raised their churn risk above the average user's"
)


def test_users_whose_reasons_are_none_to_give_are_counted_in_a_note(
    trained_copy: Path, tmp_path: Path
) -> None:
    """A user no feature raised above the average churn risk has reasons computed and none
    to give (`[]` in the table: 1,162 of 3,002 online_retail users): the lists showed them
    with blank reasons and no note, as if never computed. Every list now counts them in one
    note: at-risk (`--segment`, `--where`, `--out`), movers, the report. The demo's model
    gives every user a reason, so the table is the fixture's with three of the top users'
    reasons as score-all stores none (`[]`); the previous table, its churn risk halved."""
    scores = trained_copy / "scores"
    table = read_scores(scores / LATEST_SCORES)
    top = [row["user_id"] for row in _listed(trained_copy)["rows"]][:3]
    none = table.frame["user_id"].isin(top)
    halved = table.frame.assign(
        churn_probability=table.frame["churn_probability"] / 2,
        value_at_risk=table.frame["value_at_risk"] / 2,
    )
    write_scores(scores, halved, table.metadata)  # movers' previous table
    write_scores(
        scores, table.frame.assign(reasons=table.frame["reasons"].mask(none, "[]")), table.metadata
    )
    first = table.frame.loc[none].iloc[0]

    def counted(notes: list[str]) -> list[str]:
        return [n for n in notes if "churn reason" in n]

    said = _listed(trained_copy)
    assert [r["top_reasons"] for r in said["rows"][:3]] == ["", "", ""]
    assert counted(said["notes"]) == [f"3 listed users {NOTHING_RAISED}"]
    for column, option in (("segment", "--segment"), ("country", "--where")):
        value = first[column]
        count = int((none & (table.frame[column] == value)).sum())
        asked = value if column == "segment" else f"country={value}"
        said = _listed(trained_copy, option, asked, "--min-churn", "0", "--top", "2000")
        assert counted(said["notes"]) == [
            f"{count} listed {'user' if count == 1 else 'users'} {NOTHING_RAISED}"
        ], (option, said["notes"])
    out = tmp_path / "list.json"
    _listed(trained_copy, "--out", str(out))
    assert counted(json.loads(out.read_text())["notes"]) == [f"3 listed users {NOTHING_RAISED}"]
    said = json.loads(run_cli(trained_copy, "--json", "movers", "--top", "2000"))
    assert {r["user_id"] for r in said["rows"]} >= set(top), said["rows"]
    assert counted(said["notes"]) == [f"3 listed users {NOTHING_RAISED}"]
    report = tmp_path / "report.html"
    run_cli(trained_copy, "report", "--top", "10", "--out", str(report))
    assert html.escape(f"3 listed users {NOTHING_RAISED}") in report.read_text()


def test_an_allowed_personal_category_the_model_never_learned_says_so(tmp_path: Path) -> None:
    """A shop's `nationality` (a person's, taken into the model by features.allow_attributes)
    whose customers of the last three months are all RSA, a value no training row had: /score
    said "nationality: RSA (not seen in training)", but `at-risk --allow-column nationality`
    said "nationality: RSA" (the table withholds the value, and the list said it again without
    the model's reading), and so did /score's reasons served from that table. Each says it."""
    from experiment_runs import few_rounds
    from workspaces import NO_COMPILE, NO_PLOTS

    from features.demo import generate_demo
    from serving.scorer import Scorer

    home, demo = tmp_path / "ws", tmp_path / "demo"
    generate_demo(1500, 3, demo, days=600, future_days=0)
    users = pd.read_parquet(demo / "users.parquet").rename(columns={"country": "nationality"})
    events = pd.read_parquet(demo / "events.parquet").groupby("user_id").size()
    busy = users["user_id"].map(events).fillna(0) > events.median()  # GB: the low risk
    users["nationality"] = ["GB" if b else ("US", "FR")[i % 2] for i, b in enumerate(busy)]
    users.loc[pd.to_datetime(users["signup_time"]) > "2024-05-25", "nationality"] = "RSA"
    users.to_csv(tmp_path / "customers.csv", index=False)
    env = {"LIFECYCLE_FEATURES__ALLOW_ATTRIBUTES": '["nationality"]', "LIFECYCLE_DATASET": "shop"}
    env |= NO_COMPILE | NO_PLOTS | few_rounds()
    ingest = ("--users", str(tmp_path / "customers.csv"))
    run_cli(home, "ingest", str(demo / "events.parquet"), "--dataset", "shop", *ingest, env=env)
    for step in (("features", "build"), ("features", "apply"), ("train", "churn")):
        run_cli(home, *step, env=env)
    run_cli(home, "features", "materialize", env=env)
    unseen = "nationality: RSA (not seen in training)"
    for explained in ("0", "1"):  # stored by score-all; computed when the list is made
        run_cli(home, "score-all", "--allow-partial", "--reasons-top", explained, env=env)
        where = ("--where", "nationality=RSA", "--min-churn", "0", "--top", "20")
        listed = _listed(home, *where, "--allow-column", "nationality", env=env)["rows"]
        assert sum(unseen in r["top_reasons"] for r in listed) >= 10, listed
        assert not [r for r in listed if "nationality: RSA;" in f"{r['top_reasons']};"]
        withheld = _listed(home, *where, env=env)["rows"]  # not allowed: nothing of the value
        assert not [r for r in withheld if "RSA" in r["top_reasons"] or "seen" in r["top_reasons"]]
        us = ("--where", "nationality=US", "--min-churn", "0", "--allow-column", "nationality")
        learned = " ".join(r["top_reasons"] for r in _listed(home, *us, env=env)["rows"])
        assert "nationality: US" in learned and "seen in training" not in learned, learned
    run_cli(home, "score-all", "--allow-partial", "--reasons-top", "0", env=env)
    scorer = Scorer(load_settings(home=home, environ=env))
    scorer.load()
    rsa = [r["user_id"] for r in listed if unseen in r["top_reasons"]]
    for mode in ("auto", "fresh"):  # served from the table, computed again
        texts = [r.text for u in scorer.score(rsa, reasons=mode).users for r in u.reasons]
        assert texts.count(unseen) == len(rsa), (mode, texts)
