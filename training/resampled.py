"""Rank metrics of many bootstrap draws at once, from each row's multiplicity in a draw.

A bootstrap draw of ``n`` rows with replacement is the same sample as the original rows each
counted ``w`` times (``w = bincount(draw)``). AUC, Spearman and normalized Gini depend only on
the order of the scores, with ties shared, so for a draw they follow from group sums of the
weights in one fixed sort of the original rows: no sort and no copy of the rows per draw.
Each metric is prepared once on the target and once per score, which sorts the rows, and
the prepared function takes ``weights`` of shape ``(draws, n)`` and returns one value per draw, NaN where
the metric is undefined (a single class, all values equal): equal to
:mod:`training.evaluation`'s metric on the expanded draw, to rounding (tested). Sorting once
instead of once per batch of draws keeps the bootstrap linear in the rows (a batch holds
about 1M row weights, so the batches grow with the rows).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PerDraw = Callable[[np.ndarray], np.ndarray]
# Prepared on the target, then on each score compared (the target's side computed once a batch).
Draws = Callable[[np.ndarray], Callable[[np.ndarray], PerDraw]]


class _Groups:
    """One sort of ``values``: the order, where each group of equal values starts in it, and
    each row's group."""

    def __init__(self, values: np.ndarray, descending: bool = False) -> None:
        self.order = np.argsort(-values if descending else values, kind="stable")
        ordered = values[self.order]
        self.starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered)) + 1))
        self.size = values.size

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """Per draw, the weights summed over each group, groups in sort order."""
        return np.add.reduceat(weights[:, self.order], self.starts, axis=1)

    def sums_with(self, weights: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`sums` of the weights and of the weights times each row's value, from one
        gather of the weights into sort order (a gather costs several multiplications)."""
        ordered = weights[:, self.order]
        return (
            np.add.reduceat(ordered, self.starts, axis=1),
            np.add.reduceat(ordered * values[self.order], self.starts, axis=1),
        )

    def group_of_row(self) -> np.ndarray:
        group = np.empty(self.size, dtype=np.intp)
        lengths = np.diff(np.append(self.starts, self.size))
        group[self.order] = np.repeat(np.arange(self.starts.size), lengths)
        return group


def _last_weights(compute: PerDraw) -> PerDraw:
    """``compute`` remembering its last batch of draws: the target's side of a metric is the
    same for every score compared on that batch."""
    last: list = [None, None]

    def cached(weights: np.ndarray) -> np.ndarray:
        if last[0] is not weights:
            last[:] = [weights, compute(weights)]
        return last[1]

    return cached


def auc_draws(y: np.ndarray) -> Callable[[np.ndarray], PerDraw]:
    """ROC AUC per draw: P(a positive outranks a negative) + half the ties (Mann-Whitney)."""
    return lambda score: _auc_of(y, _Groups(score))


def _auc_of(y: np.ndarray, groups: _Groups) -> PerDraw:
    def per_draw(weights: np.ndarray) -> np.ndarray:
        rows, positives = groups.sums_with(weights, y)
        negatives = rows - positives
        below = np.cumsum(negatives, axis=1) - negatives
        wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
        pairs = positives.sum(axis=1) * negatives.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pairs > 0, wins / pairs, np.nan)

    return per_draw


def _midranks(values: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per draw, each row's average rank (as scipy's rankdata of the expanded draw), and how
    many distinct values the draw holds."""
    groups = _Groups(values)
    group_of_row = groups.group_of_row()

    def per_draw(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = groups.sums(weights)
        group_rank = np.cumsum(counts, axis=1) - counts + (counts + 1.0) / 2.0
        return group_rank[:, group_of_row], (counts > 0).sum(axis=1)

    return per_draw


def _centred(ranks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Midranks minus their mean over the draw's rows: (rows + 1) / 2, as the midranks of
    ``rows`` values sum to rows (rows + 1) / 2 with or without ties."""
    return ranks - (weights.sum(axis=1, keepdims=True) + 1.0) / 2.0


def spearman_draws(actual: np.ndarray) -> Callable[[np.ndarray], PerDraw]:
    """Spearman's rank correlation per draw; 0 where either side is constant in the draw."""
    rank_actual = _midranks(actual)

    def actual_side(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ranks, distinct = rank_actual(weights)
        centred = _centred(ranks, weights)
        return centred, distinct, (weights * centred**2).sum(axis=1)

    actual_of = _last_weights(actual_side)
    return lambda score: _spearman_of(actual_of, _midranks(score))


def _spearman_of(actual_of: Callable, rank_score: Callable) -> PerDraw:
    def per_draw(weights: np.ndarray) -> np.ndarray:
        centred_actual, distinct_actual, spread_actual = actual_of(weights)
        ranks, distinct_score = rank_score(weights)
        centred_score = _centred(ranks, weights)
        covariance = (weights * centred_actual * centred_score).sum(axis=1)
        spread = np.sqrt(spread_actual * (weights * centred_score**2).sum(axis=1))
        constant = (distinct_actual < 2) | (distinct_score < 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(constant, 0.0, covariance / np.where(constant, 1.0, spread))

    return per_draw


def _gini_sums(actual: np.ndarray, order_by: np.ndarray) -> PerDraw:
    """Area between the cumulative-value curve (rows by descending ``order_by``, ties sharing
    their group's mean) and the diagonal, per draw."""
    groups = _Groups(order_by, descending=True)

    def per_draw(weights: np.ndarray) -> np.ndarray:
        counts, values = groups.sums_with(weights, actual)
        before = np.cumsum(values, axis=1) - values
        rows = weights.sum(axis=1)
        area = (counts * before + values * (counts + 1.0) / 2.0).sum(axis=1)
        return area - values.sum(axis=1) * (rows + 1.0) / 2.0

    return per_draw


def gini_draws(actual: np.ndarray) -> Callable[[np.ndarray], PerDraw]:
    """Normalized Gini per draw; NaN where every actual value of the draw is equal."""
    perfect_of = _last_weights(_gini_sums(actual, actual))
    return lambda score: _gini_of(perfect_of, _gini_sums(actual, score))


def _gini_of(perfect_of: PerDraw, model_of: PerDraw) -> PerDraw:
    def per_draw(weights: np.ndarray) -> np.ndarray:
        perfect = perfect_of(weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(perfect > 0, model_of(weights) / perfect, np.nan)

    return per_draw


def draw_weights(rng: np.random.Generator, rows: int, draws: int) -> np.ndarray:
    """Multiplicities of ``draws`` bootstrap draws, consuming ``rng`` exactly as drawing the
    row indices one draw after another does (same seed, same draws)."""
    weights = np.empty((draws, rows))
    for draw in range(draws):
        weights[draw] = np.bincount(rng.integers(0, rows, rows), minlength=rows)
    return weights
