"""Evaluation figures logged to MLflow.

Each function builds a standalone `matplotlib.figure.Figure` (no pyplot, no global
backend), so it is safe in servers, tests and headless training jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lifecycle.figures import render_png
from training import evaluation

DPI = 120


def _check_models(by_model: Mapping[str, Any], what: str) -> None:
    if not by_model:
        raise ValueError(f"{what} is empty; pass at least one model's predictions")


def calibration_plot(
    y: Any, p_by_model: Mapping[str, Any], bins: int = 10, title: str = "Calibration"
) -> Figure:
    """Reliability curve per model against the diagonal, with a histogram of scores below."""
    _check_models(p_by_model, "p_by_model")
    fig = Figure(figsize=(7, 7), layout="constrained")
    curve_ax, hist_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    curve_ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, p in p_by_model.items():
        table = evaluation.calibration_table(y, p, bins)
        ece = evaluation.expected_calibration_error(y, p, bins)
        (line,) = curve_ax.plot(
            table["mean_predicted"],
            table["observed_rate"],
            marker="o",
            label=f"{name} (ECE {ece:.3f})",
        )
        hist_ax.hist(
            np.asarray(p, dtype=float),
            bins=20,
            range=(0, 1),
            histtype="step",
            color=line.get_color(),
            label=name,
        )
    curve_ax.set(
        title=f"{title}: reliability ({bins} equal-frequency bins)",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    curve_ax.legend(loc="upper left")
    curve_ax.grid(alpha=0.3)
    hist_ax.set(xlabel="predicted probability", ylabel="rows")
    hist_ax.grid(alpha=0.3)
    return fig


def gain_plot(
    y: Any,
    score_by_model: Mapping[str, Any],
    bins: int = 10,
    value_label: str = "positives",
    title: str = "Gain and lift",
) -> Figure:
    """Cumulative gain per model with the random baseline (left) and lift by decile (right).

    `y` is 0/1 or a value such as LTV; `value_label` names what is being captured.
    """
    _check_models(score_by_model, "score_by_model")
    fig = Figure(figsize=(12, 5), layout="constrained")
    gain_ax, lift_ax = fig.subplots(1, 2)
    gain_ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    width = 0.8 / len(score_by_model)
    for index, (name, score) in enumerate(score_by_model.items()):
        table = evaluation.gain_table(y, score, bins)
        x = np.concatenate(([0.0], table["population_share"]))
        gain = np.concatenate(([0.0], table["cumulative_gain"]))
        (line,) = gain_ax.plot(x, gain, marker="o", label=name)
        offset = (index - (len(score_by_model) - 1) / 2) * width
        lift_ax.bar(
            table["bin"] + offset,
            table["bin_lift"],
            width=width,
            color=line.get_color(),
            label=name,
        )
    lift_ax.axhline(1.0, linestyle="--", color="grey", label="random")
    gain_ax.set(
        title=f"{title}: cumulative gain",
        xlabel="share of users (highest score first)",
        ylabel=f"cumulative share of {value_label}",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    gain_ax.legend(loc="lower right")
    gain_ax.grid(alpha=0.3)
    lift_ax.set(
        title=f"{title}: lift by bin",
        xlabel=f"score bin (1 = top {100 // bins}%)",
        ylabel=f"share of {value_label} / share of users",
        xticks=np.arange(1, bins + 1),
    )
    lift_ax.legend(loc="upper right")
    lift_ax.grid(alpha=0.3, axis="y")
    return fig


def decile_plot(
    y: Any, pred_by_model: Mapping[str, Any], n: int = 10, title: str = "LTV by predicted decile"
) -> Figure:
    """Mean actual (solid) vs mean predicted (dashed) value per predicted decile, per model."""
    _check_models(pred_by_model, "pred_by_model")
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for name, pred in pred_by_model.items():
        table = evaluation.decile_table(y, pred, n)
        (line,) = ax.plot(table["decile"], table["mean_actual"], marker="o", label=f"{name} actual")
        ax.plot(
            table["decile"],
            table["mean_predicted"],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{name} predicted",
        )
    ax.set(
        title=title,
        xlabel="predicted decile (1 = highest predicted)",
        ylabel="mean value per user",
        xticks=np.arange(1, n + 1),
    )
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def importance_plot(
    names: Sequence[str],
    importances: Any,
    top: int = 20,
    title: str = "Feature importance (gain)",
) -> Figure:
    """Horizontal bars of the `top` features by gain importance, largest at the top."""
    values = np.asarray(importances, dtype=float)
    if len(names) != values.size:
        raise ValueError(f"names has {len(names)} entries but importances has {values.size}")
    if values.size == 0:
        raise ValueError("no features to plot")
    order = np.argsort(-values, kind="stable")[:top]
    shown_names = [str(names[i]) for i in order][::-1]
    shown_values = values[order][::-1]
    fig = Figure(figsize=(8, 0.3 * len(order) + 1.5), layout="constrained")
    ax = fig.subplots()
    ax.barh(shown_names, shown_values)
    ax.set(title=f"{title}: top {len(order)} of {values.size}", xlabel="total gain")
    ax.grid(alpha=0.3, axis="x")
    return fig


def save(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write `fig` as PNG (creating parent folders); closes it if pyplot manages it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas.manager is not None:
        # Only pyplot-managed figures are registered globally and need closing there.
        import matplotlib.pyplot as plt

        fig.savefig(path, format="png", dpi=dpi)
        plt.close(fig)
    else:
        render_png(fig, path, dpi)
    return path


def save_run_plots(
    out: Path, task: str, bundle: Any, y: np.ndarray, scores: dict[str, np.ndarray]
) -> None:
    """A training run's importance, gain and calibration (a probability) or deciles (a
    value) figures, as PNG files in ``out``."""
    from lifecycle import tasks
    from training.models import importances

    figures = {
        "importance.png": importance_plot(
            bundle.feature_names, importances(bundle).reindex(bundle.feature_names).to_numpy()
        )
    }
    if not tasks.get(task).is_probability:
        figures["deciles.png"] = decile_plot(y, scores)
        figures["gain.png"] = gain_plot(y, scores, value_label="value")
    else:
        figures["calibration.png"] = calibration_plot(y, {"lightgbm": scores["lightgbm"]})
        figures["gain.png"] = gain_plot(y, scores)
    for filename, figure in figures.items():
        save(figure, out / filename)
