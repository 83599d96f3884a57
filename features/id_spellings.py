"""Ids held under another spelling of an id asked for: ``josé`` typed on a keyboard (one
character) and ``jose`` + a combining accent as a Mac export writes it, ``Bob`` and ``Bob ``,
``13047`` and ``013047``. Ids are matched exactly (ingest keeps the file's text), so
`forget josé` found nobody and said "not found in any table" while the person's rows stayed:
the other spellings are named, for the operator to erase with the id exactly as held."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from features import contract as c
from lifecycle.sql import identifier, literal

# what tells two spellings of one id apart: case, surrounding spaces, leading zeros, the
# Unicode form of an accent (as ingest's user_ids_spelt_apart groups them)
_KEY = "ltrim(lower(nfc_normalize(trim({}))), '0')"


def other_spellings(tables: Iterable[Path], ids: Iterable[str]) -> dict[str, list[str]]:
    """For each of ``ids``, the ids of ``tables`` (Parquet, with a user_id column) written
    another way; ids with none are left out."""
    import duckdb

    asked = sorted(set(ids))
    files = [str(t) for t in tables if t.is_file()]
    if not asked or not files:
        return {}
    user = identifier(c.USER_ID)
    with duckdb.connect() as con:
        try:
            rows = con.execute(
                "WITH asked AS (SELECT unnest(?::VARCHAR[]) AS id), "
                f"held AS (SELECT DISTINCT CAST({user} AS VARCHAR) AS id "
                f"FROM read_parquet([{', '.join(literal(f) for f in files)}], union_by_name = true)) "
                f"SELECT asked.id, list(DISTINCT held.id ORDER BY held.id) FROM asked JOIN held "
                f"ON {_KEY.format('asked.id')} = {_KEY.format('held.id')} AND asked.id <> held.id "
                "GROUP BY asked.id ORDER BY asked.id",
                [asked],
            ).fetchall()
        except duckdb.Error:  # a table without user ids: nothing to name (the erasure goes on)
            return {}
    others = {asked_id: [h for h in held if h not in asked] for asked_id, held in rows}
    return {asked_id: held for asked_id, held in others.items() if held}


def shown(user_id: str) -> str:
    """An id as it must be typed: quoted, with what does not show escaped ("jose\\u0301")."""
    return json.dumps(user_id)
