"""The funnel by acquisition channel: signed up -> active -> converted -> repeat, and value.

Read from a scores table. "Active" means the user did something beyond signing up: an
activation, a session or an order, or any event more than a day after their first (an event
of a type the contract does not know, such as a clickstream's ``catalog``), as the stages
count it (``features.contract.came_back``); "converted" at least one order; "repeat" two
or more. The stages call such a user never_active only past their first days: before, they
are new, so the report says how the two counts differ (:func:`active_against_stages`).
Data without channels (purchase-only logs) comes back as one ``(no channel)`` row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import contract as c

if TYPE_CHECKING:
    from serving.units import Units

NO_CHANNEL = "(no channel)"
STEPS = ("signed_up", "active", "converted", "repeat")


def channel_funnel(scores: pd.DataFrame) -> pd.DataFrame:
    """Per channel: users at each step, step rates, and predicted LTV per user and in total."""
    channel = (
        scores[c.CHANNEL].astype("string").fillna(NO_CHANNEL)
        if c.CHANNEL in scores
        else pd.Series(NO_CHANNEL, index=scores.index, dtype="string")
    )
    orders = _column(scores, "orders")
    steps = pd.DataFrame(
        {
            "channel": channel,
            "signed_up": 1,
            "active": active_users(scores).astype(int),
            "converted": (orders >= 1).astype(int),
            "repeat": (orders >= 2).astype(int),
            "ltv": _column(scores, "ltv", np.nan),
            "revenue": _column(scores, "revenue"),
        }
    )
    funnel = steps.groupby("channel", sort=True).agg(
        signed_up=("signed_up", "sum"),
        active=("active", "sum"),
        converted=("converted", "sum"),
        repeat=("repeat", "sum"),
        mean_ltv=("ltv", "mean"),
        total_ltv=("ltv", "sum"),
        revenue=("revenue", "sum"),
    )
    funnel["active_rate"] = funnel["active"] / funnel["signed_up"]
    funnel["conversion_rate"] = funnel["converted"] / funnel["signed_up"]
    funnel["repeat_rate"] = funnel["repeat"] / funnel["converted"].where(funnel["converted"] > 0)
    total_ltv = funnel["total_ltv"].sum()
    funnel["ltv_share"] = funnel["total_ltv"] / total_ltv if total_ltv > 0 else np.nan
    return funnel.sort_values("mean_ltv", ascending=False, na_position="last").reset_index()


def active_users(scores: pd.DataFrame) -> pd.Series:
    """Whether each user did something beyond signing up: the funnel's "active"."""
    idle = _column(scores, "days_since_last_activity", np.nan)  # NaN: no activity, no evidence
    active = (_column(scores, "activated") > 0) | (_column(scores, "sessions") > 0)
    active |= _column(scores, "orders") > 0
    return active | c.came_back(_column(scores, "tenure_days", np.nan), idle)


def active_against_stages(scores: pd.DataFrame) -> str | None:
    """Why the funnel's active users are not the users the stages call other than
    never_active (trial 107: 3,610 against 3,611, 4,150 against 4,217 on the demo: users in
    their first days who did nothing beyond signing up are new); None when they agree."""
    from serving.segments import NEW_DAYS  # segments reads this module's NO_CHANNEL

    if "lifecycle_stage" not in scores:
        return None
    active, stage = active_users(scores), scores["lifecycle_stage"].astype("string")
    staged = stage.notna() & (stage != "never_active")
    if int(active.sum()) == int(staged.sum()):
        return None
    idle = stage[staged & ~active].value_counts()  # by stage
    differ = []
    if len(idle):
        by_stage = ", ".join(f"{n:,} {name}" for name, n in idle.items())
        why = f": in their first {NEW_DAYS} days a user is new, not yet never_active"
        differ.append(
            f"they add {int(idle.sum()):,} who did nothing of that yet ({by_stage}"
            + (why if "new" in idle else "")
            + ")"
        )
    if held := int((active & (stage == "never_active")).sum()):
        differ.append(f"they leave out {held:,} active here, whom they call never_active")
    return (
        f"Active: the {int(active.sum()):,} users who did something beyond signing up (an "
        "activation, a session or an order, or an event after their first day). The stages "
        f"count {int(staged.sum()):,} users other than never_active: {'; '.join(differ)}."
    )


def _column(scores: pd.DataFrame, name: str, default: float = 0.0) -> pd.Series:
    if name not in scores:
        return pd.Series(default, index=scores.index, dtype=float)
    return scores[name].astype(float).fillna(default)


def funnel_headers(units: Units, money: str) -> dict[str, str]:
    """The funnel table's columns as a reader needs them: each rate's denominator, the LTV's
    window and unit (trial 101: conversion_rate divided by sign-ups, unsaid)."""
    days = units.horizon_days.get("ltv")
    window = f" ({days} days)" if days else ""
    return {
        "active_rate": "active of signed up",
        "conversion_rate": "converted of signed up",
        "repeat_rate": "repeat of converted",
        "mean_ltv": f"mean LTV{window}{money}",
        "ltv_share": "share of LTV",
    }
