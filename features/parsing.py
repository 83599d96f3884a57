"""Honest parsing of raw cells: user ids, amounts and timestamps.

Each parser returns the parsed values and, per row, the reason a filled cell could not be
taken as it is (NA where it could): the caller quarantines those rows. Nothing is guessed:
an id is the text the file holds, an amount with a comma that could be a decimal comma is
ambiguous, a time with a zone this module does not know is not taken as UTC, and a
``01/02/2023`` that could be either order is ambiguous unless the order is given.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.raw_ids import integer_ids
from features.read_words import SPREADSHEET_SERIAL

# -- ids -------------------------------------------------------------------------------

# How writers spell a missing value as text (pandas writes NaN and <NA> into a CSV): an id
# cell holding one of these is missing, never a user of that name.
NULL_TOKENS = ("", "nan", "NaN", "<NA>", "NA", "N/A", "null", "NULL", "None")
WHOLE_FLOAT_ID = c.WHOLE_FLOAT_ID  # 18074.0: pandas' integer ids in a column with a null
CONTROL_CHARACTER = c.CONTROL_CHARACTER
ROUNDED_ID = r"[0-9](?:[.,][0-9]+)?[eE]\+?[0-9]+"  # 1.23457E+11, as Excel shows a long number


def parse_ids(
    values: pd.Series, whole_floats: bool = False, rounded: pd.Series | None = None
) -> tuple[pd.Series, pd.Series]:
    """User ids as the text the source holds: integers without ``.0``, nothing stripped.

    Returns (ids, reason): reason is ``missing_user_id`` for an empty or blank cell or a
    null token (``nan``, ``<NA>``, ...), ``invalid_user_id`` for a value that is not text or
    a whole number (a list, a map, bytes, true/false, 1.5) and ``user_id_too_long`` past the
    API's limit. ``whole_floats``: text ids written ``18074.0`` are the integers they hold.
    ``rounded``: :func:`rounded_ids` of ``values`` when the caller has it already.
    """
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    if pd.api.types.is_bool_dtype(values):
        ids = values.astype("string")
        reason[:] = "invalid_user_id"
    elif pd.api.types.is_integer_dtype(values):
        ids = values.astype("string")
    elif pd.api.types.is_float_dtype(values):
        # an integer column with a null arrives as floats: 7.0 is the id 7
        whole = values.notna() & np.isfinite(values) & (values == np.round(values))
        ids = pd.Series(pd.NA, index=values.index, dtype="string")
        ids[whole] = values[whole].astype("int64").astype("string")
        reason[values.notna() & ~whole] = "invalid_user_id"
    elif pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        ids = values.astype("string")
    else:
        ids, invalid = _object_ids(values)
        reason[invalid] = "invalid_user_id"
    if whole_floats:
        ids = integer_ids(ids)
    blank = ids.isna() | ids.str.strip().isin(NULL_TOKENS)
    reason = reason.mask(blank & reason.isna(), "missing_user_id")
    too_long = ids.str.len() > c.MAX_USER_ID_CHARS
    reason = reason.mask(too_long.fillna(False) & reason.isna(), "user_id_too_long")
    # A control character (the NUL of a damaged export, a line break in a quoted cell) is in
    # no id anyone can type, list or ask the API for: '7\x00' is not a user beside '7'; nor
    # is one nobody sees ('bob' + a zero-width space, a right-to-left override).
    control = ids.astype(FAST_TEXT).str.contains(c.ID_REFUSED_CHARACTER, regex=True)
    reason = reason.mask(control.fillna(False).astype(bool) & reason.isna(), "invalid_user_id")
    rounded = rounded_ids(values) if rounded is None else rounded
    reason = reason.mask(rounded & reason.isna(), "invalid_user_id")
    return ids.where(reason.isna()), reason


def rounded_ids(values: pd.Series) -> pd.Series:
    """Ids written as a spreadsheet shows a long number (``1.23457E+11``): rounded, so users
    whose ids agree in the first digits would share one; never an id of its own."""
    text = as_text(values).astype(FAST_TEXT).str.strip()
    return text.str.fullmatch(ROUNDED_ID, na=False).fillna(False).astype(bool)


def _object_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ids of an object column, value by value: only text and whole numbers are ids."""
    out: list[Any] = []
    invalid: list[bool] = []
    for value in values.tolist():
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            out.append(pd.NA)
            invalid.append(False)
        elif isinstance(value, str):
            out.append(value)
            invalid.append(False)
        elif _whole_number(value):
            out.append(str(int(value)))
            invalid.append(False)
        else:
            out.append(pd.NA)
            invalid.append(True)
    return (
        pd.Series(out, index=values.index, dtype="string"),
        pd.Series(invalid, index=values.index, dtype=bool),
    )


