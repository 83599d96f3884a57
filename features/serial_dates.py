"""A time column written as a spreadsheet's serial dates: days since 1899-12-30, the time of
day as the fraction (``40544.5`` is 2011-01-01 12:00), what a sheet's date column saved as
CSV without its date format holds.

A column whose every filled value is such a number in 1990..2100
(:func:`features.time_parsing.epoch_format` finds it, chunk by chunk) is read a second time as
serial dates, said in the summary; nothing else in it could be a time. A column that mixes
serials with dates or text reads its dates, and its serials are no time written as the rest
are: ``unparseable``, each, as a number beside dates always was (mostly so: refused, naming
the column).

Excel on Windows counts from 1900 (1899-12-30 is day 0, past its fictitious 1900-02-29); a
workbook of the 1904 date system (old Mac Excel's, File > Options > "Use 1904 date system")
counts from 1904-01-01, 1,462 days later: its serials read so are 4 years and a day early.
A CSV does not say which system its sheet used, and the two overlap in every year read, so
it cannot be told: the summary says which was assumed. A workbook says it (its
``<workbookPr date1904="1"/>``): its date cells are read right (openpyxl applies it), and a
number column of a 1904 workbook is read from 1904-01-01, its frames marked so
(``features.xlsx_reading.DATE_SYSTEM``), said in the summary.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features import contract as c
from features.parsing import FAST_TEXT, as_text
from features.read_words import EACH_ONCE, SERIAL, SHOWN, serial_example
from features.time_parsing import LOCAL_TIME, SERIAL_DAYS
from lifecycle.sql import identifier, literal

DAY_ZERO = pd.Timestamp("1899-12-30")  # day 0 of the 1900 date system
DAY_ZERO_1904 = pd.Timestamp("1904-01-01")  # day 0 of the 1904 date system (old Mac Excel)
_SERIAL = r"([0-9]{5})(\.[0-9]+)?"
# Rows from which a time column of whole serials, each once, reads as ids, not dates: a sheet's
# date column repeats a day across orders; fewer rows can hold each day once by chance
MIN_ID_LIKE_ROWS = 20


def serial_times(
    values: pd.Series, timezone: str, system: int = 1900
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """As :func:`features.time_parsing.parse_times_zoned`: serial dates (to the millisecond, as a
    sheet holds them) of the ``system`` (1900 or 1904) read as wall time in ``timezone``; any
    other filled value unparseable. Third: none carried a zone of its own."""
    text = as_text(values).astype(FAST_TEXT).str.strip()
    filled = text.notna() & (text != "")
    days = pd.to_numeric(text.where(text.str.fullmatch(_SERIAL).fillna(False)), errors="coerce")
    days = days.where(days.between(*SERIAL_DAYS))
    millis = (days.astype("float64") * 86_400_000).round()
    local = (DAY_ZERO_1904 if system == 1904 else DAY_ZERO) + pd.to_timedelta(millis, unit="ms")
    localized = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    out = localized.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    reason[filled & local.notna() & out.isna()] = LOCAL_TIME
    reason[filled & local.isna()] = "unparseable"
    return out, reason, pd.Series(False, index=values.index)


def serial_columns(
    columns: dict[str, Any], read_as: dict[str, dict[str, Any]] | None, system: int = 1900
) -> dict[str, dict[str, Any]]:
    """Of a first pass's time columns (``TableChecks.columns``), those every filled value of
    which is a serial date, and not read so yet: column -> its ``DATES_READ_AS`` note (with
    ``system: 1904`` when the workbook read said so)."""
    found = {}
    for column, evidence in columns.items():
        if (
            evidence.epoch_format == SERIAL
            and evidence.declared is None
            and evidence.filled
            and column not in (read_as or {})
        ):
            found[column] = {"order": SERIAL, "rows": evidence.filled, "example": evidence.first}
            if system == 1904:
                found[column]["system"] = 1904
            found[column][SHOWN] = serial_shown(found[column])
    return found


def serial_shown(note: dict[str, Any]) -> str | None:
    """The time a serial ``DATES_READ_AS`` note's example reads as, as the dataset's summary
    shows it (``2011-01-01 12:00:00``), or None where it reads as none."""
    system = note.get("system", 1900)
    shown = serial_times(pd.Series([serial_example(note)]), "UTC", system)[0].iloc[0]
    return f"{shown:%Y-%m-%d %H:%M:%S}" if pd.notna(shown) else None


def note_each_once(
    con: Any, staged: str, note: dict[str, Any] | None, timezone: str = "UTC"
) -> None:
    """On the ``DATES_READ_AS`` note of the events' time column read as serial dates, whether
    its values are whole days each held by one row (:data:`EACH_ONCE`, of at least
    :data:`MIN_ID_LIKE_ROWS` rows): an order number or id mapped as the time (40512..41000
    read as 489 days, one order each) rather than a sheet's dates, which repeat a day. Days
    and clocks are the wall time of ``timezone``, the zone the serials were read in (in UTC
    a summer time's midnights are another clock)."""
    if not note or note.get("order") != SERIAL or note["rows"] < MIN_ID_LIKE_ROWS:
        return
    local = f"timezone({literal(timezone)}, {identifier(c.EVENT_TIME)})"
    ((rows, days, clocks, first, last),) = con.execute(
        f"SELECT count(*), count(DISTINCT {local}), count(DISTINCT CAST({local} AS TIME)), "
        f"min({local}), max({local}) FROM {staged}"
    ).fetchall()
    if rows >= MIN_ID_LIKE_ROWS and days == rows and clocks == 1:  # whole days, each once
        span = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
        note[EACH_ONCE] = {"first": f"{first:%Y-%m-%d}", "last": f"{last:%Y-%m-%d}"}
        note[EACH_ONCE]["consecutive"] = span == rows
