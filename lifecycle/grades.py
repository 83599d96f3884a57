"""Grades of realized quality a person reads at a glance (``lifecycle outcomes``).

The grade is the top decile's lift above a random ranking's (1) as a share of what a
perfect ranking reaches above it on the same outcomes, (lift - 1) / (perfect lift - 1) (a
60% churn rate caps lift at 1.67, a 5% rate allows 10): comparable across tasks and base
rates, and 0 for a ranking no better than chance. A light module: the CLI's help reads it without pandas.
"""

from __future__ import annotations

import math

GRADES: tuple[tuple[str, float], ...] = (("excellent", 0.6), ("good", 0.4), ("fair", 0.2))
POOR = "poor"
GRADE_HELP = (
    "Grade: the top decile's lift above 1 (a random ranking) as a share of a perfect "
    "ranking's on the same outcomes, (lift - 1) / (perfect lift - 1): "
    + ", ".join(f"{name} >= {low:.0%}" for name, low in GRADES)
    + f", {POOR} below."
)


def grade(lift: float, perfect_lift: float) -> str:
    """The grade of a top-decile lift against a perfect ranking's (see GRADES)."""
    if not (math.isfinite(lift) and math.isfinite(perfect_lift)) or perfect_lift <= 1:
        return "n/a"  # every outcome equal: nothing to rank
    attainment = (lift - 1) / (perfect_lift - 1)
    return next((name for name, low in GRADES if attainment >= low), POOR)