def _whole_number(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | np.integer):
        return True
    if isinstance(value, Decimal):  # a database's NUMERIC(20, 0) / Spark's DecimalType ids
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, float | np.floating) and float(value).is_integer()


FAST_TEXT = "string[pyarrow]"  # regular expressions over it run in Arrow, not row by row


# -- amounts ---------------------------------------------------------------------------

NON_FINITE_WORDS = ("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")
# ASCII digits only: other scripts' digits are not read as numbers here
_PLAIN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_POINT_GROUPED = r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+"  # 1,234.50: commas group thousands
_COMMA_PLAIN = r"[+-]?[0-9]+(?:,[0-9]+)?"  # decimal comma: 12,5
_COMMA_GROUPED = r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?"  # 1.234,50
# 1.785: 1785 where a point groups thousands (features.forms tells such a column), else 1.785
DOT_GROUPED = r"[+-]?[1-9][0-9]{0,2}(?:\.[0-9]{3})+"
# a space groups thousands in either form (French, Nordic exports; often a no-break space)
_SPACE = "[ \u00a0\u202f]"
_SPACE_GROUPED = rf"[+-]?[0-9]{{1,3}}(?:{_SPACE}[0-9]{{3}})+"
_MAYBE_COMMA = (
    r"[+-]?(?:[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+|[0-9]+,[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)"
    rf"|{_SPACE_GROUPED},[0-9]+"  # 1 234,50: a decimal comma, read with --decimal-comma
)


