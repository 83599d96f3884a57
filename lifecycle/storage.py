"""Atomic writes: a crash mid-way leaves the previous good file or folder in place.

A folder that is replaced as a whole (an ingested dataset) is a symlink to one of its
versions; a new version is written beside it and the link is swapped with one
``rename``, which is atomic on POSIX file systems.

Staging files, folders and links have hidden names that say whose they are:
``.<target>.<kind>.<host>-<pid>-<random>.tmp``. A process killed mid-write leaves its
staging behind; the next atomic write in the same folder (and :func:`sweep_stale`) removes
the staging of writers that are gone: same host, and that pid no longer runs. Any target's:
a table written under a new name each time (scores) is never written twice. A live writer's
staging (another process, or another thread of this one) is never touched; staging made
on another host is left alone (its pid cannot be checked from here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSIONS = ".versions"
STAGING_SUFFIX = ".tmp"
_KINDS = ("file", "dir", "link")
# DuckDB's COPY into an existing staging file writes "tmp_<staging name>" first and renames
# it when done: a writer killed mid-COPY leaves that (the table so far) under the writer's pid.
_STAGING = re.compile(
    r"^(?:tmp_)?\.(?P<target>.+)\.(?P<kind>file|dir|link)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+\.tmp$"
)


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def staging_name(target: str, kind: str) -> str:
    """A fresh hidden staging name for ``target`` that records this host and process."""
    assert kind in _KINDS, kind
    return f".{target}.{kind}.{_host_tag()}-{os.getpid()}-{secrets.token_hex(6)}{STAGING_SUFFIX}"


def staging_folder(parent: Path, target: str) -> Path:
    """A fresh staging folder (mode 0700) in ``parent`` for this process's own scratch, named
    for ``target``: removed by :func:`sweep_stale` once its process is gone, killed or not."""
    path = parent / staging_name(target, "dir")
    path.mkdir(mode=0o700)
    return path


def under_staging(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a staging file or folder below ``root`` (a live writer's:
    a dead one's is swept first), which readers of ``root``'s files leave alone."""
    return any(_STAGING.match(part) for part in path.relative_to(root).parts)


