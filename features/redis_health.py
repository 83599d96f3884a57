"""Whether a Redis online store holds the features materialized into it, and can be reached.

Redis is a server, not a file: restarted without persistence or flushed, it is empty while
every file of the workspace says it was materialized, and Feast then answers every user
not-found (``unknown_user``: wrong, not cold). So ``features materialize`` writes the online
store's lineage into the store itself (:func:`write_held`, one key per Feast project) and the
checks read it back (:func:`held_problem`, one round trip): no key, no features. A Redis that cannot be
reached is a :class:`~features.store.FeatureStoreError` naming it, never a traceback, and
within ``feast.redis_timeout_seconds`` (:func:`connection_string`, :func:`bound_retries`).

A store can also lose part of its keys (evicted under ``maxmemory``, or deleted) while the
key above stays: materialize also counts the users it wrote (a hash, :data:`USERS_KEY`, a
field per dataset, lowered by ``forget``), and the check compares their sum with ``DBSIZE``
in the same round trip.

``features materialize`` writes all of a user's views in one command
(:mod:`features.redis_writer`), so a user read while it writes is wholly of one feature
table. A store written view by view (Feast's own ``feast materialize``) and stopped part way
holds users whose views carry different event times or are partly absent (a feature table's
views share each user's event time): :func:`check_answer` refuses them, never answering
from two tables. Users whose views agree need no extra round trip.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

    from lifecycle.settings import Settings

HELD_KEY = "lifecycle:online_store:{project}"  # beside Feast's keys (entity key + project)
USERS_KEY = "lifecycle:online_store_users"  # dataset -> users (Feast keys) materialize wrote
TIMEOUT_OPTIONS = ("socket_connect_timeout", "socket_timeout")  # redis-py's, in seconds
RETRIES = 1  # a command tried again once, at once: at most twice the timeout in all


def is_redis(store: FeatureStore) -> bool:
    return str(getattr(store.config.online_store, "type", "")) == "redis"


def _dataset(store: FeatureStore) -> str:
    return Path(store.config.repo_path).name  # the repository is ``feast/<dataset>``


def address(connection: str) -> str:
    """The Redis nodes of a connection string (``host:port``), without its options (a
    password among them)."""
    return ",".join(part for part in connection.split(",") if "=" not in part)


def connection_string(connection: str, seconds: float) -> str:
    """Feast's connection string with redis-py's connect and reply timeouts at ``seconds``
    (``feast.redis_timeout_seconds``) where it sets none (Feast passes its options to
    redis-py): a host that drops packets held each command for a minute of redis-py's
    retries, hanging ``/score``, ``/readyz`` and ``materialize``."""
    given = {part.split("=", 1)[0].strip() for part in connection.split(",") if "=" in part}
    return ",".join([connection, *(f"{o}={seconds:g}" for o in TIMEOUT_OPTIONS if o not in given)])


def bound_retries(store: FeatureStore) -> None:
    """Feast's client of a Redis store tries a failed command again once, at once (redis-py's
    default: 3 more times, backing off up to 10 s), so a timeout is one within twice it."""
    if not is_redis(store):
        return
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    _client(store).set_retry(Retry(NoBackoff(), RETRIES))


def materialize_hint(dataset: str) -> str:
    return f"run `lifecycle features materialize --dataset {dataset}`"


@contextlib.contextmanager
def reaching(connection: str, dataset: str) -> Iterator[None]:
    """Turn a Redis error within into a ``FeatureStoreError`` naming the server
    (``feast.redis_connection``) and the way on."""
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeout

    from features.store import StoreUnreachable

    try:
        yield
    except RedisError as error:
        waited = ", twice feast.redis_timeout_seconds" if isinstance(error, RedisTimeout) else ""
        reason = f"{' '.join(str(error).split())}{waited}"
        raise StoreUnreachable(
            f"the online store Redis at {address(connection)} (feast.redis_connection) cannot "
            f"answer ({reason}): start it or correct "
            f"feast.redis_connection; once it answers, {materialize_hint(dataset)} if it lost "
            "its data",
            address(connection),
            reason,
        ) from None


def reaching_store(store: FeatureStore) -> contextlib.AbstractContextManager[None]:
    """:func:`reaching` for an opened Feast store; nothing for another online store."""
    if not is_redis(store):
        return contextlib.nullcontext()
    return reaching(str(store.config.online_store.connection_string), _dataset(store))


def _client(store: FeatureStore) -> Any:
    """Feast's own client of the store (its connection pool, kept on the store)."""
    online = store._get_provider().online_store  # Feast exposes no public accessor
    return online._get_client(store.config.online_store)


def write_held(store: FeatureStore, lineage: dict[str, Any], users: int) -> None:
    """Record in the store the lineage of what was just materialized into it, and the
    number of users (Feast keys) written."""
    with reaching_store(store):
        key = HELD_KEY.format(project=store.config.project)
        writes = _client(store).pipeline(transaction=False)
        writes.set(key, json.dumps(lineage, sort_keys=True, default=str))
        writes.hset(USERS_KEY, _dataset(store), users)
        writes.execute()
    from features.erasure_online import record_redis

    record_redis(Path(store.config.repo_path), str(store.config.online_store.connection_string))


