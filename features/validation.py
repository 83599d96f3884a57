"""Validation of raw tables against the contract: wrong files fail fast, bad rows are quarantined.

A file that cannot be the table asked for (missing, empty, missing column, a column that
is mostly not of its type) raises :class:`ContractError` naming the file, the column and
an example row. A good file with some bad rows keeps the good rows and returns the bad
ones, each with its 1-based source row and a reason. Nothing is silently dropped: every
input row is either loaded or quarantined, and the report counts both.

Files are read and checked in chunks of bounded size (:func:`features.reading.read_chunks`,
:func:`features.loading.stream_table`), so memory follows the chunk, not the file. Row rules
run per chunk; the rules that need the whole table are decided over all of it: a column's
share of unparseable values (:class:`features.table_checks.TableChecks`) and the share of
bad rows are summed over chunks and judged at the end, and repeats (``duplicate_row``,
``duplicate_user_id``) are found by DuckDB over the good rows written so far (spilling to
disk beyond ``ingest.memory_limit``), the first copy in file order kept (or, for event logs
with genuine same-moment repeats, every copy kept and counted). A table held in memory goes
through the same path as one chunk.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.amount_units import UNIT_IGNORED, UNIT_READS, in_major_units, note_counts
from features.column_checks import (
    refuse_repeated_columns,
    refuse_shadowed_columns,
    require_columns,
)
from features.contract import ContractError  # re-exported: where most modules import it
from features.currency import (
    CURRENCY_IGNORED,
    CURRENCY_MISMATCH,
    AmountCurrency,
    given_currency_unrecorded,
    read_marks,
    record_currency,
    refuse_other_currency,
)
from features.currency_words import CURRENCY_COLUMN, CURRENCY_GIVEN
from features.hints import (
    MAP_AMOUNT,
    amounts,
    currency_agrees,
    money_column,
    number_columns,
    number_columns_said,
    purchase_log,
    timestamps,
    unit_price_said,
)
from features.id_checks import (
    FORMULA_AMOUNTS,
    check_mapped_user_ids,
    inside_formulas,
)
from features.line_items import OrderLines
from features.parsing import CONTROL_CHARACTER, FAST_TEXT, as_text, kept_text, parse_numbers
from features.quarantine import Quarantine, reordered_header
from features.read_words import (
    FREE_PURCHASES,
    INVALID_AMOUNTS,
    LINE_ITEM,
    NEGATIVE_AMOUNTS,
    SERIAL,
    ZONES_MIXED,
)
from features.serial_dates import serial_times
from features.table_checks import TableChecks, example_cell, is_blank
from features.time_columns import join_date_and_time, note_unused_time, note_zoneless
from features.time_parsing import EPOCH_FORMATS, epoch_format, parse_times_zoned
from features.unit_words import counted_by

EARLIEST_EVENT = pd.Timestamp("1990-01-01", tz="UTC")


@dataclass
class LoadReport:
    source: str
    table: str
    rows_read: int
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    user_column: str | None = None  # the quarantine file's column of user ids, if it has one
    code_columns: list[str] = field(default_factory=list)  # its (and the table's) codes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        reasons = ", ".join(
            f"{n:,} {r}" for r, n in sorted(self.reasons.items(), key=lambda x: -x[1])
        )
        text = (
            f"{self.source}: read {self.rows_read:,} row{'s' * (self.rows_read != 1)}, "
            f"loaded {self.rows_loaded:,}, "
            f"quarantined {self.rows_quarantined:,}"
        )
        return text + (f" ({reasons})" if reasons else "")


@dataclass
class Loaded:
    """A validated table, the quarantined rows (raw values + source_row + reason) and the report."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    report: LoadReport
    guest_rows: pd.DataFrame | None = None  # an events table's (features.guest_orders)


DEFAULT_MEMORY_LIMIT = "256MB"  # as settings ingest.memory_limit
DEFAULT_MAX_AMOUNT_RATIO = 100_000.0  # as settings ingest.max_amount_ratio
DEFAULT_MAX_AMOUNT_SHIFT = 10.0  # as settings ingest.max_amount_shift
SOURCE_ROW_COLUMN = "__lifecycle_source_row"  # a good row's source row while it is staged
NOTED_COLUMN = "__lifecycle_noted_{}"  # a good row's note (e.g. amount_defaulted) while staged
AMOUNT_DEFAULTED = "amount_defaulted"  # report note: loaded rows whose amount is the default
NEGATIVE_REFUNDS = "negative_amounts_as_refunds"  # report note: refunds booked as negatives


