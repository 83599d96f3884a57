"""The events and users contract: wrong files fail fast, bad rows are quarantined with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.loading import validate_events, validate_users
from features.reading import read_table
from features.validation import ContractError
from lifecycle.cli import main

HEADER = "user_id,event_time,event_type,amount\n"


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path: Path, mapping: c.ColumnMapping | None = None, **options):
    return validate_events(read_table(path), mapping or c.ColumnMapping(), str(path), **options)


def test_good_file_loads_in_contract_shape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "u1,2024-01-02 10:00:00,signup,\n"
        + "u1,2024-01-03T11:00:00Z,purchase,12.50\n"
        + "u2,2024-01-01 09:00:00+01:00,session,\n",
    )
    loaded = load(path)
    events = loaded.frame
    assert list(events.columns[:4]) == [c.USER_ID, c.EVENT_TIME, c.EVENT_TYPE, c.AMOUNT]
    assert str(events[c.EVENT_TIME].dtype) == "datetime64[us, UTC]"
    # Sorted by time; the +01:00 offset is converted to UTC.
    assert events[c.USER_ID].tolist() == ["u2", "u1", "u1"]
    assert events[c.EVENT_TIME].iloc[0] == pd.Timestamp("2024-01-01 08:00", tz="UTC")
    assert events.loc[events[c.EVENT_TYPE] == "purchase", c.AMOUNT].item() == 12.5
    assert loaded.report.rows_read == 3 and loaded.report.rows_loaded == 3
    assert loaded.quarantine.empty


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"events\.xls: unknown file type"):
        read_table(write(tmp_path, "x", "events.xls"))


def test_unknown_file_type_names_the_suffixes_and_what_to_do(tmp_path: Path) -> None:
    """It said "expected one of ('.csv', '.csv.gz', ...)", a Python tuple, and nothing of
    what to do with an export named without a suffix, or an Excel workbook."""
    suffixes = ".csv, .csv.gz, .tsv, .tsv.gz, .txt, .zip, .xlsx, .xlsm, .parquet, .pq, " + (
        ".jsonl, .jsonl.gz, .ndjson, .ndjson.gz, .json, .json.gz"  # JSON lines read since trial E
    )
    for name, text, advice in (
        ("export", "user_id\nu1\n", "a CSV file: name it .csv"),
        (  # an .xlsx is read (features/xlsx_reading.py); the old binary format is not
            "e.xls",
            "user_id\nu1\n",
            "an Excel 97-2003 .xls workbook: save it as .xlsx (Excel Workbook) or the sheet as CSV",
        ),
        ("events.log", '{"userId": "u1"}\n', "JSON lines: name it .jsonl"),
    ):
        path = write(tmp_path, text, name)
        with pytest.raises(ContractError) as refused:
            read_table(path)
        assert str(refused.value) == (
            f"{path}: unknown file type; expected a name ending in {suffixes} ({advice})"
        )


def test_a_truncated_gzip_file_says_after_which_line_it_ends(tmp_path: Path) -> None:
    """A .csv.gz whose first 1,200 rows were whole said nothing of where it ends, and a larger
    one 'after data row 30,000' of 101,646 whole rows: where the reader's chunks ended."""
    import zlib

    from features.reading import read_chunks

    path = tmp_path / "events.csv.gz"
    whole = "user_id,event_time,event_type\n" + "u1,2024-01-01,session\n" * 1200
    pack = zlib.compressobj(wbits=31)  # gzip, flushed after row 1,200 and cut there
    path.write_bytes(pack.compress(whole.encode()) + pack.flush(zlib.Z_FULL_FLUSH))
    with pytest.raises(ContractError) as refused:
        list(read_chunks(path, 500))
    assert str(refused.value) == (
        f"{path}: cannot be read as gz: Compressed file ended before the end-of-stream marker "
        "was reached; the file is cut short after line 1,201 (the header is line 1): copy or "
        "download it whole again"
    )


