"""Hostile and careless input files and options: each is loaded exactly, quarantined with a
reason, or refused in one line naming what was wrong; never a traceback, never silently
changed. Every load checks that loaded + quarantined = read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from features import contract as c
from features.csv_format import CsvFormat
from features.ingest import ingest_events
from features.loading import Loaded, validate_events, validate_users
from features.reading import read_table
from features.validation import ContractError
from lifecycle.cli import main
from serving.units import dataset_currencies

HEADER = "user_id,event_time,event_type,amount\n"


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(source: Path | pd.DataFrame, mapping: c.ColumnMapping | None = None) -> Loaded:
    raw = read_table(source) if isinstance(source, Path) else source
    loaded = validate_events(raw, mapping or c.ColumnMapping(), "events", max_bad_fraction=0.9)
    return balanced(loaded)


def balanced(loaded: Loaded) -> Loaded:
    report = loaded.report
    assert report.rows_loaded + report.rows_quarantined == report.rows_read
    assert len(loaded.frame) == report.rows_loaded
    assert len(loaded.quarantine) == report.rows_quarantined
    return loaded


def times_of(loaded: Loaded) -> dict[str, pd.Timestamp]:
    """Each loaded user's event time (one event per user in these files)."""
    return dict(zip(loaded.frame[c.USER_ID], loaded.frame[c.EVENT_TIME], strict=True))


def reasons(loaded: Loaded) -> dict[int, str]:
    quarantine = loaded.quarantine
    return dict(zip(quarantine[c.SOURCE_ROW].astype(int), quarantine[c.REASON], strict=True))


def one_line_error(result: Result, *needles: str) -> str:
    """The CLI refused: exit code 1 or 2, no traceback, the message names what was wrong."""
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, result.output
    for needle in needles:
        assert needle in error[0], error[0]
    return error[0]


# -- ids --------------------------------------------------------------------------------


def test_parquet_integer_ids_with_a_null_stay_integers_in_events_and_users(
    tmp_path: Path,
) -> None:
    events = pd.DataFrame(
        {
            "user_id": pd.array([7, 8, None, 7], dtype="Int64"),
            "event_time": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
            "event_type": "session",
        }
    )
    users = pd.DataFrame({"user_id": pd.array([7, 8, None], dtype="Int64")})
    events.to_parquet(tmp_path / "events.parquet")
    users.to_parquet(tmp_path / "users.parquet")
    summary = ingest_events(
        tmp_path / "events.parquet", tmp_path / "shop", users_path=tmp_path / "users.parquet"
    )
    loaded = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert sorted(set(loaded[c.USER_ID])) == ["7", "8"]
    assert sorted(pd.read_parquet(tmp_path / "shop" / "users.parquet")[c.USER_ID]) == ["7", "8"]
    assert summary.tables["events"]["notes"]["users_without_profile"] == 0
    for table, read in (("events", 4), ("users", 3)):
        report = summary.tables[table]
        assert report["rows_read"] == read and report["rows_quarantined"] == 1
        assert report["reasons"] == {"missing_user_id": 1}


def test_parquet_order_ids_of_floats_are_the_integers_a_csv_copy_gives(tmp_path: Path) -> None:
    """pandas writes integer order ids with a null as floats: they were '536365.0', and the
    same orders re-sent as CSV ('536365') loaded again beside them, counted twice."""
    events = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "event_time": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "event_type": "purchase",
            "amount": [5.0, 6.0, 7.0],
            "order_id": [536365.0, None, 7.0],
        }
    )
    events.to_parquet(tmp_path / "events.parquet")
    ingest_events(tmp_path / "events.parquet", tmp_path / "shop")
    loaded = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert loaded[c.ORDER_ID].tolist() == ["536365", pd.NA, "7"]
    copy = events.assign(order_id=events["order_id"].astype("Int64"))
    copy.to_csv(tmp_path / "again.csv", index=False)
    again = ingest_events(tmp_path / "again.csv", tmp_path / "shop", mode="append")
    assert again.tables["events"]["reasons"] == {"already_ingested": 3}
    # a database's NUMERIC(20, 2) order ids: 536365.00 is the order 536365 too
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    numbers = [decimal.Decimal("536365.00"), None, decimal.Decimal("7")]
    table = pa.Table.from_pandas(events.drop(columns="order_id"), preserve_index=False)
    pq.write_table(
        table.append_column("order_id", pa.array(numbers, pa.decimal128(20, 2))),
        tmp_path / "decimal.parquet",
    )
    ingest_events(tmp_path / "decimal.parquet", tmp_path / "numeric")
    loaded = pd.read_parquet(tmp_path / "numeric" / "events.parquet")
    assert loaded[c.ORDER_ID].tolist() == ["536365", pd.NA, "7"]


def test_ids_are_the_text_of_the_source_and_non_scalar_or_long_ids_are_quarantined() -> None:
    long_id = "x" * (c.MAX_USER_ID_CHARS + 1)
    fitting = "y" * c.MAX_USER_ID_CHARS
    raw = pd.DataFrame(
        {
            "user_id": [" sp", "sp", ["a"], {"a": 1}, long_id, fitting, 12.0, True, b"\x00"],
            "event_time": "2024-01-01",
            "event_type": "session",
        }
    )
    loaded = load(raw)
    assert sorted(loaded.frame[c.USER_ID]) == sorted([" sp", "sp", fitting, "12"])
    assert reasons(loaded) == {
        3: "invalid_user_id",
        4: "invalid_user_id",
        5: "user_id_too_long",
        8: "invalid_user_id",
        9: "invalid_user_id",
    }


def test_ids_holding_a_control_character_are_quarantined_never_a_user(tmp_path: Path) -> None:
    """A NUL of a damaged export ('2\\x00') or a line break in a quoted cell made a user of
    its own beside '2', one no list reader or API caller can name."""
    text = HEADER + '2\x00,2024-01-01,session,\n"a\nb",2024-01-01,session,\n2,2024-01-01,session,\n'
    path = tmp_path / "events.csv"
    path.write_bytes(text.encode())
    loaded = load(path)
    assert loaded.frame[c.USER_ID].tolist() == ["2"]
    assert reasons(loaded) == {1: "invalid_user_id", 2: "invalid_user_id"}
    assert loaded.quarantine[c.USER_ID].tolist() == ["2\x00", "a\nb"]  # kept as read


def test_times_holding_a_control_character_are_unparseable_never_read_around_it(
    tmp_path: Path,
) -> None:
    """A NUL of a damaged export inside a date ('2024-01-0\\x002') was skipped by the parser
    and the row loaded as 2 January: a guess. Events and users alike."""
    events = tmp_path / "events.csv"
    events.write_bytes(
        (
            HEADER + "a,2024-01-0\x002,session,\nb,2024-01-03,session,\nc,2024-01-04,session,\n"
        ).encode()
    )
    loaded = load(events)
    assert sorted(loaded.frame[c.USER_ID]) == ["b", "c"]
    assert reasons(loaded) == {1: "unparseable_event_time"}
    users = tmp_path / "users.csv"
    users.write_bytes(b"user_id,signup_time\nb,2024-01-0\x001\nc,2024-01-02\n")
    signed = validate_users(read_table(users), c.ColumnMapping(), "users", max_bad_fraction=0.9)
    assert signed.frame[c.USER_ID].tolist() == ["c"]
    assert reasons(signed) == {1: "unparseable_signup_time"}


def test_an_event_type_holding_a_control_character_is_quarantined(tmp_path: Path) -> None:
    """A quoted line break ('sess\\r\\nion') loaded as an unknown type, kept as unknown types
    are: no one meant it; quarantined as invalid_event_type, counted as the other reasons."""
    text = HEADER + 'u1,2024-01-01,"sess\r\nion",\nu2,2024-01-01,"a\tb",\nu3,2024-01-01,trial,\n'
    loaded = load(write(tmp_path, text))
    assert loaded.frame[c.EVENT_TYPE].tolist() == ["trial"]  # an unknown type is still kept
    assert reasons(loaded) == {1: "invalid_event_type", 2: "invalid_event_type"}
    assert loaded.report.reasons == {"invalid_event_type": 2}


def test_ids_a_spreadsheet_rounded_are_quarantined_or_the_column_refused(tmp_path: Path) -> None:
    """Excel shows 123456789012 as 1.23457E+11: every customer whose id starts so loaded as
    one user. A few such ids are quarantined; a column of them is refused, saying why."""
    rows = "1.23457E+11,2024-01-01,session,\n1.23457E+11,2024-01-02,session,\n"
    others = "".join(f"00{i},2024-01-01,session,\n" for i in range(3))
    loaded = load(write(tmp_path, HEADER + rows + others))
    assert sorted(loaded.frame[c.USER_ID]) == ["000", "001", "002"]
    assert reasons(loaded) == {1: "invalid_user_id", 2: "invalid_user_id"}
    with pytest.raises(
        ContractError,
        match=r"column 'user_id' should hold ids in full, not as a "
        r"spreadsheet shows long numbers .*user_id='1.23457E\+11'",
    ):
        rounded = "".join(f"1.23457E+11,2024-01-{d:02},session,\n" for d in range(1, 11))
        load(write(tmp_path, HEADER + rounded + "8,2024-01-01,session,\n", "excel.csv"))


def test_text_null_tokens_are_missing_ids_never_a_user(tmp_path: Path) -> None:
    tokens = ["nan", "NaN", "<NA>", "NA", "N/A", "null", "NULL", "None", " nan "]
    body = "".join(f"{t},2024-01-0{i % 9 + 1},session,\n" for i, t in enumerate(tokens))
    loaded = load(write(tmp_path, HEADER + body + "u1,2024-01-01,session,\n"))
    assert loaded.frame[c.USER_ID].tolist() == ["u1"]
    assert reasons(loaded) == dict.fromkeys(range(1, len(tokens) + 1), "missing_user_id")
    users = validate_users(
        read_table(write(tmp_path, "user_id\n<NA>\nnan\nu1\nu2\n", "u.csv")), c.ColumnMapping(), "u"
    )
    assert balanced(users).frame[c.USER_ID].tolist() == ["u1", "u2"]
    assert users.report.reasons == {"missing_user_id": 2}


