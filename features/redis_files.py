"""A Redis's files on disk after ``forget`` changed it.

Deleting a user's hashes (and redacting mentions) changes the server's memory only. A Redis
that persists keeps them on disk: its snapshot (``dump.rdb``) holds the rows as they were
at the last save, until the next one (``save 3600 1``: up to an hour), and is loaded again if
the server restarts before it, the users back in the online store; its append-only file
holds every command that wrote them until it is rewritten (which a small change never
triggers). A SQLite store is rebuilt and its log emptied for the same reason
(``features.erasure_online.forget_online``). So after ``forget`` changes a Redis,
:func:`rewrite_files` has it write both again now and waits for them: ``BGREWRITEAOF``
where its append-only file is on, ``BGSAVE`` where it snapshots (``save`` set) or has
written or loaded a snapshot since it started; nothing where it persists nothing. A
server that refuses the commands (a managed Redis renames them) or does not finish in time
is said, never passed over.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

WAIT_SECONDS = 120.0  # a rewrite of a large store; past it, said as not confirmed
NONE = "none to rewrite (it keeps no snapshot nor append-only file)"


def rewrite_files(store: FeatureStore, wait_seconds: float = WAIT_SECONDS) -> tuple[str, bool]:
    """Have the Redis of the opened Feast ``store`` write its files again without what was
    just erased, waiting up to ``wait_seconds``. (what was done, whether it is confirmed)."""
    from redis.exceptions import RedisError, ResponseError

    from features.redis_health import _client, reaching_store

    client = _client(store)
    with reaching_store(store):
        try:
            return _rewrite(client, wait_seconds, ResponseError)
        except RedisError as error:  # a reply refused (ResponseError: a renamed command)
            return f"NOT rewritten: {error}", False


def _rewrite(client: Any, wait_seconds: float, refused: type[Exception]) -> tuple[str, bool]:
    info = client.info("persistence")
    try:
        snapshots = bool(client.config_get("save").get("save"))
    except refused:  # CONFIG renamed away: whether it snapshots is not known, so it is asked
        snapshots = True
    loaded = info.get("rdb_last_load_keys_loaded", 0)
    snapshots = snapshots or info.get("rdb_saves", 0) > 0 or loaded > 0
    aof = bool(info.get("aof_enabled"))
    if not (snapshots or aof):
        return NONE, True
    deadline = time.monotonic() + wait_seconds
    done = []
    if aof:
        before = info.get("aof_rewrites")
        client.bgrewriteaof()  # scheduled by the server itself while a snapshot is written
        if not _waited(client, deadline, _aof_done(before)):
            return _late(wait_seconds, "its append-only file"), False
        done.append("append-only file rewritten")
    if snapshots:
        # a snapshot begun before the erasure holds the users: waited for, then one more
        if not _waited(client, deadline, lambda i: not i["rdb_bgsave_in_progress"]):
            return _late(wait_seconds, "a snapshot it was writing"), False
        before = client.info("persistence").get("rdb_saves")
        client.bgsave(schedule=True)
        if not _waited(client, deadline, _rdb_done(before)):
            return _late(wait_seconds, "its snapshot"), False
        done.append("snapshot written")
    failed = [
        name
        for name, key in (
            ("snapshot", "rdb_last_bgsave_status"),
            ("rewrite", "aof_last_bgrewrite_status"),
        )
        if client.info("persistence").get(key, "ok") != "ok"
    ]
    if failed:
        return f"NOT rewritten: its {' and '.join(failed)} failed (see the server's log)", False
    return ", ".join(done), True


def _aof_done(before: int | None) -> Any:
    def done(info: dict[str, Any]) -> bool:
        idle = not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]
        return idle and (before is None or info.get("aof_rewrites", 0) > before)

    return done


def _rdb_done(before: int | None) -> Any:
    def done(info: dict[str, Any]) -> bool:
        idle = not info["rdb_bgsave_in_progress"]
        return idle and (before is None or info.get("rdb_saves", 0) > before)

    return done


def _waited(client: Any, deadline: float, done: Any) -> bool:
    """Whether ``done`` (of the server's persistence info) came true before ``deadline``."""
    while not done(client.info("persistence")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _late(seconds: float, what: str) -> str:
    return (
        f"NOT confirmed: {what} not written within {seconds:.0f} s; the files may still "
        "hold the users: once it is done, run BGREWRITEAOF and BGSAVE on the server"
    )