def check_answer(
    store: FeatureStore, user_ids: list[str], stamps: Sequence[Sequence[int]], found: list[bool]
) -> None:
    """Refuse (``FeatureStoreError``) an online answer that would be wrong: users not found in
    an emptied store (:func:`held_problem`), or users whose views, by ``stamps`` (each
    feature's event times in seconds, 0 when absent), are of two materializations."""
    from features.store import FeatureStoreError

    torn = [i for i, hit in enumerate(found) if hit and len({ts[i] for ts in stamps}) > 1]
    if not torn and all(found):
        return
    problem = held_problem(store)  # not new users: an emptied server answers every one not-found
    if problem is None and torn:
        problem = _torn_problem(store, [user_ids[i] for i in torn])
    if problem:
        raise FeatureStoreError(problem)


def _torn_problem(store: FeatureStore, users: list[str]) -> str:
    """Why users whose views are part of one feature table, part of another, are refused."""
    dataset = _dataset(store)
    named = ", ".join(users[:3]) + (f" and {len(users) - 3:,} more" if len(users) > 3 else "")
    return (
        f"the online store Redis at {address(str(store.config.online_store.connection_string))} "
        f"holds the features of user(s) {named} part from one feature table, part from another "
        f"(written view by view, as Feast's own `feast materialize` does, and stopped part way "
        f"or still writing): {materialize_hint(dataset)}"
    )


def erase(store: FeatureStore, keys: list[bytes]) -> int:
    """Delete users' Feast keys; the count materialize wrote is lowered by those removed, so
    an erasure is no loss to :func:`held_problem`. Returns how many were removed."""
    if not keys:
        return 0
    client, dataset = _client(store), _dataset(store)
    with reaching_store(store):
        removed = int(client.delete(*keys))
        if removed and client.hexists(USERS_KEY, dataset):
            client.hincrby(USERS_KEY, dataset, -removed)
    return removed


def held(store: FeatureStore, keys: list[bytes]) -> list[bool]:
    """Whether the store holds each of users' Feast ``keys`` (read only: ``forget`` asks
    whether an id no table holds is still a user here)."""
    if not keys:
        return []
    client = _client(store)
    with reaching_store(store):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(n) for n in pipe.execute()]


def _lost(written: dict[bytes, bytes], keys: int) -> str | None:
    """What the store lost, when it holds fewer keys than the materializations counted in
    ``written`` left there (their users, each dataset's lineage key and the count itself);
    None when it holds as many or more (keys of other applications, users no longer
    materialized). A store materialized before the count has none: nothing is compared."""
    users = {name.decode(): int(count) for name, count in written.items()}
    expected = sum(users.values()) + len(users) + 1
    if not users or keys >= expected:
        return None
    counted = ", ".join(f"{count:,} users of '{name}'" for name, count in sorted(users.items()))
    fix = "; ".join(materialize_hint(name) for name in sorted(users))
    return (
        f"holds {keys:,} keys, {expected - keys:,} fewer than materialize left there "
        f"({counted}; evicted under maxmemory or deleted since): known users would be answered "
        f"as new; {fix}"
    )


def held_problem(store: FeatureStore, feature_table: str | None = None) -> str | None:
    """Why the Redis store cannot answer (empty, unreachable, short of keys, or with
    ``feature_table``: it holds another one), with what fixes it; None when it holds a
    materialization (of it). One round trip: ``GET``, ``HGETALL``, ``DBSIZE``."""
    from features.store import FeatureStoreError

    try:
        with reaching_store(store):
            reads = _client(store).pipeline(transaction=False)
            reads.get(HELD_KEY.format(project=store.config.project))
            reads.hgetall(USERS_KEY)
            reads.dbsize()
            found, written, keys = reads.execute()
    except FeatureStoreError as error:
        return str(error)
    where = f"the online store Redis at {address(str(store.config.online_store.connection_string))}"
    dataset = _dataset(store)
    if found is None:
        return (
            f"{where} holds no features of dataset '{dataset}' (restarted empty or flushed "
            f"since they were materialized): {materialize_hint(dataset)}"
        )
    if feature_table is not None and json.loads(found).get("feature_table") != feature_table:
        return f"{where} holds an older feature table of dataset '{dataset}'"
    lost = _lost(written, int(keys))
    return f"{where} {lost}" if lost else None


def dataset_problem(settings: Settings, dataset: str, feature_table: str) -> str | None:
    """:func:`held_problem` of the dataset's store as the settings name it (``refresh`` asks
    the store, not only the workspace's record of what was materialized)."""
    from features.store import FeatureStoreError, open_store

    try:
        store = open_store(settings, dataset, online_only=True)
    except FeatureStoreError as error:  # not applied: the step that materializes applies
        return str(error)
    return held_problem(store, feature_table)