def test_the_id_limit_is_the_apis() -> None:
    from pydantic import TypeAdapter, ValidationError

    from serving.schemas import UserId

    accepts = TypeAdapter(UserId)
    accepts.validate_python("y" * c.MAX_USER_ID_CHARS)
    with pytest.raises(ValidationError):
        accepts.validate_python("y" * (c.MAX_USER_ID_CHARS + 1))


def test_csv_ids_keep_their_spaces_and_leading_zeros(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + " sp,2024-01-01,session,\nsp,2024-01-01,session,\n007,2024-01-01,session,\n",
    )
    loaded = load(path)
    assert sorted(loaded.frame[c.USER_ID]) == [" sp", "007", "sp"]
    users = balanced(
        validate_users(
            read_table(write(tmp_path, "user_id\n sp\nsp\n", "u.csv")), c.ColumnMapping(), "u"
        )
    )
    assert sorted(users.frame[c.USER_ID]) == [" sp", "sp"]  # two users, not one repeat


# -- amounts ----------------------------------------------------------------------------

AMOUNTS = ["12,5", "1.234,50", "1,2,3", "true", "1,234", "1,234.50", "12.5", "1e3", "$5", "0x10"]


def test_amounts_with_a_possible_decimal_comma_are_ambiguous_never_guessed(tmp_path: Path) -> None:
    body = "".join(f'u{i},2024-01-01,purchase,"{a}"\n' for i, a in enumerate(AMOUNTS))
    loaded = load(write(tmp_path, HEADER + body))
    assert reasons(loaded) == {
        1: "ambiguous_amount",
        2: "ambiguous_amount",
        3: "invalid_amount",
        4: "invalid_amount",
        5: "ambiguous_amount",
        10: "invalid_amount",
    }
    amounts = dict(zip(loaded.frame[c.USER_ID], loaded.frame[c.AMOUNT], strict=True))
    # $5 is 5, its currency not guessed ($ is written for USD, CAD, AUD ...)
    assert amounts == {"u5": 1234.5, "u6": 12.5, "u7": 1000.0, "u8": 5.0}
    assert c.CURRENCY not in loaded.frame.columns


def test_a_zero_written_with_a_comma_is_zero_whichever_mark_the_comma_is(tmp_path: Path) -> None:
    """0,00 was ambiguous_amount (12,5 or 1,234?) though 0.00 and 000 are both zero; the one
    customer whose only order it was vanished from the dataset."""
    zeros = ["0,00", "-0,00", "0.000,00", "0,000", "0 000,00"]
    body = "".join(f'u{i},2024-01-01,purchase,"{a}"\n' for i, a in enumerate(zeros))
    loaded = load(write(tmp_path, HEADER + body + 'u9,2024-01-01,purchase,"0,01"\n'))
    assert loaded.frame[c.AMOUNT].tolist() == [0.0] * 5
    assert reasons(loaded) == {6: "ambiguous_amount"}  # 0,01 is 0.01 or 1: still not guessed


def test_amounts_written_with_their_currency_are_read_and_the_currency_recorded(
    tmp_path: Path,
) -> None:
    """A shop's formatted export writes '£1,234.50' and '-£31.80': every row was refused as
    not a number, with no way through but editing the file. The sign (or ISO code) is read
    apart, the number under the usual rules, and the currency becomes the events'."""
    written = ["£1,234.50", "-£31.80", "(£3.10)", "£0.00", "GBP 7", "12.00 gbp", "£5-"]
    body = "".join(f'u{i},2024-01-0{i + 1},purchase,"{a}"\n' for i, a in enumerate(written))
    raw = read_table(write(tmp_path, HEADER + body))
    loaded = balanced(
        validate_events(raw, c.ColumnMapping(), "events", allow_negative_amounts=True)
    )
    assert loaded.frame[c.AMOUNT].tolist() == [1234.5, -31.8, -3.1, 0.0, 7.0, 12.0, -5.0]
    assert set(loaded.frame[c.CURRENCY]) == {"GBP"}
    assert loaded.report.notes["amount_currency"] == {
        "column": "amount",
        "written_with": ["£"],
        "currency": "GBP",
        "recorded": True,
        "currency_column": None,
    }
    # a decimal comma after a sign is as ambiguous as without one, and read so when told
    euros = 'u1,2024-01-01,purchase,"€12,50"\nu2,2024-01-02,purchase,"1.234,50 €"\n'
    euros += "u3,2024-01-03,purchase,€5\n"
    european = load(write(tmp_path, HEADER + euros), c.ColumnMapping(decimal_comma=True))
    assert european.frame[c.AMOUNT].tolist() == [12.5, 1234.5, 5.0]
    assert set(european.frame[c.CURRENCY]) == {"EUR"}
    told = {1: "ambiguous_amount", 2: "ambiguous_amount"}
    assert reasons(load(write(tmp_path, HEADER + euros))) == told
    # $ and ¥ name several currencies: the numbers are read, no currency is made up; US$ is one
    dollars = load(
        write(tmp_path, HEADER + "u1,2024-01-01,purchase,$12\nu2,2024-01-02,purchase,3\n")
    )
    assert dollars.frame[c.AMOUNT].tolist() == [12.0, 3.0] and c.CURRENCY not in dollars.frame
    us = load(write(tmp_path, HEADER + "u1,2024-01-01,purchase,US$12\n"))
    assert us.frame[c.CURRENCY].tolist() == ["USD"]
    # a sign that names no currency, or two at once, is no amount
    odd = "u1,2024-01-01,purchase,12 euros\nu2,2024-01-01,purchase,£3 EUR\nu3,2024-01-01,purchase,£4\n"
    assert reasons(load(write(tmp_path, HEADER + odd))) == {
        1: "invalid_amount",
        2: "invalid_amount",
    }


def test_amounts_in_two_currencies_or_some_without_one_are_refused_naming_a_row_of_each(
    tmp_path: Path,
) -> None:
    """One column, one money: '£3' beside '€4' (or '$4': which dollar is unknown), and '£3'
    beside a bare '4' with nothing to say the 4's currency, are refused as the mixed-currency
    refusal is; a currency column says each row's, and a sign against it is quarantined."""
    for other, named in (
        ("€4", "€ from row 2"),
        ("$4", "$ from row 2"),
        ("USD 4", "USD from row 2"),
    ):
        body = f"u1,2024-01-01,purchase,£3\nu2,2024-01-02,purchase,{other}\n"
        with pytest.raises(ContractError) as error:
            load(write(tmp_path, HEADER + body + "u3,2024-01-03,purchase,£5\n"))
        assert str(error.value) == (
            f"events: column 'amount' writes amounts in 2 currencies (£ from row 1, {named}); "
            "summed as one they would make every revenue, LTV and value at risk wrong: ingest "
            "each currency as a dataset of its own (a file per currency)"
        )
    bare = "u1,2024-01-01,purchase,£3\nu2,2024-01-02,purchase,4\nu3,2024-01-03,session,\n"
    with pytest.raises(ContractError) as error:
        load(write(tmp_path, HEADER + bare))
    assert str(error.value) == (
        "events: column 'amount' writes 1 amounts with £ (GBP, from row 1) and 1 without a "
        "currency (e.g. row 2 has amount='4'): write the currency on every amount or on none, or "
        "give each row's in a currency column (--map currency=COLUMN)"
    )
    stated = (
        "user_id,event_time,event_type,amount,Currency\nu1,2024-01-01,purchase,£3,GBP\n"
        "u2,2024-01-02,purchase,4,GBP\nu3,2024-01-03,purchase,€5,GBP\nu4,2024-01-04,purchase,$6,GBP\n"
        "u5,2024-01-05,purchase,£7,\n"
    )
    for mapping in (c.ColumnMapping(), c.ColumnMapping(columns={c.CURRENCY: "Currency"})):
        loaded = load(write(tmp_path, stated), mapping)
        assert loaded.frame[c.AMOUNT].tolist() == [3.0, 4.0, 7.0]
        assert reasons(loaded) == {3: "currency_mismatch", 4: "currency_mismatch"}
    # the mapped column's blank is the sign's currency
    assert loaded.frame[c.CURRENCY].tolist() == ["GBP", "GBP", "GBP"]


def test_a_column_grouping_thousands_with_a_point_is_seen_through_its_currency_signs(
    tmp_path: Path,
) -> None:
    """'€1.785' beside '€950' (a European export: 1,785 euros): the pass that tells a column
    grouping thousands with a point did not read the sign apart, took '€950' for a number no
    such writer writes, and 1.785 was stored for 1785. It reads the numbers as the amount
    parser does: signs and an accounting minus apart."""
    body = "u1,2024-01-01,purchase,€950\nu2,2024-01-02,purchase,€1.785\n"
    body += "u3,2024-01-03,purchase,2.500 €\nu4,2024-01-04,refund,(€35)\n"
    events = write(tmp_path, HEADER + body)
    ingest_events(events, tmp_path / "shop", max_bad_fraction=0.9, allow_negative_amounts=True)
    loaded = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert loaded[c.AMOUNT].tolist() == [950.0, -35.0]
    quarantine = pd.read_csv(tmp_path / "shop" / "quarantine" / "events.csv", dtype=str)
    assert quarantine[c.REASON].tolist() == ["ambiguous_amount"] * 2
    told = c.ColumnMapping(decimal_comma=True)
    ingest_events(events, tmp_path / "dc", mapping=told, allow_negative_amounts=True)
    loaded = pd.read_parquet(tmp_path / "dc" / "events.parquet")
    assert loaded[c.AMOUNT].tolist() == [950.0, 1785.0, 2500.0, -35.0]
    assert set(loaded[c.CURRENCY]) == {"EUR"}


def test_the_currency_is_recorded_from_the_first_chunk_that_shows_it(tmp_path: Path) -> None:
    """A file whose first chunk (100,000 rows) holds no amount and whose '£' comes later: the
    currency was decided on the first chunk, so none was recorded. Every chunk's rows carry
    their sign's currency; a later chunk of another sign is refused as before."""
    body = "".join(f"u{i},2024-01-0{i},session,\n" for i in range(1, 4))
    body += "u4,2024-01-04,purchase,£3\nu5,2024-01-05,purchase,0\nu6,2024-01-06,purchase,£5\n"
    events = write(tmp_path, HEADER + body)
    summary = ingest_events(events, tmp_path / "shop", chunk_rows=2)
    loaded = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert loaded[c.CURRENCY].fillna("").tolist() == ["", "", "", "GBP", "", "GBP"]
    assert "written with £: read as GBP, the dataset's currency" in "\n".join(summary.lines())
    euros = write(tmp_path, HEADER + body.replace("£5", "€5"), "euros.csv")
    with pytest.raises(ContractError, match=r"2 currencies \(£ from row 4, € from row 6\)"):
        ingest_events(euros, tmp_path / "euros", chunk_rows=2)


