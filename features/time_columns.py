"""An event time held in two columns: a date column and a time-of-day column beside it, as
shop and till exports write them (``InvoiceDate`` = ``2011-09-01``, ``Time`` = ``14:05``)."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import pandas as pd

from features.parsing import FAST_TEXT, as_text
from features.read_words import ZONELESS
from features.time_parsing import EPOCH_FORMATS
from lifecycle.errors import UserError

JOINED = "+"  # --map event_time=Date+Time: the date column, then the time column
TIME_OF_DAY = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:\s*[AaPp][Mm])?"


def join_date_and_time(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """``raw`` with a column ``source`` that joins its two columns ``DATE+TIME`` (the date,
    a space, the time: a row without a date has none, one without a time is the date
    alone), when ``source`` is no column of its own; otherwise ``raw`` as it is."""
    date, joined, time = source.partition(JOINED)
    if not joined or source in raw.columns or date not in raw.columns or time not in raw.columns:
        return raw
    day = as_text(raw[date]).str.strip()
    hour = as_text(raw[time]).str.strip().fillna("")
    both = (day + " " + hour).str.strip().where(day.notna() & (day != ""))
    out = raw.assign(**{source: both})
    out.attrs = dict(raw.attrs)
    return out


UNUSED_TIME = "time_column_unused"  # report note: {"column", "beside"}


def note_unused_time(
    raw: pd.DataFrame, time_column: str, used: set[str], notes: dict, ruled_out: set[str]
) -> None:
    """Note in ``notes`` a column the mapping leaves unused whose every filled value is a
    time of day (``14:05``) beside a time column of dates alone (``2011-09-01``): every
    event was read at midnight. A chunk with a time in its dates, or no such column, rules
    it out for the whole file (``ruled_out``)."""
    if UNUSED_TIME in ruled_out:
        return
    values, column = raw[time_column], None
    if getattr(values.dtype, "tz", None) is not None:  # typed times with a zone: '...+00:00'
        timed = bool(values.notna().any())
    else:
        dates = as_text(values).astype(FAST_TEXT)
        timed = bool(dates.str.contains(":", regex=False).fillna(False).astype(bool).any())
    if not timed:
        column = next(
            (str(col) for col in raw.columns if col not in used and _times(raw[col])), None
        )
    if column is None:
        notes.pop(UNUSED_TIME, None)
        ruled_out.add(UNUSED_TIME)
    else:
        notes.setdefault(UNUSED_TIME, {"column": column, "beside": time_column})


def _times(values: pd.Series) -> bool:
    """Whether every filled value is a time of day, and one is."""
    text = as_text(values).astype(FAST_TEXT).str.strip()
    text = text[text.notna() & (text != "")]
    return not text.empty and bool(text.str.fullmatch(TIME_OF_DAY).all())


def check_timezone(name: str) -> str:
    """A zone name as given with --timezone; an unknown one is refused in one line."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise UserError(
            f"--timezone {name!r}: not a time zone name; expected an IANA name such as UTC, "
            "Europe/Paris or America/New_York"
        ) from None
    return name


def check_time_format(time_format: str) -> str:
    """A strftime format as given with --time-format; one with an unknown directive is refused."""
    if time_format in EPOCH_FORMATS:
        return time_format
    probe = dt.datetime(2023, 12, 31, 13, 45, 59, tzinfo=dt.UTC)
    try:
        time.strptime(probe.strftime(time_format.replace("%z", "").replace("%Z", "")),
                      time_format.replace("%z", "").replace("%Z", ""))  # fmt: skip
    except ValueError as error:
        raise UserError(
            f"--time-format {time_format!r}: not a usable strftime format ({error}); "
            "e.g. '%d/%m/%Y %H:%M', or %s for seconds since 1970"
        ) from None
    if "%" not in time_format:
        raise UserError(f"--time-format {time_format!r}: has no % directive, e.g. '%Y-%m-%d'")
    return time_format


def note_zoneless(notes: dict, column: str, values: pd.Series, zoneless: int, read_in: str,
                  time_format: str | None) -> None:  # fmt: skip
    """Note the zone ``zoneless`` times of ``column`` without one of their own were read in
    (``read_in``: --timezone, UTC unless given, or the dataset's on an append). A typed
    column with its zone, or seconds since 1970, has no such time."""
    dtype = getattr(values.dtype, "pyarrow_dtype", values.dtype)
    if zoneless and getattr(dtype, "tz", None) is None and time_format not in EPOCH_FORMATS:
        notes[ZONELESS] = {"column": column, "read_in": read_in}


def note_zones(notes_of: dict[str, dict], appended: bool) -> None:
    """The tables' notes (table -> notes) of times without a zone: a users file's sign-up
    times were read in the events' zone, said once where the events' line says it; on an
    append (``appended``) in the dataset's zone, another refused (``batches.file_reading``),
    so no --timezone is offered."""
    if ZONELESS in notes_of.get("events", {}):
        notes_of.get("users", {}).pop(ZONELESS, None)
    for notes in notes_of.values():
        if appended and ZONELESS in notes:
            notes[ZONELESS]["dataset_zone"] = True
