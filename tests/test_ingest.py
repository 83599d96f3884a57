"""Ingest into the workspace: dataset folders, quarantine files, atomic replacement, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from experiment_runs import run_experiment

from features import contract as c
from features import ingest, reading
from features.validation import ContractError
from lifecycle.cli import main

EVENTS = (
    "CustomerID,When,Total\n"
    "17850,2010-12-01 08:26:00,15.30\n"
    ",2010-12-01 09:00:00,3.00\n"
    "13047,2010-12-01 10:00:00,-2.50\n"
    "13047,2010-12-02 10:00:00,20.00\n"
)
HEADER_3 = "user_id,event_time,event_type\n"
MAPS = ["--map", "user_id=CustomerID", "--map", "event_time=When", "--map", "amount=Total"]


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    path.write_text(EVENTS)
    return path


def test_ingest_writes_dataset_quarantine_and_report(tmp_path: Path, events_csv: Path) -> None:
    mapping = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=When", "amount=Total"], default_event_type=c.PURCHASE
    )
    summary = ingest.ingest_events(
        events_csv, tmp_path / "datasets" / "shop", mapping=mapping, max_bad_fraction=0.6
    )
    folder = tmp_path / "datasets" / "shop"
    events = pd.read_parquet(folder / "events.parquet")
    assert events[c.USER_ID].tolist() == ["17850", "13047"]
    quarantine = pd.read_csv(folder / "quarantine" / "events.csv", dtype=str)
    assert quarantine[c.REASON].tolist() == ["missing_user_id", "negative_amount"]
    assert quarantine[c.SOURCE_ROW].tolist() == ["2", "3"]
    report = json.loads((folder / "report.json").read_text())
    assert report["tables"]["events"]["rows_quarantined"] == 2
    assert summary.tables["events"]["rows_loaded"] == 2
    assert "2 quarantined" in summary.lines()[1]


def test_failure_mid_write_keeps_the_previous_dataset(
    tmp_path: Path, events_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "datasets" / "shop"
    mapping = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=When", "amount=Total"], default_event_type="purchase"
    )
    ingest.ingest_events(events_csv, folder, mapping=mapping, max_bad_fraction=0.6)
    before = pd.read_parquet(folder / "events.parquet")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)  # dies after events.parquet is written
    with pytest.raises(OSError, match="disk full"):
        ingest.ingest_events(events_csv, folder, mapping=mapping, max_bad_fraction=0.6)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "events.parquet"), before)
    assert json.loads((folder / "report.json").read_text())["tables"]["events"]["rows_loaded"] == 2
    leftovers = [
        p for p in (folder.parent / ".versions").iterdir() if p.resolve() != folder.resolve()
    ]
    assert leftovers == []  # the half-written version was removed


def test_cli_ingest_human_and_json(home: Path, events_csv: Path) -> None:
    runner = CliRunner()
    args = [
        "ingest",
        str(events_csv),
        "--dataset",
        "shop",
        "--event-type",
        "purchase",
        "--negative-is-refund",
        *MAPS,
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "dataset 'shop'" in result.stdout and "1 missing_user_id" in result.stdout
    assert "negative purchase amounts booked as refunds: 1" in result.stdout
    result = runner.invoke(main, ["--json", "--quiet", *args])
    data = json.loads(result.stdout)
    assert data["tables"]["events"]["rows_loaded"] == 3  # the negative amount became a refund
    assert data["tables"]["events"]["notes"]["negative_amounts_as_refunds"] == 1
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events[c.EVENT_TYPE].tolist() == ["purchase", "refund", "purchase"]


def test_cli_errors_are_one_clear_line(home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1
    assert "missing.csv: file not found" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["--json", "ingest", str(tmp_path / "missing.csv")])
    assert json.loads(result.stdout)["error"].endswith("missing.csv: file not found")
    result = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv"), "--map", "user_id"])
    assert result.exit_code == 2 and "CONTRACT_COLUMN=SOURCE_COLUMN" in result.output


def test_quarantined_comma_amounts_name_the_option_that_reads_them(
    home: Path, tmp_path: Path
) -> None:
    """A '1,5' among plain amounts was quarantined as ambiguous_amount with no word of
    --decimal-comma (the refusal of a file of them names it)."""
    path = tmp_path / "shop.csv"
    path.write_text(
        'user_id,event_time,event_type,amount\nu1,2024-01-01,purchase,"1,5"\n'
        "u2,2024-01-02,purchase,3\nu3,2024-01-02,purchase,4\n"
    )
    result = CliRunner().invoke(main, ["--quiet", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    held = Path(result.stdout.splitlines()[0].split(" at ", 1)[1]) / "quarantine"
    assert result.stdout.splitlines()[-5:] == [
        f"  events: 2 rows loaded of 3, 1 quarantined (1 ambiguous_amount, in {held})",
        "    times without a zone ('event_time') read as UTC (--timezone ZONE reads them in "
        "another)",
        "    amounts in 'amount' have no currency (2 purchase and refund rows: no sign or code "
        "written on them, no currency column): lists, the report and the API show them as bare "
        "numbers ('no currency recorded'); to record it, ingest the file again with --replace "
        "--currency CODE (an ISO 4217 code, e.g. --currency GBP), or --map currency=COLUMN for "
        "a column of codes",
        "    1 ambiguous_amount rows (12,5 or 1,234: a decimal comma or a thousands separator): "
        "if the file writes decimals with a comma, --decimal-comma reads them",
        "    1 user with no row loaded (e.g. 'u1'): every row of theirs is in the quarantine "
        "file, so they are not in the dataset",
    ]


def test_users_whose_every_row_is_quarantined_are_counted_and_named(
    home: Path, tmp_path: Path
) -> None:
    """online_retail's customer 13256 has one invoice line, at price 0: quarantined then, and the
    customer was gone from the dataset with no word of it. A user of the dataset an append
    adds to is not gone; an id that is itself the fault names no user."""
    path = tmp_path / "shop.csv"
    path.write_text(
        "user_id,event_time,event_type,amount\nu1,2024-01-01,purchase,5\n"
        "u2,2024-01-02,purchase,abc\nu2,2024-01-03,purchase,-3\n,2024-01-04,purchase,4\n"
        "u3,2024-01-05,purchase,7\nu4,2024-13-45,purchase,1\nu5,2024-01-06,purchase,2\n"
        'u5,2024-01-07,purchase,x\n"u6\x00",2024-01-08,purchase,1\nu7,2024-01-09,purchase,3\n'
        + "".join(f"u1{k},2024-01-1{k},purchase,3\n" for k in range(4))
    )
    result = CliRunner().invoke(main, ["--quiet", "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "    2 users with no row loaded (e.g. 'u2'): every row of theirs is in the quarantine "
        "file, so they are not in the dataset"
    )
    report = json.loads((home / "datasets" / "shop" / "report.json").read_text())
    assert report["tables"]["events"]["notes"]["users_only_quarantined"] == {
        "users": 2,  # u2 and u4; not u5 (a row loaded), nor the row without an id or a bad one
        "example": "u2",
    }
    more = tmp_path / "more.csv"
    more.write_text(
        "user_id,event_time,event_type,amount\nu1,2024-02-01,purchase,-1\n"
        "u8,2024-02-02,purchase,-2\nu9,2024-02-03,purchase,1\nu3,2024-02-04,purchase,2\n"
    )
    args = ["--json", "--quiet", "ingest", str(more), "--dataset", "shop", "--append"]
    appended = json.loads(CliRunner().invoke(main, args).stdout)
    assert appended["tables"]["events"]["notes"]["users_only_quarantined"] == {
        "users": 1,  # u8; u1 is in the dataset
        "example": "u8",
    }


def test_a_symlink_loop_or_a_broken_link_is_named_as_such(home: Path, tmp_path: Path) -> None:
    """A symlink loop as the events, users, list or settings file was 'file not found'."""
    loop, other, broken = tmp_path / "loop.csv", tmp_path / "other.csv", tmp_path / "gone.csv"
    loop.symlink_to(other)
    other.symlink_to(loop)
    broken.symlink_to(tmp_path / "nowhere.csv")
    looped = "a symlink loop (following its links leads back to them), not a file"
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time\nu1,2025-01-01\n")
    runner = CliRunner()
    for args in (
        ["ingest", str(loop)],
        ["ingest", str(events), "--users", str(loop)],
        ["import", "online-retail", str(loop)],
    ):
        result = runner.invoke(main, ["--quiet", *args])
        assert result.exit_code == 1 and "Traceback" not in result.output, args
        assert result.stderr.strip() == f"Error: {loop}: {looped}", args
    result = runner.invoke(main, ["--config", str(loop), "settings"])
    assert result.stderr.strip() == f"Error: settings file {loop}: {looped}"
    result = runner.invoke(main, ["--quiet", "ingest", str(broken)])
    assert result.stderr.strip() == (
        f"Error: {broken}: a broken symlink: it points to {tmp_path / 'nowhere.csv'}, which "
        "does not exist"
    )


def test_a_file_without_the_id_columns_names_the_column_and_the_map(
    home: Path, tmp_path: Path
) -> None:
    """A file lacking user_id (and order_id) ended in 'cannot be read as csv: Schema at
    index 1 was different:' and a dump of both schemas: the read of the id columns alone
    found none of them. The missing column is named, with the --map that takes a column
    of that name but for case and separators (quoted for the shell)."""
    path = tmp_path / "spaced.csv"
    path.write_text("User ID,Event-Time,event_type\nu1,2024-01-01,session\n")
    result = CliRunner().invoke(main, ["ingest", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error == (
        f"Error: {path}: missing column 'user_id', 'event_time'; the file has: User ID, "
        "Event-Time, event_type. Map them with --map 'user_id=User ID' --map event_time=Event-Time"
    )
    mapped = ["--map", "user_id=User ID", "--map", "event_time=Event-Time"]
    assert CliRunner().invoke(main, ["ingest", str(path), *mapped]).exit_code == 0


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in main.commands:
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, name


def test_datasets_lists_ingested(home: Path, events_csv: Path) -> None:
    runner = CliRunner()
    assert "no datasets" in runner.invoke(main, ["datasets"]).stdout
    runner.invoke(
        main,
        [
            "ingest",
            str(events_csv),
            "--dataset",
            "shop",
            "--event-type",
            "purchase",
            "--allow-negative",
            *MAPS,
        ],
    )
    data = json.loads(runner.invoke(main, ["--json", "datasets"]).stdout)
    assert [d["name"] for d in data["datasets"]] == ["shop"]


# -- chunked ingest: the same dataset and quarantine whatever the chunk size ------------


def _events_file(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """60 event rows with bad rows early and late, and repeats whose first copy is in an
    earlier chunk; returns the file and the expected quarantine (source row -> reason)."""
    lines = ["user_id,event_time,event_type,amount,page"]
    expected: dict[int, str] = {}
    for row in range(1, 61):
        user = f"u{row % 9}"
        day = f"2024-0{1 + row % 6}-{10 + row % 17:02d} 0{row % 10}:00:00"
        kind = "purchase" if row % 3 == 0 else "session"
        amount = f"{row}.5" if kind == "purchase" else ""
        lines.append(f"{user},{day},{kind},{amount},/p{row % 4}")
    bad = {
        2: (",2024-01-01,session,,/x", "missing_user_id"),
        11: ("u1,someday,session,,/x", "unparseable_event_time"),
        23: ("u2,2024-02-02,purchase,-4,/x", "negative_amount"),
        37: ("u3,2024-03-03,refund,,/x", "missing_amount"),
        52: ("u4,2024-04-04,purchase,abc,/x", "invalid_amount"),
        59: ("u5,2999-01-01,session,,/x", "event_time_out_of_range"),
    }
    for row, (text, reason) in bad.items():
        lines[row] = text
        expected[row] = reason
    for row, copy_of in ((9, 3), (44, 6), (60, 12)):  # exact repeats of earlier good rows
        lines[row] = lines[copy_of]
        expected[row] = "duplicate_row"
    lines[45] = "U" + lines[15][1:]  # not a repeat: user ids are case-sensitive
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def _users_file(tmp_path: Path) -> Path:
    rows = ["id,signup_time,channel"] + [
        f"u{i % 9},2023-0{1 + i % 9}-01,{'email' if i % 2 else 'ads'}" for i in range(1, 13)
    ]
    rows[4] = "u7,not a date,ads"  # row 4: bad sign-up; u7's next row (7) is its first good one
    path = tmp_path / "users.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _ingest(events: Path, users: Path, folder: Path, chunk_rows: int) -> ingest.DatasetSummary:
    return ingest.ingest_events(
        events,
        folder,
        users_path=users,
        users_mapping=c.ColumnMapping(columns={c.USER_ID: "id"}),
        chunk_rows=chunk_rows,
    )


@pytest.mark.parametrize("chunk_rows", [1, 7, 16])
def test_chunked_ingest_equals_one_chunk(tmp_path: Path, chunk_rows: int) -> None:
    events, expected = _events_file(tmp_path)
    users = _users_file(tmp_path)
    whole = _ingest(events, users, tmp_path / "datasets" / "whole", chunk_rows=1_000_000)
    chunked = _ingest(events, users, tmp_path / "datasets" / "chunked", chunk_rows=chunk_rows)
    one, many = whole.path, chunked.path
    for table in ("events", "users"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(many / f"{table}.parquet"), pd.read_parquet(one / f"{table}.parquet")
        )
        assert (many / "quarantine" / f"{table}.csv").read_bytes() == (
            one / "quarantine" / f"{table}.csv"
        ).read_bytes()
    assert chunked.tables == whole.tables
    # True source rows, also for bad rows and repeats in later chunks.
    quarantine = pd.read_csv(many / "quarantine" / "events.csv", dtype=str, keep_default_na=False)
    assert dict(zip(quarantine[c.SOURCE_ROW].astype(int), quarantine[c.REASON], strict=True)) == (
        expected
    )
    assert quarantine.set_index(c.SOURCE_ROW).at["52", c.AMOUNT] == "abc"  # raw value kept
    assert quarantine.set_index(c.SOURCE_ROW).at["44", "page"] == "/p2"  # a repeat's raw row
    report = chunked.tables["events"]
    assert report["rows_read"] == 60 and report["rows_quarantined"] == len(expected)
    assert (
        report["rows_loaded"] == 60 - len(expected) == len(pd.read_parquet(many / "events.parquet"))
    )
    assert report["reasons"]["duplicate_row"] == 3
    loaded = pd.read_parquet(many / "events.parquet")
    assert loaded[c.EVENT_TIME].is_monotonic_increasing
    assert str(loaded[c.EVENT_TIME].dtype) == "datetime64[us, UTC]"
    users_q = pd.read_csv(many / "quarantine" / "users.csv", dtype=str)
    assert dict(zip(users_q[c.SOURCE_ROW], users_q[c.REASON], strict=True)) == {
        "4": "unparseable_signup_time",
        **{str(r): "duplicate_user_id" for r in (10, 11, 12)},
    }
    assert chunked.tables["users"]["rows_loaded"] == 8
    assert report["notes"]["users_without_profile"] == 2  # u4 (its row is bad) and U6


def test_chunked_parquet_ingest_equals_one_chunk(tmp_path: Path) -> None:
    csv_path, expected = _events_file(tmp_path)
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    visits = [None if i == 49 else i for i in range(len(raw))]  # its only null: row 50
    for row, copy_of in ((9, 3), (44, 6), (60, 12)):  # the repeats stay exact repeats
        visits[row - 1] = visits[copy_of - 1]
    raw["visits"] = pd.array(visits, dtype="Int64")
    path = tmp_path / "events.parquet"
    raw.to_parquet(path, row_group_size=8)  # visits has its only null in a late row group
    whole = ingest.ingest_events(path, tmp_path / "one", chunk_rows=1_000_000)
    chunked = ingest.ingest_events(path, tmp_path / "many", chunk_rows=5)
    pd.testing.assert_frame_equal(
        pd.read_parquet(chunked.path / "events.parquet"),
        pd.read_parquet(whole.path / "events.parquet"),
    )
    one = pd.read_csv(whole.path / "quarantine" / "events.csv", dtype=str)
    many = pd.read_csv(chunked.path / "quarantine" / "events.csv", dtype=str)
    pd.testing.assert_frame_equal(many, one)
    assert dict(zip(many[c.SOURCE_ROW].astype(int), many[c.REASON], strict=True)) == expected
    # an integer column with a null stays integer (nullable), in every chunk
    assert str(pd.read_parquet(chunked.path / "events.parquet")["visits"].dtype) == "Int64"


def test_chunked_errors_name_the_file_row_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("user_id,event_time,event_type\n")
    # every column of the header, though the id columns are read first on their own
    with pytest.raises(
        ContractError,
        match=r"header\.csv: no data rows \(columns: user_id, event_time, event_type\)$",
    ):
        ingest.ingest_events(header_only, tmp_path / "d", chunk_rows=2)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("customer,event_time,event_type\n" + "u1,2024-01-01,session\n" * 9)
    with pytest.raises(ContractError, match=r"wrong\.csv: missing column 'user_id'.*customer"):
        ingest.ingest_events(wrong, tmp_path / "d", chunk_rows=2)
    # Every row out of line with the header (each line ends with a separator): the file is
    # refused, naming what makes rows so; a long run of them is refused as it is read.
    trailing = tmp_path / "trailing.csv"
    trailing.write_text(HEADER_3 + "".join(f"u{i},2024-01-01,session,\n" for i in range(6)))
    with pytest.raises(
        ContractError, match=r"6 of 6 rows.*6 extra_fields.*the rows both end with one"
    ):
        ingest.ingest_events(trailing, tmp_path / "d", chunk_rows=2)
    monkeypatch.setattr(reading, "RAGGED_RUN_LIMIT", 4)
    with pytest.raises(ContractError, match=r"trailing\.csv: 4 rows in a row from data row 1 "):
        ingest.ingest_events(trailing, tmp_path / "d", chunk_rows=2)
    # A column is judged over the whole file: 2 of 3 chunks all bad is still the wrong column,
    # and the example is the first bad value, in a later chunk, with its row.
    amounts = tmp_path / "amounts.csv"
    amounts.write_text(
        "user_id,event_time,event_type,amount\n"
        + "u1,2024-01-01,purchase,3\n" * 3
        + "u2,2024-01-02,purchase,lots\n" * 4
    )
    with pytest.raises(ContractError, match=r"4 of 7 filled values.*row 4 has amount='lots'"):
        ingest.ingest_events(amounts, tmp_path / "d", chunk_rows=3)
    # Too many bad rows: counted over every chunk, the first bad row named with its true row.
    late = tmp_path / "late.csv"
    late.write_text(
        HEADER_3
        + "".join(f"u{i},2024-01-01,session\n" for i in range(4))
        + "".join(f",2024-01-0{i + 1},session\n" for i in range(5))
    )
    with pytest.raises(ContractError, match=r"5 of 9 rows are bad.*first bad row 5: missing_user"):
        ingest.ingest_events(late, tmp_path / "d", chunk_rows=2)
    assert not (tmp_path / "d").exists()  # nothing half-written became a dataset


RAGGED = (
    "user_id,event_time,event_type,amount,note\n"
    'u1,2024-01-01 10:00,purchase,10,"two\nlines, quoted"\n'
    "u2,2024-01-02 10:00,purchase,20,hello, world\n"  # row 2: an unquoted comma
    "u3,2024-01-03 10:00,purchase,30,ok\n"
    "u4,2024-01-04 10:00,purchase\n"  # row 4: cut short
    ",2024-01-05 10:00,purchase,50,no user\n"  # row 5: after them, its own row number
    "u6,2024-01-06 10:00,purchase,60,a,b,c\n"  # row 6: the last line, ragged too
)


@pytest.mark.parametrize(("name", "chunk_rows"), [("r.csv", 1), ("r.csv", 3), ("r.csv.gz", 2)])
def test_ragged_rows_are_quarantined_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, chunk_rows: int
) -> None:
    """A row with more or fewer fields than the header is quarantined (extra_fields,
    missing_fields) with its source row, the rest loads, and the rows after it keep theirs,
    whatever the chunks, the reader's blocks (a quoted line break across one), or gzip."""
    import gzip

    path = tmp_path / name
    path.write_bytes(gzip.compress(RAGGED.encode()) if name.endswith(".gz") else RAGGED.encode())
    options = {"max_bad_fraction": 0.9}
    whole = ingest.ingest_events(path, tmp_path / "whole", chunk_rows=1000, **options)
    monkeypatch.setattr(reading, "CSV_BLOCK_BYTES", 48)  # a few rows per block
    chunked = ingest.ingest_events(path, tmp_path / "chunked", chunk_rows=chunk_rows, **options)
    for summary in (whole, chunked):
        report = summary.tables["events"]
        assert report["rows_read"] == 6 and report["rows_loaded"] == 2
        assert report["reasons"] == {"extra_fields": 2, "missing_fields": 1, "missing_user_id": 1}
        held = pd.read_csv(
            summary.path / "quarantine" / "events.csv", dtype=str, keep_default_na=False
        )
        assert held[[c.SOURCE_ROW, c.REASON, "note"]].values.tolist() == [
            ["2", "extra_fields", "hello, world"],  # the row's cells as the file has them
            ["4", "missing_fields", ""],
            ["5", "missing_user_id", "no user"],
            ["6", "extra_fields", "a,b,c"],
        ]
        events = pd.read_parquet(summary.path / "events.parquet")
        assert events[c.USER_ID].tolist() == ["u1", "u3"]
        assert events["note"].tolist() == ["two\nlines, quoted", "ok"]
    assert chunked.tables == whole.tables


