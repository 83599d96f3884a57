"""`lifecycle forget` of an id that is no user (no table holds it, no list holds a row of it,
no erasure logged it) changes nothing. `forget 3` of a CDNOW-like log (ids 00001.., its
`quantity` column kept as text) said "no user found" yet replaced every `quantity` cell `3`
with `[forgotten]`, in the dataset, in its older versions (so `datasets restore` could not
undo it) and in the scores table's notes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.erasure_log import log_entries
from features.scrub import REDACTED
from lifecycle import registry
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores

# 12 customers 00001..00012, 3 purchases each; quantity 3 on a third of the rows
EVENTS = "customer,date,quantity,amount,note\n" + "".join(
    f"{n:05d},1997-0{1 + k}-1{n % 9},{1 + (n + k) % 3},{10 + n}.5,"
    f"{'gift from 00004' if (n, k) == (2, 0) else 'x-9 asked' if (n, k) == (6, 1) else ''}\n"
    for n in range(1, 13)
    for k in range(3)
)
MAP = ["--map", "user_id=customer", "--map", "event_time=date", "--map", "amount=amount"]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIFECYCLE_PRIVACY__PSEUDONYM_KEY", "LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


def invoke(home: Path, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), *args], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The log ingested twice (an older version stays), a scores table whose notes hold
    `3`, and a list in the workspace with a `3` in its text."""
    home = tmp_path / "ws"
    (tmp_path / "cdnow.csv").write_text(EVENTS)
    for _ in range(2):
        invoke(home, "ingest", str(tmp_path / "cdnow.csv"), "--dataset", "cdnow", *MAP,
               "--event-type", "purchase")  # fmt: skip
    settings = load_settings(home=home, environ={})
    scores = pd.DataFrame({c.USER_ID: ["00001", "00002", "00003"], "note": ["3", "x 3", "3"]})
    write_scores(settings.workspace.scores_dir, scores.assign(churn_probability=0.5),
                 {"as_of": "1997-04-01", "dataset": "cdnow"})  # fmt: skip
    (home / "lists").mkdir()
    (home / "lists" / "calls.csv").write_text("user_id,note\n00001,call 3 times\n")
    return home


def files(home: Path) -> dict[Path, bytes]:
    """Every file of the workspace but the erasure key (made by the first forget)."""
    return {
        p: p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != ".erasure_key"
    }


def quantities(home: Path) -> list[str]:
    events = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")
    return events["quantity"].tolist()


def test_an_id_that_is_no_user_changes_nothing_and_says_the_padding(home: Path) -> None:
    before, threes = files(home), quantities(home).count("3")
    assert threes == 12 and (home / "datasets" / ".versions").is_dir()
    out = json.loads(invoke(home, "--json", "forget", "3", "--dataset", "cdnow"))
    assert (
        out["redacted"] == {}
    )  # was 12 quantity cells, 24 in older versions, 3 scores notes, 1 list
    assert files(home) == before  # no new version, no older one, scores or list rewritten
    assert out["not_found"] == ["3"] and out["no_user"] == ["3"]
    assert out["no_user_hints"] == {
        "3": 'no user "3": this dataset\'s user ids are 5 digits, zero-padded (this one would '
        'be written "00003"); ids are matched exactly as stored'
    }
    assert files(home) == before  # no new version, no older one, scores or list rewritten
    assert log_entries(home) == []
    said = invoke(home, "forget", "3")
    assert 'no user "3": this dataset\'s user ids are 5 digits' in said
    assert "no user, nothing changed for it (its mentions in text stay): 3" in said
    assert files(home) == before


