"""Forecast combination for a value task: LightGBM's expected value averaged with BG/NBD +
Gamma-Gamma's, with LightGBM's weight chosen on the test cutoffs by the gate metric.

The two are means of the same value from different models (trees over features, and a
purchase and spend process per customer); where their errors differ, a weighted mean of
the two ranks and sums better than either, and where the process adds nothing (a product
whose users it does not describe) the test cutoffs keep LightGBM alone. The weight is the
one choice made on the test rows, as the gate's own; the rule served in the blend is fitted
on the users of the latest cutoff, as a winning rule is (``Method.fresh_rules``).
Measured: docs/decisions.md ("A value blended with BG/NBD + Gamma-Gamma").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lifecycle.bundle import blend_values
from training.evaluation import metrics_of

BLEND_RULE = "bgnbd_gamma_gamma"
# LightGBM's shares tried besides 1 (LightGBM alone); 0, the rule alone, is the gate's baseline.
WEIGHTS = (0.75, 0.5, 0.25)


@dataclass(frozen=True)
class Blend:
    weight: float  # LightGBM's share of the served value; 1.0: LightGBM alone
    metric: str
    tried: dict[str, float]  # weight (as text) -> the gate metric on the test rows

    def to_dict(self) -> dict[str, Any]:
        return {"rule": BLEND_RULE, "weight": self.weight, "metric": self.metric} | {
            "tried": self.tried
        }

    def lines(self) -> list[str]:
        """What the training serves, where a blend beat LightGBM alone on the test rows."""
        if self.weight >= 1.0:
            return []
        return [
            f"  lightgbm above is a blend: {self.weight:.0%} LightGBM's value and "
            f"{1 - self.weight:.0%} {BLEND_RULE}'s ({self.metric} "
            f"{self.tried[f'{self.weight:g}']:.4f}; LightGBM alone {self.tried['1']:.4f})"
        ]


def choose_blend(
    task: str, y: np.ndarray, scores: dict[str, np.ndarray], metric: str
) -> Blend | None:
    """LightGBM's weight that does best on ``metric`` (higher is better) on the test rows,
    ties to the larger share; None where the task has no rule to blend with."""
    rule = scores.get(BLEND_RULE)
    if rule is None or not np.isfinite(rule).all():
        return None
    ours = scores["lightgbm"]
    candidates = {1.0: ours} | {w: blend_values(w, ours, rule) for w in WEIGHTS}
    measured = metrics_of(task, y, {f"{w:g}": v for w, v in candidates.items()})
    tried = {k: float(m.get(metric, np.nan)) for k, m in measured.items()}
    best = max(candidates, key=lambda w: (np.nan_to_num(tried[f"{w:g}"], nan=-np.inf), w))
    return Blend(best, metric, tried)


def shares_tried(data_window: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The gate metric of each LightGBM share tried, as MLflow metrics of models named
    ``lightgbm_share_<share>`` (``lightgbm_share_1``: LightGBM alone), where a blend serves:
    the run's ``lightgbm.*`` metrics are then the blend's."""
    blend = data_window.get("blend")
    if not blend or blend["weight"] >= 1.0:
        return {}
    return {f"lightgbm_share_{k}": {blend["metric"]: v} for k, v in blend["tried"].items()}
