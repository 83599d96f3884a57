"""One user however a file wrote the id: pandas writes integer ids as ``13047.0`` when the
column has a blank, ingest loads them as ``13047`` and the quarantine file keeps the raw
``13047.0``. `forget` finds and erases both spellings everywhere, logs the id ingest reads,
and later ingests keep out both. The ids a dataset's report gives as examples are erased
too, and an ids file saved "UTF-8 with BOM" is read whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import cli_report, names_id

from features import contract as c
from features.erasure_log import ERASED_USER, log_entries
from features.scrub import REDACTED
from lifecycle.cli import main
from lifecycle.pseudonyms import keyed_hash

# Rows of online_retail (invoice 536365-536367), as pandas writes them from a column with a
# blank: every id with .0. 13047's rows are all refunds booked negative: all quarantined.
EVENTS = (
    "user_id,event_time,event_type,amount,description\n"
    "17850.0,2010-12-01 08:26:00,purchase,15.3,WHITE HANGING HEART T-LIGHT HOLDER\n"
    "17850.0,2010-12-01 08:26:00,purchase,20.34,WHITE METAL LANTERN\n"
    ",2010-12-01 08:28:00,purchase,11.1,HAND WARMER UNION JACK\n"
    "13047.0,2010-12-01 08:34:00,purchase,-54.08,ASSORTED COLOUR BIRD ORNAMENT\n"
    "13047.0,2010-12-01 08:34:00,purchase,-12.6,POPPY'S PLAYHOUSE BEDROOM\n"
    "12583.0,2010-12-01 08:45:00,purchase,90.0,ALARM CLOCK BAKELIKE PINK\n"
)
GONE = "13047"


def _held(folder: Path, user: str) -> list[str]:
    """The files under ``folder`` whose text or Parquet cells hold ``user`` in any spelling."""
    spellings = {user, f"{user}.0"}
    held = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            cells = set(pd.read_parquet(path).astype(str).to_numpy().ravel())
            found = bool(spellings & cells)
        else:
            found = any(s in path.read_text(errors="replace") for s in spellings)
        if found:
            held.append(str(path.relative_to(folder)))
    return held


def _events(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    if fmt == "parquet":  # a float column with a null, as pandas keeps it
        frame = pd.read_csv(path)
        assert frame[c.USER_ID].dtype == np.float64
        path = tmp_path / "events.parquet"
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_user_quarantined_as_13047_0_is_found_erased_logged_and_kept_out(
    home: Path, tmp_path: Path, fmt: str
) -> None:
    """`forget 13047` said "not found in any table (nothing to erase)" while the quarantine
    file kept the user's rows as 13047.0; `forget 13047.0` logged "13047.0", so the next
    append loaded 13047 again under both spellings."""
    source = _events(tmp_path, fmt)
    data = cli_report("ingest", str(source), "--dataset", "shop")
    assert data["tables"]["events"]["reasons"]["negative_amount"] == 2
    cli_report("ingest", str(source), "--dataset", "shop", "--replace")  # an older version beside
    datasets = home / "datasets"
    assert len(_held(datasets, GONE)) == 4  # quarantine and report, in both versions

    out = cli_report("forget", GONE)
    assert out["not_found"] == [] and out["users"] == 1
    assert out["removed"]["datasets/shop"] == 2
    # both ingests' versions kept beside forget's (as many as ingest keeps), 2 rows each
    assert out["removed"]["datasets/shop (older versions)"] == 4
    assert len(list((datasets / ".versions").iterdir())) == 3
    assert _held(datasets, GONE) == []  # rows and the report's example, every version
    key = (home / ".erasure_key").read_text().strip().encode()
    [entry] = log_entries(home)
    assert entry["user_hashes"] == [keyed_hash(key, GONE)]

    # 17850 asked as 17850.0: the user ingest loaded as 17850, said so, logged as 17850
    out = cli_report("forget", "17850.0")
    assert out["read_as"] == {"17850.0": "17850"} and out["not_found"] == []
    assert out["removed"]["datasets/shop"] == 2
    assert log_entries(home)[-1]["user_hashes"] == [keyed_hash(key, "17850")]

    # Neither spelling comes back: a file writing both, and one keeping 13047.0 as text.
    both = tmp_path / "both.csv"
    both.write_text(
        "user_id,event_time,event_type,amount\n"
        "13047,2011-12-01 10:00:00,purchase,5\n13047.0,2011-12-02 10:00:00,purchase,6\n"
        "17850.0,2011-12-03 10:00:00,purchase,7\n12583,2011-12-04 10:00:00,purchase,8\n"
    )
    mixed = tmp_path / "mixed.csv"  # A1 beside them: ingest keeps 13047.0 as written
    mixed.write_text(both.read_text() + "A1,2011-12-05 10:00:00,purchase,9\n")
    for path in (both, mixed):
        data = cli_report("ingest", str(path), "--dataset", "shop", "--append")
        assert data["tables"]["events"]["reasons"][ERASED_USER] == 3, path
    held = set(pd.read_parquet(datasets / "shop" / "events.parquet")[c.USER_ID])
    assert held == {"12583", "A1"}


def test_an_earlier_erasure_logged_as_13047_0_keeps_13047_out(home: Path, tmp_path: Path) -> None:
    """An erasure logged under the spelling asked (`forget 13047.0` before spellings were one
    id): later ingests read both spellings as that user, and a re-run says it was erased."""
    from features.erasure_log import append_entry, erasure_key, key_check
    from lifecycle.settings import load_settings

    cli_report("ingest", str(_events(tmp_path, "csv")), "--dataset", "shop")
    key, source = erasure_key(load_settings(home=home, environ={}))
    hashes = [keyed_hash(key, f"{GONE}.0")]
    entry = {"timestamp": "2025-01-01T00:00:00+00:00", "dataset": None, "user_hashes": hashes}
    append_entry(home, entry | {"key_check": key_check(key), "key_source": source})
    data = cli_report("ingest", str(_events(tmp_path, "csv")), "--dataset", "shop", "--replace")
    assert data["tables"]["events"]["reasons"][ERASED_USER] == 2


def test_an_erased_id_leaves_the_examples_of_every_versions_report(
    home: Path, tmp_path: Path
) -> None:
    """The report's "ids spelt apart" example kept [" 17850", "017850", "17850"] after
    `forget 17850`, in the current and older versions: only the counts were adjusted."""
    spelt = EVENTS.replace("17850.0,", " 17850,", 1).replace("17850.0,", "017850,", 1)
    spelt += "17850,2010-12-01 08:50:00,purchase,1.0,PAPER CHAIN KIT\n"
    source = tmp_path / "ids.csv"
    source.write_text(spelt.replace("13047.0,", "13047,").replace("12583.0,", "12583,"))
    report = cli_report("ingest", str(source), "--dataset", "shop")["tables"]["events"]["notes"]
    assert report["user_ids_spelt_apart"]["example"] == [" 17850", "017850", "17850"]
    assert report["users_only_quarantined"]["example"] == GONE
    cli_report("ingest", str(source), "--dataset", "shop", "--replace")
    assert len(list((home / "datasets").rglob("report.json"))) == 2

    cli_report("forget", "17850", GONE)
    versions = sorted((home / "datasets").rglob("report.json"))  # the erasure's, both ingests'
    assert len(versions) == 3
    for path in versions:
        notes = json.loads(path.read_text())["tables"]["events"]["notes"]
        assert notes["user_ids_spelt_apart"]["example"] == [REDACTED], path
        assert "users_only_quarantined" not in notes, path  # its one user erased: it goes
        assert "17850" not in path.read_text() and GONE not in path.read_text()
        assert _held(path.parent, GONE) == [] and _held(path.parent, "17850") == [], path
    listed = CliRunner().invoke(main, ["datasets"])
    assert f"(e.g. '{REDACTED}')" in listed.stdout


def test_an_ids_file_saved_with_a_byte_order_mark_is_read_whole(home: Path, tmp_path: Path) -> None:
    """Excel's or Notepad's "UTF-8 with BOM": the first id was read '\\ufeff13047' and
    reported "not found" while the user stayed."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.replace(".0,", ","))
    cli_report("ingest", str(source), "--dataset", "shop")
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeff17850\r\n12583\r\n".encode())
    out = cli_report("forget", "--ids-file", str(ids))
    assert out["not_found"] == [] and out["users"] == 2
    held = set(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID])
    assert held == set()  # 13047's rows are all quarantined: it alone is left, there
    piped = CliRunner().invoke(main, ["--json", "forget", "--ids-file", "-"], input="\ufeff13047\n")
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["not_found"] == []


