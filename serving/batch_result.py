"""What one `score-all` run did, as the command's lines and JSON say it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lifecycle.words import counted
from lifecycle.workspace import LATEST_SCORES
from serving.ledger import LedgerAppend


@dataclass
class BatchResult:
    path: Path | None
    as_of: pd.Timestamp
    users: int
    versions: dict[str, str]
    unavailable: dict[str, str]
    seconds: dict[str, float]
    scores: pd.DataFrame
    kinds: dict[str, str] = field(default_factory=dict)  # task -> lightgbm or a baseline rule
    ledger: LedgerAppend | None = None
    strays: list[str] = field(default_factory=list)  # scores-*.parquet files no run wrote
    outlook_days: float | None = None  # expected_purchases' horizon; None: no process served
    # task -> up to when its model learned (serving.learned); None: not known
    learned_until: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "users": self.users,
            "model_versions": self.versions,
            "model_kinds": self.kinds,
            "unavailable": self.unavailable,
            "seconds": self.seconds,
            "ledger": self.ledger.to_dict() if self.ledger else None,
            "strays": self.strays,
            "learned_after_as_of": self.learned_after(),
        }

    def learned_after(self) -> dict[str, str]:
        """Task -> its model's words where it learned from events after the as-of."""
        from serving.learned import learned_after

        return learned_after(self._made_with())

    def _made_with(self) -> dict[str, Any]:
        return {
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "model_versions": self.versions,
            "model_kinds": self.kinds,
            "learned_until": self.learned_until,
        }

    def lines(self) -> list[str]:
        from serving.learned import learned_after_words
        from serving.scoring import versions_text

        versions = versions_text(self.versions, self.kinds)
        lines = [
            f"scored {counted(self.users)} as of {self.as_of:%Y-%m-%d} with {versions} "
            f"in {sum(self.seconds.values()):.1f} s"
        ]
        if learned := learned_after_words(self._made_with()):
            lines.append(f"  note: {learned}")
        if self.path:
            lines.append(f"scores table {self.path} (latest: {self.path.parent / LATEST_SCORES})")
        if self.ledger:
            lines += self.ledger.lines()
        lines += [f"  not scored: {task}: {why}" for task, why in self.unavailable.items()]
        return lines + [f"  warning: {stray}" for stray in self.strays]