def test_signed_amounts_appended_to_a_dataset_of_bare_ones_are_read_as_its_numbers(
    tmp_path: Path,
) -> None:
    """A month exported with '£' appended to a dataset ingested from bare numbers was refused
    as adding a column ('currency'). Its amounts were always one unnamed money: the append
    loads, the dataset still records no currency (nothing guessed for its earlier rows), and
    the summary says so with the way to record one; a replace would drop nothing, and says
    --append adds the file."""
    first = write(tmp_path, HEADER + "u1,2024-01-01,purchase,3\nu2,2024-01-02,purchase,0\n")
    ingest_events(first, tmp_path / "shop")
    later = write(tmp_path, HEADER + "u3,2024-01-03,purchase,£4\n", "later.csv")
    with pytest.raises(ContractError, match=r"with `lifecycle ingest .* --append`"):
        ingest_events(later, tmp_path / "shop", mode="guard")
    summary = ingest_events(later, tmp_path / "shop", mode="append")
    events = tmp_path / "shop" / "events.parquet"
    loaded = pd.read_parquet(events)
    assert loaded[c.AMOUNT].tolist() == [3.0, 0.0, 4.0] and c.CURRENCY not in loaded
    assert dataset_currencies(events) == ()
    assert (
        "amounts in 'amount' written with £: read as numbers, GBP not recorded: dataset 'shop' "
        "records no currency (its amounts so far had none written); to record it for all, "
        "ingest this file with --replace and append the earlier ones after it"
    ) in "\n".join(summary.lines())


def test_a_bare_zero_beside_signed_amounts_leaves_the_datasets_one_currency(
    tmp_path: Path,
) -> None:
    """A bare 0 is zero in every money, so its row (and a session's) holds no currency beside
    the others' GBP: the dataset's currency (lists, the report, /score) is still GBP, and an
    append of such rows is no second currency; a '€' one is."""
    body = "u1,2024-01-01,purchase,£3\nu2,2024-01-02,purchase,0\nu3,2024-01-03,session,\n"
    ingest_events(write(tmp_path, HEADER + body), tmp_path / "shop", chunk_rows=1)
    later = "u4,2024-01-04,refund,0\nu5,2024-01-05,purchase,£5\n"
    ingest_events(write(tmp_path, HEADER + later, "later.csv"), tmp_path / "shop", mode="append")
    events = tmp_path / "shop" / "events.parquet"
    assert pd.read_parquet(events)[c.CURRENCY].fillna("").tolist() == ["GBP", "", "", "", "GBP"]
    assert dataset_currencies(events) == ("GBP",)
    euros = write(tmp_path, HEADER + "u6,2024-01-06,purchase,€5\n", "euros.csv")
    with pytest.raises(ContractError, match=r"2 currencies \(GBP in the dataset, EUR from row"):
        ingest_events(euros, tmp_path / "shop", mode="append")


def test_signed_amounts_append_to_a_dataset_whose_currency_is_an_unmapped_column(
    tmp_path: Path,
) -> None:
    """A dataset whose currency came from an unmapped 'Currency' column (GBP) refused a month
    exported with '£' and no such column: its staged 'currency' was a column the dataset
    lacks ("other columns"). The sign's code goes in the dataset's 'Currency' now: the append
    loads as GBP, and a '€' month is refused as a second currency."""
    first = "user_id,event_time,event_type,amount,Currency\nu1,2024-01-01,purchase,3,GBP\n"
    ingest_events(write(tmp_path, first), tmp_path / "shop")
    later = write(tmp_path, HEADER + "u2,2024-01-02,purchase,£4\n", "later.csv")
    summary = ingest_events(later, tmp_path / "shop", mode="append")
    events = tmp_path / "shop" / "events.parquet"
    loaded = pd.read_parquet(events)
    assert loaded["Currency"].tolist() == ["GBP", "GBP"] and c.CURRENCY not in loaded
    assert dataset_currencies(events) == ("GBP",)
    assert "written with £: read as GBP, the dataset's currency" in "\n".join(summary.lines())
    euros = write(tmp_path, HEADER + "u3,2024-01-03,purchase,€5\n", "euros.csv")
    with pytest.raises(ContractError, match=r"2 currencies \(GBP in the dataset, EUR from row"):
        ingest_events(euros, tmp_path / "shop", mode="append")


def test_one_time_column_mixing_offsets_and_none_is_said_with_the_way_on(tmp_path: Path) -> None:
    """'2011-06-28 08:39:00 +0100' beside '28/06/2011 08:19' (one shop clock) loaded without a
    word: the first converted, the second read as UTC, the orders an hour out of order."""
    body = (
        "u1,2011-06-28 08:39:00 +0100,purchase,1\nu2,28/06/2011 08:19,purchase,2\n"
        "u3,2011-06-28 09:00 Europe/London,purchase,3\nu4,29/06/2011 10:00,purchase,4\n"
    )
    loaded = load(write(tmp_path, HEADER + body))
    assert loaded.report.notes["times_with_and_without_zone"] == {
        "event_time": {
            "with_zone": [2, "row 1 has event_time='2011-06-28 08:39:00 +0100'"],
            "without_zone": [2, "row 2 has event_time='28/06/2011 08:19'"],
            "read_in": "UTC",
        }
    }
    local = load(write(tmp_path, HEADER + body), c.ColumnMapping(timezone="Europe/London"))
    assert times_of(local)["u2"] == pd.Timestamp("2011-06-28 07:19", tz="UTC")  # before u1
    # one kind alone says nothing
    plain = load(write(tmp_path, HEADER + "u1,2011-06-28 08:39:00 +0100,session,\n"))
    assert "times_with_and_without_zone" not in plain.report.notes


def test_decimal_comma_option_reads_european_amounts(tmp_path: Path) -> None:
    body = "".join(f'u{i},2024-01-01,purchase,"{a}"\n' for i, a in enumerate(AMOUNTS[:5]))
    loaded = load(write(tmp_path, HEADER + body), c.ColumnMapping(decimal_comma=True))
    amounts = dict(zip(loaded.frame[c.USER_ID], loaded.frame[c.AMOUNT], strict=True))
    assert amounts == {"u0": 12.5, "u1": 1234.5, "u4": 1.234}
    assert reasons(loaded) == {3: "invalid_amount", 4: "invalid_amount"}


def test_amounts_grouped_by_spaces_are_read_in_either_form(tmp_path: Path) -> None:
    """French and Nordic exports group thousands with a (no-break) space: '1 234,50' was
    invalid_amount even with --decimal-comma. A space groups thousands in either form; its
    decimal comma still needs the option."""
    spaced = ["1 234,50", "1\u00a0234,50", "1\u202f234.50", "1 234", "12 34", "1 234 567,8"]
    body = "".join(f'u{i},2024-01-01,purchase,"{a}"\n' for i, a in enumerate(spaced))
    loaded = load(write(tmp_path, HEADER + body))
    amounts = dict(zip(loaded.frame[c.USER_ID], loaded.frame[c.AMOUNT], strict=True))
    assert amounts == {"u2": 1234.5, "u3": 1234.0}
    assert reasons(loaded) == {
        1: "ambiguous_amount",
        2: "ambiguous_amount",
        5: "invalid_amount",
        6: "ambiguous_amount",
    }
    loaded = load(write(tmp_path, HEADER + body), c.ColumnMapping(decimal_comma=True))
    amounts = dict(zip(loaded.frame[c.USER_ID], loaded.frame[c.AMOUNT], strict=True))
    assert amounts == {"u0": 1234.5, "u1": 1234.5, "u3": 1234.0, "u5": 1234567.8}
    assert reasons(loaded) == {3: "invalid_amount", 5: "invalid_amount"}


def test_a_boolean_amount_column_is_not_numbers(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "event_time": "2024-01-01",
            "event_type": "purchase",
            "amount": [True, False, True],
        }
    ).to_parquet(path)
    with pytest.raises(ContractError, match=r"column 'amount' should hold numbers.*row 1"):
        validate_events(read_table(path), c.ColumnMapping(), str(path))


# -- times ------------------------------------------------------------------------------


def test_zone_words_are_applied_or_quarantined_never_taken_as_utc(tmp_path: Path) -> None:
    stamps = {
        "2024-01-01 10:00:00 EST": "2024-01-01 15:00",
        "2024-01-01 10:00:00 PST": "2024-01-01 18:00",
        "2024-01-01 10:00:00 GMT": "2024-01-01 10:00",
        "2024-01-01 10:00:00 UTC": "2024-01-01 10:00",
        "2024-07-01 10:00:00 Europe/Paris": "2024-07-01 08:00",
        "2024-01-01 10:00:00 UTC+03:00": "2024-01-01 07:00",
        "Mon, 01 Jan 2024 10:00:00 GMT": "2024-01-01 10:00",
        "2024-01-01 10:00:00 CST": None,  # China or US Central
        "2024-01-01 10:00:00 Mars/Olympus": None,
        "2024-01-01 10:00:00 UTC+25": None,  # no clock is 25 hours off
        "2024-01-01T10:00:00+25:00": None,  # these loaded a day off
        "2024-01-01T10:00:00+05:75": None,
        "2024-01-01T10:00:00+14:00": "2023-12-31 20:00",  # Kiribati
        "2024-01-01T10:00:00-12:00": "2024-01-01 22:00",
    }
    body = "".join(f'u{i},"{s}",session,\n' for i, s in enumerate(stamps))
    loaded = load(write(tmp_path, HEADER + body))
    times = times_of(loaded)
    for i, expected in enumerate(stamps.values()):
        if expected is not None:
            assert times[f"u{i}"] == pd.Timestamp(expected, tz="UTC"), i
    assert reasons(loaded) == {
        8: "ambiguous_time_zone",
        9: "unknown_time_zone",
        10: "unknown_time_zone",
        11: "unparseable_event_time",
        12: "unparseable_event_time",
    }


