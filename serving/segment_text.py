"""Segments for a reader: each group's share of the users and of the money (``lifecycle
segments``, the report), the super users in words, and their split by acquisition channel.

The segments themselves (stages, RFM, super users) are :mod:`serving.segments`'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.words import counted
from serving.funnel import NO_CHANNEL  # the funnel's row of users without a channel
from serving.segments import CUSTOMERS, SuperUsers, customers_with_any, money_column

REFUNDS = "refunds"  # scores column: refunds to date ("revenue" is what was kept after them)
BEFORE_REFUNDS = "revenue_before_refunds"  # a summary's share column of revenue before refunds


def segment_summary(
    scores: pd.DataFrame, column: str, value_columns: tuple[str, ...] = ("revenue_total", "ltv")
) -> pd.DataFrame:
    """Users and share of users per value of ``column``, and each group's share of every value
    column. Revenue (kept after refunds) is shared out as a sales report does: before refunds
    (``revenue_before_refunds_share``), refunds a share of their own (``refunds_share``), where
    the table has them: kept after refunds, a group refunded more than it bought in the data
    (users whose only events are refunds) had a negative share of revenue."""
    groups = scores[column].astype("string").fillna("(none)")
    summary = groups.value_counts().rename("users").to_frame()
    summary["user_share"] = summary["users"] / max(len(scores), 1)
    for value in value_columns:
        if value not in scores:
            continue
        amounts = scores[value].astype(float).fillna(0)
        shared = {value: amounts}
        if value == "revenue" and REFUNDS in scores:
            refunds = scores[REFUNDS].astype(float).fillna(0)
            shared = {BEFORE_REFUNDS: amounts + refunds, REFUNDS: refunds}
        for name, part in shared.items():
            total = part.sum()
            summary[f"{name}_share"] = (
                part.groupby(groups).sum().reindex(summary.index) / total if total > 0 else np.nan
            )
    summary.index.name = column
    return summary.reset_index()


def share_label(share_column: str, revenue: str = "revenue") -> str:
    """A summary's share column for a reader: ``revenue`` (before refunds), ``refunds``,
    ``revenue after refunds`` (a scores table without its refunds), or the value column's
    name; ``revenue`` is revenue's name for the reader (``purchases`` in a count-only log)."""
    name = share_column.removesuffix("_share")
    words = {BEFORE_REFUNDS: revenue, REFUNDS: REFUNDS, "revenue": f"{revenue} after refunds"}
    return words.get(name, name)


def summary_line(row: dict[str, Any], column: str, revenue: str = "revenue") -> str:
    """One group of a :func:`segment_summary` for the terminal: its users, share of users and
    shares of each value; a value nobody has (a log of sessions only) has no share to give."""
    shares = ", ".join(
        f"{share_label(k, revenue)} {row[k]:.1%}"
        for k in row
        if k.endswith("_share") and k != "user_share" and pd.notna(row[k])
    )
    noun = "user " if row["users"] == 1 else "users"
    said = f"  {row[column]:<14} {row['users']:>9,} {noun} ({row['user_share']:.1%})"
    return f"{said}; share of {shares}" if shares else f"{said}; no {revenue} to share"


def super_users_words(found: SuperUsers) -> str:
    """The super users in words: 'the top S of the N customers, U users, bring V of it', or
    why there are none (nobody has any; too few customers for a top share: two have no top
    20%)."""
    holders, share = CUSTOMERS, found.definition.top_share
    if found.with_any == 0:
        return f"none: none of {counted(len(found.flags))} has any of it"
    if found.users == 0 and found.top == 0:
        needed = next(n for n in range(1, 10**6) if round(share * n) >= 1)
        return (
            f"none: {counted(found.with_any, holders)} {'is' if found.with_any == 1 else 'are'} "
            f"too few for a top {share:.0%} (it takes {needed:,} or more)"
        )
    bring = "brings" if found.users == 1 else "bring"
    part = (
        f"{found.value_share:.1%} of it"
        if math.isfinite(found.value_share)
        else "no share of it: all users together kept none"
    )
    of_holders = f"the top {share:.0%} of the {counted(found.with_any, holders)}"
    if found.users == found.top:
        return f"{of_holders}, {counted(found.users)}, {bring} {part}"
    # flags of the scoring, users erased since (listed_super_users)
    off = found.top - found.users
    return f"{counted(found.users)} {bring} {part} ({abs(off):,} " + (
        f"{'fewer' if off > 0 else 'more'} than {of_holders}: flagged when scored, "
        "users erased since; `lifecycle score-all` flags the top again)"
    )


def super_users_by_channel(scores: pd.DataFrame, found: SuperUsers) -> pd.DataFrame | None:
    """Per acquisition channel (None without one): users, customers (users with any of the
    value), super users (``found``'s flags) and the share of the channel's value and of all
    value they hold (NaN where there is none)."""
    if c.CHANNEL not in scores or scores[c.CHANNEL].isna().all():
        return None
    d = found.definition
    value = money_column(scores, d.value_column).astype(float).fillna(0).to_numpy()
    parts = pd.DataFrame(
        {
            "channel": scores[c.CHANNEL].astype("string").fillna(NO_CHANNEL).to_numpy(),
            "users": 1,
            "customers": customers_with_any(scores, value, d),
            "super_users": found.flags,
            "value": value,
            "super_value": np.where(found.flags, value, 0.0),
        }
    )
    split = parts.groupby("channel", sort=True).sum()
    total = value.sum()
    split["value_share"] = split["super_value"] / split["value"].where(split["value"] > 0)
    split["share_of_all"] = split["super_value"] / total if total > 0 else np.nan
    return split.drop(columns=["value", "super_value"]).reset_index()


def channel_line(row: dict[str, Any], value: str = "value") -> str:
    """One channel of :func:`super_users_by_channel` for the terminal; ``value``: its name."""
    customers = counted(row["customers"], CUSTOMERS)
    supers = counted(row["super_users"], ("super user", "super users"))
    said = f"  {row['channel']:<14} {counted(row['users']):>15}, {customers}, {supers}"
    if pd.isna(row["value_share"]):
        return said
    return f"{said}: {row['value_share']:.1%} of its {value}, {row['share_of_all']:.1%} of all"
