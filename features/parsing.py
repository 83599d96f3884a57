"""Honest parsing of raw cells: user ids and amounts (timestamps: :mod:`features.time_parsing`).

Each parser returns the parsed values and, per row, the reason a filled cell could not be
taken as it is (NA where it could): the caller quarantines those rows. Nothing is guessed:
an id is the text the file holds, an amount with a comma that could be a decimal comma is
ambiguous, a time with a zone this module does not know is not taken as UTC, and a
``01/02/2023`` that could be either order is ambiguous unless the order is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.raw_ids import integer_ids

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
