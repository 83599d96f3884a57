"""A dataset's versions after ``lifecycle forget`` (``features.erasure``): the current one
replaced whole, so readers see the old or the new dataset, and each older version kept
beside it rewritten file by file, with their reports (``features.erasure_reports``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from features.erasure_holders import older_versions
from features.erasure_reports import forget_in_report, recount_report, users_in_notes
from features.scrub import Scrubbed, recorded_columns, rewrite_file, scrub, table_files
from lifecycle.dataset_kind import REPORT, read_report
from lifecycle.storage import atomic_dir

if TYPE_CHECKING:
    from features.erasure import ErasureRecord
    from lifecycle.settings import Settings


def forget_dataset(settings: Settings, name: str, ids: set[str], record: ErasureRecord) -> None:
    """Dataset ``name`` without the rows of ``ids``, in every version, counted in ``record``."""
    path = settings.workspace.dataset_dir(name)
    if not path.exists():
        return
    done, older = Scrubbed(), Scrubbed()
    current = path.resolve()
    # The current version, replaced as a whole: readers see the old or the new dataset.
    columns = recorded_columns(current)
    counts = {file: scrub(file, None, ids, **columns(file)) for file in table_files(current)}
    erased: dict[Path, int] = {}  # dataset-relative file -> rows removed
    if any(counts.values()):
        from lifecycle import lineage

        before = lineage.dataset_version(path)
        read_report(current)  # a damaged report is refused as the dataset's, before any copy
        counted = users_in_notes(current, ids)  # before their rows go
        with atomic_dir(path) as staging:
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
                else:
                    shutil.copy2(item, target)
            recount_report(staging / REPORT, erased, ids, counted)
        # The feature table loses the same users: it stays as current as it was.
        lineage.follow_dataset(
            settings.workspace.feature_table(name), before, lineage.dataset_version(path)
        )
    else:  # no row left, but an example of the ids in the report (an earlier erasure's)
        forget_in_report(current, ids)
    # Older versions kept beside it (what a reader still holding one sees): file by file.
    for old in older_versions(path, name):
        of_old = recorded_columns(old)
        counted = users_in_notes(old, ids)  # before their rows go
        lost = set()  # the tables that lost rows: their ids spelt apart are counted again
        for file in table_files(old):
            scrubbed_old = rewrite_file(file, ids, **of_old(file))
            older += scrubbed_old
            if scrubbed_old and scrubbed_old.removed and file.parent == old:
                lost.add(file.stem)
        forget_in_report(old, ids, lost, counted)
    record.count(f"datasets/{name}", done)
    if older:
        record.count(f"datasets/{name} (older versions)", older)
