"""A users file given to ingest: its text attributes, its columns' names, and a file that is
no users file at all are judged at ingest, when the file can still be fixed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.loading import validate_events, validate_users
from features.reading import read_table
from lifecycle.cli import main

EVENTS = "user_id,event_time,event_type,amount\nu1,2024-01-02,signup,\nu1,2024-01-03,purchase,5\n"


def test_text_attributes_with_control_characters_are_quarantined_naming_the_column(
    tmp_path: Path,
) -> None:
    """A quoted "paid\\r\\nsearch" channel loaded as a channel of its own (a line break no
    one can type in a segment filter); a tab in another attribute alike."""
    path = tmp_path / "users.csv"
    path.write_bytes(
        b'user_id,channel,plan,seats\nu1,"paid\r\nsearch",a,1\nu2,organic,"x\ty",2\n'
        b"u3,organic,b,3\nu4, paid ,c,4\n"
    )
    loaded = validate_users(read_table(path), c.ColumnMapping(), str(path))
    reasons = dict(zip(loaded.quarantine[c.SOURCE_ROW], loaded.quarantine[c.REASON], strict=True))
    assert reasons == {1: "invalid_channel", 2: "invalid_plan"}
    assert loaded.report.reasons == {"invalid_channel": 1, "invalid_plan": 1}
    assert loaded.frame[c.USER_ID].tolist() == ["u3", "u4"]
    assert loaded.frame[c.CHANNEL].tolist() == ["organic", "paid"]  # stripped, as before
    assert loaded.frame["plan"].tolist() == ["b", "c"]


def test_text_columns_of_bytes_are_read_as_text_or_quarantined(tmp_path: Path) -> None:
    """Parquet currency, order_id and channel columns of bytes: UTF-8 bytes are their text
    (as event types are), bytes that are not UTF-8 or a list are no text: the row is
    quarantined naming the column (it was a UnicodeDecodeError traceback, a list "['o1']")."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    events = {
        c.USER_ID: ["u1", "u2", "u3"],
        c.EVENT_TIME: ["2024-01-02"] * 3,
        c.EVENT_TYPE: ["purchase"] * 3,
        c.AMOUNT: [1.0, 2.0, 3.0],
        c.CURRENCY: pa.array([b"EUR", b"\xff", b"USD"]),
        c.ORDER_ID: pa.array([b"o1", b"o2", b"o\n3"]),
    }
    pq.write_table(pa.table(events), tmp_path / "events.parquet")
    loaded = validate_events(
        read_table(tmp_path / "events.parquet"), c.ColumnMapping(), "e", max_bad_fraction=0.9
    )
    assert loaded.frame[[c.CURRENCY, c.ORDER_ID]].to_dict("records") == [
        {c.CURRENCY: "EUR", c.ORDER_ID: "o1"}
    ]
    assert loaded.report.reasons == {"invalid_currency": 1, "invalid_order_id": 1}

    users = {
        c.USER_ID: ["u1", "u2", "u3"],
        c.CHANNEL: pa.array([b"paid", b"organic", b"\xffx"]),
        "plan": pa.array([b"a", b"b", b"c"]),
        "tags": pa.array([["x"], ["y"], ["z"]]),
    }
    pq.write_table(pa.table(users).drop_columns(["tags"]), tmp_path / "users.parquet")
    pq.write_table(pa.table(users), tmp_path / "tagged.parquet")
    loaded = validate_users(read_table(tmp_path / "users.parquet"), c.ColumnMapping(), "u")
    assert loaded.frame[[c.CHANNEL, "plan"]].to_dict("records") == [
        {c.CHANNEL: "paid", "plan": "a"},
        {c.CHANNEL: "organic", "plan": "b"},
    ]
    assert loaded.report.reasons == {"invalid_channel": 1}
    tagged = validate_users(read_table(tmp_path / "tagged.parquet"), c.ColumnMapping(), "t")
    assert tagged.report.reasons == {"invalid_channel": 1}  # a column of lists is kept as is
    assert tagged.frame["tags"].map(list).tolist() == [["x"], ["y"]]


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    return path


