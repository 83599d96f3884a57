"""The feature store as the scoring service reads it, opened once per load.

What serving reads of the Feast registry (:class:`~features.registry_mirror.FeatureRegistry`)
comes from the registry's mirror while it is fresh, else from Feast. The rows of our SQLite
row store are read with :mod:`features.online_rows`, without Feast; any other online store
(Redis, Feast's own SQLite layout) through a Feast store, opened then. So a server on the
default store starts without importing Feast.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.online_rows import ReadPlan, connect, entity_keys, select_rows
from features.registry_mirror import FeatureRegistry, fresh_mirror
from features.store_health import MATERIALIZE

if TYPE_CHECKING:
    from feast import FeatureStore

    from features.store import StorePaths
    from lifecycle.settings import Settings

ROW_STORE = "sqlite"  # feast.online_store: ours (features.online_store), read here directly


def identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode): another one when the file is replaced; None when absent."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def served_registry(settings: Settings, dataset: str) -> tuple[FeatureRegistry, Path]:
    """The dataset's registry as serving reads it and its file: the mirror when fresh, else
    read from an online-only Feast store; refuses an unapplied store (``FeatureStoreError``)."""
    from features.store import _require_applied, open_store, store_paths

    paths = store_paths(settings, dataset)
    _require_applied(paths)
    return _registry(paths, settings, lambda: open_store(settings, dataset, online_only=True))


def _registry(
    paths: StorePaths, settings: Settings, feast: Callable[[], FeatureStore]
) -> tuple[FeatureRegistry, Path]:
    """The registry of an applied store: its mirror when fresh, else read from ``feast()``."""
    registry = fresh_mirror(settings, paths)
    if registry is None:
        registry = FeatureRegistry.of_store(feast())
    return registry, paths.repo.resolve() / paths.registry.name


class ServedStore:
    """A dataset's registry (as serving reads it), files and online rows, opened once."""

    def __init__(self, settings: Settings, dataset: str) -> None:
        """Open it: the files' identities first (a later replacement is then seen), then the
        registry from its mirror when fresh, else from Feast; refuses an unapplied store
        (``FeatureStoreError``)."""
        from features.store import _require_applied, repo_config_dict, store_paths

        self.settings, self.dataset = settings, dataset
        paths = store_paths(settings, dataset)
        _require_applied(paths)
        repo = paths.repo.resolve()  # as Feast resolves the files: against the repository
        config = repo_config_dict(settings, paths)
        online = config["online_store"]
        self.version: int = config["entity_key_serialization_version"]
        self.online_file: Path | None = repo / online["path"] if "path" in online else None
        self.row_store = settings.feast.online_store == ROW_STORE
        self.files = [("registry", repo / paths.registry.name, identity(paths.registry))]
        if self.online_file is not None:
            self.files.append(("online", self.online_file, identity(self.online_file)))
        self._feast: FeatureStore | None = None
        self.registry, self.registry_file = _registry(paths, settings, lambda: self.feast)
        self.mirrored = self._feast is None  # its registry read from the mirror, not Feast
        if not self.row_store:
            self.feast  # noqa: B018 - read through Feast: opened now, not on the first request
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._plans: dict[str, ReadPlan] = {}
        self._selects: dict[Any, str] = {}
        if self.row_store and self.online_file is not None and self.online_file.is_file():
            self._connection()  # connect now, to the file opened; never create an empty one

    @property
    def feast(self) -> FeatureStore:
        """The Feast store (online reads only), opened on first use: the fallback."""
        if self._feast is None:
            from features.store import open_store

            self._feast = open_store(self.settings, self.dataset, online_only=True)
        return self._feast

    def _connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                assert self.online_file is not None
                self._conn = connect(self.online_file)
            return self._conn

    def any_service(self) -> str:
        """A service to look users up by when no model asks for features; refuses an empty
        registry."""
        from features.store import FeatureStoreError

        names = self.registry.service_names()
        if not names:
            raise FeatureStoreError(
                f"the Feast registry {self.registry_file} has no feature service: "
                "run `lifecycle features apply`"
            )
        return names[0]

    def read_plan(self, service: str) -> ReadPlan:
        """Where the service's features sit in a row of :meth:`read`, resolved once."""
        plan = self._plans.get(service)
        if plan is None:
            from features import contract as c

            plan = self._plans[service] = self.registry.read_plan(service, c.USER_ID)
        return plan

    def keys(self, plan: ReadPlan, user_ids: list[str]) -> list[bytes]:
        return entity_keys(plan.text_names[0], user_ids, self.version)

    def read(self, plan: ReadPlan, keys: list[bytes]) -> list[tuple[Any, ...]]:
        """The row store's rows of ``keys``, one per key in order."""
        from features.store import FeatureStoreError

        try:
            return select_rows(self._connection(), plan.tables, keys, self._selects)
        except sqlite3.DatabaseError as error:  # deleted, never filled, or damaged on disk
            raise FeatureStoreError(
                f"the online store {self.online_file} cannot answer ({error}): {MATERIALIZE}"
            ) from None

    def rows(
        self, user_ids: list[str], service: str
    ) -> tuple[ReadPlan, list[tuple[Any, ...]]] | None:
        """The raw online rows of users, one per id in order, and the plan that says where
        each feature and event time sits in them; None when the online store is not our row
        store (then Feast's frame answers, ``features.store.online_features``)."""
        if not self.row_store:
            return None
        plan = self.read_plan(service)
        return plan, self.read(plan, self.keys(plan, user_ids))
