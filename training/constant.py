"""A LightGBM model that learned nothing: it scores every test row alike (AUC 0.5000), so
the training's lines say so and why, rather than keeping it as a challenger unsaid."""

from __future__ import annotations

from typing import Any

import numpy as np

from lifecycle import tasks

CONSTANT = "constant_model"  # training report key: {"value", "train_rows"}


def constant_model(predictions: Any, train_rows: int) -> dict[str, Any]:
    """``{CONSTANT: ...}`` when LightGBM scored every test row alike (it learned nothing,
    its AUC 0.5000: trial 114's conversion on 209 rows), else nothing."""
    values = np.asarray(predictions, dtype=float)
    if not values.size or np.nanmax(values) != np.nanmin(values):
        return {}
    return {CONSTANT: {"value": float(values[0]), "train_rows": int(train_rows)}}


def constant_lines(task: str, report: dict[str, Any]) -> list[str]:
    """Why a constant model is kept (a task that barely applies to the data: conversion of a
    shop that knows a customer once they order has few users before their first purchase)."""
    if not (found := report.get(CONSTANT)):
        return []
    said = (
        f"  the model is constant (every test row scored {found['value']:.4g}): it learned "
        f"nothing from {found['train_rows']:,} training rows"
    )
    if tasks.get(task).population == "before_target":
        said += (
            f"; {task} barely applies to this data: few users are seen before their target "
            "(a shop that knows a customer once they order has almost none before a purchase)"
        )
    return [said]