def test_an_events_file_given_as_users_is_refused_naming_it(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """`ingest EVENTS --users EVENTS` loaded event_time and event_type as user attributes;
    a copy of the events file is judged by its columns (the file itself by its path, below)."""
    copy = tmp_path / "users.csv"
    copy.write_text(EVENTS)
    result = CliRunner().invoke(main, ["ingest", str(events_csv), "--users", str(copy)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1:] == [
        f"Error: {copy}: given as the users file, but it has the columns of an events "
        "file (event_time, event_type); a users file holds one row per user: user_id, "
        "optional signup_time and channel, and attributes"
    ]
    assert not (home / "datasets" / "events").exists()


def test_the_events_file_given_as_users_under_mapped_names_is_refused(
    home: Path, tmp_path: Path
) -> None:
    """`ingest EVENTS --users EVENTS --map event_time=ts ...` (names other than the
    contract's) loaded ts, kind and amount as user attributes, once --users-map named its id."""
    events = tmp_path / "log.csv"
    events.write_text(EVENTS.replace("user_id,event_time,event_type", "uid,ts,kind"))
    maps = ["--map", "user_id=uid", "--map", "event_time=ts", "--map", "event_type=kind"]
    for users in (["--users-map", "user_id=uid"], []):
        args = ["ingest", str(events), *maps, "--users", str(events), *users]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines()[-1:] == [
            f"Error: {events}: given as the users file, but it is the events file; a users "
            "file holds one row per user: user_id, optional signup_time and channel, and "
            "attributes"
        ]
    assert not (home / "datasets" / "log").exists()
    events.write_text(EVENTS)  # contract names: the same file is named so too
    result = CliRunner().invoke(main, ["ingest", str(events), "--users", str(events)])
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "but it is the events file; a "
            "users file holds one row per user: user_id, optional signup_time and channel, and "
            "attributes"
        )
    )


def test_a_users_attribute_named_as_a_feature_is_refused_at_ingest(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """A users column named orders_30d (or as_of) was refused only at `features build`; with
    other windows (orders_7d) it would clash then too. The dataset stays as it was."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,plan\nu1,a\n")
    runner = CliRunner()
    args = ["ingest", str(events_csv), "--dataset", "shop", "--users", str(users)]
    assert runner.invoke(main, args).exit_code == 0
    users.write_text("user_id,plan,orders_7d,as_of\nu1,a,3,x\n")
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1:] == [
        f"Error: {users}: column 'orders_7d' is named as a feature the feature table computes "
        "(orders_7d, as_of); rename the column in the users file, e.g. 'user_orders_7d'"
    ]
    kept = pd.read_parquet(home / "datasets" / "shop" / "users.parquet")
    assert kept.columns.tolist() == [c.USER_ID, "plan"]


def test_a_users_attribute_named_as_a_scores_column_is_refused_at_ingest(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """A users column named segment or ltv was a model input, then silently gone from scores
    and lists: score_users' copy of the attribute overwrote the RFM segment (a score wins
    over an attribute of its name the other way round)."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,plan,segment,ltv_model_version\nu1,a,gold,3\n")
    args = ["ingest", str(events_csv), "--dataset", "shop", "--users", str(users)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1:] == [
        f"Error: {users}: column 'segment' is named as a column of the scores table (segment, "
        "ltv_model_version); rename the column in the users file, e.g. 'user_segment'"
    ]
    assert not (home / "datasets" / "shop").exists()
    users.write_text("user_id,plan,user_segment,channel\nu1,a,gold,organic\n")
    assert CliRunner().invoke(main, args).exit_code == 0  # the hint works


