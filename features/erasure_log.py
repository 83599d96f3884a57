"""The erasure log, its key, and keeping erased users out of later ingests.

``$LIFECYCLE_HOME/erasure_log.jsonl`` (mode 0600) gets one line per ``forget`` that found
a user: keyed hashes (HMAC-SHA256) of the erased ids, never the ids, the dataset (none:
all) and a check value of the key. The key is the settings' pseudonym key when one is
configured, else a random per-workspace ``.erasure_key`` file.

An ingest, append or refresh of a dataset hashes each incoming user id under the key of
every log entry that covers the dataset: a row of an erased user is quarantined as
``erased_user`` (counted; the quarantine keeps its source row, never its values). An entry
whose key is no longer available (the pseudonym key unset or changed, the key file
deleted) could not be compared, so the ingest is refused until that key is back.
An id found only as a dataset of case-insensitive ids holds it (``c1@x.com`` for an asked
``C1@X.COM``) is also in the entry's ``folded_hashes``: only ingests of datasets that fold
their ids hold it back, since elsewhere ``c1@x.com`` is a user of its own; the id as asked
(``C1@X.COM``, found only folded) is in its ``asked_hashes``, held back by every ingest: the
log records what the operator asked to forget, hashed as the ids found are.

Each entry also holds keyed hashes of the erased ids' spelling keys
(``features.id_spellings.spelling_keys``: ``017850``, `` 17850`` and ``17850`` in full-width
digits share ``17850``'s): an incoming id spelt like an erased one, which may be the erased
person or another, is quarantined as ``erased_user_spelling`` (named in the summary, no
value kept) unless ``privacy.load_erased_spellings`` lets those rows in. An erasure logged
before these hashes existed holds back only the exact ids; a ``forget`` of its ids again
adds them (:func:`log_spellings`: an entry of spelling hashes only, ``spellings_of`` naming
the erasure's time).

Before changing anything, ``forget`` records the erasure it starts in ``.erasure_pending.json``
(0600, the same fields, no ids) and clears it once the log line is written: a ``forget``
killed midway leaves it, so its users are already kept out of ingests, a re-run with the
same ids logs them even when nothing of them is left to find, and one without them says
the earlier erasure is not finished.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from lifecycle.errors import UserError
from lifecycle.pseudonyms import keyed_hash
from lifecycle.storage import atomic_file, read_json

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np
    import pandas as pd

    from features.table_checks import TableChecks
    from features.validation import TableRules
    from lifecycle.settings import Settings

LOG_FILE = "erasure_log.jsonl"
PENDING_FILE = ".erasure_pending.json"  # erasures started and not yet logged
KEY_FILE = ".erasure_key"
ERASED_USER = "erased_user"  # quarantine reason of an incoming row of an erased user
ERASED_USER_SPELLING = "erased_user_spelling"  # ... of an id spelt like an erased user's
_KEY_CHECK = "lifecycle erasure key check"  # hashed to tell a key again, revealing nothing
_SPELLING = "spelling key:"  # before a spelling key hashed: never an id's hash or pseudonym


def key_check(key: bytes) -> str:
    """A short value that tells whether a key is the one a log entry was written with."""
    return keyed_hash(key, _KEY_CHECK)[:16]


def erasure_key(settings: Settings) -> tuple[bytes, str]:
    """The HMAC key: the settings' pseudonym key, else a random per-workspace key file (0600)."""
    configured = settings.privacy.key()
    if configured is not None:
        return configured
    home = settings.workspace.home
    path = home / KEY_FILE
    if not path.is_file():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
    return _own_key(home), f"file:{KEY_FILE}"


def _own_key(home: Path) -> bytes:
    """The workspace's own key, from its key file."""
    return (home / KEY_FILE).read_text().strip().encode()


def spelling_hashes(key: bytes, user_ids: list[str]) -> list[str]:
    """Keyed hashes of the spelling keys of ``user_ids`` (in order), apart from any id's hash."""
    import pyarrow as pa

    from features.id_spellings import spelling_keys

    keys = spelling_keys(pa.array(user_ids, pa.string())).to_pylist()
    return [keyed_hash(key, f"{_SPELLING}{k}") for k in keys]


def append_entry(home: Path, entry: dict[str, Any]) -> Path:
    """Append one erasure to the log (created 0600), synced to disk."""
    log = home / LOG_FILE
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return log


