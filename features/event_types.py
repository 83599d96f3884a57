"""Event types the contract does not know ('order', 'sale', 'return'): kept, and counted as
activity unless ``labels.not_activity_types`` names them (a failed payment), but never as a
purchase or refund, so their amounts count nowhere. A dataset whose money is all on such
types is refused; otherwise the summary names them, the activity apart from the rest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.contract import ContractError
from features.duckdb_memory import cursor
from lifecycle.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

OTHER_TYPES = "other_event_types"  # report note: type -> [rows, rows with an amount]
NO_PURCHASES = "no_purchase_events"  # report note: beside other types, no purchase or refund
NOT_ACTIVITY_NOTE = "not_activity_types"  # report note and batch record: labels.not_activity_types
NOT_ACTIVITY_SETTING = "labels.not_activity_types"
SHOWN = 5  # types named in a line
NOT_ACTIVITY = (c.REFUND,)  # the contract's type that is no activity; a dataset may name more


def not_activity(types: Sequence[str] = ()) -> tuple[str, ...]:
    """The event types that are no activity: refunds, and ``types`` (the setting
    ``labels.not_activity_types``: a failed payment). The one definition recency, last
    activity, active days (hence the stages), the churn label and the backtest read."""
    return (*NOT_ACTIVITY, *sorted(set(types) - set(NOT_ACTIVITY)))


def is_activity(column: str, types: Sequence[str] = ()) -> str:
    """SQL: whether the event type in ``column`` is activity (:func:`not_activity`)."""
    return f"{column} NOT IN ({', '.join(literal(t) for t in not_activity(types))})"


def other_types(
    events: Path, before: Path | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[dict[str, list[int]], int]:
    """The loaded events' types the contract does not know, each with its rows and the rows
    with an amount, most rows first; and the number of purchases and refunds. ``before``:
    the events an append added to: the types are counted over the rows it added (the
    merged table's less the held one's: trial 115 said a June file's 165 rows as the
    dataset's 7,246), the purchases over them all. ``con``: the ingest's connection."""
    found, money = _type_counts(events, con)
    priced = {name: [n, n] for name, (_, n) in found.items() if n}  # the types with amounts
    if not money and priced:
        priced = dict(sorted(priced.items(), key=lambda item: -item[1][0]))
        raise ContractError(
            f"no event is a purchase or refund, but rows of other types carry amounts "
            f"({_shown(priced)} with one): their amounts would count nowhere (LTV, revenue and "
            f"segments read {c.PURCHASE} and {c.REFUND} only); read those types as such with "
            f"--map-type {c.PURCHASE}=TYPE (and {c.REFUND}=TYPE), or write them so in the file",
            (f"--map-type {c.PURCHASE}=TYPE",),
        )
    if before is not None:
        held, _ = _type_counts(before, con)
        added = {
            name: [n - held.get(name, [0, 0])[0], amounts - held.get(name, [0, 0])[1]]
            for name, (n, amounts) in found.items()
        }
        found = dict(sorted(((k, v) for k, v in added.items() if v[0]), key=_most_rows))
    return found, money


def _most_rows(item: tuple[str, list[int]]) -> tuple[int, str]:
    return -item[1][0], item[0]


def _type_counts(
    events: Path, con: duckdb.DuckDBPyConnection | None
) -> tuple[dict[str, list[int]], int]:
    """Each type the contract does not know: [rows, rows with an amount], most rows first;
    and the purchases and refunds."""
    known = ", ".join(f"'{name}'" for name in c.KNOWN_EVENT_TYPES)
    with cursor(con) as con:
        table = con.execute(f"SELECT * FROM read_parquet({literal(events)}) LIMIT 0")
        names = [column[0] for column in table.description]
        amount = f"count({c.AMOUNT})" if c.AMOUNT in names else "0"
        rows = con.execute(
            f"SELECT {c.EVENT_TYPE}, count(*), {amount} FROM read_parquet({literal(events)}) "
            f"WHERE {c.EVENT_TYPE} NOT IN ({known}) GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        (money,) = con.execute(
            f"SELECT count(*) FROM read_parquet({literal(events)}) "
            f"WHERE {c.EVENT_TYPE} IN ('{c.PURCHASE}', '{c.REFUND}')"
        ).fetchone()
    return {str(name): [int(n), int(with_amount)] for name, n, with_amount in rows}, int(money)


def other_types_line(
    found: dict[str, list[int]], purchases: bool = True, not_activity: Sequence[str] = ()
) -> str:
    """The summary's line for a dataset with types the contract does not know (``purchases``:
    whether any event is a purchase or refund; ``not_activity``: the setting's types, which
    are no activity): which are activity and which not."""
    priced = sum(with_amount for _, with_amount in found.values())
    active = {name: n for name, n in found.items() if name not in not_activity}
    quiet = {name: n for name, n in found.items() if name in not_activity}
    quiet_words = f"kept but not activity ({NOT_ACTIVITY_SETTING})"
    if active:
        said = f"kept as activity, not as purchases or refunds: {_shown(active)}"
        said += f"; {quiet_words}: {_shown(quiet)}" if quiet else ""
    else:
        said = f"{quiet_words}, not as purchases or refunds: {_shown(quiet)}"
    return (
        f"    event types {said}"
        + (f"; the amounts of {priced:,} of their rows count nowhere" if priced else "")
        + (
            f" (a type that is no activity, such as a failed payment: name it in {NOT_ACTIVITY_SETTING})"
            if active and not quiet
            else ""
        )
        + (
            ""
            if purchases
            else f"; no event is a {c.PURCHASE} (LTV and conversion count purchases): if one "
            f"of these types is, ingest again with --map-type {c.PURCHASE}=TYPE"
        )
    )


def _shown(found: dict[str, Any]) -> str:
    names = [
        f"{name!r} {rows:,} row{'' if rows == 1 else 's'}"
        for name, (rows, _) in list(found.items())[:SHOWN]
    ]
    more = len(found) - SHOWN
    return ", ".join(names) + (f" and {more:,} more types" if more > 0 else "")


def mapped_types(notes: dict[str, Any]) -> dict[str, int]:
    """``--map-type`` pairs (``purchase=payment_done``) and the rows each read, from a report's
    notes."""
    return {
        key.removeprefix(c.MAPPED_TYPE): int(n)
        for key, n in notes.items()
        if key.startswith(c.MAPPED_TYPE)
    }


def mapped_types_line(notes: dict[str, Any]) -> str | None:
    """The summary's line of the file's types read as the contract's, or None."""
    found = mapped_types(notes)
    if not found:
        return None
    read = ", ".join(f"{pair} {n:,} row{'' if n == 1 else 's'}" for pair, n in found.items())
    return f"    read as the contract's event types (--map-type): {read}"


