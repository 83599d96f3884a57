"""The Feast feature store: one definition of the features that training and serving read.

The store of a dataset lives in ``$LIFECYCLE_HOME/feast/<dataset>`` (registry, online
store, and a generated ``feature_store.yaml`` so the ``feast`` CLI can inspect it). The
definitions are in :mod:`features.repo`. Training reads features with
:func:`historical_features`, serving with :func:`online_features`, both by feature
service name.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from features import contract as c
from features import redis_health, redis_writer
from features.asof import AS_OF
from features.feast_loader import load_feast
from features.registry_mirror import write_mirror
from features.store_health import discard_damaged_online_store, online_file, registry_file
from lifecycle import tasks
from lifecycle.dataset_kind import require_events
from lifecycle.errors import UserError
from lifecycle.sql import literal

if TYPE_CHECKING:
    from feast import FeatureStore

    from lifecycle.settings import Settings

ENTITY_TIMESTAMP = "event_timestamp"  # Feast's name for the entity rows' point in time


class FeatureStoreError(UserError):
    """The feature store cannot answer; the message says what to run or fix."""


class StoreUnreachable(FeatureStoreError):
    """A Redis online store that cannot answer: its ``address`` (``host:port``), ``reason``."""

    def __init__(self, message: str, address: str, reason: str) -> None:
        super().__init__(message)
        self.address, self.reason = address, reason


@dataclass(frozen=True)
class StorePaths:
    dataset: str
    repo: Path  # registry, online store, feature_store.yaml
    feature_table: Path

    @property
    def registry(self) -> Path:
        return self.repo / "registry.db"

    @property
    def online_db(self) -> Path:
        return self.repo / "online.db"

    @property
    def feature_table_in_repo(self) -> str:
        """The feature table's path relative to the repository, as the registry's file source
        holds it: a copied or moved workspace then reads (and Feast writes) its own table."""
        return os.path.relpath(self.feature_table.resolve(), self.repo.resolve())


def store_paths(settings: Settings, dataset: str | None = None) -> StorePaths:
    name = dataset or settings.dataset
    ws = settings.workspace
    return StorePaths(name, ws.feast_repo(name), ws.feature_table(name))


def project_name(dataset: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in dataset.lower())
    return f"lifecycle_{cleaned}"


OFFLINE_STORES = {
    "duckdb-asof": "features.offline_store.AsofDuckDBOfflineStore",
    # Feast's own (ibis) point-in-time join, for comparison; both resolve the registry's
    # relative feature table path against the repository (features.offline_store)
    "duckdb": "features.offline_store.LocatedDuckDBOfflineStore",
}


def online_store_config(settings: Settings, paths: StorePaths) -> dict[str, Any]:
    """The online store's Feast config; a file store's path is relative to the repository
    (Feast resolves it against ``repo_path``), so a copied workspace uses its own file."""
    store = settings.feast.online_store
    if store == "sqlite":
        return {
            "type": "features.online_store.UserRowSqliteOnlineStore",
            "path": paths.online_db.name,
        }
    if (
        store == "sqlite-feast"
    ):  # Feast's own SQLite store (a row per user and feature), for comparison
        return {"type": "sqlite", "path": paths.online_db.name}
    if store == "redis":
        connection = redis_health.connection_string(
            settings.feast.redis_connection, settings.feast.redis_timeout_seconds
        )
        return {"type": "redis", "connection_string": connection}
    raise FeatureStoreError(
        f"feast.online_store: unknown store {store!r}; expected sqlite or redis"
    )


def repo_config_dict(settings: Settings, paths: StorePaths) -> dict[str, Any]:
    """The Feast repository config, every path relative to the repository folder: ``feast``
    run in a copy of the workspace (``feast -c <copy>/feast/<dataset> apply``) then reads and
    writes the copy's registry and online store, never the original's."""
    return {
        "project": project_name(paths.dataset),
        "provider": "local",
        "registry": {
            "path": paths.registry.name,
            "cache_ttl_seconds": 60,
            # Feast marks views MATERIALIZING while it writes and refuses to serve them; a
            # killed materialize would leave them stuck unservable, and readers would fail
            # during every materialize. Rows are upserted in transactions, so the last
            # materialized values are always safe to serve.
            "serve_features_while_materializing": True,
        },
        "online_store": online_store_config(settings, paths),
        "offline_store": {"type": OFFLINE_STORES[settings.feast.offline_store]},
        "entity_key_serialization_version": 3,
    }


def open_store(
    settings: Settings,
    dataset: str | None = None,
    *,
    must_be_applied: bool = True,
    online_only: bool = False,
) -> FeatureStore:
    """A FeatureStore for the dataset; refuses (rather than creating an empty registry) if not
    applied. ``online_only``: without the offline store's imports (``features.online_only``)."""
    paths = store_paths(settings, dataset)
    if must_be_applied:
        _require_applied(paths)
    load_feast(settings.feast.typechecks)
    from feast import FeatureStore, RepoConfig

    config = repo_config_dict(settings, paths)
    if online_only:
        from features.online_only import ONLINE_ONLY

        config["offline_store"] = {"type": ONLINE_ONLY}
    repo = str(paths.repo.resolve())  # both: Feast resolves the registry against the store's
    store = FeatureStore(repo_path=repo, config=RepoConfig(repo_path=repo, **config))
    _require_readable_registry(store, paths)
    redis_health.bound_retries(store)
    if must_be_applied and not online_only:
        _require_own_feature_table(store, paths)
    return store


