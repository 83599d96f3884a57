"""A dataset's ``report.json`` after ``lifecycle forget``: its counts less the erased rows,
and none of the erased ids among the ids its notes give as examples (the users with no row
loaded, the ids spelt apart, the users file's users without events). Every version's report,
the current one and those kept beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from features.scrub import REDACTED
from lifecycle.dataset_kind import REPORT, read_report
from lifecycle.errors import UserError
from lifecycle.storage import atomic_file


def _without(value: Any, ids: set[str]) -> tuple[Any, int]:
    """An example (an id, a group of spellings of one id, or a list of either) with each id
    of ``ids`` replaced by the marker, and each group holding one (``" 17850"``,
    ``"017850"``, ``"17850"``) replaced whole; and how many were."""
    if isinstance(value, str):
        return (REDACTED, 1) if value in ids else (value, 0)
    if isinstance(value, list):
        if any(isinstance(item, str) and item in ids for item in value):
            return [REDACTED], 1
        items = [_without(item, ids) for item in value]
        return [item for item, _ in items], sum(n for _, n in items)
    return value, 0


def forget_examples(report: dict[str, Any], ids: set[str]) -> tuple[dict[str, Any], int]:
    """``report`` without ``ids`` among the user ids its notes give as examples
    (``features.loading.ID_EXAMPLE_NOTES``), and how many it gave; nothing else is
    touched (an id ``events`` or ``UTC`` is no batch's mode or time zone)."""
    from features.loading import ID_EXAMPLE_NOTES

    found = 0
    for table in report.get("tables", {}).values():
        notes = table.get("notes", {}) if isinstance(table, dict) else {}
        for note in (notes.get(name) for name in ID_EXAMPLE_NOTES):
            for key in ("example", "more_examples"):
                if isinstance(note, dict) and key in note:
                    note[key], n = _without(note[key], ids)
                    found += n
    return report, found


def recount_report(report_path: Path, erased: dict[Path, int], ids: set[str]) -> None:
    """The dataset's report.json after an erasure: each table's loaded and quarantined rows
    less the erased ones, which are counted (read = loaded + quarantined + erased), and no
    example of an erased id."""
    report = read_report(report_path.parent)
    if report is None:
        return
    appended = any(b.get("mode") == "append" for b in report.get("batches", []))
    for file, rows in erased.items():
        table, quarantined = file.stem, file.parts[0] == "quarantine"
        if appended:  # the tables' counts are the last append's: the dataset's erased rows
            if not quarantined and rows:  # apart (they went negative), until the next one
                erased_rows = report.setdefault("rows_erased", {})
                erased_rows[table] = erased_rows.get(table, 0) + rows
            continue
        counts = report.get("tables", {}).get(table)
        if counts is None or not rows:
            continue
        key = "rows_quarantined" if quarantined else "rows_loaded"
        counts[key] = counts.get(key, 0) - rows
        counts["rows_erased"] = counts.get("rows_erased", 0) + rows
    report, _ = forget_examples(report, ids)
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def forget_in_report(version: Path, ids: set[str]) -> int:
    """A dataset version's report.json rewritten (atomically) without the examples of
    ``ids``, when it gives one; how many it gave."""
    try:
        report = read_report(version)
    except UserError:  # a damaged report: refused where the dataset itself is rewritten
        return 0
    if report is None:
        return 0
    report, examples = forget_examples(report, ids)
    if examples:
        path = version / REPORT
        mode = path.stat().st_mode & 0o777
        with atomic_file(path) as staged:
            staged.write_text(json.dumps(report, indent=2, default=str) + "\n")
            staged.chmod(mode)
    return examples