def test_a_user_and_an_id_that_is_no_user_in_one_call(home: Path, tmp_path: Path) -> None:
    """The user is erased with its mentions; the other id's mentions stay. Given in an ids
    file whose first line is a column's name, no user either."""
    ids = tmp_path / "ids.txt"
    ids.write_text("user_id\n3\n00004\n")
    out = json.loads(invoke(home, "--json", "forget", "--ids-file", str(ids)))
    assert out["redacted"] == {"datasets/cdnow": 1, "datasets/cdnow (older versions)": 2}
    assert out["users"] == 1 and out["no_user"] == ["3", "user_id"]
    events = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")
    assert "00004" not in set(events[c.USER_ID]) and len(events) == 33
    assert quantities(home).count("3") == 12 - 1  # user 00004's own row went, no cell redacted
    assert events["note"].tolist().count(f"gift from {REDACTED}") == 1
    older = sorted((home / "datasets" / ".versions").glob("cdnow@*/events.parquet"))
    for table in older:
        assert pd.read_parquet(table)["quantity"].tolist().count(REDACTED) == 0
    scores = pd.read_parquet(next((home / "scores").glob("scores-*.parquet")))
    assert scores["note"].tolist() == ["3", "x 3", "3"]
    assert (home / "lists" / "calls.csv").read_text() == "user_id,note\n00001,call 3 times\n"
    [entry] = log_entries(home)
    assert len(entry["user_hashes"]) == 1
    # an erased user is known by the log's keyed hash: a source ingested again brings back
    # the mention, which a forget of the id still redacts (no user is only an id never held)
    invoke(home, "ingest", str(tmp_path / "cdnow.csv"), "--dataset", "cdnow", *MAP,
           "--event-type", "purchase")  # fmt: skip
    again = json.loads(invoke(home, "--json", "forget", "00004"))
    assert again["no_user"] == [] and again["erased_before"] == {"00004": entry["timestamp"]}
    assert again["redacted"]["datasets/cdnow"] == 1


def test_an_id_of_no_table_that_a_list_holds_a_row_of_is_a_user(home: Path) -> None:
    """A list's row makes it a user after all: the row goes and so do its mentions."""
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "x-9", "3"))
    assert out["not_found"] == ["3", "x-9"] and out["listed_only"] == ["x-9"]
    assert out["no_user"] == ["3"]
    assert (home / "lists" / "crm.csv").read_text() == "user_id,rank\n"
    events = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")
    assert events["note"].tolist().count(f"{REDACTED} asked") == 1
    assert quantities(home).count("3") == 12


def test_an_id_of_no_table_that_a_list_held_is_kept_out_of_later_ingests(
    home: Path, tmp_path: Path
) -> None:
    """Erased from a list only, it was logged nowhere: a file holding it again loaded it."""
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "x-9"))
    assert out["listed_only"] == ["x-9"] and out["users"] == 1
    [entry] = log_entries(home)
    assert len(entry["user_hashes"]) == 1 and len(entry["spelling_hashes"]) == 1
    back = tmp_path / "back.csv"
    back.write_text(EVENTS + "x-9,1997-04-11,1,12.5,\n")
    said = invoke(home, "ingest", str(back), "--dataset", "cdnow", *MAP, "--event-type",
                  "purchase", "--replace")  # fmt: skip
    assert "36 rows loaded of 37, 1 quarantined (1 erased_user," in said
    events = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")
    assert "x-9" not in set(events[c.USER_ID]) and len(events) == 36


def online_only(tmp_path: Path) -> tuple[Path, list[str]]:
    """A workspace whose online store alone holds 00012 (its events replaced away); the
    ingest arguments of the full file, which holds it."""
    from lifecycle.workspace import DATASET_VERSIONS_KEPT

    home = tmp_path / "ws"
    full, later = tmp_path / "cdnow.csv", tmp_path / "later.csv"
    full.write_text(EVENTS)
    later.write_text("".join(line + "\n" for line in EVENTS.splitlines() if line[:5] != "00012"))
    ingest = ["--dataset", "cdnow", *MAP, "--event-type", "purchase"]
    invoke(home, "ingest", str(full), *ingest)
    for step in ("build", "apply", "materialize"):
        invoke(home, "features", step, "--dataset", "cdnow")
    for _ in range(DATASET_VERSIONS_KEPT + 1):  # the versions holding 00012 pruned
        invoke(home, "ingest", str(later), *ingest, "--replace")
    invoke(home, "features", "build", "--dataset", "cdnow")
    invoke(home, "features", "materialize", "--dataset", "cdnow")
    assert "00012  (not found" not in invoke(
        home, "features", "show", "00012", "--dataset", "cdnow"
    )
    return home, [str(full), *ingest]


def test_a_user_only_the_online_store_still_holds_is_erased_from_it(tmp_path: Path) -> None:
    """Materialize upserts: a user whose events a replaced dataset no longer holds (a rolling
    export, once its oldest versions are pruned) keeps the features materialized before,
    served by /score. `forget` of it said "no user, nothing changed" and left its rows."""
    home, _ = online_only(tmp_path)
    out = json.loads(invoke(home, "--json", "forget", "00012", "3"))
    assert out["not_found"] == ["00012", "3"] and out["no_user"] == ["3"]
    assert out["listed_only"] == ["00012"] and out["removed"]["online/cdnow"] == 3
    shown = invoke(home, "features", "show", "00012", "--dataset", "cdnow")
    assert "00012  (not found in the online store)" in shown
    assert quantities(home).count("3") == 11  # the no-user id's text stays (00012's went)