def test_a_header_ending_with_a_separator_loads(tmp_path: Path) -> None:
    """Every line ending with a comma (spreadsheet exports) gave the header a blank column
    name, and ingest ended in DuckDB's 'zero-length delimited identifier' traceback; the
    column is named as pandas names it. Empty in every row (over every chunk), it carries
    nothing and is not stored, and the summary says so; with a value it is a column."""
    path = tmp_path / "trailing.csv"
    path.write_text("user_id,event_time,event_type,\nu1,2024-01-01,session,\nu2,2024-01-02,x,\n")
    summary = ingest.ingest_events(path, tmp_path / "d", chunk_rows=1)
    assert summary.tables["events"]["rows_loaded"] == 2
    events = pd.read_parquet(summary.path / "events.parquet")
    assert list(events.columns) == [c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT]
    assert summary.tables["events"]["notes"]["empty_unnamed_columns_ignored"] == ["Unnamed: 3"]
    assert "column 'Unnamed: 3' ignored: no name in the header" in "\n".join(summary.lines())
    path.write_text("user_id,event_time,event_type,\nu1,2024-01-01,session,\nu2,2024-01-02,x,7\n")
    summary = ingest.ingest_events(path, tmp_path / "d", chunk_rows=1)
    events = pd.read_parquet(summary.path / "events.parquet")
    assert events["Unnamed: 3"].tolist() == ["", "7"]
    assert "empty_unnamed_columns_ignored" not in summary.tables["events"]["notes"]