def _require_applied(paths: StorePaths) -> None:
    if not paths.registry.is_file():
        raise FeatureStoreError(
            f"no feature store for dataset '{paths.dataset}' at {paths.repo}: "
            f"run `lifecycle features apply --dataset {paths.dataset}` first "
            "(or `lifecycle refresh`, which takes a dataset through every step)"
        )


def _require_readable_registry(store: FeatureStore, paths: StorePaths) -> None:
    """Read the registry now (Feast reads it at first use): a damaged file is a protobuf
    DecodeError traceback in any command, wherever it is first read. Feast's own ``apply``
    reads it too, so the way back deletes it first. A registry not written yet stays Feast's
    to create, when it is first needed."""
    from google.protobuf.message import DecodeError

    if not paths.registry.is_file():
        return
    try:
        store.registry  # noqa: B018 (the property reads the file)
    except DecodeError as error:
        raise FeatureStoreError(
            f"the Feast registry {paths.registry} is damaged, Feast cannot read it ({error}): "
            f"delete it, then `lifecycle features apply --dataset {paths.dataset}` writes it "
            "again from the feature table"
        ) from None


def _require_own_feature_table(store: FeatureStore, paths: StorePaths) -> None:
    """Refuse a registry whose file sources read another feature table than this
    workspace's: one applied before paths were relative, then copied or moved, would read
    (and Feast would write) the original's. ``apply`` re-points it."""
    from feast.infra.offline_stores.file_source import FileSource

    own = paths.feature_table.resolve()
    sources = store.list_data_sources(allow_cache=True)
    sources += [view.batch_source for view in store.list_feature_views(allow_cache=True)]
    for source in sources:
        if not isinstance(source, FileSource):
            continue
        read = Path(FileSource.get_uri_for_file_path(store.config.repo_path, source.path))
        if read.resolve() != own:
            raise FeatureStoreError(
                f"the Feast registry {paths.registry} reads the feature table {read}, not this "
                f"workspace's {paths.feature_table} (applied before it was copied or moved): "
                f"run `lifecycle features apply --dataset {paths.dataset}`"
            )


def apply(
    settings: Settings, dataset: str | None = None, *, drop_champion_inputs: bool = False
) -> dict[str, Any]:
    """Register entity, sources, views and services for the dataset's feature table;
    refused, nothing changed, when the views would lack a feature a champion reads, unless
    ``drop_champion_inputs`` (``lifecycle.champion_inputs``)."""
    import yaml

    # Feast's first import in `features apply`, `run`, `refresh` and a backtest: without
    # load_feast it kept typeguard's checks, ~5 s of CPU at import and a check on every call
    load_feast(settings.feast.typechecks)
    from feast import FeatureView

    from features import repo

    paths = store_paths(settings, dataset)
    require_events(settings, paths.dataset, "features apply")
    if not paths.feature_table.is_file():
        raise FeatureStoreError(
            f"no feature table for dataset '{paths.dataset}' at {paths.feature_table}: "
            "run `lifecycle features build` first"
        )
    paths.repo.mkdir(parents=True, exist_ok=True)
    (paths.repo / "feature_store.yaml").write_text(
        "# Generated by `lifecycle features apply` from the settings; inspect with `feast -c <this folder> ...`\n"
        + yaml.safe_dump(repo_config_dict(settings, paths), sort_keys=False)
    )
    schema = pq.read_schema(paths.feature_table)
    store = open_store(settings, dataset, must_be_applied=False)
    existing = {s.name: service_refs(s) for s in store.list_feature_services()}
    objects = repo.definitions(
        paths.feature_table_in_repo,
        schema,
        ttl_days=settings.feast.ttl_days,
        existing_services=existing,
    )
    if not drop_champion_inputs:
        from lifecycle.champion_inputs import require_champion_inputs

        served = [f.name for o in objects if isinstance(o, FeatureView) for f in o.features]
        held = [f.name for view in store.list_feature_views() for f in view.features]
        require_champion_inputs(settings, paths.dataset, served, held, "features apply")
    with warnings_quiet():
        store.apply(objects)  # partial: services not in ``objects`` stay as they are
    write_mirror(settings, paths, store)  # what serving reads of it, without Feast
    current = {
        task: repo.current_service(task, repo.task_feature_refs(schema, task), existing)[0]
        for task in tasks.names()
    }
    return {
        "dataset": paths.dataset,
        "repo": str(paths.repo),
        "feature_views": sorted(v.name for v in store.list_feature_views()),
        "feature_services": sorted(s.name for s in store.list_feature_services()),
        "current_services": current,
        "new_services": sorted(name for name in current.values() if name not in existing),
    }


