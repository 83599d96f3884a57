"""Validation of raw tables against the contract: wrong files fail fast, bad rows are quarantined.

A file that cannot be the table asked for (missing, empty, missing column, a column that
is mostly not of its type) raises :class:`ContractError` naming the file, the column and
an example row. A good file with some bad rows keeps the good rows and returns the bad
ones, each with its 1-based source row and a reason. Nothing is silently dropped: every
input row is either loaded or quarantined, and the report counts both.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.errors import UserError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
EARLIEST_EVENT = pd.Timestamp("1990-01-01", tz="UTC")


class ContractError(UserError):
    """A file that cannot be loaded as the table asked for; the message says where and why."""


@dataclass
class LoadReport:
    source: str
    table: str
    rows_read: int
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        reasons = ", ".join(
            f"{n:,} {r}" for r, n in sorted(self.reasons.items(), key=lambda x: -x[1])
        )
        text = (
            f"{self.source}: read {self.rows_read:,} rows, loaded {self.rows_loaded:,}, "
            f"quarantined {self.rows_quarantined:,}"
        )
        return text + (f" ({reasons})" if reasons else "")


@dataclass
class Loaded:
    """A validated table, the quarantined rows (raw values + source_row + reason) and the report."""

    frame: pd.DataFrame
    quarantine: pd.DataFrame
    report: LoadReport


class Quarantine:
    """Collects bad rows of one raw frame with the first reason found for each."""

    def __init__(self, raw: pd.DataFrame) -> None:
        self.raw = raw
        self.reason = pd.Series(pd.NA, index=raw.index, dtype="string")

    def flag(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Mark rows as bad; a row keeps the first reason it was flagged with."""
        mask = pd.Series(mask, index=self.raw.index).fillna(False).astype(bool)
        self.reason = self.reason.mask(mask & self.reason.isna(), reason)

    @property
    def good(self) -> pd.Series:
        return self.reason.isna()

    def frame(self) -> pd.DataFrame:
        bad = ~self.good
        rows = self.raw.loc[bad].astype("string")
        rows.insert(0, c.REASON, self.reason[bad])
        rows.insert(0, c.SOURCE_ROW, rows.index.to_numpy() + 1)
        return rows.reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in Counter(self.reason.dropna()).most_common()}


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV (every column as text, so no value is lost to a guessed type) or Parquet file."""
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: file not found")
    if path.is_dir():
        raise ContractError(f"{path}: is a directory, expected a CSV or Parquet file")
    name = path.name.lower()
    try:
        if name.endswith(PARQUET_SUFFIXES):
            frame = pd.read_parquet(path)
        elif name.endswith(CSV_SUFFIXES):
            sep = "\t" if ".tsv" in name else ","
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
        else:
            raise ContractError(
                f"{path}: unknown file type; expected one of {CSV_SUFFIXES + PARQUET_SUFFIXES}"
            )
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        if isinstance(error, ContractError):
            raise
        raise ContractError(
            f"{path}: cannot be read as {name.rsplit('.', 1)[-1]}: {error}"
        ) from None
    if frame.empty:
        raise ContractError(f"{path}: no data rows (columns: {', '.join(map(str, frame.columns))})")
    frame.columns = [str(col).strip() for col in frame.columns]
    return frame.reset_index(drop=True)


def require_columns(raw: pd.DataFrame, wanted: dict[str, str], source: str) -> None:
    """Fail fast when a mapped column is absent; ``wanted`` maps contract name -> source name."""
    missing = {name: col for name, col in wanted.items() if col not in raw.columns}
    if missing:
        described = ", ".join(
            f"'{col}'" + (f" (for {name})" if name != col else "") for name, col in missing.items()
        )
        raise ContractError(
            f"{source}: missing column {described}; the file has: {', '.join(raw.columns)}. "
            "Map other names with --map CONTRACT=SOURCE"
        )


def is_blank(values: pd.Series) -> pd.Series:
    text = values.astype("string")
    return text.isna() | (text.str.strip() == "")


def _example(raw: pd.DataFrame, mask: pd.Series, column: str) -> str:
    index = mask[mask].index[0]
    return f"row {index + 1} has {column}={raw.at[index, column]!r}"


def _refuse_if_mostly_bad(
    raw: pd.DataFrame, bad: pd.Series, column: str, expected: str, source: str, limit: float
) -> None:
    """A column whose filled values are mostly unparseable is the wrong column, not bad rows."""
    filled = ~is_blank(raw[column])
    n_filled = int(filled.sum())
    n_bad = int((bad & filled).sum())
    if n_filled and n_bad / n_filled > limit:
        raise ContractError(
            f"{source}: column '{column}' should hold {expected}, but {n_bad:,} of {n_filled:,} "
            f"filled values do not parse (e.g. {_example(raw, bad & filled, column)})"
        )


def parse_times(
    values: pd.Series, timezone: str = "UTC", time_format: str | None = None
) -> pd.Series:
    """Parse timestamps to tz-aware UTC; unparseable values become NaT.

    Values with an offset (``Z``, ``+01:00``) keep it; values without one are read in
    ``timezone``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
        return parsed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        out[has_offset] = _parse_text_times(text[has_offset], time_format, utc=True)
    naive = ~has_offset & ~is_blank(text)
    if naive.any():
        local = _parse_text_times(text[naive], time_format, utc=False)
        if getattr(local.dt, "tz", None) is None:
            local = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
        out[naive] = local.dt.tz_convert("UTC")
    return out


