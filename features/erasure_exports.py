"""Erasure and the lists written outside the workspace (``lifecycle.exports`` registers them).

For each registered list still on disk, ``forget`` reads it: a plain list is searched for
the ids, a pseudonymized one for their keyed pseudonyms (the key configured now must be the
one the list was made with). A list holding a user is named for the operator to handle or,
with ``--scrub-exports``, rewritten without the user's rows (atomically, mode kept). Lists
that are gone are reported as gone. Lists inside the workspace are scrubbed with it. An
HTML report written with ``report --out`` that mentions a user is named, or deleted. A
backtest's scratch workspace (``backtest --out``) whose copied dataset holds a user is named,
or deleted whole: everything in it (features, online store, scores, models) was made from
that copy, so a user it does not hold is in none of it; its plots beside it hold no ids.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from features.scrub import Scrubbed, rewrite_file, scrub, token_pattern, users_in
from lifecycle.exports import SCRATCH_MARKER, Export, registered_exports
from lifecycle.pseudonyms import pseudonym
from lifecycle.storage import fsync_dir, staging_name, sweep_stale, under_staging

if TYPE_CHECKING:
    from features.erasure_places import PlaceIds
    from lifecycle.settings import Settings

PARQUET_MAGIC = b"PAR1"
REPORT_SUFFIXES = (".html", ".htm")
CHANGED = ("scrubbed", "deleted")  # the statuses of a list forget rewrote or deleted


@dataclass(frozen=True)
class ExportFinding:
    """What ``forget`` found in one registered list."""

    path: str
    status: str  # scrubbed | deleted (a report) | holds users | gone | not checked
    rows: int = 0  # the users' rows it held
    redacted: int = 0  # mentions in other rows' text
    detail: str = ""

    def text(self) -> str:
        parts = [f"{self.rows:,} row{'s' * (self.rows != 1)} of the users"] if self.rows else []
        parts += [f"{_mentions(self.redacted)} of the users"] if self.redacted else []
        held = ", ".join(parts)
        if self.status == "scrubbed":
            return f"rewritten without {held}: {self.path}"
        if self.status == "deleted" and self.detail:
            return f"{self.detail} deleted ({held}): {self.path}"
        if self.status == "deleted":
            return f"report deleted ({_mentions(self.redacted)} of the users): {self.path}"
        if self.status == "holds users":
            return (
                f"HOLDS {held}, handle it (or run forget again with --scrub-exports): {self.path}"
            )
        if self.status == "gone":
            return f"gone (no longer on disk): {self.path}"
        return f"not checked ({self.detail}): {self.path}"


def export_format(path: Path) -> str:
    """An export's format by its bytes: ``--format parquet --out list.csv`` is Parquet."""
    with path.open("rb") as file:
        head = file.read(64)
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if head[:4] == b"PK\x03\x04":  # a zip: the Excel lists are the only ones written
        return "xlsx"
    return "json" if head.lstrip()[:1] == b"{" else "csv"


def registered(settings: Settings) -> list[Export]:
    """Every registered list (the register read once; a bad one is refused)."""
    return registered_exports(settings.workspace.home)


def of_dataset(exports: list[Export], dataset: str | None) -> list[Export]:
    """The registered lists erasure looks at: all, or the named dataset's (and those of none)."""
    return [e for e in exports if dataset is None or e.dataset in (dataset, None)]


def check_exports(
    settings: Settings, exports: list[Export], places: PlaceIds, *, scrub_exports: bool
) -> list[ExportFinding]:
    """Each registered list outside the workspace that holds a user, is gone or cannot be
    read; searched for the ids as its dataset holds them (``places``)."""
    home = settings.workspace.home.resolve()
    key = settings.privacy.key()
    findings = []
    for export in exports:
        path = Path(export.path)
        if path.is_relative_to(home):
            continue  # scrubbed with the workspace
        sweep_stale(path.parent, target=path.name)  # a deletion killed midway
        ids, fold = places.ids(export.dataset), places.fold(export.dataset)
        if (path / SCRATCH_MARKER).is_file():
            findings += check_scratch(path, ids, scrub_exports, fold)
            _note_changed(places, export, findings)
            continue
        if not path.is_file():
            findings.append(ExportFinding(export.path, "gone"))
            continue
        if export.pseudonymized and key is None:
            findings.append(
                ExportFinding(
                    export.path,
                    "not checked",
                    detail="pseudonymized; configure the pseudonym key it was made with",
                )
            )
            continue
        terms = {pseudonym(key[0], u) for u in ids} if export.pseudonymized and key else ids
        try:
            if path.suffix.lower() in REPORT_SUFFIXES:
                findings += _check_report(path, terms, scrub_exports, fold)
                _note_changed(places, export, findings)
                continue
            fmt = export_format(path)
            scrubbed = (rewrite_file if scrub_exports else _count)(path, terms, fmt, fold=fold)
            found = scrubbed or Scrubbed()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
            findings.append(ExportFinding(export.path, "not checked", detail=reason))
            continue
        if found:
            status = "scrubbed" if scrub_exports else "holds users"
            findings.append(ExportFinding(export.path, status, found.removed, found.redacted))
        _note_changed(places, export, findings)
    return findings