@pytest.mark.parametrize("text", ["", HEADER])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ContractError, match=r"events\.csv: (file is empty|no data rows)"):
        read_table(write(tmp_path, text))


def test_missing_column_names_column_and_mapping_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "customer,event_time,event_type\nu1,2024-01-01,session\n")
    with pytest.raises(ContractError) as error:
        load(path)
    message = str(error.value)
    assert "events.csv" in message and "'user_id'" in message
    assert "customer" in message and "--map" in message
    # the same name but for case: the --map that takes it, the others' hint after it
    path = write(tmp_path, "User_ID,Event_Time,kind\nu1,2024-01-01,session\n")
    with pytest.raises(ContractError) as error:
        load(path)
    assert str(error.value).endswith(
        "Map them with --map user_id=User_ID --map event_time=Event_Time; the others with "
        "--map CONTRACT=SOURCE; 'kind' holds each row's event type (session): --map "
        "event_type=kind reads it"
    )


def test_mapped_column_missing_names_both_names(tmp_path: Path) -> None:
    path = write(tmp_path, "user_id,event_time,event_type\nu1,2024-01-01,session\n")
    mapping = c.ColumnMapping(columns={c.USER_ID: "CustomerID"})
    with pytest.raises(ContractError, match=r"'CustomerID' \(for user_id\)"):
        load(path, mapping)


def test_wrong_type_column_fails_fast_with_example_row(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "u1,2024-01-01,purchase,abc\nu2,2024-01-01,purchase,xyz\n")
    with pytest.raises(ContractError) as error:
        load(path)
    message = str(error.value)
    assert "column 'amount' should hold numbers, but 2 of 2" in message  # no decimal-comma hint
    assert "row 1 has amount='abc'" in message
    # amounts with a sign or code that names no currency: what it should be is named, not
    # the decimal-comma option ('£12.50', '12.50 EUR', 'USD 4' are read: test_hostile_inputs)
    for amounts in (("12.50 euros", "3 euros"), ("Rs 4", "Rs 5"), ("£12 EUR", "£3 EUR")):
        body = "".join(f"u{i},2024-01-01,purchase,{a}\n" for i, a in enumerate(amounts))
        with pytest.raises(ContractError) as error:
            load(write(tmp_path, HEADER + body, "money.csv"))
        message = str(error.value)
        assert "should hold numbers, bare or with one currency sign or ISO code" in message
        assert "--map currency=COLUMN" in message and "--decimal-comma" not in message
    # both (3 euros and 1,5): the example row was '1,5' under the currency hint alone
    body = HEADER + 'u1,2024-01-01,purchase,"1,5"\nu2,2024-01-01,purchase,3 euros\n'
    with pytest.raises(ContractError) as error:
        load(write(tmp_path, body, "both.csv"))
    assert (
        "should hold numbers, bare or with one currency sign or ISO code (£12.50, 12.50 EUR; or "
        "the currency in a 'currency' column, e.g. --map currency=COLUMN; for a decimal comma, "
        "as in 12,50, use --decimal-comma), but 2 of 2 filled values do not parse (e.g. row 1 "
        "has amount='1,5')"
    ) in str(error.value)
    # a sign read apart is no hint: '€12,50' is only a decimal comma's question
    body = HEADER + 'u1,2024-01-01,purchase,"€1,5"\nu2,2024-01-01,purchase,"€3,25"\n'
    with pytest.raises(ContractError) as error:
        load(write(tmp_path, body, "euros.csv"))
    assert "should hold numbers (for a decimal comma, as in 12,50, use --decimal-comma)" in str(
        error.value
    )


def test_unparseable_timestamps_mostly_is_a_wrong_column(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + "u1,monday,session,\nu2,tuesday,session,\nu3,2024-01-01,session,\n"
    )
    with pytest.raises(
        ContractError,
        match=r"column 'event_time' should hold timestamps.*row 1 has event_time='monday'",
    ):
        load(path)