def test_cli_ingest_takes_its_chunk_size_from_settings(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from features.reading import DEFAULT_CHUNK_ROWS
    from features.validation import DEFAULT_MEMORY_LIMIT
    from lifecycle.settings import IngestSettings

    assert IngestSettings().chunk_rows == DEFAULT_CHUNK_ROWS
    assert IngestSettings().memory_limit == DEFAULT_MEMORY_LIMIT
    events, expected = _events_file(tmp_path)
    runner = CliRunner()
    monkeypatch.setenv("LIFECYCLE_INGEST__CHUNK_ROWS", "0")
    refused = runner.invoke(main, ["ingest", str(events)])
    assert refused.exit_code == 1 and "ingest.chunk_rows" in refused.stderr
    monkeypatch.setenv("LIFECYCLE_INGEST__CHUNK_ROWS", "4")
    monkeypatch.setenv("LIFECYCLE_INGEST__MEMORY_LIMIT", "64MB")
    result = runner.invoke(main, ["--json", "--quiet", "ingest", str(events), "--dataset", "small"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["tables"]["events"]
    assert data["rows_quarantined"] == len(expected) and data["rows_read"] == 60
    whole = ingest.ingest_events(events, tmp_path / "whole", chunk_rows=1_000)
    assert data == whole.tables["events"]


@pytest.mark.slow
def test_ingest_benchmark_runs_quick() -> None:
    stdout = run_experiment("bench_ingest_stream.py", "--quick", "--json")
    (result,) = json.loads(stdout)
    assert result["rows"] == 20_000 and result["identical"] is True
    assert 0 < result["quarantined"] < 1_000  # the generated bad rows and repeats
    for variant in ("pandas_read", "stream", "one_chunk"):
        assert result[variant]["rows"] == 20_000 and result[variant]["peak_rss_mb"] > 0


def test_float_ids_are_named_once_and_invalid_amounts_are_explained(
    home: Path, tmp_path: Path
) -> None:
    """The summary said `user_id 'user_id': every id written with .0` (the column twice),
    and counted invalid_amount rows ('41.60 euros') without the line duplicate_row gets: what
    the column should hold, an example, and where the rows are."""
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\n18074.0,2024-01-02 10:00,purchase,41.60 euros\n"
        "18075.0,2024-01-02 11:00,purchase,4.50\n18076.0,2024-01-03 11:00,purchase,3\n"
    )
    result = CliRunner().invoke(main, ["ingest", str(events), "--dataset", "shop"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "    user_id: every id written with .0 (18074.0), read as the integer" in lines
    assert (
        "    1 invalid_amount rows: 'amount' should hold numbers, bare or with one currency sign "
        "or ISO code (£12.50, 12.50 EUR; or the currency in a 'currency' column, e.g. --map "
        "currency=COLUMN), not e.g. '41.60 euros'; the quarantine file gives each row and its "
        "value: fix them and append those rows again"
    ) in lines


def test_a_shop_export_with_signed_totals_and_a_currency_column_is_read_and_said(
    home: Path, tmp_path: Path
) -> None:
    """A shop's order export (trial 114): Total '£1,234.50' was refused on every row, the
    unmapped 'Currency' column (all GBP) was checked for mixed currencies but lists and the
    report said "no currency recorded", a '0,00' total was ambiguous_amount, and times with an
    offset beside times without one loaded without a word."""
    from serving.units import Units, dataset_currencies

    orders = tmp_path / "orders.csv"
    orders.write_text(
        "Name,Email,Created at,Total,Currency\n"
        '#1,a@x.com,2011-06-28 08:39:00 +0100,"£1,234.50",GBP\n'
        "#2,b@x.com,28/06/2011 08:19,£12.00,GBP\n"
        "#3,a@x.com,2011-06-29 10:00:00 +0100,-£31.80,GBP\n"
        '#4,c@x.com,2011-06-30 10:00:00 +0100,"0,00",GBP\n'
    )
    mapped = ["--map", "user_id=Email", "--map", "event_time=Created at", "--map", "amount=Total"]
    args = ["ingest", str(orders), *mapped, "--event-type", "purchase", "--negative-is-refund"]
    result = CliRunner().invoke(main, [*args, "--dataset", "shop"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "  events: 4 rows loaded of 4, 0 quarantined" in lines  # 0,00 too: c@x.com stays
    assert (
        "    amounts in 'Total' written with £: read as numbers, their currency from column "
        "'Currency' (signs agree)"
    ) in lines
    assert (
        "    currency GBP, from column 'Currency' (named so, not mapped): the dataset's currency "
        "in lists, the report and the API"
    ) in lines
    assert (
        "    'Created at' mixes times with an offset or zone (3, e.g. row 1 has Created at="
        "'2011-06-28 08:39:00 +0100') and times without (1, e.g. row 2 has Created at='28/06/2011 "
        "08:19'): those without were read in UTC, so may be hours off the others: if they are a "
        "local clock, --timezone ZONE (e.g. Europe/London) reads them in it"
    ) in lines
    events = home / "datasets" / "shop" / "events.parquet"
    assert Units(dataset_currencies(events)).currency == "GBP"
    # without the column the sign is the currency, recorded with the events
    orders.write_text(
        "\n".join(line.rsplit(",", 1)[0] for line in orders.read_text().splitlines()) + "\n"
    )
    result = CliRunner().invoke(main, [*args, "--dataset", "bare"])
    assert result.exit_code == 0, result.output
    assert "    amounts in 'Total' written with £: read as GBP, the dataset's currency" in (
        result.stdout.splitlines()
    )
    stored = pd.read_parquet(home / "datasets" / "bare" / "events.parquet")
    assert stored[c.CURRENCY].fillna("").tolist() == ["GBP"] * 3 + [""]  # 0: no currency
    assert stored[c.AMOUNT].tolist() == [1234.5, 12.0, 31.8, 0.0]


def test_the_summary_says_the_zone_times_without_one_were_read_in(
    home: Path, tmp_path: Path
) -> None:
    """Session 41: ingest read times without an offset in UTC (or --timezone, or on an append
    the dataset's zone) and its summary never said so: a shop's local clock was read hours
    off without a word. One line says the zone, with the option where the command has it (an
    append: the dataset's zone, another refused); a column whose times carry their zone
    (typed Parquet, UTC) has no such line, and a users file's sign-up times have one unless
    the events' line says the zone they were read in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "shop.csv"
    path.write_text("user_id,event_time,event_type,amount\nu1,2024-01-01 10:00,purchase,5\n")

    def said(*args: str) -> list[str]:
        done = CliRunner().invoke(main, ["--quiet", *args])
        assert done.exit_code == 0, done.output
        return [line for line in done.stdout.splitlines() if "without a zone" in line]

    hint = " (--timezone ZONE reads them in another)"
    assert said("ingest", str(path)) == [
        f"    times without a zone ('event_time') read as UTC{hint}"
    ]
    assert said("ingest", str(path), "--dataset", "paris", "--timezone", "Europe/Paris") == [
        f"    times without a zone ('event_time') read as Europe/Paris{hint}"
    ]
    # an append reads them in the dataset's zone and refuses another: no --timezone offered
    later = tmp_path / "later.csv"
    later.write_text("user_id,event_time,event_type,amount\nu2,2024-01-02 10:00,purchase,7\n")
    assert said("ingest", str(later), "--dataset", "paris", "--append") == [
        "    times without a zone ('event_time') read as Europe/Paris (the dataset's zone)"
    ]
    # a users file's sign-up times: read in the events' zone, said once with the events'
    users = tmp_path / "users.csv"
    users.write_text("user_id,signup_time\nu1,2023-12-01 09:00\n")
    assert said("ingest", str(path), "--dataset", "both", "--users", str(users)) == [
        f"    times without a zone ('event_time') read as UTC{hint}"
    ]
    typed = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["u1"],
                "event_time": pa.array([pd.Timestamp("2024-01-01 10:00", tz="UTC")]),
                "event_type": ["purchase"],
                "amount": [5.0],
            }
        ),
        typed,
    )
    assert said("ingest", str(typed)) == []
    # events whose times carry their zone: the sign-up times' zone is said of them
    assert said("ingest", str(typed), "--dataset", "typed", "--users", str(users)) == [
        f"    times without a zone ('signup_time') read as UTC{hint}"
    ]
    lines = tmp_path / "lines.csv"  # import has no --timezone: the shop's zone, said
    lines.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,MUG,2,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    )
    assert said("import", "online-retail", str(lines)) == [
        "    times without a zone ('InvoiceDate') read as Europe/London"
    ]
