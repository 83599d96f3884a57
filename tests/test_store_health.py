"""The online store's health checks take a workspace given by a relative path (the default
home is ./workspace)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from features.store_health import discard_damaged_online_store, unreadable


def test_a_relative_store_path_is_checked_and_a_damaged_one_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    whole, damaged = Path("ws/whole.db"), Path("ws/damaged.db")
    whole.parent.mkdir()
    with sqlite3.connect(whole) as connection:
        connection.execute("CREATE TABLE t (x)")
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)

    assert unreadable(whole) is None and discard_damaged_online_store(whole) is None
    assert whole.is_file()
    assert unreadable(damaged)  # the reason, in SQLite's words
    assert discard_damaged_online_store(damaged) and not damaged.exists()
