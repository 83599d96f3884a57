"""Validation of raw tables against the contract: wrong files fail fast, bad rows are quarantined.

A file that cannot be the table asked for (missing, empty, missing column, a column that
is mostly not of its type) raises :class:`ContractError` naming the file, the column and
an example row. A good file with some bad rows keeps the good rows and returns the bad
ones, each with its 1-based source row and a reason. Nothing is silently dropped: every
input row is either loaded or quarantined, and the report counts both.

Files are read and checked in chunks of bounded size (:func:`features.reading.read_chunks`,
:func:`features.loading.stream_table`), so memory follows the chunk, not the file. Row rules run per chunk;
the rules that need the whole table are decided over all of it: a column's share of
unparseable values and the share of bad rows are summed over chunks and judged at the
end, and repeats (``duplicate_row``, ``duplicate_user_id``) are found by DuckDB over the
good rows written so far (spilling to disk beyond ``ingest.memory_limit``), the first copy
in file order kept (or, for event logs with genuine same-moment repeats, every copy kept and
counted). A table held in memory goes through the same path as one chunk.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.errors import UserError

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


DEFAULT_MEMORY_LIMIT = "256MB"  # as settings ingest.memory_limit
SOURCE_ROW_COLUMN = "__lifecycle_source_row"  # a good row's source row while it is staged
NOTED_COLUMN = "__lifecycle_noted_{}"  # a good row's note (e.g. amount_defaulted) while staged
AMOUNT_DEFAULTED = "amount_defaulted"  # report note: loaded rows whose amount is the default


class Quarantine:
    """Collects bad rows of one raw frame with the first reason found for each, and notes
    on rows that load with a caveat the report counts (e.g. a defaulted amount)."""

    def __init__(self, raw: pd.DataFrame) -> None:
        self.raw = raw
        self.reason = pd.Series(pd.NA, index=raw.index, dtype="string")
        self.noted: dict[str, pd.Series] = {}

    def flag(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Mark rows as bad; a row keeps the first reason it was flagged with."""
        mask = pd.Series(mask, index=self.raw.index).fillna(False).astype(bool)
        self.reason = self.reason.mask(mask & self.reason.isna(), reason)

    def note(self, mask: pd.Series | np.ndarray, name: str) -> None:
        """Mark rows the report counts under ``notes[name]`` if they load."""
        mask = pd.Series(mask, index=self.raw.index).fillna(False).astype(bool)
        self.noted[name] = self.noted.get(name, pd.Series(False, index=self.raw.index)) | mask

    def noted_rows(self, name: str) -> np.ndarray:
        return self.noted.get(name, pd.Series(False, index=self.raw.index)).to_numpy(dtype=bool)

    @property
    def good(self) -> pd.Series:
        return self.reason.isna()

    def frame(self) -> pd.DataFrame:
        bad = ~self.good
        return quarantine_rows(self.raw, bad.to_numpy(), self.reason[bad])

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in Counter(self.reason.dropna()).most_common()}


def quarantine_rows(raw: pd.DataFrame, mask: np.ndarray, reasons: pd.Series | str) -> pd.DataFrame:
    """The raw values of the masked rows as text, after their 1-based source row and reason."""
    rows = raw.loc[mask].astype("string")
    reason = reasons if isinstance(reasons, str) else reasons.to_numpy()
    rows.insert(0, c.REASON, pd.array(np.broadcast_to(reason, len(rows)), dtype="string"))
    rows.insert(0, c.SOURCE_ROW, rows.index.to_numpy(dtype="int64") + 1)
    return rows.reset_index(drop=True)


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


@dataclass
class _ColumnEvidence:
    expected: str
    filled: int = 0
    bad: int = 0
    example: str | None = None


