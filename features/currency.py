"""Amounts written with their currency, as shops' "formatted" exports write them (`£1,234.50`,
`-£31.80`, `€12,50`, `1.234,50 €`, `USD 12.00`, `$12.00 CAD`): the sign or ISO code is read
apart from the number, which then goes through the usual rules (a decimal comma is still
ambiguous without --decimal-comma).

A sign that names one currency (£, €, US$, C$, ...) or an ISO 4217 code gives the rows'
currency; ``$`` and ``¥`` are written for several (USD, CAD, AUD ...; JPY, CNY), so their
amounts are read as numbers and the currency is left to a currency column: never guessed.
One column writes one currency: signs of two, or a currency on some amounts and none on
others with no currency column to say the rest, are refused as the mixed-currency refusal
is (:meth:`AmountCurrency.refusal`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from features import contract as c
from features.currency_words import (
    AMOUNT_CURRENCY,
    CURRENCY_COLUMN,
    ISO_CODES,
    NO_CURRENCY,
    UNREAD_CURRENCY,
)
from features.parsing import FAST_TEXT, as_text

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

    from features.table_checks import TableChecks

CURRENCY_MISMATCH = "currency_mismatch"  # quarantine reason: '£12' where the column says EUR
CURRENCY_IGNORED = "currency_ignored"  # report note: --currency of a file without amounts

# The currencies whose amounts are written with a bare $
DOLLARS = (
    "USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "TWD", "ARS", "CLP", "COP", "UYU", "BSD",
    "BBD", "BZD", "BMD", "BND", "KYD", "FJD", "GYD", "JMD", "LRD", "NAD", "SBD", "SRD", "TTD",
    "XCD", "DOP", "CUP", "CVE",
)  # fmt: skip
# sign -> the currencies written with it; one: the sign names it
SIGNS: dict[str, tuple[str, ...]] = {
    "£": ("GBP",), "€": ("EUR",), "₹": ("INR",), "₩": ("KRW",), "₽": ("RUB",), "₺": ("TRY",),
    "₪": ("ILS",), "₫": ("VND",), "₱": ("PHP",), "₴": ("UAH",), "¥": ("JPY", "CNY"),
    "$": DOLLARS, "US$": ("USD",), "C$": ("CAD",), "CA$": ("CAD",), "A$": ("AUD",),
    "AU$": ("AUD",), "NZ$": ("NZD",), "HK$": ("HKD",), "S$": ("SGD",), "R$": ("BRL",),
    "MX$": ("MXN",),
}  # fmt: skip
_SIGN = "|".join(re.escape(s) for s in sorted(SIGNS, key=len, reverse=True))
_MARK = rf"{_SIGN}|[A-Za-z]{{3}}"
# a sign or code before and/or after the number, inside a leading minus or parentheses
_MARKED = (
    rf"^(?P<lead>[-+(\u2212]?)\s*(?:(?P<pre>{_MARK})\s*)?"
    r"(?P<body>[-+\u2212]?[0-9](?:[0-9.,\s]*[0-9])?)"
    rf"\s*(?P<post>{_MARK})?\s*(?P<trail>[-)]?)$"
)
_MAYBE = "[^0-9\\s.,+()\u2212-]"  # a character no plain number has


@dataclass
class Marks:
    """An amount column's cells with their currency mark read apart (per row)."""

    numbers: pd.Series  # the cells without their mark (the column itself if none has one)
    key: pd.Series  # the currency a mark names, or the sign itself ('$') if it names several
    code: pd.Series  # the ISO code, where the mark names one currency
    written: pd.Series  # the mark as written ('£', 'EUR', '$ CAD')


def read_marks(values: pd.Series) -> Marks:
    """The currency marks of an amount column; a cell whose mark names no currency (`12.50
    Euro`, `£12 EUR`) keeps it, and does not parse as a number."""
    none = pd.Series(pd.NA, index=values.index, dtype="string")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return Marks(values, none, none, none)
    text = as_text(values).astype(FAST_TEXT).str.strip()
    maybe = text.str.contains(_MAYBE, regex=True).fillna(False).astype(bool)
    if not maybe.any():
        return Marks(values, none, none, none)
    found = text[maybe].astype("string").str.extract(_MARKED).fillna("")
    pairs = list(zip(found["pre"].str.upper(), found["post"].str.upper(), strict=True))
    known = {pair: _meaning(*pair) for pair in set(pairs)}  # a few kinds, many rows
    read = [(row, known[pair]) for row, pair in zip(found.index, pairs, strict=True) if known[pair]]
    if not read:
        return Marks(values, none, none, none)
    rows = [row for row, _ in read]
    key, code, written = (none.copy() for _ in range(3))
    for at, column in enumerate((key, code, written)):
        column[rows] = [meaning[at] for _, meaning in read]
    numbers = text.astype("string").copy()
    numbers[rows] = (found["lead"] + found["body"] + found["trail"])[rows]
    return Marks(numbers, key, code, written)


