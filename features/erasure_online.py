"""Erasure from a dataset's online stores (:class:`OnlineStore`: a SQLite file, Redis): the
users' Feast entity keys, deleted and, in SQLite, vacuumed so the bytes are gone too
(``features.erasure``); their mentions in other users' text features, redacted
(``features.online_text``); and which ids a store holds, read only (:func:`online_held`):
materialize upserts, so a user whose events the dataset no longer holds (a rolling export
replaced it) keeps the features materialized before, a row of a user until ``forget`` deletes
it. Which stores a dataset has is one list, ``features.erasure_places.online_stores``: the
Redis servers among them are those the settings name and those materialize wrote into under
earlier settings, recorded here (:func:`record_redis`, :data:`STORES_FILE`)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.online_rows import entity_keys

if TYPE_CHECKING:
    from lifecycle.settings import Settings


@dataclass(frozen=True, eq=False)
class OnlineStore:
    """A dataset's online store: a SQLite file (``path``: the default store of a column per
    feature, or Feast's own of a row per feature; a file written under another setting still
    holds its users) or Redis (``path`` None: the hashes of the dataset's Feast project)."""

    settings: Settings
    dataset: str
    path: Path | None
    # a Redis the settings no longer name: when materialized into ("at <t>", "from <t> to <t>")
    earlier: str = ""

    @property
    def address(self) -> str:
        """A Redis store's ``host:port`` (a SQLite file's path)."""
        from features.redis_health import address

        return (
            address(self.settings.feast.redis_connection) if self.path is None else str(self.path)
        )

    @property
    def project(self) -> str:
        from features.store import project_name

        return project_name(self.dataset)

    @property
    def location(self) -> str:
        """``forget``'s name of it (``removed``, ``redacted``): one per dataset."""
        return f"online/{self.dataset}"

    def named(self, home: Path) -> str:
        """``datasets check``'s: the file, of ``home``, without its suffix (Redis:
        ``feast/<dataset>/redis``)."""
        if self.path is None:
            return f"feast/{self.dataset}/redis" + (f"@{self.address}" if self.earlier else "")
        return self.path.relative_to(home).with_suffix("").as_posix()


STORES_FILE = "online_stores.jsonl"  # in feast/<dataset>: each Redis materialized into


def _recorded(repo: Path) -> list[dict[str, str]]:
    """The Redis stores recorded in ``repo``; a line that is not one (an edit gone wrong) is
    refused naming the file, the line and what it should hold."""
    import json

    from lifecycle.errors import UserError

    path = repo / STORES_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            held = json.loads(line)
            if not all(isinstance(held.get(k), str) for k in ("connection", "first", "last")):
                raise ValueError
        except (ValueError, AttributeError):
            raise UserError(
                f"{path}, line {number}: {line[:60]!r} is not a Redis the dataset was "
                'materialized into ({"connection": "host:port", "first": time, "last": time, '
                '"store": "redis"}): correct it, or delete the line of a Redis gone for good'
            ) from None
        found.append(held)
    return found


@contextlib.contextmanager
def _rewriting(repo: Path, wait_seconds: float = 30.0) -> Iterator[list[dict[str, str]]]:
    """The record's stores, read and then rewritten (the list as the block leaves it) by one
    writer at a time: ``materialize`` and ``forget`` hold the workspace's lock, but
    ``datasets check`` (a reader, which records the Redis it reaches) does not, and its
    rewrite of a list read before materialize's replaced materialize's line. The lock is an
    ``flock`` on the Feast repository folder (no file, released when its holder ends),
    held for the read and the write, milliseconds: waited for up to ``wait_seconds``."""
    import fcntl
    import time

    from lifecycle.errors import UserError
    from lifecycle.storage import atomic_file
    from lifecycle.workspace_lock import holder

    repo.mkdir(parents=True, exist_ok=True)
    fd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"{repo / STORES_FILE}: being rewritten by {holder(repo)} for over "
                        f"{wait_seconds:.0f} s; nothing recorded: run this again"
                    ) from None
                time.sleep(0.02)
        stores = _recorded(repo)
        before = json.dumps(stores)
        yield stores
        if json.dumps(stores) != before:
            with atomic_file(repo / STORES_FILE) as staging:
                staging.write_text("".join(json.dumps(s, sort_keys=True) + "\n" for s in stores))
    finally:
        os.close(fd)  # releases the lock


