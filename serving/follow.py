"""Every worker of the service on the champions of the registry's aliases mirror.

``POST /promote`` and ``POST /reload`` reach one worker process; ``lifecycle promote`` and
training reach none. All of them rewrite the aliases mirror (``lifecycle.registry``):
promotion its champion, ``/reload`` its ``reloads`` count. Before answering, a worker
compares the mirror file's ``stat`` with the one it last acted on (a few microseconds);
when it moved, it reads the mirror and, if a champion or the ``reloads`` count differs
from what it serves, reloads from the mirror before answering. Requests that arrive during
that reload wait for it, so once the call that moved the mirror has returned, every worker
answers with the new champions.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle import aliases_mirror, registry
from lifecycle.errors import UserError
from lifecycle.tasks import names as task_names
from lifecycle.tracking_http import registry_error

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.scorer import Scorer

logger = logging.getLogger("lifecycle.serving")
Stamp = tuple[int, int, int, int]  # device, inode, modification ns, size


def stamp(path: Path) -> Stamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_mtime_ns, found.st_size)


def unreadable(path: Path, error: Exception) -> str:
    """What a worker says of a mirror damaged once it serves: it keeps its champions."""
    return (
        f"the champions' aliases mirror {path} cannot be read ({error}): still serving the "
        "champions loaded before it was damaged; POST /reload rewrites it from the registry"
    )


# How often a worker reads a tracking server's aliases when serving.poll_aliases_seconds is
# unset: with no mirror, nothing else brings a /reload or promotion to the other workers.
POLL_WITHOUT_MIRROR_SECONDS = 5.0


def poll_seconds(settings: Settings) -> float:
    """``serving.poll_aliases_seconds``; unset: 0 where the aliases mirror carries a move to
    every worker (the local registry), :data:`POLL_WITHOUT_MIRROR_SECONDS` on a tracking server."""
    seconds = settings.serving.poll_aliases_seconds
    if seconds is not None:
        return seconds
    mirrored = aliases_mirror.aliases_file(registry.tracking_uri(settings)) is not None
    return 0.0 if mirrored else POLL_WITHOUT_MIRROR_SECONDS


def _unfollowed(settings: Settings) -> bool:
    """No poll and no aliases mirror (a tracking server): a move reaches a worker only by a
    /reload or /promote sent to it."""
    if poll_seconds(settings) > 0:
        return False
    return aliases_mirror.aliases_file(registry.tracking_uri(settings)) is None


def diverging_workers(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` would serve different champions: a tracking server (no mirror) and
    no poll, where a /reload or promotion reaches one worker and no other ever follows."""
    if workers < 2 or not _unfollowed(settings):
        return None
    return (
        f"serving.poll_aliases_seconds = 0 with the tracking server at "
        f"{registry.tracking_uri(settings)} and {workers} workers: a /reload or promotion "
        "reaches one worker and the others would keep their champions; unset it (a poll "
        f"every {POLL_WITHOUT_MIRROR_SECONDS:g} s), set it above 0, or serve with --workers 1"
    )


def promotions_unseen(settings: Settings, workers: int) -> str | None:
    """What one worker with no poll and no mirror misses (``serve`` warns; several such
    workers are :func:`diverging_workers`, refused)."""
    if workers != 1 or not _unfollowed(settings):
        return None
    return (
        f"serving.poll_aliases_seconds = 0 with the tracking server at "
        f"{registry.tracking_uri(settings)}: a `lifecycle promote` or a training that promotes "
        "is served only after POST /reload (or a restart); unset it (a poll every "
        f"{POLL_WITHOUT_MIRROR_SECONDS:g} s) or set it above 0 to follow them"
    )


def behind_registry(served: dict[str, str], error: Exception) -> str:
    """What /readyz says of a worker whose poll saw a champion move but could not load it."""
    return (
        f"this worker serves {', '.join(f'{t} v{v}' for t, v in sorted(served.items()))}, not "
        f"the registry's champions: reloading them failed ({error}); POST /reload (again "
        "until /readyz no longer says so: it reaches one worker) or restart the service "
        "(the batch scores are not what is stale)"
    )


class AliasPoll:
    """One worker's poll of the registry's champion aliases (``serving.poll_aliases_seconds``):
    a move elsewhere reloaded and mirrored; an outage said once when it starts, once when it
    ends (a 5 s poll said it every 5 s in every worker)."""

    def __init__(self, scorer: Scorer, follower: MirrorFollower) -> None:
        self.scorer, self.follower = scorer, follower
        self.failing = False  # the last poll could not read the registry

    def poll(self) -> None:
        settings = self.scorer.settings
        try:
            moved = self.scorer.aliases_moved()
        except Exception as error:  # the registry may be away for a moment; keep serving
            if not self.failing:
                said = registry_error(settings, error)
                logger.warning("alias poll failed: %s (said again when it answers)", said)
            self.failing = True
            return
        if self.failing:
            logger.warning("alias poll: the registry answers again")
            self.failing = False
        if not moved:  # serving the registry's champions (a /reload or promotion got there)
            self.scorer.behind = None
            return
        try:
            logger.info("champion alias moved: %s", self.scorer.reload().changed)
        except Exception as error:  # keeps serving what it loaded; /readyz says so
            state = self.scorer.state
            served = state.champions.versions if state is not None else {}
            behind = behind_registry(served, registry_error(settings, error))
            if behind != self.scorer.behind:
                logger.warning("%s", behind)
            self.scorer.behind = behind
            return
        try:  # reloaded: a mirror it cannot write is no failed reload
            self.follower.publish(settings, reload=False)  # the others follow
        except Exception as error:
            logger.warning("could not announce the reload to the other workers: %s", error)


