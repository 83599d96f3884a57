"""How well a ranking finds the users a campaign changes: Qini and uplift curves, with intervals.

Users are sorted by the ranking's score, highest first; after the top k of N (ties cut
together, at the end of their group):

- Qini curve: q(k) = [Y_t(k) - Y_c(k) * n_t(k) / n_c(k)] / N, the incremental outcomes
  (per customer of the population) gained by treating the top k, where Y_t, Y_c sum the
  outcome of the treated and control users among them and n_t, n_c count them.
- Qini coefficient: the area between the Qini curve and the straight line of random
  targeting (from 0 to q(N)) over the share targeted in [0, 1]. Random targeting scores 0
  by construction; higher is better; the units are the outcome's per customer.
- Uplift curve: g(k) = [Y_t(k) / n_t(k) - Y_c(k) / n_c(k)] * k / N (0 while an arm is
  empty there); AUUC is its area over [0, 1]. Random targeting's AUUC is ATE / 2, the
  area under the line from 0 to g(N) = ATE.

Intervals are paired bootstraps over customers: each draw resamples the held-out users
with replacement and scores every ranking on the same draw, so a difference between two
rankings gets its own interval (what the promotion gate reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# 500: the chosen learner's Qini low bound moved by 0.00024 (sd over bootstrap seeds, ~10% of
# its half-width) at 200 draws on hillstrom's visit, 0.00015 at 500, 0.00010 at 1,000; 500
# cost train-uplift +3% (16.7 s to 17.2 s), 1,000 +24-26% (docs/loop.md)
BOOTSTRAP_DRAWS = 500
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Ranking:
    """Users in a ranking's order, with the positions where a tie group ends (the cuts)."""

    order: np.ndarray
    cuts: np.ndarray  # index of the last user of each tie group, in ranking order

    @classmethod
    def of(cls, score: np.ndarray) -> Ranking:
        score = np.asarray(score, dtype=float)
        if np.isnan(score).any():
            raise ValueError("a ranking score is NaN")
        order = np.argsort(-score, kind="stable")
        ranked = score[order]
        last_of_group = np.append(ranked[1:] != ranked[:-1], True)
        return cls(order=order, cuts=np.flatnonzero(last_of_group))


def _cumulative(
    outcome: np.ndarray, treated: np.ndarray, ranking: Ranking, weights: np.ndarray | None
) -> tuple[np.ndarray, ...]:
    """Shares targeted and the arms' cumulative counts and outcome sums at each cut, from 0."""
    w = np.ones(len(outcome)) if weights is None else np.asarray(weights, dtype=float)
    w, y, t = w[ranking.order], outcome[ranking.order], treated[ranking.order]
    n_t = np.cumsum(w * t)[ranking.cuts]
    n_c = np.cumsum(w * ~t)[ranking.cuts]
    y_t = np.cumsum(w * y * t)[ranking.cuts]
    y_c = np.cumsum(w * y * ~t)[ranking.cuts]
    n = np.cumsum(w)[ranking.cuts]
    zero = np.zeros(1)
    return tuple(np.concatenate([zero, a]) for a in (n / n[-1], n, n_t, n_c, y_t, y_c))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def qini_curve(
    outcome: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray | Ranking,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, incremental outcomes per customer), from (0, 0) to the whole population."""
    ranking = score if isinstance(score, Ranking) else Ranking.of(score)
    outcome, treated = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    share, n, n_t, n_c, y_t, y_c = _cumulative(outcome, treated, ranking, weights)
    return share, (y_t - y_c * _ratio(n_t, n_c)) / n[-1]


def uplift_curve(
    outcome: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray | Ranking,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, uplift among the targeted x share targeted)."""
    ranking = score if isinstance(score, Ranking) else Ranking.of(score)
    outcome, treated = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    share, _n, n_t, n_c, y_t, y_c = _cumulative(outcome, treated, ranking, weights)
    both = (n_t > 0) & (n_c > 0)
    return share, np.where(both, _ratio(y_t, n_t) - _ratio(y_c, n_c), 0.0) * share


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def qini_coefficient(
    outcome: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray | Ranking,
    weights: np.ndarray | None = None,
) -> float:
    """Area between the Qini curve and random targeting's line (0 for random, > 0 is better)."""
    share, qini = qini_curve(outcome, treated, score, weights)
    return _area(share, qini - share * qini[-1])


