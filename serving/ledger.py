"""The prediction ledger: what every ``score-all`` predicted, kept until it can be checked.

One Parquet file per dataset and as-of date (``Workspace.ledger_partition``):
``ledger/dataset=<name>/as_of=YYYY-MM-DD/part-0.parquet``. A row is a user's scores and
intervals (the declared task outputs, nothing else: no personal column, no reasons); the
file's key-value metadata holds what the scores were made with (as-of date, model
versions and kinds, each task's label definition with its horizon). ``lifecycle
outcomes`` labels the entries whose horizon has passed and grades them.

A re-run at the same as-of by the same models replaces its file in one rename; one by other
models of a past date (``score-all --as-of`` an earlier date after a retrain) keeps the entry,
the record of what was scored then, and says so, unless asked to replace it
(``--replace-ledger``; scoring at the latest cutoff asks it: today's lists send those scores). Partitions more than
``ledger.retention_days`` older than the newest as-of are dropped on every append (each
renamed away first, so a reader sees a whole partition or none).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features import contract as c
from lifecycle import tasks
from lifecycle.errors import UserError
from lifecycle.storage import atomic_file, staging_name, sweep_stale

if TYPE_CHECKING:
    from lifecycle.workspace import Workspace

METADATA_KEY = b"lifecycle_ledger"
PARTITION_PREFIX = "as_of="
# What the metadata of an entry must hold for its outcome to be computed.
REQUIRED_METADATA = ("as_of", "model_versions", "labels")
KEPT_KEYS = ("as_of", "model_versions", "model_kinds", "scored_at")  # said of a kept entry


class LedgerError(UserError):
    """The ledger cannot be read or written as asked; the message names the file."""


@dataclass
class LedgerEntry:
    """One as-of date of the ledger: where it is and what it was made with."""

    path: Path
    metadata: dict[str, Any]

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.metadata["as_of"], tz="UTC")

    @property
    def model_versions(self) -> dict[str, str]:
        return dict(self.metadata["model_versions"])

    @property
    def labels(self) -> dict[str, dict[str, Any]]:
        """Task -> the label definition its champion was trained on (task, horizon_days, ...)."""
        return dict(self.metadata["labels"])

    def matures_on(self, task: str) -> pd.Timestamp:
        """When the task's horizon after this as-of has passed."""
        return self.as_of + pd.Timedelta(days=int(self.labels[task]["horizon_days"]))

    def predictions(self) -> pd.DataFrame:
        return pd.read_parquet(self.path)


@dataclass
class LedgerAppend:
    """What an append did: the partition written and the as-of dates dropped by retention."""

    path: Path
    rows: int
    dropped: list[str] = field(default_factory=list)
    # Tasks whose horizon is longer than the retention: dropped before they can be measured.
    outlived: dict[str, int] = field(default_factory=dict)
    # The entry kept in place of these scores (made by other models): its metadata
    kept: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        kept = self.kept and {k: self.kept.get(k) for k in KEPT_KEYS}
        return {
            "path": str(self.path),
            "rows": self.rows,
            "dropped": self.dropped,
            "horizons_longer_than_retention": self.outlived,
            "kept": kept,
        }

    def lines(self) -> list[str]:
        """score-all's lines of the append."""
        kept = self.kept_line()
        lines = [f"ledger {self.path.parent}", *([f"  {kept}"] if kept else [])]
        lines += [f"  dropped by ledger.retention_days: as of {d}" for d in self.dropped]
        return lines + [
            f"  warning: the {task} horizon ({days} days) is longer than ledger.retention_days: "
            "its entries are dropped before their outcome can be measured"
            for task, days in self.outlived.items()
        ]

    def kept_line(self) -> str | None:
        """What was kept in place of these scores, and how to replace it; None: nothing."""
        if not self.kept:
            return None
        from serving.scoring import versions_text

        kept, as_of = self.kept, self.kept["as_of"]
        made = versions_text(kept["model_versions"], kept.get("model_kinds") or {})
        return (
            f"kept the ledger's entry as of {as_of} made by {made} (scored at "
            f"{kept.get('scored_at', '?')}), the record of what was scored then: these "
            f"scores are not in the ledger; `lifecycle score-all --as-of {as_of} --dataset "
            f"{kept['dataset']} --replace-ledger` replaces it"
        )


