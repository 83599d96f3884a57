"""Honest parsing of timestamps: zones and offsets, epoch seconds, and the order of numeric
dates. As :mod:`features.parsing` does for ids and amounts, each parser returns the parsed
values and, per row, the reason a filled cell could not be taken as it is: a time with a zone
this module does not know is not taken as UTC, and a ``01/02/2023`` that could be either
order is ambiguous unless the order is given.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd

from features.parsing import CONTROL_CHARACTER, FAST_TEXT, as_text
from features.read_words import SPREADSHEET_SERIAL

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
