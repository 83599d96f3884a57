"""How a users table and the events meet: users with events but no profile, users of the
table with no event, and a users file whose ids meet none of the events' (written another
way), refused before it doubles the population."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.duckdb_memory import cursor
from features.hints import option_hint
from features.validation import ContractError
from lifecycle.errors import offered
from lifecycle.sql import literal

if TYPE_CHECKING:
    import duckdb


def ids_apart(
    events_file: Path,
    users_file: Path,
    among: Collection[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """Distinct users with events but no row in the users table, and users of the table with
    no event, each with the first id as an example; ``among``: of those ids only, on both
    sides (the users an erasure removes, ``features.erasure_reports``: the events' other
    users are never collected). ``con``: the ingest's connection."""
    import pyarrow as pa

    only = "" if among is None else " WHERE CAST(user_id AS VARCHAR) IN (SELECT * FROM among)"
    events = f"(SELECT DISTINCT user_id FROM read_parquet({literal(events_file)}){only})"
    users = f"(SELECT DISTINCT user_id FROM read_parquet({literal(users_file)}){only})"
    with cursor(con) as con:
        con.register("among", pa.table({"user_id": pa.array(sorted(among or ()), pa.string())}))
        ((without_profile, example_without_profile, events_users),) = con.execute(
            f"SELECT count(*) FILTER (WHERE user_id NOT IN {users}), "
            f"min(user_id) FILTER (WHERE user_id NOT IN {users}), count(*) FROM {events}"
        ).fetchall()
        ((without_events, example_without_events, users_rows),) = con.execute(
            f"SELECT count(*) FILTER (WHERE user_id NOT IN {events}), "
            f"min(user_id) FILTER (WHERE user_id NOT IN {events}), count(*) FROM {users}"
        ).fetchall()
        later = (
            _signed_up_later(con, events_file, users_file, events, only) if without_events else {}
        )
    return later | {
        "events_users": int(events_users),
        "users": int(users_rows),
        "without_profile": int(without_profile),
        "example_without_profile": example_without_profile,
        "without_events": int(without_events),
        "example_without_events": example_without_events,
    }


LATER_KEYS = ("signed_up_later", "example_not_later", "last_event")  # what ids_apart adds


def _signed_up_later(
    con: Any, events_file: Path, users_file: Path, events: str, only: str = ""
) -> dict[str, Any]:
    """Of the users of the table with no event, those who signed up after the last event (a
    monthly export's customers who buy from the next month on: not "never bought", trial
    114), with the day of that event and an example of the others; nothing without sign-up
    times."""
    import pyarrow.parquet as pq

    if c.SIGNUP_TIME not in pq.read_schema(users_file).names:
        return {}
    last = f"(SELECT max({c.EVENT_TIME}) FROM read_parquet({literal(events_file)}))"
    ((later, example_other, last_event),) = con.execute(
        f"SELECT count(*) FILTER (WHERE {c.SIGNUP_TIME} > {last}), "
        f"min(user_id) FILTER (WHERE {c.SIGNUP_TIME} IS NULL OR {c.SIGNUP_TIME} <= {last}), "
        f"strftime({last}, '%Y-%m-%d') "
        f"FROM (SELECT * FROM read_parquet({literal(users_file)}){only}) "
        f"WHERE user_id NOT IN {events}"
    ).fetchall()
    return {
        "signed_up_later": int(later),
        "example_not_later": example_other,
        "last_event": last_event,
    }


def refuse_users_of_no_events(apart: dict[str, Any], users_source: str, source: str) -> None:
    """A users file none of whose ids is a user of the events writes its ids another way
    ('C12346' for 12346, a padded or spaced id): loaded, it doubled the population with
    users who never bought, and left every buyer without a profile."""
    if apart["users"] and apart["events_users"] and apart["without_events"] == apart["users"]:
        raise ContractError(
            f"{users_source}: none of its {apart['users']:,} users is a user of the events "
            f"({source}): e.g. user_id {apart['example_without_events']!r} in the users file, "
            f"{apart['example_without_profile']!r} in the events; write the ids one way in "
            "both files"
            + option_hint(", or map the users file's id column with --users-map user_id=COLUMN"),
            ("--users-map user_id=COLUMN",) if offered("--users-map") else (),
        )