def test_some_bad_rows_are_quarantined_with_reasons(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "u1,2024-01-01,purchase,10\n"  # good
        + ",2024-01-01,session,\n"  # row 2: missing user id
        + "u2,not a time,session,\n"  # row 3: unparseable time
        + "u3,2024-01-01,purchase,-5\n"  # row 4: negative amount
        + "u1,2024-01-01,purchase,10\n"  # row 5: duplicate of row 1
        + "u4,2024-01-02,purchase,\n"  # row 6: purchase without amount
        + "u5,2024-01-02,,\n"  # row 7: no event type
        + "u6,2024-01-03,session,\n"  # good
        + "u7,2024-01-03,refund,oops\n"  # row 9: invalid amount
        + "u8,2024-01-04,session,\n"  # good
        + "u9,2024-01-04,session,\n"  # good
        + "u10,2024-01-04,session,\n"  # good
        + "u11,2024-01-05,session,\n"  # good
        + "u12,2024-01-05,session,\n"  # good
        + "u13,2024-01-05,session,\n",  # good
    )
    loaded = load(path)
    reasons = dict(zip(loaded.quarantine[c.SOURCE_ROW], loaded.quarantine[c.REASON], strict=True))
    assert reasons == {
        2: "missing_user_id",
        3: "unparseable_event_time",
        4: "negative_amount",
        5: "duplicate_row",
        6: "missing_amount",
        7: "missing_event_type",
        9: "invalid_amount",
    }
    # The quarantine keeps the raw values as they were in the file.
    assert loaded.quarantine.set_index(c.SOURCE_ROW).at[3, c.EVENT_TIME] == "not a time"
    # Nothing silently dropped: every row is loaded or quarantined, and counted.
    report = loaded.report
    assert report.rows_read == 15 and report.rows_loaded == 8 and report.rows_quarantined == 7
    assert sum(report.reasons.values()) == 7
    assert sorted(loaded.frame[c.USER_ID]) == sorted(
        ["u1", "u6", "u8", "u9", "u10", "u11", "u12", "u13"]
    )


def test_too_many_bad_rows_refuses_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER + ",2024-01-01,session,\n,2024-01-01,session,\nu1,2024-01-01,session,\n"
    )
    with pytest.raises(ContractError, match=r"2 of 3 rows are bad.*missing_user_id") as refused:
        load(path)
    assert "--keep-repeats" not in str(refused.value)
    # most have no user id (guest orders): how to load the rest if the file is right
    assert "LIFECYCLE_INGEST__MAX_BAD_FRACTION=0.9" in str(refused.value)
    assert load(path, max_bad_fraction=0.9).report.rows_loaded == 1
    # Mostly exact repeats (invoice lines without their product): the option that keeps them
    lines = write(tmp_path, HEADER + "u1,2024-01-01,purchase,2.5\n" * 3, "lines.csv")
    with pytest.raises(ContractError, match=r"2 duplicate_row.*exact repeats.*--keep-repeats"):
        load(lines)
    assert load(lines, keep_repeats=True).report.rows_loaded == 3


def test_purchase_only_log_with_other_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "CustomerID,InvoiceDate,Total\n17850,2010-12-01 08:26:00,15.30\n17850,2010-12-02 09:00:00,-4.00\n",
    )
    mapping = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=InvoiceDate", "amount=Total"],
        default_event_type=c.PURCHASE,
        negative_amount_is_refund=True,
    )
    events = load(path, mapping).frame
    assert events[c.EVENT_TYPE].tolist() == [c.PURCHASE, c.REFUND]
    assert events[c.AMOUNT].tolist() == [15.3, 4.0]  # refunds are positive amounts of type refund


def test_negative_amounts_allowed_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "u1,2024-01-01,adjustment,-3\nu2,2024-01-01,session,\n")
    assert load(path, allow_negative_amounts=True).frame[c.AMOUNT].min() == -3


def test_mapping_parse_rejects_malformed_pairs() -> None:
    with pytest.raises(ValueError, match="expected CONTRACT_COLUMN=SOURCE_COLUMN"):
        c.ColumnMapping.parse(["user_id"])


