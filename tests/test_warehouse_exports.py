"""Events as a data warehouse exports them (trial E): typed Parquet, a table written as a
folder of Hive partitions by Spark, dbt or a warehouse's unload, its files drifting in schema.
Each is read as one table, equal to the same rows in one file, or refused naming the files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from features.validation import ContractError
from lifecycle.cli import main
from lifecycle.refresh_files import append_files
from lifecycle.settings import load_settings

MAPS = ["user_id=customer_id", "event_time=event_ts", "order_id=invoice_no"]
MAP_TYPES = ["purchase=order", "refund=return"]


def _lines(month: str, ids: list[int | None]) -> pa.Table:
    """Invoice lines of a month as a warehouse types them: INT64 ids with nulls, UTC
    TIMESTAMP(us), DECIMAL(12,2) amounts, dictionary-encoded types."""
    n = len(ids)
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "event_ts": pa.array(
                pd.date_range(f"{month}-02 09:00", periods=n, freq="37min", tz="UTC"),
                pa.timestamp("us", tz="UTC"),
            ),
            "event_type": pa.array(["order"] * (n - 1) + ["return"]).dictionary_encode(),
            "amount": pa.array([Decimal(f"{7 + i}.15") for i in range(n)], pa.decimal128(12, 2)),
            "invoice_no": pa.array([f"{month[-2:]}{i:04d}" for i in range(n)]),
        }
    )


def _ingest(home: Path, path: Path, *more: str, maps: bool = True) -> tuple[int, dict, str]:
    """``ingest PATH --dataset shop``, with the maps (without: those the dataset recorded)."""
    args = ["--home", str(home), "--json", "ingest", str(path), "--dataset", "shop"]
    if maps:
        args += [part for m in MAPS for part in ("--map", m)]
        args += [part for m in MAP_TYPES for part in ("--map-type", m)]
    done = CliRunner().invoke(main, [*args, *more])
    return done.exit_code, json.loads(done.stdout) if done.exit_code == 0 else {}, done.output


def _events(home: Path) -> pd.DataFrame:
    return pd.read_parquet(home / "datasets" / "shop" / "events.parquet")


def test_a_hive_partitioned_folder_is_one_table(tmp_path: Path) -> None:
    """A folder `events/dt=2011-01-01/part-00000.parquet` ... was refused ('is a directory,
    expected a CSV or Parquet file'): the only way was one ingest per partition file. Now the
    folder is one table: its files in partition order, the partition a text column, Spark's
    `_SUCCESS` and hidden files skipped; the same events and quarantine as one file."""
    jan, feb = _lines("2011-01", [12346, None, 12347, 12346]), _lines("2011-02", [12347, 12348])
    folder = tmp_path / "events"
    for month, table in (("2011-02-01", feb), ("2011-01-01", jan)):  # written out of order
        (folder / f"dt={month}").mkdir(parents=True)
        pq.write_table(table, folder / f"dt={month}" / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / "dt=2011-01-01" / ".part-00000.parquet.crc").write_bytes(b"\0crc")
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables([jan, feb]), whole)

    code, from_folder, output = _ingest(tmp_path / "a", folder)
    assert code == 0, output
    code, from_file, output = _ingest(tmp_path / "b", whole)
    assert code == 0, output
    events = _events(tmp_path / "a")
    assert events["dt"].tolist() == ["2011-01-01"] * 3 + ["2011-02-01"] * 2
    pd.testing.assert_frame_equal(events.drop(columns="dt"), _events(tmp_path / "b"))
    assert events["user_id"].tolist() == ["12346", "12347", "12346", "12347", "12348"]
    assert events["amount"].tolist() == [7.15, 9.15, 10.15, 7.15, 8.15]
    assert events["event_type"].tolist() == ["purchase", "purchase", "refund", "purchase", "refund"]
    said, one = from_folder["tables"]["events"], from_file["tables"]["events"]
    assert (said["rows_loaded"], said["rows_quarantined"]) == (5, 1)
    assert (one["rows_loaded"], one["rows_quarantined"]) == (5, 1)
    quarantine = tmp_path / "a" / "datasets" / "shop" / "quarantine" / "events.csv"
    assert pd.read_csv(quarantine)["source_row"].tolist() == [2]  # Jan's second line

    # a later month appended as a folder too: a refresh's FILE may be one
    march = tmp_path / "march"
    (march / "dt=2011-03-01").mkdir(parents=True)
    pq.write_table(_lines("2011-03", [12346, 12349]), march / "dt=2011-03-01" / "p.parquet")
    code, _, output = _ingest(tmp_path / "a", march, "--append")
    assert code == 0, output
    assert _events(tmp_path / "a")["user_id"].tolist()[-2:] == ["12346", "12349"]
    april = tmp_path / "april"
    (april / "dt=2011-04-01").mkdir(parents=True)
    pq.write_table(_lines("2011-04", [12350, 12346]), april / "dt=2011-04-01" / "p.parquet")
    settings = load_settings(home=tmp_path / "a", environ={"LIFECYCLE_DATASET": "shop"})
    step = append_files(settings, [april], None, None)  # refresh's ingest step, as recorded
    assert step["files"][0]["totals"] == {"events": 9}, step  # the dataset's, after
    assert _events(tmp_path / "a")["user_id"].tolist()[-2:] == ["12350", "12346"]


def test_a_folders_files_drifting_in_schema(tmp_path: Path) -> None:
    """A month that adds a nullable column is read with it empty in the months before; ids
    INT32 in one file and INT64 in another are one column of integers; an id column of
    integers in one file and text in another is refused naming both files and the way on."""
    folder = tmp_path / "events"
    folder.mkdir()
    jan = _lines("2011-01", [12346, 12347])
    jan = jan.set_column(0, "customer_id", jan["customer_id"].cast(pa.int32()))
    pq.write_table(jan, folder / "part-0.parquet")
    feb = _lines("2011-02", [12347, 12348])
    pq.write_table(feb.append_column("coupon", pa.array(["XMAS", None])), folder / "part-1.parquet")
    code, _, output = _ingest(tmp_path / "a", folder)
    assert code == 0, output
    events = _events(tmp_path / "a")
    assert events["user_id"].tolist() == ["12346", "12347", "12347", "12348"]
    assert events["coupon"].tolist()[:3] == [None, None, "XMAS"]

    mar = _lines("2011-03", [12349, 12350])
    mar = mar.set_column(0, "customer_id", mar["customer_id"].cast(pa.string()))
    pq.write_table(mar, folder / "part-2.parquet")
    code, _, output = _ingest(tmp_path / "b", folder)
    assert code == 1
    assert output.splitlines()[-1] == (
        f"Error: {folder}: column 'customer_id' is int64 in part-1.parquet and string in "
        "part-2.parquet: one table's files are read under one schema; ingest the files one at "
        "a time (the first, then each with --append)"
    )


def test_a_folder_of_other_files_is_refused_naming_one(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "dt=2011-01-01").mkdir(parents=True)
    pq.write_table(_lines("2011-01", [1, 2]), folder / "dt=2011-01-01" / "part-0.parquet")
    (folder / "dt=2011-01-01" / "part-0.csv").write_text("customer_id\n1\n")
    code, _, output = _ingest(tmp_path / "a", folder)
    assert code == 1
    assert "holds dt=2011-01-01/part-0.csv too" in output, output
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, output = _ingest(tmp_path / "a", empty)
    assert code == 1 and "is a folder without Parquet files" in output, output


def test_a_month_adding_a_nullable_column_appends(tmp_path: Path) -> None:
    """Trial E: November's export adding `coupon_code` was refused ('its events have other
    columns than dataset ... holds'), and the way it offered, replacing the dataset with the
    file, dropped eleven months. A column new to the dataset is added now, empty in the rows
    before; the month re-sent adds nothing. One that may be a contract column under a new
    name (the dataset's order_id missing from the file) is still refused, naming the map."""
    home = tmp_path / "ws"
    october = tmp_path / "october.parquet"
    pq.write_table(_lines("2011-10", [12346, 12347, 12346]), october)
    code, _, output = _ingest(home, october)
    assert code == 0, output
    november = _lines("2011-11", [12347, 12348])
    with_coupon = november.append_column("coupon_code", pa.array([None, "XMAS10"]))
    pq.write_table(with_coupon, tmp_path / "november.parquet")
    code, said, output = _ingest(home, tmp_path / "november.parquet", "--append")
    assert code == 0, output
    assert said["tables"]["events"]["notes"]["columns_added"] == {
        "columns": ["coupon_code"],
        "rows": 3,
    }
    events = _events(home)
    assert events["coupon_code"].tolist() == [None, None, None, None, "XMAS10"]
    assert events["user_id"].tolist() == ["12346", "12347", "12346", "12347", "12348"]
    code, said, output = _ingest(home, tmp_path / "november.parquet", "--append", maps=False)
    assert code == 0 and said["tables"]["events"]["reasons"] == {"already_ingested": 2}, output

    renamed = november.rename_columns(
        ["customer_id", "event_ts", "event_type", "amount", "order_number"]
    )
    pq.write_table(renamed, tmp_path / "november_renamed.parquet")
    code, _, output = _ingest(home, tmp_path / "november_renamed.parquet", "--append", maps=False)
    assert code == 1
    error = output.splitlines()[-1]
    assert "(the file adds order_number; the dataset has " in error, error
    assert "if one of them is the dataset's order_id, give its map (e.g. --map order_id=" in error
    assert "else drop them from the file, or, if it holds the whole history, replace" in error


SEGMENT_MAPS = [
    "user_id=userId",
    "event_time=timestamp",
    "event_type=event",
    "amount=properties.revenue",
    "order_id=properties.order_id",
]


def _track(user: object, at: str, event: str, revenue: float, order: str, **more: object) -> str:
    """A Segment track call as its warehouse export writes it: one JSON object a line."""
    properties = {"revenue": revenue, "order_id": order, "products": [{"sku": "85123A"}]}
    call = {"event": event, "userId": user, "timestamp": at, "properties": properties | more}
    return json.dumps(call)


def test_json_lines_of_track_calls_are_read_with_nested_fields(tmp_path: Path) -> None:
    """Trial E: a Segment/Mixpanel export (NDJSON, .json.gz) was refused as 'unknown file
    type ... (a CSV file: name it .csv)'. JSON lines are read now: a nested field is a dotted
    column (`--map amount=properties.revenue`), ids as the JSON gives them (17850 and
    "17850" one user, never 17850.0), a field first met in a later chunk a column of all."""
    import gzip

    lines = [
        _track(17850, "2011-01-04T10:00:00.000Z", "Order Completed", 12.5, "536365"),
        "",  # a blank line: skipped
        _track(None, "2011-01-04T11:00:00.000Z", "Order Completed", 3.0, "536366"),
        _track("17850", "2011-01-05T09:30:00.000Z", "Order Refunded", 2.5, "C536367"),
        _track(12583, "2011-01-06T08:00:00+01:00", "Order Completed", 7.25, "536368", coupon="X"),
    ]
    export = tmp_path / "tracks.jsonl.gz"
    with gzip.open(export, "wt") as out:
        out.write("\n".join(lines) + "\n")
    args = ["--home", str(tmp_path / "ws"), "--json", "ingest", str(export)]
    args += [part for m in SEGMENT_MAPS for part in ("--map", m)]
    args += ["--map-type", "purchase=Order Completed", "--map-type", "refund=Order Refunded"]
    chunks = {"LIFECYCLE_INGEST__CHUNK_ROWS": "2"}
    done = CliRunner().invoke(main, args, env=chunks)
    assert done.exit_code == 0, done.output
    said = json.loads(done.stdout)["tables"]["events"]
    assert (said["rows_loaded"], said["reasons"]) == (3, {"missing_user_id": 1})
    events = pd.read_parquet(tmp_path / "ws" / "datasets" / "tracks" / "events.parquet")
    assert events["user_id"].tolist() == ["17850", "17850", "12583"]
    assert events["event_type"].tolist() == ["purchase", "refund", "purchase"]
    assert events["amount"].tolist() == [12.5, 2.5, 7.25]
    assert events["order_id"].tolist() == ["536365", "C536367", "536368"]
    assert events["event_time"].astype(str).tolist() == [
        "2011-01-04 10:00:00+00:00",
        "2011-01-05 09:30:00+00:00",
        "2011-01-06 07:00:00+00:00",
    ]
    assert events["properties.coupon"].tolist() == [None, None, "X"]
    assert events["properties.products"].tolist() == ['[{"sku": "85123A"}]'] * 3  # as JSON


def test_a_line_that_is_no_json_object_is_refused_naming_it(tmp_path: Path) -> None:
    good = _track(1, "2011-01-04T10:00:00Z", "Order Completed", 1.0, "1")
    cases = {
        "broken.jsonl": (f"{good}\n{good[:-5]}\n", "line 2 is not JSON ("),
        "array.json": (f"[{good}]\n", "line 1 is a JSON array, not JSON lines (one object a line)"),
        "numbers.ndjson": (f"{good}\n7\n", "line 2 is a JSON number, not an object"),
    }
    for name, (text, said) in cases.items():
        (tmp_path / name).write_text(text)
        code, _, output = _ingest(tmp_path / "ws", tmp_path / name)
        assert code == 1 and f"{tmp_path / name}: {said}" in output, output


def test_a_json_field_of_several_kinds_is_text(tmp_path: Path) -> None:
    """A field that is a number in one line and text or true/false in others (`plan`: 1,
    "pro", true) crashed the staging write with pyarrow's ArrowInvalid traceback; it is read
    as text now, each value as JSON writes it; an empty object is no value."""
    lines = [
        {"userId": 1, "timestamp": "2011-01-04T10:00:00Z", "event": "purchase", "amount": 5},
        {"userId": "u2", "timestamp": "2011-01-05T10:00:00Z", "event": "purchase", "amount": 5.5},
        {"userId": 3, "timestamp": "2011-01-06T10:00:00Z", "event": "session"},
    ]
    for line, plan in zip(lines, (1, "pro", True), strict=True):
        line |= {"plan": plan, "meta": {}}
    export = tmp_path / "events.ndjson"
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    args = ["--home", str(tmp_path / "ws"), "ingest", str(export), "--map", "user_id=userId"]
    args += ["--map", "event_time=timestamp", "--map", "event_type=event"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0 and "Traceback" not in done.output, done.output
    events = pd.read_parquet(tmp_path / "ws" / "datasets" / "events" / "events.parquet")
    assert events["user_id"].tolist() == ["1", "u2", "3"]
    assert events["plan"].tolist() == ["1", "pro", "true"]
    assert "meta" not in events


def test_a_month_with_its_amount_column_renamed_names_the_map(tmp_path: Path) -> None:
    """Trial E: December's export with `amount` renamed `revenue` made `refresh` say 'append
    this one with lifecycle ingest ... --append --amount-default 1': every purchase counted 1
    in a dataset of money. The refusal names the renamed column's map now, and so does the
    command refresh gives; that command appends the month."""
    home = tmp_path / "ws"
    code, _, output = _ingest(home, _write(tmp_path, "nov.parquet", _lines("2011-11", [1, 2])))
    assert code == 0, output
    december = _lines("2011-12", [2, 3]).rename_columns(
        ["customer_id", "event_ts", "event_type", "revenue", "invoice_no"]
    )
    path = _write(tmp_path, "dec.parquet", december)
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    with pytest.raises(ContractError) as refused:
        append_files(settings, [path], None, None)
    said = str(refused.value)
    assert "If 'revenue' holds them, name it with --map amount=revenue" in said, said
    assert f"`lifecycle ingest {path} --dataset shop --append --map amount=revenue`" in said
    assert "--append --amount-default 1" not in said
    code, _, output = _ingest(home, path, "--append", "--map", "amount=revenue", maps=False)
    assert code == 0, output
    assert _events(home)["amount"].tolist() == [7.15, 8.15, 7.15, 8.15]


def test_a_month_without_a_money_column_is_never_counted_1_in_a_money_dataset(
    tmp_path: Path,
) -> None:
    """Trial E: a month whose amount column is renamed to a name not saying money (`gbp`) made
    `refresh` offer `ingest --append --amount-default 1`: every purchase counted 1 beside the
    dataset's money. The dataset holds amounts, so the way on is --map amount=COLUMN, the
    file's columns named; a count-only log (no amounts held) is still offered the default."""
    home = tmp_path / "ws"
    code, _, output = _ingest(home, _write(tmp_path, "nov.parquet", _lines("2011-11", [1, 2])))
    assert code == 0, output
    december = _lines("2011-12", [2, 3]).rename_columns(
        ["customer_id", "event_ts", "event_type", "gbp", "invoice_no"]
    )
    path = _write(tmp_path, "dec.parquet", december)
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    with pytest.raises(ContractError) as refused:
        append_files(settings, [path], None, None)
    said = str(refused.value)
    assert "--amount-default" not in said, said
    assert "Dataset 'shop' holds amounts" in said and "gbp, invoice_no" in said, said
    assert f"`lifecycle ingest {path} --dataset shop --append --map amount=COLUMN`" in said
    code, _, output = _ingest(home, path, "--append", maps=False)
    assert code != 0 and "--amount-default" not in output, output
    counted = _lines("2011-11", [1, 2]).drop_columns(["amount"])
    other = tmp_path / "ws2"
    code, _, output = _ingest(other, _write(tmp_path, "counted.parquet", counted))
    assert code != 0 and "--amount-default 1" in output, output


def test_a_dataset_without_a_currency_column_states_its_currency(tmp_path: Path) -> None:
    """Trial E: a Parquet export without a currency column left every list 'money in no
    currency recorded', and no option stated the dataset's currency. `ingest --currency GBP`
    records GBP on every row, with the dataset's file shape (a month appended by refresh is
    GBP too); an unknown code is refused naming the option; a currency column or a sign
    saying another is refused naming the row, or quarantined as currency_mismatch."""
    home = tmp_path / "ws"
    nov = _write(tmp_path, "nov.parquet", _lines("2011-11", [1, 2]))
    code, _, output = _ingest(home, nov, "--currency", "XYZ")
    assert code != 0 and "--currency" in output and "'XYZ' is no ISO 4217" in output, output
    code, _, output = _ingest(home, nov, "--currency", "gbp")
    assert code == 0, output
    assert _events(home)["currency"].tolist() == ["GBP", "GBP"]
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "shop"})
    append_files(settings, [_write(tmp_path, "dec.parquet", _lines("2011-12", [2, 3]))], None, None)
    assert _events(home)["currency"].tolist() == ["GBP"] * 4  # as the dataset recorded

    euros = _lines("2011-10", [4, 5]).append_column("currency", pa.array(["GBP", "EUR"]))
    code, _, output = _ingest(
        tmp_path / "b", _write(tmp_path, "eur.parquet", euros), "--currency", "GBP"
    )
    assert code != 0 and "row 2 has currency='EUR', but --currency GBP" in output, output
    signed = _lines("2011-10", [4, 5, 6])
    signed = signed.set_column(3, "amount", pa.array(["£7.15", "€8.15", "£9.15"]))
    code, report, output = _ingest(
        tmp_path / "c", _write(tmp_path, "signed.parquet", signed), "--currency", "GBP"
    )
    assert code == 0, output
    assert report["tables"]["events"]["reasons"] == {"currency_mismatch": 1}
    assert _events(tmp_path / "c")["currency"].tolist() == ["GBP", "GBP"]


def _write(folder: Path, name: str, table: pa.Table) -> Path:
    pq.write_table(table, folder / name)
    return folder / name


def test_json_lines_are_parsed_once_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial E: a pass over JSON lines parsed the file twice (its fields first, then its
    rows): 80 s against Parquet's 35 s for 539,392 events. It is parsed once now, in chunks
    of at most chunk_rows, every chunk with every field (one met late, a field of several
    kinds as text) as before."""
    from features import json_reading

    opened: list[Path] = []
    real_open = json_reading.open_binary

    def counted(path: Path):  # type: ignore[no-untyped-def]
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(json_reading, "open_binary", counted)
    lines = [{"userId": 1, "plan": 1}, {"userId": 2}, {"userId": 3, "plan": "pro", "late": True}]
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    frames = list(json_reading.json_lines_chunks(export, chunk_rows=2))
    assert opened == [export]  # was twice
    assert [len(frame) for frame in frames] == [2, 1]
    assert [list(frame.columns) for frame in frames] == [["userId", "plan", "late"]] * 2
    assert frames[0]["plan"].tolist() == ["1", None] and frames[1]["late"].tolist() == [True]


def test_json_lines_are_set_aside_in_the_workspace_and_a_full_disk_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 2 #5: the JSON lines read once were spilled to the system's temporary folder:
    customers' events outside the workspace (on a RAM-backed /tmp, all in memory), and a
    full disk there a raw OSError. Ingest spills into its own staging in the workspace now,
    and a full disk is one line naming the folder."""
    import errno
    import tempfile

    from features import json_reading

    folders: list[Path] = []
    real = tempfile.TemporaryFile

    def spill(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        folders.append(Path(str(kwargs.get("dir"))))
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(json_reading.tempfile, "TemporaryFile", spill)
    export = tmp_path / "source" / "tracks.jsonl"
    export.parent.mkdir()
    export.write_text(_track(17850, "2011-01-04T10:00:00.000Z", "Order Completed", 12.5, "1"))
    home = tmp_path / "ws"
    args = ["--home", str(home), "ingest", str(export)]
    args += [part for m in SEGMENT_MAPS for part in ("--map", m)]
    args += ["--map-type", "purchase=Order Completed"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert folders and all(home.resolve() in f.resolve().parents for f in folders), folders
    # beside the file where no folder is given
    next(json_reading.json_lines_chunks(export, 10))
    assert folders[-1] == export.parent

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json_reading.pickle, "dump", full)
    done = CliRunner().invoke(main, [*args, "--replace"])
    assert done.exit_code != 0 and not isinstance(done.exception, OSError), done.exception
    [line] = [said for said in done.output.splitlines() if said.startswith("Error")]
    assert "No space left on device" in line and str(home / "datasets") in line, line


def test_a_json_field_named_twice_is_refused_naming_the_line(tmp_path: Path) -> None:
    """Review 40 #2: `{"properties.revenue": 999, "properties": {"revenue": 10}}` loaded
    whichever came later (999 or 10, by the keys' order), and `{"userId": 1, "userId": 2}`
    user 2, without a word. Such a line is refused now, naming it and the field."""
    good = _track(1, "2011-01-04T10:00:00Z", "Order Completed", 10.0, "1")
    dotted = json.loads(good) | {"properties.revenue": 999}
    cases = {
        "dotted_last.jsonl": json.dumps(dotted),
        "dotted_first.jsonl": json.dumps({"properties.revenue": 999} | json.loads(good)),
        "repeated.jsonl": good.replace('"userId": 1', '"userId": 1, "userId": 2'),
    }
    for name, line in cases.items():
        (tmp_path / name).write_text(f"{good}\n\n{line}\n")
        args = ["--home", str(tmp_path / "ws"), "ingest", str(tmp_path / name)]
        done = CliRunner().invoke(main, args + [p for m in SEGMENT_MAPS for p in ("--map", m)])
        field = "userId" if name == "repeated.jsonl" else "properties.revenue"
        said = f"{tmp_path / name}: line 3 gives field {field!r} twice"
        assert done.exit_code == 1 and said in done.output, done.output


def _partitioned(folder: Path, tables: dict[str, pa.Table]) -> Path:
    for month, table in tables.items():
        (folder / f"dt={month}").mkdir(parents=True)
        pq.write_table(table, folder / f"dt={month}" / "part-0.parquet")
    return folder


def test_a_folders_unreadable_file_is_named(tmp_path: Path) -> None:
    """Review 40 #4: a 0-byte part file (a failed job's) was refused naming only the folder
    ('cannot be read as a folder of Parquet files: Parquet file size is 0 bytes'); among a
    Spark unload's hundreds of files it is named now, with the way on."""
    folder = _partitioned(tmp_path / "events", {"2011-01-01": _lines("2011-01", [1, 2])})
    (folder / "dt=2011-02-01").mkdir()
    (folder / "dt=2011-02-01" / "part-0.parquet").write_bytes(b"")
    code, _, output = _ingest(tmp_path / "ws", folder)
    assert code == 1
    assert output.splitlines()[-1] == (
        f"Error: {folder}: dt=2011-02-01/part-0.parquet cannot be read as Parquet (Parquet file "
        "size is 0 bytes): a file a failed or unfinished export left? Move it out of the "
        "folder, or export again"
    )


def test_a_column_some_files_lack_keeps_its_integers(tmp_path: Path) -> None:
    """Review 40 #6: `qty` in January's file only, with no null there, was stored as
    float64 (1.0, 2.0, NaN): integers with the other files' rows empty now."""
    jan = _lines("2011-01", [1, 2]).append_column("qty", pa.array([1, 2], pa.int64()))
    folder = _partitioned(
        tmp_path / "events", {"2011-01-01": jan, "2011-02-01": _lines("2011-02", [3, 4])}
    )
    code, _, output = _ingest(tmp_path / "ws", folder)
    assert code == 0, output
    qty = _events(tmp_path / "ws")["qty"]
    assert pd.api.types.is_integer_dtype(qty.dtype), qty.dtype
    assert qty.astype(object).where(qty.notna(), None).tolist() == [1, 2, None, None]


def test_a_files_column_named_as_its_partition(tmp_path: Path) -> None:
    """Review 40 #7: `dt=2011-01-01/part-0.parquet` holding its own `dt` column (X, Y)
    loaded X, Y and dropped the path's 2011-01-01 without a word. It is refused naming the
    file and the column; a `dt` column of the partition's own value loads."""
    jan = _lines("2011-01", [1, 2])
    same = _partitioned(
        tmp_path / "same", {"2011-01-01": jan.append_column("dt", pa.array(["2011-01-01"] * 2))}
    )
    code, _, output = _ingest(tmp_path / "a", same)
    assert code == 0, output
    assert _events(tmp_path / "a")["dt"].tolist() == ["2011-01-01", "2011-01-01"]
    other = _partitioned(
        tmp_path / "other", {"2011-01-01": jan.append_column("dt", pa.array(["X", "Y"]))}
    )
    code, _, output = _ingest(tmp_path / "b", other)
    assert code == 1
    assert output.splitlines()[-1] == (
        f"Error: {other}: dt=2011-01-01/part-0.parquet: its column 'dt' holds other values "
        "than its folder's partition dt=2011-01-01: which is meant? Rename the column in the "
        "export, or ingest the file alone"
    )


def test_a_quarantined_row_names_its_file_and_its_row_there(tmp_path: Path) -> None:
    """Session 41 D #1: a folder's quarantined rows named no part file, and `source_row`
    counted rows across the folder's files (row 5 was February's third): among a warehouse
    unload's hundreds of files no engineer could find it. `source_file` (relative to the
    folder; a file alone: its name) and `source_row`, the row within that file, now; an
    append's held rows and a JSON lines file's too."""
    feb = _lines("2011-02", [3, None, 4])
    folder = _partitioned(
        tmp_path / "events",
        {
            "2011-01-01": _lines("2011-01", [1, None, 2]),
            "2011-02-01": pa.concat_tables([feb, feb.slice(0, 1)]),  # a line sent twice
        },
    )
    code, _, output = _ingest(tmp_path / "ws", folder)
    assert code == 0, output
    quarantine = tmp_path / "ws" / "datasets" / "shop" / "quarantine"
    rows = pd.read_csv(quarantine / "events.csv", dtype=str)
    assert rows.columns[:4].tolist() == ["source_row", "reason", "source_file", "customer_id"]
    assert rows[["source_row", "reason", "source_file"]].values.tolist() == [
        ["2", "missing_user_id", "dt=2011-01-01/part-0.parquet"],
        ["2", "missing_user_id", "dt=2011-02-01/part-0.parquet"],
        ["4", "duplicate_row", "dt=2011-02-01/part-0.parquet"],
    ]

    # an append of a folder: rows it holds as already in the dataset are named so too
    later = _partitioned(
        tmp_path / "later",
        {"2011-02-01": feb.slice(0, 1), "2011-03-01": _lines("2011-03", [5, None, 6])},
    )
    code, _, output = _ingest(tmp_path / "ws", later, "--append", maps=False)
    assert code == 0, output
    held = pd.read_csv(quarantine / "events-already_ingested-1.csv", dtype=str)
    assert held[["source_row", "reason", "source_file"]].values.tolist() == [
        ["1", "already_ingested", "dt=2011-02-01/part-0.parquet"]
    ]
    rows = pd.read_csv(quarantine / "events-append-1.csv", dtype=str)
    assert rows[["source_row", "source_file"]].values.tolist() == [
        ["2", "dt=2011-03-01/part-0.parquet"]
    ]

    # a file alone: its name; its own field called source_file kept beside ours
    export = tmp_path / "tracks.jsonl"
    calls = [_track(7, "2011-01-04T10:00:00Z", "Order Completed", 3.0, "1")]
    calls.append(_track(None, "2011-01-04T11:00:00Z", "Order Completed", 3.0, "2"))
    export.write_text("\n".join(c[:-1] + ', "source_file": "x"}' for c in calls) + "\n")
    args = ["--home", str(tmp_path / "ws2"), "ingest", str(export), "--map-type"]
    args.append("purchase=Order Completed")
    done = CliRunner().invoke(main, args + [p for m in SEGMENT_MAPS for p in ("--map", m)])
    assert done.exit_code == 0, done.output
    rows = pd.read_csv(tmp_path / "ws2" / "datasets" / "tracks" / "quarantine" / "events.csv")
    assert rows[["source_row", "source_file", "source_file.1"]].values.tolist() == [
        [2, "tracks.jsonl", "x"]
    ]


def test_a_folders_refusal_names_the_row_in_its_file(tmp_path: Path) -> None:
    """Session 41 D #1: a refusal's example row of a folder was counted across its files
    ('row 3 has event_ts=...', February's first): it names the file and the row there."""
    jan, feb = _lines("2011-01", [1, 2]), _lines("2011-02", [3, 4, 5])
    jan = jan.set_column(1, "event_ts", pa.array(["2011-01-02", "2011-01-03"]))
    feb = feb.set_column(1, "event_ts", pa.array(["x", "y", "z"]))  # text, as a CSV unload's
    folder = _partitioned(tmp_path / "events", {"2011-01-01": jan, "2011-02-01": feb})
    code, _, output = _ingest(tmp_path / "ws", folder)
    assert code == 1
    assert output.splitlines()[-1].endswith(
        "3 of 5 filled values do not parse (e.g. row 1 of dt=2011-02-01/part-0.parquet has "
        "event_ts='x')"
    ), output


def test_currency_fills_an_unmapped_currency_columns_blanks_and_is_refused_without_amounts(
    tmp_path: Path,
) -> None:
    """Session 41 D #3: `--currency GBP` beside an unmapped `Currency` column with empty cells
    left them empty (amounts in no currency, though the user said which), and on a count-only
    log (no amount column) it recorded nothing without a word. The blanks are GBP now,
    counted (currency_given, over the rows loaded). A file without amounts then said in one
    line that --currency was ignored, yet recorded it with the dataset: a later append of
    money was refused for the --currency it had not given (session 43). Refused now, as
    --amount-default's amounts are purchases counted, no money; without it the file loads,
    no currency recorded."""
    lines = _lines("2011-11", [1, 2, 3]).append_column("Currency", pa.array(["GBP", "", None]))
    code, report, output = _ingest(
        tmp_path / "a", _write(tmp_path, "nov.parquet", lines), "--currency", "GBP"
    )
    assert code == 0, output
    assert _events(tmp_path / "a")["Currency"].tolist() == ["GBP"] * 3
    assert report["tables"]["events"]["notes"]["currency_given"] == 2

    counts = lines.drop_columns(["amount", "Currency"])
    args = ["--home", str(tmp_path / "b"), "ingest", str(_write(tmp_path, "c.parquet", counts))]
    args += [p for m in MAPS for p in ("--map", m)] + ["--map-type", "purchase=order"]
    args += ["--map-type", "refund=return", "--amount-default", "1", "--currency", "GBP"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1, refused.output
    assert (
        f"{args[3]} has no amount column: --currency GBP gives the currency of the amounts in "
        "one (name it with --map amount=COLUMN)"
    ) in " ".join(refused.output.split())
    assert not (tmp_path / "b" / "datasets" / "c").exists()
    done = CliRunner().invoke(main, args[:-2])
    assert done.exit_code == 0, done.output
    assert "currency" not in pd.read_parquet(tmp_path / "b" / "datasets" / "c" / "events.parquet")


def test_a_json_exports_nested_currency_field_is_its_currency_column(tmp_path: Path) -> None:
    """Session 41 D #4: a CSV's unmapped `Currency` column is the dataset's currency, but a
    Segment export's `properties.currency` was read only when mapped: its amounts were in no
    currency, and a line in another currency was summed with the rest. A nested field named
    so is found by the same rule (a dotted name's last part), and says the currency."""
    lines = [
        _track(17850, "2011-01-04T10:00:00Z", "Order Completed", 12.5, "1", currency="EUR"),
        _track(12583, "2011-01-05T10:00:00Z", "Order Completed", 7.5, "2", currency="EUR"),
    ]
    export = tmp_path / "tracks.jsonl"
    export.write_text("\n".join(lines) + "\n")
    args = ["--home", str(tmp_path / "ws"), "--json", "ingest", str(export), "--map-type"]
    args += ["purchase=Order Completed", *(p for m in SEGMENT_MAPS for p in ("--map", m))]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    notes = json.loads(done.stdout)["tables"]["events"]["notes"]
    assert notes["currency_column"] == {"column": "properties.currency", "currency": "EUR"}

    export.write_text(
        "\n".join([*lines, _track(1, "2011-01-06T10:00:00Z", "Order Completed", 3.0, "3")]).replace(
            '"EUR"}', '"GBP"}', 1
        )  # the first line's in pounds
        + "\n"
    )
    args[1] = str(tmp_path / "ws2")
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 1
    assert (
        "column 'properties.currency' holds amounts in 2 currencies (GBP from row 1, EUR "
        in (done.output.splitlines()[-1])
    ), done.output


def test_a_woocommerce_order_currency_column_is_its_currency(tmp_path: Path) -> None:
    """Session 48 B: WooCommerce's orders export names its currency `Order Currency`, which
    was not read unmapped: the dataset recorded no currency (report.json null) and nothing
    said so. It is read as `Currency` is, and named in the summary."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "Customer ID,Order Date,Order Status,Order Total Amount,Order Currency\n"
        "17850,2011-01-04 10:00,Completed,12.50,EUR\n"
        "12583,2011-01-05 10:00,Completed,7.50,EUR\n"
        "17850,2011-01-06 10:00,Refunded,12.50,EUR\n"
    )
    args = ["--home", str(tmp_path / "ws"), "--json", "ingest", str(orders)]
    args += ["--map", "user_id=Customer ID", "--map", "event_time=Order Date"]
    args += ["--map", "event_type=Order Status", "--map", "amount=Order Total Amount"]
    args += ["--map-type", "purchase=Completed", "--map-type", "refund=Refunded"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    notes = json.loads(done.stdout)["tables"]["events"]["notes"]
    assert notes["currency_column"] == {"column": "Order Currency", "currency": "EUR"}


def test_an_append_to_a_currency_column_dataset_by_map_or_by_sign(tmp_path: Path) -> None:
    """Session 41 D #6: a dataset whose currency is an unmapped `Currency` column refused an
    append giving its currency with `--map currency=cur` ('the file adds currency'), and a
    file of '€' amounts appended to it was refused naming column 'Currency', which the file
    does not have. The mapped column is read into the dataset's `Currency` now, and the
    refusal names the file's amount column, where the sign is."""
    header = "customer_id,event_ts,amount,invoice_no"
    base = tmp_path / "nov.csv"
    base.write_text(
        f"{header},Currency\n1,2011-11-01 10:00,5.00,A1,GBP\n2,2011-11-02 10:00,7.00,A2,GBP\n"
    )
    maps = [p for m in MAPS for p in ("--map", m)]
    code, _, output = _ingest(tmp_path, base, *maps, "--event-type", "purchase", maps=False)
    assert code == 0, output
    mapped = tmp_path / "dec.csv"
    mapped.write_text(f"{header},cur\n3,2011-12-01 10:00,4.00,A3,GBP\n")
    code, _, output = _ingest(tmp_path, mapped, "--append", "--map", "currency=cur", maps=False)
    assert code == 0, output
    assert _events(tmp_path)["Currency"].tolist() == ["GBP"] * 3
    euros = tmp_path / "jan.csv"
    euros.write_text("customer_id,event_ts,Total,invoice_no\n4,2012-01-02 10:00,€9.00,A4\n")
    code, _, output = _ingest(tmp_path, euros, "--append", "--map", "amount=Total", maps=False)
    assert code == 1
    assert output.splitlines()[-1] == (
        f"Error: {euros}: column 'Total' holds amounts in 2 currencies (GBP in the dataset, EUR "
        "from row 1); summed as one they would make every revenue, LTV and value at risk wrong: "
        "ingest each currency as a dataset of its own (a file per currency)"
    )


def test_a_folders_row_is_named_in_its_file_by_every_message(
    tmp_path: Path, shared_data: Path
) -> None:
    """Session 41 L #1: a Hive folder's quarantine and first bad row named the part file and
    the row there, but the other messages naming a row counted rows across the folder's
    files: a currency column's two currencies ('EUR from row 2,005'), an amount column's two
    signs, the first isolated_event_time row. Each names the file and its row now. Real
    online_retail lines, December and January as two partitions."""
    lines = pd.read_csv(
        shared_data / "online_retail" / "online_retail_transactions.csv.gz", dtype=str
    )
    lines = lines.dropna(subset=["CustomerID"])
    total = lines["Quantity"].astype(float) * lines["UnitPrice"].astype(float)
    lines = lines.assign(Total=total.round(2).astype(str), Currency="GBP")
    dec = lines[lines["InvoiceDate"] < "2011-01-01"].head(2_000).reset_index(drop=True)
    jan = lines[lines["InvoiceDate"] >= "2011-01-01"].head(2_000).reset_index(drop=True)
    args = ["--event-type", "purchase", "--negative-is-refund", "--map", "amount=Total"]
    args += ["--map", "user_id=CustomerID", "--map", "event_time=InvoiceDate"]

    def ingest(name: str, tables: dict[str, pd.DataFrame], *more: str) -> tuple[Path, int, str]:
        folder = tmp_path / name
        _partitioned(folder, {m: pa.Table.from_pandas(t) for m, t in tables.items()})
        home = str(tmp_path / "ws" / name.split("-")[0])
        done = CliRunner().invoke(main, ["--home", home, "ingest", str(folder), *args, *more])
        return folder, done.exit_code, done.output

    in_file = "of dt=2011-01-01/part-0.parquet"
    assert jan.loc[4, "Quantity"][0] != "-"  # a purchase: its currency counts
    euro = jan.assign(Currency=["GBP"] * 4 + ["EUR"] * 1_996)
    folder, code, output = ingest("euro", {"2010-12-01": dec, "2011-01-01": euro})
    assert code == 1
    assert output.splitlines()[-1].startswith(
        f"Error: {folder}: column 'Currency' holds amounts in 2 currencies (GBP from row 1 of "
        f"dt=2010-12-01/part-0.parquet, EUR from row 5 {in_file}); "
    ), output

    pounds = dec.assign(Total="£" + dec["Total"]).drop(columns="Currency")
    euros = jan.assign(Total="€" + jan["Total"]).drop(columns="Currency")
    _, code, output = ingest("signs", {"2010-12-01": pounds, "2011-01-01": euros})
    assert code == 1
    assert (
        f"column 'Total' writes amounts in 2 currencies (£ from row 1 of "
        f"dt=2010-12-01/part-0.parquet, € from row 1 {in_file})"
    ) in output, output

    typo = jan.copy()
    typo.loc[6, "InvoiceDate"] = "2001-01-05 10:00:00"  # a year typed wrong
    _, code, output = ingest("typo", {"2010-12-01": dec, "2011-01-01": typo})
    assert code == 0, output
    assert f"1 isolated_event_time rows (the first is row 7 {in_file})" in output, output

    # an append's: the dataset's currency, then the file and row the other one is from
    assert ingest("append-dec", {"2010-12-01": dec})[1] == 0
    blank = jan.iloc[:1_000].assign(Currency="")  # no currency said: none other
    late = jan.iloc[1_000:].assign(Currency=[""] * 2 + ["EUR"] * 998)
    tables = {"2011-01-01": blank, "2011-01-16": late}
    folder, code, output = ingest("append-jan", tables, "--append", "--dataset", "append-dec")
    assert code == 1
    assert output.splitlines()[-1].startswith(
        f"Error: {folder}: column 'Currency' holds amounts in 2 currencies (GBP in the "
        "dataset, EUR from row 3 of dt=2011-01-16/part-0.parquet); "
    ), output