def _meaning(pre: str, post: str) -> tuple[str, str | None, str] | None:
    """(key, ISO code or None, mark as written) of a sign or code written before and/or after
    a number; None when they name no currency, or two."""
    marks = [mark for mark in (pre, post) if mark]
    if not marks:
        return None
    named = [SIGNS.get(mark) or ((mark,) if mark in ISO_CODES else ()) for mark in marks]
    common = set(named[0]).intersection(*named[1:])
    if not common:
        return None
    if len(common) == 1:
        code = common.pop()
        return code, code, " ".join(marks)
    return marks[0], None, " ".join(marks)


def stated_codes(values: pd.Series) -> pd.Series:
    """A currency column's codes as refuse_currencies compares them: trimmed, upper case."""
    return as_text(values).str.strip().str.upper().replace("", pd.NA)


@dataclass
class AmountCurrency:
    """What a whole amount column shows of its currency, gathered chunk by chunk."""

    column: str
    stated_by: str | None  # the file's currency column (mapped, or named so)
    # an append's dataset that records no currency: the marks' is not stored in it either
    unrecorded_by: str | None = None
    stored_as: str = c.CURRENCY  # the events' column the marks' code goes in (an append's)
    given: str | None = None  # --currency: the rows' currency where the file states none
    marks: dict[str, list[Any]] = field(
        default_factory=dict
    )  # key -> [written, first row named, n]
    bare: list[Any] = field(default_factory=lambda: [None, 0])  # [example, n]: no mark
    stated: dict[str, int] = field(default_factory=dict)  # currency column's code -> first row
    # --currency leaves the currency column's empty cells empty: the dataset's are
    # (:attr:`features.contract.ColumnMapping.dataset_blank_currency`)
    blanks_kept: bool = False

    @classmethod
    def of(cls, column: str, stated_by: str | None, mapping: c.ColumnMapping) -> AmountCurrency:
        """The amount ``column``'s, of a file read by ``mapping``."""
        return cls(
            column,
            stated_by,
            mapping.dataset_without_currency,
            stored_as=mapping.dataset_currency_column or c.CURRENCY,
            given=mapping.currency,
            blanks_kept=mapping.dataset_blank_currency,
        )

    def add(
        self, raw: pd.DataFrame, marks: Marks, amount: pd.Series, monetary: pd.Series
    ) -> pd.Series:
        """Count a chunk's marked and bare amounts (monetary rows whose ``amount`` was read;
        a bare 0 is zero in every currency); the rows whose mark disagrees with the currency
        column (``currency_mismatch``)."""
        none = pd.Series(pd.NA, index=raw.index, dtype="string")
        stated = stated_codes(raw[self.stated_by]) if self.stated_by else none
        if self.given:  # '€12' in a file said to be GBP: a mismatch, as against a column
            stated = stated.fillna(self.given)
        checked = marks.key.notna() & stated.notna()
        mismatch = pd.Series(False, index=raw.index)
        if checked.any():
            mismatch[checked] = [
                code not in SIGNS.get(key, (key,))
                for key, code in zip(marks.key[checked], stated[checked], strict=True)
            ]
        counted = monetary & amount.notna() & ~mismatch
        keys = marks.key[counted].dropna()
        for key, rows in keys.groupby(keys, sort=False):
            first = int(rows.index[0])
            seen = self.marks.setdefault(
                str(key), [marks.written[first], c.row_named(raw, first), 0]
            )
            seen[2] += len(rows)
        bare = counted & marks.key.isna() & amount.ne(0)
        if bare.any() and self.bare[0] is None:
            first = bare.idxmax()
            at = c.row_named(raw, first)
            self.bare[0] = f"{at} has {self.column}={str(raw.at[first, self.column])!r}"
        self.bare[1] += int(bare.sum())
        codes = stated[monetary].dropna()
        for code, rows in codes.groupby(codes, sort=False):
            self.stated.setdefault(str(code), int(rows.index[0]) + 1)
        return mismatch

    def refusal(self, source: str) -> str | None:
        """Why the column's amounts cannot be summed as one money, or None: two currencies'
        marks, or a currency on some amounts and none on others with no column to say it."""
        if self.stated_by is not None or self.given:  # each row's said (refuse_currencies)
            return None
        if len(self.marks) > 1:
            named = ", ".join(f"{w} from {row}" for w, row, _ in self.marks.values())
            return (
                f"{source}: column '{self.column}' writes amounts in {len(self.marks):,} "
                f"currencies ({named}); summed as one they would make every revenue, LTV and "
                "value at risk wrong: ingest each currency as a dataset of its own (a file per "
                "currency)"
            )
        code = self.currency
        if code and self.bare[1]:
            ((written, row, count),) = self.marks.values()
            return (
                f"{source}: column '{self.column}' writes {count:,} amounts with {written} "
                f"({code}, from {row}) and {self.bare[1]:,} without a currency (e.g. "
                f"{self.bare[0]}): write the currency on every amount or on none, or give each "
                "row's in a currency column (--map currency=COLUMN)"
            )
        return None

    @property
    def staged(self) -> bool:
        """Every chunk's events carry their marks' code as ``currency`` (null where none):
        which chunk first shows a sign is unknown until it comes (:meth:`unkept`)."""
        return self.stated_by is None and self.unrecorded_by is None and self.given is None

    def unkept(self) -> list[str]:
        """The staged ``currency`` when the whole column's marks named no one currency
        (bare numbers, ``$``): not stored."""
        return [self.stored_as] if self.staged and self.currency is None else []

    @property
    def currency(self) -> str | None:
        """The one currency the column's marks name, if they name one."""
        codes = {key for key in self.marks if key in ISO_CODES}
        return codes.pop() if len(self.marks) == 1 and codes else None

    def note(self) -> dict[str, Any]:
        """The report's ``amount_currency``: what the marks were read as."""
        note = {
            "column": self.column,
            "written_with": [w for w, _, _ in self.marks.values()],
            "currency": self.currency,
            "recorded": bool(self.staged and self.currency),
            "currency_column": self.stated_by,
        }
        if self.unrecorded_by:
            note["dataset_without_currency"] = self.unrecorded_by
        return note | ({"given": self.given} if self.given else {})  # --currency


