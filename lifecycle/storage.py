"""Atomic writes: a crash mid-way leaves the previous good file or folder in place.

A folder that is replaced as a whole (an ingested dataset) is a symlink to one of its
versions; a new version is written beside it and the link is swapped with one
``rename``, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

VERSIONS = ".versions"


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path, keep: int = 2) -> Iterator[Path]:
    """Yield a fresh folder; when the block succeeds ``path`` points to it, in one step.

    ``path`` becomes a symlink into ``<parent>/.versions``; the ``keep`` newest versions
    stay (the one before the last is what a reader still holding it sees).
    """
    versions = path.parent / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    new = Path(tempfile.mkdtemp(prefix=f"{path.name}@{stamp}-", dir=versions))
    new.chmod(0o755)
    try:
        yield new
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if path.exists() and not path.is_symlink():
        # A plain folder from elsewhere: keep it as a version rather than delete it.
        os.replace(path, new.with_name(f"{path.name}@legacy-{stamp}"))
    link = path.with_name(f".{path.name}.link.tmp")
    link.unlink(missing_ok=True)
    link.symlink_to(new.relative_to(path.parent))
    os.replace(link, path)
    _prune(versions, path.name, keep, current=new)


def _prune(versions: Path, name: str, keep: int, current: Path) -> None:
    mine = sorted(
        (p for p in versions.iterdir() if p.name.startswith(f"{name}@") and p.is_dir()),
        key=lambda p: p.stat().st_mtime,
    )
    for old in mine[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
