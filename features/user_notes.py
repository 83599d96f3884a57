"""The report notes of a load that name users: those every row of whom was quarantined
(``users_only_quarantined``), a users file's users without events, the quarantine reasons
that leave a row no id to trust, and the notes whose examples are user ids (``forget``
takes the erased ones out of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.erasure_log import ERASED_USER, ERASED_USER_SPELLING
from features.id_spellings import SPELT_APART
from features.quarantine import EMPTY_ROW, TOTALS_ROW
from features.read_words import EXTRA_FIELDS, LINE_ITEM, MISSING_FIELDS
from lifecycle.sql import identifier, literal

ONLY_QUARANTINED = "users_only_quarantined"  # report note: {"users", "example"}
# a row quarantined for these has no id to trust (a cell out of line, a header, none), or
# one never to be said (an erased user's)
ID_REASONS = (
    ERASED_USER,
    ERASED_USER_SPELLING,
    "missing_user_id",
    "invalid_user_id",
    "user_id_too_long",
    EMPTY_ROW,
    "repeated_header",
    TOTALS_ROW,
    EXTRA_FIELDS,
    MISSING_FIELDS,
    LINE_ITEM,
)


def users_only_quarantined(
    con: Any, staged: str, row: str, lost: list[np.ndarray], stored_events: Path | None
) -> dict[str, Any]:
    """Users every row of whom was quarantined (or held back), and who are not in the dataset
    an append adds to: their rows are counted by reason, but the user was gone unsaid."""
    import duckdb

    ids = np.concatenate(lost) if lost else np.array([], dtype=object)
    con.register("lost_ids", pd.DataFrame({"u": pd.array(ids, dtype="string")}).dropna())
    uid = identifier(c.USER_ID)
    held = f"SELECT {uid} FROM {staged} WHERE {row} IN (SELECT source_row FROM held_back)"
    loaded = f"SELECT {uid} FROM {staged} WHERE {row} NOT IN (SELECT source_row FROM held_back)"
    gone = f"SELECT DISTINCT u FROM (SELECT u FROM lost_ids UNION ALL {held}) WHERE u NOT IN ({loaded})"
    if stored_events is not None:
        gone += f" AND u NOT IN (SELECT {uid} FROM read_parquet({literal(stored_events)}))"
    try:
        ((users, example),) = con.execute(f"SELECT count(*), min(u) FROM ({gone})").fetchall()
    except duckdb.Error:  # a damaged dataset: the append names it in one line next
        return {}
    finally:
        con.unregister("lost_ids")
    return {ONLY_QUARANTINED: {"users": int(users), "example": str(example)}} if users else {}


WITHOUT_EVENTS = "users_without_events"  # report note of a users file: {"users", "example"}
# the report notes whose examples are user ids: `forget` takes the erased ones out of them
ID_EXAMPLE_NOTES = (ONLY_QUARANTINED, SPELT_APART, WITHOUT_EVENTS)
