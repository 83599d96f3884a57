"""What a dataset's report notes of its currency says in words, and the ISO 4217 codes:
light, so that listing datasets reads no pandas (:mod:`features.currency` reads the
currency)."""

from __future__ import annotations

import shlex
from typing import Any

from lifecycle.words import ROWS, counted

AMOUNT_CURRENCY = "amount_currency"  # report note: AmountCurrency.note

CURRENCY_COLUMN = "currency_column"  # report note: an unmapped 'Currency' column's one code

CURRENCY_GIVEN = "currency_given"  # report note: loaded rows whose empty currency --currency gave

# report note: a column of ISO codes not read as the currency ('Waehrung'), the dataset none
UNREAD_CURRENCY = "currency_in_a_column"

# report note: money loaded with no currency at all (bare numbers, no column, no --currency)
NO_CURRENCY = "amounts_without_currency"

_ISO_4217 = (  # the codes in use
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW ZWL"""
)

ISO_CODES = frozenset(_ISO_4217.split())


def amount_currency_line(note: dict[str, Any]) -> str:
    """The summary line of how an amount column's currency marks were read."""
    written = " and ".join(note["written_with"])
    said = f"    amounts in '{note['column']}' written with {written}: "
    if note["currency_column"]:
        column = note["currency_column"]
        return said + f"read as numbers, their currency from column '{column}' (signs agree)"
    if note.get("given"):
        return said + f"read as numbers, in {note['given']} (--currency; signs agree)"
    if note["recorded"]:
        return said + f"read as {note['currency']}, the dataset's currency"
    if note.get("dataset_without_currency") and note["currency"]:
        name = note["dataset_without_currency"]
        return said + (
            f"read as numbers, {note['currency']} not recorded: dataset '{name}' records no "
            "currency (its amounts so far had none written); to record it for all, ingest "
            "this file with --replace and append the earlier ones after it"
        )
    return said + (
        f"read as numbers; {written} is written for several currencies (USD, CAD, AUD, ...), "
        "so none is recorded: give it in a currency column (--map currency=COLUMN)"
    )


def currency_given_lines(notes: dict[str, Any]) -> list[str]:
    """The summary line of what --currency gave: empty currency cells."""
    if rows := notes.get(CURRENCY_GIVEN):
        return [
            f"    {counted(rows, ROWS)} with an empty currency cell: their amounts read as --currency says"
        ]
    return []


def currency_column_line(note: dict[str, Any], counted_by: str | None = None) -> str:
    """The summary line of a currency column read though not mapped ('Currency'); or, of a
    file whose amounts are counts (``counted_by`` the option), ignored: no money to be in it."""
    if counted_by:
        return (
            f"    column '{note['column']}' ignored as a currency: amounts counted ({counted_by})"
            " are no money, so no currency is recorded"
        )
    return (
        f"    currency {note['currency']}, from column '{note['column']}' (named so, not "
        "mapped): the dataset's currency in lists, the report and the API"
    )


def _held(column: dict[str, Any]) -> str:
    """A code column's codes as a summary says them: 'GBP', or 'GBP on 3, EUR on 2, ...'."""
    codes = column["codes"]
    if len(codes) == 1:
        return next(iter(codes))
    held = ", ".join(f"{code} on {n:,}" for code, n in list(codes.items())[:4])
    return held + (f" and {len(codes) - 4:,} more" if len(codes) > 4 else "")


def _unread_columns_line(note: dict[str, Any]) -> str:
    """The summary line of several columns of codes, or of one beside the column read: each
    named with its codes, and the map that would read each (never a choice made for it)."""
    columns = [note, *note.get("others", ())]
    parts = [f"'{col['column']}' ({_held(col)})" for col in columns]
    named = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    maps = " or ".join(f"--map currency={shlex.quote(col['column'])}" for col in columns)
    again = (
        "ingest the dataset's files again with {} (the first with --replace, then --append the "
        "later ones)"
        if note.get("appended")
        else "ingest the file again with {}"
    )
    if read_from := note.get("read_from"):
        held = "holds currency codes" if len(columns) == 1 else "hold currency codes"
        return (
            f"    column{'s' * (len(columns) > 1)} {named} {held} too, not read: the amounts' "
            f"currency is read from '{read_from}' (named so); if it is another column's, "
            + again.format(maps)
        )
    return (
        f"    columns {named} hold currency codes on purchase and refund rows, but none is "
        "read as the currency, so the dataset records none (lists and the API say 'no "
        "currency recorded'): if one is the amounts' currency, " + again.format(maps)
    )


def unread_currency_line(note: dict[str, Any]) -> str:
    """The summary line of :func:`unread_currency`'s note: the column, its codes and the
    option that reads it (one code), or why it cannot be one dataset's (several); of several
    columns, or one beside the column read, each named (:func:`_unread_columns_line`)."""
    if note.get("others") or note.get("read_from"):
        return _unread_columns_line(note)
    column, codes = note["column"], note["codes"]
    rows = counted(sum(codes.values()), ("purchase or refund row", "purchase and refund rows"))
    if len(codes) == 1:
        held = next(iter(codes))
    else:
        held = ", ".join(f"{code} on {n:,}" for code, n in list(codes.items())[:4])
        held += f" and {len(codes) - 4:,} more" if len(codes) > 4 else ""
    said = (
        f"    column '{column}' holds a currency code on {rows} ({held}) but is not read as "
        "the currency, so the dataset records none (lists and the API say 'no currency "
        "recorded')"
    )
    if len(codes) > 1:
        return said + (
            f": its amounts in {len(codes):,} currencies are summed as one money in every "
            "revenue, LTV and value at risk; ingest each currency as a dataset of its own "
            f"(a file per currency), with --map currency={shlex.quote(column)}"
        )
    if note.get("appended"):
        return said + (
            f": if it is the amounts' currency, ingest the dataset's files again with --map "
            f"currency={shlex.quote(column)} (the first with --replace, then --append the "
            "later ones)"
        )
    return said + (
        f": if it is the amounts' currency, ingest the file again with --map "
        f"currency={shlex.quote(column)}"
    )


def amounts_without_currency_line(note: dict[str, Any]) -> str:
    """The summary line of :func:`amounts_without_currency`'s note (or of
    :func:`features.currency.unrecorded_currency`'s, without the rows' count): what it means,
    and the options that record the currency."""
    again = (
        "ingest the dataset's files again with --currency CODE (the first with --replace, then "
        "--append the later ones)"
        if note.get("appended")
        else "ingest the file again with --replace --currency CODE"
    )
    rows = f"{note['rows']:,} purchase and refund rows: " if "rows" in note else ""
    return (
        f"    amounts in '{note['column']}' have no currency ({rows}"
        "no sign or code written on them, no currency column): lists, the report "
        "and the API show them as bare numbers ('no currency recorded'); to record it, "
        f"{again} (an ISO 4217 code, e.g. --currency GBP), or --map currency=COLUMN for a "
        "column of codes"
    )