def test_dates_whose_order_does_not_show_are_ambiguous(tmp_path: Path) -> None:
    text = HEADER + "a,01/02/2023,session,\nb,2023-12-31,session,\nc,05/05/2023,session,\n"
    loaded = load(write(tmp_path, text))
    assert reasons(loaded) == {1: "ambiguous_date_order"}
    assert times_of(loaded) == {
        "b": pd.Timestamp("2023-12-31", tz="UTC"),
        "c": pd.Timestamp("2023-05-05", tz="UTC"),
    }
    day_first = load(write(tmp_path, text), c.ColumnMapping(date_order="dayfirst"))
    assert day_first.frame[c.EVENT_TIME].min() == pd.Timestamp("2023-02-01", tz="UTC")
    assert day_first.quarantine.empty
    # A date that shows the order (31/12): the file has one, its 01/02 are not bad rows; it
    # is read in it, as --date-order dayfirst reads it, and the report says why.
    shown = HEADER + "a,01/02/2023,session,\nb,31/12/2023,session,\nc,05/05/2023,session,\n"
    read = load(write(tmp_path, shown))
    told = load(write(tmp_path, shown), c.ColumnMapping(date_order="dayfirst"))
    assert read.quarantine.empty and told.quarantine.empty
    assert (
        times_of(read)
        == times_of(told)
        == {
            "a": pd.Timestamp("2023-02-01", tz="UTC"),
            "b": pd.Timestamp("2023-12-31", tz="UTC"),
            "c": pd.Timestamp("2023-05-05", tz="UTC"),
        }
    )
    assert read.report.notes["dates_read_as"] == {
        "event_time": {
            "order": "dayfirst",
            "example": "row 2 has event_time='31/12/2023'",
            "showing": 1,
            "either_way": 1,  # 05/05 is one date either way
            "either_example": "row 1 has event_time='01/02/2023'",
        }
    }
    assert "dates_read_as" not in told.report.notes
    # Month first the same way (12/31).
    us = HEADER + "a,01/02/2023,session,\nb,12/31/2023,session,\n"
    assert times_of(load(write(tmp_path, us)))["a"] == pd.Timestamp("2023-01-02", tz="UTC")
    # Too few show it to tell the file's order (one 13th among 30 days of the first twelve),
    # or none does (an export of the first twelve days of December): refused, never guessed,
    # nor said to be values that "do not parse".
    few = HEADER + "".join(f"u{i},0{i % 9 + 1}/02/2023,session,\n" for i in range(30))
    few += "z,13/01/2023,session,\n"
    december = HEADER + "".join(f"u{i},{i % 12 + 1:02d}/12/2010,session,\n" for i in range(30))
    for text, said in (
        (
            few,
            r"column 'event_time' writes 1 date day first \(row 31 has "
            r"event_time='13/01/2023'\), too few to tell the file's order: 26 read either way "
            r"\(ambiguous_date_order, e.g. row 1 has event_time='01/02/2023'\): use --date-order",
        ),
        (
            december,
            r"column 'event_time' writes 28 dates that read either way \(day or month first, "
            r"e.g. row 1 has event_time='01/12/2010'\) and none that shows its order: give "
            r"--date-order dayfirst or --date-order monthfirst$",
        ),
    ):
        with pytest.raises(ContractError, match=said):
            load(write(tmp_path, text))


def test_dates_with_dashes_end_in_their_year_not_a_zone_offset(tmp_path: Path) -> None:
    # a grocery export's Date column: 21-07-2015; its '-2015' once read as a UTC offset
    text = HEADER + "a,21-07-2015,purchase,1\nb,01-12-2010,purchase,1\nc,05-05-2015,purchase,1\n"
    read = load(write(tmp_path, text))  # 21-07: day first, so the file is
    assert read.report.notes["dates_read_as"]["event_time"]["order"] == "dayfirst"
    day_first = load(write(tmp_path, text), c.ColumnMapping(date_order="dayfirst"))
    assert times_of(read) == times_of(day_first)
    assert read.quarantine.empty and day_first.quarantine.empty
    assert sorted(day_first.frame[c.EVENT_TIME]) == [
        pd.Timestamp("2010-12-01", tz="UTC"),
        pd.Timestamp("2015-05-05", tz="UTC"),
        pd.Timestamp("2015-07-21", tz="UTC"),
    ]
    offsets = HEADER + "a,01-12-2010 10:00-05:00,session,\nb,2010-12-01T10:00:00+0100,session,\n"
    with_offsets = load(write(tmp_path, offsets), c.ColumnMapping(date_order="dayfirst"))
    assert sorted(with_offsets.frame[c.EVENT_TIME]) == [
        pd.Timestamp("2010-12-01 09:00", tz="UTC"),
        pd.Timestamp("2010-12-01 15:00", tz="UTC"),
    ]
    month_first = HEADER + "a,07-21-2015,purchase,1\nb,01-12-2010,purchase,1\n"
    assert times_of(
        load(write(tmp_path, month_first), c.ColumnMapping(date_order="monthfirst"))
    ) == {
        "a": pd.Timestamp("2015-07-21", tz="UTC"),
        "b": pd.Timestamp("2010-01-12", tz="UTC"),
    }


def test_a_column_showing_both_date_orders_is_refused(tmp_path: Path) -> None:
    text = HEADER + "a,31/12/2023,session,\nb,2023-06-01,session,\nc,12/31/2023,session,\n"
    with pytest.raises(ContractError, match=r"mixes day-first.*row 1.*month-first.*row 3"):
        load(write(tmp_path, text))


def test_a_binary_time_column_is_refused_in_one_line(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {"user_id": ["a", "b"], "event_time": [b"\xff\xfe", b"\x00\x01"], "event_type": "session"}
    ).to_parquet(path)
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "bin"])
    one_line_error(result, "event_time", "timestamps")
    assert not (home / "datasets" / "bin").exists()


def test_json_text_holding_a_lone_surrogate_is_refused_naming_line_and_field(
    home: Path, tmp_path: Path
) -> None:
    """JSON lines whose user_id is "u\\udc80" (half of a UTF-16 pair, escaped: no UTF-8
    text) crashed ingest with a UnicodeEncodeError traceback from pandas' Arrow strings; it
    is refused as a CSV's bytes that are not UTF-8 are. An emoji escaped as its pair loads."""
    event = '{"user_id": %s, "event_time": "2024-01-0%d", "event_type": "session"%s}\n'
    emoji = event % ('"\\ud83d\\ude00"', 1, "")  # the pair: one character, U+1F600
    for given, field in (('"u\\udc80"', "user_id"), ('"a"', "properties.name")):
        path = tmp_path / "events.jsonl"
        nested = ', "properties": {"name": "cut \\ud83d"}' if field != "user_id" else ""
        path.write_text(emoji + event % (given, 2, nested))
        result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "cut"])
        one_line_error(result, f"{path}: line 2, field '{field}'", "\\ud", "not UTF-8")
        assert not (home / "datasets" / "cut").exists()
    path.write_text(emoji)
    done = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "whole"])
    assert done.exit_code == 0, done.output
    events = pd.read_parquet(home / "datasets" / "whole" / "events.parquet")
    assert events[c.USER_ID].tolist() == ["\U0001f600"]


@pytest.mark.timeout(30)
def test_a_named_pipe_is_refused_in_one_line_never_waited_on(home: Path, tmp_path: Path) -> None:
    """`mkfifo events.csv` (to stream an export in): ingest waited for ever, with no writer
    or after the first of its reads had drained the pipe."""
    import os

    pipe = tmp_path / "events.csv"
    os.mkfifo(pipe)
    result = CliRunner().invoke(main, ["ingest", str(pipe), "--dataset", "piped"])
    one_line_error(result, "events.csv: not a regular file (a named pipe")
    assert not (home / "datasets" / "piped").exists()


def test_a_users_file_another_system_wrote_takes_its_own_separator_and_encoding(
    home: Path, tmp_path: Path
) -> None:
    """Events from the shop (',', UTF-8), users from a CRM export (';', cp1252): the users
    file's refusal said 'give --delimiter ;', which then broke the events file."""
    events = write(tmp_path, HEADER + "a,2024-01-03,purchase,5\nb,2024-01-03,purchase,6\n")
    users = tmp_path / "users.csv"
    users.write_bytes(
        "user_id;signup_time;channel\na;2024-01-01;café\nb;2024-01-02;web\n".encode("cp1252")
    )
    ingest = ["ingest", str(events), "--users", str(users), "--dataset", "shop"]
    said = one_line_error(CliRunner().invoke(main, ingest), "users.csv")
    assert said.endswith("give --users-delimiter ';'"), said
    said = one_line_error(CliRunner().invoke(main, [*ingest, "--users-delimiter", ";"]))
    assert "--users-encoding latin-1 or cp1252" in said, said
    done = CliRunner().invoke(
        main, [*ingest, "--users-delimiter", ";", "--users-encoding", "cp1252"]
    )
    assert done.exit_code == 0, done.output
    loaded = pd.read_parquet(home / "datasets" / "shop" / "users.parquet")
    assert loaded[c.CHANNEL].tolist() == ["café", "web"]


def test_a_truncated_gzip_file_is_refused_in_one_line(home: Path, tmp_path: Path) -> None:
    """A .csv.gz cut short (a copy interrupted) printed only 'Aborted!': click took the
    decompressor's EOFError for Ctrl-D."""
    import gzip

    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "a,2024-01-01,session,\n").encode())[:40])
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "cut"])
    one_line_error(result, "events.csv.gz: cannot be read as gz", "ended before")
    assert not (home / "datasets" / "cut").exists()


def test_a_quote_never_closed_is_named_by_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stray quote made the rest of the file one cell: 'straddling object straddles two
    block boundaries (try to increase block size?)', no line, nothing to do about it."""
    from features import reading

    monkeypatch.setattr(reading, "CSV_BLOCK_BYTES", 256)
    rows = "".join(f"u{i},2024-01-02,session,\n" for i in range(40))
    two = "u0,2024-01-02,session,\nu1,2024-01-02,session,\n"
    stray = write(tmp_path, HEADER + two + 'u9,2024-01-02,"session,\n' + rows)
    with pytest.raises(ContractError, match=r"quote opened on line 4 \('u9,2024-01-02,.* never"):
        read_table(stray)
    long = write(tmp_path, HEADER + 'u1,2024-01-02,"' + "x\n" * 400 + '",\n' + rows, "long.csv")
    with pytest.raises(ContractError, match=r"quoted cell of lines 2 to 402 is longer than"):
        read_table(long)