def ledger_columns(scores: pd.DataFrame) -> list[str]:
    """The user id and every declared task output the scores have: nothing personal."""
    return [c.USER_ID, *(col for col in tasks.output_columns() if col in scores)]


def append(
    workspace: Workspace,
    dataset: str,
    scores: pd.DataFrame,
    metadata: dict[str, Any],
    *,
    retention_days: int,
    replace: bool = False,
) -> LedgerAppend:
    """Write the as-of's partition (replacing a previous one whole, unless other models made
    it and not ``replace``: then kept, and said), then apply retention."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise LedgerError(f"ledger entry for {dataset}: metadata lacks {', '.join(missing)}")
    as_of = f"{pd.Timestamp(metadata['as_of']):%Y-%m-%d}"
    path = workspace.ledger_partition(dataset, as_of)
    kept = None if replace else _made_by_others(path, metadata)  # then nothing to convert
    if kept is None:
        table = pa.Table.from_pandas(scores[ledger_columns(scores)], preserve_index=False)
        entry = {**metadata, "as_of": as_of, "dataset": dataset, "users": table.num_rows}
        table = table.replace_schema_metadata(
            {METADATA_KEY: json.dumps(entry, default=str).encode()}
        )  # pandas' own metadata goes: the ledger is read as plain columns
        with atomic_file(path) as staging:
            pq.write_table(table, staging, compression="zstd")
            staging.chmod(0o644)  # the HTTP service may run as another user
    dropped = _apply_retention(workspace.ledger(dataset), retention_days)
    outlived = {
        task: int(label["horizon_days"])
        for task, label in metadata["labels"].items()
        if int(label["horizon_days"]) > retention_days
    }
    rows = len(scores) if kept is None else int(kept.get("users") or 0)
    return LedgerAppend(path=path, rows=rows, dropped=dropped, outlived=outlived, kept=kept)


def _made_by_others(path: Path, metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The metadata of the entry at ``path`` if models other than ``metadata``'s made its
    numbers (conversion answered by churn: churn's); None if none or unreadable (its
    remedy is a re-run)."""
    from serving.answers import table_answerers

    if not path.is_file():
        return None
    try:
        there = read_entry(path).metadata
    except LedgerError:
        return None
    return there if table_answerers(there) != table_answerers(metadata) else None


def _partition_dates(root: Path) -> dict[pd.Timestamp, Path]:
    found: dict[pd.Timestamp, Path] = {}
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        if folder.is_dir() and folder.name.startswith(PARTITION_PREFIX):
            try:
                found[pd.Timestamp(folder.name.removeprefix(PARTITION_PREFIX))] = folder
            except ValueError:
                continue  # not ours: leave it alone
    return found


def _apply_retention(root: Path, retention_days: int) -> list[str]:
    """Drop the partitions more than ``retention_days`` older than the newest; their dates."""
    partitions = _partition_dates(root)
    if not partitions:
        return []
    oldest_kept = max(partitions) - pd.Timedelta(days=retention_days)
    sweep_stale(root)
    dropped = []
    for as_of, folder in sorted(partitions.items()):
        if as_of < oldest_kept:
            # Renamed away in one step first: a reader never sees half a partition.
            doomed = folder.with_name(staging_name(folder.name, "dir"))
            os.rename(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            dropped.append(f"{as_of:%Y-%m-%d}")
    return dropped


def read_entry(path: Path) -> LedgerEntry:
    """One ledger file's entry (metadata only; its rows are read on demand)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as error:
        raise LedgerError(f"ledger file {path} cannot be read: {error}") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(raw) if raw else {}
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise LedgerError(
            f"ledger file {path}: its metadata lacks {', '.join(missing)}; "
            "re-run `lifecycle score-all --as-of` for that date"
        )
    return LedgerEntry(path=path, metadata=metadata)


def entries(workspace: Workspace, dataset: str) -> list[LedgerEntry]:
    """The dataset's ledger entries, oldest as-of first."""
    partitions = _partition_dates(workspace.ledger(dataset))
    files = [workspace.ledger_partition(dataset, f"{t:%Y-%m-%d}") for t in sorted(partitions)]
    return [read_entry(path) for path in files if path.is_file()]