class TableChecks:
    """Whole-table evidence gathered chunk by chunk: whether a column is mostly not of its
    type (then it is the wrong column, not bad rows), judged once every chunk is seen."""

    def __init__(self) -> None:
        self.columns: dict[str, _ColumnEvidence] = {}
        self.notes: dict[str, Any] = {}  # facts about the whole table for the report

    def add(self, raw: pd.DataFrame, bad: pd.Series, column: str, expected: str) -> None:
        filled = ~is_blank(raw[column])
        hits = (bad & filled).astype(bool)
        evidence = self.columns.setdefault(column, _ColumnEvidence(expected))
        evidence.filled += int(filled.sum())
        evidence.bad += int(hits.sum())
        if evidence.example is None and hits.any():
            evidence.example = _example(raw, hits, column)

    def refuse_if_mostly_bad(self, source: str, limit: float) -> None:
        for column, evidence in self.columns.items():
            if evidence.filled and evidence.bad / evidence.filled > limit:
                raise ContractError(
                    f"{source}: column '{column}' should hold {evidence.expected}, but "
                    f"{evidence.bad:,} of {evidence.filled:,} filled values do not parse "
                    f"(e.g. {evidence.example})"
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
    if c.AMOUNT in mapping.columns and c.AMOUNT not in optional:
        wanted[c.AMOUNT] = mapping.source(c.AMOUNT)
    require_columns(raw, wanted, source)
    columns = {**wanted, **optional}

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
    checks.add(raw, unparseable, time_col, "timestamps")
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
        checks.add(raw, not_numbers, amount_col, "numbers")
        bad.flag(not_numbers, "invalid_amount")
        bad.flag(amount.isna() & ~is_blank(raw[amount_col]), "non_finite_amount")
        negative = amount < 0
        if mapping.negative_amount_is_refund:
            event_type = event_type.mask(negative & (event_type == c.PURCHASE), c.REFUND)
            amount = amount.abs()
        elif not allow_negative_amounts:
            bad.flag(negative, "negative_amount")
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
        if amount_default is not None:
            defaulted = monetary & is_blank(raw[amount_col])
            amount = amount.mask(defaulted, amount_default)
            bad.note(defaulted, AMOUNT_DEFAULTED)
            checks.notes.update(
                amount_default=amount_default,
                amount_in_file=True,
                amount_unit="as in the file; empty purchase or refund amounts given the default",
            )
        bad.flag(monetary & amount.isna(), "missing_amount")
    else:
        amount = pd.Series(np.nan, index=raw.index, dtype="float64")
        monetary = event_type.isin(c.MONETARY_EVENT_TYPES)
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
            raise ContractError(
                f"{source}: no amount column '{mapping.source(c.AMOUNT)}', but row {first + 1} "
                f"is a {event_type[first]} and purchase and refund rows need one (the file "
                f"has: {', '.join(raw.columns)}). For a log without amounts use "
                "--amount-default 1 (each purchase counts 1, LTV in purchases), or name the "
                "amount column with --map amount=COLUMN"
            )

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
    return events


def check_users(
    raw: pd.DataFrame, mapping: c.ColumnMapping, source: str, bad: Quarantine, checks: TableChecks
) -> pd.DataFrame:
    """Contract-shaped users of one raw chunk: user id, optional sign-up time and channel."""
    wanted = {c.USER_ID: mapping.source(c.USER_ID)}
    for name in c.USER_OPTIONAL:
        if name in mapping.columns:
            wanted[name] = mapping.source(name)
    require_columns(raw, wanted, source)
    columns = {
        **{n: mapping.source(n) for n in c.USER_OPTIONAL if mapping.source(n) in raw.columns},
        **wanted,
    }
    users = pd.DataFrame({c.USER_ID: raw[columns[c.USER_ID]].astype("string").str.strip()})
    bad.flag(is_blank(users[c.USER_ID]), "missing_user_id")
    if c.SIGNUP_TIME in columns:
        col = columns[c.SIGNUP_TIME]
        users[c.SIGNUP_TIME] = parse_times(raw[col], mapping.timezone, mapping.time_format)
        unparseable = users[c.SIGNUP_TIME].isna() & ~is_blank(raw[col])
        checks.add(raw, unparseable, col, "timestamps")
        bad.flag(unparseable, "unparseable_signup_time")
    if c.CHANNEL in columns:
        users[c.CHANNEL] = raw[columns[c.CHANNEL]].astype("string").str.strip().replace("", pd.NA)
    used = set(columns.values())
    for extra in raw.columns:
        if extra not in used and extra not in users.columns:
            users[extra] = raw[extra]
    return users


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


def event_rules(
    mapping: c.ColumnMapping,
    source: str,
    *,
    allow_negative_amounts: bool = False,
    latest_event: pd.Timestamp | None = None,
    prepare: Prepare | None = None,
    amount_default: float | None = None,
    keep_repeats: bool = False,
) -> TableRules:
    """The events contract; ``prepare`` lets an adapter reshape a raw chunk and flag rows
    for its own reasons first (its quarantine keeps the original raw values).

    ``amount_default``: the amount of purchase and refund rows that have none (see
    :func:`check_events`). ``keep_repeats``: exact repeats are separate events (two
    identical purchases at the same moment), counted as ``repeats_kept``, not quarantined.
    """
    if amount_default is not None and not (math.isfinite(amount_default) and amount_default > 0):
        raise ValueError(f"amount_default must be a positive number, got {amount_default}")
    latest = latest_event or pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        shaped, bad = prepare(raw) if prepare else (raw, Quarantine(raw))
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
        noted=(AMOUNT_DEFAULTED,) if amount_default is not None else (),
    )


def user_rules(mapping: c.ColumnMapping, source: str) -> TableRules:
    """The users contract: one row per user id (the first good one kept)."""

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        bad = Quarantine(raw)
        return check_users(raw, mapping, source, bad, checks), bad

    return TableRules("users", check, unique_by=(c.USER_ID,), duplicate_reason="duplicate_user_id")