def test_a_user_only_the_online_store_held_is_kept_out_of_later_ingests(tmp_path: Path) -> None:
    """Its online rows went, but no erasure was logged: the export holding it again (a
    rolling export's next file) loaded its 3 purchases, served and scored again."""
    home, ingest = online_only(tmp_path)
    out = json.loads(invoke(home, "--json", "forget", "00012"))
    assert out["listed_only"] == ["00012"] and out["removed"]["online/cdnow"] == 3
    assert out["users"] == 1 and out["log"]
    [entry] = log_entries(home)
    assert len(entry["user_hashes"]) == 1 and len(entry["spelling_hashes"]) == 1
    said = invoke(home, "ingest", *ingest, "--replace")
    assert "33 rows loaded of 36, 3 quarantined (3 erased_user," in said
    events = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")
    assert "00012" not in set(events[c.USER_ID]) and len(events) == 33
    # its other spellings are held back too (` 12`, `012`: the spelling keys logged)
    spelt = tmp_path / "spelt.csv"
    spelt.write_text(EVENTS.replace("\n00012,", "\n012,"))
    said = invoke(home, "ingest", str(spelt), *ingest[1:], "--replace")
    assert "33 rows loaded of 36, 3 quarantined (3 erased_user_spelling," in said, said


def champion_and_reference(home: Path, tmp_path: Path, dataset: str = "cdnow") -> Path:
    """``<dataset>-churn v1``, the serving champion (trained with every user then held), and
    a monitor reference sample of the dataset's training window (rows without ids)."""
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    model = registry.model_name(dataset, "churn")
    client.create_registered_model(model)
    client.create_model_version(model, source=str(tmp_path), run_id=None)
    registry.set_champion(client, model, "1", "first model")
    settings.workspace.monitor_dir.mkdir(parents=True, exist_ok=True)
    reference = settings.workspace.monitor_dir / f"reference-features-{dataset}-{'0' * 16}.parquet"
    pd.DataFrame({"recency_days": [1.0, 2.0]}).to_parquet(reference)
    return reference


def test_a_user_only_the_online_store_held_is_one_of_its_datasets_users_everywhere(
    tmp_path: Path,
) -> None:
    """Logged as erased, but its dataset's monitor reference (rows of it, no ids) was kept and
    the champion trained on the versions holding it was not named: those followed the
    users a table held only."""
    home, _ = online_only(tmp_path)
    reference = champion_and_reference(home, tmp_path)
    out = json.loads(invoke(home, "--json", "forget", "00012"))
    assert out["listed_only"] == ["00012"] and out["users"] == 1
    assert out["champions_trained_with_users"] == ["cdnow-churn v1"]
    assert not reference.exists() and out["removed"]["monitor reference files deleted"] == 1
    assert out["deleted_files"] == [str(reference.relative_to(home))]
    said = " ".join(out["not_covered"])
    assert "serving champions that learned from the users: cdnow-churn v1 (retrain" in said


def test_a_user_only_a_list_held_is_a_user_of_the_lists_dataset_or_of_any(
    home: Path, tmp_path: Path
) -> None:
    """A list registered as cdnow's: cdnow's champion and monitor files, not shop's. A list of
    no known dataset: which dataset it came from cannot be told, so every one's, said so."""
    from lifecycle.exports import record_export

    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\n7,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    references = {n: champion_and_reference(home, tmp_path, n) for n in ("cdnow", "shop")}
    settings = load_settings(home=home, environ={})
    outside = tmp_path / "calls-cdnow.csv"
    scores = next(settings.workspace.scores_dir.glob("scores-*.parquet"))
    record_export(settings, outside, 1, pseudonymized=False, scores=scores)
    outside.write_text("user_id,note\nx-8,call\n")
    out = json.loads(invoke(home, "--json", "forget", "x-8"))
    assert out["listed_only"] == ["x-8"] and out["users"] == 1
    assert out["champions_trained_with_users"] == ["cdnow-churn v1"]
    assert not references["cdnow"].exists() and references["shop"].exists()

    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "x-9"))
    assert out["listed_only"] == ["x-9"] and out["users"] == 1
    assert out["champions_trained_with_users"] == ["cdnow-churn v1", "shop-churn v1"]
    assert not references["shop"].exists()
    assert out["removed"]["monitor reference files deleted"] == 1
    said = invoke(home, "forget", "x-9")  # nothing left: erased before, said so
    assert "erased by the forget of" in said
    why = " ".join(out["not_covered"])
    assert (
        "serving champions that may have learned from the users (a list of no known dataset "
        "held one, so which dataset held them cannot be told): cdnow-churn v1, shop-churn v1"
    ) in why