def auuc(
    outcome: np.ndarray,
    treated: np.ndarray,
    score: np.ndarray | Ranking,
    weights: np.ndarray | None = None,
) -> float:
    """Area under the uplift curve (random targeting: ATE / 2)."""
    share, gain = uplift_curve(outcome, treated, score, weights)
    return _area(share, gain)


def average_effect(outcome: np.ndarray, treated: np.ndarray) -> float:
    """Mean outcome of the treated minus that of the control users (the ATE)."""
    outcome, treated = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    return float(outcome[treated].mean() - outcome[~treated].mean())


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}

    def text(self, digits: int = 4) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Comparison:
    """Each ranking's Qini coefficient and AUUC with intervals; AUUC of random targeting;
    and each ranking's Qini minus the baseline ranking's, paired on the same draws."""

    qini: dict[str, Estimate]
    auuc: dict[str, Estimate]
    random_auuc: Estimate
    qini_over_baseline: dict[str, Estimate]
    baseline: str
    draws: int = BOOTSTRAP_DRAWS

    def legend(self, outcome: str) -> str:
        """What the table's figures are, in the output itself (their units were only in
        this module's docstring)."""
        return (
            f"Qini: area between a ranking's curve of incremental {outcome} per test customer "
            "and random targeting's straight line (random: 0); AUUC: area under its uplift "
            f"curve (random: test ATE / 2); intervals: 95% paired bootstrap, {self.draws:,} "
            "draws of the test customers"
        )


def compare_rankings(
    outcome: np.ndarray,
    treated: np.ndarray,
    scores: Mapping[str, np.ndarray],
    baseline: str,
    *,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Qini and AUUC of every ranking with paired bootstrap intervals (customers resampled)."""
    outcome, treated = np.asarray(outcome, dtype=float), np.asarray(treated, dtype=bool)
    rankings = {name: Ranking.of(score) for name, score in scores.items()}
    rng = np.random.default_rng(seed)
    n = len(outcome)
    qinis = {name: np.empty(draws) for name in rankings}
    auucs = {name: np.empty(draws) for name in rankings}
    random_auucs = np.empty(draws)
    for d in range(draws):
        # The draw as weights (how often each user was drawn): the rankings' orders hold.
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        for name, ranking in rankings.items():
            qinis[name][d] = qini_coefficient(outcome, treated, ranking, weights)
            auucs[name][d] = auuc(outcome, treated, ranking, weights)
        ate = np.average(outcome[treated], weights=weights[treated]) - np.average(
            outcome[~treated], weights=weights[~treated]
        )
        random_auucs[d] = ate / 2
    tail = (1 - confidence) / 2 * 100

    def estimate(point: float, sample: np.ndarray) -> Estimate:
        low, high = np.percentile(sample, [tail, 100 - tail])
        return Estimate(float(point), float(low), float(high))

    qini_points = {
        name: qini_coefficient(outcome, treated, ranking) for name, ranking in rankings.items()
    }
    return Comparison(
        qini={name: estimate(qini_points[name], qinis[name]) for name in rankings},
        auuc={
            name: estimate(auuc(outcome, treated, ranking), auucs[name])
            for name, ranking in rankings.items()
        },
        random_auuc=estimate(average_effect(outcome, treated) / 2, random_auucs),
        qini_over_baseline={
            name: estimate(qini_points[name] - qini_points[baseline], qinis[name] - qinis[baseline])
            for name in rankings
            if name != baseline
        },
        baseline=baseline,
        draws=draws,
    )
