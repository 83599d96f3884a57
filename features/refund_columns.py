"""A refund written as a column of the purchase row (Stripe's charges export:
``amount_refunded``, ``refunded``; Shopify's ``Refunded Amount``), which the contract does not
read: money going back counts only as a row of type refund, so such a file's refunds would
count nowhere unsaid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.duckdb_memory import cursor
from lifecycle.sql import identifier, literal
from lifecycle.words import counted

if TYPE_CHECKING:
    import duckdb

UNREAD_REFUNDS = "refunds_in_a_column"  # report note: {"column", "purchases", "example"}


def unread_refunds(events: Path, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The first extra column of a staged events file named as a refund (``amount_refunded``)
    that holds one on purchase rows (a number above 0, or true/yes), with how many and a
    value as written; empty when there is none. ``con``: the ingest's connection."""
    with cursor(con) as con:
        table = f"read_parquet({literal(events)})"
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        for name in names:
            words = c.snake_case(name)  # 'Refundable', 'non_refundable': a policy, no refund
            contract = name in (*c.EVENT_REQUIRED, *c.EVENT_OPTIONAL)
            if contract or "refund" not in words or "refundable" in words:
                continue
            text = f"trim(CAST({identifier(name)} AS VARCHAR))"
            refunded = (
                f"(TRY_CAST(replace({text}, ',', '') AS DOUBLE) > 0 "
                f"OR lower({text}) IN ('true', 'yes', 'y'))"
            )
            purchases, example = con.execute(
                f"SELECT count(*), min({text}) FROM {table} "
                f"WHERE {c.EVENT_TYPE} = {literal(c.PURCHASE)} AND {refunded}"
            ).fetchone()
            if purchases:
                return {
                    UNREAD_REFUNDS: {"column": name, "purchases": purchases, "example": example}
                }
    return {}


def unread_refunds_line(note: dict[str, Any]) -> str:
    """The summary line of :func:`unread_refunds`' note."""
    return (
        f"    column '{note['column']}' holds a refund on "
        f"{counted(note['purchases'], ('purchase', 'purchases'))} (e.g. '{note['example']}') "
        "and is not read: those purchases count in full and the money going back nowhere "
        "(revenue, LTV, reasons); write each refund as a row of its own, of type refund with "
        "its amount (as a refunds export writes them)"
    )