@contextlib.contextmanager
def warnings_quiet():
    """Feast prints progress bars and experimental-feature warnings; keep our output readable."""
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def service(store: FeatureStore, name: str) -> Any:
    """A feature service by name, kept on the store object: Feast rebuilds it from protobuf on
    every get (about 1 ms), and a server asks on every request. Safe to keep by name: a
    service version is never redefined (a changed feature set is a new name)."""
    from feast.errors import FeatureServiceNotFoundException

    services = store.__dict__.setdefault("_lifecycle_services", {})
    if name in services:
        return services[name]
    try:
        services[name] = store.get_feature_service(name, allow_cache=True)
        return services[name]
    except FeatureServiceNotFoundException:
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
        raise FeatureStoreError(
            f"unknown feature service {name!r}; this store has: {known}"
        ) from None


def any_service(store: FeatureStore) -> str:
    """A service to look users up by when no model asks for features (versions come and go,
    so none is named here); refuses an empty registry."""
    names = sorted(s.name for s in store.list_feature_services())
    if not names:
        raise FeatureStoreError(
            f"the Feast registry {registry_file(store)} has no feature service: "
            "run `lifecycle features apply`"
        )
    return names[0]


def service_refs(feature_service: Any) -> frozenset[str]:
    """A Feast service's features as ``view:feature`` references (its identity as a version)."""
    from features.repo import feature_ref

    return frozenset(
        feature_ref(projection.name, feature.name)
        for projection in feature_service.feature_view_projections
        for feature in projection.features
    )


def task_service(store: FeatureStore, paths: StorePaths, task: str) -> str:
    """The task's service holding exactly the feature table's current features (what a new
    model trains on); refuses when ``apply`` has not run since the features changed."""
    from features import repo

    wanted = repo.task_feature_refs(pq.read_schema(paths.feature_table), task)
    existing = {s.name: service_refs(s) for s in store.list_feature_services()}
    name, new = repo.current_service(task, wanted, existing)
    if new:
        held = set().union(*(existing[n] for n in repo.service_versions(task, existing).values()))
        added = sorted(ref for ref in wanted - held)
        raise FeatureStoreError(
            f"no {task} feature service of dataset '{paths.dataset}' holds the features of "
            f"{paths.feature_table}"
            + (f" (not in any {task} service: {', '.join(added[:5])})" if added else "")
            + ": run `lifecycle features apply`"
        )
    return name


def service_features(store: FeatureStore, name: str) -> list[str]:
    """The feature names a service returns, in order (what a model trained on it expects)."""
    names: list[str] = []
    for projection in service(store, name).feature_view_projections:
        names += [f.name for f in projection.features]
    return names


@dataclass
class Retrieved:
    """Features for entity rows; every input row is here, in input order."""

    frame: pd.DataFrame
    feature_names: list[str]
    missing: int  # rows with no feature row at their point in time (all features null)


# Feast's ValueError when a feature service names a feature its view no longer has
_LOST_FEATURE = re.compile(
    r"projection for (?P<view>\S+) cannot be applied because it contains (?P<feature>\S+) which"
)


@contextlib.contextmanager
def naming_lost_features(service_name: str) -> Iterator[None]:
    """Feast's ValueError for a service naming a feature its view no longer has (a traceback)
    as the one line the row store says it in (``registry_mirror.lost_feature``)."""
    try:
        yield
    except ValueError as error:
        lost = _LOST_FEATURE.search(str(error))
        if lost is None:
            raise
        from features.registry_mirror import lost_feature

        raise FeatureStoreError(lost_feature(service_name, lost["view"], lost["feature"])) from None


