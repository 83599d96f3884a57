"""An offline store for processes that only read the online store (the scoring service).

Feast validates the repo config's offline store when a ``FeatureStore`` is opened, which
imports its module: for DuckDB that is ibis and Feast's DuckDB store, 0.2 s of a server
start for code the server never runs. ``open_store(..., online_only=True)`` names this
store instead; anything that asks it for offline features gets a clear error.
"""

from __future__ import annotations

from typing import Any, Literal

from features.feast_loader import load_feast

load_feast()  # before Feast's modules: they import without its slow type checks

from feast.infra.offline_stores.offline_store import OfflineStore
from feast.repo_config import FeastConfigBaseModel

ONLINE_ONLY = "features.online_only.OnlineOnlyOfflineStore"


class OnlineOnlyOfflineStoreConfig(FeastConfigBaseModel):
    type: Literal["features.online_only.OnlineOnlyOfflineStore"] = ONLINE_ONLY


class OnlineOnlyOfflineStore(OfflineStore):
    """Refuses every offline read: this store was opened for online reads only."""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return super().__getattribute__(name)
        raise RuntimeError(
            f"offline store call {name!r} on a feature store opened online-only "
            "(features.store.open_store(..., online_only=True))"
        )
