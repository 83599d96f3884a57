"""The interval of a difference of two groups' means, targeted (sent) minus control, written
once for the campaign report (``serving.campaign_stats``) and the campaign readout of
``train-uplift`` (``training.campaign_effect``), which do not import each other.

- A 0/1 outcome (retention, conversion, visit): Newcombe's hybrid score interval (method 10
  of Newcombe 1998, Statistics in Medicine 17:873), from each group's Wilson interval. It
  always has a width: 10 of 10 sent converting and 0 of 10 held out is +100% [+60.8%, +100%],
  where the normal (Wald) interval said [+100%, +100%], the difference known exactly; and a
  control rate of 0 or 1 still carries its group's uncertainty.
- Any other outcome (spend, revenue): Welch's t interval (``d +- t_df sqrt(s_t^2 / n_t +
  s_c^2 / n_c)``, Welch-Satterthwaite df) or Student's pooled-variance t interval (``n_t +
  n_c - 2`` df), whichever is wider: never narrower than Welch's. A small group of a skewed
  spend that drew few of its large buyers has a small variance, and Welch's interval read
  from it alone was too narrow on one side: in A/A draws (nothing sent) its low bound was
  above 0 in 5.4% (online_retail's top 200 at control share 0.2), 10.4% (hillstrom's
  no-e-mail spend, 4,000 vs 1,000) and 12.6% (the demo's, 400 vs 100) where 2.5% is
  nominal; the pooled variance reads the spread of both groups, and with it no tail of 17
  such set-ups passed 2.9% (docs/loop.md; skewness-corrected t, bootstrap-t and BCa
  intervals did worse: a tail of up to 34%). No interval when both groups hold one value in
  every row: their zero spread measures nothing.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95


def z_of(confidence: float = CONFIDENCE) -> float:
    """The two-sided normal quantile of ``confidence`` (1.959964 at 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``successes / n``."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def newcombe(sent: np.ndarray, control: np.ndarray, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``mean(sent) - mean(control)`` for 0/1 values."""
    p1, p2 = float(np.mean(sent)), float(np.mean(control))
    l1, u1 = wilson(p1 * len(sent), len(sent), z)
    l2, u2 = wilson(p2 * len(control), len(control), z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(low, -1.0), min(high, 1.0)


def no_spread(sent: np.ndarray, control: np.ndarray) -> bool:
    """Whether a non-0/1 outcome's difference has no interval: one value in every row of each
    group (a 0/1 outcome always has one: see the module's docstring)."""
    return float(np.var(sent)) == 0.0 and float(np.var(control)) == 0.0


def difference_interval(
    sent: np.ndarray,
    control: np.ndarray,
    *,
    binary: bool,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """The interval of ``mean(sent) - mean(control)``, or None where :func:`no_spread`."""
    sent, control = np.asarray(sent, dtype=float), np.asarray(control, dtype=float)
    if binary:
        return newcombe(sent, control, z_of(confidence))
    if no_spread(sent, control):
        return None
    d = float(sent.mean() - control.mean())
    half = max(
        welch_half_width(sent, control, confidence), pooled_half_width(sent, control, confidence)
    )
    return d - half, d + half


def welch_half_width(sent: np.ndarray, control: np.ndarray, confidence: float) -> float:
    """Welch's t: each group's own variance, Welch-Satterthwaite degrees of freedom."""
    v_t, v_c = sent.var(ddof=1) / sent.size, control.var(ddof=1) / control.size
    dof = (v_t + v_c) ** 2 / (v_t**2 / (sent.size - 1) + v_c**2 / (control.size - 1))
    return _t_quantile(confidence, dof) * math.sqrt(v_t + v_c)


def pooled_half_width(sent: np.ndarray, control: np.ndarray, confidence: float) -> float:
    """Student's t: one variance pooled from both groups, ``n_t + n_c - 2`` degrees of freedom."""
    n_t, n_c = sent.size, control.size
    spread = pooled_sd(sent, control) * math.sqrt(1 / n_t + 1 / n_c)
    return _t_quantile(confidence, n_t + n_c - 2) * spread


def pooled_sd(sent: np.ndarray, control: np.ndarray) -> float:
    """The standard deviation pooled from both groups (each about its own mean)."""
    n_t, n_c = sent.size, control.size
    pooled = ((n_t - 1) * sent.var(ddof=1) + (n_c - 1) * control.var(ddof=1)) / (n_t + n_c - 2)
    return math.sqrt(pooled)


def _t_quantile(confidence: float, dof: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + confidence / 2, dof))
