"""A dataset's ``report.json`` after ``lifecycle forget``: its counts less the erased rows,
and none of the erased ids among the ids its notes give as examples (the users with no row
loaded, the ids spelt apart, the users file's users without events), read as ingest reads a
raw id (`` 13047`` is online retail's ``13047``). The ids spelt apart are counted again over
the table without the erased users; the users with no row loaded and the users without
events are counted less the erased ones, read before their rows go. Every version's report,
the current one and those kept beside it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from features.scrub import REDACTED
from lifecycle.dataset_kind import REPORT, read_report
from lifecycle.errors import UserError
from lifecycle.storage import atomic_file


def _without(value: Any, erased: Callable[[str], bool]) -> tuple[Any, int]:
    """An example (an id, a group of spellings of one id, or a list of either) with each
    ``erased`` id replaced by the marker, and each group holding one (``" 17850"``,
    ``"017850"``, ``"17850"``) replaced whole; and how many were."""
    if isinstance(value, str):
        return (REDACTED, 1) if erased(value) else (value, 0)
    if isinstance(value, list):
        if any(isinstance(item, str) and erased(item) for item in value):
            return [REDACTED], 1
        items = [_without(item, erased) for item in value]
        return [item for item, _ in items], sum(n for _, n in items)
    return value, 0


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def forget_examples(report: dict[str, Any], ids: set[str]) -> tuple[dict[str, Any], int]:
    """``report`` without ``ids`` among the user ids its notes give as examples
    (``features.user_notes.ID_EXAMPLE_NOTES``), and how many it gave; nothing else is
    touched (an id ``events`` or ``UTC`` is no batch's mode or time zone)."""
    from features.raw_ids import raw_id_readings
    from features.user_notes import ID_EXAMPLE_NOTES

    examples = [
        (note, key)
        for table in report.get("tables", {}).values()
        if isinstance(table, dict)
        for note in (table.get("notes", {}).get(name) for name in ID_EXAMPLE_NOTES)
        if isinstance(note, dict)
        for key in ("example", "more_examples", "example_not_later")
        if key in note
    ]
    read_as = raw_id_readings(s for note, key in examples for s in _strings(note[key]))
    found = 0
    for note, key in examples:
        note[key], n = _without(note[key], lambda example: bool(read_as[example] & ids))
        found += n
    return report, found


def recount_spelt_apart(report: dict[str, Any], version: Path, tables: Collection[str]) -> None:
    """The ids spelt apart of each table in ``tables`` (those that lost rows), or whose
    examples an erasure forgot, counted again over the version's table, without the erased
    users (the note goes when none are left). Its examples are kept, less the erased ones,
    never drawn again: a group an earlier erasure forgot would come back."""
    from features.id_spellings import SPELT_APART, ids_spelt_apart

    for table, entry in report.get("tables", {}).items():
        notes = entry.get("notes", {}) if isinstance(entry, dict) else {}
        note, path = notes.get(SPELT_APART), version / f"{table}.parquet"
        if not isinstance(note, dict) or not path.is_file():
            continue
        shown = [note.get("example"), *note.get("more_examples", [])]
        if table not in tables and REDACTED not in _strings(shown):
            continue
        now = ids_spelt_apart(path).get(SPELT_APART)
        if now is None:
            del notes[SPELT_APART]
        else:
            note["ids"], note["groups"] = now["ids"], now["groups"]


Counted = dict[str, dict[str, dict[str, int]]]  # table -> note -> its counts of the users


def users_in_notes(version: Path, ids: set[str]) -> Counted:
    """Read before the users ``ids`` (every spelling) lose their rows in ``version``: how
    many of them each report note counting users counts: a table's users with no row loaded
    (rows in the quarantine file of the note's batch, none in the table), and the users
    file's users without events (and of those, signed up after the last event). A version
    whose note's table holds none of them has its other tables left unread."""
    from features import contract as c
    from features.erasure_holders import ids_in
    from features.quarantine import batch_quarantine
    from features.user_notes import ID_REASONS, ONLY_QUARANTINED, WITHOUT_EVENTS
    from features.user_overlap import ids_apart
    from lifecycle.workspace import EVENTS_FILE

    try:
        report = read_report(version) or {}
    except UserError:  # a damaged report: refused where the dataset itself is rewritten
        return {}
    appends = sum(1 for b in report.get("batches", []) if b.get("mode") == "append")

    def users(table: Path, skip_reasons: Collection[str] = ()) -> set[str]:
        return {c.user_id_spellings(u)[0] for u in ids_in([table], ids, skip_reasons)}

    counted: Counted = {}
    events = version / EVENTS_FILE
    for table, entry in report.get("tables", {}).items():
        notes = entry.get("notes", {}) if isinstance(entry, dict) else {}
        loaded = version / f"{table}.parquet"
        if ONLY_QUARANTINED in notes:
            # as ingest counted them: no user of a row with an id not to trust
            quarantine = batch_quarantine(version, table, appends)  # the last batch's note
            # none quarantined: the loaded table is not read
            if (held := users(quarantine, ID_REASONS)) and (gone := held - users(loaded)):
                counted.setdefault(table, {})[ONLY_QUARANTINED] = {"users": len(gone)}
        if WITHOUT_EVENTS in notes and loaded.is_file() and events.is_file() and users(loaded):
            apart = ids_apart(events, loaded, among=ids)
            if apart["without_events"]:
                counts = {"users": apart["without_events"]}
                counts |= {"signed_up_later": apart.get("signed_up_later", 0)}
                counted.setdefault(table, {})[WITHOUT_EVENTS] = counts
    return counted


def lower_notes(report: dict[str, Any], counted: Counted) -> None:
    """The report's notes counting users, less the erased ones (:func:`users_in_notes`); a
    note none are left of goes."""
    for table, erased in counted.items():
        entry = report.get("tables", {}).get(table)
        notes = entry.get("notes", {}) if isinstance(entry, dict) else {}
        for name, counts in erased.items():
            note = notes.get(name)
            if not isinstance(note, dict):
                continue
            for key, users in counts.items():
                if isinstance(note.get(key), int):
                    note[key] = max(0, note[key] - users)
            if not note.get("users"):
                del notes[name]


def quarantine_reasons(path: Path) -> Counter[str]:
    """How many rows of a quarantine file each reason has (row by row: a row out of line
    with the header has its reason where the others do)."""
    import csv

    from features import contract as c

    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as src:
        rows = csv.reader(src)
        header = next(rows, [])
        if c.REASON not in header:
            return Counter()
        at = header.index(c.REASON)
        return Counter(row[at] for row in rows if at < len(row))


def recount_report(
    report_path: Path,
    erased: dict[Path, int],
    ids: set[str],
    counted: Counted,
    reasons: dict[Path, Counter[str]] | None = None,
) -> None:
    """The dataset's report.json after an erasure: each table's loaded and quarantined rows
    less the erased ones, which are counted (read = loaded + quarantined + erased), and its
    reasons less those of the erased quarantined rows (``reasons``: quarantine file -> its
    rows erased by reason), the notes' users less the erased ones (``counted``,
    :func:`users_in_notes`), and no example of an erased id."""
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
        by_reason = counts.get("reasons")
        for reason, gone in (reasons or {}).get(file, Counter()).items():
            if isinstance(by_reason, dict) and isinstance(by_reason.get(reason), int):
                by_reason[reason] -= gone
                if by_reason[reason] <= 0:
                    del by_reason[reason]
    lower_notes(report, counted)
    report, _ = forget_examples(report, ids)
    lost = {file.stem for file, rows in erased.items() if rows and file.parts[0] != "quarantine"}
    recount_spelt_apart(report, report_path.parent, lost)
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def forget_in_report(
    version: Path, ids: set[str], tables: Collection[str] = (), counted: Counted | None = None
) -> int:
    """A dataset version's report.json rewritten (atomically) without the examples of
    ``ids``, with the ids spelt apart counted again (``tables``: those that lost rows) and
    the notes' users less the erased ones (``counted``), when any changes it; how many
    examples it gave."""
    try:
        report = read_report(version)
    except UserError:  # a damaged report: refused where the dataset itself is rewritten
        return 0
    if report is None:
        return 0
    before = json.dumps(report, sort_keys=True, default=str)
    lower_notes(report, counted or {})
    report, examples = forget_examples(report, ids)
    recount_spelt_apart(report, version, tables)
    if json.dumps(report, sort_keys=True, default=str) != before:
        path = version / REPORT
        mode = path.stat().st_mode & 0o777
        with atomic_file(path) as staged:
            staged.write_text(json.dumps(report, indent=2, default=str) + "\n")
            staged.chmod(mode)
    return examples
