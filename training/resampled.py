"""Rank metrics of many bootstrap draws at once, from each row's multiplicity in a draw.

A bootstrap draw of ``n`` rows with replacement is the same sample as the original rows each
counted ``w`` times (``w = bincount(draw)``). AUC, Spearman and normalized Gini depend only on
the order of the scores, with ties shared, so for a draw they follow from group sums of the
weights in one fixed sort of the original rows: no sort and no copy of the rows per draw.
Every function takes ``weights`` of shape ``(draws, n)`` and returns one value per draw,
NaN where the metric is undefined (a single class, all values equal): equal to
:mod:`training.evaluation`'s metric on the expanded draw, to rounding (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Draws = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _groups(values: np.ndarray, descending: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The sort order of ``values`` and where each group of equal values starts in it."""
    order = np.argsort(-values if descending else values, kind="stable")
    ordered = values[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
    return order, starts


def _group_sums(weights: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(weights[:, order], starts, axis=1)


def auc_draws(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC per draw: P(a positive outranks a negative) + half the ties (Mann-Whitney)."""
    order, starts = _groups(score)
    positives = _group_sums(weights * y, order, starts)
    negatives = _group_sums(weights, order, starts) - positives
    below = np.cumsum(negatives, axis=1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def _midranks(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's average rank in each draw (as scipy's rankdata of the expanded draw), and
    how many distinct values each draw holds."""
    order, starts = _groups(values)
    counts = _group_sums(weights, order, starts)
    group_rank = np.cumsum(counts, axis=1) - counts + (counts + 1.0) / 2.0
    group_of_row = np.empty(values.size, dtype=np.intp)
    group_of_row[order] = np.repeat(np.arange(starts.size), np.diff(np.append(starts, values.size)))
    return group_rank[:, group_of_row], (counts > 0).sum(axis=1)


def spearman_draws(actual: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation per draw; 0 where either side is constant in the draw."""
    rank_actual, distinct_actual = _midranks(actual, weights)
    rank_score, distinct_score = _midranks(score, weights)
    total = weights.sum(axis=1, keepdims=True)
    centred_actual = rank_actual - (weights * rank_actual).sum(axis=1, keepdims=True) / total
    centred_score = rank_score - (weights * rank_score).sum(axis=1, keepdims=True) / total
    covariance = (weights * centred_actual * centred_score).sum(axis=1)
    spread = np.sqrt(
        (weights * centred_actual**2).sum(axis=1) * (weights * centred_score**2).sum(axis=1)
    )
    constant = (distinct_actual < 2) | (distinct_score < 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, 0.0, covariance / np.where(constant, 1.0, spread))


def _gini_sums(actual: np.ndarray, order_by: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Area between the cumulative-value curve (rows by descending ``order_by``, ties sharing
    their group's mean) and the diagonal, per draw."""
    order, starts = _groups(order_by, descending=True)
    counts = _group_sums(weights, order, starts)
    values = _group_sums(weights * actual, order, starts)
    before = np.cumsum(values, axis=1) - values
    rows = weights.sum(axis=1)
    area = (counts * before + values * (counts + 1.0) / 2.0).sum(axis=1)
    return area - values.sum(axis=1) * (rows + 1.0) / 2.0


def gini_draws(actual: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Normalized Gini per draw; NaN where every actual value of the draw is equal."""
    perfect = _gini_sums(actual, actual, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(perfect > 0, _gini_sums(actual, score, weights) / perfect, np.nan)


def draw_weights(rng: np.random.Generator, rows: int, draws: int) -> np.ndarray:
    """Multiplicities of ``draws`` bootstrap draws, consuming ``rng`` exactly as drawing the
    row indices one draw after another does (same seed, same draws)."""
    weights = np.empty((draws, rows))
    for draw in range(draws):
        weights[draw] = np.bincount(rng.integers(0, rows, rows), minlength=rows)
    return weights