def _note_changed(places: PlaceIds, export: Export, findings: list[ExportFinding]) -> None:
    """Say a list of no known dataset that erasure changed was searched for every spelling."""
    if findings and findings[-1].path == export.path and findings[-1].status in CHANGED:
        places.note(export.dataset, export.path)


def _check_report(
    path: Path, terms: set[str], scrub_exports: bool, fold: bool
) -> list[ExportFinding]:
    """An HTML report (``lifecycle report --out``) mentioning a user (in any casing with
    ``fold``): its figures and top list were made with the user, so it is deleted, as
    reports in the workspace are."""
    text = path.read_text(encoding="utf-8", errors="replace")
    mentions = len(token_pattern(terms, fold).findall(text))
    if not mentions:
        return []
    if scrub_exports:
        path.unlink()
        return [ExportFinding(str(path), "deleted", redacted=mentions)]
    return [ExportFinding(str(path), "holds users", redacted=mentions)]


def forget_inner_scratch(
    settings: Settings, exports: list[Export], places: PlaceIds
) -> list[ExportFinding]:
    """Backtest scratch workspaces kept inside the workspace (``--out`` under it): part of
    the workspace, so deleted whole when their copy holds a user (before the workspace's
    other files are scrubbed, which would hide the users from the count but not from their
    online store)."""
    home = settings.workspace.home.resolve()
    inner = {Path(e.path): e.dataset for e in exports if Path(e.path).is_relative_to(home)}
    for marker in home.rglob(SCRATCH_MARKER):  # registered or not; not a running backtest's
        if not under_staging(marker, home):
            inner.setdefault(marker.parent, None)
    findings = []
    for path, dataset in sorted(inner.items()):
        if (path / SCRATCH_MARKER).is_file():
            if dataset in places.apart:  # a copy of a dataset not searched: its own users
                if check_scratch(path, places.every, scrub_exports=False):
                    places.leave(dataset, str(path.relative_to(home)))
                continue
            found = check_scratch(path, places.ids(dataset), True, places.fold(dataset))
            if found:
                places.note(dataset, str(path.relative_to(home)))
            findings += found
    return findings


def check_scratch(
    path: Path, ids: set[str], scrub_exports: bool, fold: bool = False
) -> list[ExportFinding]:
    """A backtest's scratch workspace: its copied dataset's rows of the users (in any
    casing with ``fold``), counted; with
    ``scrub_exports`` the workspace is renamed to a staging name (the path is gone at once)
    and removed, so a deletion killed midway is swept by the next ``forget``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from features import contract as c

    rows = 0
    for table in sorted((path / "datasets").rglob("*.parquet")):
        try:
            column = pq.read_table(table, columns=[c.USER_ID])[c.USER_ID]
        except KeyError:
            continue  # a table without users
        rows += int(pc.sum(users_in(column, ids, fold)[1]).as_py() or 0)
    if not rows:
        return []
    if not scrub_exports:
        return [ExportFinding(str(path), "holds users", rows, detail="backtest workspace")]
    doomed = path.with_name(staging_name(path.name, "dir"))
    path.rename(doomed)
    fsync_dir(path.parent)
    shutil.rmtree(doomed)
    return [ExportFinding(str(path), "deleted", rows, detail="backtest scratch workspace")]


def _count(path: Path, terms: set[str], fmt: str, fold: bool = False) -> Scrubbed | None:
    return scrub(path, None, terms, fmt, fold=fold)


def _mentions(count: int) -> str:
    """'1 mention', '3 mentions': of the users, in other rows' text."""
    return f"{count:,} mention{'s' * (count != 1)}"
