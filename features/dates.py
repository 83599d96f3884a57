"""The dates given on the command line: an as-of date, and a cutoff (midnight UTC)."""

from __future__ import annotations

import pandas as pd

from features.asof import _utc
from lifecycle.errors import UserError


def as_of_date(value: str | pd.Timestamp, option: str = "--as-of") -> pd.Timestamp:
    """A date given on the command line, in UTC; one that is no date ('nope', '' or 'NaT':
    pandas reads those two as no time at all; 2025-02-29; 0000-01-01 and 99999-01-01, past
    the nanosecond dates every table holds) in one line."""
    why = ""
    try:
        stamp = pd.Timestamp(value).as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        first, last = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
        stamp, why = pd.NaT, f" between {first:%Y-%m-%d} and {last:%Y-%m-%d}"
    except ValueError as error:  # 'day is out of range for month: 2025-02-29': say the first part
        said = str(error).removesuffix(f": {value}")
        stamp, why = pd.NaT, f" ({said})" if said != str(error) and "Unknown" not in said else ""
    if pd.isna(stamp):
        raise UserError(f"{option} {value!r}: expected a date such as 2025-06-01{why}")
    return _utc(stamp)


def cutoff_date(value: str | pd.Timestamp, option: str = "--as-of") -> pd.Timestamp:
    """:func:`as_of_date` of a cutoff: midnight UTC, so a time of day is refused in one line
    naming the date (``2011-12-10T05:00`` was refused as "2011-12-10 is not a cutoff")."""
    stamp = as_of_date(value, option)
    if stamp != stamp.normalize():
        raise UserError(
            f"{option} {value!r}: a cutoff is a date (midnight UTC), not a time of day: "
            f"{option} {stamp:%Y-%m-%d}"
        )
    return stamp