LISTED = "listed_only"  # an entry's ids a list or online store alone held, as logged before


def drop_fields(
    home: Path, fields: Iterable[str], key: bytes, now: dict[str, Any] | None = None
) -> int:
    """Rewrite the log (atomically, mode 0600) without ``fields`` in any entry, when one holds
    any: entries logged before 2026-12-07 kept the ids of ``listed_only`` and ``no_user``.
    Those of ``listed_only`` were erased from a list or online store, and until session 57
    not hashed (so a later ingest loaded them again): their keyed and spelling hashes join
    the entry first (``listed_logged``: how many were missing), or, for an entry of another
    key, an entry of this one (``now``: its time, key check and source; ``listed_of``: the
    entry's time). The entries so rewritten."""
    entries, drop = log_entries(home), set(fields)
    held = sum(1 for entry in entries if drop & entry.keys())
    if held:
        added = [_listed_hashes(e, key, now or {}) for e in entries]
        with atomic_file(home / LOG_FILE) as staging:
            staging.write_text(
                "".join(
                    json.dumps({k: v for k, v in e.items() if k not in drop}, sort_keys=True) + "\n"
                    for e in [*entries, *filter(None, added)]
                )
            )
            staging.chmod(0o600)
    return held


def _listed_hashes(entry: dict[str, Any], key: bytes, now: dict[str, Any]) -> dict[str, Any]:
    """The hashes of ``entry``'s ``listed_only`` ids it lacks: put in it when it was made with
    ``key`` (``now["key_check"]``), else an entry of them made now (returned; {}: none)."""
    ids = sorted({i for u in entry.get(LISTED, []) for i in (u, *c.user_id_spellings(u)[:1])})
    users = {keyed_hash(key, u) for u in ids}
    spelt = set(spelling_hashes(key, ids)) if ids else set()
    if entry.get("key_check") == now.get("key_check"):
        missing = users - set(entry.get("user_hashes", []))
        if missing:
            entry["user_hashes"] = sorted(missing | set(entry.get("user_hashes", [])))
            entry["spelling_hashes"] = sorted(spelt | set(entry.get("spelling_hashes", [])))
            entry["listed_logged"] = len(missing)
        return {}
    if not ids or not now:
        return {}
    made = {k: now[k] for k in ("timestamp", "key_check", "key_source") if k in now}
    return made | {
        "dataset": entry.get("dataset"),
        "user_hashes": sorted(users),
        "spelling_hashes": sorted(spelt),
        "listed_of": entry.get("timestamp"),
    }


def log_entries(home: Path) -> list[dict[str, Any]]:
    path = home / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pending_entries(home: Path) -> list[dict[str, Any]]:
    """The erasures started and not finished (a ``forget`` killed midway), oldest first."""
    path = home / PENDING_FILE
    if not path.is_file():
        return []
    try:
        return read_json(path)
    except ValueError as error:  # every ingest reads it: one line naming the file
        raise UserError(
            f"{error}; it lists the erasures a killed `lifecycle forget` did not finish: "
            "delete it and run `lifecycle forget` again with the same ids"
        ) from None


def started_hashes(home: Path, check: str) -> set[str]:
    """The users (keyed hashes) of unfinished erasures made with the key of ``check``."""
    return {h for e in pending_entries(home) if e["key_check"] == check for h in e["user_hashes"]}


def erasures(home: Path, check: str, dataset: str | None) -> list[dict[str, Any]]:
    """The logged erasures made with the key of ``check`` that covered ``dataset`` (None:
    any), oldest first."""
    return [
        entry
        for entry in log_entries(home)
        if entry.get("key_check") == check
        and (dataset is None or entry.get("dataset") in (None, dataset))
    ]