def historical_features(
    store: FeatureStore, entity_rows: pd.DataFrame, service_name: str
) -> Retrieved:
    """Point-in-time features for (user_id, as_of) rows through the feature service.

    Feast may drop or reorder entity rows (seen with its file offline store), so the
    result is joined back onto the input: no row vanishes, missing features are null.
    """
    if entity_rows.empty:
        raise FeatureStoreError("no entity rows to retrieve features for")
    feature_service = service(store, service_name)
    names = service_features(store, service_name)
    keys = entity_rows[[c.USER_ID, AS_OF]]
    unique = not keys.duplicated().any()
    if not unique:
        keys = keys.drop_duplicates()
    request = keys.rename(columns={AS_OF: ENTITY_TIMESTAMP})
    with naming_lost_features(service_name), warnings_quiet():
        result = store.get_historical_features(
            entity_df=request, features=feature_service
        ).to_arrow()
    if unique and _in_entity_order(result, entity_rows):
        # Came back row for row (our ASOF offline store keeps entity order): no join needed.
        features = result.select(names).to_pandas()
        base = (
            entity_rows
            if isinstance(entity_rows.index, pd.RangeIndex)
            else entity_rows.reset_index(drop=True)
        )
        joined = pd.concat([base, features.set_axis(base.index, copy=False)], axis=1, copy=False)
    else:
        frame = result.select([c.USER_ID, ENTITY_TIMESTAMP, *names]).to_pandas()
        stamps = pd.to_datetime(frame.pop(ENTITY_TIMESTAMP), utc=True)
        frame[AS_OF] = stamps.astype("datetime64[us, UTC]")
        joined = entity_rows.merge(frame, on=[c.USER_ID, AS_OF], how="left", validate="many_to_one")
        features = joined[names]
    missing = int(features.isna().all(axis=1).sum()) if names else 0
    return Retrieved(frame=joined, feature_names=names, missing=missing)


def _in_entity_order(result: Any, entity_rows: pd.DataFrame) -> bool:
    """Whether an Arrow result has the entity rows' (user_id, as_of) keys, in their order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if result.num_rows != len(entity_rows):
        return False
    users = pa.array(entity_rows[c.USER_ID].to_numpy(), type=pa.string())
    if not pc.all(pc.equal(result[c.USER_ID].cast(pa.string()), users)).as_py():
        return False
    micros = pd.to_datetime(entity_rows[AS_OF], utc=True).astype("datetime64[us, UTC]")
    times = pa.array(micros.values.view("int64"), type=pa.int64())
    stamps = result[ENTITY_TIMESTAMP].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return bool(pc.all(pc.equal(stamps, times)).as_py())


def latest_feature_rows(paths: StorePaths) -> pd.DataFrame:
    """The newest feature row of every user: what the online store should hold."""
    import duckdb

    return duckdb.sql(
        f"SELECT * FROM read_parquet({literal(paths.feature_table)}) QUALIFY row_number() OVER (PARTITION BY {c.USER_ID} ORDER BY {AS_OF} DESC) = 1"
    ).df()


def materialize(settings: Settings, dataset: str | None = None) -> dict[str, Any]:
    """Load every user's latest feature row into the online store.

    Our SQLite store takes the rows as a frame (:meth:`UserRowSqliteOnlineStore.write_frames`)
    and the registry records the interval as Feast's ``materialize`` would; other stores
    go through ``FeatureStore.materialize`` (a protobuf per user and feature).
    """
    import sqlite3

    from lifecycle import lineage

    paths = store_paths(settings, dataset)
    table = lineage.require_current_features(settings, paths.dataset, "materialize")
    _require_applied(paths)  # apply below re-points a registry applied elsewhere
    damage = None
    if settings.feast.online_store in ("sqlite", "sqlite-feast"):
        # derived data: a damaged file is rebuilt whole, not patched (apply re-creates tables)
        damage = discard_damaged_online_store(paths.online_db)
    started = datetime.now(UTC)
    latest = latest_feature_rows(paths)
    as_of = pd.to_datetime(latest[AS_OF], utc=True)
    start = as_of.min().to_pydatetime()
    end = as_of.max().to_pydatetime() + pd.Timedelta(seconds=1)
    redis = settings.feast.online_store == "redis"
    reaching = (
        redis_health.reaching(settings.feast.redis_connection, paths.dataset)
        if redis
        else contextlib.nullcontext()
    )
    try:
        # idempotent; re-creates online tables if the store was deleted or switched
        with reaching:  # a Redis down: one line naming it, not Feast's traceback
            apply(settings, dataset)
            store = open_store(settings, dataset)
            online = _row_store(store)
            if online is None and not redis:
                with warnings_quiet():
                    store.materialize(start_date=start, end_date=end)
            else:  # every view of a user at once: a read finds the user of one table
                views = store.list_feature_views()
                if redis:
                    redis_writer.write_frame(store, views, latest)
                else:
                    online.write_frames(store.config, views, latest, AS_OF)
                for view in views:
                    store.registry.apply_materialization(view, store.project, start, end)
        write_mirror(settings, paths, store)  # the registry file changed: so does its hash
    except sqlite3.DatabaseError as error:
        if "readonly" in str(error):
            raise OSError(errno.EROFS, str(error), str(paths.repo)) from None
        # the registry is a protobuf file: a SQLite error is the online store's (damage that
        # the check before did not see)
        raise FeatureStoreError(
            f"the online store {paths.online_db} is damaged ({error}): delete it and run "
            "`lifecycle features materialize` again (it rebuilds it from the feature table)"
        ) from None
    # The online store now holds this feature table: `refresh` and `/readyz` compare it.
    held = lineage.record(
        lineage.online_store_lineage(settings, paths.dataset),
        {
            "feature_table": table.get("id", ""),
            "dataset_version": table.get("dataset_version", ""),
            "feature_services": sorted(s.name for s in store.list_feature_services()),
            "latest_as_of": str(as_of.max()),
        },
    )
    if redis:  # a server emptied later is then seen (features.redis_health)
        redis_health.write_held(store, held, users=len(latest))
    return {
        "dataset": paths.dataset,
        "users": len(latest),
        "latest_as_of": str(as_of.max()),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 2),
        **({"rebuilt_damaged_store": damage} if damage else {}),
    }


def _row_store(store: FeatureStore) -> Any:
    """The store's online store when it is our one-row-per-user SQLite store, else None."""
    from features.online_store import UserRowSqliteOnlineStore

    online = store._get_provider().online_store  # Feast exposes no public accessor
    return online if isinstance(online, UserRowSqliteOnlineStore) else None