# -- row rules, one chunk at a time ----------------------------------------------------


def check_events(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    bad: Quarantine,
    checks: TableChecks,
    *,
    allow_negative_amounts: bool = False,
    latest_event: pd.Timestamp,
    amount_default: float | None = None,
) -> pd.DataFrame:
    """Contract-shaped events of one raw chunk (every row); bad rows are flagged in ``bad``.

    With ``amount_default``, purchase and refund rows without an amount (no amount column,
    or an empty cell) get it and are noted as ``amount_defaulted``; without it they are
    ``missing_amount``, and a file with no amount column at all is refused.
    """
    wanted = {name: mapping.source(name) for name in (c.USER_ID, c.EVENT_TIME)}
    if mapping.default_event_type is None:
        wanted[c.EVENT_TYPE] = mapping.source(c.EVENT_TYPE)
    optional = {
        name: mapping.source(name)
        for name in c.EVENT_OPTIONAL
        if mapping.source(name) in raw.columns
    }
    # a mapped optional column the file lacks: a typo (--map order_id=Ref) is refused; a map
    # recorded with the dataset is not (this month's export may lack it, and nothing unsets
    # it): the merge says the column is empty in the rows added
    absent = [n for n in c.EVENT_OPTIONAL if n in mapping.columns and n not in optional]
    given = [n for n in absent if n not in mapping.recorded_columns or n == c.AMOUNT]
    wanted |= {n: mapping.source(n) for n in given}
    raw = join_date_and_time(raw, mapping.source(c.EVENT_TIME))
    note, note_options = purchase_log(  # a dataset of money: its purchases never counted 1
        wanted,
        raw,
        mapping.source(c.AMOUNT),
        mapping.source(c.ORDER_ID),
        counts=not mapping.dataset_with_amounts,
    )
    if given := [n for n in given if n != c.AMOUNT]:  # optional: the file loads without it
        maps = " ".join(f"--map {shlex.quote(f'{n}={mapping.source(n)}')}" for n in given)
        note += f" ({maps} names a column this file lacks; drop it to load without)"
    require_columns(raw, wanted, source, note=note, note_options=note_options)
    columns = {**wanted, **optional}
    checks.named = columns
    refuse_repeated_columns(raw, columns, source)
    refuse_shadowed_columns(raw, columns, source)

    user_id = check_mapped_user_ids(raw, columns[c.USER_ID], bad, checks, mapping)

    time_col = columns[c.EVENT_TIME]
    note_unused_time(raw, time_col, set(columns.values()), checks.notes, checks.ruled_out)
    event_time, time_problem = column_times(raw, time_col, mapping, checks)
    # Far-off years parse to nothing (beyond pandas' range): out of range, not unparseable
    unparseable = (time_problem == "unparseable").fillna(False).astype(bool)
    time_text = as_text(raw.loc[unparseable, time_col])  # of those rows alone: the others parsed
    # but a month or day 0 (0000-00-00) is no date at all
    year = pd.to_numeric(time_text.str.extract(r"^\s*(\d{4})-(?!0+-|\d+-0+\b)", expand=False))
    far_off = ((year < EARLIEST_EVENT.year) | (year > latest_event.year)).reindex(
        raw.index, fill_value=False
    )
    bad.flag(is_blank(raw[time_col]), "missing_event_time")
    bad.flag(far_off, "event_time_out_of_range")
    bad.flag(time_problem == "unparseable", "unparseable_event_time")
    bad.flag_each(time_problem)
    bad.flag((event_time < EARLIEST_EVENT) | (event_time > latest_event), "event_time_out_of_range")

    if mapping.default_event_type is not None and c.EVENT_TYPE not in columns:
        event_type = pd.Series(mapping.default_event_type, index=raw.index, dtype="string")
    else:
        event_type = as_text(raw[columns[c.EVENT_TYPE]]).str.strip().str.lower()
        if mapping.event_types:  # --map-type purchase=payment_done, each one's rows counted
            for source_type, name in mapping.event_types.items():
                matched = event_type == source_type.lower()
                bad.note(matched, c.mapped_type_note(name, source_type))  # as the user wrote it
            event_type = event_type.replace(c.folded_types(mapping.event_types))
        if mapping.default_event_type is not None:
            event_type = event_type.mask(is_blank(event_type), mapping.default_event_type)
        bad.flag(is_blank(event_type), "missing_event_type")
        bad.flag(event_type.astype(FAST_TEXT).str.contains(NOT_A_TYPE), INVALID_TYPE)

    # an unmapped 'Currency' column: the amounts' currency, or with counts ignored (unstaged)
    unstaged = c.currency_column(n for n in raw.columns if n not in columns.values())
    if c.AMOUNT in columns:
        amount_col = columns[c.AMOUNT]
        note_counts(mapping.amount_unit, amount_col, checks.notes)
        written = inside_formulas(raw[amount_col], amount_col, checks, FORMULA_AMOUNTS)
        marks = read_marks(written)  # '£1,234.50', '12,50 EUR': the sign read apart
        amount, amount_problem = parse_numbers(
            marks.numbers, mapping.decimal_comma, mapping.dot_thousands, mapping.decimal_point
        )
        if mapping.dot_thousands:
            checks.notes["amounts_grouped_by_points"] = amount_col
        stated_by = columns.get(c.CURRENCY) or unstaged
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
        if given := mapping.currency:  # --currency: a column or sign saying another, refused
            if mapping.dataset_without_currency:
                raise ContractError(
                    given_currency_unrecorded(mapping.dataset_without_currency, given)
                )
            if stated_by:
                refuse_other_currency(raw, stated_by, given, monetary, source)
        checks.money = checks.money or AmountCurrency.of(amount_col, stated_by, mapping)
        mismatch = checks.money.add(raw, marks, amount, monetary)
        amount_problem = amount_problem.mask(mismatch, CURRENCY_MISMATCH)
        # '12.50 Euro': the decimal-comma hint would mislead, name the sign instead
        text = as_text(written[amount_problem.notna()])  # the bad cells only
        signed = text.str.contains(r"\d", regex=True, na=False) & text.str.contains(
            CURRENCY_MARK, regex=True, na=False
        )
        comma = bool((amount_problem == "ambiguous_amount").any())
        signed &= marks.key[signed.index].isna()  # a sign read is no problem of the cell
        expected = amounts(bool(signed.any()), comma, mapping.dot_thousands)
        options = ("--decimal-comma",) * comma  # the decimal comma hints.amounts names
        if mismatch.any():
            said = f"column '{stated_by}'" if stated_by else f"--currency {given}"
            expected, options = currency_agrees(said), ()
        checks.add(raw, amount_problem.notna(), amount_col, expected, options)
        invalid = (amount_problem == "invalid_amount").fillna(False).astype(bool)
        if invalid.any() and INVALID_AMOUNTS not in checks.notes:  # the summary's example
            said = {"column": amount_col, "expected": expected}
            checks.notes[INVALID_AMOUNTS] = said | {"example": text[invalid.idxmax()]}
        bad.flag_each(amount_problem)
        bad.flag(amount.isna() & ~is_blank(written), "non_finite_amount")
        negative = amount < 0
        if mapping.negative_amount_is_refund:
            refunded = negative & (event_type == c.PURCHASE)
            event_type = event_type.mask(refunded, c.REFUND)
            bad.note(refunded, NEGATIVE_REFUNDS)
            amount = amount.abs()
        elif not allow_negative_amounts:
            bad.flag(negative, "negative_amount")
            if negative.any() and NEGATIVE_AMOUNTS not in checks.notes:  # the summary's example
                first = negative.idxmax()
                checks.notes[NEGATIVE_AMOUNTS] = {
                    "column": amount_col,
                    "example": f"{c.row_named(raw, first)} has {amount_col}='{written[first]}'",
                }
        if amount_default is not None:
            defaulted = monetary & is_blank(written)
            amount = amount.mask(defaulted, amount_default)
            bad.note(defaulted, AMOUNT_DEFAULTED)
            checks.notes.update(
                amount_default=amount_default,
                amount_in_file=True,
                amount_unit="as in the file; empty purchase or refund amounts given the default",
            )
        bad.flag(monetary & amount.isna(), "missing_amount")
        bad.note((event_type == c.PURCHASE) & (amount == 0), FREE_PURCHASES)  # activity
    else:
        amount = pd.Series(np.nan, index=raw.index, dtype="float64")
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
        # no amounts to read so: refused if given on the command, not if an append's record
        if mapping.currency and "currency" not in mapping.recorded_options:
            checks.notes[CURRENCY_IGNORED] = mapping.currency
        if mapping.amount_unit in UNIT_READS and "amount_unit" not in mapping.recorded_options:
            checks.notes[UNIT_IGNORED] = mapping.amount_unit
        if amount_default is not None:
            amount = amount.mask(monetary, amount_default)
            bad.note(monetary, AMOUNT_DEFAULTED)
            checks.notes.update(
                amount_default=amount_default,
                amount_in_file=False,
                amount_unit="purchases: no amount column, each purchase or refund counts the "
                "default, so LTV is a number of purchases",
            )
        elif monetary.any():
            first = monetary[monetary].index[0]
            said = (
                f"{source}: no amount column '{mapping.source(c.AMOUNT)}', but "
                f"{c.row_named(raw, first)} is a {event_type[first]}, and purchase and refund rows need one (the file "
                f"has: {', '.join(raw.columns)})"
            )
            held = mapping.dataset_with_amounts  # a money dataset: purchases never counted 1
            # the order's total before a unit price (hints.money_column's ranking, as the
            # first refusal's): 'First Item Price' was offered, unquoted, before 'Total'
            named = money_column(raw, [*columns.values()]) or c.named_as_amount(
                raw.columns, columns.values()
            )
            if named and (quantity := c.quantity_beside_price(raw.columns, named)):
                raise ContractError(
                    f"{said}. {unit_price_said(raw, named, quantity)}", (MAP_AMOUNT,)
                )
            if named:  # a renamed column
                counted = "; for a log without amounts use --amount-default 1 (each purchase"
                option = f"--map amount={shlex.quote(named)}"
                raise ContractError(
                    f"{said}. If '{named}' holds them, name it with {option}"
                    + ("" if held else f"{counted} counts 1)"),
                    (option,),
                )
            # no name says money (a Japanese shop's '金額'): its columns of numbers, named
            numbers = number_columns(raw, columns.values())
            seen = f" ({number_columns_said(numbers)} holds numbers)" if numbers else ""
            if len(numbers) == 1:  # the map to give, named
                seen = f"{seen[:-1]}: --map amount={shlex.quote(numbers[0][0])})"
            if held:
                raise ContractError(
                    f"{said}. Dataset '{held}' holds amounts, so this file's purchases need "
                    f"theirs: name its amount column with {MAP_AMOUNT}{seen}",
                    (MAP_AMOUNT,),
                )
            raise ContractError(
                f"{said}. For a log without amounts use --amount-default 1 (each row counts "
                "1 and the rows of one user at one moment are one order: LTV in purchases, or "
                "in items where a row is an item of a basket), or name the amount column with --map "
                f"amount=COLUMN{seen}",
                ("--amount-default 1",),
            )

    counts = counted_by(checks.notes) is not None  # no amounts, none counted (--amount-unit)
    # no money to be in: said, and not staged (an append would compare its codes as money)
    if counts and unstaged:
        checks.notes[CURRENCY_COLUMN] = {"column": unstaged}
    events = pd.DataFrame(
        {c.USER_ID: user_id, c.EVENT_TIME: event_time, c.EVENT_TYPE: event_type, c.AMOUNT: amount}
    )
    for name in (c.CURRENCY, c.ORDER_ID):
        if name in columns:
            events[name] = text_column(raw, columns[name], name, bad).str.strip().replace("", pd.NA)
    if c.AMOUNT in columns and checks.money is not None:
        bad.note(record_currency(events, checks, columns, marks.code, raw), CURRENCY_GIVEN)
    if c.AMOUNT in columns and mapping.amount_unit:  # Stripe's 7045 cents: 70.45 USD
        stated = checks.money.stated_by if checks.money else None
        currency = events.get(c.CURRENCY, raw[stated] if stated else None)
        given = ~is_blank(written)  # an --amount-default is in no minor unit
        unit, notes = mapping.amount_unit, checks.notes
        events[c.AMOUNT] = in_major_units(
            events[c.AMOUNT], currency, unit, given, source, amount_col, notes, raw
        )
    # 536365.0 is the order 536365: CSV text written so, or a Parquet integer column with a
    # null (floats) or of decimals (536365.00), as user ids: else re-sent orders were new
    # ones beside their other copy
    order = raw[columns[c.ORDER_ID]] if c.ORDER_ID in columns else None
    numbers = order is not None and (
        pd.api.types.is_float_dtype(order) or pd.api.types.infer_dtype(order) == "decimal"
    )
    if order is not None and (c.ORDER_ID in mapping.whole_float_ids or numbers):
        events[c.ORDER_ID] = events[c.ORDER_ID].str.replace(r"^(-?[0-9]+)\.0+$", r"\1", regex=True)
    used = {*columns.values(), *([unstaged] if counts and unstaged else [])}
    for extra in raw.columns:
        if extra not in used and extra not in events.columns:
            # free text is kept as it is, but as text: bytes decoded (forget scrubs text)
            events[extra] = kept_text(raw[extra], partial(as_text, raw[extra]))
    return events