def test_a_compressed_file_of_one_huge_line_is_refused_without_holding_the_line(
    tmp_path: Path,
) -> None:
    """A 1.5 MB .csv.gz (or .zip) unpacking to one line of 1.5 GB took 3.2 GB of memory
    before its refusal: the line-length check read the whole line at once. Now read a block
    at a time: the same one-line refusal, memory far below the line's size."""
    import gzip
    import subprocess
    import sys
    import zipfile

    line_mb = 128
    header = HEADER.encode()
    block = b"\x00" * (1 << 20)
    with gzip.open(tmp_path / "bomb.csv.gz", "wb", compresslevel=1) as packed:
        packed.write(header)
        for _ in range(line_mb):
            packed.write(block)
    archive = zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED)
    with archive, archive.open("bomb.csv", "w") as member:
        member.write(header)
        for _ in range(line_mb):
            member.write(block)
    # peak memory of a fresh process, before and after the read (MB)
    measure = """
import resource, sys
from pathlib import Path
from features.reading import read_table
from features.validation import ContractError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_table(Path(sys.argv[1]))
except ContractError as error:
    print(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    for name in ("bomb.csv.gz", "bomb.zip"):
        path = tmp_path / name
        assert path.stat().st_size < 2 << 20
        run = subprocess.run(
            [sys.executable, "-c", measure, str(path)], capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stderr
        message, grown_mb = run.stdout.splitlines()
        assert message == (
            f"{path}: line 2 is longer than 1 MB, more than the reader takes in one row; is a "
            "cell holding a whole document?"
        )
        assert int(grown_mb) < line_mb / 4, (name, grown_mb)


def test_lookalike_ids_are_named_as_spellings_of_one_id(tmp_path: Path) -> None:
    """'17850.0' in a column of text ids, full-width '\uff11\uff17\uff18\uff15\uff10',
    Cyrillic '\u0410123' and '12,590' each loaded as a user beside 17850, A123 and 12590
    without a word (only ' 17850' and '017850' were counted), and `forget 17850` named none
    of them. Each still loads as the file writes it (it may be another person), and the
    summary, report.json and forget name them, escaped where they look alike."""
    from features.id_spellings import other_spellings

    ids = ["17850", " 17850", "17850.0", "\uff11\uff17\uff18\uff15\uff10", "A123"]
    ids += ["\u0410123", "12,590", "12590", "B7"]
    rows = "".join(f'"{user_id}",2011-01-0{i + 1},session,\n' for i, user_id in enumerate(ids))
    summary = ingest_events(write(tmp_path, HEADER + rows), tmp_path / "shop")
    events = pd.read_parquet(tmp_path / "shop" / "events.parquet")
    assert sorted(events[c.USER_ID]) == sorted(ids)  # none merged
    note = summary.tables["events"]["notes"]["user_ids_spelt_apart"]
    assert (note["ids"], note["groups"]) == (8, 3)
    assert note["example"] == sorted(ids[:4]) and note["more_examples"] == [
        ["A123", "\u0410123"],
        ["12,590", "12590"],
    ]
    line = next(line for line in summary.lines() if "user ids differ" in line)
    assert (
        "(e.g. ' 17850' and '17850' and '17850.0' and '\\uff11\\uff17\\uff18\\uff15\\uff10'; "
        "'A123' and '\\u0410123'; '12,590' and '12590'): each loaded as its own user"
    ) in line
    held = other_spellings([tmp_path / "shop" / "events.parquet"], ["17850", "A123", "12590"])
    assert held == {
        "12590": ["12,590"],
        "17850": [" 17850", "17850.0", "\uff11\uff17\uff18\uff15\uff10"],
        "A123": ["\u0410123"],
    }


def test_a_unicode_text_export_is_read_by_its_byte_order_mark(tmp_path: Path) -> None:
    """Excel's 'Unicode text' is UTF-16 with tabs: read as UTF-8 it was 'the header line is
    one column' and then, with --delimiter tab, "'utf-8' codec can't decode byte 0xff"."""
    import codecs

    text = HEADER.replace(",", "\t") + "u1\t2024-01-01\tpurchase\t1,234.50\n"
    for encoding, bom in (("utf-16", b""), ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32", b"")):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(bom + text.encode(encoding))
        summary = ingest_events(path, tmp_path / encoding, csv=CsvFormat.given("tab", None))
        events = pd.read_parquet(summary.path / "events.parquet")
        assert events[[c.USER_ID, c.AMOUNT]].values.tolist() == [["u1", 1234.5]], encoding


def test_a_byte_order_mark_inside_the_first_names_quotes_is_no_part_of_it(
    tmp_path: Path,
) -> None:
    """'"\ufeffuser_id",...' (quoted after the mark) said "missing column user_id", the mark
    invisible in the message."""
    quoted = ",".join(f'"{name}"' for name in HEADER.strip().split(","))
    path = tmp_path / "quoted.csv"
    path.write_text('"\ufeff' + quoted[1:] + "\nu1,2024-01-01,purchase,12.50\n")
    summary = ingest_events(path, tmp_path / "quoted")
    events = pd.read_parquet(summary.path / "events.parquet")
    assert events[[c.USER_ID, c.AMOUNT]].values.tolist() == [["u1", 12.5]]


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone 'Mars/Olympus'"),
        (["--time-format", "%Q"], "--time-format '%Q'"),
        (["--dataset", "../../escaped"], "'../../escaped'"),
        (["--dataset", ""], "dataset name ''"),
        (
            ["--map", "userid=CustomerID"],
            "'userid' is not a contract column (did you mean user_id?)",
        ),
        (["--map", "user_id=a", "--map", "user_id=b"], "user_id is mapped twice ('a' and 'b')"),
        (["--users-map", "signup=s"], "'signup' is not a contract column"),
        (["--delimiter", ";;"], "--delimiter ';;': expected one character"),
        (["--encoding", "klingon"], "--encoding 'klingon': not a known text encoding"),
        (["--dataset", "a/b"], "'a/b'"),
    ],
)
def test_bad_options_are_one_line_and_write_nothing(
    home: Path, tmp_path: Path, option: list[str], named: str
) -> None:
    path = write(tmp_path, HEADER + "a,2024-01-01,session,\n")
    result = CliRunner().invoke(main, ["ingest", str(path), *option])
    one_line_error(result, named)
    assert not home.exists() or not any((home / "datasets").glob("*"))
    assert not (tmp_path / "escaped").exists() and not (home.parent / "escaped").exists()


def test_other_commands_refuse_unsafe_dataset_names(home: Path) -> None:
    for args in (["features", "build", "--dataset", ""], ["forget", "u1", "--dataset", "../x"]):
        one_line_error(CliRunner().invoke(main, args), "dataset name")


# -- the quarantine's own columns -------------------------------------------------------


def test_user_columns_named_like_ours_never_collide(tmp_path: Path) -> None:
    text = (
        "user_id,event_time,event_type,reason,source_row,__lifecycle_source_row\n"
        "a,2024-01-01,session,why,1,x\n"
        "b,not a time,session,why,2,x\n"
        "a,2024-01-01,session,why,1,x\n"  # an exact repeat of row 1
    )
    loaded = load(write(tmp_path, text))
    assert reasons(loaded) == {2: "unparseable_event_time", 3: "duplicate_row"}
    assert list(loaded.quarantine.columns[:2]) == [c.SOURCE_ROW, c.REASON]
    assert loaded.quarantine["reason.1"].tolist() == ["why", "why"]
    assert loaded.quarantine["source_row.1"].tolist() == ["2", "1"]
    assert loaded.frame["__lifecycle_source_row"].tolist() == ["x"]


