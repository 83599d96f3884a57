"""The backtest's verdict on the served ``expected_purchases``: the purchase process's forecast
of each customer's purchases in the horizon against the purchases that happened.

What is counted is what the served quantity counts: orders (``features.orders``: the lines of
one order id and day; an order cancelled by a credit note within the horizon is no purchase,
as the any-purchase label counts them), in ``(cutoff, cutoff + horizon]`` over the horizon
the forecast is for (the served process's, ``Champions.outlook_days``: the LTV champion's,
else churn's). Judged are the customers (users with a purchase by the cutoff, the only ones
the process forecasts): the total error, Spearman, and the calibration table that
``lifetimes`` users check first (customers binned by expected purchases, the mean forecast
against the mean that happened per bin).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.orders import cancelled_by, cancelled_sql, orders_sql
from lifecycle.sql import literal
from lifecycle.words import DAYS, counted

PURCHASES = "expected_purchases"  # the served column, its key in the JSON and metric prefix
COUNTED = "orders"  # what a purchase is, to the served process and so to this verdict
# The calibration table's bins of expected purchases: fixed, so runs compare bin by bin.
EDGES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, np.inf)
NO_PROCESS = "no expected_purchases scored (no purchase process served)"


def purchases_after(
    events_path: Path, user_ids: pd.Series, cutoff: pd.Timestamp, days: int
) -> np.ndarray:
    """Each user's orders in ``(cutoff, cutoff + days]`` not cancelled by its end, aligned with
    ``user_ids`` (0 where none)."""
    from features.asof import connect

    con = connect()
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW events AS SELECT * FROM read_parquet({literal(events_path)})"
    )
    has_order_id = c.ORDER_ID in {row[0] for row in con.execute("DESCRIBE events").fetchall()}
    at = f"'{cutoff.isoformat()}'::TIMESTAMPTZ"
    end = f"{at} + INTERVAL {days} DAY"
    counted = con.execute(
        f"""WITH orders AS ({orders_sql(has_order_id)}), {cancelled_sql(has_order_id)}
        SELECT o.{c.USER_ID}, count(*) AS purchases FROM orders o
        {cancelled_by("o", end, "x")}
        WHERE x.{c.USER_ID} IS NULL AND o.order_time > {at} AND o.order_time <= {end}
        GROUP BY 1"""
    ).df()
    by_user = counted.set_index(c.USER_ID)["purchases"]
    return user_ids.map(by_user).fillna(0).to_numpy(dtype=float)


def judge_served(
    scores: pd.DataFrame, events_path: Path, cutoff: pd.Timestamp, days: float | None
) -> dict[str, Any]:
    """:func:`judge_purchases` of a backtest's scores (their ``expected_purchases``, for the
    ``days`` of the served process: ``BatchResult.outlook_days``, None where none was served)
    against the full data's ``events_path`` after ``cutoff``."""
    if days is None:
        return {"counted": COUNTED, "horizon_days": None, "error": NO_PROCESS}
    expected = scores.get(PURCHASES, pd.Series(np.nan, index=scores.index)).to_numpy(dtype=float)
    happened = purchases_after(events_path, scores[c.USER_ID], cutoff, round(days))
    return judge_purchases(expected, happened, round(days))


def judge_purchases(expected: np.ndarray, happened: np.ndarray, days: int) -> dict[str, Any]:
    """The verdict on the customers' ``expected`` purchases (NaN: not a customer) against
    what ``happened``: counts, totals, total error, Spearman and the calibration table."""
    from training import evaluation

    customers = np.isfinite(expected)
    result: dict[str, Any] = {"counted": COUNTED, "horizon_days": days}
    if not customers.any():
        return result | {"error": NO_PROCESS}
    forecast, actual = expected[customers], happened[customers]
    total = float(actual.sum())
    result |= {
        "customers": int(customers.sum()),
        "expected_total": float(forecast.sum()),
        "happened_total": total,
        "total_error": float(forecast.sum() / total - 1) if total > 0 else float("nan"),
        "spearman": evaluation.spearman(actual, forecast),
        "mae": float(np.mean(np.abs(forecast - actual))),
    }
    return result | {"calibration": calibration_table(forecast, actual)}


