"""The kept versions of a dataset: listed (``lifecycle datasets history``) and pointed at
again (``lifecycle datasets restore``). Each ingest, import or append writes a new
version beside the others (:func:`lifecycle.storage.atomic_dir`); the dataset's folder is a
symlink to the current one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.validation import ContractError
from lifecycle.dataset_kind import EVENTS, NOT_EVENTS, REPORT, read_report, what_it_is
from lifecycle.errors import UserError
from lifecycle.storage import VERSIONS, atomic_symlink, version_order
from lifecycle.words import BATCHES, ROWS, counted
from lifecycle.words import EVENTS as EVENT_WORDS
from lifecycle.workspace import EVENTS_FILE, USERS_FILE


@dataclass(frozen=True)
class DatasetVersion:
    version: str
    current: bool
    created_at: str
    events: int | None
    users: int | None
    batches: int
    kind: str = EVENTS
    rows: int | None = None  # of a snapshot's or a campaign's one table

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def line(self) -> str:
        mark = "*" if self.current else " "
        counts = counted(self.events, EVENT_WORDS) if self.events is not None else "no events"
        if self.events is None and self.rows is not None:  # was "no events" of a snapshot
            counts = f"{what_it_is(self.kind)}: {counted(self.rows, ROWS)}"
        if self.users is not None:
            counts += f", {counted(self.users)}"
        made_of = counted(self.batches, BATCHES)
        return f"{mark} {self.version}  {self.created_at}  {counts}  ({made_of})"


def versions(dataset_dir: Path) -> Iterator[DatasetVersion]:
    """The kept versions of a dataset, newest first (``current``: the one it points to)."""
    import pyarrow.parquet as pq

    folder = dataset_dir.parent / VERSIONS
    current = dataset_dir.readlink().name if dataset_dir.is_symlink() else ""
    found = (
        [p for p in folder.iterdir() if p.name.startswith(f"{dataset_dir.name}@") and p.is_dir()]
        if folder.is_dir()
        else []
    )
    for path in sorted(found, key=lambda p: version_order(p.name), reverse=True):
        try:
            report = read_report(path) or {}
        except UserError:  # listed all the same: the history is the way back from it
            report = {"created_at": f"({REPORT} damaged)"}

        def rows(name: str, path: Path = path) -> int | None:
            return pq.read_metadata(path / name).num_rows if (path / name).is_file() else None

        kind = str(report.get("kind", EVENTS))
        yield DatasetVersion(
            path.name,
            path.name == current,
            str(report.get("created_at", "")),
            rows(EVENTS_FILE),
            rows(USERS_FILE),
            len(report.get("batches") or [None]),
            kind,
            rows(f"{kind}.parquet") if kind in NOT_EVENTS else None,
        )


def restore(dataset_dir: Path, version: str) -> DatasetVersion:
    """Point the dataset at one of its kept versions again."""
    kept = {v.version: v for v in versions(dataset_dir)}
    if version not in kept:
        raise ContractError(_unknown_version(dataset_dir, version, list(kept.values())))
    atomic_symlink(dataset_dir, Path(VERSIONS) / version)  # relative, as atomic_dir makes it
    return DatasetVersion(**{**kept[version].to_dict(), "current": True})


def _unknown_version(dataset_dir: Path, version: str, kept: list[DatasetVersion]) -> str:
    """What exists and what to type, when VERSION names no kept version."""
    if kept:
        named = ", ".join(v.version + (" (current)" if v.current else "") for v in kept)
        older = next((v.version for v in kept if not v.current), None)
        return (
            f"dataset '{dataset_dir.name}' has no version {version!r}; kept versions: "
            + named
            + (f": type e.g. `lifecycle datasets restore {older}`" if older else " (none older)")
        )
    folder = dataset_dir.parent / VERSIONS
    held = sorted(
        {p.name.split("@", 1)[0] for p in folder.iterdir() if "@" in p.name and p.is_dir()}
        if folder.is_dir()
        else set()
    )
    if not held:
        return (
            f"no dataset '{dataset_dir.name}' (from {version!r}) in {dataset_dir.parent}, and no "
            "dataset has kept versions: ingest or import one first"
        )
    return (
        f"no dataset '{dataset_dir.name}' (from {version!r}) has kept versions; the datasets "
        f"that have: {', '.join(held)}. VERSION is DATASET@STAMP: `lifecycle datasets history "
        f"{held[0]}` lists them, then type `lifecycle datasets restore {held[0]}@STAMP`"
    )