class MirrorFollower:
    """Reloads one worker's scorer when the aliases mirror names other champions, or
    announces a reload, than the ones it serves. Without a mirror (a tracking server) it
    does nothing: ``serving.poll_aliases_seconds`` is the way there."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.path = aliases_mirror.aliases_file(registry.tracking_uri(scorer.settings))
        self._lock = threading.Lock()
        self._seen: Stamp | None = None  # the mirror as last acted on
        self._reloads: int | None = None  # its reloads count then
        self.problem: str | None = None  # why the mirror as it is now cannot be followed
        self._names = {t: registry.model_name(scorer.dataset, t) for t in task_names()}
        # Followed too, though not a scored task: a promoted uplift model moves the lists.
        from lifecycle.uplift_model import UPLIFT_TASK  # pandas: not in the arbiter's import

        self._uplift = {UPLIFT_TASK: registry.model_name(scorer.dataset, UPLIFT_TASK)}

    def loading(self) -> None:
        """Before the first load: what the mirror says now is what that load reads."""
        if self.path is not None:
            self._seen = stamp(self.path)
            try:
                document = aliases_mirror.read_mirror_document(self.path)
            except Exception as error:  # damaged past reading (nested too deep): name it
                raise UserError(
                    f"the champions' aliases mirror {self.path} cannot be read ({error}): "
                    "delete it and start the service again (it then reads the MLflow "
                    "registry; a training or `lifecycle promote` writes the mirror again)"
                ) from None
            self._reloads = aliases_mirror.mirror_reloads(document)

    def publish(self, settings: Settings, *, reload: bool) -> None:
        """After this worker reloaded from the registry: mirror it, so that the other
        workers follow (``reload``: ``POST /reload``, announced to every worker, which
        reopens its stores too; else only a champion moved elsewhere). The registry is read
        again only when the aliases just loaded are not those of the mirror."""
        state = self.scorer.state
        if self.path is None or state is None:
            return
        known = {name: state.aliases.get(task, {}) for task, name in self._names.items()}
        with self._lock:  # this worker's own requests do not take the announcement as news
            reloads = aliases_mirror.sync_mirror(settings, announce=reload, known=known)
            if reloads is not None:
                self._reloads = reloads

    def follow(self) -> None:
        """Reload before answering when the mirror moved away from what is served; a worker
        whose load failed tries again when it moves (a training, another worker's /reload),
        as the worker that was reloaded did."""
        if self.path is None or not self._serving_or_failed() or stamp(self.path) == self._seen:
            return
        with self._lock:  # one reload; the requests meanwhile wait for its models
            now = stamp(self.path)
            if now == self._seen or not self._serving_or_failed():
                return
            try:
                document = aliases_mirror.read_mirror_document(self.path)
                reloads = aliases_mirror.mirror_reloads(document)
                models = (document or {}).get("models")
                served = isinstance(models, dict) and self.scorer.state is not None
                moved = served and self._moved(models, reloads)  # not the shape written: raises
            except Exception as error:  # damaged past reading: every request was a 500
                self._seen, self.problem = now, unreadable(self.path, error)
                logger.warning("%s", self.problem)
                return
            self.problem = None
            if self.scorer.state is None:
                try:
                    self.scorer.load(mirrored=True)
                    logger.info("loaded after the aliases mirror moved: the start had failed")
                except Exception as error:  # still not ready; /readyz says why
                    logger.warning("loading after the aliases mirror moved failed: %s", error)
            elif moved:
                try:
                    before = dict(self.scorer.state.champions.versions)
                    after = self.scorer.load(mirrored=True).champions.versions
                    logger.info("followed the aliases mirror: %s -> %s", before, after)
                except Exception as error:  # keep serving the models loaded
                    logger.warning("following the aliases mirror failed: %s", error)
            self._seen, self._reloads = now, reloads

    def _serving_or_failed(self) -> bool:
        """Loaded, or its load failed; not while the start's first load is under way."""
        return self.scorer.state is not None or self.scorer.error is not None

    def _moved(self, models: dict[str, object], reloads: int) -> bool:
        state = self.scorer.state
        assert state is not None
        served = {t: state.champions.versions.get(t) for t in self._names}
        [uplift] = self._uplift
        served[uplift] = state.uplift.version if state.uplift is not None else None
        champions = aliases_mirror.mirrored_champions(models, self._names | self._uplift)
        return champions != served or reloads != self._reloads