def calibration_table(forecast: np.ndarray, actual: np.ndarray) -> list[dict[str, float]]:
    """Per bin of :data:`EDGES` that holds customers: its edges, the count, the mean expected
    and the mean that happened."""
    rows = []
    for low, high in pairwise(EDGES):
        inside = (forecast >= low) & (forecast < high)
        if inside.any():
            rows.append(
                {
                    "low": low,
                    "high": high,
                    "customers": int(inside.sum()),
                    "mean_expected": float(forecast[inside].mean()),
                    "mean_happened": float(actual[inside].mean()),
                }
            )
    return rows


def lines_of(verdict: dict[str, Any]) -> list[str]:
    """The verdict in two lines for a terminal (one where nothing was judged)."""
    days = verdict["horizon_days"]
    if "error" in verdict:
        return [f"  {PURCHASES}: not judged: {verdict['error']}"]
    error = verdict["total_error"]
    said = "-" if not np.isfinite(error) else f"{error:+.1%}"
    bins = "; ".join(
        f"{bin_name(row)}: {row['mean_expected']:.2f} vs {row['mean_happened']:.2f} "
        f"({row['customers']:,})"
        for row in verdict["calibration"]
    )
    return [
        f"  {PURCHASES} of {verdict['customers']:,} customers "
        f"({COUNTED} in {counted(days, DAYS)}): "
        f"{verdict['expected_total']:,.0f} expected vs {verdict['happened_total']:,.0f} "
        f"happened ({said}), Spearman {verdict['spearman']:.3f}, MAE {verdict['mae']:.2f}",
        f"    mean expected vs happened by expected: {bins}",
    ]


def bin_name(row: dict[str, float]) -> str:
    """A calibration bin's edges in words: ``1-2``, the last ``8+``."""
    return f"{row['low']:g}+" if not np.isfinite(row["high"]) else f"{row['low']:g}-{row['high']:g}"


def metrics_of(verdict: dict[str, Any]) -> dict[str, float]:
    """The verdict's finite numbers as MLflow metrics (``expected_purchases.<name>``, and per
    bin ``expected_purchases.bin_<low>.<name>``)."""
    values = {
        k: v for k, v in verdict.items() if isinstance(v, int | float) and k != "horizon_days"
    }
    for row in verdict.get("calibration", []):
        values |= {f"bin_{row['low']:g}.{k}": row[k] for k in row if k not in ("low", "high")}
    return {f"{PURCHASES}.{k}": float(v) for k, v in values.items() if np.isfinite(float(v))}


def plot(folder: Path, verdict: dict[str, Any]) -> list[str]:
    """The calibration table as a PNG: mean purchases that happened against mean expected
    per bin, beside the diagonal (none where nothing was judged)."""
    from matplotlib.figure import Figure

    from training import plots

    if "error" in verdict:
        return []
    table = verdict["calibration"]
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    expected = [row["mean_expected"] for row in table]
    happened = [row["mean_happened"] for row in table]
    top = max([*expected, *happened, 1.0])
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(expected, happened, marker="o", label=f"{verdict['customers']:,} customers")
    for row, x, y in zip(table, expected, happened, strict=True):
        ax.annotate(f"{bin_name(row)} ({row['customers']:,})", (x, y), fontsize=8)
    ax.set(
        title=f"expected purchases in {counted(verdict['horizon_days'], DAYS)} against "
        f"{COUNTED} that happened",
        xlabel="mean expected purchases (bins of expected purchases)",
        ylabel=f"mean {COUNTED} that happened",
    )
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return [str(plots.save(fig, folder / "calibration_purchases.png"))]