def _parse_text_times(text: pd.Series, time_format: str | None, utc: bool) -> pd.Series:
    parsed = pd.to_datetime(text, errors="coerce", format=time_format or "ISO8601", utc=utc)
    retry = parsed.isna()
    if time_format is None and retry.any():
        # Not ISO 8601: try the other common forms row by row (slow, so only for those rows).
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", format="mixed", utc=utc)
    return parsed


def parse_amounts(values: pd.Series) -> pd.Series:
    """Parse numbers; anything that is not a finite number becomes NaN."""
    numbers, _ = parse_numbers(values)
    return numbers


NON_FINITE_WORDS = ("nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers: (finite values or NaN, mask of filled values that are not numbers at all)."""
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        not_numbers = pd.Series(False, index=values.index)
    else:
        text = values.astype("string").str.strip().str.replace(",", "", regex=False)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        words = text.str.lower().isin(NON_FINITE_WORDS).fillna(False).astype(bool)
        not_numbers = (numbers.isna() & ~is_blank(text) & ~words).astype(bool)
    return numbers.where(np.isfinite(numbers)), not_numbers


def validate_events(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    *,
    max_bad_fraction: float = 0.5,
    allow_negative_amounts: bool = False,
    latest_event: pd.Timestamp | None = None,
    quarantine: Quarantine | None = None,
) -> Loaded:
    """Check a raw events frame against the contract and return contract-shaped events.

    ``quarantine`` lets an adapter flag rows for its own reasons first.
    """
    wanted = {name: mapping.source(name) for name in (c.USER_ID, c.EVENT_TIME)}
    if mapping.default_event_type is None:
        wanted[c.EVENT_TYPE] = mapping.source(c.EVENT_TYPE)
    optional = {
        name: mapping.source(name)
        for name in c.EVENT_OPTIONAL
        if mapping.source(name) in raw.columns
    }
    if c.AMOUNT in mapping.columns and c.AMOUNT not in optional:
        wanted[c.AMOUNT] = mapping.source(c.AMOUNT)
    require_columns(raw, wanted, source)
    columns = {**wanted, **optional}
    bad = quarantine or Quarantine(raw)
    latest_event = latest_event or pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)

    user_id = raw[columns[c.USER_ID]].astype("string").str.strip()
    bad.flag(is_blank(user_id), "missing_user_id")

    time_col = columns[c.EVENT_TIME]
    event_time = parse_times(raw[time_col], mapping.timezone, mapping.time_format)
    # Far-off years parse to nothing (beyond pandas' range): out of range, not unparseable.
    year = pd.to_numeric(
        raw[time_col].astype("string").str.extract(r"^\s*(\d{4})-", expand=False), errors="coerce"
    )
    far_off = event_time.isna() & (
        (year < EARLIEST_EVENT.year) | (year > latest_event.year)
    ).fillna(False)
    unparseable = event_time.isna() & ~is_blank(raw[time_col]) & ~far_off
    _refuse_if_mostly_bad(raw, unparseable, time_col, "timestamps", source, max_bad_fraction)
    bad.flag(is_blank(raw[time_col]), "missing_event_time")
    bad.flag(far_off, "event_time_out_of_range")
    bad.flag(unparseable, "unparseable_event_time")
    bad.flag((event_time < EARLIEST_EVENT) | (event_time > latest_event), "event_time_out_of_range")

    if mapping.default_event_type is not None and c.EVENT_TYPE not in columns:
        event_type = pd.Series(mapping.default_event_type, index=raw.index, dtype="string")
    else:
        event_type = raw[columns[c.EVENT_TYPE]].astype("string").str.strip().str.lower()
        if mapping.default_event_type is not None:
            event_type = event_type.mask(is_blank(event_type), mapping.default_event_type)
        bad.flag(is_blank(event_type), "missing_event_type")

    if c.AMOUNT in columns:
        amount_col = columns[c.AMOUNT]
        amount, not_numbers = parse_numbers(raw[amount_col])
        _refuse_if_mostly_bad(raw, not_numbers, amount_col, "numbers", source, max_bad_fraction)
        bad.flag(not_numbers, "invalid_amount")
        bad.flag(amount.isna() & ~is_blank(raw[amount_col]), "non_finite_amount")
        negative = amount < 0
        if mapping.negative_amount_is_refund:
            event_type = event_type.mask(negative & (event_type == c.PURCHASE), c.REFUND)
            amount = amount.abs()
        elif not allow_negative_amounts:
            bad.flag(negative, "negative_amount")
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
        bad.flag(monetary & amount.isna(), "missing_amount")
    else:
        amount = pd.Series(np.nan, index=raw.index, dtype="float64")
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
        if monetary.any():
            bad.flag(monetary, "missing_amount")

    events = pd.DataFrame(
        {c.USER_ID: user_id, c.EVENT_TIME: event_time, c.EVENT_TYPE: event_type, c.AMOUNT: amount}
    )
    for name in (c.CURRENCY, c.ORDER_ID):
        if name in columns:
            events[name] = raw[columns[name]].astype("string").str.strip().replace("", pd.NA)
    used = set(columns.values())
    for extra in raw.columns:
        if extra not in used and extra not in events.columns:
            events[extra] = raw[extra]

    _flag_duplicates(events, bad)
    loaded = split_quarantine(events, bad, source, "events", max_bad_fraction)
    loaded.frame.sort_values([c.EVENT_TIME, c.USER_ID], inplace=True, kind="stable")
    loaded.frame.reset_index(drop=True, inplace=True)
    return loaded