def test_a_users_file_without_its_id_column_names_users_map(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """A users file keyed 'User ID' said 'Map them with --map user_id=User ID', which maps
    the events file's columns (it then lacked user_id): the users file's option is --users-map."""
    users = tmp_path / "users.csv"
    users.write_text("User ID,channel\nu1,organic\n")
    result = CliRunner().invoke(main, ["ingest", str(events_csv), "--users", str(users)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {users}: missing column 'user_id'; the file has: User ID, channel. Map them "
        "with --users-map 'user_id=User ID'"
    )
    args = ["ingest", str(events_csv), "--users", str(users), "--users-map", "user_id=User ID"]
    assert CliRunner().invoke(main, args).exit_code == 0  # the hint works


def test_a_column_named_as_a_contract_column_mapped_from_another_is_refused(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """`--users-map signup_time=created` of a file with a 'signup_time' column too dropped
    that column without a word (the events' --map alike)."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,created,signup_time\nu1,2024-01-01,2023-05-05\n")
    args = ["ingest", str(events_csv), "--users", str(users)]
    result = CliRunner().invoke(main, [*args, "--users-map", "signup_time=created"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {users}: has a column 'signup_time', and --users-map signup_time=created takes "
        "signup_time from 'created': rename or drop one of them"
    )
    assert not (home / "datasets" / "events").exists()


def test_dictionary_encoded_text_columns_are_read_as_the_plain_ones(tmp_path: Path) -> None:
    """Parquet dictionary columns of bytes (pandas' categoricals): an event type not UTF-8
    was a UnicodeDecodeError traceback, and a note or a users plan loaded as bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def encoded(values: list[bytes]) -> pa.Array:
        return pa.array(values, pa.binary()).dictionary_encode()

    events = {
        c.USER_ID: ["u1", "u2", "u3"],
        c.EVENT_TIME: ["2024-01-02"] * 3,
        c.EVENT_TYPE: encoded([b"Purchase", b"\xff", b"session"]),
        c.AMOUNT: [1.0, 2.0, 3.0],
        "note": encoded([b"a", b"b", b"c"]),
    }
    pq.write_table(pa.table(events), tmp_path / "events.parquet")
    loaded = validate_events(read_table(tmp_path / "events.parquet"), c.ColumnMapping(), "e")
    assert loaded.report.reasons == {"invalid_event_type": 1}
    assert loaded.quarantine[c.EVENT_TYPE].tolist() == ["\\xff"]  # shown, escaped
    assert loaded.frame[[c.EVENT_TYPE, "note"]].values.tolist() == [
        ["purchase", "a"],
        ["session", "c"],
    ]
    users = {c.USER_ID: ["u1", "u2"], "plan": encoded([b"x", b"y\tz"])}
    pq.write_table(pa.table(users), tmp_path / "users.parquet")
    loaded = validate_users(read_table(tmp_path / "users.parquet"), c.ColumnMapping(), "u")
    assert loaded.frame["plan"].tolist() == ["x"]
    assert loaded.report.reasons == {"invalid_plan": 1}


def test_a_users_time_refusal_says_its_options_read_the_events_too(
    home: Path, events_csv: Path, tmp_path: Path
) -> None:
    """Sign-up times in epoch seconds beside ISO event times: the refusal said 'use
    --time-format %s', which then refused the events file (one option reads both)."""
    users = tmp_path / "users.csv"
    users.write_text("user_id,signup_time\nu1,1700000000\n")
    result = CliRunner().invoke(main, ["ingest", str(events_csv), "--users", str(users)])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "(these look like seconds since 1970: use --time-format %s), but 1 of 1 filled values "
            "do not parse (e.g. row 1 has signup_time='1700000000'); --time-format and "
            "--date-order read the events file's times too: if those are written otherwise, write "
            "the sign-up times as the events' are"
        )
    )


def test_sign_ups_in_the_future_are_quarantined_as_future_events_are(
    home: Path, tmp_path: Path
) -> None:
    """A sign-up time in the future loaded (the user then in no feature table row until that
    day came, unless it had events), while events in the future were quarantined: a sign-up
    past the events' cut-off (a day past now) is ``signup_time_in_future`` now."""
    now = pd.Timestamp.now(tz="UTC")
    soon, later = (
        (now + pd.Timedelta(hours=12)).isoformat(),
        (now + pd.Timedelta(days=2)).isoformat(),
    )
    events = tmp_path / "events.csv"
    events.write_text(
        f"user_id,event_time,event_type,amount\nu1,2024-01-02,signup,\nu2,{soon},session,\n"
        f"u3,{later},session,\nu3,2024-01-03,session,\n"
    )
    users = tmp_path / "users.csv"
    users.write_text(
        f"user_id,signup_time,channel\nu1,2024-01-01,ads\nu2,{soon},ads\nu3,{later},seo\n"
        "u4,2099-01-01,seo\n"
    )
    result = CliRunner().invoke(main, ["ingest", str(events), "--users", str(users)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    held = home / "datasets" / "events" / "quarantine"  # where to look, said
    assert (
        f"  events: 3 rows loaded of 4, 1 quarantined (1 event_time_out_of_range, in {held})"
        in (lines)
    )
    assert f"  users: 2 rows loaded of 4, 2 quarantined (2 signup_time_in_future, in {held})" in (
        lines
    )
    quarantine = pd.read_csv(home / "datasets" / "events" / "quarantine" / "users.csv", dtype=str)
    assert dict(zip(quarantine[c.SOURCE_ROW], quarantine[c.REASON], strict=True)) == {
        "3": "signup_time_in_future",
        "4": "signup_time_in_future",
    }
    loaded = pd.read_parquet(home / "datasets" / "events" / "users.parquet")
    assert loaded[c.USER_ID].tolist() == ["u1", "u2"]


def test_users_without_events_who_signed_up_after_the_last_event_are_said_so(
    home: Path, tmp_path: Path
) -> None:
    """Trial 114: a monthly export's customers who buy from the next month on were "known
    users who never bought, or ids written another way"; those who signed up after the last
    event are now said so, apart from the others."""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)  # u1's events, the last on 2024-01-03
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,signup_time\nu1,2024-01-01\nu2,2023-12-01\nu3,2024-02-01\nu4,2024-02-02\n"
    )
    done = CliRunner().invoke(main, ["ingest", str(events), "--users", str(users)])
    assert done.exit_code == 0, done.output
    assert (
        "    3 users of the users file have no event: 2 signed up after the last event "
        "(2024-01-03): a later file may bring their orders; the other 1 (e.g. 'u2'): known "
        "users who never bought, or ids written another way\n"
    ) in done.stdout