def erased_from_shop(home: Path, tmp_path: Path) -> dict[str, object]:
    """Dataset shop, whose one user c-5 (no id of cdnow) `forget --dataset shop` erased."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\nc-5,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    first = json.loads(invoke(home, "--json", "forget", "c-5", "--dataset", "shop"))
    assert first["users"] == 1
    return first


def test_an_id_erased_from_another_dataset_is_said_so_and_kept_out_of_this_one(
    home: Path, tmp_path: Path
) -> None:
    """`forget --dataset cdnow c-5` after `forget --dataset shop c-5` said "no user, nothing
    changed for it ... no erasure logged it": an erasure had logged it, in shop. It is that
    person: said with the erasure, its mention redacted, logged for cdnow, whose later
    ingests keep it out (they loaded it). The log holds no id, as ever."""
    first = erased_from_shop(home, tmp_path)
    (home / "lists" / "calls.csv").write_text("user_id,note\n00001,call c-5 first\n")
    out = json.loads(invoke(home, "--json", "forget", "c-5", "--dataset", "cdnow"))
    assert out["no_user"] == [] and out["not_found"] == []
    assert out["erased_elsewhere"] == {
        "c-5": [{"dataset": "shop", "timestamp": first["timestamp"]}]
    }
    assert out["users"] == 1 and out["redacted"] == {"lists": 1}
    said = invoke(home, "forget", "c-5", "--dataset", "cdnow")  # now erased from cdnow too
    assert f"erased by the forget of {out['timestamp']}, no row left" in said
    entries = log_entries(home)
    assert [e["dataset"] for e in entries] == ["shop", "cdnow"]
    assert "c-5" not in (home / "erasure_log.jsonl").read_text()
    back = tmp_path / "back.csv"
    back.write_text(EVENTS + "c-5,1997-04-11,1,12.5,\n")
    said = invoke(home, "ingest", str(back), "--dataset", "cdnow", *MAP, "--event-type",
                  "purchase", "--replace")  # fmt: skip
    assert "36 rows loaded of 37, 1 quarantined (1 erased_user," in said


def test_an_id_erased_from_another_dataset_is_told_in_the_summary(
    home: Path, tmp_path: Path
) -> None:
    first = erased_from_shop(home, tmp_path)
    said = invoke(home, "forget", "c-5", "--dataset", "cdnow")
    assert "no user" not in said, said
    assert (
        f"in no table of dataset cdnow; erased from dataset shop by the forget of "
        f"{first['timestamp']}: a user, its mentions redacted, logged for cdnow now, so later "
        "ingests of it keep it out: c-5"
    ) in said
    assert said.startswith("forgot 1 user: 0 rows removed")


def test_forget_of_a_dataset_is_not_told_by_another_datasets_scores(tmp_path: Path) -> None:
    """`forget --dataset cdnow 00012`, held by cdnow's online store alone and by shop's scores
    table: the scores of shop (not searched) made it "found", so that no dataset's rows
    holding it read as a killed erasure: cdnow's champion 'may have learned' from it, 'rows
    of theirs were gone before this erasure (a killed one)'."""
    home, _ = online_only(tmp_path)
    champion_and_reference(home, tmp_path)
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\n00012,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    settings = load_settings(home=home, environ={})
    scores = pd.DataFrame({c.USER_ID: ["00012"], "churn_probability": [0.5]})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-02", "dataset": "shop"})
    out = json.loads(invoke(home, "--json", "forget", "00012", "--dataset", "cdnow"))
    assert out["listed_only"] == ["00012"] and out["removed"]["online/cdnow"] == 3
    assert out["champions_trained_with_users"] == ["cdnow-churn v1"]
    said = " ".join(out["not_covered"])
    assert "serving champions that learned from the users: cdnow-churn v1" in said, said
    assert out["removed"]["scores"] == 0  # shop's user, left as it is