def refuse_types_not_found(
    notes: dict[str, Any],
    source: str,
    quarantine: Path | None = None,
    column: str = c.EVENT_TYPE,
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """A ``--map-type`` of a type no row of the file has (a typo: ``payment_don``) would load
    the type meant as activity, its purchases counted nowhere: refused, with the file's
    types that are left and the closest one. A type whose rows are all in ``quarantine``
    (the file's ``column`` of types: a shop's ``Cancelled`` rows of negative amounts) is
    there: refused naming how many and why, not as missing."""
    import difflib

    left = list(notes.get(OTHER_TYPES, {}))
    for pair, n in mapped_types(notes).items():
        if n:
            continue
        source_type = pair.partition("=")[2]
        if held := _quarantined_of_type(quarantine, column, source_type, con):
            raise ContractError(_all_quarantined(source, pair, source_type, held))
        close = difflib.get_close_matches(source_type.lower(), left, n=1, cutoff=0.6)
        raise ContractError(
            f"{source}: --map-type {pair}: no row of the file has the type {source_type!r}"
            + (f" (did you mean {close[0]}?)" if close else "")
            + (f"; its types the contract does not know: {', '.join(left[:SHOWN])}" if left else "")
        )


# why a quarantine reason held every row of a mapped type back, and the way out
_WAY_OUT = {
    "negative_amount": "a purchase's or refund's amount is written positive: "
    "--negative-is-refund reads a negative amount as that much refunded",
}


def _quarantined_of_type(
    quarantine: Path | None, column: str, source_type: str, con: duckdb.DuckDBPyConnection | None
) -> dict[str, int]:
    """The quarantined rows whose ``column`` reads as ``source_type`` (as validation reads a
    type: stripped, lower case), by reason, most first."""
    if quarantine is None or not quarantine.is_file():
        return {}
    with cursor(con) as con:
        table = f"read_csv({literal(quarantine)}, all_varchar = true, header = true)"
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        if column not in names:
            return {}
        rows = con.execute(
            f"SELECT reason, count(*) FROM {table} "
            f"WHERE lower(trim({identifier(column)})) = {literal(source_type.lower())} "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    return {str(reason): int(n) for reason, n in rows}


def _all_quarantined(source: str, pair: str, source_type: str, held: dict[str, int]) -> str:
    total = sum(held.values())
    why = ", ".join(f"{n:,} {reason}" for reason, n in held.items())
    ways = [_WAY_OUT[reason] for reason in held if reason in _WAY_OUT]
    return (
        f"{source}: --map-type {pair}: every one of the file's {total:,} rows of type "
        f"{source_type!r} is quarantined ({why}), so none would load as a "
        f"{pair.partition('=')[0]}" + (f"; {'; '.join(ways)}" if ways else "")
    )