@dataclass
class Online:
    frame: pd.DataFrame  # one row per requested user, in request order
    found: pd.Series  # bool per row: the user has a row in the online store


def online_features(store: FeatureStore, user_ids: list[str], service_name: str) -> Online:
    """Features of users from the online store; unknown users come back with ``found`` False.

    Columns: ``user_id``, then the service's features. From our SQLite store the text
    features come first and numbers are float64; Feast's path keeps Feast's order.
    """
    online = _row_store(store)
    if online is not None:
        return _online_rows(store, online, [str(u) for u in user_ids], service_name)
    feature_service = service(store, service_name)
    rows = [{c.USER_ID: str(u)} for u in user_ids]
    # answering: Feast's SQLite store's errors said as the Redis path's
    with redis_health.reaching_store(store), naming_lost_features(service_name), answering(store):
        response = store.get_online_features(features=feature_service, entity_rows=rows)
    data = response.to_dict(include_event_timestamps=True)
    frame = pd.DataFrame({k: v for k, v in data.items() if not k.endswith("__ts")})
    stamps = [v for k, v in data.items() if k.endswith("__ts") and k != f"{c.USER_ID}__ts"]
    found = pd.Series([any(ts[i] for ts in stamps) for i in range(len(rows))], dtype=bool)
    if redis_health.is_redis(store):  # emptied, or written view by view: refused, not scored
        redis_health.check_answer(store, [str(u) for u in user_ids], stamps, found.tolist())
    return Online(frame=frame, found=found)


def _read_plan(store: FeatureStore, service_name: str) -> Any:
    """The service's views and features as an online-store read, resolved once per store."""
    from features.registry_mirror import FeatureRegistry

    plans = store.__dict__.setdefault("_lifecycle_read_plans", {})
    if service_name not in plans:
        registry = FeatureRegistry.of_store(store)
        plans[service_name] = registry.read_plan(service_name, c.USER_ID)
    return plans[service_name]


def _online_rows(
    store: FeatureStore, online: Any, user_ids: list[str], service_name: str
) -> Online:
    plan = _read_plan(store, service_name)
    with answering(store):
        frame, found = online.read_frame(store.config, plan, user_ids)
    return Online(frame=frame, found=pd.Series(found, copy=False))


@contextlib.contextmanager
def answering(store: FeatureStore) -> Iterator[None]:
    """A SQLite online store's table deleted, never filled or damaged on disk, as a
    :class:`FeatureStoreError` naming its file."""
    import sqlite3

    try:
        yield
    except sqlite3.DatabaseError as error:
        raise FeatureStoreError(
            f"the online store {online_file(store)} cannot answer ({error}): "
            "run `lifecycle features materialize`"
        ) from None