def erasures_of(home: Path, check: str, dataset: str | None) -> dict[str, list[dict[str, Any]]]:
    """Of :func:`erasures`: user hash -> every entry that erased that user, oldest first (a
    user erased dataset by dataset, `forget --dataset`, has one a dataset)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in erasures(home, check, dataset):
        for user in entry.get("user_hashes", []):
            found.setdefault(user, []).append(entry)
    return found


def erased_before(home: Path, check: str, dataset: str | None) -> dict[str, dict[str, Any]]:
    """Of :func:`erasures_of`: user hash -> the last entry that erased that user."""
    return {user: entries[-1] for user, entries in erasures_of(home, check, dataset).items()}


def log_spellings(
    home: Path, key: bytes, fields: dict[str, Any], earlier: dict[str, dict[str, Any]]
) -> list[str]:
    """For the ids of ``earlier`` (id -> the logged erasure of it) whose spelling key no entry
    made with this key holds (erased before spelling hashes were logged), one entry per such
    erasure holding those hashes only (``fields``: the time, key check and source of this
    ``forget``): later ingests hold back their other spellings too. The erasures' times."""
    logged = {
        h
        for e in log_entries(home)
        if e.get("key_check") == fields["key_check"]
        for h in e.get("spelling_hashes", [])
    }
    missing: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for user, entry in sorted(earlier.items()):
        [hashed] = spelling_hashes(key, [user])
        if hashed not in logged:
            missing.setdefault(entry["timestamp"], (entry, set()))[1].add(hashed)
    for when, (entry, hashes) in sorted(missing.items()):
        spelt = {"dataset": entry.get("dataset"), "user_hashes": [], "spellings_of": when}
        append_entry(home, fields | spelt | {"spelling_hashes": sorted(hashes)})
    return sorted(missing)


def _write_pending(home: Path, entries: list[dict[str, Any]]) -> None:
    from lifecycle.storage import atomic_file, fsync_dir

    path = home / PENDING_FILE
    if not entries:
        path.unlink(missing_ok=True)
        fsync_dir(home)
        return
    with atomic_file(path) as staged:  # created 0600
        staged.write_text(json.dumps(entries, sort_keys=True))


def begin_erasure(home: Path, entry: dict[str, Any]) -> None:
    """Record an erasure before it changes anything (``timestamp``, ``dataset``,
    ``key_check``, ``key_source``, ``user_hashes``)."""
    _write_pending(home, [*pending_entries(home), entry])


def finish_erasure(home: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Once ``entry`` is logged: its users leave every pending erasure it covered (same
    key, its dataset or all); the erasures still unfinished are returned."""
    done, left = set(entry["user_hashes"]), []
    for pending in pending_entries(home):
        if pending["key_check"] == entry["key_check"] and entry["dataset"] in (
            None,
            pending["dataset"],
        ):
            pending = {**pending, "user_hashes": sorted(set(pending["user_hashes"]) - done)}
        if pending["user_hashes"]:
            left.append(pending)
    _write_pending(home, left)
    return left


@dataclass(frozen=True)
class ErasedUsers:
    """The keyed hashes of the users erased from a dataset, grouped by their key."""

    by_key: tuple[tuple[bytes, frozenset[str]], ...] = ()
    # their spelling keys' hashes (spelling_hashes), when those rows are held back
    spellings_by_key: tuple[tuple[bytes, frozenset[str]], ...] = ()
    # users erased as a case-insensitive dataset folds them (folded_hashes): held back
    # only by a dataset that folds its ids too (:meth:`holding`)
    folded_by_key: tuple[tuple[bytes, frozenset[str]], ...] = ()

    def holding(self, case_insensitive_ids: bool) -> ErasedUsers:
        """These users as a dataset holding its ids so holds them back: the folded ones
        too where it folds; in a dataset of ids as written, another's ``c1@x.com`` is a user
        of its own, held back only by its spelling."""
        if not case_insensitive_ids or not self.folded_by_key:
            return self
        merged = {key: set(hashes) for key, hashes in self.by_key}
        for key, hashes in self.folded_by_key:
            merged.setdefault(key, set()).update(hashes)
        return replace(self, by_key=tuple((k, frozenset(h)) for k, h in merged.items()))

    def mask(self, user_ids: pd.Series) -> np.ndarray:
        """Which of these ids belong to an erased user (each distinct id hashed once per
        spelling: ``18074`` and ``18074.0`` are one id, whichever an erasure logged)."""
        ids = user_ids.astype("string")
        erased = {
            u
            for u in ids.dropna().unique()
            if any(
                keyed_hash(key, spelt) in hashes
                for spelt in c.user_id_spellings(u)
                for key, hashes in self.by_key
            )
        }
        return ids.isin(erased).fillna(False).to_numpy(dtype=bool)

    def spelt_alike(self, user_ids: pd.Series) -> np.ndarray:
        """Which of these ids are spelt like an erased user's (the same spelling key)."""
        import numpy as np

        ids = user_ids.astype("string")
        distinct = [u for u in ids.dropna().unique() if u]
        if not self.spellings_by_key or not distinct:
            return np.zeros(len(ids), dtype=bool)
        alike = {
            u
            for key, hashes in self.spellings_by_key
            for u, hashed in zip(distinct, spelling_hashes(key, distinct), strict=True)
            if hashed in hashes
        }
        return ids.isin(alike).fillna(False).to_numpy(dtype=bool)

    def rules(self, rules: TableRules) -> TableRules:
        """``rules`` that also quarantine the erased users' rows, keeping none of their values."""
        if not self.by_key:
            return rules
        import pandas as pd

        def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Any]:
            frame, bad = rules.check(raw, checks)
            exact = pd.Series(self.mask(frame[c.USER_ID]), index=frame.index)
            alike = pd.Series(self.spelt_alike(frame[c.USER_ID]), index=frame.index) & ~exact
            for reason, rows in ((ERASED_USER, exact), (ERASED_USER_SPELLING, alike)):
                rows = rows.reindex(bad.raw.index, fill_value=False)
                if rows.any():  # this reason wins: no other reason may keep their values
                    bad.overrule(rows, reason)
                    kept = bad.raw.astype(object)
                    kept.loc[rows.to_numpy()] = None
                    bad.raw = kept
            return frame, bad

        erasing = (ERASED_USER, ERASED_USER_SPELLING)
        return replace(rules, check=check, not_bad=(*rules.not_bad, *erasing))


