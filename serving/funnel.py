"""The funnel by acquisition channel: signed up -> active -> converted -> repeat, and value.

Read from a scores table. "Active" means the user did something beyond signing up: an
activation, a session or an order, or any event more than a day after their first (an event
of a type the contract does not know, such as a clickstream's ``catalog``), as the stages
count it (``features.contract.came_back``); "converted" at least one order; "repeat" two
or more.
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
    idle = _column(scores, "days_since_last_activity", np.nan)  # NaN: no activity, no evidence
    active = (_column(scores, "activated") > 0) | (_column(scores, "sessions") > 0) | (orders > 0)
    active |= c.came_back(_column(scores, "tenure_days", np.nan), idle)
    steps = pd.DataFrame(
        {
            "channel": channel,
            "signed_up": 1,
            "active": active.astype(int),
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