def record_redis(repo: Path, connection: str, found_by: str = "") -> None:
    """Record that the dataset of Feast repository ``repo`` was materialized into the Redis
    of ``connection`` (its nodes and options, not its password nor timeouts: the settings
    give those), once
    a connection, with the first and last time: ``forget`` and ``datasets check`` reach it
    after the settings name another store. ``found_by``: not materialize, the command that
    reached it unrecorded (:func:`record_reached`); a recorded one is left as it is."""
    from datetime import UTC, datetime

    from features.redis_health import TIMEOUT_OPTIONS, address

    dropped = ("password", *TIMEOUT_OPTIONS)  # the settings give these when it is reached
    kept = ",".join(p for p in connection.split(",") if p.split("=")[0].strip() not in dropped)
    with _rewriting(repo) as stores:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        same = [s for s in stores if address(s["connection"]) == address(kept)]
        if same and found_by:
            return
        if same:
            stores[stores.index(same[0])] = {**same[0], "connection": kept, "last": now}
        else:
            stores.append({"store": "redis", "connection": kept, "first": now, "last": now})
            stores[-1].update({"found_by": found_by} if found_by else {})


def earlier_redis(settings: Settings, dataset: str) -> list[OnlineStore]:
    """The Redis stores the dataset was materialized into that the settings no longer name,
    each with settings naming it (a password its recorded connection lacks is not known)."""
    from features.redis_health import address

    feast = settings.feast
    now = address(feast.redis_connection) if feast.online_store == "redis" else None
    found = []
    for held in _recorded(settings.workspace.feast_repo(dataset)):
        if address(held["connection"]) == now:
            continue
        named = feast.model_copy(
            update={"online_store": "redis", "redis_connection": held["connection"]}
        )
        first, last = held["first"], held["last"]
        when = f"at {first}" if first == last else f"from {first} to {last}"
        if by := held.get("found_by"):  # written to before it was recorded
            when = f"before {first} (recorded when `{by}` reached it)"
            when += f" and up to {last}" if last != first else ""
        found.append(OnlineStore(settings.model_copy(update={"feast": named}), dataset, None, when))
    return found


def retire_everywhere(settings: Settings, where: str, force: bool) -> list[dict[str, Any]]:
    """:func:`retire_redis` of the Redis at ``where`` from every dataset whose record holds
    it (``retire-store --all-datasets``: one server held every dataset's project), asked
    once whether it answers; nothing retired when any record is refused. The log entries."""
    from features.redis_health import address
    from lifecycle.errors import UserError

    target, root = address(where), settings.workspace.feast_dir
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    records = {p.name: _recorded(p) for p in folders}  # every record read (a bad one refused)
    holding = [
        n for n, held in records.items() if any(address(s["connection"]) == target for s in held)
    ]
    if not holding:
        raise UserError(
            f"no dataset records a Redis at {target} in {root}/<dataset>/{STORES_FILE} "
            f"(records read: {', '.join(n for n in records if records[n]) or 'none'}); "
            "nothing retired"
        )
    entries: list[dict[str, Any]] = []
    for dataset in holding:
        why = entries[0]["retired_store"]["why"] if entries else None
        entries.append(retire_redis(settings, dataset, where, force, why))
    return entries


