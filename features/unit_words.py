"""What a dataset's report notes of its amounts' unit (cents, counts, minor units) says in words,
and the currency exponents it reads them by: light, so that listing datasets reads no
pandas (:mod:`features.amount_units` finds the units)."""

from __future__ import annotations

from typing import Any

from features.currency_words import ISO_CODES
from features.hints import option_hint

COUNT = "count"  # amounts count what was bought, no money (serving.units.purchase_counts)

UNIT_READ = "amount_unit_read"  # report note: {"unit", "column", "example": [written, read, code]}

MAYBE_MINOR = "amounts_maybe_minor_units"  # report note: {"column", "median", "rows", "currency"}

MAYBE_COUNTS = "amounts_maybe_counts"  # report note: {"column", "median", "rows"}

# ISO 4217 exponents other than 2 (the minor unit of every other code is a hundredth)
EXPONENTS = {
    code: 0
    for code in [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
}

NO_CURRENCY = "no currency recorded"  # as the lists say a dataset's money without one


def exponent(code: Any) -> int | None:
    """The ISO 4217 exponent of a currency code (' usd' reads USD), None when no code."""
    code = str(code).strip().upper() if isinstance(code, str) else None
    return EXPONENTS.get(code, 2) if code in ISO_CODES else None


def counted_by(notes: dict[str, Any]) -> str | None:
    """The option that made a file's amounts counts, no money, from its read's ``notes``:
    ``--amount-unit count``, or ``--amount-default`` of a file without an amount column
    (purchases counted); None: money."""
    if notes.get(UNIT_READ, {}).get("unit") == COUNT:
        return "--amount-unit count"
    return "--amount-default" if notes.get("amount_in_file") is False else None


def unit_read_line(note: dict[str, Any]) -> str:
    """The summary's line of amounts read in a minor unit: 'amounts read in cents: 7045 is
    70.45 USD'; or counted (--amount-unit count)."""
    if note["unit"] == COUNT:
        return (
            f"    amounts in '{note['column']}' read as counts of what was bought (--amount-unit "
            "count): no money, LTV and every list in items counted"
        )
    written, read, code = note["example"]
    unit = "cents" if note["unit"] == "cents" or exponent(code) == 2 else "the minor unit"
    said = f"{written:,.0f}" if float(written).is_integer() else f"{written:,g}"
    return (
        f"    amounts in '{note['column']}' read in {unit} (--amount-unit {note['unit']}): "
        f"{said} is {read:,.{exponent(code) if code else 2}f}"
        + (f" {code}" if code else f", {NO_CURRENCY} (--map currency=COLUMN gives it)")
    )


def maybe_counts_line(note: dict[str, Any]) -> str:
    """The summary's line of whole amounts without a currency, said as a possibility."""
    return (
        f"    amounts in '{note['column']}' have no currency and are all whole numbers (median "
        f"{note['median']:,g}, {note['rows']:,} purchases and refunds): if they count what was "
        "bought (items), not money, every list and reason says 'spent'"
        + option_hint(
            "; ingest again with --amount-unit count (worded as items counted, no money; a "
            "dataset reads one unit: from its first file, with --replace)",
            "; `lifecycle ingest` reads them so with --amount-unit count",
        )
    )


def maybe_minor_line(note: dict[str, Any]) -> str:
    """The summary's line of amounts that may be cents, said as a possibility."""
    median, code = note["median"], note.get("currency")
    places = exponent(code) or 2
    # minor needs each row's currency (refused without one): cents reads hundredths in any
    unit = "minor" if code else "cents"
    money = f" {code}" if code else f", {NO_CURRENCY}"
    return (
        f"    amounts are all whole numbers (median {median:,.0f}, {note['rows']:,} purchases "
        "and refunds): if they are cents (the minor unit), as Stripe writes them, every "
        "revenue, LTV and value at risk is "
        f"{10**places:,} times too large"
        + option_hint(
            f"; ingest again with --amount-unit {unit} ({median:,.0f} then reads "
            f"{median / 10**places:,.{places}f}{money}; a dataset reads one unit: from its "
            "first file, with --replace)",
            f"; `lifecycle ingest` reads them so with --amount-unit {unit}",
        )
    )