def test_an_ids_file_of_utf16_or_a_tab_separated_table_or_latin1_is_read_or_refused(
    home: Path, tmp_path: Path
) -> None:
    """Excel's "Unicode text" (UTF-16 with a byte order mark) as --ids-file ended in a
    Python traceback (UnicodeDecodeError), as did a Latin-1 file; a tab-separated table
    (`CustomerID<TAB>Name`) was read as whole lines, `"17850\tBob"`, no user, nothing said.
    UTF-16 is read; the others are refused in one line naming the file."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.replace(".0,", ","))
    cli_report("ingest", str(source), "--dataset", "shop")
    ids = tmp_path / "ids.txt"
    ids.write_bytes("17850\r\n12583\r\n".encode("utf-16"))
    out = cli_report("forget", "--ids-file", str(ids))
    assert out["not_found"] == [] and out["users"] == 2
    for raw, said in (
        (b"CustomerID\tName\r\n13047\tBob\r\n", f"--ids-file {ids}: a table (its first"),
        ("jos\xe9\n".encode("latin-1"), f"--ids-file {ids}: not UTF-8 (byte 0xe9 at 3): save"),
    ):
        ids.write_bytes(raw)
        result = CliRunner().invoke(main, ["forget", "--ids-file", str(ids)])
        assert result.exit_code != 0
        line = result.output.strip()
        assert "\n" not in line and "Traceback" not in line, line
        assert line.startswith(f"Error: {said}"), line


def test_an_at_risk_list_given_as_the_ids_file_is_refused_naming_its_user_id_column(
    home: Path, tmp_path: Path
) -> None:
    """The rows of an at-risk list to erase, kept in a spreadsheet and given as --ids-file,
    were read as one id a line (whole rows, the header too): 'forgot 0 user(s)' and a line
    of every row as an id not found. It is refused in one line, nothing erased."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.replace(".0,", ","))
    cli_report("ingest", str(source), "--dataset", "shop")
    events = home / "datasets" / "shop" / "events.parquet"
    before = set(pd.read_parquet(events)[c.USER_ID])
    for sep in (",", ";", "\t"):  # as saved: CSV, a European Excel's CSV, tab-delimited text
        listed = tmp_path / "to_erase.csv"
        listed.write_text(
            sep.join(["rank", "user_id", "churn_probability"])
            + "\n"
            + sep.join(["1", "17850", "0.9"])
            + "\n"
        )
        result = CliRunner().invoke(main, ["forget", "--ids-file", str(listed)])
        assert result.exit_code != 0
        line = result.output.strip()
        assert "\n" not in line and line.startswith(f"Error: --ids-file {listed}: a table"), line
        assert "write its user_id column alone to a file, one id a line" in line
        assert set(pd.read_parquet(events)[c.USER_ID]) == before
    ids = tmp_path / "ids.txt"  # a one-column file, header and all, still reads one id a line
    ids.write_text("user_id\n17850\n")
    assert cli_report("forget", "--ids-file", str(ids))["not_found"] == ["user_id"]


