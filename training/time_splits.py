"""The train, validation and test cutoffs of a task: test the cutoffs of the last
``POOL_DAYS``, validation those of the last ``POOL_DAYS`` whose labels matured by the first
test cutoff, train the matured ones before; too few is refused with the setting to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.asof import AS_OF
from lifecycle.words import CUTOFFS, counted
from training.errors import TooFewOutcomes

POOL_DAYS = 28  # test and validation pool the cutoffs of this many days (a month of weekly ones)

SHORTER = "use a shorter horizon (labels.{task}_horizon_days) or a longer history"


@dataclass(frozen=True)
class TimeSplit:
    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]
    test: list[pd.Timestamp]

    @property
    def test_cutoff(self) -> pd.Timestamp:
        return self.test[-1]

    def parts(self, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {
            name: frame[frame[AS_OF].isin(cutoffs)]
            for name, cutoffs in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_cutoffs": [f"{t:%Y-%m-%d}" for t in self.train],
            "valid_cutoffs": [f"{t:%Y-%m-%d}" for t in self.valid],
            "test_cutoffs": [f"{t:%Y-%m-%d}" for t in self.test],
            "test_cutoff": f"{self.test_cutoff:%Y-%m-%d}",
        }


def _latest_period(cutoffs: list[pd.Timestamp]) -> list[pd.Timestamp]:
    return [t for t in cutoffs if t > cutoffs[-1] - pd.Timedelta(days=POOL_DAYS)]


def time_split(cutoffs: list[pd.Timestamp], horizon_days: int, task: str = "<task>") -> TimeSplit:
    """Test = the cutoffs of the last POOL_DAYS; valid = those of the last POOL_DAYS matured by
    the first test cutoff; train = the matured ones before valid. ``task`` names the setting
    a refusal suggests."""
    shorter = SHORTER.format(task=task)
    ordered = sorted(cutoffs)
    if len(ordered) < 3:
        raise TooFewOutcomes(
            f"with a {horizon_days}-day horizon only {counted(len(ordered), CUTOFFS)} had "
            "matured labels; "
            f"need at least 3 matured cutoffs for train/valid/test: {shorter}"
        )
    test = _latest_period(ordered)
    matured_by_test = [t for t in ordered if t + pd.Timedelta(days=horizon_days) <= test[0]]
    valid = _latest_period(matured_by_test) if matured_by_test else []
    train = [t for t in matured_by_test if t < valid[0]] if valid else []
    if not train:
        # a train cutoff, then a validation pool a horizon before the test pool (on the grid)
        needed = horizon_days + 2 * POOL_DAYS - (ordered[1] - ordered[0]).days
        matured = (
            f"{counted(len(matured_by_test), CUTOFFS)} had matured labels by the first test cutoff "
            f"{test[0]:%Y-%m-%d}, all in the validation pool (their last {POOL_DAYS} days), and "
            "no train cutoff is left before it"
            if valid
            else f"no cutoff had matured labels by the first test cutoff {test[0]:%Y-%m-%d}"
        )
        raise TooFewOutcomes(
            f"with a {horizon_days}-day horizon {matured} (cutoffs {ordered[0]:%Y-%m-%d}.."
            f"{ordered[-1]:%Y-%m-%d}, {(ordered[-1] - ordered[0]).days} days); a train cutoff "
            f"before a validation pool needs cutoffs spanning at least {needed} days (the "
            f"horizon and two {POOL_DAYS}-day pools, less one cutoff step): {shorter}"
        )
    return TimeSplit(train=train, valid=valid, test=test)