def test_a_header_naming_a_contract_column_twice_is_refused(home: Path, tmp_path: Path) -> None:
    """Two 'amount' columns: which holds the amounts is unknown, so the file is refused (a
    CSV once silently took the first; a Parquet file was a traceback). Two columns of
    another name are kept, the second with a suffix."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(*names: str) -> pa.Table:
        values = {"user_id": ["a", "b"], "event_time": ["2024-01-01", "2024-01-02"]}
        extra = {"event_type": ["session"] * 2, "amount": ["1", "2"], "note": ["x", "y"]}
        return pa.table([pa.array({**values, **extra}[n.strip()]) for n in names], names=names)

    twice = ("user_id", "event_time", "event_type", "amount", " amount")
    csv = tmp_path / "twice.csv"
    csv.write_text(",".join(twice) + "\na,2024-01-01,purchase,1,10\n")
    pq.write_table(table(*twice), tmp_path / "twice.parquet")
    for path in (csv, tmp_path / "twice.parquet"):
        result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "twice"])
        one_line_error(result, path.name, "more than one column 'amount'")
    users = write(tmp_path, "user_id,channel,user_id\na,email,b\n", "users.csv")
    good = write(tmp_path, HEADER + "a,2024-01-01,session,\n", "good.csv")
    result = CliRunner().invoke(
        main, ["ingest", str(good), "--users", str(users), "--dataset", "twice"]
    )
    one_line_error(result, "users.csv", "more than one column 'user_id'")
    assert not (home / "datasets" / "twice").exists()

    pq.write_table(
        table("user_id", "event_time", "event_type", "note", "note"), csv.with_suffix(".pq")
    )
    summary = ingest_events(csv.with_suffix(".pq"), tmp_path / "d")
    events = pd.read_parquet(summary.path / "events.parquet")
    assert events[["note", "note.1"]].values.tolist() == [["x", "x"], ["y", "y"]]


def test_a_repeated_header_line_is_quarantined(tmp_path: Path) -> None:
    text = HEADER + "a,2024-01-01,purchase,3\n" + HEADER + "b,2024-01-02,purchase,4\n"
    loaded = load(write(tmp_path, text))
    assert reasons(loaded) == {2: "repeated_header"}
    assert sorted(loaded.frame[c.USER_ID]) == ["a", "b"]


def test_a_totals_line_under_the_rows_is_quarantined_as_such(tmp_path: Path) -> None:
    # a spreadsheet's export ends with its sum: TOTAL, no date, the amounts' sum
    text = (
        HEADER + "a,2024-01-01,purchase,3\nTotal,2024-01-02,purchase,4\n"
        "TOTAL,,,7\n,Grand Total,,7\nSum,,purchase,\n"
    )
    loaded = load(write(tmp_path, text))
    # a user named Total with a time is one; a label beside a word ('purchase') is no sum
    assert reasons(loaded) == {3: "totals_row", 4: "totals_row", 5: "missing_event_time"}
    assert sorted(loaded.frame[c.USER_ID]) == ["Total", "a"]


def test_customers_named_total_or_sum_with_a_date_and_a_blank_cell_are_loaded(
    tmp_path: Path,
) -> None:
    # a purchase log with a country left blank: 'Total' and 'Sum' (a surname) beside a date
    # and an amount were quarantined as totals lines (a totals line has no date)
    text = (
        "customer,date,amount,country\nTotal,2024-01-02 10:00,4.50,\nSum,13.01.2024,9,\n"
        "b,2024-01-03,3,UK\nTOTAL,,,16.50\n"
    )
    mapping = c.ColumnMapping.parse(
        ["user_id=customer", "event_time=date"], default_event_type=c.PURCHASE
    )
    loaded = load(write(tmp_path, text), mapping)
    assert reasons(loaded) == {4: "totals_row"}
    assert sorted(loaded.frame[c.USER_ID]) == ["Sum", "Total", "b"]


def test_a_totals_line_saying_what_it_counts_is_quarantined_as_such(tmp_path: Path) -> None:
    """A report's last line 'Total: 5000 rows' (or 'Summe (EUR)') was no totals label: it was
    quarantined as missing_event_time and counted as a user none of whose rows loaded."""
    text = (
        "customer,date,amount\nb,2024-01-03,3\nTotal: 5000 rows,,16.50\n"
        "Summe (EUR),,16.50\nTotals:,,\n"
    )
    mapping = c.ColumnMapping.parse(
        ["user_id=customer", "event_time=date"], default_event_type=c.PURCHASE
    )
    loaded = load(write(tmp_path, text), mapping)
    assert reasons(loaded) == {2: "totals_row", 3: "totals_row", 4: "totals_row"}
    assert sorted(loaded.frame[c.USER_ID]) == ["b"]


def test_a_repeated_header_or_totals_line_leaves_ids_written_both_ways_one_user(
    tmp_path: Path,
) -> None:
    # measured on online_retail's invoices written so: 1,316 users for 1,050 customers, as
    # the text 'customer_id' and 'TOTAL' made the column one of text ids, 17850.0 not 17850
    events = tmp_path / "orders.csv"
    events.write_text(
        "customer_id,order_date,total\n17850.0,2010-12-01T08:26:00+00:00,139.12\n"
        "customer_id,order_date,total\n17850,2010-12-02T08:26:00Z,22.20\n"
        "13047,2010-12-03T08:26:00-05:00,5\nTOTAL,,166.32\n"
    )
    mapping = c.ColumnMapping.parse(
        ["user_id=customer_id", "event_time=order_date", "amount=total"],
        default_event_type=c.PURCHASE,
    )
    summary = ingest_events(events, tmp_path / "d", mapping=mapping)
    loaded = pd.read_parquet(tmp_path / "d" / "events.parquet")
    assert loaded[c.USER_ID].tolist() == ["17850", "17850", "13047"]
    report = json.loads((tmp_path / "d" / "report.json").read_text())["tables"]["events"]
    assert report["reasons"] == {"repeated_header": 1, "totals_row": 1}
    # the totals line is no customer whose every row was quarantined
    assert "users_only_quarantined" not in report["notes"]
    assert "no row loaded" not in "\n".join(summary.lines())


def test_a_shop_export_is_told_its_amount_and_status_columns(home: Path, tmp_path: Path) -> None:
    # Shopify's orders export, unmapped: the refusal said 'no amount column' beside Total and
    # named 'Name' or 'Email' as the event types; a European one its 'Datum' and 'Betrag'
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "Name,Email,Financial Status,Paid at,Subtotal,Total,Created at\n"
        + "".join(
            f"#{1000 + i},c{i % 3}@example.com,{'refunded' if i % 4 else 'paid'},"
            f"2011-01-0{1 + i} 10:00:00 +0000,{i}.50,{i}.50,2011-01-0{1 + i} 10:00:00 +0000\n"
            for i in range(6)
        )
    )
    error = one_line_error(CliRunner().invoke(main, ["ingest", str(orders)]))
    # its refunds named by the status: the types' maps, not --event-type purchase (which
    # loaded them as purchases)
    assert error.endswith(
        "'Financial Status' holds each row's event type (refunded, paid): --map "
        "event_type='Financial Status' --map-type purchase=paid --map-type refund=refunded "
        "--map amount=Total reads it and 'Total' as the amounts"
    )
    german = tmp_path / "export.csv"
    german.write_text(
        "Kunde;Datum;Betrag;Land\n"
        + "".join(f"1785{i};0{1 + i}.12.2011 14:05;1.234,5{i};Deutschland\n" for i in range(6))
    )
    error = one_line_error(CliRunner().invoke(main, ["ingest", str(german), "--delimiter", ";"]))
    assert error.endswith("if 'Land' holds each row's event type, --map event_type=Land reads it")


def test_a_refund_written_as_a_column_of_the_charge_is_named_never_unsaid(
    tmp_path: Path,
) -> None:
    # Stripe's charges export: 3,548 refunded charges of the real log counted as purchases
    # in full, and nothing said that 'amount_refunded' was not read
    charges = tmp_path / "charges.csv"
    charges.write_text(
        "id,customer,created,amount,Refundable,amount_refunded,refunded,status\n"
        "ch_1,cus_1,2024-01-01T10:00:00Z,12.50,yes,0,false,succeeded\n"
        "ch_2,cus_2,2024-01-02T10:00:00Z,40.00,yes,40.00,true,succeeded\n"
        "ch_3,cus_2,2024-01-03T10:00:00Z,9.00,no,3.00,true,failed\n"
    )  # 'Refundable' (a policy, no refund) was named first: 2 purchases of 'yes'; '1 purchases'
    mapping = c.ColumnMapping.parse(
        ["user_id=customer", "event_time=created", "event_type=status"],
        event_types=c.parse_event_types(["purchase=succeeded"]),
    )
    summary = ingest_events(charges, tmp_path / "d", mapping=mapping)
    notes = json.loads((tmp_path / "d" / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["refunds_in_a_column"] == {
        "column": "amount_refunded",
        "purchases": 1,
        "example": "40.00",
    }
    assert (
        "column 'amount_refunded' holds a refund on 1 purchase (e.g. '40.00') and is not read"
        in "\n".join(summary.lines())
    )
    # no refund in it on a purchase: nothing said
    charges.write_text(charges.read_text().replace("40.00,true", "0,false"))
    summary = ingest_events(charges, tmp_path / "e", mapping=mapping)
    assert "refund on" not in "\n".join(summary.lines())


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[features]\ncutoff_frequency = "nonsense"\n', "features.cutoff_frequency"),
        ('[features]\ncutoff_frequency = "1h"\n', "features.cutoff_frequency"),
        ('[ingest]\nmemory_limit = "1KB"\n', "ingest.memory_limit"),
        ('[features]\nmemory_limit = "1KB"\n', "features.memory_limit"),
        ('[features]\nmemory_limit = "plenty"\n', "features.memory_limit"),
        ("[labels]\nchurn_horizon_days = 100000000\n", "labels.churn_horizon_days"),
        ("[features]\nwindows_days = [0, 30]\n", "features.windows_days"),
        ('[demo]\nstart = "yesterday"\n', "demo.start"),
        ('dataset = "../../escaped"\n', "dataset"),
        ('[dask]\nscheduler = "nonsense"\n', "dask.scheduler"),
        ('[training.gate_metric]\nchurnn = "auc"\n', "training.gate_metric"),
    ],
)
def test_bad_settings_are_refused_at_load_naming_the_field(
    home: Path, toml: str, named: str
) -> None:
    home.mkdir(parents=True)
    (home / "lifecycle.toml").write_text(toml)
    error = one_line_error(CliRunner().invoke(main, ["settings"]), "invalid settings")
    assert error.startswith(f"Error: invalid settings: {named}"), error


# -- erasure ----------------------------------------------------------------------------


def test_forget_reports_ids_it_did_not_find_and_datasets_that_do_not_exist(
    home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + "a,2024-01-01,session,\n sp,2024-01-01,session,\n")
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", str(path), "--dataset", "shop"]).exit_code == 0
    result = runner.invoke(main, ["--json", "forget", "nobody-at-all", "sp"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["not_found"] == ["nobody-at-all", "sp"]  # " sp" is another user
    assert record["total_removed"] == 0
    result = runner.invoke(main, ["forget", "nobody-at-all"])
    assert "forgot 0 users" in result.stdout and "nobody-at-all" in result.stdout
    assert not (home / "erasure_log.jsonl").exists()  # nobody found: nothing logged, no hash
    one_line_error(runner.invoke(main, ["forget", "a", "--dataset", "shopp"]), "'shopp'", "shop")
    assert sorted(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID]) == [
        " sp",
        "a",
    ]
    result = runner.invoke(main, ["--json", "forget", " sp"])
    assert json.loads(result.stdout)["not_found"] == []
    assert pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID].tolist() == [
        "a"
    ]
    counts = json.loads((home / "datasets" / "shop" / "report.json").read_text())["tables"]
    assert counts["events"]["rows_loaded"] == 1 and counts["events"]["rows_erased"] == 1
    assert counts["events"]["rows_read"] == 2


def test_local_times_a_clock_change_skips_or_repeats_are_quarantined(tmp_path: Path) -> None:
    text = (
        HEADER
        + "a,2024-03-31 02:30,session,\nb,2024-10-27 02:30,session,\nc,2024-03-31 03:30,session,\n"
    )
    loaded = load(write(tmp_path, text), c.ColumnMapping(timezone="Europe/Paris"))
    assert reasons(loaded) == {
        1: "nonexistent_or_repeated_local_time",
        2: "nonexistent_or_repeated_local_time",
    }
    assert loaded.frame[c.EVENT_TIME].tolist() == [pd.Timestamp("2024-03-31 01:30", tz="UTC")]


def test_parquet_decimal_and_nullable_integer_amounts_are_numbers(tmp_path: Path) -> None:
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    table = pa.table(
        {
            "user_id": ["a", "b", "c"],
            "event_time": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "event_type": ["purchase", "purchase", "session"],
            "amount": pa.array(
                [decimal.Decimal("12.50"), decimal.Decimal("1000"), None], pa.decimal128(10, 2)
            ),
        }
    )
    pq.write_table(table, path)
    loaded = load(path)
    assert loaded.frame[c.AMOUNT].tolist()[:2] == [12.5, 1000.0]
    assert loaded.quarantine.empty


def test_partial_and_bare_times_never_take_fields_from_today(tmp_path: Path) -> None:
    text = HEADER + "a,January 2024,session,\nb,2024-06,session,\nc,10:00,session,\nd,5,session,\n"
    loaded = load(write(tmp_path, text))
    assert times_of(loaded) == {
        "a": pd.Timestamp("2024-01-01", tz="UTC"),
        "b": pd.Timestamp("2024-06-01", tz="UTC"),
    }
    assert reasons(loaded) == {3: "unparseable_event_time", 4: "unparseable_event_time"}


def test_unsigned_parquet_ids_beyond_int64_with_a_null_stay_exact(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    ids = pa.array([2**64 - 1, None, 5], pa.uint64())
    pq.write_table(
        pa.table({"user_id": ids, "event_time": ["2024-01-01"] * 3, "event_type": ["session"] * 3}),
        path,
    )
    loaded = load(path)
    assert sorted(loaded.frame[c.USER_ID]) == ["18446744073709551615", "5"]
    assert reasons(loaded) == {2: "missing_user_id"}


def test_parquet_float32_amounts_are_the_decimals_written_not_their_binary_noise(
    tmp_path: Path,
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    amounts = [np.float32(139.12), np.float32(22.2), np.float32(-0.0)]
    table = pa.table(
        {
            "user_id": ["a", "b", "c"],
            "event_time": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "event_type": ["purchase"] * 3,
            "amount": pa.array(amounts, pa.float32()),
        }
    )
    pq.write_table(table, path)
    loaded = load(path)
    # the CSV copy's amounts: 139.12, not 139.1199951171875; -0.0 is 0 (no sign to show)
    assert loaded.frame[c.AMOUNT].tolist() == [139.12, 22.2, 0.0]
    assert str(loaded.frame[c.AMOUNT].iloc[2]) == "0.0"


def test_parquet_decimal_ids_of_whole_numbers_are_their_integers(tmp_path: Path) -> None:
    """A database's NUMERIC(20, 0) id column (Spark writes JDBC ids as DecimalType(38, 0))
    was invalid_user_id on every row, and the file refused."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    ids = [decimal.Decimal("12345678901234567890"), decimal.Decimal("17850.00")]
    table = pa.table(
        {
            "user_id": pa.array([*ids, decimal.Decimal("7.50")], pa.decimal128(22, 2)),
            "event_time": ["2024-01-01"] * 3,
            "event_type": ["session"] * 3,
        }
    )
    pq.write_table(table, path)
    loaded = load(path)
    assert loaded.frame[c.USER_ID].tolist() == ["12345678901234567890", "17850"]
    assert reasons(loaded) == {3: "invalid_user_id"}  # 7.50 is no whole number: no id