# a sign, or a word beside the number ('12.50 euros', 'Rs. 4'): a currency no mark names
CURRENCY_MARK = r"[$£€¥₹]|(?:^|[\s\d])[A-Za-z]{2,}\s*$|^\s*[A-Za-z]{2,}\.?[\s\d]"
INVALID_TYPE = "invalid_event_type"  # a line break, a NUL, not text: no type anyone meant
NOT_A_TYPE = f"{CONTROL_CHARACTER}|\ufffd"  # as_text's mark of a list, a map, bytes not UTF-8


def column_times(
    raw: pd.DataFrame, column: str, mapping: c.ColumnMapping, checks: TableChecks
) -> tuple[pd.Series, pd.Series]:
    """A time column parsed, with the evidence the whole-table checks need."""
    order = checks.dates.order_of(column, mapping.date_order)
    if checks.dates.read_as.get(column, {}).get("order") == SERIAL:  # a first pass found it
        system = checks.dates.read_as[column].get("system", 1900)
        times, problem, zoned = serial_times(raw[column], mapping.timezone, system)
        order = SERIAL
    else:
        times, problem, zoned = parse_times_zoned(
            raw[column], mapping.timezone, mapping.time_format, order
        )
    evidence = checks.add(raw, problem.notna(), column, timestamps())
    # '08:39 +0100' beside '08:19': the second read in mapping.timezone, maybe hours apart
    for kind, rows in ((evidence.zoned, zoned), (evidence.zoneless, times.notna() & ~zoned)):
        kind[0] += int(rows.sum())
        kind[1] = kind[1] or (example_cell(raw, rows, column) if rows.any() else None)
    zone, zoneless = mapping.timezone, evidence.zoneless[0]
    note_zoneless(checks.notes, column, raw[column], zoneless, zone, mapping.time_format)
    if evidence.zoned[0] and evidence.zoneless[0]:
        checks.notes.setdefault(ZONES_MIXED, {})[column] = {
            "with_zone": evidence.zoned,
            "without_zone": evidence.zoneless,
            "read_in": mapping.timezone,
        }
    evidence.declared = mapping.time_format
    if evidence.first is None and (filled := ~is_blank(raw[column])).any():
        evidence.first = example_cell(raw, filled, column)
    if evidence.epoch_format is not False and mapping.time_format in (None, *EPOCH_FORMATS):
        found = epoch_format(raw[column])  # every chunk's the same, or no hint
        found = None if found == mapping.time_format else found  # right unit: no hint
        same = evidence.epoch_format in (None, found)
        evidence.epoch_format = found if found and same else False
    if mapping.time_format is None and order == "auto":
        checks.dates.add(raw, column, problem, example_cell)
    return times, problem