def test_18074_and_18074_0_held_as_two_users_are_both_erased_and_the_other_named(
    home: Path, tmp_path: Path
) -> None:
    """A text-id column (A1 beside them) keeps 18074 and 18074.0 as two users, which /score
    answers apart. `forget 18074` erased both, yet said '"18074.0" ... NOT erased; run forget
    again', and never that another held id went with it."""
    source = tmp_path / "mixed.csv"
    source.write_text(
        "user_id,event_time,event_type,amount\n18074,2010-12-01 08:26:00,purchase,5\n"
        "18074.0,2010-12-02 08:26:00,purchase,6\nA1,2010-12-03 08:26:00,purchase,7\n"
    )
    cli_report("ingest", str(source), "--dataset", "shop")
    events = home / "datasets" / "shop" / "events.parquet"
    assert set(pd.read_parquet(events)[c.USER_ID]) == {"18074", "18074.0", "A1"}
    result = CliRunner().invoke(main, ["forget", "18074"])
    assert result.exit_code == 0, result.output
    assert "NOT erased" not in result.stdout
    assert (
        '  "18074": "18074.0" held as a user of its own too (/score answers each apart), erased '
        "with it: ingest reads both as one id, and keeps both out; if that was another person, "
        "their rows are gone too"
    ) in result.stdout.splitlines()
    assert set(pd.read_parquet(events)[c.USER_ID]) == {"A1"}
    [entry] = log_entries(home)
    assert not names_id(entry, "18074") and "erased_with" not in entry
    source.write_text(source.read_text().replace("18074", "18075"))
    cli_report("ingest", str(source), "--dataset", "shop", "--replace")
    out = cli_report("forget", "18075.0")
    assert out["other_spellings"] == {} and out["read_as"] == {"18075.0": "18075"}
    assert out["erased_with"] == {"18075.0": ["18075"]}


