"""What one `score-all` run did, as the command's lines and JSON say it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

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
        }

    def lines(self) -> list[str]:
        from serving.scoring import versions_text

        versions = versions_text(self.versions, self.kinds)
        lines = [
            f"scored {self.users:,} users as of {self.as_of:%Y-%m-%d} with {versions} "
            f"in {sum(self.seconds.values()):.1f} s"
        ]
        if self.path:
            lines.append(f"scores table {self.path} (latest: {self.path.parent / LATEST_SCORES})")
        if self.ledger:
            lines.append(f"ledger {self.ledger.path.parent}")
            lines += [f"  dropped by ledger.retention_days: as of {d}" for d in self.ledger.dropped]
            lines += [
                f"  warning: the {task} horizon ({days} days) is longer than ledger.retention_days: "
                "its entries are dropped before their outcome can be measured"
                for task, days in self.ledger.outlived.items()
            ]
        lines += [f"  not scored: {task}: {why}" for task, why in self.unavailable.items()]
        return lines + [f"  warning: {stray}" for stray in self.strays]
