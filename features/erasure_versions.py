"""A dataset's versions after ``lifecycle forget`` (``features.erasure``): the current one
replaced whole, so readers see the old or the new dataset, and each older version kept
beside it rewritten file by file, with their reports (``features.erasure_reports``). An
erasure keeps as many versions as an ingest (``DATASET_VERSIONS_KEPT``): each stays
restorable (`lifecycle datasets restore`), without the users; versions are pruned by the
stamp in their names (``lifecycle.storage.version_order``), which rewriting one leaves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from features.erasure_holders import older_versions
from features.erasure_reports import (
    Counted,
    forget_in_report,
    quarantine_reasons,
    recount_report,
    users_in_notes,
)
from features.id_spellings import record_padded_width
from features.scrub import Scrubbed, recorded_columns, rewrite_file, scrub, table_files
from lifecycle.dataset_kind import REPORT, read_report
from lifecycle.storage import atomic_dir, atomic_file
from lifecycle.workspace import DATASET_VERSIONS_KEPT, EVENTS_FILE

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable

    from features.erasure_record import ErasureRecord
    from lifecycle.settings import Settings


# an older version's note counts of erased users, read before their rows went, until its
# report is lowered (no ids: the keyed hashes of the ids counted)
COUNTED = ".erasure-counted.json"


def _counted_once(old: Path, ids: set[str], hashed: Callable[[str], str]) -> Counted:
    """:func:`users_in_notes` of an older version, kept beside it until its report is
    lowered: a forget killed after its tables lost the rows leaves the counts to the next,
    which counts again only the ids it did not (the rewritten tables no longer hold them)."""
    path = old / COUNTED
    report = _digest(old / REPORT)
    saved = json.loads(path.read_text()) if path.is_file() else {"hashes": [], "counted": {}}
    # a report changed since (lowered by the killed forget itself): its counts are applied
    counted: Counted = saved["counted"] if saved.get("report") == report else {}
    covered = set(saved["hashes"])
    fresh = {u for u in ids if hashed(u) not in covered}
    for table, notes in (users_in_notes(old, fresh) if fresh else {}).items():
        for note, counts in notes.items():
            had = counted.setdefault(table, {}).setdefault(note, {})
            for key, users in counts.items():
                had[key] = had.get(key, 0) + users
    if counted:
        with atomic_file(path) as staged:
            hashes = sorted(covered | {hashed(u) for u in fresh})
            staged.write_text(json.dumps({"hashes": hashes, "counted": counted, "report": report}))
    return counted


def _digest(path: Path) -> str | None:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def forget_dataset(
    settings: Settings,
    name: str,
    ids: set[str],
    record: ErasureRecord,
    hashed: Callable[[str], str],
) -> None:
    """Dataset ``name`` without the rows of ``ids``, in every version, counted in ``record``
    (``hashed``: an id's keyed hash)."""
    path = settings.workspace.dataset_dir(name)
    if not path.exists():
        return
    done, older = Scrubbed(), Scrubbed()
    current = path.resolve()
    # The current version, replaced as a whole: readers see the old or the new dataset.
    columns = recorded_columns(current)
    counts = {file: scrub(file, None, ids, **columns(file)) for file in table_files(current)}
    erased: dict[Path, int] = {}  # dataset-relative file -> rows removed
    reasons: dict[Path, Counter[str]] = {}  # quarantine file -> its rows removed by reason
    if any(counts.values()):
        from lifecycle import lineage

        before = lineage.dataset_version(path)
        read_report(current)  # a damaged report is refused as the dataset's, before any copy
        counted = users_in_notes(current, ids)  # before their rows go
        with atomic_dir(path, keep=DATASET_VERSIONS_KEPT) as staging:
            for item in current.rglob("*"):
                target = staging / item.relative_to(current)
                if item.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if counts.get(item):
                    scrubbed = scrub(item, target, ids, **columns(item)) or Scrubbed()
                    erased[item.relative_to(current)] = scrubbed.removed
                    done += scrubbed
                    if item.parent.name == "quarantine" and item.suffix == ".csv":
                        had, has = quarantine_reasons(item), quarantine_reasons(target)
                        reasons[item.relative_to(current)] = had - has
                else:
                    shutil.copy2(item, target)
            recount_report(staging / REPORT, erased, ids, counted, reasons)
            record_padded_width(staging / EVENTS_FILE)  # of the events without the users
        # The feature table loses the same users: it stays as current as it was.
        lineage.follow_dataset(
            settings.workspace.feature_table(name), before, lineage.dataset_version(path)
        )
    else:  # no row left, but an example of the ids in the report (an earlier erasure's)
        forget_in_report(current, ids)
    # Older versions kept beside it (what a reader still holding one sees): file by file.
    for old in older_versions(path, name):
        of_old = recorded_columns(old)
        counted = _counted_once(old, ids, hashed)  # before their rows go
        lost = set()  # the tables that lost rows: their ids spelt apart are counted again
        for file in table_files(old):
            scrubbed_old = rewrite_file(file, ids, **of_old(file))
            older += scrubbed_old
            if scrubbed_old and file == old / EVENTS_FILE:  # a version restorable as it is
                record_padded_width(file)
            if scrubbed_old and scrubbed_old.removed and file.parent == old:
                lost.add(file.stem)
        forget_in_report(old, ids, lost, counted)
        (old / COUNTED).unlink(missing_ok=True)
    record.count(f"datasets/{name}", done)
    if older:
        record.count(f"datasets/{name} (older versions)", older)