def test_an_erased_user_spelt_another_way_is_held_back_and_named_never_loaded_unsaid(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `forget 17850`, an append writing 017850, ' 17850' or 17850 in full-width
    digits loaded them as a new user without a word: only 17850/17850.0 were kept out."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.replace(".0,", ","))
    cli_report("ingest", str(source), "--dataset", "shop")
    cli_report("forget", "17850")
    key = (home / ".erasure_key").read_text().strip().encode()
    [entry] = log_entries(home)
    assert len(entry["spelling_hashes"]) == 1 and not names_id(entry, "17850")
    assert entry["spelling_hashes"][0] != keyed_hash(key, "17850")  # no id's hash

    later = tmp_path / "later.csv"
    rows = ["017850", " 17850", "\uff11\uff17\uff18\uff15\uff10", "17850.0", "12583", "A017850"]
    later.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(f"{u},2011-01-0{i + 1} 10:00:00,purchase,5\n" for i, u in enumerate(rows))
    )
    result = CliRunner().invoke(main, ["ingest", str(later), "--dataset", "shop", "--append"])
    assert result.exit_code == 0, result.output
    assert (
        "    3 rows held back (erased_user_spelling): their user id is spelt like that of a user "
        "`lifecycle forget` erased (case, spaces, leading zeros, width or script apart), so may "
        "be that person again; no value kept. If they are other people, ingest the file again "
        "with LIFECYCLE_PRIVACY__LOAD_ERASED_SPELLINGS=true"
    ) in result.stdout.splitlines()
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    reasons = report["tables"]["events"]["reasons"]
    assert reasons["erased_user_spelling"] == 3 and reasons[ERASED_USER] == 1
    quarantine = (home / "datasets" / "shop" / "quarantine").rglob("*")
    assert not any("17850" in p.read_text(errors="replace") for p in quarantine if p.is_file())
    held = set(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID])
    assert held.isdisjoint(rows[:4]) and {"12583", "A017850"} <= held

    monkeypatch.setenv("LIFECYCLE_PRIVACY__LOAD_ERASED_SPELLINGS", "true")  # other people
    data = cli_report("ingest", str(later), "--dataset", "shop", "--replace")
    assert "erased_user_spelling" not in data["tables"]["events"]["reasons"]
    held = set(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID])
    assert {"017850", " 17850"} <= held and "17850" not in held


def test_an_erased_id_equal_to_a_word_of_the_report_leaves_all_but_its_examples(
    home: Path, tmp_path: Path
) -> None:
    """`forget events` (a user id that is also the report's kind, a column name) replaced
    every string of report.json equal to it: the dataset's kind and its first batch."""
    source = tmp_path / "events.csv"
    source.write_text(
        "user_id,event_time,event_type,amount\nevents,2010-12-01 08:26:00,purchase,-5\n"
        "purchase,2010-12-01 09:26:00,purchase,5\nb,2010-12-02 08:26:00,purchase,5\n"
        "zz,2010-12-02 09:26:00,purchase,-5\n"  # kept among the users with no row loaded
    )
    cli_report("ingest", str(source), "--dataset", "shop")
    path = home / "datasets" / "shop" / "report.json"
    before = json.loads(path.read_text())
    assert before["tables"]["events"]["notes"]["users_only_quarantined"]["example"] == "events"
    cli_report("forget", "events", "purchase")
    after = json.loads(path.read_text())
    assert after["tables"]["events"]["notes"]["users_only_quarantined"]["example"] == REDACTED
    assert after["kind"] == before["kind"] and after["batches"] == before["batches"]
    del before["tables"], after["tables"]
    assert after == before