def test_the_rows_removed_are_rows_not_files_deleted(home: Path) -> None:
    """`forget x-9`, one list row: said `forgot 1 user: 3 rows removed`, counting the 2 monitor
    sample files deleted beside it (so `total_removed` in the log and --json)."""
    settings = load_settings(home=home, environ={})
    for sample in settings.workspace.monitor_samples:
        pd.DataFrame({"recency_days": [1.0]}).to_parquet(sample)
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "x-9"))
    assert out["removed"]["monitor sample files deleted"] == 2 and out["removed"]["lists"] == 1
    assert out["total_removed"] == 1 and log_entries(home)[0]["total_removed"] == 1
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-8,1\n")
    for sample in settings.workspace.monitor_samples:
        pd.DataFrame({"recency_days": [1.0]}).to_parquet(sample)
    assert invoke(home, "forget", "x-8").startswith("forgot 1 user: 1 row removed\n")


def test_a_rerun_names_the_champions_every_earlier_erasure_of_the_user_named(
    home: Path, tmp_path: Path
) -> None:
    """00005 erased dataset by dataset: shop's erasure named shop-churn v1, cdnow's named
    cdnow-churn v1. A `forget 00005` to check named cdnow-churn v1 only (the last entry of
    the user), though shop-churn v1, trained with the user, still served."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\n00005,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    for name in ("cdnow", "shop"):
        champion_and_reference(home, tmp_path, name)
    first = json.loads(invoke(home, "--json", "forget", "00005", "--dataset", "shop"))
    assert first["champions_trained_with_users"] == ["shop-churn v1"]
    second = json.loads(invoke(home, "--json", "forget", "00005", "--dataset", "cdnow"))
    assert second["champions_trained_with_users"] == ["cdnow-churn v1"]
    again = json.loads(invoke(home, "--json", "forget", "00005"))
    assert again["erased_before"] == {"00005": second["timestamp"]}
    assert again["champions_trained_with_users"] == ["cdnow-churn v1", "shop-churn v1"]


def test_the_places_holding_a_user_no_table_searched_holds_are_named(
    home: Path, tmp_path: Path
) -> None:
    """`forget --dataset shop 00007`, an id only cdnow's tables hold, said "not found in any
    table, but a list or online store holds a row of it: a user, erased from them": cdnow's
    table holds it, and is left. Each such id is now told with the places holding it."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\nc-5,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "00007", "x-9", "--dataset", "shop"))
    assert out["listed_only"] == ["00007", "x-9"]
    assert out["listed_in"] == {
        "00007": ["dataset cdnow's tables (not searched, left)"],
        "x-9": ["the list lists/crm.csv"],
    }
    assert "listed_in" not in log_entries(home)[0]
    said = invoke(home, "forget", "00008", "--dataset", "shop")
    assert (
        "  in no table searched, but dataset cdnow's tables (not searched, left) holds a row "
        "of it: a user, erased from the places searched, its mentions redacted, logged: 00008\n"
    ) in said
    assert "a list or online store holds" not in said


def test_an_id_erased_from_two_other_datasets_is_said_with_both_erasures(
    home: Path, tmp_path: Path
) -> None:
    """`forget --dataset cdnow c-5` after `forget --dataset shop c-5` and `--dataset web c-5`
    named only web's erasure (`erased_elsewhere`: the latest), while a re-run over every
    dataset names each one (`erasures_before`): each is named, oldest first, as there."""
    first = erased_from_shop(home, tmp_path)
    web = tmp_path / "web.csv"
    web.write_text("user_id,event_time,event_type,amount\nc-5,2024-02-01,purchase,12\n")
    invoke(home, "ingest", str(web), "--dataset", "web")
    second = json.loads(invoke(home, "--json", "forget", "c-5", "--dataset", "web"))
    out = json.loads(invoke(home, "--json", "forget", "c-5", "--dataset", "cdnow"))
    both = [
        {"dataset": "shop", "timestamp": first["timestamp"]},
        {"dataset": "web", "timestamp": second["timestamp"]},
    ]
    assert out["erased_elsewhere"] == {"c-5": both} and out["users"] == 1
    again = json.loads(invoke(home, "--json", "forget", "c-5"))
    assert again["erasures_before"]["c-5"][:2] == both
    entries = log_entries(home)  # the text, as if cdnow's erasure had not been logged yet
    (home / "erasure_log.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in entries if e["dataset"] != "cdnow")
    )
    said = invoke(home, "forget", "c-5", "--dataset", "cdnow")
    assert (
        f"  in no table of dataset cdnow; erased from other datasets by the 2 forgets of "
        f"{first['timestamp']} (dataset shop) and {second['timestamp']} (dataset web): a user, "
        "its mentions redacted, logged for cdnow now, so later ingests of it keep it out: c-5\n"
    ) in said
    assert "c-5" not in (home / "erasure_log.jsonl").read_text()


