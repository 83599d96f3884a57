"""`ingest --case-insensitive-ids`: a shop whose user ids are emails wrote a customer both
`C12395@EXAMPLE.COM` and `c12395@example.com`; ingest warned but loaded two customers, with
no option to say case never tells users apart, and /score answered the other spelling as an
unknown (cold-start "high" risk) user. With the option the dataset holds each id lower-cased,
recorded with it: appends, /score, `features show` and `forget` read an id so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import NO_COMPILE

from features import contract as c
from features.erasure import forget
from lifecycle.cli import main
from lifecycle.settings import load_settings

EVENTS = (
    "Email,Created at,Total\n"
    "C12395@EXAMPLE.COM,2011-11-01 10:00,10.50\n"
    "c12395@example.com,2011-11-03 11:00,20.00\n"
    "Ann@Shop.org,2011-11-02 09:00,7.00\n"
    "C12395@example.COM,2011-11-04 12:00,-3.00\n"  # quarantined: negative, as written
)
USERS = "customer id,channel\nc12395@EXAMPLE.com,ads\nANN@SHOP.ORG,email\n"
DATASETS = ("folded", "written", "nobody")  # the lists' datasets: nobody's is not registered
MAP = ["--map", "user_id=Email", "--map", "event_time=Created at", "--map", "amount=Total"]


def _ingest(
    home: Path, tmp_path: Path, name: str, *options: str, text: str = EVENTS, dataset: str = "shop"
) -> Any:
    events = tmp_path / f"{name}.csv"
    events.write_text(text)
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "--json", "ingest", str(events), "--dataset", dataset, *MAP,
         "--event-type", "purchase", *options],
    )  # fmt: skip
    return result


def _events(home: Path, dataset: str = "shop") -> pd.DataFrame:
    return pd.read_parquet(home / "datasets" / dataset / "events.parquet")


def test_under_the_option_each_email_is_one_user_in_events_users_and_appends(
    home: Path, tmp_path: Path
) -> None:
    users = tmp_path / "customers.csv"
    users.write_text(USERS)
    ingested = _ingest(
        home, tmp_path, "nov", "--case-insensitive-ids", "--users", str(users),
        "--users-map", "user_id=customer id",
    )  # fmt: skip
    assert ingested.exit_code == 0, ingested.output
    events = _events(home)
    assert sorted(events[c.USER_ID].unique()) == ["ann@shop.org", "c12395@example.com"]
    assert len(events[events[c.USER_ID] == "c12395@example.com"]) == 2  # both of its events
    profiles = pd.read_parquet(home / "datasets" / "shop" / "users.parquet")
    assert dict(zip(profiles[c.USER_ID], profiles[c.CHANNEL], strict=True)) == {
        "c12395@example.com": "ads",
        "ann@shop.org": "email",
    }
    # the quarantine keeps the file's spelling; the report records the choice
    quarantine = pd.read_csv(home / "datasets" / "shop" / "quarantine" / "events.csv")
    assert quarantine["Email"].tolist() == ["C12395@example.COM"]
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert report["batches"][-1][c.CASE_INSENSITIVE_IDS] is True
    notes = report["tables"]["events"]["notes"]
    assert "user_ids_spelt_apart" not in notes  # nothing left written two ways
    assert notes["ids_lower_cased"] == {"column": "Email", "rows": 3}
    # an append, not told again, folds its file as the dataset's
    december = "Email,Created at,Total\nANN@shop.ORG,2011-12-01 10:00,5.00\n"
    appended = _ingest(home, tmp_path, "dec", "--append", text=december)
    assert appended.exit_code == 0, appended.output
    events = _events(home)
    assert events[c.USER_ID].nunique() == 2
    assert (events[c.USER_ID] == "ann@shop.org").sum() == 2
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert [b.get(c.CASE_INSENSITIVE_IDS) for b in report["batches"]] == [True, True]


def test_without_the_option_ids_stay_as_written_and_the_warning_names_it(
    home: Path, tmp_path: Path
) -> None:
    ingested = _ingest(home, tmp_path, "nov")
    assert ingested.exit_code == 0, ingested.output
    assert _events(home)[c.USER_ID].nunique() == 3  # as before: two spellings, two users
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert c.CASE_INSENSITIVE_IDS not in report["batches"][-1]
    assert report["tables"]["events"]["notes"]["user_ids_spelt_apart"]["by_case"] == 2
    text = CliRunner().invoke(
        main, ["--home", str(home), "ingest", str(tmp_path / "nov.csv"), "--dataset", "shop",
               *MAP, "--event-type", "purchase"],
    )  # fmt: skip
    assert (
        "2 differ only by case: if case never tells users apart (emails), ingest with "
        "--case-insensitive-ids to read them as one (lower-cased)"
    ) in " ".join(text.output.split())
    # the option on an append cannot change the ids the dataset holds: a re-ingest does
    december = "Email,Created at,Total\nANN@shop.ORG,2011-12-01 10:00,5.00\n"
    refused = _ingest(home, tmp_path, "dec", "--append", "--case-insensitive-ids", text=december)
    assert refused.exit_code == 1
    assert (
        "dataset 'shop' holds its user ids as its files wrote them (ingested without it), and an "
        "append cannot change the ids it holds: ingest its events again with `lifecycle ingest "
        "FILE --dataset shop --case-insensitive-ids --replace`"
    ) in " ".join(refused.output.split())
    assert _events(home)[c.USER_ID].nunique() == 3  # nothing appended


def test_forget_of_one_spelling_erases_the_user_and_keeps_every_spelling_out(
    home: Path, tmp_path: Path
) -> None:
    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids").exit_code == 0
    settings = load_settings(home=home, environ={})
    record = forget(settings, ["c12395@EXAMPLE.com"], dataset="shop")
    assert record.read_as == {"c12395@EXAMPLE.com": "c12395@example.com"}
    assert not record.not_found
    assert _events(home)[c.USER_ID].tolist() == ["ann@shop.org"]
    # the quarantined row, as the file wrote it (C12395@example.COM), is gone too
    assert not (home / "datasets" / "shop" / "quarantine" / "events.csv").exists() or (
        pd.read_csv(home / "datasets" / "shop" / "quarantine" / "events.csv").empty
    )
    # the file ingested again: every spelling of the erased user is held back
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace")
    assert again.exit_code == 0, again.output
    assert _events(home)[c.USER_ID].tolist() == ["ann@shop.org"]
    reasons = json.loads(again.stdout)["tables"]["events"]["reasons"]
    assert reasons == {"erased_user": 3}


def test_without_the_option_forget_erases_the_spelling_asked_and_names_the_other(
    home: Path, tmp_path: Path
) -> None:
    assert _ingest(home, tmp_path, "nov").exit_code == 0
    record = forget(load_settings(home=home, environ={}), ["c12395@example.com"], dataset="shop")
    assert sorted(_events(home)[c.USER_ID]) == ["Ann@Shop.org", "C12395@EXAMPLE.COM"]
    assert record.other_spellings == {"c12395@example.com": ["C12395@EXAMPLE.COM"]}


def test_forget_over_datasets_erases_in_each_the_user_it_holds_and_no_other(
    home: Path, tmp_path: Path
) -> None:
    """Review 143: `forget C1@X.COM` over a case-insensitive dataset and one of ids as
    written erased c12395@example.com from both: in the second a customer of its own."""
    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids", dataset="folded").exit_code == 0
    assert _ingest(home, tmp_path, "nov", dataset="written").exit_code == 0
    forget(load_settings(home=home, environ={}), ["C12395@EXAMPLE.COM"])
    assert _events(home, "folded")[c.USER_ID].tolist() == ["ann@shop.org"]
    kept = ["Ann@Shop.org", "c12395@example.com"]
    assert sorted(_events(home, "written")[c.USER_ID]) == kept
    # later ingests: the folded dataset holds back every spelling; the other, the one asked
    # as erased, and its own c12395@example.com only as spelt like it (privacy setting)
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace", dataset="folded")
    assert json.loads(again.stdout)["tables"]["events"]["reasons"] == {"erased_user": 3}
    again = _ingest(home, tmp_path, "nov", "--replace", dataset="written")
    assert json.loads(again.stdout)["tables"]["events"]["reasons"] == {
        "erased_user": 1,
        "erased_user_spelling": 2,
    }


def test_forget_over_datasets_scrubs_each_list_as_its_dataset_holds_the_id(
    home: Path, tmp_path: Path
) -> None:
    """Session 39: with one dataset folding case and one not, `forget C12395@EXAMPLE.COM`
    still scrubbed c12395@example.com from every list, one of dataset `written` (where it is
    a customer of its own) too. A list is now searched for the id as its dataset holds it;
    one of no known dataset for every spelling, which the erasure log says, naming it."""
    from features.erasure_log import log_entries
    from lifecycle.exports import record_export

    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids", dataset="folded").exit_code == 0
    assert _ingest(home, tmp_path, "nov", dataset="written").exit_code == 0
    text = "user_id,churn_probability\nc12395@example.com,0.9\nann@shop.org,0.1\n"
    inside, outside = home / "lists", tmp_path / "crm"
    lists = [inside / f"{name}.csv" for name in DATASETS]  # outside, registered ones only
    lists += [outside / f"{name}.csv" for name in DATASETS if name != "nobody"]
    for path in lists:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if path.stem != "nobody":  # registered with its dataset, as `at-risk --out` does
            settings = load_settings(home=home, environ={}, dataset=path.stem)
            record_export(settings, path, 2, pseudonymized=False)
    scores = home / "scores" / "scores-2011-12-01.parquet"  # its metadata names no dataset
    scores.parent.mkdir()
    pd.read_csv(lists[0]).to_parquet(scores)
    reports = {n: home / "reports" / f"report-{n}-2011-12-01.html" for n in ("folded", "written")}
    for report in reports.values():
        report.parent.mkdir(exist_ok=True)
        report.write_text("<td>c12395@example.com</td>")
    record = forget(
        load_settings(home=home, environ={}), ["C12395@EXAMPLE.COM"], scrub_exports=True
    )
    for path in lists:
        kept = pd.read_csv(path)["user_id"].tolist()
        if path.stem == "written":  # its own customer c12395@example.com stays
            assert kept == ["c12395@example.com", "ann@shop.org"], path
        else:
            assert kept == ["ann@shop.org"], path
    assert pd.read_parquet(scores)["user_id"].tolist() == ["ann@shop.org"]
    assert reports["written"].is_file() and not reports["folded"].exists()  # by their names
    [entry] = log_entries(home)
    said = entry["scrubbed_as_every_dataset_holds"]
    assert list(said) == ["lists/nobody.csv", "scores/scores-2011-12-01.parquet"]
    assert said["lists/nobody.csv"] == (
        "names no dataset, so scrubbed of the ids in any casing (lower-cased: folded holds "
        "them so; as asked: written holds them so): a user of written whose id is an erased "
        "id in another casing lost its rows here too"
    )
    assert "c12395" not in (home / "erasure_log.jsonl").read_text().lower()
    assert f"  lists/nobody.csv: {said['lists/nobody.csv']}" in record.lines()


def test_forget_scrubs_a_folding_datasets_list_of_the_id_as_asked(
    home: Path, tmp_path: Path
) -> None:
    """A list of a dataset written while it held ids as written (then ingested again with
    --case-insensitive-ids --replace) holds C12395@EXAMPLE.COM: the same user there, yet
    forget searched it only for c12395@example.com and left it (review 2 #1)."""
    from lifecycle.exports import record_export

    assert _ingest(home, tmp_path, "nov", dataset="folded").exit_code == 0
    listed = home / "lists" / "folded.csv"
    listed.parent.mkdir()
    listed.write_text("user_id,churn_probability\nC12395@EXAMPLE.COM,0.9\nAnn@Shop.org,0.1\n")
    record_export(
        load_settings(home=home, environ={}, dataset="folded"), listed, 2, pseudonymized=False
    )
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace", dataset="folded")
    assert again.exit_code == 0, again.output
    record = forget(
        load_settings(home=home, environ={}), ["C12395@EXAMPLE.COM"], scrub_exports=True
    )
    assert pd.read_csv(listed)["user_id"].tolist() == ["Ann@Shop.org"]
    assert record.removed["lists"] == 1


def test_forget_scrubs_a_folding_datasets_places_of_the_id_in_any_casing(
    home: Path, tmp_path: Path
) -> None:
    """A list, scores table and report written before dataset shop folded case hold its
    customer as C12395@EXAMPLE.COM; `forget c12395@example.com` searched them for the id
    folded and as asked only, so left the user there (session 41, M's plan). A place of a
    folding dataset loses the id in any casing now; dataset written's own C12395@EXAMPLE.COM
    (ids as written: another user than its c12395@example.com) stays in its list."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.exports import SCORES_METADATA_KEY

    assert _ingest(home, tmp_path, "nov", dataset="shop").exit_code == 0
    assert _ingest(home, tmp_path, "nov", dataset="written").exit_code == 0
    settings = load_settings(home=home, environ={})
    listed = {
        n: settings.workspace.snapshot_at_risk(f"{n}-churn", "1") for n in ("shop", "written")
    }
    listed["shop"].parent.mkdir(exist_ok=True)
    for path in listed.values():
        path.write_text("user_id,churn_probability\nC12395@EXAMPLE.COM,0.9\nAnn@Shop.org,0.2\n")
    scores = home / "scores" / "scores-2011-12-01.parquet"  # shop's, by its metadata
    table = pa.table(
        {"user_id": ["c12395@Example.com", "Ann@Shop.org"], "note": ["x", "C12395@example.COM"]}
    )
    meta = {SCORES_METADATA_KEY: json.dumps({"dataset": "shop"})}
    pq.write_table(table.replace_schema_metadata(meta), scores)
    report = home / "reports" / "report-shop-2011-12-01.html"
    report.parent.mkdir()
    report.write_text("<td>C12395@EXAMPLE.COM</td>")
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace", dataset="shop")
    assert again.exit_code == 0, again.output
    record = forget(load_settings(home=home, environ={}), ["c12395@example.com"])
    assert pd.read_csv(listed["shop"])["user_id"].tolist() == ["Ann@Shop.org"]
    assert pd.read_csv(listed["written"])["user_id"].tolist() == [
        "C12395@EXAMPLE.COM",
        "Ann@Shop.org",
    ]
    kept = pd.read_parquet(scores)
    assert kept["user_id"].tolist() == ["Ann@Shop.org"]
    assert kept["note"].tolist() == ["[forgotten]"]  # a mention in any casing too
    assert not report.exists()
    assert "reports/report-shop-2011-12-01.html" in record.deleted_files
    assert "C12395@EXAMPLE.COM" in set(_events(home, "written")["user_id"])  # its own user


def test_a_list_of_no_dataset_loses_the_id_in_any_casing_when_the_datasets_fold(
    home: Path, tmp_path: Path
) -> None:
    """A list of no known dataset written before shop folded case holds C12395@EXAMPLE.COM:
    `forget c12395@example.com` matched it exactly, so kept the user there, said "lists 0"
    and logged nothing (review 3 #1). Every searched dataset folds, so no other user can hold
    that casing: the list loses the id in any casing."""
    assert _ingest(home, tmp_path, "nov", dataset="shop").exit_code == 0
    listed = home / "lists" / "handmade.csv"  # not registered: of no known dataset
    listed.parent.mkdir()
    listed.write_text("user_id,score\nC12395@EXAMPLE.COM,0.9\nAnn@Shop.org,0.1\n")
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace", dataset="shop")
    assert again.exit_code == 0, again.output
    record = forget(load_settings(home=home, environ={}), ["c12395@example.com"])
    assert pd.read_csv(listed)["user_id"].tolist() == ["Ann@Shop.org"]
    assert record.removed["lists"] == 1
    assert record.every_spelling == {}  # no dataset holds the ids apart: nothing to say


def test_a_report_is_its_datasets_by_its_whole_name(home: Path, tmp_path: Path) -> None:
    """report-shop-2011-12-01.html, shop's report, was given to dataset shop-2011 by its
    prefix, so searched only for shop-2011's spelling, and kept the erased user (review 2
    #3). A name two datasets could have made belongs to neither: every spelling."""
    from features.erasure_places import list_owners

    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids", dataset="shop").exit_code == 0
    assert _ingest(home, tmp_path, "nov", dataset="shop-2011").exit_code == 0
    report = home / "reports" / "report-shop-2011-12-01.html"
    report.parent.mkdir()
    report.write_text("<td>c12395@example.com</td>")
    settings = load_settings(home=home, environ={})
    assert list_owners(settings, [], ["shop", "shop-2011"]) == {report.resolve(): "shop"}
    either = report.with_name("report-shop-2011-12-01-2011-12-01.html")
    either.write_text("")
    assert either.resolve() not in list_owners(settings, [], ["shop", "shop-2011-12-01"])
    forget(settings, ["C12395@EXAMPLE.COM"])
    assert not report.exists()


def test_forget_over_datasets_that_all_fold_logs_the_id_as_asked(
    home: Path, tmp_path: Path
) -> None:
    """With every dataset folding, `forget C12395@EXAMPLE.COM` logged only the hash of the
    folded c12395@example.com (session 39): the id the operator asked to forget was nowhere,
    and a later dataset of ids as written held C12395@EXAMPLE.COM back only as a spelling."""
    from features.erasure_log import erasure_key, log_entries
    from lifecycle.pseudonyms import keyed_hash

    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids").exit_code == 0
    settings = load_settings(home=home, environ={})
    record = forget(settings, ["C12395@EXAMPLE.COM"])
    assert record.read_as == {"C12395@EXAMPLE.COM": "c12395@example.com"}
    key = erasure_key(settings)[0]
    [entry] = log_entries(home)
    assert entry["asked_hashes"] == [keyed_hash(key, "C12395@EXAMPLE.COM")]
    assert entry["user_hashes"] == [keyed_hash(key, "c12395@example.com")]  # one user
    assert entry["users"] == 1
    assert "C12395@EXAMPLE.COM" not in (home / "erasure_log.jsonl").read_text()
    # a dataset of ids as written: the id as asked is the erased user, the others spellings
    again = _ingest(home, tmp_path, "nov", dataset="written")
    assert json.loads(again.stdout)["tables"]["events"]["reasons"] == {
        "erased_user": 1,
        "erased_user_spelling": 2,
    }


@pytest.mark.slow
def test_score_answers_either_spelling_as_the_user_the_dataset_holds(
    served_home: Path, known_users: list[str]
) -> None:
    from features.ingest import ingest_events
    from serving.scorer import Scorer

    settings = load_settings(home=served_home, environ=NO_COMPILE)
    user = known_users[0]  # u0000001: the demo writes ids lower-case
    asked = [user.upper(), user]
    before = Scorer(settings)
    before.load()
    assert [u.status for u in before.score(asked).users] == ["unknown_user", "scored"]
    demo = settings.workspace.demo_dir()
    ingest_events(  # the same events, now declared case-insensitive
        demo / "events.parquet",
        settings.workspace.dataset_dir(settings.dataset),
        users_path=demo / "users.parquet",
        mode="replace",
        case_insensitive_ids=True,
    )
    after = Scorer(settings)
    after.load()
    upper, lower = after.score(asked).users
    assert (upper.user_id, upper.status) == (user.upper(), "scored")  # told as asked
    assert upper.model_dump(exclude={"user_id"}) == lower.model_dump(exclude={"user_id"})
    shown = CliRunner().invoke(
        main, ["--home", str(served_home), "--json", "features", "show", user.upper()]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["users"][0]["found"] is True


def test_a_replace_without_the_option_says_the_ids_are_no_longer_folded(
    home: Path, tmp_path: Path
) -> None:
    """`ingest --replace` of a dataset ingested with --case-insensitive-ids, without it, went
    back to ids as written unsaid; as with the other recorded options a replace starts
    afresh, and now says so in one line."""
    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids").exit_code == 0
    version = (home / "datasets" / "shop").resolve().name
    events = tmp_path / "nov.csv"
    args = ["--home", str(home), "ingest", str(events), "--dataset", "shop", *MAP]
    replaced = CliRunner().invoke(main, [*args, "--event-type", "purchase", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert (
        f"    user ids read as the file writes them: {version} held them case-insensitive, and "
        "a replace keeps no recorded option (ingest again with --case-insensitive-ids to fold "
        "them)\n"
    ) in replaced.stdout
    assert "Ann@Shop.org" in set(_events(home)[c.USER_ID])  # as written
    again = CliRunner().invoke(main, [*args, "--event-type", "purchase", "--replace"])
    assert again.exit_code == 0 and "held them case-insensitive" not in again.stdout


def test_at_risk_lists_campaigns_and_mlflow_artifacts_are_their_datasets(
    home: Path, tmp_path: Path
) -> None:
    """A snapshot model's at-risk list (scores/<dataset>-<task>-at-risk-vN.csv), a campaign
    record and an MLflow artifact were of no known dataset: forget C12395@EXAMPLE.COM took
    c12395@example.com, dataset written's own customer, out of written's list and campaign,
    and named written's artifact as mentioning the erased user. Each is now its dataset's
    (by name, by the record's metadata, by its experiment's name); one of none still loses
    every spelling, said in the log."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.registry import model_name
    from serving.campaigns import METADATA_KEY

    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids", dataset="folded").exit_code == 0
    assert _ingest(home, tmp_path, "nov", dataset="written").exit_code == 0
    settings = load_settings(home=home, environ={})
    members = pd.DataFrame({"user_id": ["c12395@example.com", "ann@shop.org"], "score": [0.9, 0.1]})
    at_risk, campaigns, artifacts = {}, {}, {}
    for name in DATASETS:  # nobody: no such dataset
        at_risk[name] = settings.workspace.snapshot_at_risk(model_name(name, "churn"), "1")
        at_risk[name].parent.mkdir(exist_ok=True)
        members.to_csv(at_risk[name], index=False)
        campaigns[name] = settings.workspace.campaign(f"winback-{name}")
        campaigns[name].parent.mkdir(exist_ok=True)
        table = pa.Table.from_pandas(members, preserve_index=False)
        said = json.dumps({"dataset": name, "as_of": "2011-12-01", "horizon_days": 30})
        pq.write_table(
            table.replace_schema_metadata({METADATA_KEY: said.encode()}), campaigns[name]
        )
        run = home / "mlflow" / "artifacts" / model_name(name, "churn") / "run1" / "artifacts"
        run.mkdir(parents=True)
        artifacts[name] = run / "evaluation.json"
        artifacts[name].write_text(json.dumps({"top_users": ["c12395@example.com"]}))
    record = forget(settings, ["C12395@EXAMPLE.COM"])
    for name in DATASETS:
        listed = pd.read_csv(at_risk[name])["user_id"].tolist()
        recorded = pd.read_parquet(campaigns[name])["user_id"].tolist()
        if name == "written":  # its own customer c12395@example.com stays
            assert listed == recorded == ["c12395@example.com", "ann@shop.org"]
        else:  # folded's user, and every spelling from a place of no known dataset
            assert listed == recorded == ["ann@shop.org"], name
            assert "c12395" not in at_risk[name].read_text().lower()
            assert b"c12395" not in campaigns[name].read_bytes().lower()
    home_of = {name: str(path.relative_to(home)) for name, path in artifacts.items()}
    assert record.mlflow_examples == [home_of["folded"], home_of["nobody"]]
    assert list(record.every_spelling) == [
        f"campaigns/{campaigns['nobody'].name}",
        f"scores/{at_risk['nobody'].name}",
    ]


def test_the_demo_tables_are_the_demo_datasets(home: Path, tmp_path: Path) -> None:
    """`demo-data` writes its tables in the workspace and ingests them as dataset demo, ids as
    written; forget U0000003 with a case-folding dataset beside it scrubbed the tables of
    every dataset's spelling, so the demo's own u0000003 lost its rows there while dataset
    demo kept them. The tables are scrubbed as dataset demo holds the id; forgetting
    u0000003 itself leaves it in no demo table."""
    done = CliRunner().invoke(main, ["--home", str(home), "demo-data", "--users", "200"])
    assert done.exit_code == 0, done.output
    text = "Email,Created at,Total\nU0000003,2011-11-01 10:00,10.50\nU0000004,2011-11-02 10:00,1\n"
    folded = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", dataset="folded", text=text)
    assert folded.exit_code == 0, folded.output
    settings = load_settings(home=home, environ={})
    tables = sorted((home / "demo").glob("*.parquet"))

    def demo_holds(user: str) -> list[bool]:
        return [user in set(pd.read_parquet(t, columns=["user_id"])["user_id"]) for t in tables]

    record = forget(settings, ["U0000003"])
    assert _events(home, "folded")[c.USER_ID].tolist() == ["u0000004"]
    assert "u0000003" in set(_events(home, "demo")[c.USER_ID])  # its own user, as written
    assert demo_holds("u0000003") == [True] * len(tables)
    assert "demo" not in record.every_spelling
    forget(settings, ["u0000003"])
    assert "u0000003" not in set(_events(home, "demo")[c.USER_ID])
    assert demo_holds("u0000003") == [False] * len(tables)
    assert not any(b"u0000003" in t.read_bytes() for t in (home / "demo").iterdir())


def test_a_list_loses_the_id_in_a_casing_str_lower_folds_apart(home: Path, tmp_path: Path) -> None:
    """Lists and a scores table written before shop folded case hold its customer as
    İNCİ@SHOP.TR (Turkish dotted capital I), the dataset, as fold_case folds it,
    inci@shop.tr. The lists' rows were compared by str.lower, which reads İ as 'i' plus a
    combining dot: `forget inci@shop.tr` kept the user's row in a registered list outside the
    workspace, and deleted a workspace list whole as a report (its row left, a mention
    remained). A Parquet cell was searched by RE2's (?i), which never reads İ as 'i': the
    scores table's mention stayed. Every place now folds as the dataset: the row goes, the
    mention is redacted, the list stays; the id with a dotless i, which fold_case keeps
    apart, is another user's and stays."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.exports import SCORES_METADATA_KEY, record_export

    turkish = "Email,Created at,Total\nİNCİ@SHOP.TR,2011-11-01 10:00,10.50\n" + "\n".join(
        EVENTS.splitlines()[2:4]
    )
    assert _ingest(home, tmp_path, "nov", text=turkish).exit_code == 0
    inside, outside = home / "lists" / "handmade.csv", tmp_path / "sent" / "shop.csv"
    for listed in (inside, outside):
        listed.parent.mkdir()
        listed.write_text(
            "user_id,score,note\nİNCİ@SHOP.TR,0.9,\nAnn@Shop.org,0.1,asked by İNCİ@SHOP.TR\n"
        )
    record_export(
        load_settings(home=home, environ={}, dataset="shop"), outside, 2, pseudonymized=False
    )
    scores = home / "scores" / "scores-2011-12-01.parquet"  # shop's, by its metadata
    scores.parent.mkdir()
    dotless = "asked by \u0131nci@shop.tr"  # re.IGNORECASE read it as inci@shop.tr
    notes = ["", "asked by İNCİ@SHOP.TR", dotless]
    table = pa.table({"user_id": ["İNCİ@SHOP.TR", "Ann@Shop.org", "Bob@Shop.org"], "note": notes})
    meta = {SCORES_METADATA_KEY: json.dumps({"dataset": "shop"})}
    pq.write_table(table.replace_schema_metadata(meta), scores)
    again = _ingest(home, tmp_path, "nov", "--case-insensitive-ids", "--replace", text=turkish)
    assert again.exit_code == 0, again.output
    assert "inci@shop.tr" in set(_events(home)["user_id"])  # fold_case: no combining dot
    record = forget(load_settings(home=home, environ={}), ["inci@shop.tr"], scrub_exports=True)
    for listed in (outside, inside):
        kept = pd.read_csv(listed)
        assert kept["user_id"].tolist() == ["Ann@Shop.org"], listed
        assert kept["note"].tolist() == ["asked by [forgotten]"]
    kept = pd.read_parquet(scores)
    assert kept["user_id"].tolist() == ["Ann@Shop.org", "Bob@Shop.org"]
    assert kept["note"].tolist() == ["asked by [forgotten]", dotless]
    assert record.removed["lists"] == record.removed["scores"] == 1
    assert record.redacted["scores"] == 1 and record.deleted_files == []
    assert [(e.status, e.rows, e.redacted) for e in record.exports] == [("scrubbed", 1, 1)]


def test_a_list_with_a_byte_not_utf8_loses_the_id_and_keeps_the_byte(
    home: Path, tmp_path: Path
) -> None:
    """A list of a dataset that folds case, written in Latin-1 ('café' as the byte 0xE9):
    forget folded each cell by Arrow, which cannot hold the undecodable byte, and failed with
    UnicodeEncodeError, erasing nothing there. The byte is kept as it is; the row and the
    mention in any casing go."""
    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids").exit_code == 0
    listed = home / "lists" / "latin.csv"
    listed.parent.mkdir()
    listed.write_bytes(
        b"user_id,score,note\nC12395@EXAMPLE.COM,0.9,caf\xe9\n"
        b"Ann@Shop.org,0.1,caf\xe9 asked by \xc4\xb0C12395@EXAMPLE.COM and C12395@Example.com\n"
    )
    record = forget(load_settings(home=home, environ={}), ["c12395@example.com"])
    assert listed.read_bytes() == (
        b"user_id,score,note\r\n"
        b"Ann@Shop.org,0.1,caf\xe9 asked by \xc4\xb0C12395@EXAMPLE.COM and [forgotten]\r\n"
    )
    assert record.removed["lists"] == 1 and record.redacted["lists"] == 1


def test_the_datasets_own_tables_lose_a_mention_in_any_casing(home: Path, tmp_path: Path) -> None:
    """A dataset that folds case holds its ids folded, but a text column as written: forget
    c12395@example.com searched the dataset's own tables for mentions exactly, so an event's
    note and a quarantined row's 'asked by C12395@EXAMPLE.COM' stayed (every place outside
    the dataset lost it). They are redacted now, in the current version and an older one."""
    noted = (
        "Email,Created at,Total,Note\n"
        "C12395@EXAMPLE.COM,2011-11-01 10:00,10.50,\n"
        "Ann@Shop.org,2011-11-02 09:00,7.00,asked by C12395@EXAMPLE.COM\n"
        "Bob@Shop.org,2011-11-02 09:00,-3.00,asked by C12395@Example.com\n"  # quarantined
    )
    assert _ingest(home, tmp_path, "nov", "--case-insensitive-ids", text=noted).exit_code == 0
    again = _ingest(home, tmp_path, "nov2", "--case-insensitive-ids", "--replace", text=noted)
    assert again.exit_code == 0, again.output
    record = forget(load_settings(home=home, environ={}), ["c12395@example.com"])
    assert _events(home)["Note"].tolist() == ["asked by [forgotten]"]
    versions = sorted((home / "datasets" / ".versions").glob("shop@*"))  # the current one too
    assert len(versions) == 3
    for version in versions:
        notes = pd.read_parquet(version / "events.parquet")["Note"].tolist()
        assert notes == ["asked by [forgotten]"], version
        notes = pd.read_csv(version / "quarantine" / "events.csv")["Note"].tolist()
        assert notes == ["asked by [forgotten]"], version
    assert record.redacted["datasets/shop"] == 2