def record_currency(
    events: pd.DataFrame,
    checks: TableChecks,
    columns: dict[str, str],
    code: pd.Series,
    raw: pd.DataFrame,
) -> pd.Series:
    """The events' ``currency``: the currency column's (mapped, or named so: 'Currency'), its
    blanks given the marks' code, else --currency's; without one, the marks' code (staged by
    every chunk alike, kept when the whole column names one currency:
    :meth:`AmountCurrency.unkept`); and the report's notes. Returns the rows whose currency
    --currency gave (:data:`CURRENCY_GIVEN`)."""
    money = checks.money
    assert money is not None
    given = pd.Series(False, index=events.index)
    if c.CURRENCY in columns or (money.given and money.stated_by):
        name = c.CURRENCY if c.CURRENCY in columns else money.stated_by
        assert name is not None
        written = events[name] if name in events else as_text(raw[name]).str.strip()
        stated = written.astype("string").replace("", pd.NA).fillna(code)
        given = stated.isna() & bool(money.given)
        # a mapped column of an append goes where the dataset holds its currency ('Currency')
        stored = money.stored_as if name == c.CURRENCY else name
        events.drop(columns=[name], errors="ignore", inplace=True)
        if money.blanks_kept and c.CURRENCY not in columns:  # an unmapped one's, as stored
            events[stored] = stated.fillna(written)
        else:
            events[stored] = stated.fillna(money.given or pd.NA)
    elif money.given:  # --currency: every row's
        events[money.stored_as] = pd.Series(money.given, index=events.index, dtype="string")
    elif money.staged:
        events[money.stored_as] = code
        checks.named = {**checks.named, money.stored_as: money.column}  # a refusal names it
    if money.marks:
        checks.notes[AMOUNT_CURRENCY] = money.note()
    if money.stated_by and c.CURRENCY not in columns and len(money.stated) == 1:
        (found,) = money.stated
        checks.notes[CURRENCY_COLUMN] = {"column": money.stated_by, "currency": found}
    return given


def refuse_other_currency(
    raw: pd.DataFrame, column: str, given: str, monetary: pd.Series, source: str
) -> None:
    """Refuse a currency column whose purchase or refund row names another currency than
    --currency ``given``, naming the first such row."""
    stated = stated_codes(raw[column])
    other = monetary & stated.notna() & stated.ne(given)
    if other.any():
        row = other.idxmax()
        raise c.ContractError(
            f"{source}: {c.row_named(raw, row)} has {column}={str(raw.at[row, column])!r}, but "
            f"--currency {given} says the amounts are in {given}: drop --currency (the column "
            "says each row's), or ingest each currency as a dataset of its own"
        )