def test_a_rerun_adds_the_spelling_hashes_an_erasure_logged_before_them_lacked(
    home: Path, tmp_path: Path
) -> None:
    """An erasure logged before spelling hashes kept out only the exact id: 017850 loaded
    after `forget 17850`, and a re-run of that forget changed nothing."""
    from features.erasure_log import append_entry, erasure_key, key_check
    from lifecycle.settings import load_settings

    later = tmp_path / "later.csv"
    later.write_text(
        "user_id,event_time,event_type,amount\n017850,2011-01-01 10:00:00,purchase,5\n"
        "17850,2011-01-02 10:00:00,purchase,5\n12583,2011-01-03 10:00:00,purchase,5\n"
    )
    key, source = erasure_key(load_settings(home=home, environ={}))
    old = {"timestamp": "2025-01-01T00:00:00+00:00", "dataset": None, "key_source": source}
    append_entry(
        home, old | {"user_hashes": [keyed_hash(key, "17850")], "key_check": key_check(key)}
    )
    reasons = cli_report("ingest", str(later), "--dataset", "shop")["tables"]["events"]["reasons"]
    assert reasons == {ERASED_USER: 1}  # 017850 loaded

    out = cli_report("forget", "17850")
    assert out["erased_before"] == {"17850": old["timestamp"]}
    assert out["spelling_hashes_added_to"] == [old["timestamp"]]
    added = log_entries(home)[-1]
    assert added["user_hashes"] == [] and added["spellings_of"] == old["timestamp"]
    assert added["spelling_hashes"] and not names_id(added, "17850")
    data = cli_report("ingest", str(later), "--dataset", "shop", "--replace")
    assert data["tables"]["events"]["reasons"] == {ERASED_USER: 1, "erased_user_spelling": 1}
    again = cli_report("forget", "17850")  # logged once: nothing more to add
    assert again["spelling_hashes_added_to"] == [] and len(log_entries(home)) == 2
    assert again["erased_before"] == {"17850": old["timestamp"]}


def test_an_erased_user_leaves_the_counts_of_the_notes_that_counted_it(
    home: Path, tmp_path: Path
) -> None:
    """`forget` took an erased id out of the examples of `users_only_quarantined` and
    `users_without_events`, but left the counts: "2 users with no row loaded" stayed 2, in
    the current and older versions' reports (session 39)."""
    source = tmp_path / "events.csv"
    more = "".join(f"12583.0,2010-12-0{day} 08:45:00,purchase,9.0,CLOCK\n" for day in (2, 3, 4))
    refund = "99999.0,2010-12-01 09:00:00,purchase,-1.0,REFUND\n"
    out_of_line = "44444.0,2010-12-01 09:10:00,purchase,5.0,CLOCK,EXTRA\n"  # no id to trust
    source.write_text(EVENTS + more + refund + out_of_line)
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,signup_time\n17850,2010-11-01\n12583,2010-11-02\n"
        "55555,2011-01-05\n66666,2010-11-03\n77777,2011-01-06\n"
    )
    ingest = ["ingest", str(source), "--dataset", "shop", "--users", str(users)]
    notes = cli_report(*ingest)["tables"]
    assert notes["events"]["notes"]["users_only_quarantined"]["users"] == 2
    spare = notes["users"]["notes"]["users_without_events"]
    assert (spare["users"], spare["signed_up_later"]) == (3, 2)
    cli_report(*ingest, "--replace")

    assert notes["events"]["reasons"] == {
        "missing_user_id": 1,
        "negative_amount": 3,
        "extra_fields": 1,
    }
    cli_report("forget", GONE, "55555", "44444")  # 44444: never counted, so not taken off
    reasons = json.loads((home / "datasets" / "shop" / "report.json").read_text())["tables"]
    # the erased users' rows are no reason's any more (13047's 2 refunds, 44444's extra field)
    assert reasons["events"]["reasons"] == {"missing_user_id": 1, "negative_amount": 1}
    versions = sorted((home / "datasets").rglob("report.json"))  # the erasure's, both ingests'
    assert len(versions) == 3
    for path in versions:
        assert not {*_held(path.parent, GONE), *_held(path.parent, "55555")}, path
        assert not _held(path.parent, "44444"), path
        tables = json.loads(path.read_text())["tables"]
        gone = tables["events"]["notes"]["users_only_quarantined"]
        assert gone == {"users": 1, "example": REDACTED}, path  # examples never drawn again
        spare = tables["users"]["notes"]["users_without_events"]
        assert (spare["users"], spare["signed_up_later"]) == (2, 1), path
        assert spare["example"] == REDACTED and spare["example_not_later"] == "66666"
    listed = CliRunner().invoke(main, ["datasets"]).stdout
    assert "1 user with no row loaded" in " ".join(listed.split())

    cli_report("forget", "99999")  # the last of them: the note goes
    for path in sorted((home / "datasets").rglob("report.json")):
        assert (
            "users_only_quarantined"
            not in json.loads(path.read_text())["tables"]["events"]["notes"]
        ), path


