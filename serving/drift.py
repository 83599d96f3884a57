"""Drift statistics: how far one column's current values moved from its reference values.

Pure functions of two samples (no workspace, no models): :mod:`serving.monitor` feeds them
the champions' training window and the latest cutoff.

Population stability index (PSI), with ``r_i`` and ``c_i`` the reference and current
shares of bin ``i``::

    PSI = sum_i (c_i - r_i) * ln(c_i / r_i)

where a share below ``epsilon`` is raised to ``epsilon`` (an empty bin would make the log
infinite). Bins are fixed by the reference alone, so the index of one reference does not
move with the sample it is compared to:

- numbers: the reference's deciles (``bins`` quantiles, duplicates merged, so a count
  feature with many ties gets fewer bins); bin ``i`` holds ``edge[i-1] < x <= edge[i]``,
  the first and last bins are open-ended. An edge the reference holds in at least one bin's
  share of its values (``1/bins``: a capped ratio at its cap, a count's 1 for most users) is
  a bin of its own, split from the values just below it, so values moving onto or off it are
  seen (online_retail at 2011-02-05..03-12: 91% of users at the 90/365-day order trend's cap;
  merged with the values below it, PSI read 0.024 for what KS read as D 0.547). Missing
  values are one more bin: a feature that starts coming back empty has drifted.
- categories: every category seen in either sample, plus missing; a category the
  reference never had (a new channel) gets the reference share ``epsilon``.

Rules of thumb (Siddiqi, *Credit Risk Scorecards*): below 0.1 stable, 0.1-0.25 worth a
look, above 0.25 a shift.

Two-sample tests, on every row:

- numbers: Kolmogorov-Smirnov, statistic ``D = max_x |F_ref(x) - F_cur(x)|`` (the largest
  gap between the two empirical CDFs; 0..1), p-value from scipy (asymptotic). Missing
  values count as one value below all others: a feature missing for most users (the
  purchase gaps of non-buyers) is judged on all of them, as PSI judges it, and a change in
  the share missing moves ``D`` by that share;
- categories (and missing): Pearson's chi-square on the 2 x k table of counts, effect size
  Cramér's V ``= sqrt(chi2 / n)`` for two samples (0..1).

On a million rows every test rejects for differences no one cares about, so a test flags
only when ``p < p_value`` *and* its effect (``D`` or V) reaches ``min_effect``.

Computed for speed, with the same numbers as the plain way (``tests/test_drift.py`` checks
against pandas bins and scipy's tests): each number column is sorted once
(:class:`Ordered`), its bin counts come from ``bins`` look-ups into the sorted values and
KS from one look-up per distinct value of each side; categories are counted before they
are named as text. Every row is still compared: no subsample beyond ``monitor.max_rows``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["number", "category"]
Verdict = Literal["drift", "watch", "usual", "stable"]
MISSING = "(missing)"
# How numbers are binned: a kept comparison (serving.monitor.comparison_path) names it, so one
# computed with other bins is computed again. 2: an edge held by a bin's share is its own bin.
BINNING = 2


@dataclass(frozen=True)
class Thresholds:
    """When a column is reported as drifting (settings ``monitor.*``)."""

    psi_alert: float = 0.25  # PSI at or above: drift
    psi_warn: float = 0.1  # PSI at or above: watch
    p_value: float = 0.001  # a test below this p-value ...
    min_effect: float = 0.1  # ... with KS D or Cramér's V at least this: drift
    bins: int = 10
    epsilon: float = 1e-4


@dataclass
class ColumnDrift:
    """One column's drift between the reference and the current sample."""

    name: str
    source: str  # "feature" or "score"
    kind: Kind
    psi: float
    test: str  # "ks" or "chi2"
    statistic: float  # KS D, or chi-square
    effect: float  # KS D, or Cramér's V
    p_value: float
    verdict: Verdict
    reference_rows: int
    current_rows: int
    # The same comparison one gap earlier (:func:`beyond_usual`), when it could be made.
    usual_psi: float | None = None
    usual_effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and np.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def quantile_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges: the reference's ``1/bins .. (bins-1)/bins`` quantiles, unique."""
    values = reference[~np.isnan(reference)]
    if len(values) == 0:
        return np.array([], dtype=float)
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def point_edges(present: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    """Which ``edges`` the ascending reference values ``present`` hold in at least one bin's
    share (``1/bins``): each is a bin of its own (:meth:`Ordered.binned_shares`)."""
    held = np.searchsorted(present, edges, side="right") - np.searchsorted(
        present, edges, side="left"
    )
    return held * bins >= max(len(present), 1)


def psi_from_shares(reference: np.ndarray, current: np.ndarray, epsilon: float) -> float:
    """``sum (c - r) ln(c / r)`` over bins, each share at least ``epsilon``."""
    r = np.maximum(np.asarray(reference, dtype=float), epsilon)
    c = np.maximum(np.asarray(current, dtype=float), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_psi(
    reference: np.ndarray, current: np.ndarray, bins: int = 10, epsilon: float = 1e-4
) -> float:
    """PSI of numbers over the reference's quantile bins (plus a missing bin), as
    :func:`number_drift` reads it."""
    summary = NumberReference.of(_floats(reference), bins)
    shares = Ordered.of(_floats(current)).binned_shares(summary.edges, summary.points)
    return psi_from_shares(summary.shares, shares, epsilon)


@dataclass(frozen=True)
class Ordered:
    """One sample of numbers in ascending order, missing values first as ``-inf`` (one value
    below all others): every statistic here reads a column this way, sorted once."""

    values: np.ndarray
    missing: int  # how many of the leading -inf are missing values

    @classmethod
    def of(cls, values: np.ndarray) -> Ordered:
        missing = np.isnan(values)
        return cls(np.sort(np.where(missing, -np.inf, values)), int(missing.sum()))

    def __len__(self) -> int:
        return len(self.values)

    def quantile_edges(self, bins: int) -> np.ndarray:
        """:func:`quantile_edges` of the same sample (quantiles depend only on the order)."""
        present = self.values[self.missing :]
        if len(present) == 0:
            return np.array([], dtype=float)
        return np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))

    def binned_shares(self, edges: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Shares of the sample in the bins of ``edges`` (right-closed; an edge marked in
        ``points`` a bin of its own, after the values below it), the last one missing: counts
        from look-ups at the edges, two at such an edge."""
        present = self.values[self.missing :]
        at_or_below = np.searchsorted(present, edges, side="right")
        if points.any():  # below such an edge, then at it
            below = np.searchsorted(present, edges[points], side="left")
            at_or_below = np.sort(np.concatenate([at_or_below, below]), kind="stable")
        counts = np.diff(np.concatenate([[0], at_or_below, [len(present)], [len(self.values)]]))
        return counts.astype(float) / max(len(self.values), 1)


@dataclass(frozen=True)
class NumberReference:
    """A reference column reduced to what PSI and KS read: computed once, then compared with
    any number of current samples."""

    ordered: Ordered
    edges: np.ndarray
    points: np.ndarray  # the edges that are a bin of their own (point_edges)
    shares: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, bins: int) -> NumberReference:
        ordered = Ordered.of(values)
        edges = ordered.quantile_edges(bins)
        points = point_edges(ordered.values[ordered.missing :], edges, bins)
        return cls(ordered, edges, points, ordered.binned_shares(edges, points))


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov D and p-value, missing values counted as one value below all
    others (NaN when a side is empty or all missing on both)."""
    return ks_of_ordered(Ordered.of(_floats(reference)), Ordered.of(_floats(current)))


def ks_of_ordered(reference: Ordered, current: Ordered) -> tuple[float, float]:
    """KS D and p-value of two sorted samples, the numbers ``scipy.stats.ks_2samp(...,
    method="asymp")`` gives, with a quarter of its look-ups.

    ``F_ref - F_cur`` only rises at reference values and only falls at current ones (and is
    0 past the last value), so its maximum is reached at a reference value and its minimum
    at a current one: each side's CDF there is its own position, the other's one look-up.
    Only the last of each run of equal values is looked at (the gap is the same at every
    copy): the same ``D`` as comparing at all 2n values.
    """
    from scipy.stats import distributions

    n_ref, n_cur = len(reference), len(current)
    if n_ref == 0 or n_cur == 0:
        return float("nan"), float("nan")
    if reference.missing == n_ref and current.missing == n_cur:
        return 0.0, 1.0
    values, at = _run_ends(reference.values)
    rises = (at + 1) / n_ref - np.searchsorted(current.values, values, side="right") / n_cur
    values, at = _run_ends(current.values)
    falls = np.searchsorted(reference.values, values, side="right") / n_ref - (at + 1) / n_cur
    statistic = float(max(rises.max(), 0.0, np.clip(-falls.min(), 0, 1)))
    # scipy's two-sided asymptotic p-value: Smirnov's distribution at the effective size
    larger, smaller = sorted([float(n_ref), float(n_cur)], reverse=True)
    effective = np.round(larger * smaller / (larger + smaller))
    return statistic, float(np.clip(distributions.kstwo.sf(statistic, effective), 0, 1))


def _run_ends(ascending: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last of each run of equal values of an ascending array, and their positions."""
    last = np.empty(len(ascending), dtype=bool)
    np.not_equal(ascending[1:], ascending[:-1], out=last[:-1])
    last[-1] = True
    (at,) = np.nonzero(last)
    return ascending[at], at


def category_counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Counts per category (missing as ``MISSING``) in each sample: rows reference, current."""
    table = pd.concat([count_categories(reference), count_categories(current)], axis=1)
    table = table.fillna(0).T
    table.index = ["reference", "current"]
    return table.sort_index(axis=1)


def count_categories(values: pd.Series) -> pd.Series:
    """How many rows hold each category, named as text (missing as ``MISSING``).

    Counted on the raw values, then named: the same counts as turning every row into text
    first, at the cost of one hash pass (a handful of categories, not 100,000 strings). A
    column mixing types is named row by row: 1, 1.0 and True hash alike but read apart.
    """
    values = pd.Series(values)
    if pd.api.types.infer_dtype(values, skipna=True).startswith("mixed"):
        return values.astype("string").fillna(MISSING).value_counts()
    counts = values.value_counts(dropna=False)
    counts = counts[counts > 0]  # a categorical dtype lists its unused categories too
    names = pd.Series(counts.index, dtype=object).astype("string").fillna(MISSING)
    return counts.groupby(names.to_numpy(), sort=False).sum()


def categorical_psi(reference: pd.Series, current: pd.Series, epsilon: float = 1e-4) -> float:
    """PSI over every category of either sample (unseen ones at share ``epsilon``)."""
    return _psi_of_table(category_counts(pd.Series(reference), pd.Series(current)), epsilon)


def _psi_of_table(table: pd.DataFrame, epsilon: float) -> float:
    counts = table.to_numpy(dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return psi_from_shares(shares[0], shares[1], epsilon)


def chi_square_test(reference: pd.Series, current: pd.Series) -> tuple[float, float, float]:
    """Pearson chi-square on the 2 x k counts: statistic, p-value, Cramér's V."""
    return _chi_square_of_table(category_counts(pd.Series(reference), pd.Series(current)))


def _chi_square_of_table(counts: pd.DataFrame) -> tuple[float, float, float]:
    from scipy.stats import chi2_contingency

    table = counts.to_numpy(dtype=float)
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0, 0.0  # one category on both sides: nothing can differ
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    return float(statistic), float(p_value), float(np.sqrt(statistic / table.sum()))


def column_drift(
    name: str,
    reference: pd.Series,
    current: pd.Series,
    *,
    kind: Kind,
    source: str = "feature",
    thresholds: Thresholds | None = None,
) -> ColumnDrift:
    """PSI, the two-sample test and the verdict of one column."""
    limits = thresholds or Thresholds()
    if kind == "number":
        summary = NumberReference.of(_floats(reference), limits.bins)
        return number_drift(name, summary, _floats(current), source=source, thresholds=limits)
    counts = category_counts(pd.Series(reference), pd.Series(current))
    return category_drift(name, counts, source=source, thresholds=limits)


def number_drift(
    name: str,
    reference: NumberReference,
    current: np.ndarray,
    *,
    source: str,
    thresholds: Thresholds,
) -> ColumnDrift:
    """The drift of a number column from its reference summary (current values as floats)."""
    ordered = Ordered.of(current)
    psi = psi_from_shares(
        reference.shares,
        ordered.binned_shares(reference.edges, reference.points),
        thresholds.epsilon,
    )
    statistic, p_value = ks_of_ordered(reference.ordered, ordered)
    return _drift(
        name,
        source,
        "number",
        psi,
        "ks",
        (statistic, p_value, statistic),
        thresholds,
        (len(reference.ordered), len(current)),
    )


def category_drift(
    name: str, counts: pd.DataFrame, *, source: str, thresholds: Thresholds
) -> ColumnDrift:
    """The drift of a category column from its :func:`category_counts` table."""
    psi = _psi_of_table(counts, thresholds.epsilon)
    statistic, p_value, effect = _chi_square_of_table(counts)
    rows = counts.sum(axis=1).astype(int)
    return _drift(
        name,
        source,
        "category",
        psi,
        "chi2",
        (statistic, p_value, effect),
        thresholds,
        (int(rows["reference"]), int(rows["current"])),
    )


def _drift(
    name: str,
    source: str,
    kind: Kind,
    psi: float,
    test: str,
    result: tuple[float, float, float],
    limits: Thresholds,
    rows: tuple[int, int],
) -> ColumnDrift:
    statistic, p_value, effect = result
    return ColumnDrift(
        name=name,
        source=source,
        kind=kind,
        psi=psi,
        test=test,
        statistic=statistic,
        effect=effect,
        p_value=p_value,
        verdict=verdict(psi, p_value, effect, limits),
        reference_rows=rows[0],
        current_rows=rows[1],
    )


def verdict(psi: float, p_value: float, effect: float, limits: Thresholds) -> Verdict:
    """drift: PSI past ``psi_alert``, or a significant test with a large enough effect;
    watch: PSI past ``psi_warn``, or a significant test with a small effect; else stable."""
    significant = not np.isnan(p_value) and p_value < limits.p_value
    if psi >= limits.psi_alert or (significant and effect >= limits.min_effect):
        return "drift"
    if psi >= limits.psi_warn or significant:
        return "watch"
    return "stable"


def beyond_usual(now: ColumnDrift, before: ColumnDrift, limits: Thresholds) -> ColumnDrift:
    """``now`` judged by how much more it moved than ``before``, the same comparison made one
    gap earlier in the training history (what customers ageing and lapsed users accumulating
    move as usual). The excess of PSI and of the effect over ``before``'s is judged as
    :func:`verdict` judges a column: drift past the drift thresholds (with ``now``'s test
    significant for the effect); watch past the watch PSI, or with ``now`` significant and
    an excess effect at least the smallest one its samples could find significant
    (:func:`smallest_significant_effect`). A column ``now`` puts on watch or drift whose
    excess is below those is ``usual``; a stable one stays stable. Never more severe than
    ``now``'s own verdict: the excess is at most ``now``'s numbers."""
    psi = max(now.psi - before.psi, 0.0)
    effect = max(now.effect - before.effect, 0.0)
    judged = now.verdict
    if now.verdict != "stable":
        significant = not np.isnan(now.p_value) and now.p_value < limits.p_value
        smallest = smallest_significant_effect(now, limits.p_value)
        if psi >= limits.psi_alert or (significant and effect >= limits.min_effect):
            judged = "drift"
        elif psi >= limits.psi_warn or (significant and effect >= smallest):
            judged = "watch"
        else:
            judged = "usual"
    return replace(now, verdict=judged, usual_psi=before.psi, usual_effect=before.effect)


def smallest_significant_effect(col: ColumnDrift, p_value: float) -> float:
    """The smallest effect the column's two samples find significant at ``p_value``: KS D
    ``c * sqrt(1/n + 1/m)`` with ``c = sqrt(-ln(p/2) / 2)``; Cramér's V ``sqrt(x / N)``, ``x``
    chi-square's critical value with one degree of freedom (two categories, the fewest)."""
    n, m = col.reference_rows, col.current_rows
    if not n or not m:
        return float("inf")
    if col.test == "ks":
        return float(np.sqrt(-np.log(p_value / 2) / 2) * np.sqrt(1 / n + 1 / m))
    from scipy.stats import chi2

    return float(np.sqrt(chi2.isf(p_value, 1) / (n + m)))


def column_kind(values: pd.Series) -> Kind:
    """Numbers are compared as numbers; text, categories and flags as categories."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "category"
    return "number"


def _floats(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
