"""Validation of a users table against the contract: one row per user id, an optional
sign-up time and channel, and attributes; bad rows are quarantined as events' are
(:mod:`features.validation`)."""

from __future__ import annotations

from functools import partial

import pandas as pd

from features import contract as c
from features.column_checks import refuse_repeated_columns, refuse_shadowed_columns, require_columns
from features.id_checks import check_mapped_user_ids
from features.parsing import kept_text
from features.quarantine import Quarantine, reordered_header
from features.read_words import USERS_COLUMNS_ABSENT
from features.table_checks import TableChecks
from features.validation import (
    ContractError,
    TableRules,
    column_times,
    latest_time,
    text_column,
)


def refuse_unusable_users(raw: pd.DataFrame, mapping: c.ColumnMapping, source: str) -> None:
    """A users file that is an events file (given as --users by mistake), or one whose
    attribute is named as a feature is (it would clash at `features build`) or as a column
    of the scores table (one would overwrite the other when scored): refused now, when the
    file can still be fixed."""
    from features.asof import is_feature_name
    from lifecycle.list_fields import scores_columns

    used = {mapping.source(name) for name in mapping.columns} | {mapping.source(c.USER_ID)}
    attributes = [str(col) for col in raw.columns if col not in used]
    events = [col for col in attributes if col in (c.EVENT_TIME, c.EVENT_TYPE)]
    if events and c.SIGNUP_TIME not in raw.columns:
        raise ContractError(
            f"{source}: given as the users file, but it has the columns of an events file "
            f"({', '.join(events)}); a users file holds one row per user: user_id, optional "
            "signup_time and channel, and attributes"
        )
    clashing = [col for col in attributes if is_feature_name(col)]
    what = "a feature the feature table computes"
    if not clashing:
        scored = scores_columns()
        clashing = [col for col in attributes if col in scored]
        what = "a column of the scores table"
    if clashing:
        raise ContractError(
            f"{source}: column '{clashing[0]}' is named as {what} ({', '.join(clashing)}); "
            f"rename the column in the users file, e.g. 'user_{clashing[0]}'"
        )


def check_users(
    raw: pd.DataFrame,
    mapping: c.ColumnMapping,
    source: str,
    bad: Quarantine,
    checks: TableChecks,
    latest_signup: pd.Timestamp,
) -> pd.DataFrame:
    """Contract-shaped users of one raw chunk: user id, optional sign-up time and channel,
    and attributes (a text one with a control character is ``invalid_<column>``); a sign-up
    after ``latest_signup`` is ``signup_time_in_future``."""
    refuse_unusable_users(raw, mapping, source)
    wanted = {c.USER_ID: mapping.source(c.USER_ID)}
    # a recorded map this later file lacks loads it, as an events file's does (said)
    absent = {
        n: mapping.source(n)
        for n in mapping.recorded_columns
        if n in c.USER_OPTIONAL and mapping.source(n) not in raw.columns
    }
    if absent:
        checks.notes[USERS_COLUMNS_ABSENT] = absent
    for name in c.USER_OPTIONAL:
        if name in mapping.columns and name not in absent:
            wanted[name] = mapping.source(name)
    require_columns(raw, wanted, source, option="--users-map")
    columns = {
        **{n: mapping.source(n) for n in c.USER_OPTIONAL if mapping.source(n) in raw.columns},
        **wanted,
    }
    refuse_repeated_columns(raw, columns, source)
    refuse_shadowed_columns(raw, columns, source, "--users-map")
    user_id = check_mapped_user_ids(raw, columns[c.USER_ID], bad, checks, mapping)
    users = pd.DataFrame({c.USER_ID: user_id})
    if c.SIGNUP_TIME in columns:
        col = columns[c.SIGNUP_TIME]
        users[c.SIGNUP_TIME], time_problem = column_times(raw, col, mapping, checks)
        checks.columns[col].also = (
            "; --time-format and --date-order read the events file's times too: if those are "
            "written otherwise, write the sign-up times as the events' are"
        )
        bad.flag(time_problem == "unparseable", "unparseable_signup_time")
        bad.flag_each(time_problem)
        bad.flag(users[c.SIGNUP_TIME] > latest_signup, "signup_time_in_future")
    if c.CHANNEL in columns:
        channel = text_column(raw, columns[c.CHANNEL], c.CHANNEL, bad)
        users[c.CHANNEL] = channel.str.strip().replace("", pd.NA)
    used = set(columns.values())
    for extra in raw.columns:
        if extra not in used and extra not in users.columns:
            # lists, maps (a Parquet's) are kept as they are
            users[extra] = kept_text(raw[extra], partial(text_column, raw, extra, str(extra), bad))
    return users


def user_rules(
    mapping: c.ColumnMapping, source: str, *, latest_signup: pd.Timestamp | None = None
) -> TableRules:
    """The users contract: one row per user id (the first good one kept); sign-ups after
    ``latest_signup`` (default: the events' cut-off, :func:`latest_time`) are quarantined."""
    latest = latest_time(latest_signup)

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        reordered_header(raw, source)  # two files concatenated, in two column orders
        bad = Quarantine(raw, mapping.source(c.USER_ID), (mapping.source(c.CHANNEL),))
        return check_users(raw, mapping, source, bad, checks, latest), bad

    return TableRules("users", check, unique_by=(c.USER_ID,), duplicate_reason="duplicate_user_id")
