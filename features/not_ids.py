"""Columns an operator declares never hold a user's id (``lifecycle datasets not-ids``).

``forget`` redacts an erased id as a whole token in every text column but the codes a
dataset's report names (``features.scrub``), since a column outside the data contract has
no role and its values cannot tell counts from ids: a generic ingest of online_retail keeps
``StockCode`` and ``Quantity`` as text, and ``forget 15036`` turned 325 product codes
``15036`` of other customers' lines into ``[forgotten]`` (329 with the quarantine's) and
``forget 12540`` a quantity of 12540. Only the operator knows a column never names a user,
so the declaration is theirs: recorded in the report of every kept version of the dataset
(``not_id_columns``, read with the codes by :func:`features.scrub.recorded_columns`, so
``forget``, ``datasets check`` and older versions honour it alike; an append keeps it),
logged in the erasure log (when, which columns, no ids) and said by ``datasets check``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from lifecycle.dataset_kind import NOT_ID_COLUMNS, REPORT

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def declared(report: dict[str, Any] | None) -> list[str]:
    """The columns a dataset version's report declares never ids."""
    return list((report or {}).get(NOT_ID_COLUMNS) or ())


def _columns(folder: Path) -> set[str]:
    """The columns of a version's tables (Parquet and CSV, quarantine files too)."""
    import csv

    import pyarrow.parquet as pq

    from features.scrub import table_files

    found: set[str] = set()
    for file in table_files(folder):
        if file.suffix.lower() == ".parquet":
            found |= set(pq.read_schema(file).names)
        else:
            with file.open(newline="", encoding="utf-8", errors="replace") as rows:
                found |= set(next(csv.reader(rows), []))
    return found


def declare(
    settings: Settings, dataset: str, columns: list[str], clear: bool = False
) -> dict[str, Any]:
    """Record ``columns`` as never ids (``clear``: no longer) in the report of every kept
    version of ``dataset``, and log it. Refused, changing nothing, for a column none of the
    current version's tables has, or the user id's. The log entry, with the declaration now."""
    from features.erasure_holders import older_versions
    from features.erasure_log import append_entry
    from lifecycle.dataset_kind import read_report
    from lifecycle.errors import UserError
    from lifecycle.storage import atomic_file

    path = settings.workspace.dataset_dir(dataset)
    current = path.resolve()
    held = _columns(current)
    report = read_report(current) or {}
    ids = {c.USER_ID, *(report.get("quarantine_user_columns") or {}).values()}
    if named_ids := sorted(set(columns) & ids):
        raise UserError(
            f"{', '.join(named_ids)}: the user id column of dataset '{dataset}' (forget removes "
            "its rows, it redacts nothing there); nothing declared"
        )
    if missing := [col for col in columns if col not in held and not clear]:
        raise UserError(
            f"dataset '{dataset}' has no column {', '.join(map(repr, missing))} (its columns: "
            f"{', '.join(sorted(held - ids))}; names are matched exactly); nothing declared"
        )
    now = sorted(set(declared(report)) - set(columns) if clear else {*declared(report), *columns})
    for version in [current, *older_versions(path, dataset)]:
        kept = read_report(version)
        if kept is None:
            continue
        kept = {k: v for k, v in kept.items() if k != NOT_ID_COLUMNS}
        kept |= {NOT_ID_COLUMNS: now} if now else {}
        with atomic_file(version / REPORT) as staging:
            staging.write_text(json.dumps(kept, indent=2, default=str) + "\n")
    entry = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "users": 0,
        "user_hashes": [],
        "not_id_columns": {"cleared" if clear else "declared": sorted(columns), "now": now},
    }
    entry["log"] = str(append_entry(settings.workspace.home, entry))
    return entry