def parse_numbers(
    values: pd.Series,
    decimal_comma: bool = False,
    dot_thousands: bool = False,
    decimal_point: bool = False,
) -> tuple[pd.Series, pd.Series]:
    """Numbers of a column: (finite values or NaN, reason per filled cell that is not one).

    Reasons: ``invalid_amount`` (not a number: words, true/false, ``1,2,3``) and
    ``ambiguous_amount`` (``12,5``, ``1.234,50``, ``1,234``: a decimal comma or a thousands
    separator, unknowable without ``decimal_comma``; and ``1.785`` in a column that groups
    thousands with a point, ``dot_thousands``); ``decimal_point``: the point is a decimal
    mark, so a comma only groups thousands (1,234 is 1234; 12,5 invalid). ``nan`` and ``inf``
    parse to NaN with no reason: the caller calls them non-finite.
    """
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    if pd.api.types.is_bool_dtype(values):
        reason[values.notna()] = "invalid_amount"
        return pd.Series(np.nan, index=values.index), reason
    if pd.api.types.is_numeric_dtype(values):
        numbers = _widened(values) + 0.0  # + 0.0: -0.0 is 0
        return numbers.where(np.isfinite(numbers)), reason
    text = number_text(values)
    filled = ~(text.isna() | (text == ""))
    quick = not decimal_comma and not (dot_thousands and not decimal_point)
    if quick and (numbers := _plain_numbers(text, filled)) is not None:
        return numbers, reason
    if decimal_comma:
        spaced = rf"{_SPACE_GROUPED}(?:,[0-9]+)?"
        plain = text.str.fullmatch(f"{_COMMA_PLAIN}|{_COMMA_GROUPED}|{spaced}", na=False)
        normal = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        ambiguous = pd.Series(False, index=values.index)
    else:
        spaced = rf"{_SPACE_GROUPED}(?:\.[0-9]+)?"
        plain = text.str.fullmatch(f"{_PLAIN}|{_POINT_GROUPED}|{spaced}", na=False)
        normal = text.str.replace(",", "", regex=False)
        if decimal_point:
            plain |= text.str.fullmatch(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+", na=False)
        ambiguous = ~plain & text.str.fullmatch(_MAYBE_COMMA, na=False) & (not decimal_point)
        if dot_thousands and not decimal_point:
            ambiguous |= text.str.fullmatch(DOT_GROUPED, na=False)
            plain &= ~ambiguous
        zero = ambiguous & ~text.str.contains("[1-9]", regex=True, na=False)  # 0,00 either way
        plain, ambiguous = plain | zero, ambiguous & ~zero
    normal = normal.str.replace(_SPACE, "", regex=True)
    words = text.str.lower().isin(NON_FINITE_WORDS).fillna(False).astype(bool)
    numbers = pd.to_numeric(normal.where(plain), errors="coerce").astype("float64") + 0.0
    reason[filled & ambiguous] = "ambiguous_amount"
    reason[filled & ~plain & ~ambiguous & ~words] = "invalid_amount"
    return numbers.where(np.isfinite(numbers)), reason


def _plain_numbers(text: pd.Series, filled: pd.Series) -> pd.Series | None:
    """:func:`parse_numbers`' numbers of a column whose every filled cell is a plain number
    (online_retail's Quantity and UnitPrice), else None. The forms it reads besides (commas,
    spaces, words, the ambiguous) find nothing in such a column, and cost 16 of its 56 ms
    per 100,000 cells: the same numbers, no reason. Not for a decimal comma or a point that
    groups thousands, which read a plain ``1.785`` otherwise."""
    plain = text.str.fullmatch(_PLAIN, na=False)
    if not plain[filled].all():
        return None
    numbers = pd.to_numeric(text.where(plain), errors="coerce").astype("float64") + 0.0
    return numbers.where(np.isfinite(numbers))


def _widened(values: pd.Series) -> pd.Series:
    """Numbers as float64; a float32 (or float16) as the decimals it shows: 139.12 saved
    as float32 holds 139.1199951171875, noise every sum would carry."""
    if pd.api.types.is_float_dtype(values) and values.dtype.itemsize < 8:
        narrow = values.to_numpy(dtype=f"f{values.dtype.itemsize}", na_value=np.nan)
        return pd.Series(narrow.astype(str).astype("float64"), index=values.index)
    return values.astype("float64")


# Minus as accounting and ERP exports write it: (12.50), 12.50- (SAP), and U+2212 MINUS SIGN
_PARENTHESES = rf"^\(([0-9][0-9.,]*(?:{_SPACE}[0-9.,]+)*)\)$"
_TRAILING_MINUS = rf"^([0-9][0-9.,]*(?:{_SPACE}[0-9.,]+)*)-$"


def number_text(values: pd.Series) -> pd.Series:
    """A text column's cells as :func:`parse_numbers` reads them: trimmed, a minus written
    as accounting writes it made ``-`` (what judges a whole column's form reads the same)."""
    return _signed(as_text(values).astype(FAST_TEXT).str.strip())


def _signed(text: pd.Series) -> pd.Series:
    """Amounts written negative in an accounting form, as -12.50 (never another number)."""
    marked = text.str.contains("[()\u2212]|-$", regex=True).fillna(False).astype(bool)
    if not marked.any():  # the usual file: no row pays for the replacements below
        return text
    signed = text[marked].str.replace("\u2212", "-", regex=False)
    signed = signed.str.replace(_PARENTHESES, r"-\1", regex=True)
    text = text.copy()
    text[marked] = signed.str.replace(_TRAILING_MINUS, r"-\1", regex=True)
    return text


def parse_amounts(values: pd.Series) -> pd.Series:
    """Parse numbers; anything that is not a finite number becomes NaN."""
    numbers, _ = parse_numbers(values)
    return numbers


def as_text(values: pd.Series) -> pd.Series:
    """Text of a raw column; bytes are decoded as UTF-8 (undecodable: NA), lists and maps
    are NA-free placeholders that parse as nothing."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # a Parquet dictionary column
        values = values.astype(object)
    if pd.api.types.is_object_dtype(values) and not all_text(values):
        kinds = {type(v) for v in values.dropna().tolist()[:1000]}
        if kinds - {str}:
            values = values.map(_cell_text, na_action="ignore")
    return values.astype("string")


def all_text(values: pd.Series) -> bool:
    """Whether every filled cell of an object column is a str (a CSV's column), so it is
    text as it is: one pass in C, where reading each cell costs a Python call."""
    return pd.api.types.infer_dtype(values, skipna=True) == "string"


def is_text(values: pd.Series) -> bool:
    """A column of text (or of bytes, a Parquet's binary): not numbers, times, lists."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # a Parquet dictionary column
        values = values.cat.categories.to_series()
    if not pd.api.types.is_object_dtype(values):
        return pd.api.types.is_string_dtype(values)
    return {type(v) for v in values.dropna().tolist()[:1000]} <= {str, bytes, bytearray}


def kept_text(values: pd.Series, read: Callable[[], pd.Series]) -> pd.Series:
    """An extra column as stored: its text (``read()``: bytes decoded) in the column's own
    kind (an object column stays one, as a CSV's is); the values themselves if no text."""
    if not is_text(values):
        return values
    text = read()
    return text.astype(object).where(text.notna(), None) if values.dtype == object else text


def raw_text(values: pd.Series) -> pd.Series:
    """A raw column as text for the quarantine file: every value shown, none parsed
    (bytes that are not UTF-8 as escapes, a list as its repr)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # a Parquet dictionary column
        values = values.astype(object)
    if not pd.api.types.is_object_dtype(values) or all_text(values):
        return values.astype("string")
    return values.map(_shown, na_action="ignore").astype("string")


def _shown(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    return value if isinstance(value, str) else str(value)


def _cell_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "\ufffd"
    if isinstance(value, bool | np.bool_):
        return str(value).lower()
    if isinstance(value, int | float | np.integer | np.floating | Decimal | dt.date | dt.datetime):
        return str(value)  # a Parquet decimal amount or a date column reads as its text
    return "\ufffd"  # a list, a map: no value of it is a number or a time


# -- times -----------------------------------------------------------------------------

DATE_ORDERS = ("auto", "dayfirst", "monthfirst")
# Abbreviations that name one offset everywhere they are used; CST, IST, BST, AST ... name
# several (China / Central, India / Irish / Israel ...) and are refused as ambiguous.
ZONE_OFFSETS_HOURS = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "ZULU": 0, "WET": 0, "WEST": 1, "CET": 1, "CEST": 2,
    "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "JST": 9, "KST": 9,
    "AEST": 10, "AEDT": 11, "ACST": 9.5, "ACDT": 10.5, "AWST": 8, "NZST": 12, "NZDT": 13,
}  # fmt: skip
AMBIGUOUS_ZONES = ("CST", "CDT", "IST", "BST", "AST", "ADT", "SST", "GST", "PST8", "ECT")
_FIRST = dt.datetime(2000, 1, 1)
LOCAL_TIME = "nonexistent_or_repeated_local_time"
_OFFSET = r"(?:Z|[+-]\d\d(?::?\d\d)?)"  # +01 alone too: PostgreSQL writes timestamptz so
# an offset follows a time of day: the '-2010' that ends 01-12-2010 is the year
_TIME_THEN_OFFSET = re.compile(
    rf"(?:\d:\d\d(?::\d\d)?(?:[.,]\d+)?|T\d{{2,6}}(?:[.,]\d+)?)\s*{_OFFSET}$"
)
MAX_OFFSET_HOURS = 14  # Kiribati's +14:00; the lowest is -12:00
_WORD_ZONE = re.compile(
    r"^(?P<body>.*\d)\s*(?P<word>[A-Za-z][A-Za-z_]*(?:/[A-Za-z0-9_+\-]+)*)"
    r"(?P<offset>[+-]\d{1,2}(?::?\d\d)?)?$"
)
_MAYBE_WORD_ZONE = r"[A-Za-z][A-Za-z_]+$|[A-Za-z_]/[A-Za-z]|[A-Za-z][+-][0-9]{1,2}(?::?[0-9]{2})?$"
_NUMERIC_DATE_START = r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2}"
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}(?:\D|$)")
_HAS_YEAR = re.compile(r"\d{4}|^\d{1,2}[/.-]\d{1,2}[/.-]\d{2}")
_MERIDIEM = ("AM", "PM", "A", "P")


# --time-format values that are no strftime format: seconds (milliseconds) since 1970 UTC
EPOCH_FORMATS = {"%s": "s", "%ms": "ms"}
EPOCH_SECONDS = (631_152_000, 4_102_444_800)  # 1990-01-01 .. 2100-01-01, the epoch seconds hint
# 1291192440.0 (pandas writes a column with a null so), 1291192440.25 (time.time())
EPOCH_FRACTION = r"(?:\.[0-9]+)?"


SERIAL_DAYS = (32_874, 73_051)  # 1990-01-01 .. 2100-01-01 as a spreadsheet's serial dates


def epoch_format(values: pd.Series) -> str | None:
    """``%s`` when every filled value is a whole number of seconds since 1970 that falls in
    1990..2100, ``%ms`` when of milliseconds (what a JavaScript export writes),
    :data:`SPREADSHEET_SERIAL` when of days since 1899-12-30 (a spreadsheet's date column
    saved unformatted: 45292.4375), else None."""
    if pd.api.types.is_datetime64_any_dtype(values):  # typed times: their text is a date
        return None
    text = as_text(values).astype(FAST_TEXT).str.strip()
    text = text[text.notna() & (text != "")]
    if not text.empty and text.str.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?").all():
        days = text.astype("float64")
        return SPREADSHEET_SERIAL if days.between(*SERIAL_DAYS).all() else None
    for time_format, digits, per_second in (
        ("%s", f"[0-9]{{9,10}}{EPOCH_FRACTION}", 1),
        ("%ms", f"[0-9]{{12,13}}{EPOCH_FRACTION}", 1000),
    ):
        if not text.empty and text.str.fullmatch(digits).all():
            seconds = text.astype("float64") // per_second
            return time_format if seconds.between(*EPOCH_SECONDS).all() else None
    return None


def parse_times(
    values: pd.Series,
    timezone: str = "UTC",
    time_format: str | None = None,
    date_order: str = "auto",
) -> pd.Series:
    """Timestamps as tz-aware UTC; what cannot be read honestly is NaT."""
    return parse_times_zoned(values, timezone, time_format, date_order)[0]


def parse_times_zoned(
    values: pd.Series,
    timezone: str = "UTC",
    time_format: str | None = None,
    date_order: str = "auto",
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Timestamps as tz-aware UTC; per filled cell that is not one a reason:
    ``unknown_time_zone``, ``ambiguous_time_zone``, ``ambiguous_date_order``,
    ``nonexistent_or_repeated_local_time`` (a wall time a clock change skips or repeats in
    ``timezone`` or the named zone) or ``unparseable`` (the caller names the column in it).

    Offsets (``Z``, ``+01:00``, ``UTC+3``) are kept; zone names (``Europe/Paris``) and
    unambiguous abbreviations (``EST``, ``PST``, ``GMT``) are applied; values without a
    zone are read in ``timezone``. ``date_order`` decides ``01/02/2023``: auto reads only
    dates whose order shows (``31/12/2023``, ``12/31/2023``) and calls the rest ambiguous.
    Third: the text cells that carried their own offset or zone (a typed column: none).
    """
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    zoned = pd.Series(False, index=values.index)
    if time_format in EPOCH_FORMATS:
        return *_parse_epoch(values, EPOCH_FORMATS[time_format]), zoned
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out = parsed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        reason[out.isna() & values.notna()] = "unparseable"
        return out, reason, zoned
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        reason[values.notna()] = "unparseable"  # a number is no time (which epoch? unit?)
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]"), reason, zoned
    text = as_text(values).astype(FAST_TEXT).str.strip()
    filled = ~(text.isna() | (text == ""))
    # a damaged cell ('2024-01-0\x002') is no time: the parser would skip the NUL and guess
    reason[filled & text.str.contains(CONTROL_CHARACTER, regex=True, na=False)] = "unparseable"
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    body = text.copy()
    zone = pd.Series(pd.NA, index=values.index, dtype="string")  # a zone word, upper case
    if time_format is None:
        # only rows that can end in a zone word go through the (row by row) extraction
        maybe = filled & text.str.contains(_MAYBE_WORD_ZONE, regex=True).fillna(False).astype(bool)
        found = text[maybe].str.extract(_WORD_ZONE)
        word = found["word"].astype("string")
        named = word.notna() & ~word.str.upper().isin(_MERIDIEM)
        named = named.reindex(values.index, fill_value=False).astype(bool)
        if named.any():
            body[named] = found.loc[named[named].index, "body"]
            offset = found.loc[named[named].index, "offset"].fillna("")
            zone[named] = found.loc[named[named].index, "word"] + "|" + offset
    has_offset = filled & zone.isna() & body.str.contains(_TIME_THEN_OFFSET, na=False)
    naive = filled & zone.isna() & ~has_offset
    # +25:00 or +05:75 is no offset (the world's run -12:00..+14:00): never a shifted time
    parts = body[has_offset].str.extract(r"[+-]([0-9]{2})(?::?([0-9]{2}))?$").astype(float)
    impossible = (parts[0] > MAX_OFFSET_HOURS) | (parts[1].fillna(0) >= 60)
    reason[impossible[impossible].index] = "unparseable"
    order = _date_order(body, filled, date_order, time_format, reason)
    if has_offset.any():
        out[has_offset] = _parse_text(body[has_offset], time_format, order[has_offset], utc=True)
    for zone_key in zone.dropna().unique():
        rows = zone == zone_key
        word, _, offset = str(zone_key).partition("|")
        local = _parse_text(body[rows], None, order[rows], utc=False)
        utc, problem = _apply_zone(local, word, offset)
        out[rows] = utc
        reason[rows & reason.isna()] = problem
        skipped = (local.notna() & utc.isna()).reindex(reason.index, fill_value=False)
        reason[skipped & reason.isna()] = LOCAL_TIME
    if naive.any():
        local = _parse_text(body[naive], time_format, order[naive], utc=False)
        localized = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = localized.dt.tz_convert("UTC")
        reason[
            naive & (local.notna() & localized.isna()).reindex(reason.index, fill_value=False)
        ] = LOCAL_TIME
    reason[filled & out.isna() & reason.isna()] = "unparseable"
    out[reason.notna()] = pd.NaT
    return out, reason, (has_offset | zone.notna()) & reason.isna()


def _parse_epoch(values: pd.Series, unit: str) -> tuple[pd.Series, pd.Series]:
    """Numbers of ``unit`` since 1970-01-01 UTC (``1291192440``, ``1291192440.0`` as a
    column with a null is written, ``1291192440.25``); anything else is unparseable."""
    text = as_text(values).astype(FAST_TEXT).str.strip()
    parts = text.str.extract(f"^(-?[0-9]{{1,15}})({EPOCH_FRACTION})$")
    numbers = pd.to_numeric(parts[0], errors="coerce").astype("float64")
    out = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    # the fraction exactly, to the microsecond (as a float, .001 s would be 999.928 us)
    digits = 6 if unit == "s" else 3
    fraction = parts[1].str[1:].str.ljust(digits, "0").str[:digits].replace("", "0")
    micros = pd.to_numeric(fraction, errors="coerce").fillna(0).astype("int64")
    sign = np.where(parts[0].str.startswith("-").fillna(False).astype(bool), -1, 1)
    out = out + pd.to_timedelta(micros * sign, unit="us")
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    reason[text.fillna("").ne("") & out.isna()] = "unparseable"  # also beyond pandas' range
    return out.astype("datetime64[us, UTC]"), reason


def _date_order(
    body: pd.Series, rows: pd.Series, date_order: str, time_format: str | None, reason: pd.Series
) -> pd.Series:
    """Per row: True to read a numeric date day first, False month first; ambiguous and
    impossible orders get their reason in ``reason``."""
    dayfirst = pd.Series(date_order == "dayfirst", index=body.index)
    if time_format is not None:
        return dayfirst
    first, second = _numeric_date_parts(body[rows])
    if first.empty:
        return dayfirst
    numeric = first.notna()
    if date_order == "auto":
        shows_day = numeric & (first > 12) & (second <= 12)
        ambiguous = numeric & (first <= 12) & (second <= 12) & (first != second)
        dayfirst[shows_day[shows_day].index] = True
        reason[ambiguous[ambiguous].index] = "ambiguous_date_order"
    else:
        month = second if date_order == "dayfirst" else first
        impossible = numeric & (month > 12)
        reason[impossible[impossible].index] = "unparseable"
    return dayfirst


def _numeric_date_parts(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The first two numbers of d/m/y or m/d/y dates (NaN for other rows)."""
    maybe = text.str.contains(_NUMERIC_DATE_START, regex=True).fillna(False).astype(bool)
    parts = text[maybe].str.extract(_NUMERIC_DATE).astype("float64")
    if parts.empty:
        empty = pd.Series(np.nan, index=text.index)
        return empty, empty
    return parts[0].reindex(text.index), parts[1].reindex(text.index)


def date_order_evidence(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Rows whose numeric date can only be day first, and those that can only be month first."""
    if pd.api.types.is_datetime64_any_dtype(values):  # typed times: text year first, no order
        return pd.Series(False, index=values.index), pd.Series(False, index=values.index)
    first, second = _numeric_date_parts(as_text(values).astype(FAST_TEXT).str.strip())
    return ((first > 12) & (second <= 12)).fillna(False), ((second > 12) & (first <= 12)).fillna(
        False
    )


def _parse_text(
    text: pd.Series, time_format: str | None, dayfirst: pd.Series, utc: bool
) -> pd.Series:
    """Parse text times (naive unless ``utc``); a value that is not a date and time is NaT."""
    kind = "datetime64[us, UTC]" if utc else "datetime64[us]"
    out = pd.Series(pd.NaT, index=text.index, dtype=kind)
    if text.empty:
        return out
    if time_format is not None:
        parsed = pd.to_datetime(text, errors="coerce", format=time_format, utc=utc)
        return _naive_or_utc(parsed, utc, kind)
    parsed = _naive_or_utc(
        pd.to_datetime(text, errors="coerce", format="ISO8601", utc=utc), utc, kind
    )
    out[:] = parsed
    retry = out.isna() & text.str.contains(_HAS_YEAR, regex=True, na=False)
    for first in (False, True):
        rows = retry & (dayfirst == first)
        if rows.any():
            # log files repeat their timestamps: each distinct text is parsed once
            distinct = text[rows].unique()
            parsed_once = {v: _parse_one(v, first, utc) for v in distinct}
            out[rows] = pd.Series(
                [parsed_once[v] for v in text[rows].tolist()], index=out.index[rows], dtype=kind
            )
    return out


def _naive_or_utc(parsed: Any, utc: bool, kind: str) -> pd.Series:
    # a naive read that found offsets (or several: an object column) is no naive time
    naive = pd.api.types.is_datetime64_any_dtype(parsed) and getattr(parsed.dt, "tz", None) is None
    if not utc and not naive:
        return pd.Series(pd.NaT, index=parsed.index, dtype=kind)
    return parsed.astype(kind)


def _parse_one(value: str, dayfirst: bool, utc: bool) -> Any:
    """One non-ISO time by the general parser; a zone it finds that was not split off (a
    word inside the text) makes it NaT rather than a guess."""
    from dateutil import parser as date_parser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dateutil warns of zone words it does not know
            # fields the text lacks are the first of their kind ('January 2024' is the 1st,
            # as ISO '2024-01' is), never taken from today
            parsed = date_parser.parse(value, dayfirst=dayfirst, yearfirst=False, default=_FIRST)
    except (ValueError, OverflowError, date_parser.ParserError):
        return pd.NaT
    stamp = pd.Timestamp(parsed)
    if utc:
        return stamp.tz_convert("UTC") if stamp.tzinfo is not None else pd.NaT
    return stamp if stamp.tzinfo is None else pd.NaT


def _apply_zone(local: pd.Series, word: str, offset: str) -> tuple[pd.Series, str | float]:
    """Wall times with a zone word (and an optional offset after UTC/GMT) -> UTC, or the
    reason they cannot be."""
    upper = word.upper()
    nothing = pd.Series(pd.NaT, index=local.index, dtype="datetime64[us, UTC]")
    if offset and upper not in ("UTC", "GMT", "UT"):
        return nothing, "unknown_time_zone"
    extra = _offset_hours(offset) if offset else 0.0
    if extra is None:
        return nothing, "unknown_time_zone"  # UTC+25
    if upper in ZONE_OFFSETS_HOURS:
        hours = ZONE_OFFSETS_HOURS[upper] + extra
        shifted = local - pd.Timedelta(hours=hours)
        return shifted.dt.tz_localize("UTC"), pd.NA
    if upper in AMBIGUOUS_ZONES:
        return nothing, "ambiguous_time_zone"
    try:
        zoneinfo.ZoneInfo(word)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return nothing, "unknown_time_zone"
    localized = local.dt.tz_localize(word, ambiguous="NaT", nonexistent="NaT")
    return localized.dt.tz_convert("UTC"), pd.NA


def _offset_hours(offset: str) -> float | None:
    """Hours of ``+05:30`` or ``-3``; None for one no clock has (``+25``, ``+05:75``)."""
    sign = -1 if offset.startswith("-") else 1
    digits = offset[1:].replace(":", "")
    hours, minutes = (digits[:-2], digits[-2:]) if len(digits) > 2 else (digits, "0")
    if int(hours) > MAX_OFFSET_HOURS or int(minutes) >= 60:
        return None
    return sign * (int(hours) + int(minutes) / 60)
