"""The report's figures (score distributions, LTV deciles, segments, channel funnel), as
PNG bytes for :mod:`serving.report`."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lifecycle.figures import render_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
BLUE, ORANGE, GREY, RED = "#2f6db5", "#e08a2c", "#9aa4b1", "#c4423a"


def _figure(width: float, height: float, columns: int = 1) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, columns)
    for ax in np.atleast_1d(axes):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.25)
    return fig, axes


def png(fig: Figure) -> bytes:
    """The bytes ``savefig`` writes, drawn once (~0.05 CPU-s less a figure)."""
    buffer = io.BytesIO()
    render_png(fig, buffer, DPI)
    return buffer.getvalue()


def distributions_figure(scores: pd.DataFrame) -> Figure:
    """Histograms of churn probability, conversion probability and predicted LTV."""
    fig, axes = _figure(12, 3.4, 3)
    panels = (
        ("churn_probability", "churn probability (every churn-eligible user)", RED),
        ("conversion_probability", "conversion probability (users not yet converted)", BLUE),
    )
    for ax, (column, title, color) in zip(axes[:2], panels, strict=True):
        values = scores[column].dropna() if column in scores else pd.Series(dtype=float)
        ax.hist(values, bins=25, range=(0, 1), color=color, alpha=0.85)
        ax.set(title=title, xlabel="probability", ylabel="users")
        ax.title.set_fontsize(10)
    ltv = scores["ltv"].dropna() if "ltv" in scores else pd.Series(dtype=float)
    axes[2].hist(np.log10(1 + ltv), bins=30, color=ORANGE, alpha=0.85)
    ticks = [0, 1, 10, 100, 1000, 10000]
    axes[2].set_xticks(np.log10(1 + np.array(ticks)), [f"{t:,}" for t in ticks])
    axes[2].set(title="predicted LTV (log scale)", xlabel="predicted value", ylabel="users")
    axes[2].title.set_fontsize(10)
    return fig


def ltv_deciles(scores: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Mean predicted LTV and share of all predicted LTV by predicted decile (1 = highest)."""
    ltv = scores["ltv"].dropna().to_numpy(float)
    order = np.argsort(-ltv, kind="stable")
    decile = np.empty(len(ltv), dtype=int)
    decile[order] = np.arange(len(ltv)) * n // max(len(ltv), 1) + 1
    frame = pd.DataFrame({"decile": decile, "ltv": ltv})
    table = frame.groupby("decile").agg(users=("ltv", "size"), mean_ltv=("ltv", "mean"))
    table["ltv_share"] = frame.groupby("decile")["ltv"].sum() / max(ltv.sum(), 1e-12)
    table["cumulative_share"] = table["ltv_share"].cumsum()
    return table.reset_index()


def deciles_note(table: pd.DataFrame) -> str:
    """How :func:`ltv_deciles` cut the users, said under its table (where the spare users went)."""
    users = int(table["users"].sum())
    fewest = int(table["users"].min())
    larger = table.loc[table["users"] > fewest, "decile"].tolist()
    spare = (
        f"; the {len(larger)} spare users of {users:,} (not a multiple of {len(table)}) make "
        f"decile{'s' if len(larger) > 1 else ''} {', '.join(map(str, larger))} one larger "
        f"({fewest + 1:,} users, the others {fewest:,})"
        if larger
        else ""
    )
    return (
        "Deciles of the users ranked by predicted LTV, 1 the highest (ties in the scores "
        f"table's order): the k-th of n users (from 0) is in decile floor({len(table)} k / n) + 1"
        f"{spare}. pandas.qcut cuts at the values' quantiles instead and puts spare users "
        "elsewhere, so its decile means can differ slightly."
    )


def deciles_figure(table: pd.DataFrame) -> Figure:
    fig, (left, right) = _figure(12, 3.4, 2)
    left.bar(table["decile"], table["mean_ltv"], color=ORANGE)
    left.set(
        title="mean predicted LTV by decile",
        xlabel="decile (1 = highest predicted)",
        ylabel="per user",
        xticks=table["decile"],
    )
    right.plot(table["decile"], table["cumulative_share"], marker="o", color=BLUE)
    right.plot(table["decile"], table["decile"] / table["decile"].max(), "--", color=GREY)
    right.set(
        title="cumulative share of predicted LTV",
        xlabel="top deciles",
        ylim=(0, 1.02),
        xticks=table["decile"],
    )
    return fig


def segments_figure(rfm: pd.DataFrame | None, stages: pd.DataFrame | None) -> Figure:
    """Share of users vs share of value per RFM segment and per lifecycle stage (a scores
    table without one of them: that panel says so)."""
    fig, axes = _figure(12, 3.8, 2)
    for ax, table, column, title in (
        (axes[0], rfm, "segment", "RFM segments"),
        (axes[1], stages, "lifecycle_stage", "lifecycle stages"),
    ):
        if table is None:
            ax.set_axis_off()
            ax.set_title(f"{title}: not in this scores table")
            continue
        y = np.arange(len(table))
        ax.barh(y - 0.2, table["user_share"], height=0.4, color=GREY, label="share of users")
        # predicted LTV, else the value to date (revenue, or purchases in a log without amounts)
        shares = [k for k in table.columns if k.endswith("_share") and k != "user_share"]
        value = "ltv_share" if "ltv_share" in shares else shares[0]  # revenue before refunds
        what = "predicted LTV" if value == "ltv_share" else value.removesuffix("_share")
        label = f"share of {what}"
        ax.barh(y + 0.2, table[value].fillna(0), height=0.4, color=BLUE, label=label)
        ax.set_yticks(y, table[column])
        ax.invert_yaxis()
        ax.set(title=title, xlabel="share")
        ax.legend(loc="lower right", fontsize=8)
    return fig


def funnel_figure(funnel: pd.DataFrame) -> Figure:
    fig, (left, right) = _figure(12, 3.6, 2)
    x = np.arange(len(funnel))
    for offset, (column, label, color) in zip(
        (-0.3, -0.1, 0.1, 0.3),
        (
            ("signed_up", "signed up", GREY),
            ("active", "active", "#7fa7d9"),
            ("converted", "converted", BLUE),
            ("repeat", "repeat", "#1d3f6e"),
        ),
        strict=True,
    ):
        left.bar(
            x + offset, funnel[column] / funnel["signed_up"], width=0.2, color=color, label=label
        )
    left.set_xticks(x, funnel["channel"], rotation=20)
    left.set(
        title="funnel by channel (share of sign-ups)", ylim=(0, 1.22), yticks=np.linspace(0, 1, 6)
    )
    left.legend(fontsize=8, ncols=4, loc="upper center", frameon=False)
    right.bar(x, funnel["mean_ltv"].fillna(0), color=ORANGE)
    right.set_xticks(x, funnel["channel"], rotation=20)
    right.set(title="mean predicted LTV per user", ylabel="per user")
    return fig