def text_column(raw: pd.DataFrame, column: str, name: str, bad: Quarantine) -> pd.Series:
    """A column of text (currency, order id, channel, a users attribute) as text, bytes read
    as UTF-8; a cell with a control character (a line break of a quoted cell, a tab, a NUL)
    or no text (a list, bytes not UTF-8) is no value anyone meant: ``invalid_<name>``."""
    text = as_text(raw[column])
    bad.flag(text.astype(FAST_TEXT).str.contains(NOT_A_TYPE), f"invalid_{name}")
    return text


Check = Callable[[pd.DataFrame, TableChecks], tuple[pd.DataFrame, Quarantine]]
Prepare = Callable[[pd.DataFrame], tuple[pd.DataFrame, Quarantine]]


@dataclass(frozen=True)
class TableRules:
    """How one table is checked: the per-chunk row rules and the whole-table ones."""

    table: str
    check: Check  # raw chunk -> (contract-shaped rows, same index; their quarantine flags)
    unique_by: tuple[str, ...] | None = None  # repeats of these among good rows; None: all
    duplicate_reason: str = "duplicate_row"
    order_by: tuple[str, ...] = ()  # then file order
    keep_repeats: bool = False  # repeats are separate events: counted, not quarantined
    noted: tuple[str, ...] = ()  # Quarantine.note names counted over the loaded rows
    not_bad: tuple[str, ...] = ()  # quarantine reasons that say nothing of the file's quality
    max_amount_ratio: float = DEFAULT_MAX_AMOUNT_RATIO  # amounts beyond ratio x median: absurd
    # an append's median amount beyond shift x the dataset's (or below its share): refused
    max_amount_shift: float = DEFAULT_MAX_AMOUNT_SHIFT
    order_lines: bool = False  # rows are an order's lines: equal ones may be two items
    timezone: str = "UTC"  # the zone zoneless times were read in (their wall clock and day)