def _year_of_purchases(typos: dict[int, str], rows: int = 1_200) -> str:
    """A year of purchases, one a few hours apart (2015), with some rows' dates replaced."""
    times = pd.date_range("2015-01-01", periods=rows, freq="7h")
    lines = [
        f"u{i % 97},{typos.get(i + 1, f'{t:%Y-%m-%d %H:%M}')},purchase,{5 + i % 40}\n"
        for i, t in enumerate(times)
    ]
    return HEADER + "".join(lines)


def test_events_a_decade_away_from_every_other_are_isolated_event_time(
    tmp_path: Path,
) -> None:
    """One purchase dated 2025 in a 2015 log (a year typed wrong) made 2025 the dataset's
    today: every user silent for ten years, every churn label one class, nothing said. At
    either end; the rest of the file loads as it was."""
    typos = {7: "2005-03-01 10:00", 1_199: "2025-06-01 10:00"}
    path = write(tmp_path, _year_of_purchases(typos))
    loaded = load(path)
    assert reasons(loaded) == {7: "isolated_event_time", 1_199: "isolated_event_time"}
    assert loaded.frame[c.EVENT_TIME].max() < pd.Timestamp("2016-01-01", tz="UTC")
    note = loaded.report.notes["isolated_event_times"]
    assert note == {
        "column": "event_time",
        "rows": 2,
        "first_row": 7,
        "gap_days": note["gap_days"],
        "rest": "2015-01-01 .. 2015-12-16",
    }
    assert note["gap_days"] >= 3_000
    summary = ingest_events(path, tmp_path / "workspace" / "datasets" / "typo").lines()
    assert any("2 isolated_event_time rows (the first is row 7)" in line for line in summary)


@pytest.mark.parametrize(
    "typos",
    [
        {1_200: "2016-06-01 10:00"},  # a return after 178 days: no silence of a year
        {n: "2017-06-01 10:00" for n in range(1_190, 1_201)},  # 11 rows: more than 0.1% of the file
    ],
)
def test_a_return_after_a_pause_is_no_isolated_time(tmp_path: Path, typos: dict[int, str]) -> None:
    loaded = load(write(tmp_path, _year_of_purchases(typos)))
    assert reasons(loaded) == {}


def test_ids_holding_a_character_nobody_sees_are_invalid(tmp_path: Path) -> None:
    """'bob' + a zero-width space loaded as a second 'bob' (lists, the report and the API
    showed two of them; `forget bob` left one), a right-to-left override showed
    'u1<RLO>gnp.exe' as 'u1exe.png', a byte order mark of joined files hid in front of 'ann'."""
    rows = ["bob", "bob\u200b", "u1\u202egnp.exe", "\ufeffann", "x\u00a0y", "José"]
    path = write(tmp_path, HEADER + "".join(f"{u},2025-03-01 10:00,purchase,5\n" for u in rows))
    loaded = load(path)
    assert reasons(loaded) == {2: "invalid_user_id", 3: "invalid_user_id", 4: "invalid_user_id"}
    assert sorted(loaded.frame[c.USER_ID]) == ["José", "bob", "x\u00a0y"]  # a space shows


def test_quarantine_files_never_hold_a_formula_and_forget_still_finds_the_users(
    home: Path, tmp_path: Path
) -> None:
    """A hostile input's bad rows went to quarantine/<table>.csv as given: an id or cell
    '=1+1', '@SUM(A1)' or '+cmd|...' ran as a formula when an operator opened the file (the
    lists were quoted, the quarantine not). Such cells are quoted with one "'" as in a list
    (a plain number such as a refund's -5 stays), in ingest's and an append's quarantines,
    its rows already held included; `forget` finds the users' quarantined rows as before."""
    hostile = ["=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", "'=2"]
    lines = [f"{user},not a time,purchase,5" for user in hostile]  # unparseable_event_time
    lines += ["u1,2024-01-01,purchase,-5", "u2,2024-01-02,purchase,=7*6", "-2+3,2024-01-02,x,"]
    lines += [f"u{n},2024-01-0{n},purchase,{n}" for n in range(3, 10)]
    events = write(tmp_path, HEADER + "\n".join(lines) + "\n")
    more = write(tmp_path, HEADER + "\n".join([*lines, "u10,2024-01-10,purchase,1"]), "more.csv")
    runner = CliRunner()
    for args in (["ingest", str(events)], ["ingest", str(more), "--append", "--dataset=events"]):
        done = runner.invoke(main, ["--quiet", *args])
        assert done.exit_code == 0, done.output
    folder = home / "datasets" / "events" / "quarantine"
    files = {file.name: file for file in folder.glob("*.csv")}
    assert sorted(files) == ["events-already_ingested-1.csv", "events-append-1.csv", "events.csv"]
    for file in files.values():
        cells = pd.read_csv(file, dtype=str, keep_default_na=False).to_numpy().ravel()
        formulas = [v for v in cells if v.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert formulas in ([], ["-5"]), (file.name, formulas)
    first = pd.read_csv(files["events.csv"], dtype=str, keep_default_na=False)
    quoted = ["'=1+1", "'@SUM(A1)", "'+cmd|' /C calc'!A0", "''=2"]
    assert first[c.USER_ID].tolist() == [*quoted, "u1", "u2"]
    assert first[c.AMOUNT].tolist()[4:] == ["-5", "'=7*6"]  # a number stays, a formula not
    held = pd.read_csv(files["events-already_ingested-1.csv"], dtype=str, keep_default_na=False)
    assert "'-2+3" in held[c.USER_ID].tolist()
    done = runner.invoke(main, ["--quiet", "forget", "--", "=1+1", "'=2", "-2+3"])
    assert done.exit_code == 0, done.output
    for name in ("events.csv", "events-append-1.csv"):
        left = pd.read_csv(files[name], dtype=str, keep_default_na=False)
        assert left[c.USER_ID].tolist() == ["'@SUM(A1)", "'+cmd|' /C calc'!A0", "u1", "u2"]
    held = pd.read_csv(files["events-already_ingested-1.csv"], dtype=str, keep_default_na=False)
    assert "'-2+3" not in held[c.USER_ID].tolist() and len(held) == 7


def test_spreadsheet_safe_quotes_text_cells_as_quoted_does_one_by_one() -> None:
    """spreadsheet_safe finds a string column's formula-like cells in Arrow and quotes only
    those: the table is the one :func:`quoted` makes cell by cell, for cells built from the
    marks, quotes, digits and spaces a formula or a number starts with, and NA."""
    import random

    from features.spreadsheet_cells import quoted, spreadsheet_safe, text_columns

    marks = ["=", "+", "-", "@", "\t", "\r", "'", "1", ".", "e", "a", " ", "\n", "é", "\u3000"]
    draw = random.Random(44)
    cells = ["".join(draw.choices(marks, k=draw.randint(0, 5))) for _ in range(20_000)]
    index = pd.RangeIndex(7, 7 + len(cells) + 1)  # not 0..n: cells are placed by label
    table = pd.DataFrame(
        {
            "text": pd.Series([*cells, None], index=index, dtype="string"),
            "cells": pd.Series([*cells, None], index=index, dtype=object),
            "number": pd.Series(range(len(cells) + 1), index=index),
        }
    )
    one_by_one = table.copy()
    for column in text_columns(one_by_one):
        one_by_one[column] = one_by_one[column].map(quoted)
    assert (one_by_one["text"] != table["text"].astype(object)).sum() > 1_000  # some quoted
    pd.testing.assert_frame_equal(spreadsheet_safe(table), one_by_one, check_exact=True)


def test_a_damaged_feast_registry_is_one_line_naming_it_and_the_way_back(
    trained_copy: Path,
) -> None:
    """A registry.db of garbage bytes: score-all, `features apply` and the service's model
    load failed with protobuf's DecodeError traceback, and a list computing reasons too.
    Now each is one line (the list a note) naming the file and the way back, which works:
    the file deleted, `features apply` writes it again and score-all scores."""
    from features.store import store_paths
    from lifecycle.settings import load_settings
    from lifecycle.workspace import LATEST_SCORES
    from serving.batch import read_scores, write_scores
    from serving.errors import ApiError
    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ={})
    registry = store_paths(settings).repo.resolve() / "registry.db"
    registry.write_bytes(b"\xff" * 64)
    said = (
        f"the Feast registry {registry} is damaged, Feast cannot read it (Error parsing "
        "message with type 'feast.core.Registry': Wire format was corrupt): delete it, then "
        "`lifecycle features apply --dataset demo` writes it again from the feature table"
    )
    home = ["--home", str(trained_copy)]
    for command in (["score-all"], ["features", "apply"], ["features", "show", "u0000001"]):
        assert one_line_error(CliRunner().invoke(main, [*home, *command])) == f"Error: {said}"
    with pytest.raises(ApiError) as refused:
        Scorer(settings).load()
    assert refused.value.message == said
    table = read_scores(trained_copy / "scores" / LATEST_SCORES)
    path = write_scores(
        trained_copy / "elsewhere", table.frame.assign(reasons=None), table.metadata
    )
    listed = CliRunner().invoke(main, [*home, "--json", "at-risk", "--scores", str(path)])
    assert listed.exit_code == 0, listed.output
    count = len(json.loads(listed.stdout)["rows"])
    assert (
        f"{count} listed users without churn reasons: their features as of {table.as_of} cannot be read: {said}"
        in json.loads(listed.stdout)["notes"]
    )
    registry.unlink()
    for command in (["features", "apply"], ["score-all"]):
        result = CliRunner().invoke(main, [*home, "--quiet", *command])
        assert result.exit_code == 0, result.output