def test_extra_columns_and_unknown_event_types_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "user_id,event_time,event_type,page\nu1,2024-01-01,page_view,/home\n")
    events = load(path).frame
    assert events["page"].tolist() == ["/home"]
    assert events[c.EVENT_TYPE].tolist() == ["page_view"]


def test_parquet_with_typed_columns_and_local_timezone(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "uid": ["a", "b"],
            "ts": pd.to_datetime(["2024-07-01 12:00", "2024-07-01 13:00"]),  # naive, local time
            "kind": ["purchase", "session"],
            "value": [9.99, np.nan],
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    mapping = c.ColumnMapping.parse(
        ["user_id=uid", "event_time=ts", "event_type=kind", "amount=value"], timezone="Europe/Paris"
    )
    events = load(path, mapping).frame
    assert events[c.EVENT_TIME].tolist() == [
        pd.Timestamp("2024-07-01 10:00", tz="UTC"),  # Paris is UTC+2 in summer
        pd.Timestamp("2024-07-01 11:00", tz="UTC"),
    ]


def test_pathological_values_never_crash_a_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "u1,2024-01-01,purchase,NaN\n"
        + "u2,2024-01-01,purchase,inf\n"
        + "u3,2024-01-01,purchase,1000000000000\n"
        + "ü-😀,2024-01-01,session,\n"
        + "u5,2999-01-01,session,\n"
        + "u6,1901-01-01,session,\n"
        + "u7,2024-01-01,session,\n"
        + "u8,2024-01-02,session,\n"
        + "u9,2024-01-03,session,\n",
    )
    loaded = load(path)
    reasons = dict(zip(loaded.quarantine[c.SOURCE_ROW], loaded.quarantine[c.REASON], strict=True))
    assert reasons == {
        1: "non_finite_amount",
        2: "non_finite_amount",
        5: "event_time_out_of_range",
        6: "event_time_out_of_range",
    }
    assert "ü-😀" in set(loaded.frame[c.USER_ID])
    assert loaded.frame[c.AMOUNT].max() == 1e12


def test_users_table_duplicates_and_bad_signups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,signed_up,source,plan\nu1,2024-01-01,organic,free\nu1,2024-01-05,paid,free\nu2,yesterday-ish,email,pro\n"
        "u3,2024-02-01,referral,pro\nu4,,social,free\n",
        "users.csv",
    )
    mapping = c.ColumnMapping.parse(["user_id=id", "signup_time=signed_up", "channel=source"])
    loaded = validate_users(read_table(path), mapping, str(path))
    reasons = dict(zip(loaded.quarantine[c.SOURCE_ROW], loaded.quarantine[c.REASON], strict=True))
    assert reasons == {2: "duplicate_user_id", 3: "unparseable_signup_time"}
    users = loaded.frame
    assert users[c.USER_ID].tolist() == ["u1", "u3", "u4"]
    assert users[c.CHANNEL].tolist() == ["organic", "referral", "social"]
    assert users["plan"].tolist() == ["free", "pro", "free"]
    assert pd.isna(users[c.SIGNUP_TIME].iloc[2])  # no sign-up time is allowed, not bad


def test_count_only_frame_with_amount_default_and_kept_repeats(tmp_path: Path) -> None:
    path = write(tmp_path, "user_id,event_time\nu1,2024-01-01\nu1,2024-01-01\nu2,2024-01-02\n")
    mapping = c.ColumnMapping(default_event_type=c.PURCHASE)
    with pytest.raises(ContractError, match=r"no amount column.*--amount-default 1"):
        load(path, mapping)
    default = load(path, mapping, amount_default=1.0)
    assert default.frame[c.AMOUNT].tolist() == [1.0, 1.0]
    assert default.quarantine[c.REASON].tolist() == ["duplicate_row"]
    assert default.report.notes["amount_defaulted"] == 2
    kept = load(path, mapping, amount_default=1.0, keep_repeats=True)
    assert kept.frame[c.USER_ID].tolist() == ["u1", "u1", "u2"] and kept.quarantine.empty
    assert kept.report.notes["repeats_kept"] == 1 and kept.report.notes["amount_defaulted"] == 3
    with pytest.raises(ValueError, match="amount_default must be a positive number"):
        load(path, mapping, amount_default=0.0)