def retire_redis(
    settings: Settings, dataset: str, where: str, force: bool, why: str | None = None
) -> dict[str, Any]:
    """Remove the Redis at ``where`` (``host:port``) from the dataset's record of the stores
    it was materialized into (``lifecycle datasets retire-store``): one gone for good, its
    data with it. It must not answer (``force``: not asked; ``why``: asked already, the
    answer) nor be the settings' store. The retirement is appended to the erasure log (no
    ids): what it was, when recorded, why retired. Returns that entry."""
    from datetime import UTC, datetime

    from features import redis_health
    from features.erasure_log import append_entry
    from features.store import FeatureStoreError, StoreUnreachable
    from lifecycle.errors import UserError

    repo = settings.workspace.feast_repo(dataset)
    record, target = repo / STORES_FILE, redis_health.address(where)
    stores = _recorded(repo)
    if not any(redis_health.address(s["connection"]) == target for s in stores):
        held = ", ".join(redis_health.address(s["connection"]) for s in stores) or "none"
        raise UserError(
            f"{record}: no Redis at {target} recorded for dataset '{dataset}' (recorded: "
            f"{held}); nothing retired"
        )
    [store] = [s for s in earlier_redis(settings, dataset) if s.address == target] or [None]
    if store is None:
        raise UserError(
            f"the Redis at {target} is the online store the settings name "
            "(feast.redis_connection): name the store that replaces it there first; nothing "
            "retired"
        )
    if why is None and force:
        why = "--force: not asked whether it answers"
    if why is None:
        try:
            feast_store, keys = _redis_keys(store.settings, dataset, [c.USER_ID])
            redis_health.held(feast_store, keys)
        except StoreUnreachable as error:
            why = f"unreachable at {error.address} ({error.reason})"
        except FeatureStoreError as error:
            raise UserError(f"the Redis at {target}: {error}; nothing retired") from None
        else:
            raise UserError(
                f"the Redis at {target} answers: it may still hold dataset '{dataset}''s users "
                "and their mentions, which forget and datasets check reach while it is "
                "recorded; nothing retired (flushed or shut down for good: --force)"
            )
    with _rewriting(repo) as now:  # a line `datasets check` added meanwhile stays
        now[:] = [s for s in now if redis_health.address(s["connection"]) != target]
    entry = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": dataset,
        "users": 0,
        "user_hashes": [],
        "retired_store": {
            "place": store.named(settings.workspace.home),
            "materialized": store.earlier,
            "why": why,
        },
    }
    entry["log"] = str(append_entry(settings.workspace.home, entry))
    return entry


def record_reached(store: OnlineStore, by: str) -> None:
    """The Redis the settings name, just reached by ``by`` (``forget``, ``datasets
    check``), recorded if it is not (written to before the record began on 2026-12-07, or
    by Feast's own ``feast materialize``), so both reach it after the settings change."""
    if store.path is None and not store.earlier:
        repo = store.settings.workspace.feast_repo(store.dataset)
        record_redis(repo, store.settings.feast.redis_connection, found_by=by)


def unreached(store: OnlineStore, error: Any) -> str:
    """What ``forget`` says (and logs, no ids) of an earlier Redis it cannot reach: a
    ``StoreUnreachable``."""
    repo = store.settings.workspace.feast_repo(store.dataset)
    return (
        f"NOT erased: unreachable at {error.address} ({error.reason}); materialized "
        f"{store.earlier} under earlier settings, it may still hold the users' rows and "
        "mentions: start it and run forget again with the same ids (a password it needs: "
        "name it in feast.redis_connection for that run); gone for good, its data with it: "
        f"`lifecycle datasets retire-store {store.dataset} {error.address}` removes its line "
        f"from {repo / STORES_FILE}, logged"
    )


def forget_online(store: OnlineStore, ids: set[str]) -> int:
    """Delete the users' rows from the store: the (user, view) rows (Redis: the users'
    hashes) removed."""
    if not ids:  # no user asked here (`forget 3` of ids 00001..): the store is not opened
        return 0
    if store.path is None:
        from features import redis_health

        feast_store, keys = _redis_keys(store.settings, store.dataset, sorted(ids))
        return redis_health.erase(feast_store, keys)
    import sqlite3

    keys = entity_keys(c.USER_ID, sorted(ids), 3)  # the sqlite stores' key layout
    conn = sqlite3.connect(store.path)
    try:
        marks = ",".join("?" * len(keys))
        entities = 0
        with conn:  # one transaction: all tables or none
            for t in user_tables(conn, store.project):
                found = conn.execute(
                    f'SELECT COUNT(DISTINCT entity_key) FROM "{t}" WHERE entity_key IN ({marks})',
                    keys,
                ).fetchone()[0]
                conn.execute(f'DELETE FROM "{t}" WHERE entity_key IN ({marks})', keys)
                entities += found
        if entities:
            # Deleted rows linger in free pages, B-tree dividers and the write-ahead log:
            # rebuild the file and empty the log so the bytes are gone too.
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return entities


