"""The backtest's scratch dataset: a dataset's events and users as known at a cutoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features import contract as c
from features.adapters import derived_users
from lifecycle.dataset_kind import read_report
from lifecycle.sql import literal
from lifecycle.workspace import EVENTS_FILE, USERS_FILE


def copy_dataset_until(source: Path, target: Path, cutoff: pd.Timestamp) -> dict[str, Any]:
    """Copy a dataset's events at or before ``cutoff`` and the users known by then.

    Users signed up after the cutoff are dropped; users without a sign-up time stay only
    with an event at or before the cutoff. A users table an adapter derived from the events
    (online_retail's country per customer) is derived again from the copied events:
    the whole log's would tell the features where a customer bought after the cutoff.
    """
    from features.asof import connect

    target.mkdir(parents=True, exist_ok=True)
    at = f"'{cutoff.isoformat()}'::TIMESTAMPTZ"
    events = f"read_parquet({literal(source / EVENTS_FILE)})"
    con = connect()
    con.execute(
        f"COPY (SELECT * FROM {events} WHERE {c.EVENT_TIME} <= {at}) "
        f"TO {literal(target / EVENTS_FILE)} (FORMAT parquet)"
    )
    counted = con.execute(f"SELECT count(*) FROM {events} WHERE {c.EVENT_TIME} <= {at}")
    copied = {"events": counted.fetchone()[0]}
    users_path = source / USERS_FILE
    derived = derived_users(read_report(source), target / EVENTS_FILE)
    if derived is not None:  # of the events up to the cutoff, as their import derived it
        derived.to_parquet(target / USERS_FILE, index=False)
        copied["users"] = len(derived)
    elif users_path.is_file():
        users = f"read_parquet({literal(users_path)})"
        columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {users}").fetchall()}
        seen = f"u.{c.USER_ID} IN (SELECT {c.USER_ID} FROM {events} WHERE {c.EVENT_TIME} <= {at})"
        keep = (
            f"u.{c.SIGNUP_TIME} <= {at} OR (u.{c.SIGNUP_TIME} IS NULL AND {seen})"
            if c.SIGNUP_TIME in columns
            else seen
        )
        query = f"SELECT u.* FROM {users} u WHERE {keep}"
        con.execute(f"COPY ({query}) TO {literal(target / USERS_FILE)} (FORMAT parquet)")
        copied["users"] = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    return copied