def test_a_gzip_file_named_csv_is_read_as_unpacked(home: Path, tmp_path: Path) -> None:
    """Session 54: an export gzipped and saved as orders.csv (a mail attachment, a download
    unpacked by name only) was refused 'is not a text file (gzip-compressed: name it
    .csv.gz)'. No text starts with gzip's bytes, so it is read unpacked, as a .csv.gz is."""
    import gzip

    rows = "u1,2024-01-01,purchase,12.50\nu2,2024-01-02,purchase,3.00\n"
    path = tmp_path / "orders.csv"
    path.write_bytes(gzip.compress((HEADER + rows).encode()))
    result = CliRunner().invoke(main, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "events: 2 rows loaded of 2, 0 quarantined" in result.stdout
    events = pd.read_parquet(home / "datasets" / "orders" / "events.parquet")
    assert events[c.AMOUNT].tolist() == [12.5, 3.0]


def test_a_cp1252_file_read_as_latin1_is_refused_naming_cp1252(home: Path, tmp_path: Path) -> None:
    """Session 54: a shop's cp1252 export (an en dash 0x96, '€' 0x80) ingested with --encoding
    latin-1, the first encoding the UTF-8 refusal suggests, loaded: its products stored
    'PARIS FASHION \\x96 crème brûlée \\x80', control characters, unsaid. Latin-1 has no
    text at 0x80-0x9F, so such a byte is refused naming its line and cp1252; a UTF-8 file
    read so (its '€' is E2 82 AC) is told to drop the option."""
    path = tmp_path / "shop.csv"
    rows = "u1,2024-01-01,purchase,12.50,Café\nu2,2024-01-02,purchase,3.00,Tea \u2013 green €\n"
    path.write_bytes(("user_id,event_time,event_type,amount,product\n" + rows).encode("cp1252"))
    result = CliRunner().invoke(main, ["ingest", str(path), "--encoding", "latin-1"])
    one_line_error(
        result,
        "shop.csv: line 3 holds the byte 0x96, a control character in latin-1 (--encoding "
        "latin-1), which no text holds; if it is Windows' Western text (as Excel saves it), "
        "give --encoding cp1252 (which reads it as '\u2013')",
    )
    assert not (home / "datasets" / "shop").exists()
    read = CliRunner().invoke(main, ["ingest", str(path), "--encoding", "cp1252"])
    assert read.exit_code == 0, read.output
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert events["product"].tolist() == ["Café", "Tea \u2013 green €"]
    # A UTF-8 file told latin-1: its bytes say UTF-8.
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text("user_id,event_time,event_type,amount,product\n" + rows, encoding="utf-8")
    told = CliRunner().invoke(main, ["ingest", str(utf8), "--encoding", "ISO-8859-1"])
    one_line_error(told, "utf8.csv: line 3 holds the byte 0x80", "it reads as UTF-8: drop")
    # latin-1 text (é is 0xE9) still reads as latin-1.
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        ("user_id,event_time,event_type,amount,product\n" + rows[:31]).encode("latin-1")
    )
    fine = CliRunner().invoke(main, ["ingest", str(latin), "--encoding", "latin-1"])
    assert fine.exit_code == 0, fine.output


def test_a_header_repeated_in_another_column_order_is_refused_naming_its_row(
    home: Path, tmp_path: Path
) -> None:
    """Session 54, two exports joined with `cat`, the second saving its columns in another
    order: its header was one row of unparseable_event_time (a user 'user_id' 'with no row
    loaded') and the rows under it loaded into the first header's columns, each product's
    country as its description, unsaid; a second export with a column more quarantined all
    its rows as extra_fields, the file 'loaded'. A row of the header's names in another
    order, or of half of them and others, is refused naming its row and where it differs."""
    first = "user_id,event_time,event_type,amount,product,country\n"
    first += "u1,2024-01-01,purchase,12.50,Tea,UK\nu2,2024-01-02,purchase,3.00,Mug,DE\n"
    swapped = first + "user_id,event_time,event_type,amount,country,product\n"
    swapped += "u3,2024-01-03,purchase,4.00,FR,Cup\n"
    result = CliRunner().invoke(main, ["ingest", str(write(tmp_path, swapped))])
    one_line_error(
        result,
        "events.csv: row 3 is a header again, its columns in another order ('country' where "
        "the first header has 'product'): two files concatenated, the rows under it would be "
        "read into the first header's columns. Ingest each file apart (the later with "
        "--append), or save them with one header",
    )
    assert not (home / "datasets" / "events").exists()
    more = first + "user_id,event_time,event_type,amount,discount,product,country\n"
    more += "u3,2024-01-03,purchase,4.00,0.50,Cup,FR\n"
    result = CliRunner().invoke(main, ["ingest", str(write(tmp_path, more, "more.csv"))])
    one_line_error(
        result, "more.csv: row 3 is a header again, of other columns ('discount' where the "
    )
    # The header repeated as it is stays a quarantined repeated_header, and a product
    # named as a column ('country') is a product.
    same = first + first.splitlines()[0] + "\nu3,2024-01-03,purchase,4.00,country,FR\n"
    loaded = load(write(tmp_path, same, "same.csv"))
    assert loaded.report.reasons == {"repeated_header": 1}
    assert len(loaded.frame) == 3


def test_a_space_separated_log_beginning_each_line_with_a_space_is_read_in_time(
    home: Path, tmp_path: Path
) -> None:
    """CDNOW's lines (` 00001 19970101  1   11.77`, the `lifetimes` wheel's CDNOW_master.txt)
    begin with a space: with --delimiter ' ' the first column has a blank name and every
    first cell is blank, so the check for a header repeated in another order read each row in
    a Python call, over and over: 8,000 lines took over a minute, the 69,659 never ended. Now
    the file's missing columns are said at once (6,000 lines here: well under 20 s)."""
    import time

    lines = [" customer_id  date number_of_cds  dollar_value"]
    lines += [
        f" {i:05d} 199701{1 + i % 28:02d}  {1 + i % 3}   {10 + i % 50}.77" for i in range(6000)
    ]
    path = tmp_path / "CDNOW_master.txt"
    path.write_text("\r\n".join(lines) + "\r\n")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["ingest", str(path), "--delimiter", " "])
    took = time.monotonic() - started
    one_line_error(
        result,
        "CDNOW_master.txt: missing column 'user_id', 'event_time', 'event_type'; the file has: "
        "Unnamed: 0, customer_id, Unnamed: 2, date, number_of_cds, Unnamed: 5, dollar_value.",
    )
    assert took < 20, f"{took:.1f} s to say a file of 6,000 lines lacks its columns"


def test_a_space_separated_log_squeezed_as_told_says_its_lines_begin_with_the_separator(
    home: Path, tmp_path: Path
) -> None:
    """CDNOW squeezed as the refusal above tells (`tr -s ' '`) still begins each line with a
    space: its blank first column is ignored, and the summary said it came from "a separator
    ending every line"; it is one starting every line."""
    lines = [" customer_id date number_of_cds dollar_value"]
    lines += [f" {i:05d} 199701{1 + i % 28:02d} {1 + i % 3} {10 + i % 50}.77" for i in range(60)]
    path = tmp_path / "cdnow-squeezed.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    maps = ["--map", "user_id=customer_id", "--map", "event_time=date"]
    maps += ["--map", "amount=dollar_value", "--event-type", "purchase"]
    result = CliRunner().invoke(
        main, ["ingest", str(path), "--delimiter", " ", *maps, "--dataset", "cdnow"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "    column 'Unnamed: 0' ignored: no name in the header and no value in any row "
        "(a separator starting every line)"
    ) in result.output.splitlines()