def test_ids_are_checked_for_spreadsheet_rounding_once_per_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id's quarantine reason and the column's share of rounded ids are one look at the
    ids (the chunk's ids were matched twice: once in parse_ids, once for the column)."""
    from features import id_checks, parsing

    looks: list[int] = []
    rounded_ids = parsing.rounded_ids

    def counted(values: pd.Series) -> pd.Series:
        looks.append(len(values))
        return rounded_ids(values)

    monkeypatch.setattr(id_checks, "rounded_ids", counted)
    monkeypatch.setattr(parsing, "rounded_ids", counted)
    path = write(tmp_path, HEADER + "1.23457E+11,2024-01-01,session,\n7,2024-01-01,session,\n")
    loaded = load(path, max_bad_fraction=0.9)
    assert looks == [2]
    assert loaded.report.reasons == {"invalid_user_id": 1}


def test_float_ids_beyond_exact_integers_are_quarantined_never_wrapped(tmp_path: Path) -> None:
    """A Parquet float id column holding 1.2e20 loaded the user '-9223372036854775808' (the
    float wrapped around int64); a float that large is a rounded id, as 1.23457E+11 is."""
    raw = pd.DataFrame(
        {"user_id": [1.2e20, 17850.0, np.nan], "event_time": "2024-01-01", "event_type": "session"}
    )
    raw.to_parquet(tmp_path / "events.parquet")
    loaded = validate_events(
        read_table(tmp_path / "events.parquet"), c.ColumnMapping(), "e", max_bad_fraction=0.9
    )
    assert loaded.frame[c.USER_ID].tolist() == ["17850"]
    assert loaded.report.reasons == {"invalid_user_id": 1, "missing_user_id": 1}


def test_event_types_that_are_no_text_are_read_as_text_or_quarantined(tmp_path: Path) -> None:
    """A Parquet event_type of bytes loaded b'Purchase' as the unknown type "b'purchase'" (a
    purchase lost to LTV), and one of lists "['a']": bytes are read as UTF-8 text, and a
    list or bytes that are not UTF-8 are invalid_event_type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = pa.array([b"Purchase", b"\xff\xfe", b"session", None], pa.binary())
    table = {"user_id": ["u1", "u2", "u3", "u4"], "event_time": ["2024-01-02"] * 4}
    pq.write_table(pa.table({**table, "event_type": types, "amount": [3.0] * 4}), tmp_path / "b.pq")
    pq.write_table(pa.table({**table, "event_type": [["a"], ["b"], [], None]}), tmp_path / "l.pq")
    loaded = validate_events(
        read_table(tmp_path / "b.pq"), c.ColumnMapping(), "b", max_bad_fraction=0.9
    )
    assert loaded.frame[c.EVENT_TYPE].tolist() == ["purchase", "session"]
    assert loaded.report.reasons == {"invalid_event_type": 1, "missing_event_type": 1}
    lists = validate_events(
        read_table(tmp_path / "l.pq"), c.ColumnMapping(), "l", max_bad_fraction=1
    )
    assert lists.frame.empty
    assert lists.report.reasons == {"invalid_event_type": 3, "missing_event_type": 1}


def test_one_row_not_utf8_is_named_by_its_line_and_the_dataset_kept(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One latin-1 byte in a late chunk refused the file naming the column only (which of a
    million rows?): the line is named, its byte escaped, and the dataset keeps its version."""
    from features import reading

    monkeypatch.setenv("LIFECYCLE_INGEST__CHUNK_ROWS", "7")
    monkeypatch.setattr(reading, "CSV_BLOCK_BYTES", 64)  # good chunks staged before the error
    rows = "".join(f"u{i},2024-01-0{i % 9 + 1},session,\n" for i in range(40))
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", str(write(tmp_path, HEADER + rows)), "--dataset", "s"])
    assert first.exit_code == 0, first.output
    before = (home / "datasets" / "s").readlink()
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + rows).encode() + "u9,2024-02-01,caf\xe9,\n".encode("latin-1"))
    result = runner.invoke(main, ["ingest", str(bad), "--dataset", "s", "--append"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error == (
        f"Error: {bad}: column 'event_type' is not UTF-8 text (line 42 reads "
        "'u9,2024-02-01,caf\\xe9,'); give the file's encoding with --encoding (e.g. "
        "--encoding latin-1 or cp1252)"
    )
    assert (home / "datasets" / "s").readlink() == before


def test_the_line_quoted_beside_a_column_not_utf8_is_one_of_that_column(tmp_path: Path) -> None:
    """Bad bytes in several columns: the error named one column and quoted the first bad
    line, whose bad bytes were in another."""
    from features.csv_lines import first_line_not_utf8

    path = tmp_path / "shop.csv"
    path.write_bytes(
        b"user_id,event_time,event_type,note\n"
        b"u1,2024-01-01,session,ok\n"
        + "u2,2024-01-02,session,caf\xe9\n".encode("latin-1")
        + 'u3,2024-01-03,s\xe9ssion,"a, b"\n'.encode("latin-1")
    )
    assert first_line_not_utf8(path, (",", 3)) == (3, "u2,2024-01-02,session,caf\\xe9")
    assert first_line_not_utf8(path, (",", 2)) == (4, 'u3,2024-01-03,s\\xe9ssion,"a, b"')
    assert first_line_not_utf8(path, (",", 0)) is None
    result = CliRunner().invoke(
        main, ["--home", str(tmp_path / "ws"), "ingest", str(path), "--dataset", "s"]
    )
    error = result.stderr.strip().splitlines()[-1]
    column = error.partition("column '")[2].partition("'")[0]
    line = {"note": "3", "event_type": "4"}[column]  # whichever Arrow met first: its own line
    assert f"is not UTF-8 text (line {line} reads " in error, error


def test_rows_of_blank_cells_are_quarantined_but_do_not_refuse_the_file(tmp_path: Path) -> None:
    """A spreadsheet saves rows it once used as ',,,': two good rows and three such made the
    file '3 of 5 rows are bad' (missing_user_id), refused. They are empty_row, counted and
    quarantined, not against the limit; a file of nothing else has no data rows."""
    body = "u1,2024-01-02,session,\n,,,\n , ,,\n,,,\nu2,2024-01-03,session,\n"
    loaded = load(write(tmp_path, HEADER + body))
    assert loaded.frame[c.USER_ID].tolist() == ["u1", "u2"]
    assert loaded.report.reasons == {"empty_row": 3} and loaded.report.rows_read == 5
    assert loaded.quarantine[c.SOURCE_ROW].tolist() == [2, 3, 4]
    with pytest.raises(ContractError, match=r"no data rows: its 2 rows are empty"):
        load(write(tmp_path, HEADER + ",,,\n,,,\n", "empty.csv"))


def test_a_row_out_of_line_and_not_utf8_is_an_encoding_refusal(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """Arrow decodes a row out of line with the header before its handler sees it: a latin-1
    byte there printed 'Exception ignored in ... UnicodeDecodeError' and refused the file as
    'CSV parse error: Expected 4 columns, got 5' (sometimes then 'terminate called', exit 134)."""
    path = tmp_path / "latin.csv"
    path.write_bytes(f"{HEADER}u1,2024-01-02,session,\n".encode() + b"u2,2024-01-02,caf\xe9,,x\n")
    with pytest.raises(ContractError) as refused:
        read_table(path)
    assert str(refused.value) == (
        f"{path}: line 3 is not UTF-8 text (it reads 'u2,2024-01-02,caf\\xe9,,x'); give the "
        "file's encoding with --encoding (e.g. --encoding latin-1 or cp1252)"
    )
    assert not [w for w in recwarn if "Unraisable" in type(w.message).__name__]


def test_a_binary_file_named_csv_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A Parquet file saved as .csv was parsed as rows of binary: an Arrow parse error
    quoting them, and an abort at exit ('terminate called without an active exception')."""
    frame = pd.DataFrame({"user_id": ["u1"], "event_time": ["2024-01-02"], "event_type": ["x"]})
    frame.to_parquet(tmp_path / "events.csv")
    with pytest.raises(ContractError, match=r"is not a text file \(a Parquet file: name it"):
        read_table(tmp_path / "events.csv")
    # a zip archive named .csv is read (an .xlsx, or one CSV in it): a broken one is named so
    (tmp_path / "sheet.csv").write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(ContractError, match=r"sheet.csv: not a whole zip archive"):
        read_table(tmp_path / "sheet.csv")


def test_a_time_column_of_spreadsheet_serial_dates_is_read_as_dates(tmp_path: Path) -> None:
    """A sheet's date column saved unformatted (45292.4375 for 2024-01-01 10:30) was refused
    as 'should hold timestamps (... spreadsheet's serial dates, days since 1899-12-30: format
    the column as dates ...)', though nothing else in it could be a time: every value is
    read as days since 1899-12-30 (Excel's 1900 system), to the millisecond, noted."""
    rows = "u1,45292.4375,session,\nu2,45293,session,\nu3,45300.604166666664,session,\n"
    loaded = load(write(tmp_path, HEADER + rows))
    assert loaded.frame[c.EVENT_TIME].tolist() == [
        pd.Timestamp("2024-01-01 10:30", tz="UTC"),
        pd.Timestamp("2024-01-02", tz="UTC"),
        pd.Timestamp("2024-01-09 14:30", tz="UTC"),
    ]
    assert loaded.report.notes["dates_read_as"]["event_time"]["order"] == "serial"


def test_the_bad_row_limit_counts_in_its_message_only_the_rows_it_judges(tmp_path: Path) -> None:
    """Rows the limit leaves out (empty_row, erased_user) were counted in its headline: '6,675
    of 13,032 rows are bad ... (6,516 missing_user_id, 159 erased_user)' though the limit
    judged 6,516 of 12,873. Now the headline is what was judged, the rest said beside it."""
    body = ",2024-01-01,session,\n" * 3 + ",,,\n" * 2 + "u1,2024-01-01,session,\n"
    with pytest.raises(ContractError) as refused:
        load(write(tmp_path, HEADER + body))
    assert "events.csv: 3 of 4 rows are bad (besides 2 empty_row, not counted), more than " in (
        str(refused.value)
    )
    assert "allowed 50% (3 missing_user_id); first bad row" in str(refused.value)


def test_a_zero_date_is_unparseable_not_out_of_range(tmp_path: Path) -> None:
    """MySQL's zero date '0000-00-00 00:00:00' was quarantined as event_time_out_of_range, as
    if it were a date long ago: it is no date at all. Year 1 stays out of range."""
    body = "u1,0000-00-00 00:00:00,session,\nu2,2024-00-05,session,\nu3,0001-01-01,session,\n"
    loaded = load(write(tmp_path, HEADER + body + "u4,2024-01-02,session,\n"), max_bad_fraction=0.9)
    quarantine = loaded.quarantine
    reasons = dict(zip(quarantine[c.SOURCE_ROW].astype(int), quarantine[c.REASON], strict=True))
    assert reasons == {
        1: "unparseable_event_time",
        2: "unparseable_event_time",
        3: "event_time_out_of_range",
    }


def test_a_subnormal_amount_is_held_back_as_absurd(tmp_path: Path) -> None:
    """An amount of 1e-320 (below any float64 held exactly) loaded, unflagged, as
    9.999889e-321: now an absurd_amount, like one beyond what a number holds to the cent."""
    from features.ingest import ingest_events

    body = "u1,2024-01-02,purchase,1e-320\nu2,2024-01-02,refund,4e-310\n"
    body += "u3,2024-01-02,purchase,0\nu4,2024-01-02,purchase,2.50\nu5,2024-01-03,purchase,1e-9\n"
    summary = ingest_events(write(tmp_path, HEADER + body), tmp_path / "shop")
    assert summary.tables["events"]["reasons"] == {"absurd_amount": 2}
    loaded = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert sorted(loaded[c.USER_ID]) == ["u3", "u4", "u5"]
    note = summary.tables["events"]["notes"]["absurd_amounts"]
    assert note["subnormal"] == {"rows": 2, "below": float(np.finfo(np.float64).tiny)}
    assert "or not zero but below 2.2e-308 (2 rows: a damaged cell, no amount)" in "\n".join(
        summary.lines()
    )


def test_a_blank_cell_is_one_pythons_strip_empties_for_every_character() -> None:
    """is_blank strips in Arrow (one pass, not a Python call per cell): a cell of any one
    character, alone or around a letter, is blank exactly when str.strip empties it."""
    from features.validation import is_blank

    chars = [chr(n) for n in range(0x110000) if not 0xD800 <= n <= 0xDFFF]  # no surrogates
    cells = pd.Series(chars + [f"{ch}a{ch}" for ch in chars] + ["", None], dtype=object)
    expected = [cell is None or not cell.strip() for cell in cells]
    blank = is_blank(cells)
    assert blank.dtype == "boolean" and blank.tolist() == expected
    assert sum(expected) == 29 + 2  # Python's 29 whitespace characters, the empty cell, None


def test_a_typed_columns_checks_read_it_as_its_text_would() -> None:
    """A Parquet file's typed columns (times, numbers, booleans) skip their text, seconds a
    million rows: is_blank, the epoch unit, the date order and the unused-time note each
    answer for the column what they answer for its text (midnight-only naive times have no
    time of day in their text; a zone's '+00:00' has)."""
    from features.parsing import as_text
    from features.time_columns import UNUSED_TIME, note_unused_time
    from features.time_parsing import date_order_evidence, epoch_format
    from features.validation import is_blank

    midnight = pd.Series(pd.to_datetime(["2023-01-31", None, "2023-02-01"]), index=[4, 5, 6])
    columns = {
        "zoned": pd.Series(pd.to_datetime(["2023-01-31 08:00", None], utc=True), name="t"),
        "midnight": midnight,
        "midnight_zoned": midnight.dt.tz_localize("UTC"),
        "every_nat": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[us, UTC]"),
        "seconds": pd.Series([1_600_000_000.0, np.nan]),
        "counts": pd.Series([3, None], dtype="Int64"),
        "flags": pd.Series([True, False]),
        "nullable_flags": pd.Series([True, None], dtype="boolean"),
    }
    for name, values in columns.items():
        text = as_text(values)
        assert is_blank(values).tolist() == is_blank(text).tolist(), name
        assert is_blank(values).dtype == "boolean" and is_blank(values).index.equals(values.index)
        assert epoch_format(values) == epoch_format(text), name
        for typed, written in zip(
            date_order_evidence(values), date_order_evidence(text), strict=True
        ):
            assert typed.tolist() == written.tolist() and typed.index.equals(values.index), name
        notes: list[dict] = []
        for column in (values, text):
            raw = pd.DataFrame({"when": column.reset_index(drop=True), "hour": "14:05"})
            said: dict = {}
            note_unused_time(raw, "when", {"when"}, said, set())
            notes.append(said)
        assert notes[0] == notes[1], name
    said = {}
    note_unused_time(
        pd.DataFrame({"when": midnight, "hour": "14:05"}), "when", {"when"}, said, set()
    )
    assert said == {UNUSED_TIME: {"column": "hour", "beside": "when"}}  # the check still checks
