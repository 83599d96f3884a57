"""One changing command at a time per workspace.

Every write is atomic, but two commands that each read a state and write the next one lose
one's work when they overlap: two appends each merge the dataset they read and the second
swap drops the first's rows; a `forget` beside an append or a `report` lets the erased
users back in (the other command read them before the erasure and writes them after it).
So a command that changes the workspace holds an exclusive ``flock`` on the workspace
folder itself while it runs, and a second one is refused in one line naming the first
(its pid and command line, from ``/proc``). The lock is no file: nothing is written to
take it, and the kernel releases it when its holder ends, killed or not, so nothing is
ever left to clean up. Readers (`at-risk` without `--out`, `segments`, `models`, the
service) take no lock: they read whole files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lifecycle.errors import UserError

# This process's held locks (a command run inside another one, as `run` does, holds it already).
_held: dict[Path, str] = {}


@contextlib.contextmanager
def changing(home: Path, command: str) -> Iterator[None]:
    """Hold the workspace's lock while ``command`` changes it; refuse (UserError) while
    another process holds it. A workspace not made yet is made to be locked (two first
    commands on a new ``--home`` ran side by side, each making it); one that cannot be made
    is the command's to refuse."""
    key = Path(os.path.abspath(home))
    if key in _held:
        yield
        return
    try:
        key.mkdir(parents=True, exist_ok=True)
    except OSError:  # a file there, a folder that takes no write: the command says which
        yield
        return
    fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceBusy(key) from None
        _held[key] = command
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock


class WorkspaceBusy(UserError):
    """Another process holds the workspace's lock. The message, for the person at the
    machine, names the folder and the holder's pid and command line; ``command`` is the
    holder's lifecycle command alone (`train`; None when it is no lifecycle command), what
    a remote caller is told."""

    def __init__(self, home: Path) -> None:
        self.home = home
        found = _holding_process(home)  # /proc read once: both from the same holder
        self.holder = _described(found)
        self.command = _lifecycle_command(found)
        self.argv = [] if isinstance(found, str) else found[1]  # the holder's command line
        super().__init__(
            f"the workspace {home} is being changed by another lifecycle command "
            f"({self.holder}); nothing was done: run this one again when it has finished"
        )


def holder(folder: Path) -> str:
    """The process holding ``folder``'s lock, as ``/proc/locks`` and its command line say."""
    return _described(_holding_process(folder))


def _described(found: tuple[str, list[str]] | str) -> str:
    """:func:`holder`'s words for what :func:`_holding_process` found."""
    if isinstance(found, str):
        return found
    pid, words = found
    if not words:
        return f"pid {pid}"
    # python .../bin/lifecycle ARGS: from the program's own name on
    start = next((i for i, w in enumerate(words) if Path(w).name == "lifecycle"), 0)
    said = " ".join(" ".join([Path(words[start]).name, *words[start + 1 :]]).split())
    return f"pid {pid}: {said[:200]}{'...' if len(said) > 200 else ''}"


def _lifecycle_command(found: tuple[str, list[str]] | str) -> str | None:
    """The lifecycle command (``train``, ``datasets restore``) of the lock's holder
    :func:`_holding_process` found; None for one that runs no lifecycle command, or one
    ending now."""
    words = [] if isinstance(found, str) else found[1]
    start = next((i for i, w in enumerate(words) if Path(w).name == "lifecycle"), None)
    if start is None:
        return None
    from lifecycle.cli import main  # the commands' names, only when a holder is one

    names, group = [], main
    for word in words[start + 1 :]:
        command = getattr(group, "commands", {}).get(word)
        if command is not None:
            names.append(word)
            group = command
            if not hasattr(command, "commands"):  # a command, not a group: its arguments follow
                break
    return " ".join(names) or None


def _holding_process(folder: Path) -> tuple[str, list[str]] | str:
    """(pid, command line words) of the process holding ``folder``'s lock (no words when its
    command line cannot be read), or what to call a holder that cannot be found."""
    found = folder.stat()
    device = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    try:
        locks = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "another process"
    for line in locks:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == device:
            pid = fields[4]
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            except OSError:
                return pid, []
            return pid, [os.fsdecode(a) for a in argv]
    return "a process ending now"