def latest_time(latest: pd.Timestamp | None = None) -> pd.Timestamp:
    """The newest time an event or a sign-up may hold: ``latest``, by default a day past now
    (a clock or zone a little ahead); later ones are quarantined."""
    return latest or pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)


def event_rules(
    mapping: c.ColumnMapping,
    source: str,
    *,
    allow_negative_amounts: bool = False,
    latest_event: pd.Timestamp | None = None,
    prepare: Prepare | None = None,
    amount_default: float | None = None,
    keep_repeats: bool = False,
    max_amount_ratio: float = DEFAULT_MAX_AMOUNT_RATIO,
    max_amount_shift: float = DEFAULT_MAX_AMOUNT_SHIFT,
) -> TableRules:
    """The events contract; ``prepare`` lets an adapter reshape a raw chunk and flag rows
    for its own reasons first (its quarantine keeps the original raw values).

    ``amount_default``: the amount of purchase and refund rows that have none (see
    :func:`check_events`). ``keep_repeats``: exact repeats are separate events (two
    identical purchases at the same moment), counted as ``repeats_kept``, not quarantined.
    ``max_amount_ratio``: see :func:`features.money_checks.absurd_amounts`;
    ``max_amount_shift``: :func:`features.money_checks.refuse_amount_shift`.
    """
    if amount_default is not None and not (math.isfinite(amount_default) and amount_default > 0):
        raise ValueError(f"amount_default must be a positive number, got {amount_default}")
    latest = latest_time(latest_event)
    # a line-item export's later lines of an order
    order_lines = OrderLines(mapping, unpriced=amount_default is None)

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        reordered_header(raw, source)  # two files concatenated, in two column orders
        shaped, bad = prepare(raw) if prepare else (raw, Quarantine(raw))
        shaped = order_lines.fold(shaped, bad, checks.notes)
        if bad.user_column is None:
            bad.user_column = mapping.source(c.USER_ID)
        bad.codes = (*bad.codes, *(mapping.source(n) for n in c.CODE_COLUMNS))
        events = check_events(
            shaped,
            mapping,
            source,
            bad,
            checks,
            allow_negative_amounts=allow_negative_amounts,
            latest_event=latest,
            amount_default=amount_default,
        )
        return events, bad

    return TableRules(
        "events",
        check,
        order_by=(c.EVENT_TIME, c.USER_ID),
        keep_repeats=keep_repeats,
        max_amount_ratio=max_amount_ratio,
        max_amount_shift=max_amount_shift,
        not_bad=(LINE_ITEM,),
        timezone=mapping.timezone,
        noted=(FREE_PURCHASES,)
        + ((AMOUNT_DEFAULTED,) if amount_default is not None else ())
        + ((NEGATIVE_REFUNDS,) if mapping.negative_amount_is_refund else ())
        + ((CURRENCY_GIVEN,) if mapping.currency else ())
        + tuple(c.mapped_type_note(name, source) for source, name in mapping.event_types.items()),
    )
