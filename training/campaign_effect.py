"""A randomized campaign's effect on every row: for each treated arm (and all of them
together) and each outcome, the difference of its mean from the control group's, with a 95%
interval (normal, unequal variances: ``d +- 1.96 sqrt(s_t^2 / n_t + s_c^2 / n_c)``). An
outcome with one value in every row of both groups (a ``spend`` column all 0) has no interval:
its zero spread would print ``+0.00000 [+0.00000, +0.00000]``, an effect known to be exactly
none, where nothing was measured.

The uplift learners' test ATE is of the test split only (a fifth of the rows); this is the
campaign's own readout, what an analyst reports before asking whom to target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c

Z95 = 1.959964
EVERY_ARM = "every treated arm"


@dataclass(frozen=True)
class ArmEffect:
    arm: str
    outcome: str
    treated_rows: int
    control_rows: int
    treated_mean: float
    control_mean: float
    difference: float
    low: float | None  # None: the outcome is one value in every row of both groups
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def interval_text(self) -> str:
        """``+d [+low, +high]``, or why there is no interval."""
        if self.low is None or self.high is None:
            return (
                f"{self.difference:+.5f} (no interval: {self.outcome} is {self.control_mean:g} "
                "in every row)"
            )
        return f"{self.difference:+.5f} [{self.low:+.5f}, {self.high:+.5f}]"


def arm_effects(frame: pd.DataFrame, outcomes: list[str]) -> list[ArmEffect]:
    """Each treated arm's (and every treated arm's) effect on each outcome over all rows.
    An arm with control rows of its own (each recorded campaign holds out its own group, on
    its own date) is compared with them; arms of one experiment (hillstrom's e-mails) share
    its control group."""
    treated = frame[c.TREATMENT].astype(bool).to_numpy()
    arms = frame[c.ARM].astype("string") if c.ARM in frame else pd.Series(pd.NA, index=frame.index)
    named = sorted(arms[treated].dropna().unique())
    groups = [(EVERY_ARM, treated, ~treated)]
    for arm in named:
        rows = (arms == arm).fillna(False).to_numpy()
        own = rows & ~treated
        groups.append((str(arm), rows & treated, own if own.any() else ~treated))
    if len(named) < 2:
        groups = groups[:1]  # one arm: it is every treated arm
    found = []
    for outcome in outcomes:
        values = pd.to_numeric(frame[outcome], errors="coerce").to_numpy(dtype=float)
        for arm, rows, held_out in groups:
            found.append(effect_of(arm, outcome, values[rows], values[held_out]))
    return found


def effect_of(arm: str, outcome: str, sent: np.ndarray, control: np.ndarray) -> ArmEffect:
    """The sent rows' mean minus the control rows', with its normal 95% interval (none when
    both groups hold one value in every row)."""
    difference = float(sent.mean() - control.mean())
    spread = float(np.sqrt(sent.var(ddof=1) / sent.size + control.var(ddof=1) / control.size))
    low, high = (None, None) if _constant(sent, control) else (
        difference - Z95 * spread, difference + Z95 * spread
    )  # fmt: skip
    return ArmEffect(
        arm, outcome, int(sent.size), int(control.size), float(sent.mean()),
        float(control.mean()), difference, low, high,
    )  # fmt: skip


def _constant(*groups: np.ndarray) -> bool:
    values = np.concatenate(groups)
    return bool(values.size) and bool((values == values[0]).all())


def effect_lines(effects: list[ArmEffect], source: str) -> list[str]:
    if not effects:
        return []
    rows = effects[0].treated_rows + effects[0].control_rows
    lines = [
        f"campaign effect on all {rows:,} rows of {source} (randomized; treated mean - control "
        "mean, 95% interval):"
    ]
    for e in effects:
        lines.append(
            f"  {e.arm:<20} {e.outcome:<11} {e.treated_mean:.5f} - {e.control_mean:.5f} = "
            f"{e.interval_text()} ({e.treated_rows:,} sent, {e.control_rows:,} control)"
        )
    return lines
