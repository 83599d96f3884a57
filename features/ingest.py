"""Ingest: validate raw files and store them as one dataset in the workspace.

A dataset folder holds the contract tables as Parquet (``events``, ``users``, or
``snapshot`` / ``campaign``), the quarantined rows as CSV under ``quarantine/`` with a
reason per row, and ``report.json`` with the counts. The folder is replaced atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features import adapters
from features import contract as c
from features.validation import ContractError, Loaded, read_table, validate_events, validate_users
from lifecycle.storage import atomic_dir

SOURCES = ("online-retail", "telco-churn", "hillstrom")
REPORT = "report.json"


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    path: Path
    kind: str  # events | snapshot | campaign
    tables: dict[str, dict[str, Any]]  # table -> its LoadReport as a dict

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "kind": self.kind, "tables": self.tables}

    def lines(self) -> list[str]:
        out = [f"dataset '{self.name}' ({self.kind}) at {self.path}"]
        for table, report in self.tables.items():
            reasons = ", ".join(f"{n:,} {r}" for r, n in report["reasons"].items())
            out.append(
                f"  {table}: {report['rows_loaded']:,} rows loaded of {report['rows_read']:,}, "
                f"{report['rows_quarantined']:,} quarantined" + (f" ({reasons})" if reasons else "")
            )
        return out


def ingest_events(
    events_path: Path,
    dataset_dir: Path,
    *,
    mapping: c.ColumnMapping | None = None,
    users_path: Path | None = None,
    users_mapping: c.ColumnMapping | None = None,
    max_bad_fraction: float = 0.5,
    allow_negative_amounts: bool = False,
) -> DatasetSummary:
    """Validate an events file (and optionally a users file) into a dataset folder."""
    events = validate_events(
        read_table(events_path),
        mapping or c.ColumnMapping(),
        str(events_path),
        max_bad_fraction=max_bad_fraction,
        allow_negative_amounts=allow_negative_amounts,
    )
    tables = {"events": events}
    if users_path is not None:
        users = validate_users(
            read_table(users_path),
            users_mapping or c.ColumnMapping(),
            str(users_path),
            max_bad_fraction=max_bad_fraction,
        )
        known = set(users.frame[c.USER_ID])
        events.report.notes["users_without_profile"] = int(
            events.frame[c.USER_ID].drop_duplicates().map(lambda u: u not in known).sum()
        )
        tables["users"] = users
    return write_dataset(dataset_dir, "events", tables)


def import_source(
    source: str, path: Path, dataset_dir: Path, *, max_bad_fraction: float = 0.5
) -> DatasetSummary:
    """Load one of the known public data sets through its adapter into a dataset folder."""
    if source == "online-retail":
        events, users = adapters.online_retail(path, max_bad_fraction=max_bad_fraction)
        return write_dataset(dataset_dir, "events", {"events": events, "users": users})
    if source == "telco-churn":
        return write_dataset(dataset_dir, "snapshot", {"snapshot": adapters.telco_churn(path)})
    if source == "hillstrom":
        return write_dataset(dataset_dir, "campaign", {"campaign": adapters.hillstrom(path)})
    raise ContractError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")


def default_source_path(source: str, data_root: Path) -> Path:
    files = {
        "online-retail": adapters.ONLINE_RETAIL_FILE,
        "telco-churn": adapters.TELCO_CHURN_FILE,
        "hillstrom": adapters.HILLSTROM_FILE,
    }
    if source not in files:
        raise ContractError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return data_root / files[source]


def write_dataset(dataset_dir: Path, kind: str, tables: dict[str, Loaded]) -> DatasetSummary:
    """Write tables, quarantines and the report; the old dataset stays until all is written."""
    with atomic_dir(dataset_dir) as staging:
        (staging / "quarantine").mkdir()
        for table, loaded in tables.items():
            loaded.frame.to_parquet(staging / f"{table}.parquet", index=False)
            if not loaded.quarantine.empty:
                loaded.quarantine.to_csv(staging / "quarantine" / f"{table}.csv", index=False)
        report = {
            "kind": kind,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tables": {table: loaded.report.to_dict() for table, loaded in tables.items()},
        }
        (staging / REPORT).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return DatasetSummary(dataset_dir.name, dataset_dir, kind, report["tables"])


def read_dataset_summary(dataset_dir: Path) -> DatasetSummary:
    report_path = dataset_dir / REPORT
    if not report_path.is_file():
        raise ContractError(
            f"no dataset at {dataset_dir}: run `lifecycle ingest` or `lifecycle import` first"
        )
    report = json.loads(report_path.read_text())
    return DatasetSummary(dataset_dir.name, dataset_dir, report["kind"], report["tables"])


def read_events(dataset_dir: Path) -> pd.DataFrame:
    """The validated events of a dataset."""
    path = dataset_dir / "events.parquet"
    if not path.is_file():
        raise ContractError(f"{dataset_dir}: no events table; ingest an events file first")
    return pd.read_parquet(path)


def read_users(dataset_dir: Path) -> pd.DataFrame | None:
    path = dataset_dir / "users.parquet"
    return pd.read_parquet(path) if path.is_file() else None
