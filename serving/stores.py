"""The stores the scoring service reads, opened fresh and checked: the Feast store and the
MLflow registry.

A server keeps connections open for speed; a file deleted or replaced on disk is then not
seen (SQLite keeps reading the old file). Here: :func:`open_feature_store` opens the feature
store anew (``features.served_store``) and refuses one that cannot answer, :func:`reopen_registry` drops MLflow's pooled
connections so the registry on disk is read, and :func:`problem` is the cheap check every
request and ``/readyz`` run. Every refusal is a 503 naming the command that fixes it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.errors import ApiError

if TYPE_CHECKING:
    from features.served_store import ServedStore
    from lifecycle.settings import Settings

_MLFLOW_DB = "_lifecycle_mlflow_db"  # kept on the served store object: the registry file


def registry_database(settings: Settings) -> Path | None:
    """The MLflow registry's SQLite file; None for a tracking server or another database."""
    from lifecycle.registry import sqlite_database, tracking_uri

    return sqlite_database(tracking_uri(settings))


def registry_problem(settings: Settings) -> str | None:
    """Why the MLflow registry cannot be read, with what fixes it; None when it can."""
    database = registry_database(settings)
    if database is not None and not database.is_file():
        # MLflow would create an empty one on the next connection and serve "no models".
        return (
            f"no MLflow registry at {database} (nothing trained yet, or it was deleted): run "
            "`lifecycle train all` to register champions, or restore it, then POST /reload"
        )
    return None


def reopen_registry(settings: Settings) -> None:
    """Close MLflow's pooled connections to the registry database, so the next read opens
    the file now on disk (a replaced ``mlflow.db`` is otherwise read through the old one)."""
    from lifecycle.registry import tracking_uri

    if registry_database(settings) is None:
        return
    uri = tracking_uri(settings)
    problem = registry_problem(settings)
    if problem is not None:
        raise ApiError(503, problem)
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as Tracking

    for store_class in (Tracking, Registry):
        engine = store_class._engine_map.get(uri)  # MLflow keeps one engine per database URI
        if engine is not None:
            engine.dispose()  # the engine stays usable; its new connections open the file


def registry_aliases(
    settings: Settings, dataset: str, *, mirrored: bool = False
) -> dict[str, dict[str, str]]:
    """Task -> alias -> version of the dataset's registered models, read from the registry
    (``mirrored``: from its aliases mirror when there is one, see ``lifecycle.registry``)."""
    from lifecycle import registry
    from lifecycle.tasks import names

    problem = registry_problem(settings)
    # MLflow would create an empty registry and answer "no aliases". A starting server reads
    # none (``registry.reader``): it serves nothing, says why, and follows the first training.
    if problem is not None and not mirrored:
        raise ApiError(503, problem)
    source = registry.reader(settings, mirrored=mirrored)
    return {task: registry.aliases(source, registry.model_name(dataset, task)) for task in names()}


def open_feature_store(settings: Settings, dataset: str) -> ServedStore:
    """A newly opened store of the dataset (registry read from disk now: its mirror when
    fresh, else Feast's), or a 503 naming the command that fixes it."""
    from features.served_store import ServedStore
    from features.store import FeatureStoreError
    from features.store_health import APPLY, store_problem

    try:
        store = ServedStore(settings, dataset)  # reads the registry: a damaged one fails here
    except FeatureStoreError as error:
        raise ApiError(503, str(error)) from None
    except Exception as error:  # an unreadable registry (protobuf) or online store
        raise ApiError(503, f"the Feast store cannot be read ({error}): {APPLY}") from None
    reason = store_problem(store)
    if reason is not None:
        raise ApiError(503, reason)
    return store


def open_for_champions(settings: Settings, dataset: str, *, mirrored: bool = False) -> ServedStore:
    """:func:`open_feature_store`; when it refuses and no champion could read the store
    anyway (a feature its service asks for is gone, the service changed or vanished: a
    dataset that lost a column, then ``features apply``), the refusal says that first, as
    materializing alone would only lead to it."""
    try:
        return open_feature_store(settings, dataset)
    except ApiError as error:
        from lifecycle.tasks import names
        from serving.scoring import load_champions
        from serving.served_tasks import no_model_for

        if registry_problem(settings) is not None:  # reading it would create an empty one
            raise
        try:
            champions = load_champions(settings, dataset, mirrored=mirrored)
        except Exception:  # the registry cannot be read either: the store's refusal stands
            raise error from None
        unserved = no_model_for(champions, list(names()))
        if unserved is None or not champions.unserviced:
            raise
        raise ApiError(error.status, f"{unserved}; and {error.message}") from None


def problem(settings: Settings, store: Any, *, read: bool = False) -> str | None:
    """Why the served stores cannot answer now (``read``: look into the online tables too);
    a few ``stat`` calls without ``read``, as every request asks."""
    from features.store_health import store_problem

    database = store.__dict__.get(_MLFLOW_DB, "unknown")
    if database == "unknown":  # worked out once per opened store, not per request
        database = store.__dict__[_MLFLOW_DB] = registry_database(settings)
    gone = database is not None and not os.path.exists(database)
    return (registry_problem(settings) if gone else None) or store_problem(store, read=read)


class Readiness:
    """Why the service is not ready, for the ``/readyz`` answer (``ReadyReason``).

    BentoML's ``__is_ready__`` can only say yes or no, and its 503 says nothing useful; the
    service records the reason here and the middleware puts it in the answer. One per
    process, as the service instance and the middleware share nothing else.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.warnings: list[str] = []  # ready, but something to fix (stale batch scores)
        self.dataset: str | None = None  # served: a refresh reloads only its own dataset's

    def set(self, reason: str | None, warnings: list[str] | None = None) -> None:
        with self._lock:
            self.reason, self.warnings = reason, list(warnings or [])


READINESS = Readiness()


class ReadyReason:
    """ASGI middleware: ``/readyz``'s 503 says why, in the API's error shape (BentoML's says
    only that ``__is_ready__`` returned False); its 200 is ``{"status": "ready", "worker":
    n, "dataset": served, "warnings": [...]}`` (BentoML's is a blank line), the warnings
    naming what to fix, ``worker`` the number (1 to the workers started) of the worker that
    answered (each worker is ready for itself), never its process id, which an answer
    without a token would give away, and ``dataset`` the one served, which `lifecycle
    refresh --reload-url` checks."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").endswith("/readyz"):
            return await self.app(scope, receive, send)
        from starlette.responses import JSONResponse

        from serving.errors import error_response, send_response

        status: list[int] = []

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                if message["status"] not in (200, 503):
                    await send(message)
            elif not status or status[0] not in (200, 503):
                await send(message)
            elif message.get("more_body"):
                return
            elif status[0] == 200:
                from bentoml import server_context

                body = {
                    "status": "ready",
                    "worker": server_context.worker_index or 1,  # in process: the one
                    "dataset": READINESS.dataset,
                    "warnings": READINESS.warnings,
                }
                await send_response(send, JSONResponse(body))
            else:
                reason = READINESS.reason or "not ready"
                await send_response(send, error_response(503, f"not ready: {reason}"))

        await self.app(scope, receive, answer)
