"""New days into an existing dataset: --append, the refusal of a replace that drops history,
and the kept versions (`lifecycle datasets history|restore`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
from lifecycle.refresh_files import append_files as refresh_ingest
from lifecycle.settings import load_settings

HEADER = "user_id,event_time,event_type,amount\n"
FIRST = (
    HEADER + "u1,2025-01-01 10:00:00,purchase,10\n"
    "u2,2025-01-02 10:00:00,session,\n"
    "u1,2025-01-05 10:00:00,purchase,5\n"
)
# The next export: it repeats the last day already ingested, brings one late event of
# u2 (before the dataset's newest) and two new days.
SECOND = (
    HEADER + "u1,2025-01-05 10:00:00,purchase,5\n"
    "u2,2025-01-04 09:00:00,session,\n"
    "u3,2025-01-06 10:00:00,purchase,7\n"
    "u1,2025-01-07 10:00:00,session,\n"
)
USERS = "user_id,signup_time,channel\nu1,2024-12-01,ads\nu2,2024-12-02,organic\n"
USERS_NEXT = "user_id,signup_time,channel\nu2,2024-12-02,referral\nu3,2025-01-06,ads\n"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _ingest(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(main, ["--json", "--quiet", "ingest", *args, "--dataset", "shop"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_append_adds_new_days_quarantines_repeats_and_updates_users(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    _ingest(runner, str(first), "--users", str(_write(tmp_path, "users.csv", USERS)))
    second = _write(tmp_path, "second.csv", SECOND)
    users_next = _write(tmp_path, "users_next.csv", USERS_NEXT)
    data = _ingest(runner, str(second), "--users", str(users_next), "--append")

    events_report = data["tables"]["events"]
    assert events_report["reasons"] == {"already_ingested": 1}
    assert events_report["rows_loaded"] == 3 and events_report["notes"]["late_events"] == 1
    assert data["totals"] == {"events": 6, "users": 3}
    dataset = home / "datasets" / "shop"
    events = pd.read_parquet(dataset / "events.parquet")
    assert len(events) == 6 and events[c.EVENT_TIME].is_monotonic_increasing
    assert (events[c.USER_ID] == "u1").sum() == 3  # the repeated purchase is there once
    held = pd.read_csv(dataset / "quarantine" / "events-already_ingested-1.csv")
    assert held[c.REASON].tolist() == ["already_ingested"] and held[c.USER_ID].tolist() == ["u1"]
    # as in every quarantine file, the row of the file first (it had none, reason last)
    assert list(held.columns[:2]) == [c.SOURCE_ROW, c.REASON] and held[c.SOURCE_ROW].tolist() == [1]
    users = pd.read_parquet(dataset / "users.parquet").set_index(c.USER_ID)
    assert sorted(users.index) == ["u1", "u2", "u3"]  # u1 kept though the new file lacks it
    assert users.loc["u2", c.CHANNEL] == "referral"  # the new file's row wins
    assert data["tables"]["users"]["notes"] == {"users_updated": 1, "users_added": 1}
    # Appending the same file again adds nothing: every row is already there.
    again = _ingest(runner, str(second), "--append")
    assert again["totals"]["events"] == 6
    assert again["tables"]["events"]["reasons"]["already_ingested"] == 4
    assert again["totals"]["users"] == 3  # no users file: the users table carried over
    # Said as nothing new, not as the dataset's last append (it read "1 append(s); the last,
    # of FILE: 0 rows loaded", of a file that appended nothing).
    assert again["unchanged"] is True
    said = runner.invoke(main, ["--quiet", "ingest", str(second), "--append", "--dataset", "shop"])
    assert said.exit_code == 0 and said.stdout.splitlines()[2:4] == [
        f"  nothing new in {second}: the dataset keeps its version (1 append before); "
        "of this file:",
        "  events: 0 rows loaded of 4, 4 quarantined (4 already_ingested)",
    ], said.stdout
    # `datasets` shows the dataset as it is, then the last append's counts (it showed only
    # those: "events: 3 rows loaded of 4"); after `forget`, what is left, no count below 0.
    listed = runner.invoke(main, ["datasets"]).stdout.splitlines()
    assert listed[1:3] == [
        "  now: 6 events of 3 users, 2025-01-01 .. 2025-01-07; users table 3 rows",
        "  1 append; the last, of " + str(second) + ":",
    ]
    assert runner.invoke(main, ["--quiet", "forget", "u1"]).exit_code == 0
    (shop,) = json.loads(runner.invoke(main, ["--json", "datasets"]).stdout)["datasets"]
    assert shop["now"] == {
        "events": 3,
        "users": 2,
        "first_event": "2025-01-02 10:00:00+00:00",
        "last_event": "2025-01-06 10:00:00+00:00",
        "users_table": 2,
        "appends": 1,
        "rows_erased": {"events": 3, "users": 1},
    }
    assert shop["tables"]["events"]["rows_loaded"] == 3  # the append's, not less u1's 3 events


def test_an_append_counts_the_notes_of_the_rows_it_adds(home: Path, tmp_path: Path) -> None:
    """A re-sent export: its refund and repeat were counted again though held back as
    already_ingested (the summary said 26 refunds booked, 322 repeats kept, 1 row added)."""
    runner = CliRunner()
    body = "u1,2025-01-01,purchase,-4\nu1,2025-01-02,purchase,3\nu1,2025-01-02,purchase,3\n"
    options = ("--negative-is-refund", "--keep-repeats")
    first = _ingest(runner, str(_write(tmp_path, "first.csv", HEADER + body)), *options)
    notes = first["tables"]["events"]["notes"]
    assert notes["negative_amounts_as_refunds"] == 1 and notes["repeats_kept"] == 1
    again = _write(tmp_path, "again.csv", HEADER + body + "u2,2025-01-03,purchase,5\n")
    report = _ingest(runner, str(again), *options, "--append")["tables"]["events"]
    assert report["rows_loaded"] == 1 and report["reasons"] == {"already_ingested": 3}
    assert report["notes"]["negative_amounts_as_refunds"] == 0
    assert report["notes"]["repeats_kept"] == 0


def test_an_append_without_a_column_the_dataset_has_says_so(home: Path, tmp_path: Path) -> None:
    """A next export without order_id was appended to a dataset with it in silence: its
    rows' orders are counted by user and time, not by order id. The summary and the report
    name the columns the file lacks and the rows added without them."""
    runner = CliRunner()
    first = "user_id,event_time,event_type,amount,order_id\nu1,2025-01-01,purchase,10,A1\n"
    _ingest(runner, str(_write(tmp_path, "first.csv", first)))
    second = _write(
        tmp_path,
        "second.csv",
        HEADER + "u1,2025-01-02,purchase,4\n"
        "u1,2025-01-02,purchase,6\nu1,2025-01-01 00:00:00,purchase,10\n",
    )
    report = _ingest(runner, str(second), "--append")["tables"]["events"]
    assert report["reasons"] == {"already_ingested": 1}
    assert report["notes"]["columns_absent"] == {"columns": ["order_id"], "rows": 2}
    said = runner.invoke(main, ["ingest", str(second), "--dataset", "shop", "--append"])
    assert said.exit_code == 0, said.output
    assert "lacks" not in said.stdout  # nothing added this time: nothing to say
    third = _write(tmp_path, "third.csv", HEADER + "u2,2025-01-03,purchase,1\n")
    said = runner.invoke(main, ["ingest", str(third), "--dataset", "shop", "--append"])
    assert (
        "    columns the dataset has and this file lacks, empty in the 1 row added (their "
        "orders counted by user and time): order_id"
    ) in said.stdout.splitlines()
    # given the column, nothing is said
    fourth = _write(
        tmp_path,
        "fourth.csv",
        first.replace("2025-01-01,purchase,10,A1", "2025-01-04,purchase,2,A2"),
    )
    assert (
        "lacks"
        not in runner.invoke(main, ["ingest", str(fourth), "--dataset", "shop", "--append"]).stdout
    )


def test_keep_repeats_appends_a_new_copy_of_a_row_the_dataset_holds(
    home: Path, tmp_path: Path
) -> None:
    """A log by day: the first export ends mid-day 3 with one purchase of u1, the next one
    has day 3 whole (u1 bought the same again: two equal rows) and two equal purchases on
    day 5. Both copies of day 3 were held back as already_ingested; the n-th copy of a row
    is held only when the dataset holds n, so the append equals one ingest of the whole log,
    and re-sending either file adds nothing."""
    runner = CliRunner()
    early = "u2,2025-01-01,purchase,4\n"
    day3 = "u1,2025-01-03,purchase,5\n"
    later = day3 + day3 + "u3,2025-01-05,purchase,6\n" * 2 + "u2,2025-01-05,purchase,4\n"
    first = _write(tmp_path, "first.csv", HEADER + early + day3)
    second = _write(tmp_path, "second.csv", HEADER + later)
    whole = _write(tmp_path, "whole.csv", HEADER + early + later)
    _ingest(runner, str(first), "--keep-repeats")
    report = _ingest(runner, str(second), "--keep-repeats", "--append")["tables"]["events"]
    assert report["reasons"] == {"already_ingested": 1} and report["rows_loaded"] == 4
    assert report["notes"]["repeats_kept"] == 2  # u1's second copy, u3's second
    appended = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    result = runner.invoke(main, ["--quiet", "ingest", str(whole), "--keep-repeats"])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(
        appended, pd.read_parquet(home / "datasets" / "whole" / "events.parquet")
    )
    for again in (first, second):
        resent = _ingest(runner, str(again), "--keep-repeats", "--append")
        assert resent["tables"]["events"]["rows_loaded"] == 0 and resent["totals"]["events"] == 6


def test_the_keep_repeats_hint_of_an_append_counts_the_copies_it_would_load(
    home: Path, tmp_path: Path
) -> None:
    """Trial 107: a month appended with --keep-repeats, then again with --no-keep-repeats,
    quarantined its repeats as duplicate_row and said --keep-repeats loads every copy; that
    loaded none, as the dataset held every copy. The hint now counts the copies the dataset
    lacks (those --keep-repeats adds), or says it holds them all."""
    runner = CliRunner()
    day = "u1,2025-01-03,purchase,5\n"
    month = _write(tmp_path, "month.csv", HEADER + day * 2 + "u2,2025-01-04,purchase,4\n")
    _ingest(runner, str(month), "--keep-repeats")
    again = ["ingest", str(month), "--dataset", "shop", "--append", "--no-keep-repeats"]
    result = runner.invoke(main, again)
    assert result.exit_code == 0, result.output
    assert "1 duplicate_row" in result.output and "--keep-repeats loads" not in result.output
    assert "the dataset holds every copy of them already" in result.output, result.output
    # one copy more than the dataset holds: --keep-repeats loads that one, and says so
    others = "u2,2025-01-04,purchase,4\nu3,2025-01-05,purchase,6\nu4,2025-01-05,purchase,2\n"
    more = _write(tmp_path, "more.csv", HEADER + day * 3 + others)
    result = runner.invoke(main, ["ingest", str(more), *again[2:]])
    assert result.exit_code == 0, result.output
    assert "2 duplicate_row" in result.output, result.output
    assert "--keep-repeats loads the 1 copy the dataset lacks" in result.output, result.output
    report = _ingest(runner, str(more), "--append", "--keep-repeats")["tables"]["events"]
    assert report["rows_loaded"] == 1 and report["reasons"] == {"already_ingested": 5}


def test_the_copies_keep_repeats_would_add_are_counted_on_holds_own_keys(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``duplicates_new`` rebuilt the keys ``hold`` compares rows by (describing the
    dataset's columns again) and their joins; it now counts on hold's."""
    from features import append_identity

    runner = CliRunner()
    day = "u1,2025-01-03,purchase,5\n"
    _ingest(runner, str(_write(tmp_path, "month.csv", HEADER + day * 2)), "--keep-repeats")
    described: list[list[str]] = []
    real = append_identity.number_text_columns

    def counted(kinds: dict[str, str], shared: list[str]) -> set[str]:
        described.append(shared)
        return real(kinds, shared)

    monkeypatch.setattr(append_identity, "number_text_columns", counted)
    more = _write(tmp_path, "more.csv", HEADER + day * 3 + "u3,2025-01-05,purchase,6\n")
    args = ["ingest", str(more), "--dataset", "shop", "--append", "--no-keep-repeats"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "--keep-repeats loads the 1 copy the dataset lacks" in result.output, result.output
    assert len(described) == 1, described


def test_an_append_reads_the_datasets_report_once(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest --append` read the dataset's report.json eight times (its kind, zone, event
    types, read options, appends, batches, quarantine columns); now once, passed on, and
    once more the new version's for the summary."""
    from collections import Counter

    import features.appending
    import features.batches
    import features.dataset_summary
    import features.ingest
    import lifecycle.dataset_kind

    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "month.csv", HEADER + "u1,2025-01-03,purchase,5\n")))
    before = (home / "datasets" / "shop").resolve()
    read: Counter[Path] = Counter()
    real = lifecycle.dataset_kind.read_report

    def counted(folder: Path) -> dict[str, Any] | None:
        read[Path(folder).resolve()] += 1
        return real(folder)

    readers = (features.appending, features.batches, features.dataset_summary, features.ingest)
    for module in (lifecycle.dataset_kind, *readers):
        monkeypatch.setattr(module, "read_report", counted, raising=False)
    more = _write(tmp_path, "more.csv", HEADER + "u2,2025-01-04,purchase,4\n")
    appended = _ingest(runner, str(more), "--append")
    assert appended["now"]["appends"] == 1 and appended["now"]["events"] == 2
    after = (home / "datasets" / "shop").resolve()
    assert after != before and read == {before: 1, after: 1}, read


def test_a_day_without_events_given_with_its_users_file_updates_the_users_table(
    home: Path, tmp_path: Path
) -> None:
    """A header-only events day with --users was nothing new and left its users file unread:
    a day's sign-ups without activity (and changed profiles) were lost. They update the users
    table as on any append (the file's rows win, users it lacks stay); the events stay."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)), "--users", str(_write(tmp_path, "users.csv", USERS)))  # fmt: skip
    quiet = _write(tmp_path, "quiet.csv", HEADER)
    users_next = _write(tmp_path, "users_next.csv", USERS_NEXT)
    args = ["ingest", str(quiet), "--users", str(users_next), "--append", "--dataset", "shop"]
    said = runner.invoke(main, args)
    assert said.exit_code == 0, said.output
    assert said.stdout.splitlines()[-6:] == [
        "  events: 0 rows loaded of 0, 0 quarantined",
        "    the file holds a header and no rows: no events (a day without any)",
        "  users: 2 rows loaded of 2, 0 quarantined",
        # u3 signed up after the last event: not "never bought" (trial 114)
        "    1 user of the users file has no event (e.g. 'u3'): signed up after the last "
        "event (2025-01-05): a later file may bring their orders",
        # no events' line says the zone the sign-up times were read in: theirs does
        "    times without a zone ('signup_time') read as UTC (the dataset's zone)",
        "    the users table updated: 1 user added, 1 changed (users the file lacks stay)",
    ]
    dataset = home / "datasets" / "shop"
    users = pd.read_parquet(dataset / "users.parquet").set_index(c.USER_ID)
    assert sorted(users.index) == ["u1", "u2", "u3"] and users.loc["u2", c.CHANNEL] == "referral"
    assert len(pd.read_parquet(dataset / "events.parquet")) == 3


def test_an_append_of_mostly_repeats_is_refused_with_the_copies_keep_repeats_would_load(
    home: Path, tmp_path: Path
) -> None:
    """A file more than half repeats is refused before any row loads; in an append its hint
    said --keep-repeats loads every copy though the dataset held them (it was given before
    the merge). It now counts what --keep-repeats would add, as the summary's line does."""
    runner = CliRunner()
    day = "u1,2025-01-03,purchase,5\n"
    _ingest(runner, str(_write(tmp_path, "month.csv", HEADER + day * 3)), "--keep-repeats")
    again = ["ingest", "--dataset", "shop", "--append", "--no-keep-repeats"]
    resent = runner.invoke(main, [*again, str(_write(tmp_path, "resent.csv", HEADER + day * 3))])
    assert resent.exit_code == 1, resent.output
    assert resent.stderr.strip().endswith(
        "2 of 3 rows are bad, more than the allowed 50% (2 duplicate_row); first bad row 2: "
        "duplicate_row. Is this the right file and mapping? Most are exact repeats, and the "
        "dataset holds every copy of them already"
    ), resent.output
    more = runner.invoke(main, [*again, str(_write(tmp_path, "more.csv", HEADER + day * 5))])
    assert more.exit_code == 1, more.output
    assert more.stderr.strip().endswith(
        "--keep-repeats loads the 2 copies the dataset lacks (it holds the other 2 already)"
    ), more.output
    report = _ingest(runner, str(tmp_path / "more.csv"), "--append", "--keep-repeats")
    assert report["tables"]["events"]["rows_loaded"] == 2


def test_repeats_of_a_row_held_back_as_read_in_another_zone_add_nothing_with_keep_repeats(
    home: Path, tmp_path: Path
) -> None:
    """The copies --keep-repeats would add counted a row's repeats though its first copy was
    held back for another reason (an event the dataset holds an hour away): with the option
    every copy is held back so, and none loads."""
    runner = CliRunner()
    header = HEADER.replace("\n", ",order_id\n")
    held = "u1,2025-01-03 10:00:00,purchase,5,o1\n"
    _ingest(runner, str(_write(tmp_path, "first.csv", header + held)))
    shifted = held.replace("10:00", "11:00")
    new = "u2,2025-01-04 10:00:00,purchase,4,o2\nu3,2025-01-04 11:00:00,purchase,6,o3\n"
    resent = _write(tmp_path, "resent.csv", header + shifted * 2 + new)
    said = runner.invoke(main, ["ingest", str(resent), "--dataset", "shop", "--append"])
    assert said.exit_code == 0, said.output
    assert (
        "    1 duplicate_row rows: the same in every column as another row of this file; they "
        "repeat rows held back as already_ingested_hours_apart (1), and every copy is held "
        "back so: nothing more to load"
    ) in said.stdout.splitlines(), said.output
    report = _ingest(runner, str(resent), "--append", "--keep-repeats")["tables"]["events"]
    assert report["rows_loaded"] == 0 and report["reasons"] == {
        "already_ingested": 2,
        "already_ingested_hours_apart": 2,
    }


def test_repeats_of_a_row_held_back_for_another_reason_name_that_reason(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append refused as mostly repeats, whose repeats' first copy was held back as an
    absurd amount, said "the dataset holds every copy of them already", which held none:
    the refusal and the summary's line now name the reason the first copies were held for."""
    monkeypatch.setenv("LIFECYCLE_INGEST__MAX_AMOUNT_RATIO", "100")
    runner = CliRunner()
    twice = "u1,2025-01-02,purchase,11\n"  # held twice: a repeat purchase kept
    history = "".join(f"u{i},2025-01-{i + 1:02d},purchase,{10 + i}\n" for i in range(10))
    _ingest(
        runner, str(_write(tmp_path, "history.csv", HEADER + history + twice)), "--keep-repeats"
    )
    typo = "u1,2025-02-01,purchase,90000\n"
    again = ["ingest", "--dataset", "shop", "--append", "--no-keep-repeats"]
    refused = runner.invoke(main, [*again, str(_write(tmp_path, "typos.csv", HEADER + typo * 4))])
    assert refused.exit_code == 1, refused.output
    assert refused.stderr.strip().endswith(
        "Most are exact repeats, and they repeat rows held back as absurd_amount (3), and every "
        "copy is held back so"
    ), refused.output
    # beside repeats the dataset holds every copy of: each said as what it is
    new = "".join(f"v{i},2025-02-0{i + 2},purchase,{12 + i}\n" for i in range(6))
    mixed = _write(tmp_path, "mixed.csv", HEADER + typo * 3 + twice * 2 + new)
    said = runner.invoke(main, [*again, str(mixed)])
    assert said.exit_code == 0, said.output
    assert (
        "    3 duplicate_row rows: the same in every column as another row of this file; 2 "
        "repeat rows held back as absurd_amount (2), every copy of which is held back so, "
        "and the dataset holds every copy of the other 1 already: nothing more to load"
    ) in said.stdout.splitlines(), said.output
    # one copy more than the dataset holds: --keep-repeats loads it, the others said as they are
    more = _write(tmp_path, "more.csv", HEADER + typo * 3 + twice * 3 + new)
    said = runner.invoke(main, [*again, str(more)])
    assert said.exit_code == 0, said.output
    assert said.stdout.strip().endswith(
        "--keep-repeats loads the 1 copy the dataset lacks (of the other 3, 2 repeat rows held "
        "back as absurd_amount (2), every copy of which is held back so, and the dataset holds "
        "every copy of the other 1 already)"
    ), said.output


def test_an_append_reads_its_file_as_the_datasets_were_read(home: Path, tmp_path: Path) -> None:
    """CDNOW-like: a count-only log of dates, ingested with --keep-repeats, --amount-default 1
    and --negative-is-refund. `refresh` has none of these options and `ingest --append` was
    not told them again: both dropped the next months' real repeats as duplicate_row (142
    rows over nine months of CDNOW) and would quarantine every row of a log without amounts.
    Now an append reads its file as the dataset's were, unless told otherwise."""
    runner = CliRunner()
    header = "user_id,event_time,event_type\n"
    day = "u1,2025-01-03,purchase\n"
    first = _write(tmp_path, "first.csv", header + "u2,2025-01-01,purchase\n" + day + day)
    options = ("--keep-repeats", "--amount-default", "1", "--negative-is-refund")
    assert _ingest(runner, str(first), *options)["tables"]["events"]["rows_loaded"] == 3
    second = _write(tmp_path, "second.csv", header + "u3,2025-02-01,purchase\n" * 2)
    report = _ingest(runner, str(second), "--append")["tables"]["events"]
    assert report["rows_loaded"] == 2 and report["notes"]["repeats_kept"] == 1
    assert report["notes"]["amount_defaulted"] == 2 and not report["reasons"]
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    third = _write(tmp_path, "third.csv", "user_id,event_time,event_type,amount\n"
                   "u1,2025-03-01,purchase,\nu1,2025-03-01,purchase,\nu2,2025-03-02,purchase,-4\n")  # fmt: skip
    step = refresh_ingest(settings, [third], None, None)
    report = step["files"][0]["tables"]["events"]
    assert report["rows_loaded"] == 3 and report["notes"]["repeats_kept"] == 1, report
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert len(events) == 8 and events[c.EVENT_TYPE].tolist()[-1] == c.REFUND  # -4 refunded
    assert events[c.AMOUNT].tolist()[:7] == [1.0] * 7 and events[c.AMOUNT].iloc[-1] == 4.0
    # Told otherwise, an append does otherwise: the repeat is held back.
    fourth = _write(tmp_path, "fourth.csv", header + "u4,2025-04-01,purchase\n" * 2)
    report = _ingest(runner, str(fourth), "--append", "--no-keep-repeats")["tables"]["events"]
    assert report["reasons"] == {"duplicate_row": 1} and report["rows_loaded"] == 1


def test_a_damaged_events_table_is_one_line_and_ingest_mends_it(home: Path, tmp_path: Path) -> None:
    """An events table that is no Parquet (a disk fault) ended `datasets`, `ingest --append`
    and `ingest` in Arrow's or DuckDB's traceback; each names it and the way back in one
    line, and an ingest replaces it (no history is left to keep)."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    events = (home / "datasets" / "shop").resolve() / "events.parquet"
    events.unlink()  # a new file: the version's own, no other version shares it
    events.write_text("not parquet")
    named = "dataset 'shop': events.parquet cannot be read ("
    listed = runner.invoke(main, ["datasets"])
    assert listed.exit_code == 0 and named in listed.stdout
    second = _write(tmp_path, "second.csv", SECOND)
    result = runner.invoke(main, ["ingest", str(second), "--dataset", "shop", "--append"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert named in result.stderr and "lifecycle datasets history shop" in result.stderr
    data = _ingest(runner, str(second))
    assert data["tables"]["events"]["rows_loaded"] == 4
    # one gone: `datasets` listed it from its report as if whole (4 rows loaded)
    (home / "datasets" / "shop").resolve().joinpath("events.parquet").unlink()
    listed = runner.invoke(main, ["datasets"])
    assert "dataset 'shop': its events table (events.parquet) is missing" in listed.stdout


def test_an_append_reads_times_in_the_zone_of_the_dataset(home: Path, tmp_path: Path) -> None:
    """A dataset ingested with --timezone Europe/London: a re-sent export appended without
    the option read its summer times as UTC, so a row already held came back an hour away
    from itself, a second purchase. An append (and refresh) reads them in the dataset's."""
    runner = CliRunner()
    day = "u1,2025-07-01 10:00:00,purchase,5\n"
    _ingest(runner, str(_write(tmp_path, "first.csv", HEADER + day)), "--timezone", "Europe/London")
    again = _write(tmp_path, "again.csv", HEADER + day + "u2,2025-07-02 10:00:00,purchase,5\n")
    report = _ingest(runner, str(again), "--append")["tables"]["events"]
    assert report["reasons"] == {"already_ingested": 1} and report["rows_loaded"] == 1
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    step = refresh_ingest(settings, [again], None, None)
    assert step["files"][0]["tables"]["events"]["reasons"] == {"already_ingested": 2}
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.EVENT_TIME].dt.hour.tolist() == [9, 9]  # 10:00 in London is 9:00 UTC


def test_an_append_told_another_zone_than_the_datasets_is_refused(
    home: Path, tmp_path: Path
) -> None:
    """Appended with --timezone Europe/London to a dataset read in Europe/Paris, a re-sent
    row loaded as a second purchase an hour from the first, nothing said."""
    runner = CliRunner()
    day = "u1,2025-07-01 10:00:00,purchase,5\n"
    _ingest(runner, str(_write(tmp_path, "first.csv", HEADER + day)), "--timezone", "Europe/Paris")
    again = _write(tmp_path, "again.csv", HEADER + day)
    told = ["--append", "--timezone", "Europe/London", "--dataset", "shop"]
    result = runner.invoke(main, ["ingest", str(again), *told])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --timezone Europe/London: dataset 'shop' reads times without an offset in "
        "Europe/Paris (its last ingest); appended in another zone, a row sent again would be a "
        "new event hours away from itself: drop --timezone (or give Europe/Paris)"
    )
    assert len(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")) == 1
    report = _ingest(runner, str(again), "--append", "--timezone", "Europe/Paris")
    assert report["tables"]["events"]["reasons"] == {"already_ingested": 1}


def test_contract_columns_appended_to_online_retail_read_its_london_times(
    home: Path, tmp_path: Path
) -> None:
    """The adapter reads the shop's invoice times in Europe/London; new days in contract
    columns appended to the import were read as UTC, a re-sent July line an hour off."""
    runner = CliRunner()
    july = "536400,22728,ALARM,24,2011-07-01 08:45:00,3.75,12583,France\n"
    imported = _write(tmp_path, "july.csv", RETAIL_HEADER + RETAIL_JANUARY + july)
    assert runner.invoke(main, ["--quiet", "import", "online-retail", str(imported)]).exit_code == 0
    report = _append_to_online_retail(
        runner,
        tmp_path,
        "12583,2011-07-01 08:45:00,purchase,90,GBP,536400\n"  # July's line, re-sent
        "12583,2011-07-02 10:00:00,purchase,5,GBP,600001\n",
    )
    assert report["reasons"] == {"already_ingested": 1} and report["rows_loaded"] == 1
    events = pd.read_parquet(home / "datasets" / "online_retail" / "events.parquet")
    assert events[c.EVENT_TIME].dt.hour.tolist() == [8, 7, 9]  # London summer: UTC+1


def test_appending_a_file_named_after_no_dataset_is_refused(home: Path, tmp_path: Path) -> None:
    """`ingest orders-2025-01.csv --append` without --dataset made a new dataset named after
    the file, the new days beside the history they were meant for."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    new_days = _write(tmp_path, "shop-2025-01.csv", SECOND)
    result = runner.invoke(
        main, ["ingest", str(new_days), "--append"], env={"LIFECYCLE_DATASET": "shop"}
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no dataset 'shop-2025-01' (the name shop-2025-01.csv gives)" in result.stderr
    assert "--dataset NAME, e.g. --dataset shop" in result.stderr
    assert sorted(p.name for p in (home / "datasets").iterdir() if p.name[0] != ".") == ["shop"]


def test_replacing_history_with_new_days_is_refused_and_nothing_written(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    _ingest(runner, str(first), "--users", str(_write(tmp_path, "users.csv", USERS)))
    dataset = home / "datasets" / "shop"
    before = dataset.readlink()
    later = _write(tmp_path, "later.csv", HEADER + "u3,2025-01-06 10:00:00,purchase,7\n")
    result = runner.invoke(main, ["ingest", str(later), "--dataset", "shop"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1  # one line (progress lines aside)
    error = errors[0]
    assert "would drop the events before 2025-01-06 and the users table" in error
    assert f"lifecycle ingest {later} --dataset shop --append" in error and "--replace" in error
    assert "and this command's other options (--map, --event-type, ...)" in error
    assert dataset.readlink() == before and len(pd.read_parquet(dataset / "events.parquet")) == 3
    # --replace does it, and the old version stays restorable.
    _ingest(runner, str(later), "--replace")
    assert len(pd.read_parquet(dataset / "events.parquet")) == 1
    assert not (dataset / "users.parquet").exists()


def test_a_replace_that_drops_the_users_table_says_so(home: Path, tmp_path: Path) -> None:
    """`ingest --replace` of an events file without --users dropped the users table without
    a word; the summary now names it and the restore that brings it back."""
    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    _ingest(runner, str(first), "--users", str(_write(tmp_path, "users.csv", USERS)))
    dataset = home / "datasets" / "shop"
    kept = dataset.readlink().name
    result = runner.invoke(main, ["ingest", str(first), "--dataset", "shop", "--replace"])
    assert result.exit_code == 0, result.output
    assert (
        f"    users table of 2 rows dropped (no --users file): `lifecycle datasets restore "
        f"{kept}` brings it back, or ingest again with --users FILE"
    ) in result.stdout.splitlines()
    assert not (dataset / "users.parquet").exists()
    assert runner.invoke(main, ["datasets", "restore", kept]).exit_code == 0
    assert len(pd.read_parquet(dataset / "users.parquet")) == 2
    # a replace that keeps a users table (or had none) says nothing of it
    again = runner.invoke(main, ["ingest", str(first), "--dataset", "shop", "--replace"])
    assert "dropped" in again.stdout
    assert (
        "dropped"
        not in runner.invoke(main, ["ingest", str(first), "--dataset", "shop", "--replace"]).stdout
    )


def test_an_older_export_is_not_sent_to_append_which_adds_nothing(
    home: Path, tmp_path: Path
) -> None:
    """Replacing a dataset by an older export (all its events already in the dataset) was
    refused with 'Add the new events with `... --append`': that append adds nothing. The
    advice to append now comes only with events it would add, counted."""
    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    _ingest(runner, str(first))
    _ingest(runner, str(_write(tmp_path, "second.csv", SECOND)), "--append")
    result = runner.invoke(main, ["ingest", str(first), "--dataset", "shop"])
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "would drop the events after 2025-01-05" in error
    assert error.endswith(
        "Every event of this file is in the dataset already: --append would add none, and the "
        f"dataset needs nothing from this file; or replace the dataset with `lifecycle ingest "
        f"{first} --dataset shop --replace`"
    )
    # true: the append it no longer suggests adds nothing
    appended = _ingest(runner, str(first), "--append")
    assert appended["tables"]["events"]["rows_loaded"] == 0
    # a file with one event the dataset lacks is sent to --append, counted
    both = _write(tmp_path, "both.csv", FIRST + "u4,2025-01-03 10:00:00,session,\n")
    result = runner.invoke(main, ["ingest", str(both), "--dataset", "shop"])
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"Add the events the dataset lacks (1) with `lifecycle ingest {both} --dataset " in error


def test_replacing_recent_history_with_a_file_that_ends_earlier_is_refused(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    dataset = home / "datasets" / "shop"
    before = dataset.readlink()
    head = _write(tmp_path, "head.csv", HEADER + "u1,2025-01-01 10:00:00,purchase,10\n")
    result = runner.invoke(main, ["ingest", str(head), "--dataset", "shop"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "holds 3 events 2025-01-01 .. 2025-01-05; this file holds 1 event" in error
    assert "would drop the events after 2025-01-01" in error and "--replace" in error
    assert dataset.readlink() == before and len(pd.read_parquet(dataset / "events.parquet")) == 3
    _ingest(runner, str(head), "--replace")
    assert len(pd.read_parquet(dataset / "events.parquet")) == 1


def test_history_lost_within_a_day_is_named_to_the_second(home: Path, tmp_path: Path) -> None:
    """The refusal of a file ending hours before the dataset said it would drop 'the events
    after 2025-01-05' of a dataset holding '2025-01-01 .. 2025-01-05': a day names no loss."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    head = _write(
        tmp_path, "morning.csv", FIRST.replace("2025-01-05 10:00:00", "2025-01-05 08:00:00")
    )
    result = runner.invoke(main, ["ingest", str(head), "--dataset", "shop"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "holds 3 events 2025-01-01 10:00:00 .. 2025-01-05 10:00:00; this file holds 3 events "
        "2025-01-01 10:00:00 .. 2025-01-05 08:00:00: replacing the dataset would drop the events "
        "after 2025-01-05 08:00:00."
    ) in result.stderr


def test_history_lists_versions_and_restore_brings_one_back(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    _ingest(runner, str(_write(tmp_path, "second.csv", SECOND)), "--append")
    result = runner.invoke(main, ["--json", "datasets", "history", "shop"])
    versions = json.loads(result.stdout)["versions"]
    assert [v["events"] for v in versions] == [6, 3]  # newest first
    assert [v["current"] for v in versions] == [True, False]
    assert versions[0]["batches"] == 2
    human = runner.invoke(main, ["datasets", "history", "shop"]).stdout
    assert f"* {versions[0]['version']}" in human
    # a misspelt name is refused (it said "has no versions" and exited 0), naming the datasets
    misspelt = runner.invoke(main, ["datasets", "history", "shpo"])
    assert misspelt.exit_code == 1 and "Traceback" not in misspelt.output
    assert "shpo" in misspelt.stderr and "shop" in misspelt.stderr.split("shpo", 1)[1]

    result = runner.invoke(main, ["datasets", "restore", versions[1]["version"]])
    assert result.exit_code == 0, result.output
    dataset = home / "datasets" / "shop"
    assert len(pd.read_parquet(dataset / "events.parquet")) == 3
    assert not dataset.readlink().is_absolute()  # the workspace stays movable
    result = runner.invoke(main, ["datasets", "restore", "shop@nope"])
    assert result.exit_code == 1 and "has no version 'shop@nope'; kept versions:" in result.stderr
    listed = json.loads(runner.invoke(main, ["--json", "datasets"]).stdout)
    assert [d["name"] for d in listed["datasets"]] == ["shop"]


def test_a_dataset_link_pointing_outside_the_versions_takes_no_kept_versions_place(
    home: Path, tmp_path: Path
) -> None:
    """Session 41: pruning counted the folder the dataset's link pointed to as one of the
    kept versions even when it lay outside the versions folder (a dataset moved by hand), so
    the next ingest kept one version fewer than DATASET_VERSIONS_KEPT. The kept versions are
    the versions folder's own entries; the folder outside is left as it was."""
    import shutil

    from lifecycle.storage import VERSIONS
    from lifecycle.workspace import DATASET_VERSIONS_KEPT

    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    for _ in range(DATASET_VERSIONS_KEPT):
        _ingest(runner, str(first), "--replace")
    dataset = home / "datasets" / "shop"
    versions = home / "datasets" / VERSIONS

    def kept() -> list[str]:
        return sorted(p.name for p in versions.iterdir() if p.name.startswith("shop@"))

    assert len(before := kept()) == DATASET_VERSIONS_KEPT
    outside = tmp_path / "elsewhere" / "shop"
    shutil.copytree(dataset.resolve(), outside)
    dataset.unlink()
    dataset.symlink_to(outside)
    _ingest(runner, str(first), "--replace")
    after = kept()
    assert len(after) == DATASET_VERSIONS_KEPT  # the new one and the 4 newest before it
    assert after[:-1] == before[1:] and dataset.resolve().name == after[-1]
    assert (outside / "events.parquet").is_file()  # not one of ours: left alone


def test_restore_of_an_unknown_version_names_what_exists_and_what_to_type(
    home: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    _ingest(runner, str(_write(tmp_path, "second.csv", SECOND)), "--append")
    history = json.loads(runner.invoke(main, ["--json", "datasets", "history", "shop"]).stdout)
    newest, older = (v["version"] for v in history["versions"])

    result = runner.invoke(main, ["datasets", "restore", "nope"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        "Error: no dataset 'nope' (from 'nope') has kept versions; the datasets that have: "
        "shop. VERSION is DATASET@STAMP: `lifecycle datasets history shop` lists them, then "
        "type `lifecycle datasets restore shop@STAMP`"
    )
    result = runner.invoke(main, ["datasets", "restore", "shop"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: dataset 'shop' has no version 'shop'; kept versions: {newest} (current), "
        f"{older}: type e.g. `lifecycle datasets restore {older}`"
    )


RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)
RETAIL_JANUARY = "536365,85123A,HEART,6,2011-01-04 08:26:00,2.55,17850,United Kingdom\n"
RETAIL_FEBRUARY = "536370,22728,ALARM,24,2011-02-01 08:45:00,3.75,12583,France\n"
# new days in the data contract's columns, as docs/refresh.md advises after an import
CONTRACT_HEADER = "user_id,event_time,event_type,amount,currency,order_id"


def test_importing_a_later_month_over_an_imported_history_is_refused(
    home: Path, tmp_path: Path
) -> None:
    """`lifecycle import online-retail` of next month's file replaced the whole history with
    that month, silently; it is refused like the same replace through `ingest`."""
    runner = CliRunner()
    both = _write(tmp_path, "both.csv", RETAIL_HEADER + RETAIL_JANUARY + RETAIL_FEBRUARY)
    february = _write(tmp_path, "february.csv", RETAIL_HEADER + RETAIL_FEBRUARY)
    command = ["--quiet", "import", "online-retail"]
    assert runner.invoke(main, [*command, str(both)]).exit_code == 0
    dataset = home / "datasets" / "online_retail"
    before = dataset.readlink()
    result = runner.invoke(main, [*command, str(february)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "holds 2 events 2011-01-04 .. 2011-02-01; this file holds 1 event" in error
    assert "would drop the events before 2011-02-01" in error
    # both.csv held February already: an append of it adds nothing, so it is not advised
    assert "Every event of this file is in the dataset already: --append would add none" in error
    assert "--append`" not in error
    assert f"lifecycle import online-retail {february} --dataset online_retail --replace" in error
    assert dataset.readlink() == before and len(pd.read_parquet(dataset / "events.parquet")) == 2
    assert runner.invoke(main, [*command, str(february), "--replace"]).exit_code == 0
    assert len(pd.read_parquet(dataset / "events.parquet")) == 1
    assert runner.invoke(main, [*command, str(both)]).exit_code == 0  # more history: no refusal


# Next month of the shop in its own raw format: a line already imported, one without a
# customer, one of a customer forgotten since, and 12583 now buying from Germany.
RETAIL_MORE_JANUARY = (
    "536366,22633,HAND WARMER,6,2011-01-05 08:28:00,1.85,12583,France\n"
    "536367,84879,BIRD,32,2011-01-06 08:34:00,1.69,13047,United Kingdom\n"
)
RETAIL_NEXT_FEBRUARY = (
    RETAIL_JANUARY
    + "536370,22728,ALARM,24,2011-02-01 08:45:00,3.75,12583,Germany\n"
    + "536370,22727,ALARM RED,24,2011-02-01 08:45:00,3.75,12583,Germany\n"
    + "536371,22720,CAKE TINS,3,2011-02-02 09:00:00,4.95,,United Kingdom\n"
    + "536372,21730,LANTERN,6,2011-02-03 09:00:00,4.25,13047,United Kingdom\n"
)
RETAIL_MARCH = "536380,22728,ALARM,12,2011-03-01 10:00:00,3.75,14000,Spain\n"


def test_an_adapters_users_table_says_it_was_derived_not_read_from_the_file() -> None:
    """`import online-retail --append` of a two-line month printed, under "of this file:",
    "users: 3,657 rows loaded of 3,657": the users table the adapter derives again from every
    event of the dataset, which the text did not say (its JSON note did)."""
    from features.dataset_summary import DatasetSummary

    def users_lines(notes: dict[str, Any]) -> list[str]:
        report = {"rows_read": 3657, "rows_loaded": 3657, "rows_quarantined": 0, "reasons": {}}
        tables = {"users": report | {"source": "tiny.csv", "notes": notes}}
        return DatasetSummary("online_retail", Path("d"), "events", tables).lines()[1:]

    derived = {"derived_from": "events (country of each customer's first invoice)"}
    assert users_lines(derived | {"users_updated": 0, "users_added": 0}) == [
        "  users: 3,657 rows loaded of 3,657, 0 quarantined",
        "    derived from the dataset's events (country of each customer's first invoice): the "
        "whole users "
        "table, not this file's customers",
        "    the users table updated: 0 users added, 0 changed (users the file lacks stay)",
    ]
    assert users_lines(derived)[1] == (  # an import: this file's events
        "    derived from the file's events (country of each customer's first invoice)"
    )
    assert len(users_lines({})) == 1  # a users file read as such: no such line


def test_a_later_month_of_online_retail_is_appended_through_its_adapter(
    home: Path, tmp_path: Path
) -> None:
    """Raw invoice lines of the next month could not be appended: `import` replaced (or
    refused), `refresh` wanted contract columns. `import --append` reads them with the
    adapter and appends them as `ingest --append` does."""
    runner = CliRunner()
    january = _write(tmp_path, "jan.csv", RETAIL_HEADER + RETAIL_JANUARY + RETAIL_MORE_JANUARY)
    february = _write(tmp_path, "feb.csv", RETAIL_HEADER + RETAIL_NEXT_FEBRUARY)
    run = ["--json", "--quiet", "import", "online-retail"]
    assert runner.invoke(main, [*run, str(january)]).exit_code == 0
    assert runner.invoke(main, ["--quiet", "forget", "13047"]).exit_code == 0
    result = runner.invoke(main, [*run, str(february), "--append"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tables"]["events"]["reasons"] == {
        "missing_user_id": 1,
        "erased_user": 1,
        "already_ingested": 1,
    }
    assert data["totals"] == {"events": 4, "users": 2}
    # the users derived again from every event: none added, none changed (every old
    # user was counted as updated, then the count overwritten by the rows added)
    users_report = data["tables"]["users"]
    assert users_report["notes"]["users_added"] == 0 and users_report["notes"]["users_updated"] == 0
    assert users_report["rows_loaded"] == 2  # the users table, not the file's customers
    dataset = home / "datasets" / "online_retail"
    events = pd.read_parquet(dataset / "events.parquet")
    assert events[c.ORDER_ID].tolist() == ["536365", "536366", "536370", "536370"]
    assert events[c.EVENT_TIME].is_monotonic_increasing and "13047" not in set(events[c.USER_ID])
    # The users table is derived again from all months: 12583, who bought from France in
    # January and from Germany twice in February, keeps the country of the first invoice
    # (their main country, Germany, would be read at January's cutoffs, before it was so).
    users = pd.read_parquet(dataset / "users.parquet").set_index(c.USER_ID)["country"]
    assert users.to_dict() == {"12583": "France", "17850": "United Kingdom"}
    # Both quarantines are kept, each row with its reason.
    held = pd.read_csv(dataset / "quarantine" / "events-append-1.csv")
    assert sorted(held[c.REASON]) == ["erased_user", "missing_user_id"]
    # as ingest --append's: each held row with its source row (the adapter's had none)
    held = pd.read_csv(dataset / "quarantine" / "events-already_ingested-1.csv", dtype=str)
    assert held[[c.SOURCE_ROW, c.REASON, c.ORDER_ID]].values.tolist() == [
        ["1", "already_ingested", "536365"]
    ]
    # The same month again brings nothing: the dataset keeps its version.
    before = dataset.readlink()
    again = json.loads(runner.invoke(main, [*run, str(february), "--append"]).stdout)
    assert again["tables"]["events"]["reasons"]["already_ingested"] == 3
    assert dataset.readlink() == before
    # A file the adapter refuses leaves the dataset as it was, and names that file.
    bad = _write(tmp_path, "bad.csv", "InvoiceNo,Quantity\n1,2\n")
    result = runner.invoke(main, ["import", "online-retail", str(bad), "--append"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {bad}: missing column" in result.stderr
    assert "Map other names with --map" not in result.stderr  # import has no --map
    assert "`lifecycle import online-retail` reads that data set's own file" in result.stderr
    assert dataset.readlink() == before
    # A month whose CustomerID was renamed: put it back, not `ingest --map` (which asked for
    # an amount column this file does not have).
    renamed = february.read_text().replace("CustomerID", "Customer ID", 1)
    result = runner.invoke(
        main, ["import", "online-retail", str(_write(tmp_path, "renamed.csv", renamed)), "--append"]
    )
    assert result.exit_code == 1 and "missing column 'CustomerID'" in result.stderr
    assert "Rename 'Customer ID' to 'CustomerID'; `lifecycle import online-retail`" in (
        result.stderr
    )
    # A snapshot has no months to add.
    result = runner.invoke(main, ["import", "telco-churn", str(bad), "--append"])
    assert result.exit_code == 1 and "not a log of events" in result.stderr
    # `refresh --source online-retail` appends through the same path (its ingest step; the
    # later steps are refresh's own tests), and refuses a users file the adapter derives.
    march = _write(tmp_path, "mar.csv", RETAIL_HEADER + RETAIL_MARCH)
    # Without --source the file was sent to `lifecycle ingest --map`, which cannot read
    # invoice lines (amounts are Quantity x UnitPrice, cancellations are refunds).
    result = runner.invoke(main, ["refresh", str(march), "--dataset", "online_retail"])
    assert result.exit_code == 1 and "--append --map CONTRACT=SOURCE" not in result.stderr
    assert f"`lifecycle refresh {march} --source online-retail`" in result.stderr.splitlines()[-1]
    assert dataset.readlink() == before
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "online_retail"})
    step = refresh_ingest(settings, [march], None, "online-retail")
    assert step["files"][0]["totals"] == {"events": 5, "users": 3}
    result = runner.invoke(
        main,
        [
            *("refresh", str(march), "--dataset", "online_retail"),
            *("--source", "online-retail", "--users", str(bad)),
        ],
    )
    assert result.exit_code == 1 and "derives the users table from the events" in result.stderr


def test_an_appended_file_with_other_columns_is_named_not_its_staging_copy(
    home: Path, tmp_path: Path
) -> None:
    """The refusal named the validated copy inside the dataset's staging folder
    (`.versions/.shop.dir....tmp/.work/events.parquet`), a path the user never gave. (A
    column new to the dataset that is no contract column, `coupon`, was refused so too; it is
    added now: tests/test_warehouse_exports.py. A contract column, `order_id`, still is.)"""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    dataset = home / "datasets" / "shop"
    before = dataset.readlink()
    coupons = _write(
        tmp_path,
        "coupons.csv",
        "user_id,event_time,event_type,amount,order_id\nu3,2025-01-06 10:00:00,purchase,7,#9\n",
    )
    for command in (["refresh", str(coupons)], ["ingest", str(coupons), "--append"]):
        result = runner.invoke(main, [*command, "--dataset", "shop"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert error.startswith(f"Error: {coupons}: its events have other columns"), error
        assert "other columns than dataset 'shop' holds (the file adds order_id;" in error
        assert "the dataset has amount, event_time, event_type, user_id)" in error
        assert ".tmp" not in error and ".versions" not in error and ".work" not in error
        assert "--map" not in error  # no mapping makes a column the dataset lacks
        assert dataset.readlink() == before


def test_a_file_whose_lines_end_with_a_separator_appends_to_one_without(
    home: Path, tmp_path: Path
) -> None:
    """An append of the next export saved with a comma ending every line was refused ('the
    file adds Unnamed: 4'): a column with no name and no value carries nothing to add."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    trailing = SECOND.replace("\n", ",\n")
    data = _ingest(runner, str(_write(tmp_path, "second.csv", trailing)), "--append")
    assert data["totals"] == {"events": 6}
    assert data["tables"]["events"]["notes"]["empty_unnamed_columns_ignored"] == ["Unnamed: 4"]
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert list(events.columns) == [c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT]


def test_an_appended_users_file_keeps_the_columns_it_lacks_and_adds_its_own(
    home: Path, tmp_path: Path
) -> None:
    """A users file without `channel` dropped the column from every user; one with a new
    column stopped the append with a pyarrow traceback."""
    runner = CliRunner()
    _ingest(
        runner,
        str(_write(tmp_path, "first.csv", FIRST)),
        "--users",
        str(_write(tmp_path, "users.csv", USERS)),
    )
    second = str(_write(tmp_path, "second.csv", SECOND))
    fewer = _write(tmp_path, "fewer.csv", "user_id,signup_time\nu2,2024-12-03\nu3,2025-01-06\n")
    _ingest(runner, second, "--users", str(fewer), "--append")
    users = pd.read_parquet(home / "datasets" / "shop" / "users.parquet").set_index(c.USER_ID)
    assert users[c.CHANNEL].dropna().to_dict() == {"u1": "ads", "u2": "organic"}  # u3: none
    assert str(users.loc["u2", c.SIGNUP_TIME].date()) == "2024-12-03"  # the file's row wins
    more = _write(tmp_path, "more.csv", "user_id,channel,plan\nu3,ads,pro\n")
    _ingest(runner, second, "--users", str(more), "--append")
    users = pd.read_parquet(home / "datasets" / "shop" / "users.parquet").set_index(c.USER_ID)
    assert users.loc["u3", [c.CHANNEL, "plan"]].tolist() == ["ads", "pro"]
    assert users.loc["u1", c.CHANNEL] == "ads" and users["plan"].isna().sum() == 2
    assert str(users.loc["u3", c.SIGNUP_TIME].date()) == "2025-01-06"  # kept: the file lacks it


def test_an_extra_column_of_another_type_is_cast_or_refused_in_one_line(
    home: Path, tmp_path: Path
) -> None:
    """A Parquet file whose extra column had another type than the dataset's ended the
    append (and refresh) in a DuckDB ConversionException traceback."""
    runner = CliRunner()
    day = {c.USER_ID: ["u1"], c.EVENT_TIME: ["2025-01-01 10:00:00"], c.EVENT_TYPE: ["session"]}
    pd.DataFrame({**day, "discount": [0.1], "code": ["A7"]}).to_parquet(tmp_path / "a.parquet")
    _ingest(runner, str(tmp_path / "a.parquet"))
    later = {**day, c.EVENT_TIME: ["2025-01-02 10:00:00"]}
    pd.DataFrame({**later, "discount": [0.2], "code": [7]}).to_parquet(tmp_path / "b.parquet")
    _ingest(runner, str(tmp_path / "b.parquet"), "--append")  # a number is text too
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events["code"].tolist() == ["A7", "7"]
    bad = tmp_path / "c.parquet"
    pd.DataFrame({**later, "discount": ["10%"], "code": ["B"]}).to_parquet(bad)
    result = runner.invoke(main, ["ingest", str(bad), "--dataset", "shop", "--append"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {bad}: column 'discount' holds VARCHAR values, the dataset's DOUBLE, " in (
        result.stderr
    )
    assert "'10%' is no DOUBLE" in result.stderr


TELCO = (
    "customerID,Churn,SeniorCitizen,tenure,MonthlyCharges,TotalCharges\n"
    "7590-VHVEG,No,0,1,29.85,29.85\n5575-GNVDE,Yes,0,34,56.95,1889.5\n"
)


def test_a_dataset_of_another_kind_is_not_appended_to_or_replaced_silently(
    home: Path, tmp_path: Path
) -> None:
    """`ingest --append` (and refresh) of events into the telco snapshot replaced the
    snapshot with them, as did an import of one data set under another's name."""
    runner = CliRunner()
    telco = _write(tmp_path, "telco.csv", TELCO)
    assert runner.invoke(main, ["-q", "import", "telco-churn", str(telco)]).exit_code == 0
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))  # dataset shop: events
    snapshot, shop = home / "datasets" / "telco_churn", home / "datasets" / "shop"
    before = {snapshot: snapshot.readlink(), shop: shop.readlink()}
    retail = _write(tmp_path, "retail.csv", RETAIL_HEADER + RETAIL_JANUARY)
    first = str(tmp_path / "first.csv")
    for command, said in [
        (["ingest", first, "--dataset", "telco_churn", "--append"], "a snapshot table"),
        (["ingest", first, "--dataset", "telco_churn"], "a snapshot table"),
        (["refresh", first, "--dataset", "telco_churn"], "a snapshot table"),
        (["import", "online-retail", str(retail), "--dataset", "telco_churn"], "a snapshot"),
        (["import", "telco-churn", str(telco), "--dataset", "shop"], "an events log"),
    ]:
        result = runner.invoke(main, command)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert f"is {said}" in error and "replacing it would drop it" in error, error
        assert "--replace`" in error and "--map" not in error
        assert {path: path.readlink() for path in before} == before
    replaced = runner.invoke(main, ["-q", "ingest", first, "--dataset", "telco_churn", "--replace"])
    assert replaced.exit_code == 0 and (snapshot / "events.parquet").is_file()


def test_new_days_in_contract_columns_append_to_an_imported_dataset(
    home: Path, tmp_path: Path
) -> None:
    """What docs/refresh.md and the import refusal advise, new events in contract columns
    after `import online-retail`, was refused for lacking the adapter's extra columns (naming
    a staging file). They go in with those columns empty; a row the dataset holds in every
    column the file has is already_ingested; a column the dataset lacks, refused before (trial
    E: a warehouse's month adding a nullable column), is added, empty in the rows before."""
    runner = CliRunner()
    both = _write(tmp_path, "both.csv", RETAIL_HEADER + RETAIL_JANUARY + RETAIL_FEBRUARY)
    assert runner.invoke(main, ["--quiet", "import", "online-retail", str(both)]).exit_code == 0
    report = _append_to_online_retail(
        runner,
        tmp_path,
        "12583,2011-02-01 08:45:00,purchase,90,GBP,536370\n"  # February's line
        "12583,2011-03-01 10:00:00,purchase,5,GBP,600001\n",
    )
    assert report["reasons"] == {"already_ingested": 1} and report["rows_loaded"] == 1
    events = pd.read_parquet(home / "datasets" / "online_retail" / "events.parquet")
    assert events["order_id"].tolist() == ["536365", "536370", "600001"]
    assert events["stock_code"].tolist()[:2] == ["85123A", "22728"]
    assert events["stock_code"].isna().tolist() == [False, False, True]
    extra = _write(tmp_path, "extra.csv", CONTRACT_HEADER + ",coupon\n1,2011-03-02,session,,,,x\n")
    result = runner.invoke(main, ["ingest", str(extra), "--dataset", "online_retail", "--append"])
    assert result.exit_code == 0, result.output
    assert "columns new to the dataset, empty in its 3 rows before: coupon" in result.stdout
    events = pd.read_parquet(home / "datasets" / "online_retail" / "events.parquet")
    assert events["coupon"].tolist() == [None, None, None, "x"]
    assert events["stock_code"].tolist()[:2] == ["85123A", "22728"]


def _append_to_online_retail(runner: CliRunner, tmp_path: Path, rows: str) -> dict:
    """``rows`` in contract columns appended to the imported online_retail: the report of
    its events table."""
    new = _write(tmp_path, "new.csv", f"{CONTRACT_HEADER}\n{rows}")
    args = ["--json", "--quiet", "ingest", str(new), "--dataset", "online_retail", "--append"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["tables"]["events"]


EXTRA_HEADER = "user_id,event_time,event_type,amount,order_id,sku,quantity,unit_price\n"
EXTRA_DAY = (
    "14565,2011-09-05 09:07:00,purchase,18.60,565457,22835,4,4.65\n"
    "14565,2011-09-05 09:07:00,purchase,59.40,565457,23355,12,4.95\n"
    "17841,2011-09-05 10:15:00,purchase,15.30,565460,84879,9,1.70\n"
)


def test_extra_columns_written_as_floats_are_the_rows_the_dataset_holds(
    home: Path, tmp_path: Path
) -> None:
    """A day re-sent with its extra column written 8.0 (pandas' text of an integer column
    holding a null) loaded again as late events, doubling the day's revenue; so did a
    Parquet copy with the column as float64. Extra text columns are compared by the number
    they write: those rows are already_ingested, and a changed quantity is still new."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "day.csv", EXTRA_HEADER + EXTRA_DAY)))
    floats = EXTRA_DAY.replace(",4,", ",4.0,").replace(",12,", ",12.0,").replace(",9,", ",9.0,")
    floats = floats.replace(",1.70", ",1.7")  # and 1.70 as a float writes it
    resent = _write(tmp_path, "resent.csv", EXTRA_HEADER + floats)
    report = _ingest(runner, str(resent), "--append")
    assert report["unchanged"] is True
    assert report["tables"]["events"]["reasons"] == {"already_ingested": 3}
    frame = pd.read_csv(tmp_path / "day.csv", dtype=str)
    for column in ("quantity", "unit_price"):
        frame[column] = frame[column].astype(float)
    frame.to_parquet(parquet := tmp_path / "resent.parquet", index=False)
    report = _ingest(runner, str(parquet), "--append")
    assert report["tables"]["events"]["reasons"] == {"already_ingested": 3}
    # another quantity is another row: it loads, and the held rows keep their text
    changed = _write(tmp_path, "changed.csv", EXTRA_HEADER + floats.replace(",9.0,", ",10.0,"))
    report = _ingest(runner, str(changed), "--append")["tables"]["events"]
    assert report["reasons"] == {"already_ingested": 2} and report["rows_loaded"] == 1
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert sorted(events["quantity"]) == ["10.0", "12", "4", "9"]


def test_a_day_resent_in_utc_into_a_london_dataset_is_held_back_naming_the_shift(
    home: Path, tmp_path: Path
) -> None:
    """A re-sent summer day written in UTC without an offset, appended to a dataset read in
    Europe/London, loaded again an hour off: every order twice under one order_id. Those
    rows are now quarantined as already_ingested_hours_apart, said with the shift and
    --timezone; a new order at those times, and the same order's refund, still load."""
    runner = CliRunner()
    header = "user_id,event_time,event_type,amount,order_id,sku\n"
    london = (
        "12423,2011-08-31 08:55:00,purchase,4.68,564853,22396\n"
        "12423,2011-08-31 08:55:00,purchase,10.20,564853,21680\n"
        "13050,2011-08-31 12:10:00,purchase,7.50,564900,22111\n"
    )
    first = _write(tmp_path, "first.csv", header + london)
    _ingest(runner, str(first), "--timezone", "Europe/London")
    utc = london.replace(" 08:55", " 07:55").replace(" 12:10", " 11:10")
    resent = _write(tmp_path, "resent.csv", header + utc)
    result = runner.invoke(main, ["ingest", str(resent), "--dataset", "shop", "--append"])
    assert result.exit_code == 0, result.output
    assert "3 quarantined (3 already_ingested_hours_apart" in result.stdout
    assert "at a time 1 h before the held one's" in result.stdout
    assert "read in Europe/London" in result.stdout and "--timezone ZONE" in result.stdout
    dataset = home / "datasets" / "shop"
    assert len(pd.read_parquet(dataset / "events.parquet")) == 3
    # new events beside them: another order at the shifted time, a refund of the same order
    others = (
        "12423,2011-08-31 07:55:00,purchase,4.68,564999,22396\n"
        "13050,2011-08-31 14:10:00,refund,7.50,564900,22111\n"
    )
    mixed = _write(tmp_path, "mixed.csv", header + utc + others)
    report = _ingest(runner, str(mixed), "--append")["tables"]["events"]
    assert report["reasons"] == {"already_ingested_hours_apart": 3} and report["rows_loaded"] == 2
    assert report["notes"]["already_ingested_hours_apart"] == {
        "hours": {"-1": 3},
        "timezone": "Europe/London",
    }
    held = pd.read_csv(dataset / "quarantine" / "events-already_ingested-1.csv", dtype=str)
    assert set(held[c.REASON]) == {"already_ingested_hours_apart"} and len(held) == 3
    events = pd.read_parquet(dataset / "events.parquet")
    assert sorted(events[c.ORDER_ID]) == ["564853", "564853", "564900", "564900", "564999"]


@pytest.mark.parametrize(
    ("zone", "hours", "said"),
    [
        ("Asia/Kolkata", "-5.5", "5 h 30 min before"),  # +05:30
        ("Asia/Kathmandu", "-5.75", "5 h 45 min before"),  # +05:45
        ("America/St_Johns", "2.5", "2 h 30 min after"),  # -02:30 in summer (-03:30 in winter)
    ],
)
def test_a_day_resent_in_utc_into_a_half_hour_zone_is_held_back_naming_the_shift(
    home: Path, tmp_path: Path, zone: str, hours: str, said: str
) -> None:
    """Only whole hours were caught: a UTC re-send into a dataset read in India (+05:30)
    loaded again, every order twice. A shift that is a real zone offset of quarter hours is
    held back as already_ingested_hours_apart, named in hours and minutes; the same order
    at a shift that is no zone's offset (45 minutes) is still a new event."""
    runner = CliRunner()
    header = "user_id,event_time,event_type,amount,order_id,sku\n"
    local = ["2011-08-31 08:55:00", "2011-08-31 12:10:00"]
    rows = "12423,{},purchase,4.68,564853,22396\n13050,{},purchase,7.50,564900,22111\n"
    _ingest(
        runner, str(_write(tmp_path, "first.csv", header + rows.format(*local))), "--timezone", zone
    )
    utc = pd.to_datetime(local).tz_localize(zone).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
    resent = _write(tmp_path, "resent.csv", header + rows.format(*utc))
    result = runner.invoke(main, ["ingest", str(resent), "--dataset", "shop", "--append"])
    assert result.exit_code == 0, result.output
    assert "2 quarantined (2 already_ingested_hours_apart" in result.stdout, result.stdout
    assert (
        f"at a time {said} the held one's" in result.stdout and f"read in {zone}" in result.stdout
    )
    report = _ingest(runner, str(resent), "--append")["tables"]["events"]
    assert report["notes"]["already_ingested_hours_apart"]["hours"] == {hours: 2}
    quarter = pd.to_datetime(local) + pd.Timedelta(minutes=45)
    moved = _write(
        tmp_path, "moved.csv", header + rows.format(*quarter.strftime("%Y-%m-%d %H:%M:%S"))
    )
    report = _ingest(runner, str(moved), "--append")["tables"]["events"]
    assert report["rows_loaded"] == 2 and not report["reasons"]


def test_a_header_only_file_appends_nothing_new_and_others_stay_refused(
    home: Path, tmp_path: Path
) -> None:
    """A daily export of a day without orders (the contract header, no rows) was refused
    ('no data rows'), failing the cron's refresh. Appended, it is nothing new: the dataset
    keeps its version. A 0-byte file, or a header without the contract's columns, is still
    refused; so is a header alone as a new dataset."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    version = (home / "datasets" / "shop").readlink()
    empty_day = _write(tmp_path, "sunday.csv", HEADER)
    data = _ingest(runner, str(empty_day), "--append")
    assert data["unchanged"] is True and data["now"]["events"] == 3
    report = data["tables"]["events"]
    assert (report["rows_read"], report["rows_loaded"], report["notes"]) == (
        0, 0, {"header_only": True}
    )  # fmt: skip
    assert (home / "datasets" / "shop").readlink() == version
    text = runner.invoke(main, ["ingest", str(empty_day), "--dataset", "shop", "--append"])
    assert f"nothing new in {empty_day}" in text.stdout
    assert "the file holds a header and no rows: no events (a day without any)" in text.stdout
    no_rows = pd.read_csv(empty_day).astype({c.EVENT_TIME: "datetime64[ns]"})
    no_rows.to_parquet(tmp_path / "sunday.parquet", index=False)
    assert _ingest(runner, str(tmp_path / "sunday.parquet"), "--append")["unchanged"] is True

    def refused(path: Path, *args: str) -> str:
        result = runner.invoke(main, ["ingest", str(path), "--dataset", "shop", *args])
        assert result.exit_code == 1, result.output
        return result.stderr.strip().splitlines()[-1]

    zero = _write(tmp_path, "zero.csv", "")
    assert refused(zero, "--append") == f"Error: {zero}: file is empty (no header, no rows)"
    other = _write(tmp_path, "other.csv", "customer,day\n")
    assert refused(other, "--append").startswith(
        f"Error: {other}: missing column 'user_id', 'event_time', 'event_type'"
    )
    assert refused(empty_day, "--replace").endswith("no data rows (columns: user_id, "
                                                    "event_time, event_type, amount)")  # fmt: skip
    assert (home / "datasets" / "shop").readlink() == version
    # a public data set's header alone is nothing new too; the contract's header is not its
    retail = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    month = _write(tmp_path, "month.csv", retail + "536365,85,H,6,2010-12-01 08:26,2.5,17850,UK\n")
    into = ["import", "online-retail", "--dataset", "retail"]
    assert runner.invoke(main, [*into, str(month)]).exit_code == 0
    header = _write(tmp_path, "retail_sunday.csv", retail)
    appended = runner.invoke(main, ["--json", "--quiet", *into, str(header), "--append"])
    assert appended.exit_code == 0 and json.loads(appended.stdout)["unchanged"] is True
    result = runner.invoke(main, [*into, str(empty_day), "--append"])
    assert result.exit_code == 1 and "missing column 'InvoiceNo'" in result.stderr, result.output


def test_an_empty_users_file_beside_an_appended_day_is_refused_by_its_own_name(
    home: Path, tmp_path: Path
) -> None:
    """A users file with a header only, given with a day of events, was taken for a header-only
    events file: the error named the events file and quoted the users file's header."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    users = _write(tmp_path, "users.csv", "user_id,signup_time\n")
    day = _write(tmp_path, "second.csv", SECOND)
    args = ["ingest", str(day), "--dataset", "shop", "--append", "--users", str(users)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {users}: no data rows (columns: user_id, signup_time)"
    )


# A shop's monthly export in its own columns (trial 114): one row per order, re-sent orders
SHOP_EXPORT = "Name,Email,Created at,Total\n"
SHOP_MAPS = (
    *("--map", "user_id=Email", "--map", "event_time=Created at", "--map", "amount=Total"),
    *("--map", "order_id=Name", "--event-type", "purchase"),
)


def test_an_append_reads_its_file_with_the_datasets_recorded_maps(
    home: Path, tmp_path: Path
) -> None:
    """The column maps and --event-type were not recorded: every monthly append repeated six
    options, `refresh FILE` refused a mapped export (missing column 'user_id'), and an append
    given all maps but order_id's was told to drop `Name` or --replace the dataset. Now an
    append (and refresh) reads its file with the recorded maps, a map given over its own
    field (said in one line), and a refusal names the recorded map to give."""
    runner = CliRunner()
    august = _write(tmp_path, "aug.csv", SHOP_EXPORT + "#1,a@x.com,2011-08-30 10:00,10\n")
    _ingest(runner, str(august), *SHOP_MAPS)
    september = _write(
        tmp_path,
        "sep.csv",
        SHOP_EXPORT + "#1,a@x.com,2011-08-30 10:00,10\n#2,b@x.com,2011-09-02 10:00,7\n",
    )
    report = _ingest(runner, str(september), "--append")["tables"]["events"]
    assert report["rows_loaded"] == 1 and report["reasons"] == {"already_ingested": 1}
    # all maps but order_id's given: order_id is read from Name as recorded
    october = _write(tmp_path, "oct.csv", SHOP_EXPORT + "#3,a@x.com,2011-10-01 10:00,5\n")
    given = (*SHOP_MAPS[:6], "--event-type", "purchase")
    assert _ingest(runner, str(october), *given, "--append")["tables"]["events"]["rows_loaded"] == 1
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.ORDER_ID].tolist() == ["#1", "#2", "#3"]
    assert set(events.columns) == {c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT, c.ORDER_ID}
    # another map for order_id: said, and the file's Name is a column the dataset lacks
    november = _write(
        tmp_path, "nov.csv", "Name,Ref,Email,Created at,Total\n#4,r4,a@x.com,2011-11-01 10:00,5\n"
    )
    args = ["ingest", str(november), "--dataset", "shop", "--append", "--map", "order_id=Ref"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert (
        "this file is read with --map order_id=Ref; dataset 'shop' recorded --map user_id=Email "
        "--map 'event_time=Created at' --map amount=Total --map order_id=Name --event-type "
        "purchase (the options not given are read as recorded)"
    ) in result.stderr
    assert (
        "(the file adds Name; the dataset has amount, event_time, event_type, order_id, "
        "user_id): the dataset's files were read with --map order_id=Name (recorded with it): "
        "give the same, or no --map for order_id, and the append reads them so"
    ) in result.stderr
    assert "--replace" not in result.stderr
    # refresh FILE: the mapped export appended as ingest --append does
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    december = _write(tmp_path, "dec.csv", SHOP_EXPORT + "#5,b@x.com,2011-12-01 10:00,9\n")
    step = refresh_ingest(settings, [december], None, None)
    assert step["files"][0]["tables"]["events"]["rows_loaded"] == 1
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.ORDER_ID].tolist()[-1] == "#5" and events[c.EVENT_TYPE].iloc[-1] == "purchase"


def test_a_refresh_refusal_carries_the_options_it_names(home: Path, tmp_path: Path) -> None:
    """refresh scraped the options a refusal names out of its text with a regex; the refusal
    now carries them (ContractError.options) and refresh names them in its `ingest --append`."""
    from features.validation import ContractError

    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    semicolons = _write(
        tmp_path, "semi.csv", HEADER.replace(",", ";") + "u2;2025-01-09 10:00:00;session;\n"
    )
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    with pytest.raises(ContractError) as refused:
        refresh_ingest(settings, [semicolons], None, None)
    assert refused.value.options == ("--delimiter ';'",)
    assert f"`lifecycle ingest {semicolons} --dataset shop --append --delimiter ';'`" in str(
        refused.value
    )


def test_repeated_rows_of_one_order_id_are_said_to_be_re_sent_orders(
    home: Path, tmp_path: Path
) -> None:
    """Concatenated monthly exports re-send orders: the duplicate_row note offered
    --keep-repeats ("if they are separate events"), which would count each order twice. With
    order_id mapped, in a file of one row per order, they are said to be re-sent orders and
    --keep-repeats is not offered; a file of order lines keeps the offer."""
    runner = CliRunner()
    rows = "#1,a@x.com,2011-08-30 10:00,10\n#2,b@x.com,2011-09-02 10:00,7\n"
    export = _write(tmp_path, "orders.csv", SHOP_EXPORT + rows + rows.splitlines()[0] + "\n")
    result = runner.invoke(main, ["ingest", str(export), "--dataset", "shop", *SHOP_MAPS])
    assert result.exit_code == 0, result.output
    assert (
        "1 duplicate_row rows: re-sent orders (each the same order id as a row loaded), kept "
        "once; --keep-repeats would count them twice"
    ) in result.stdout
    assert "if they are separate events" not in result.stdout
    lines = _write(
        tmp_path, "lines.csv", SHOP_EXPORT + rows + rows + "#1,a@x.com,2011-08-30 10:00,3\n"
    )
    result = runner.invoke(main, ["ingest", str(lines), "--dataset", "lines", *SHOP_MAPS])
    assert result.exit_code == 0, result.output
    assert "--keep-repeats loads every copy" in result.stdout and "re-sent" not in result.stdout


def test_a_mapped_order_id_column_the_file_lacks_is_refused_unless_recorded(
    home: Path, tmp_path: Path
) -> None:
    """`--map order_id=Ref` (an optional field) naming no column of the file was taken as
    absent: a typo lost the order ids unsaid. It is refused in one line naming the map, the
    column and the file's columns (a near name offered); a map recorded with the dataset that
    a later export lacks loads the file, the column said empty in the rows added."""
    runner = CliRunner()
    august = _write(tmp_path, "aug.csv", SHOP_EXPORT + "#1,a@x.com,2011-08-30 10:00,10\n")
    maps = [*SHOP_MAPS[:6], "--event-type", "purchase"]
    for typo, way in (
        ("Ref", "Map other names with --map CONTRACT=SOURCE"),
        ("name", "Map them with --map order_id=Name"),
    ):
        args = ["ingest", str(august), "--dataset", "shop", *maps, "--map", f"order_id={typo}"]
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert (
            f"Error: {august}: missing column '{typo}' (for order_id); the file has: Name, Email, "
            f"Created at, Total. {way} (--map order_id={typo} names a column this file lacks; "
            "drop it to load without)\n"
        ) in result.stderr
    _ingest(runner, str(august), *SHOP_MAPS)
    september = _write(tmp_path, "sep.csv", "Email,Created at,Total\nb@x.com,2011-09-02 10:00,7\n")
    result = runner.invoke(main, ["ingest", str(september), "--dataset", "shop", "--append"])
    assert result.exit_code == 0, result.output
    assert (
        "columns the dataset has and this file lacks, empty in the 1 row added (their orders "
        "counted by user and time): order_id"
    ) in result.stdout


def test_ingest_append_and_refresh_read_a_file_alike(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 143: `ingest --append` and `refresh FILE` each rebuilt the recorded options
    and had drifted: refresh dropped the settings' ingest.allow_negative_amounts, so the
    same month lost its negative amounts to quarantine through refresh only. One rule now
    (features.batches.file_reading): the zone, repeats and amounts read alike."""
    monkeypatch.setenv("LIFECYCLE_INGEST__ALLOW_NEGATIVE_AMOUNTS", "true")
    runner = CliRunner()
    first = _write(tmp_path, "first.csv", FIRST)
    for name in ("cli", "refresh"):
        args = ["ingest", str(first), "--dataset", name, "--timezone", "Europe/Paris"]
        result = runner.invoke(main, ["--quiet", *args, "--keep-repeats"])
        assert result.exit_code == 0, result.output
    month = _write(
        tmp_path,
        "next.csv",
        HEADER + "u3,2025-01-06 10:00:00,purchase,-4\n" * 2 + "u1,2025-01-07 10:00:00,purchase,3\n",
    )
    appended = runner.invoke(main, ["ingest", str(month), "--dataset", "cli", "--append"])
    assert appended.exit_code == 0, appended.output
    environ = {"LIFECYCLE_DATASET": "refresh", "LIFECYCLE_INGEST__ALLOW_NEGATIVE_AMOUNTS": "true"}
    refresh_ingest(load_settings(home=home, environ=environ), [month], None, None)
    cli, refreshed = (
        pd.read_parquet(home / "datasets" / name / "events.parquet") for name in ("cli", "refresh")
    )
    pd.testing.assert_frame_equal(refreshed, cli)
    assert cli[c.AMOUNT].tolist()[-3:] == [-4.0, -4.0, 3.0]  # repeats kept, negatives allowed
    assert str(cli[c.EVENT_TIME].iloc[-1]).startswith("2025-01-07 09:00")  # Paris time


def test_refusals_that_name_an_option_without_its_value_carry_it(
    home: Path, tmp_path: Path
) -> None:
    """Review 143: refresh still matched option names in a refusal's text when it carried no
    options (a missing column's --map, a purchase log's --event-type). They carry them now,
    and refresh reads ContractError.options alone."""
    from features.validation import ContractError

    _ingest(CliRunner(), str(_write(tmp_path, "first.csv", FIRST)))
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    purchases = _write(tmp_path, "log.csv", "user_id,event_time,amount\nu4,2025-01-09 10:00,3\n")
    with pytest.raises(ContractError) as refused:
        refresh_ingest(settings, [purchases], None, None)
    assert refused.value.options == ("--event-type purchase",)
    assert f"`lifecycle ingest {purchases} --dataset shop --append --event-type purchase`" in str(
        refused.value
    )
    renamed = _write(tmp_path, "uid.csv", "uid,event_time,event_type,amount\n")
    with pytest.raises(ContractError) as refused:
        refresh_ingest(settings, [renamed], None, None)
    assert refused.value.options == ("--map CONTRACT=SOURCE",)


def test_a_users_file_lacking_a_recorded_optional_map_appends_as_events_do(
    home: Path, tmp_path: Path
) -> None:
    """A later customers export without the column its recorded `--users-map
    signup_time='Created at'` names was refused (missing column), where an events file
    lacking a recorded optional map loads. It loads now: the users it sends get no sign-up
    time, the users already held keep theirs, and the summary names the column."""
    runner = CliRunner()
    august = _write(tmp_path, "aug.csv", SHOP_EXPORT + "#1,a@x.com,2011-08-30 10:00,10\n")
    customers = _write(
        tmp_path, "customers.csv", "customer id,Created at\na@x.com,2011-08-01 09:00\n"
    )
    users_maps = ("--users-map", "user_id=customer id", "--users-map", "signup_time=Created at")
    _ingest(runner, str(august), *SHOP_MAPS, "--users", str(customers), *users_maps)
    september = _write(tmp_path, "sep.csv", SHOP_EXPORT + "#2,b@x.com,2011-09-02 10:00,7\n")
    later = _write(tmp_path, "later.csv", "customer id,Country\nb@x.com,UK\n")
    args = ["ingest", str(september), "--dataset", "shop", "--append", "--users", str(later)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    users = pd.read_parquet(home / "datasets" / "shop" / "users.parquet").set_index(c.USER_ID)
    assert str(users.loc["a@x.com", c.SIGNUP_TIME].date()) == "2011-08-01"
    assert pd.isna(users.loc["b@x.com", c.SIGNUP_TIME])
    assert users.loc["b@x.com", "Country"] == "UK"
    assert (
        "the users file lacks the column of the recorded --users-map signup_time='Created at': "
        "the users it adds have none, those held keep theirs"
    ) in result.stdout, result.stdout
    # a map given on the command line that names no column is still refused
    args += ["--users-map", "signup_time=Joined"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "missing column 'Joined'" in result.stderr, result.output


def test_an_online_retail_month_imported_onto_a_dataset_ingested_in_utc_is_refused(
    home: Path, tmp_path: Path, shared_data: Path
) -> None:
    """Session 41 L: `ingest` reads times without an offset in UTC (its default), `import
    online-retail` reads InvoiceDate in Europe/London: in July an hour apart. An import
    --append onto a dataset ingested in UTC mixed the two silently; it is refused naming
    both zones and the ways out, the dataset kept (real online_retail, July 2011)."""
    from click.testing import CliRunner

    from features.adapters import ONLINE_RETAIL_FILE

    lines = pd.read_csv(shared_data / ONLINE_RETAIL_FILE, dtype=str)
    july = lines[lines["InvoiceDate"].str.startswith("2011-07-0")]
    first, later = (
        july[july["InvoiceDate"] < "2011-07-04"],
        july[july["InvoiceDate"] >= "2011-07-04"],
    )
    total = (first["Quantity"].astype(float) * first["UnitPrice"].astype(float)).round(2)
    named = {"StockCode": "stock_code", "Description": "description", "Quantity": "quantity"}
    named |= {"UnitPrice": "unit_price", "Country": "country"}  # as an import holds them
    ingested, imported = tmp_path / "july_1_3.csv", tmp_path / "july_4_9.csv"
    first = first.assign(Total=total, currency="GBP")  # the columns an import holds
    first.rename(columns=named).to_csv(ingested, index=False)
    later.to_csv(imported, index=False)
    runner, env = CliRunner(), {"LIFECYCLE_INGEST__MAX_BAD_FRACTION": "0.9"}
    args = ["--home", str(home), "ingest", str(ingested), "--dataset", "shop"]
    args += ["--event-type", "purchase", "--negative-is-refund", "--map", "amount=Total"]
    args += ["--map", "user_id=CustomerID", "--map", "event_time=InvoiceDate"]
    done = runner.invoke(main, [*args, "--map", "order_id=InvoiceNo"], env=env)
    assert done.exit_code == 0, done.output
    events = home / "datasets" / "shop" / "events.parquet"
    held = pd.read_parquet(events)
    row = first.iloc[0]  # 2011-07-01 08:16 read as UTC (07:16 UTC in London's summer time)
    assert pd.Timestamp(row["InvoiceDate"], tz="UTC") in set(held["event_time"])
    append = ["--home", str(home), "import", "online-retail", str(imported), "--dataset", "shop"]
    done = runner.invoke(main, [*append, "--append"], env=env)
    assert done.exit_code == 1, done.output
    assert done.output.strip().splitlines()[-1] == (
        f"Error: {imported}: import online-retail reads InvoiceDate in Europe/London, but "
        "dataset 'shop' reads times without an offset in UTC (its last ingest): appended, its "
        "rows would be hours away from the dataset's; append it with `lifecycle ingest "
        f"{imported} --dataset shop --append` (read in UTC), or ingest the whole history "
        "again with --timezone Europe/London --replace"
    )
    assert pd.read_parquet(events).equals(held)


def test_an_append_with_other_spellings_of_the_datasets_columns_lands_in_them(
    home: Path, tmp_path: Path
) -> None:
    """Session 41: an append matched the dataset's columns by exact name, so the shop's own
    export (StockCode, Unit Price...) appended onto the dataset `import online-retail` made
    (stock_code, unit_price) was refused as adding other columns, where guest rows already
    match them by snake-case name. An append reads a column as the dataset's of the same
    snake-case name (c.snake_case), said in the summary; one two columns share is refused."""
    import duckdb

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    line = "536365,85123A,MUG,2,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    imported = _write(tmp_path, "december.csv", header + line)
    args = ["--json", "--quiet", "import", "online-retail", str(imported), "--dataset", "shop"]
    assert CliRunner().invoke(main, args).exit_code == 0
    stored = home / "datasets" / "shop" / "events.parquet"
    columns = list(pd.read_parquet(stored).columns)
    assert {"stock_code", "unit_price", "country"} <= set(columns)
    later = (
        "InvoiceNo,STOCK_CODE,Description,Quantity,InvoiceDate,Unit Price,CustomerID,Country,Total\n"
        "536900,22111,BOTTLE,3,2010-12-20 10:00:00,4.25,17851,Germany,12.75\n"
    )
    args = ["--json", "--quiet", "ingest", str(_write(tmp_path, "later.csv", later))]
    args += ["--dataset", "shop", "--append", "--event-type", "purchase"]
    for pair in ("user_id=CustomerID", "event_time=InvoiceDate", "order_id=InvoiceNo"):
        args += ["--map", pair]
    done = CliRunner().invoke(main, [*args, "--map", "amount=Total"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["tables"]["events"]["notes"]["columns_read_as"] == {
        "STOCK_CODE": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "Unit Price": "unit_price",
        "Country": "country",
    }
    assert list(pd.read_parquet(stored).columns) == columns  # no column added
    added = duckdb.sql(
        f"SELECT stock_code, description, quantity, unit_price, country FROM '{stored}' "
        "WHERE order_id = '536900'"
    ).fetchall()
    assert added == [("22111", "BOTTLE", 3.0, 4.25, "Germany")]
    # two columns of one snake-case name: which is the dataset's is not known, refused
    twice = later.replace("Description", "stock code")
    done = CliRunner().invoke(main, [*args[:3], str(_write(tmp_path, "twice.csv", twice)),
                                     *args[4:], "--map", "amount=Total"])  # fmt: skip
    assert done.exit_code == 1 and "adds STOCK_CODE, stock code" in done.output, done.output


def test_the_shops_export_appended_to_its_import_books_cancellations_as_refunds(
    home: Path, tmp_path: Path
) -> None:
    """Session 45: `import online-retail` books a cancellation (invoice C..., Quantity -1) as
    a refund, but recorded nothing of it, so `ingest --append` of the shop's next export
    (--map amount=Total, -4.25 on that line) quarantined its customers' cancellations as
    negative_amount and netted its guests' into their purchases (real January 2011: 680
    rows, refunds 18,049.87 where a whole-file import holds 112,419.28). The import records
    negative amounts as refunds; the append reads its file so, as one import of both months."""
    import duckdb

    from features.guest_orders import dataset_guest_orders

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    december = [
        "536365,85123A,MUG,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "C536379,85123A,MUG,-2,2010-12-01 09:41:00,2.55,17850,United Kingdom",
        "536380,22111,BOTTLE,4,2010-12-02 10:00:00,4.25,,United Kingdom",
    ]
    january = [
        "539000,22111,BOTTLE,3,2011-01-05 10:00:00,4.25,17851,Germany",
        "C539001,22111,BOTTLE,-1,2011-01-06 10:00:00,4.25,17851,Germany",
        "539002,22112,CUP,5,2011-01-06 11:00:00,1.5,,United Kingdom",
        "C539003,22112,CUP,-2,2011-01-06 12:00:00,1.5,,United Kingdom",
        "539004,22113,JAR,2,2011-01-07 10:00:00,3.0,17852,France",
        "539005,22114,LAMP,1,2011-01-07 11:00:00,10.0,17853,France",
    ]
    lines = [header, *december]
    imported = _write(tmp_path, "december.csv", "\n".join(lines) + "\n")
    whole = _write(tmp_path, "both.csv", "\n".join([*lines, *january]) + "\n")
    totals = [
        f"{line},{float(line.split(',')[3]) * float(line.split(',')[5]):.2f}" for line in january
    ]
    export = _write(tmp_path, "january.csv", "\n".join([header + ",Total", *totals]) + "\n")
    runner = CliRunner()

    def by_type(dataset: str) -> list[tuple[Any, ...]]:
        stored = home / "datasets" / dataset / "events.parquet"
        return duckdb.sql(
            f"SELECT event_type, count(*), round(sum(amount), 2) FROM '{stored}' "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()

    args = ["--quiet", "import", "online-retail", str(whole), "--dataset", "whole"]
    assert runner.invoke(main, args).exit_code == 0
    args = ["--quiet", "import", "online-retail", str(imported), "--dataset", "shop"]
    assert runner.invoke(main, args).exit_code == 0
    args = ["--json", "--quiet", "ingest", str(export), "--dataset", "shop", "--append"]
    args += ["--event-type", "purchase", "--map", "amount=Total"]
    for pair in ("user_id=CustomerID", "event_time=InvoiceDate", "order_id=InvoiceNo"):
        args += ["--map", pair]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)["tables"]["events"]
    assert "negative_amount" not in report["reasons"]
    assert report["notes"]["negative_amounts_as_refunds"] == 1
    assert by_type("shop") == by_type("whole") == [("purchase", 4, 44.05), ("refund", 2, 9.35)]
    guests = ("purchases", "refunds", "orders")
    said = dataset_guest_orders(home / "datasets" / "whole")
    assert {k: dataset_guest_orders(home / "datasets" / "shop")[k] for k in guests} == {
        k: said[k] for k in guests
    }
    assert said["refunds"] == 3.0


def test_an_append_after_a_skipped_export_names_the_silence_it_opens(
    home: Path, tmp_path: Path
) -> None:
    """November appended after September with October's export missing was taken in silence
    (session 49, online_retail by month): a month without one event, every customer silent
    in it, and the models trained on that. The summary now names the hole; an append that
    continues the days (or brings late ones) says nothing of it."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "first.csv", FIRST)))
    following = _ingest(runner, str(_write(tmp_path, "second.csv", SECOND)), "--append")
    assert "silence_before_file" not in following["tables"]["events"]["notes"]
    later = HEADER + "u3,2025-01-22 10:00:00,purchase,7\nu1,2025-01-23 10:00:00,purchase,4\n"
    data = _ingest(runner, str(_write(tmp_path, "later.csv", later)), "--append")
    silence = data["tables"]["events"]["notes"]["silence_before_file"]
    # the dataset's last event 2025-01-07 10:00, the file's first 2025-01-22 10:00; its
    # longest silence before, 2025-01-02 10:00 to 2025-01-04 09:00, is 1 whole day
    assert silence == {"days": 15, "from": "2025-01-07", "to": "2025-01-22", "longest_before": 1}
    again = HEADER + "u2,2025-02-10 10:00:00,purchase,3\n"
    said = runner.invoke(
        main, ["ingest", str(_write(tmp_path, "again.csv", again)), "--dataset", "shop", "--append"]
    )
    assert said.exit_code == 0, said.output
    assert (
        "no event from 2025-01-23 to 2025-02-10 (18 days), longer than any silence the dataset "
        "had before (15 days)" in said.output
    )


def test_an_export_saved_twice_into_one_file_is_told_so_not_offered_keep_repeats(
    home: Path, tmp_path: Path
) -> None:
    """A month's export written twice into one file (every row in it twice) was refused as
    mostly repeats with `--keep-repeats loads every copy`, which would count each of its
    orders twice (online_retail's November twice: 66,964 duplicate_row of 169,422 rows). The
    refusal now says each of its distinct rows is there twice and how to load them once, by
    ingest, append and refresh alike, and offers refresh no --keep-repeats."""
    runner = CliRunner()
    _ingest(runner, str(_write(tmp_path, "month.csv", FIRST)))
    rows = "".join(f"u{i},2025-02-{1 + i % 28:02d} 10:00:00,purchase,{10 + i}\n" for i in range(25))
    twice = tmp_path / "february.csv"
    said = (
        "Most are exact repeats, and each of the file's 25 distinct rows is in it at least "
        "twice: the same export saved twice into one file? Ingest the export once; a larger "
        "ingest.max_bad_fraction (LIFECYCLE_INGEST__MAX_BAD_FRACTION=0.9) loads each row of "
        "this file once, the copies quarantined as duplicate_row"
    )
    # more than half bad (exactly half loads): the copies and a row without a user id
    twice.write_text(HEADER + rows + rows + ",2025-02-27 10:00:00,purchase,3\n")
    for command in (
        ["ingest", str(twice), "--dataset", "new"],
        ["ingest", str(twice), "--dataset", "shop", "--append"],
        ["refresh", str(twice), "--dataset", "shop"],
    ):
        done = runner.invoke(main, command)
        assert done.exit_code == 1, done.output
        assert said in " ".join(done.stderr.split()), done.output
        assert "--keep-repeats" not in done.stderr, done.output
    assert len(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")) == 3
    loaded = runner.invoke(
        main,
        ["ingest", str(twice), "--dataset", "shop", "--append"],
        env={"LIFECYCLE_INGEST__MAX_BAD_FRACTION": "0.9"},
    )
    assert loaded.exit_code == 0, loaded.output
    assert len(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")) == 28