def given_currency_unrecorded(dataset: str, given: str) -> str:
    """Why --currency cannot be given to an append to a dataset that records no currency."""
    return (
        f"--currency {given}: dataset '{dataset}' records no currency (its files stated none); "
        f"to record it for all, ingest its files again with --currency {given} (--replace, then "
        "--append the later ones)"
    )


def unread_currency(
    events: Path,
    appended: bool = False,
    mapped: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """The extra columns of a staged events file whose every filled cell on a purchase or
    refund row is an ISO 4217 code ('EUR', 'eur'), each with its codes (most first) and
    ``appended`` (the file was added to a dataset: the remedy is its files ingested again).
    With no column read as the currency (:func:`features.contract.currency_column`), a German
    shop's 'Waehrung' was stored unread and unsaid, and every list said "no currency
    recorded": the first is the note's ``column``, any others ``others`` (a 'Waehrung' of GBP
    beside an 'Abrechnungswaehrung' of EUR: the note named the first alone). With one read
    by its name ('Currency', not ``mapped``), the others are said beside it (``read_from``):
    a 'Settlement Currency' of EUR went unsaid beside the 'Currency' of GBP read. Empty when
    there is none. ``con``: the ingest's connection."""
    from features.duckdb_memory import cursor
    from lifecycle.sql import identifier, literal

    with cursor(con) as con:
        table = f"read_parquet({literal(events)})"
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        read_from = c.currency_column(names)
        if read_from is not None and mapped:  # the file's currency, as told
            return {}
        monetary = ", ".join(literal(t) for t in c.MONETARY_EVENT_TYPES)
        iso = ", ".join(literal(code) for code in sorted(ISO_CODES))
        found = []
        for name in names:
            if name in (*c.EVENT_REQUIRED, *c.EVENT_OPTIONAL, read_from):
                continue
            code = f"upper(trim(CAST({identifier(name)} AS VARCHAR)))"
            filled = f"{c.EVENT_TYPE} IN ({monetary}) AND {code} <> ''"
            rows, all_codes = con.execute(
                f"SELECT count(*), bool_and({code} IN ({iso})) FROM {table} WHERE {filled}"
            ).fetchone()
            if rows and all_codes:
                held = con.execute(
                    f"SELECT {code}, count(*) AS n FROM {table} WHERE {filled} "
                    "GROUP BY 1 ORDER BY n DESC, 1"
                ).fetchall()
                found.append({"column": name, "codes": {str(k): int(n) for k, n in held}})
    if not found:
        return {}
    note = {**found[0], "appended": appended}
    if len(found) > 1:
        note["others"] = found[1:]
    if read_from is not None:
        note["read_from"] = read_from
    return {UNREAD_CURRENCY: note}


def amounts_without_currency(
    events: Path, column: str, appended: bool, con: duckdb.DuckDBPyConnection | None = None
) -> dict[str, Any]:
    """The note of a staged events file whose purchases and refunds hold amounts (not 0) and
    no currency: no currency column, or one empty on every such row (an .xlsx of bare
    numbers, a Parquet export without the column, amounts given no --currency). Lists, the
    report and the API then say "no currency recorded" and nothing at ingest said why nor how
    to record one. Empty when a currency is recorded or there is no money."""
    from features.duckdb_memory import cursor
    from lifecycle.sql import identifier, literal

    with cursor(con) as con:
        table = f"read_parquet({literal(events)})"
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        if c.AMOUNT not in names:
            return {}
        held = c.currency_column(names)
        monetary = ", ".join(literal(t) for t in c.MONETARY_EVENT_TYPES)
        stated = (
            f" AND coalesce(trim(CAST({identifier(held)} AS VARCHAR)), '') = ''" if held else ""
        )
        (rows,) = con.execute(
            f"SELECT count(*) FROM {table} WHERE {c.EVENT_TYPE} IN ({monetary}) "
            f"AND {c.AMOUNT} <> 0{stated}"
        ).fetchone()
        if held and rows:  # some rows state one: the currency is recorded, blanks read as it
            (with_code,) = con.execute(
                f"SELECT count(*) FROM {table} WHERE {c.EVENT_TYPE} IN ({monetary}) AND "
                f"coalesce(trim(CAST({identifier(held)} AS VARCHAR)), '') <> ''"
            ).fetchone()
            rows = 0 if with_code else rows
    if not rows:
        return {}
    return {NO_CURRENCY: {"column": column, "rows": int(rows), "appended": appended}}