def validate_users(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    *,
    max_bad_fraction: float = 0.5,
) -> Loaded:
    """Check a raw users table: one row per user id, optional sign-up time and channel."""
    wanted = {c.USER_ID: mapping.source(c.USER_ID)}
    for name in c.USER_OPTIONAL:
        if name in mapping.columns:
            wanted[name] = mapping.source(name)
    require_columns(raw, wanted, source)
    columns = {
        **{n: mapping.source(n) for n in c.USER_OPTIONAL if mapping.source(n) in raw.columns},
        **wanted,
    }
    bad = Quarantine(raw)
    users = pd.DataFrame({c.USER_ID: raw[columns[c.USER_ID]].astype("string").str.strip()})
    bad.flag(is_blank(users[c.USER_ID]), "missing_user_id")
    if c.SIGNUP_TIME in columns:
        col = columns[c.SIGNUP_TIME]
        users[c.SIGNUP_TIME] = parse_times(raw[col], mapping.timezone, mapping.time_format)
        unparseable = users[c.SIGNUP_TIME].isna() & ~is_blank(raw[col])
        _refuse_if_mostly_bad(raw, unparseable, col, "timestamps", source, max_bad_fraction)
        bad.flag(unparseable, "unparseable_signup_time")
    if c.CHANNEL in columns:
        users[c.CHANNEL] = raw[columns[c.CHANNEL]].astype("string").str.strip().replace("", pd.NA)
    used = set(columns.values())
    for extra in raw.columns:
        if extra not in used and extra not in users.columns:
            users[extra] = raw[extra]
    repeated = users[c.USER_ID].duplicated(keep="first") & bad.good
    bad.flag(repeated & users[c.USER_ID].notna(), "duplicate_user_id")
    return split_quarantine(users, bad, source, "users", max_bad_fraction)


def _flag_duplicates(frame: pd.DataFrame, bad: Quarantine) -> None:
    """Exact repeats of an already good row (every column equal) are quarantined, the first kept."""
    repeated = frame.loc[bad.good].duplicated(keep="first")
    bad.flag(repeated.reindex(frame.index, fill_value=False), "duplicate_row")


def split_quarantine(
    frame: pd.DataFrame, bad: Quarantine, source: str, table: str, max_bad_fraction: float
) -> Loaded:
    """Split good from bad rows and refuse the file when bad rows are the majority."""
    report = LoadReport(source=source, table=table, rows_read=len(frame))
    report.reasons = bad.counts()
    report.rows_quarantined = int((~bad.good).sum())
    report.rows_loaded = report.rows_read - report.rows_quarantined
    if report.rows_read and report.rows_quarantined / report.rows_read > max_bad_fraction:
        first = bad.reason.dropna()
        raise ContractError(
            f"{source}: {report.rows_quarantined:,} of {report.rows_read:,} rows are bad, more "
            f"than the allowed {max_bad_fraction:.0%} ({report.summary().split('(')[-1].rstrip(')')}); "
            f"first bad row {first.index[0] + 1}: {first.iloc[0]}. Is this the right file and mapping?"
        )
    good = frame.loc[bad.good].reset_index(drop=True)
    return Loaded(frame=good, quarantine=bad.frame(), report=report)


def write_report(report: LoadReport | dict[str, Any], path: Path) -> None:
    data = report.to_dict() if isinstance(report, LoadReport) else report
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