def rewrite_redis_files(store: OnlineStore) -> tuple[str, bool]:
    """A Redis ``forget`` changed, made to write its files on disk again without the users
    (``features.redis_files``): what was done, and whether it is confirmed."""
    from features.redis_files import rewrite_files
    from features.store import FeatureStoreError

    try:
        feast_store, _ = _redis_keys(store.settings, store.dataset, [])
        return rewrite_files(feast_store)
    except FeatureStoreError as error:  # gone since it was changed
        return f"NOT rewritten: {error}", False


def redact_online(store: OnlineStore, ids: set[str]) -> int:
    """The users' ids mentioned as whole tokens in other users' text features of the store (a
    users attribute ``referred_by``), redacted as the feature table they were materialized
    from is (``features.online_text``): the mentions redacted."""
    from features.online_text import redact

    return redact(store, ids) if ids else 0


def online_held(
    settings: Settings, name: str, ids: set[str], not_reached: dict[str, str]
) -> set[str]:
    """Of ``ids``, those one of the dataset's online stores holds a row of, read only; none
    when it was never materialized. A Redis of earlier settings that cannot be reached is
    put in ``not_reached`` (its name -> :func:`unreached`): it may hold any of them."""
    from features.erasure_places import online_stores

    ordered, held = sorted(ids), set()
    if not ordered:
        return set()
    for store in online_stores(settings, [name]):
        if store.path is None:
            from features import redis_health
            from features.store import StoreUnreachable

            feast_store, keys = _redis_keys(store.settings, name, ordered)
            try:
                found = redis_health.held(feast_store, keys)
            except StoreUnreachable as error:
                if not store.earlier:
                    raise
                # not known: an id held nowhere else is not said to be no user
                not_reached[store.named(settings.workspace.home)] = unreached(store, error)
                continue
            record_reached(store, "forget")
            held |= {u for u, hit in zip(ordered, found, strict=True) if hit}
            continue
        import sqlite3

        keys = entity_keys(c.USER_ID, ordered, 3)
        marks = ",".join("?" * len(keys))
        # read only: the file, its write-ahead log and index stay as they are
        conn = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            stored = {
                bytes(key)
                for t in user_tables(conn, store.project)
                for (key,) in conn.execute(
                    f'SELECT DISTINCT entity_key FROM "{t}" WHERE entity_key IN ({marks})', keys
                )
            }
        finally:
            conn.close()
        held |= {u for u, key in zip(ordered, keys, strict=True) if key in stored}
    return held


def user_tables(conn: Any, prefix: str) -> list[str]:
    """A SQLite store's tables of a project (``prefix``) keyed by entity: its views'."""
    return [
        t
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if t.startswith(f"{prefix}_")
        and any(col[1] == "entity_key" for col in conn.execute(f'PRAGMA table_info("{t}")'))
    ]


def _redis_keys(settings: Settings, name: str, user_ids: Sequence[str]) -> tuple[Any, list[bytes]]:
    """The dataset's Feast store, opened, and the users' Redis keys in it."""
    from features.feast_loader import load_feast
    from features.store import open_store

    load_feast()
    from feast.infra.online_stores.helpers import _redis_key

    feast_store = open_store(settings, name)
    config = feast_store.config
    keys = [
        _redis_key(config.project, key, config.entity_key_serialization_version)
        for key in _entity_protos(user_ids)
    ]
    return feast_store, keys


def _entity_protos(user_ids: Sequence[str]) -> list[Any]:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    return [
        EntityKeyProto(join_keys=[c.USER_ID], entity_values=[ValueProto(string_val=u)])
        for u in user_ids
    ]
