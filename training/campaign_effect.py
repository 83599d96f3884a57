"""A randomized campaign's effect on every row: for each treated arm (and all of them
together) and each outcome, the difference of its mean from the control group's, with a 95%
interval (:mod:`lifecycle.differences`, as the campaign report's): Newcombe's hybrid score
interval for a 0/1 outcome (visit, conversion), which has a width even where a group is all 1
or all 0 (a test split of every treated row visiting and no control row printed
``+1.00000 [+1.00000, +1.00000]``, known exactly); for spend the wider of Welch's and
Student's t intervals, and none where spend is one value in every row of each group: its zero
spread would print a width of 0 where nothing was measured.

The uplift learners' test ATE is of the test split only (a fifth of the rows); this is the
campaign's own readout, what an analyst reports before asking whom to target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.differences import difference_interval

EVERY_ARM = "every treated arm"
# each outcome of a campaign table: a 0/1 outcome is a probability
OUTCOME_KINDS = {c.VISIT: "probability", c.CONVERSION: "probability", c.SPEND: "value"}


@dataclass(frozen=True)
class ArmEffect:
    arm: str
    outcome: str
    treated_rows: int
    control_rows: int
    treated_mean: float
    control_mean: float
    difference: float
    low: float | None  # None: spend is one value in every row of each group
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def method(self) -> str:
        """How the interval is computed, in a line's words."""
        if OUTCOME_KINDS.get(self.outcome) == "probability":
            return "Newcombe"
        return "the wider of Welch's and Student's t"

    def interval_text(self) -> str:
        """``+d [+low, +high]``, or why there is no interval."""
        if self.low is None or self.high is None:
            alike = self.treated_mean == self.control_mean
            where = (
                f"{self.control_mean:g} in every row"
                if alike
                else f"{self.treated_mean:g} in every sent row and {self.control_mean:g} in "
                "every control row"
            )
            return f"{self.difference:+.5f} (no interval: {self.outcome} is {where})"
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
    """The sent rows' mean minus the control rows', with its 95% interval (none for a spend
    of one value in every row of each group)."""
    binary = OUTCOME_KINDS.get(outcome) == "probability"
    interval = difference_interval(sent, control, binary=binary)
    low, high = interval or (None, None)
    return ArmEffect(
        arm, outcome, int(sent.size), int(control.size), float(sent.mean()),
        float(control.mean()), float(sent.mean() - control.mean()), low, high,
    )  # fmt: skip


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