@pytest.mark.parametrize("after_report", [False, True])
def test_a_forget_killed_at_an_older_versions_report_lowers_its_counts_once_when_run_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after_report: bool
) -> None:
    """A forget killed after an older version's tables lost the users' rows, before its
    report was lowered, left the report's counts too high for good: the rerun found no rows
    to count (review 2 #4). The counts read before the rows went wait beside the version
    until its report is written; killed just after that, the rerun lowers nothing again."""
    from features import erasure_versions

    source = tmp_path / "events.csv"
    more = "".join(f"12583.0,2010-12-0{day} 08:45:00,purchase,9.0,CLOCK\n" for day in (2, 3, 4))
    source.write_text(EVENTS + more + "99999.0,2010-12-01 09:00:00,purchase,-1.0,REFUND\n")
    ingest = ["ingest", str(source), "--dataset", "shop"]
    assert cli_report(*ingest)["tables"]["events"]["notes"]["users_only_quarantined"]["users"] == 2
    cli_report(*ingest, "--replace")
    lower = erasure_versions.forget_in_report

    def killed(version: Path, *args: object) -> int:
        if version.resolve() == (home / "datasets" / "shop").resolve():
            return lower(version, *args)
        if after_report:  # written, the counts beside it not yet removed
            lower(version, *args)
        raise KeyboardInterrupt  # an older version's, after its tables

    monkeypatch.setattr(erasure_versions, "forget_in_report", killed)
    assert CliRunner().invoke(main, ["--quiet", "forget", GONE]).exit_code != 0
    current = (home / "datasets" / "shop").resolve()
    # both ingests' versions are kept beside forget's; killed at the first (the oldest)
    older, untouched = sorted(
        p for p in (home / "datasets").rglob("report.json") if p.parent != current
    )
    assert (older.parent / erasure_versions.COUNTED).is_file()
    assert _held(older.parent, GONE) == ([] if after_report else ["report.json"])
    assert not (untouched.parent / erasure_versions.COUNTED).exists()
    assert _held(untouched.parent, GONE) == ["quarantine/events.csv", "report.json"]
    monkeypatch.setattr(erasure_versions, "forget_in_report", lower)
    cli_report("forget", GONE)
    for path in (older, untouched):
        notes = json.loads(path.read_text())["tables"]["events"]["notes"]
        assert notes["users_only_quarantined"]["users"] == 1, path
        assert not (path.parent / erasure_versions.COUNTED).exists()
        assert _held(path.parent, GONE) == [], path
    note = json.loads(older.read_text())["tables"]["events"]["notes"]["users_only_quarantined"]
    cli_report("forget", GONE)  # once more: nothing lowered twice
    notes = json.loads(older.read_text())["tables"]["events"]["notes"]
    assert notes["users_only_quarantined"] == note


def test_the_users_an_erasure_counts_are_read_among_their_ids_only(tmp_path: Path) -> None:
    """forget counts, in every version, the erased users a note counts (users_in_notes) with
    ids_apart(among=ids): the users table was read among the ids, the events whole (every
    user's distinct id, and the users without a profile, which among the ids said nothing).
    Both sides are read among the ids now: every count is of those ids."""
    from features.user_overlap import ids_apart

    events, users = tmp_path / "events.parquet", tmp_path / "users.parquet"
    day = pd.Timestamp("2024-01-01", tz="UTC")
    pd.DataFrame({c.USER_ID: ["u1", "u2", "u3", "u3"], c.EVENT_TIME: day}).to_parquet(events)
    signed_up = [day, day, day + pd.Timedelta(days=9)]
    pd.DataFrame({c.USER_ID: ["u1", "u4", "u5"], c.SIGNUP_TIME: signed_up}).to_parquet(users)
    apart = ids_apart(events, users, among={"u2", "u4", "u5"})
    assert apart["events_users"] == 1 and apart["users"] == 2  # u2; u4 and u5
    assert apart["without_profile"] == 1 and apart["example_without_profile"] == "u2"
    assert apart["without_events"] == 2 and apart["signed_up_later"] == 1  # u5, after u3's
    assert ids_apart(events, users)["without_profile"] == 2  # the whole tables: u2, u3