def test_the_erasure_log_holds_no_id_of_a_listed_user_or_of_no_user(home: Path) -> None:
    """The log keeps keyed hashes, never ids (docs/privacy.md), yet its entry held the ids a
    list alone held (`"listed_only": ["x-9"]`) and those of no user (`no_user`,
    `no_user_hints`). Entries written so are rewritten without them by the next `forget`."""
    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    out = json.loads(invoke(home, "--json", "forget", "x-9", "3", "00004"))
    assert out["listed_only"] == ["x-9"] and out["no_user"] == ["3"] and out["users"] == 2
    text = (home / "erasure_log.jsonl").read_text()
    for held in ('"x-9"', '"3"', "00004", "00003"):
        assert held not in text, held
    [entry] = log_entries(home)
    assert {"listed_only", "no_user", "no_user_hints"}.isdisjoint(entry)

    # an entry as logged before: the next forget, whatever it finds, drops its ids
    before = dict(entry, listed_only=["x-9"], no_user=["3"], no_user_hints={"3": "00003"})
    (home / "erasure_log.jsonl").write_text(json.dumps(before) + "\n")
    said = invoke(home, "forget", "nobody-1")
    assert "1 earlier entry of the erasure log held ids (listed_only, no_user)" in said
    assert log_entries(home) == [entry]
    assert (home / "erasure_log.jsonl").stat().st_mode & 0o777 == 0o600


def test_ids_a_list_alone_held_in_an_entry_logged_before_are_hashed_not_lost(
    home: Path, tmp_path: Path
) -> None:
    """Until session 57 an id only a list (or online store) held was erased there but not
    hashed; an entry written for the users found with it kept it in clear (`listed_only`),
    the only trace. The next `forget` dropped that field (the log holds no ids), so the
    trace went and a re-ingest loaded the person again. Its hashes join the entry first."""
    from features.erasure_log import erasure_key, spelling_hashes
    from lifecycle.pseudonyms import keyed_hash

    (home / "lists" / "crm.csv").write_text("user_id,rank\nx-9,1\n")
    invoke(home, "forget", "00004", "x-9")
    [entry] = log_entries(home)
    key, _ = erasure_key(load_settings(home=home, environ={}))
    gone, [spelt] = keyed_hash(key, "x-9"), spelling_hashes(key, ["x-9"])
    before = dict(  # as a forget before session 57 logged it: x-9 in clear, not hashed
        entry,
        listed_only=["x-9"],
        user_hashes=[h for h in entry["user_hashes"] if h != gone],
        spelling_hashes=[h for h in entry["spelling_hashes"] if h != spelt],
    )
    (home / "erasure_log.jsonl").write_text(json.dumps(before) + "\n")
    said = invoke(home, "forget", "nobody-1")
    assert "1 earlier entry of the erasure log held ids (listed_only, no_user)" in said
    [after] = log_entries(home)
    assert gone in after["user_hashes"] and spelt in after["spelling_hashes"]
    assert after["listed_logged"] == 1 and "listed_only" not in after
    assert "x-9" not in (home / "erasure_log.jsonl").read_text()
    back = tmp_path / "back.csv"
    back.write_text(EVENTS + "x-9,1997-04-11,1,12.5,\n")
    said = invoke(home, "ingest", str(back), "--dataset", "cdnow", *MAP, "--event-type",
                  "purchase", "--replace")  # fmt: skip
    assert "33 rows loaded of 37, 4 quarantined (4 erased_user," in said


