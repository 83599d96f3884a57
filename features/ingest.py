"""Ingest: validate raw files and store them as one dataset in the workspace.

A dataset folder holds the contract tables as Parquet (``events``, ``users``, or
``snapshot`` / ``campaign``), the quarantined rows as CSV under ``quarantine/`` with a
reason per row, and ``report.json`` with the counts. The folder is replaced atomically.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from features import adapters
from features import contract as c
from features.loading import stream_table
from features.reading import CSV_SUFFIXES, DEFAULT_CHUNK_ROWS, PARQUET_SUFFIXES, read_chunks
from features.validation import DEFAULT_MEMORY_LIMIT, ContractError, Loaded, event_rules, user_rules
from lifecycle.errors import UserError
from lifecycle.sql import literal
from lifecycle.storage import atomic_dir
from lifecycle.workspace import EVENTS_FILE, USERS_FILE, check_dataset_name

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
            notes = report.get("notes", {})
            if "amount_default" in notes:
                why = (
                    "their amount was empty"
                    if notes["amount_in_file"]
                    else "no amount column: LTV is in purchases"
                )
                out.append(
                    f"    {notes['amount_defaulted']:,} purchase/refund rows given amount "
                    f"{notes['amount_default']:g} ({why})"
                )
            if "repeats_kept" in notes:
                out.append(f"    exact repeats kept as separate events: {notes['repeats_kept']:,}")
        return out


def dataset_name_from_file(path: Path) -> str:
    """The dataset name a file gives when none is asked for: its name without the file type
    suffix, lowercased, any character but a-z, 0-9, '-' and '_' replaced by '_'
    (``Orders 2024.csv.gz`` -> ``orders_2024``)."""
    name = Path(path).name
    for suffix in sorted(CSV_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    derived = re.sub(r"[^a-z0-9_-]", "_", name.lower()).lstrip("-")[:100]
    if not re.search(r"[a-z0-9]", derived):
        raise UserError(
            f"{path}: no dataset name can be made from this file name (it gives {derived!r}); "
            "name the dataset with --dataset NAME"
        )
    return check_dataset_name(derived)


def ingest_events(
    events_path: Path,
    dataset_dir: Path,
    *,
    mapping: c.ColumnMapping | None = None,
    users_path: Path | None = None,
    users_mapping: c.ColumnMapping | None = None,
    max_bad_fraction: float = 0.5,
    allow_negative_amounts: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    amount_default: float | None = None,
    keep_repeats: bool = False,
) -> DatasetSummary:
    """Validate an events file (and optionally a users file) into a dataset folder.

    Files are read ``chunk_rows`` rows at a time and good rows written as they come, so
    memory follows the chunk size, not the file size. ``amount_default`` and
    ``keep_repeats`` apply to the events (see :func:`features.validation.event_rules`).
    """
    tables = {
        "events": (
            events_path,
            event_rules(
                mapping or c.ColumnMapping(),
                str(events_path),
                allow_negative_amounts=allow_negative_amounts,
                amount_default=amount_default,
                keep_repeats=keep_repeats,
            ),
        )
    }
    if users_path is not None:
        tables["users"] = (
            users_path,
            user_rules(users_mapping or c.ColumnMapping(), str(users_path)),
        )
    with atomic_dir(dataset_dir) as staging:
        (staging / "quarantine").mkdir()
        work = staging / ".work"
        reports = {}
        for table, (path, rules) in tables.items():
            reports[table] = stream_table(
                lambda path=path: read_chunks(path, chunk_rows),
                rules,
                str(path),
                staging / f"{table}.parquet",
                staging / "quarantine" / f"{table}.csv",
                work_dir=work / table,
                max_bad_fraction=max_bad_fraction,
                memory_limit=memory_limit,
            )
            shutil.rmtree(work / table)
        if users_path is not None:
            reports["events"].notes["users_without_profile"] = _users_without_profile(staging)
        work.rmdir()
        report = _write_report(staging, "events", {t: r.to_dict() for t, r in reports.items()})
    return DatasetSummary(dataset_dir.name, dataset_dir, "events", report["tables"])


def _users_without_profile(folder: Path) -> int:
    """Distinct users with events but no row in the users table."""
    import duckdb

    events = literal(folder / EVENTS_FILE)
    users = literal(folder / USERS_FILE)
    with duckdb.connect() as con:
        (count,) = con.execute(
            f"SELECT count(DISTINCT user_id) FROM read_parquet({events}) "
            f"WHERE user_id NOT IN (SELECT user_id FROM read_parquet({users}))"
        ).fetchone()
    return int(count)


def import_source(
    source: str,
    path: Path,
    dataset_dir: Path,
    *,
    max_bad_fraction: float = 0.5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> DatasetSummary:
    """Load one of the known public data sets through its adapter into a dataset folder."""
    options = {"max_bad_fraction": max_bad_fraction, "chunk_rows": chunk_rows}
    if source == "online-retail":
        events, users = adapters.online_retail(path, **options)
        return write_dataset(dataset_dir, "events", {"events": events, "users": users})
    if source == "telco-churn":
        snapshot = adapters.telco_churn(path, **options)
        return write_dataset(dataset_dir, "snapshot", {"snapshot": snapshot})
    if source == "hillstrom":
        return write_dataset(
            dataset_dir, "campaign", {"campaign": adapters.hillstrom(path, **options)}
        )
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
        report = _write_report(
            staging, kind, {table: loaded.report.to_dict() for table, loaded in tables.items()}
        )
    return DatasetSummary(dataset_dir.name, dataset_dir, kind, report["tables"])


def _write_report(folder: Path, kind: str, tables: dict[str, Any]) -> dict[str, Any]:
    report = {
        "kind": kind,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
    }
    (folder / REPORT).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


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
    path = dataset_dir / EVENTS_FILE
    if not path.is_file():
        raise ContractError(f"{dataset_dir}: no events table; ingest an events file first")
    return pd.read_parquet(path)


def read_users(dataset_dir: Path) -> pd.DataFrame | None:
    path = dataset_dir / USERS_FILE
    return pd.read_parquet(path) if path.is_file() else None