def test_each_versions_users_without_events_loses_the_erased_users_it_counted(
    home: Path, tmp_path: Path
) -> None:
    """An appended dataset: each version whose batch gave a users file counts, in its
    report, the users of its whole users table with no event in its whole events table (an
    append without a users file counts none). forget lowers each version's by the erased
    users that version counted, read from its own tables: exact, not the users without
    events now. No file of any version keeps their ids."""
    first, later = tmp_path / "first.csv", tmp_path / "later.csv"
    first.write_text("user_id,event_time,amount\nc1001,2024-01-01,5\nc1002,2024-01-02,6\n")
    later.write_text("user_id,event_time,amount\nc1003,2024-02-01,5\n")
    users, more = tmp_path / "users.csv", tmp_path / "more.csv"
    users.write_text("user_id\nc1001\nc1002\nc1003\nc1004\n")
    more.write_text("user_id\nc1005\n")
    cli_report(
        "ingest", str(first), "--dataset", "shop", "--users", str(users), "--event-type", "purchase"
    )
    cli_report("ingest", str(later), "--dataset", "shop", "--append", "--users", str(more),
         "--event-type", "purchase")  # fmt: skip

    def versions() -> list[Path]:  # forget replaces the current one by a new folder
        return sorted((home / "datasets" / ".versions").iterdir())

    def without_events() -> list[int | None]:
        reports = [json.loads((v / "report.json").read_text()) for v in versions()]
        notes = [r["tables"]["users"]["notes"].get("users_without_events", {}) for r in reports]
        return [note.get("users") for note in notes]

    assert without_events() == [2, 2]  # c1003 and c1004; c1004 and c1005 (c1003 bought)
    # forget keeps every version (as many as ingest), each lowered by what it counted: the
    # ingest's counted c1003, the append's did not (c1003 bought there), nor forget's
    cli_report("forget", "c1003")
    assert without_events() == [1, 2, 2]  # c1004; c1004 and c1005; the same
    cli_report("forget", "c1004")
    assert without_events() == [None, 1, 1, 1]  # the ingest's note goes; c1005
    assert len(versions()) == 4
    for version in versions():
        assert not {*_held(version, "c1003"), *_held(version, "c1004")}, version


class _Recorded:
    """A real DuckDB connection whose statements are recorded."""

    def __init__(self, con: Any) -> None:
        self.con, self.statements = con, []

    def execute(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        return self.con.execute(sql, *args)

    def create_function(self, *args: Any, **kwargs: Any) -> Any:
        return self.con.create_function(*args, **kwargs)


def test_the_spelling_key_is_registered_on_a_connection_without_asking_its_catalog() -> None:
    """Each use of the spelling key asked DuckDB's catalog whether the connection had it
    (``duckdb_functions()``, every function DuckDB has: ~10 ms, ~3 an ingest, 55 ms of an
    append's 450 ms CPU). A connection registers it once, asked nothing; a cursor of one that
    has it (one catalog) uses it."""
    import duckdb

    from features.id_spellings import spelling_key

    with duckdb.connect() as con:
        recorded = _Recorded(con)
        keys = {spelling_key(recorded, "id") for _ in range(3)}
        assert recorded.statements == [] and len(keys) == 1, recorded.statements
        (key,) = keys
        assert con.execute(f"SELECT {key} FROM (SELECT ' 013047 ' AS id)").fetchall() == [
            ("13047",)
        ]
        cursor = con.cursor()
        key = spelling_key(cursor, "id")
        assert cursor.execute(f"SELECT {key} FROM (SELECT '13047.0' AS id)").fetchall() == [
            ("13047",)
        ]