def staging_target(path: Path) -> Path:
    """The file or folder a staging path is written for (any other path: itself)."""
    found = _STAGING.match(path.name)
    return path.with_name(found["target"]) if found else path


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie counts as gone)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    try:  # Linux: a killed child its parent has not reaped yet is a zombie, not a writer
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def sweep_stale(directory: Path, target: str | None = None) -> list[Path]:
    """Remove staging left in ``directory`` by dead writers (of ``target`` only, if given)."""
    if not directory.is_dir():
        return []
    host = _host_tag()
    removed = []
    for entry in directory.iterdir():
        found = _STAGING.match(entry.name)
        if found is None or (target is not None and found["target"] != target):
            continue
        if found["host"] != host or pid_alive(int(found["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def sweep_tree(root: Path) -> list[Path]:
    """:func:`sweep_stale` in ``root`` and every folder below it."""
    if not root.is_dir():
        return []
    removed = sweep_stale(root)
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()):
        if folder.exists():
            removed += sweep_stale(folder)
    return removed


def fsync_file(path: Path) -> None:
    """Flush a written file's bytes to the disk (a rename alone may reach it first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or new name in it) to the disk."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a platform without folder handles: nothing to flush
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename is all they offer
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder below ``root`` (a staged folder before its rename)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_file(Path(folder) / name)
        fsync_dir(Path(folder))


def missing_file(path: Path) -> str | None:
    """Why ``path`` leads to nothing ("file not found", a symlink loop, a broken symlink),
    or None when something is there; ``Path.exists`` says False to all three alike."""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop (following its links leads back to them), not a file"
        if path.is_symlink():
            return f"a broken symlink: it points to {os.readlink(path)}, which does not exist"
        return "file not found" + _looked_in(path)
    return None


CALLER_DIR = "RUN_CALLER_DIR"  # where `./run` was started, before it went to the project


def _looked_in(path: Path) -> str:
    """For a relative ``path``: the folder it was looked for in and, where `./run` was started
    in another one that holds it, its full path there."""
    if path.is_absolute():
        return ""
    here = Path.cwd()
    said = f" in {here}"
    caller = os.environ.get(CALLER_DIR)
    if caller and Path(caller).resolve() != here.resolve() and os.path.lexists(Path(caller) / path):
        said += (
            f"; it is in {caller}, where ./run was started (./run runs commands from the "
            f"project's folder): give its full path, {Path(caller) / path}"
        )
    return said


def written_at(path: Path) -> str:
    """Where a file written at ``path`` is, to say so: a relative path in full when `./run`
    was started in another folder (``at-risk --out list.csv`` from ~/lists wrote the project's
    folder's list.csv and said '-> list.csv')."""
    caller = os.environ.get(CALLER_DIR)
    here = Path.cwd()
    if path.is_absolute() or not caller or Path(caller).resolve() == here.resolve():
        return str(path)
    return (
        f"{here / path} (./run runs commands from the project's folder, not {caller}, where it "
        "was started: give a full path to write there)"
    )


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (:func:`missing_file`, a folder, a device), or
    None for a regular file."""
    if path.is_file():
        return None
    return missing_file(path) or ("a folder, not a file" if path.is_dir() else "not a file")


def not_a_folder(path: Path) -> str | None:
    """Why ``path`` can be no folder (it, or the first of its parents that exists, is a file,
    a broken symlink or a symlink loop), or None; nothing is created."""
    for part in (path, *path.parents):
        if part.is_dir():
            return None
        if os.path.lexists(part):
            return f"{part} is " + (missing_file(part) or "a file, not a folder")
    return None


def uncreatable_folder(path: Path) -> str | None:
    """Why a missing folder ``path`` cannot be created (its first existing parent takes no new
    folders: read-only, no permission, a virtual folder such as /proc), or None; a probe
    folder is made there and removed at once."""
    if path.is_dir():
        return None
    parent = next((p for p in path.parents if p.is_dir()), None)
    if parent is None:
        return None
    try:
        probe = parent / staging_name(path.name, "dir")
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        why = "it takes no new folders" if isinstance(error, FileNotFoundError) else error.strerror
        return f"{parent}: {why}"
    return None


def missing_folder(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist: what writing in
    ``folder`` creates (an --out in a new folder was made without a word), or None."""
    missing = None
    for part in (folder, *folder.parents):
        if os.path.lexists(part):
            break
        missing = part
    return missing


def created_path(folder: Path | None) -> str | None:
    """``created_folder`` of a command's JSON: the folder writing its --out made, in full."""
    return str(folder.absolute()) if folder else None


def created_words(folder: Path | None) -> str:
    """' (created folder X)', for the line naming an --out whose folder ``folder`` writing it
    made (:func:`missing_folder`); '' when none was."""
    if folder is None:
        return ""
    shown = folder if written_at(folder) == str(folder) else Path.cwd() / folder
    return f" (created folder {shown})"


def refuse_unwritable(path: Path, what: str) -> Path | None:
    """Refuse, before any work, a file ``path`` out of the workspace (an --out) that cannot be
    written there, in one line naming it and why (it was an OSError traceback at the end).
    Returns the folder it created for ``path`` (:func:`missing_folder`), to say so."""
    from lifecycle.errors import UserError

    created = missing_folder(path.parent)
    try:
        probe_writable(path.parent, path.name)
    except (FileExistsError, NotADirectoryError):
        file = next(p for p in (path.parent, *path.parent.parents) if p.exists())
        raise UserError(
            f"{path}: cannot write {what} there: {file} is a file, not a folder"
        ) from None
    except OSError as error:  # read-only, no permission, a virtual folder (/proc), disk full
        why = "it takes no new files" if isinstance(error, FileNotFoundError) else error.strerror
        raise UserError(f"{path}: cannot write {what} in {path.parent}: {why}") from None
    return created


def probe_writable(folder: Path, target: str) -> None:
    """Raise, before the work whose result goes there, the OSError that writing ``target`` in
    ``folder`` would raise at the end (a read-only workspace or a full disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / staging_name(target, "file")  # as atomic_file stages it, named for it
    probe.touch(mode=0o600, exist_ok=False)
    probe.unlink()


def _naming(error: OSError, path: Path) -> None:
    """Make ``error`` name ``path`` when it names no file: Arrow's failed writes ('Error
    writing bytes to file. Detail: [errno 28] No space left on device') say only the errno."""
    if error.errno is not None and error.filename is None:  # an OSError("words") stays so
        error.filename = str(path)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    Durable: the new bytes are flushed before the rename and the folder after it, so a
    power loss leaves the old file or the whole new one, never an empty one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp_path = path.with_name(staging_name(path.name, "file"))
    tmp_path.touch(mode=0o600, exist_ok=False)
    try:
        yield tmp_path
        fsync_file(tmp_path)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except OSError as error:
        _naming(error, path)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_symlink(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` in one rename (readers see the old or the new)."""
    sweep_stale(link.parent)
    staging = link.with_name(staging_name(link.name, "link"))
    staging.symlink_to(target.name if target.parent == link.parent else target)
    try:
        os.replace(staging, link)
        fsync_dir(link.parent)
    finally:
        staging.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path, keep: int = 2) -> Iterator[Path]:
    """Yield a fresh folder; when the block succeeds ``path`` points to it, in one step.

    ``path`` becomes a symlink into ``<parent>/.versions``; ``keep`` versions stay: the new
    one, the one it replaces (what a reader still holding it sees, an older one restored
    too) and the newest others by :func:`version_order`. The folder is written under a
    staging name and renamed to ``<name>@<stamp>-<random>`` when complete.
    """
    versions = path.parent / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    sweep_stale(versions)
    staging = versions / staging_name(path.name, "dir")
    staging.mkdir(mode=0o755)
    staging.chmod(0o755)
    try:
        yield staging
        fsync_tree(staging)
        # microseconds: two versions made within one second still sort by age
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        new = versions / f"{path.name}@{stamp}-{secrets.token_hex(4)}"
        os.rename(staging, new)
        fsync_dir(versions)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            _naming(error, path)
        raise
    # the version the link pointed to, if one of the versions folder's own: a link pointing
    # elsewhere (moved by hand) is none of them, and must not take a kept version's place
    replaced = path.resolve().name if path.is_symlink() else None
    replaced = replaced if replaced and (versions / replaced).is_dir() else None
    if path.exists() and not path.is_symlink():
        # A plain folder from elsewhere: keep it as a version rather than delete it.
        replaced = f"{path.name}@legacy-{stamp}"
        os.replace(path, new.with_name(replaced))
    atomic_symlink(path, new.relative_to(path.parent))
    _prune(versions, path.name, keep, stays={new.name, replaced})


def version_order(version: str) -> tuple[str, bool]:
    """A kept version's age, by the stamp in its name ``<name>@<stamp>-<random>`` (a plain
    folder kept as ``<name>@legacy-<stamp>`` was replaced at that stamp: older than the
    version made then): how versions are listed and pruned, never by the folder's time,
    which rewriting a version in place (``lifecycle forget``) changes."""
    stamp = version.split("@", 1)[1]
    return stamp.removeprefix("legacy-").split("-", 1)[0], not stamp.startswith("legacy-")


def _prune(versions: Path, name: str, keep: int, stays: set[str | None]) -> None:
    """All but ``keep`` versions of ``name`` removed: ``stays`` (the new and the replaced
    one), then the newest of the others."""
    others = sorted(
        (
            p
            for p in versions.iterdir()
            if p.name.startswith(f"{name}@") and p.is_dir() and p.name not in stays
        ),
        key=lambda p: version_order(p.name),
    )
    room = max(keep - len(stays - {None}), 0)
    for old in others[: max(len(others) - room, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def read_json(path: Path) -> Any:
    """A JSON file written by this package; a truncated or damaged one is named in one line
    (a bare JSONDecodeError says neither which file nor that it is damaged)."""
    import json

    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path.name} is truncated or not valid JSON ({path}): {error}") from None
