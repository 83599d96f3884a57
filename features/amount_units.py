"""Amounts written in the currency's minor unit, as payment exports write them (Stripe's
`amount_paid` 7045 is USD 70.45): `ingest --amount-unit minor` divides each amount by 10 to
the ISO 4217 exponent of its row's currency (100 for USD and EUR, 1 for JPY, 1000 for KWD),
`--amount-unit cents` by 100 whatever the currency; `--amount-unit count`: the amounts count
what was bought (a loyalty log's basket items), no money, kept as written and worded as
items counted (serving.units); a 'Currency' column of such a file is not read as one. The
unit is recorded with the file's shape (features.file_shape), so appends and `refresh FILE`
read their files so too.

Without the option, amounts that are all whole numbers with a large median, in a currency
with cents (or none known), are said to be perhaps in cents; all whole and without a currency,
perhaps counts: never read so unasked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import pandas as pd

from features import contract as c
from features.currency import CURRENCY_IGNORED
from features.duckdb_memory import cursor
from features.duckdb_memory import median as estimated_median
from features.unit_words import COUNT, EXPONENTS, UNIT_READ, counted_by, exponent
from lifecycle.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

UNITS = ("major", "minor", "cents", "count")  # --amount-unit; major: as written (the default)
UNIT_IGNORED = "amount_unit_ignored"  # report note: --amount-unit of a file without amounts
# what each unit other than major reads from an amount column (its refusal without one)
UNIT_READS = {
    COUNT: "reads counts of what was bought from one",
    "minor": "reads amounts in the currency's minor unit (7045 is USD 70.45) from one",
    "cents": "reads amounts in hundredths (7045 is 70.45) from one",
}
EXPONENTS |= {code: 3 for code in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]}
# Amounts judged as maybe minor units: at least this many, every one whole, median this large
MAYBE_MINOR_ROWS, MAYBE_MINOR_MEDIAN = 20, 1_000


def in_major_units(
    amount: pd.Series,
    currency: pd.Series | None,
    unit: str,
    written: pd.Series,
    source: str,
    column: str,
    notes: dict[str, Any],
    raw: pd.DataFrame,
) -> pd.Series:
    """``amount`` (read as written) in the currency's major unit: ``written`` marks the rows
    whose amount the file gave (a default given is no minor unit); ``raw``, the chunk read,
    names a row. ``minor`` without a currency on a row with an amount is refused: its minor
    unit is unknown. ``count``: as written (:func:`note_counts` said so)."""
    if unit not in ("minor", "cents"):
        return amount
    if unit == "cents":
        power = pd.Series(2, index=amount.index, dtype="float64")
    else:
        codes = currency if currency is not None else pd.Series(pd.NA, index=amount.index)
        power = codes.map(exponent).astype("float64")
        unknown = written & amount.notna() & power.isna()
        if unknown.any():
            row = unknown.idxmax()
            what = (
                f"currency {str(codes[row]).strip()!r} is no ISO 4217 code"
                if currency is not None and not pd.isna(codes[row])
                else "no currency"
            )
            raise c.ContractError(
                f"{source}: --amount-unit minor: {c.row_named(raw, row)} ({column}={amount[row]:g}) has "
                f"{what}, so its minor unit is unknown: give each row's currency in a column "
                "(--map currency=COLUMN), or --amount-unit cents for hundredths whatever the "
                "currency"
            )
    scaled = amount.mask(written, amount / 10.0**power)
    first = written & amount.notna()
    if UNIT_READ not in notes and first.any():
        row = first.idxmax()
        code = None if currency is None or pd.isna(currency[row]) else str(currency[row])
        notes[UNIT_READ] = {
            "unit": unit,
            "column": column,
            "example": [float(amount[row]), float(scaled[row]), code and code.strip().upper()],
        }
    return scaled


def note_counts(unit: str | None, column: str, notes: dict[str, Any]) -> None:
    """Say in a read's ``notes`` that amounts read from ``column`` count what was bought
    (``--amount-unit count``): kept as written, not scaled; :func:`counted_by` reads it."""
    if unit == COUNT and UNIT_READ not in notes:
        notes[UNIT_READ] = {"unit": unit, "column": column}


def refuse_options_without_amounts(notes: dict[str, Any], source: str) -> None:
    """An option about amounts given to a file without an amount column (its read's ``notes``
    say it was ignored) is refused: recorded with the dataset, it would read a later append's
    amounts so."""
    if unit := notes.get(UNIT_IGNORED):
        _refuse_without_amounts(f"--amount-unit {unit} {UNIT_READS[unit]}", source)
    if code := notes.get(CURRENCY_IGNORED):  # amounts from --amount-default count purchases
        _refuse_without_amounts(
            f"--currency {code} gives the currency of the amounts in one", source
        )


# what amounts are, by the option that made them counts (:func:`counted_by`; None: money)
KINDS = {
    None: "money",
    "--amount-default": "purchases counted (its files had no amount column: --amount-default)",
    "--amount-unit count": "counts of what was bought (--amount-unit count)",
}


def kinds_apart(stored: Path, notes: dict[str, Any]) -> tuple[str, str] | None:
    """What the amounts of the dataset whose events are ``stored`` are and what a file's
    (``notes``: its read) are, where the dataset's count (its report's :func:`counted_by`)
    and the file's are another kind (money appended to a log of purchases counted); else
    None."""
    from lifecycle.dataset_kind import read_report

    report = read_report(stored.parent) or {}
    held = counted_by(report.get("tables", {}).get("events", {}).get("notes", {}))
    given = counted_by(notes)
    return None if held is None or given == held else (KINDS[held], KINDS[given])


def _refuse_without_amounts(option_reads: str, source: str) -> None:
    """Refuse an option (``option_reads``: it and what it reads from an amount column) given
    to the file ``source`` that has none."""
    raise c.ContractError(
        f"{source} has no amount column: {option_reads} (name it with --map amount=COLUMN); "
        "for a log without amounts drop the option (--amount-default 1 counts each purchase 1)",
        ("--map amount=COLUMN",),
    )


def whole_amounts(
    events: Path, con: duckdb.DuckDBPyConnection | None = None
) -> dict[str, Any] | None:
    """The purchase and refund amounts of an events file as the maybe-cents and maybe-counts
    notes judge them: how many (above 0), whether every one is whole, their median and
    currency (None: no amount column). ``con``: the ingest's connection."""
    with cursor(con) as con:
        names = [
            d[0]
            for d in con.execute(
                f"SELECT * FROM read_parquet({literal(events)}) LIMIT 0"
            ).description
        ]
        if c.AMOUNT not in names:
            return None
        named = c.currency_column(names)
        code = f"min(upper(trim(CAST({identifier(named)} AS VARCHAR))))" if named else "NULL"
        monetary = ", ".join(literal(t) for t in c.MONETARY_EVENT_TYPES)
        amounts = (
            f"read_parquet({literal(events)}) "
            f"WHERE {c.EVENT_TYPE} IN ({monetary}) AND {c.AMOUNT} > 0"
        )
        rows, whole, currency = con.execute(
            f"SELECT count(*), bool_and({c.AMOUNT} = floor({c.AMOUNT})), {code} FROM {amounts}"
        ).fetchone()
        median = estimated_median(con, c.AMOUNT, amounts, rows)
    return {"rows": int(rows), "whole": bool(whole), "median": median, "currency": currency}