def test_a_rerun_names_every_earlier_erasure_of_the_user(home: Path, tmp_path: Path) -> None:
    """00005 erased from shop, then from cdnow: a `forget 00005` to check said "erased by the
    forget of <cdnow's time>" only, as if shop's erasure had not been."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\n00005,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    first = json.loads(invoke(home, "--json", "forget", "00005", "--dataset", "shop"))
    second = json.loads(invoke(home, "--json", "forget", "00005", "--dataset", "cdnow"))
    again = json.loads(invoke(home, "--json", "forget", "00005"))
    assert again["erasures_before"] == {
        "00005": [
            {"dataset": "shop", "timestamp": first["timestamp"]},
            {"dataset": "cdnow", "timestamp": second["timestamp"]},
        ]
    }
    said = invoke(home, "forget", "00005")
    assert (
        f"  erased by the 2 forgets of {first['timestamp']} (dataset shop) and "
        f"{second['timestamp']} (dataset cdnow), no row left in the workspace: 00005\n"
    ) in said
    assert "erasures_before" not in (home / "erasure_log.jsonl").read_text()


def test_a_user_only_a_datasets_scores_hold_is_of_that_dataset_for_its_champions(
    home: Path, tmp_path: Path
) -> None:
    """s-9, scored in shop then replaced away from it (no row of any dataset holds it), only
    shop's scores table holds: `forget s-9` named cdnow-churn v1 too, "may have learned from
    the users (rows of theirs were gone ...)", and deleted cdnow's monitor reference."""
    shop = tmp_path / "shop.csv"
    shop.write_text("user_id,event_time,event_type,amount\n7,2024-01-01,purchase,10\n")
    invoke(home, "ingest", str(shop), "--dataset", "shop")
    references = {n: champion_and_reference(home, tmp_path, n) for n in ("cdnow", "shop")}
    settings = load_settings(home=home, environ={})
    scores = pd.DataFrame({c.USER_ID: ["7", "s-9"], "churn_probability": [0.5, 0.5]})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-02", "dataset": "shop"})
    out = json.loads(invoke(home, "--json", "forget", "s-9"))
    assert out["users"] == 1 and out["removed"]["scores"] == 1
    assert out["champions_trained_with_users"] == ["shop-churn v1"]
    assert references["cdnow"].exists() and not references["shop"].exists()
    said = " ".join(out["not_covered"])
    assert "serving champions that learned from the users: shop-churn v1" in said, said


def test_ids_that_read_as_another_are_said_quoted(home: Path) -> None:
    """The summary's lines of ids printed them as they are: `1785` + a zero-width space + `0`
    of an ids file (no user) was said as `no user ...: 17850` on screen, and ` 00005` (a
    space in front, no user) as `...: 00005`, both read as real users being no user. Such ids
    are said quoted and escaped, as the other spellings' lines say them; plain ids as before."""
    said = invoke(home, "forget", "0000\u200b4", " 00005", "nobody-1")
    line = next(x for x in said.splitlines() if "no user, nothing changed" in x)
    assert line.endswith(': " 00005", "0000\\u200b4", nobody-1'), line
    assert "0000\u200b4" not in said


def test_an_id_pasted_quoted_or_as_a_formula_says_the_held_id_it_reads_as(home: Path) -> None:
    """`"13047"` (quoted, as a CSV cell or JSON string is written) and `="12583"` (a
    spreadsheet's text formula) pasted into forget were "no user" with no hint that the id
    inside is held (session 59, ERX3, online_retail). The summary names the held id, and
    nothing is erased for it: only what was asked is matched."""
    before = files(home)
    out = json.loads(invoke(home, "--json", "forget", '"00004"', '="00007"', "'00009'", '"777"'))
    assert out["no_user"] == ['"00004"', '"777"', "'00009'", '="00007"']
    assert out["no_user_hints"] == {
        '"00004"': 'no user "\\"00004\\"": quoted, as pasted; it reads as "00004", held by '
        "dataset cdnow: NOT erased (ids are matched exactly as given); if that is who is "
        "meant, run forget 00004",
        '="00007"': 'no user "=\\"00007\\"": a spreadsheet\'s text formula, as pasted; it '
        'reads as "00007", held by dataset cdnow: NOT erased (ids are matched exactly as '
        "given); if that is who is meant, run forget 00007",
        "'00009'": 'no user "\'00009\'": quoted, as pasted; it reads as "00009", held by '
        "dataset cdnow: NOT erased (ids are matched exactly as given); if that is who is "
        "meant, run forget 00009",
    }
    assert files(home) == before and log_entries(home) == []
    said = invoke(home, "forget", '="00007"')
    assert 'it reads as "00007", held by dataset cdnow: NOT erased' in said
