"""One ingest, one DuckDB connection: opening one costs ~15 ms of CPU, and an append opened
nine (18% of its CPU); each step now works in a cursor of the ingest's connection, which
holds ingest.memory_limit and spills beside the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from features.duckdb_memory import OutOfMemory
from features.identifiers import users_file_not_features
from features.ingest import ingest_events
from lifecycle.cli import main

HEADER = "user_id,event_time,event_type,amount,order_id,Waehrung,amount_refunded\n"
FIRST = (
    HEADER + "u1,2025-01-01 10:00:00,purchase,10,o1,EUR,0\n"
    "u2,2025-01-02 10:00:00,session,,,,\n"
    "u1,2025-01-05 10:00:00,purchase,5,o2,EUR,0\n"
    "u1,2025-01-05 10:00:00,purchase,5,o2,EUR,0\n"
    "u4,2025-01-05 11:00:00,order_placed,,,,\n"
)
# an append with a late event, a repeat of a held row, an id spelt apart (013 beside 13)
SECOND = (
    HEADER + "u1,2025-01-05 10:00:00,purchase,5,o2,EUR,0\n"
    "u2,2025-01-04 09:00:00,session,,,,\n"
    "u3,2025-01-06 10:00:00,purchase,7,o3,EUR,2\n"
    "013,2025-01-07 10:00:00,session,,,,\n"
    "13,2025-01-07 11:00:00,session,,,,\n"
)
USERS = "user_id,signup_time,channel\nu1,2024-12-01,ads\nu2,2024-12-02,organic\n"
USERS_NEXT = "user_id,signup_time,channel\nu2,2024-12-02,referral\nu3,2025-01-06,ads\n"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every DuckDB connection opened, each the real one (counted, not replaced)."""
    opened: list[Any] = []
    real = duckdb.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append(real(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(duckdb, "connect", counted)
    return opened


def _ingest(tmp_path: Path, name: str, text: str, users: str, mode: str) -> dict[str, Any]:
    """``lifecycle ingest``'s function, with a users file."""
    events, users_file = tmp_path / f"{name}.csv", tmp_path / f"{name}_users.csv"
    events.write_text(text)
    users_file.write_text(users)
    dataset = tmp_path / "workspace" / "datasets" / "shop"
    return ingest_events(events, dataset, users_path=users_file, mode=mode).to_dict()


def test_an_ingest_and_an_append_each_open_one_connection(
    home: Path, tmp_path: Path, connections: list[Any]
) -> None:
    """Every step of both (the file's rules, the repeats, the event types, the amounts, the
    refund and currency columns, the users meeting the events, the merge of events and of
    users, the ids spelt apart, the dataset's range) ran, in one connection each: the old
    code opened 7 for the first alone."""
    first = _ingest(tmp_path, "first", FIRST, USERS, "guard")
    assert len(connections) == 1
    events = first["tables"]["events"]
    assert events["reasons"] == {"duplicate_row": 1}
    assert events["notes"]["other_event_types"] == {"order_placed": [1, 0]}
    assert events["notes"]["currency_in_a_column"]["column"] == "Waehrung"
    assert events["notes"]["users_without_profile"] == 1  # u4

    second = _ingest(tmp_path, "second", SECOND, USERS_NEXT, "append")
    assert len(connections) == 2
    events = second["tables"]["events"]
    assert events["reasons"] == {"already_ingested": 1}
    assert events["notes"]["refunds_in_a_column"]["column"] == "amount_refunded"
    assert events["notes"]["user_ids_spelt_apart"]["example"] == ["013", "13"]
    assert events["notes"]["late_events"] == 1
    assert second["totals"] == {"events": 8, "users": 3}
    assert second["now"]["events"] == 8


def test_the_ingest_command_opens_one_connection(
    home: Path, tmp_path: Path, connections: list[Any]
) -> None:
    """The command around it opens none of its own. With --users it opened a second (~15 ms)
    to judge the users' attributes as features (features.identifiers): they are judged on
    the ingest's connection now, with the same answer."""
    events, users = tmp_path / "events.csv", tmp_path / "users.csv"
    events.write_text(FIRST)
    result = CliRunner().invoke(main, ["--quiet", "ingest", str(events), "--dataset", "shop"])
    assert result.exit_code == 0, result.output
    assert len(connections) == 1
    # an email beside the channel: an attribute that identifies people, no model input
    users.write_text("user_id,signup_time,channel,email\nu1,2024-12-01,ads,a@x.com\n"
                     "u2,2024-12-02,organic,b@x.com\nu4,2024-12-03,ads,c@x.com\n")  # fmt: skip
    result = CliRunner().invoke(
        main,
        ["--json", "ingest", str(events), "--dataset", "shop", "--users", str(users), "--replace"],
    )
    assert result.exit_code == 0, result.output
    assert len(connections) == 2  # the second ingest's one
    said = json.loads(result.stdout)["not_features"]
    assert said == users_file_not_features(home / "datasets" / "shop" / "users.parquet")
    assert list(said) == ["email"], said


def test_the_connection_holds_the_memory_limit_spilling_beside_the_dataset(
    home: Path, tmp_path: Path, connections: list[Any]
) -> None:
    """ingest.memory_limit is the one connection's: its spill folder is beside the dataset
    while the file is read, and gone after (the old code set it on the rules' connection
    only, spilling inside the version being written)."""
    events = tmp_path / "events.csv"
    events.write_text(FIRST)
    datasets = home / "datasets"
    seen: list[list[str]] = []

    def progress(table: str, rows: int) -> None:
        seen.append(sorted(p.name for p in datasets.iterdir() if ".spill." in p.name))

    ingest_events(events, datasets / "shop", memory_limit="64MB", progress=progress)
    assert seen and all(len(spill) == 1 and spill[0].startswith(".shop.spill.") for spill in seen)
    assert not [p for p in datasets.iterdir() if ".spill." in p.name]
    assert len(connections) == 1


def test_an_ingest_out_of_memory_says_so_in_one_line_naming_the_setting(
    home: Path, tmp_path: Path
) -> None:
    """Too little for DuckDB to spill its way through: the setting named, not DuckDB's
    exception (the old code raised it), and no spill folder or version left."""
    events = tmp_path / "events.csv"
    events.write_text(FIRST)
    datasets = home / "datasets"
    with pytest.raises(OutOfMemory) as refused:
        ingest_events(events, datasets / "shop", memory_limit="1MB")
    said = str(refused.value)
    assert "\n" not in said and "ingest.memory_limit = '1MB'" in said, said
    assert "LIFECYCLE_INGEST__MEMORY_LIMIT" in said, said
    assert sorted(p.name for p in datasets.iterdir()) == [".versions"]
    assert list((datasets / ".versions").iterdir()) == []