def erased_users(settings: Settings, dataset: str) -> ErasedUsers:
    """The users the erasure log says were erased from ``dataset`` (or from every dataset)."""
    home = settings.workspace.home
    entries = [  # an erasure killed midway keeps its users out already
        e
        for e in [*log_entries(home), *pending_entries(home)]
        if (e.get("user_hashes") or e.get("spelling_hashes"))
        and e.get("dataset") in (None, dataset)
    ]
    if not entries:
        return ErasedUsers()
    keys: dict[str, tuple[bytes, str]] = {}  # key check -> (key, source)
    configured = settings.privacy.key()
    if configured is not None:
        keys[key_check(configured[0])] = configured
    if (home / KEY_FILE).is_file():
        own = _own_key(home)
        keys[key_check(own)] = (own, f"file:{KEY_FILE}")
    by_key: dict[bytes, set[str]] = {}
    folded: dict[bytes, set[str]] = {}
    spelt: dict[bytes, set[str]] = {}  # spelling-key hashes; none when let in
    held_back = not settings.privacy.load_erased_spellings
    for entry in entries:
        if "key_check" in entry:
            found = keys.get(entry["key_check"])
        else:  # written before key checks: its source names the key
            found = next((k for k in keys.values() if k[1] == entry.get("key_source")), None)
        if found is None:
            raise UserError(
                f"{home / LOG_FILE}: the erasure of {entry.get('timestamp')} is keyed with "
                f"{entry.get('key_source')}, which is not available now, so its users could "
                f"not be kept out of dataset '{dataset}'; configure that key again"
            )
        only_folded = set(entry.get("folded_hashes", []))
        held = (set(entry["user_hashes"]) - only_folded) | set(entry.get("asked_hashes", []))
        by_key.setdefault(found[0], set()).update(held)
        folded.setdefault(found[0], set()).update(only_folded)
        if held_back and entry.get("spelling_hashes"):
            spelt.setdefault(found[0], set()).update(entry["spelling_hashes"])
    return ErasedUsers(
        tuple((k, frozenset(h)) for k, h in by_key.items()),
        tuple((k, frozenset(h)) for k, h in spelt.items()),
        tuple((k, frozenset(h)) for k, h in folded.items() if h),
    )


__all__ = [
    "ERASED_USER",
    "ERASED_USER_SPELLING",
    "ErasedUsers",
    "append_entry",
    "begin_erasure",
    "drop_fields",
    "erased_before",
    "erased_users",
    "erasure_key",
    "erasures",
    "erasures_of",
    "finish_erasure",
    "key_check",
    "log_entries",
    "log_spellings",
    "pending_entries",
    "spelling_hashes",
    "started_hashes",
]