def _all_whole(amounts: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    """Whether purchase and refund amounts (:func:`whole_amounts`) are enough to judge, at
    least ``MAYBE_MINOR_ROWS``, and every one a whole number: maybe cents, maybe counts."""
    return bool(amounts) and amounts["rows"] >= MAYBE_MINOR_ROWS and amounts["whole"]


def maybe_minor_units(amounts: dict[str, Any] | None) -> dict[str, Any] | None:
    """The note of a dataset whose purchase and refund amounts (:func:`whole_amounts`) may be
    in cents: at least ``MAYBE_MINOR_ROWS`` of them, every one a whole number, a median of at
    least ``MAYBE_MINOR_MEDIAN``, and a currency with cents (or none known). None otherwise."""
    if not _all_whole(amounts):
        return None
    median, currency = amounts["median"], amounts["currency"]
    if median < MAYBE_MINOR_MEDIAN:
        return None
    if currency and exponent(currency) == 0:  # yen are whole
        return None
    return {"median": float(median), "rows": amounts["rows"], "currency": currency}


def maybe_counts(amounts: dict[str, Any] | None, column: str) -> dict[str, Any] | None:
    """The note of a dataset whose amounts, read from ``column``, may be counts (basket items)
    rather than money: at least ``MAYBE_MINOR_ROWS``, every one whole, no currency, a median
    too small for cents (those :func:`maybe_minor_units` says). None otherwise."""
    if not _all_whole(amounts):
        return None
    if amounts["currency"] or amounts["median"] >= MAYBE_MINOR_MEDIAN:
        return None
    return {"column": column, "median": float(amounts["median"]), "rows": amounts["rows"]}
