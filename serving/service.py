"""The scoring API: champion models + Feast online features over HTTP, with BentoML 1.4.

Start with ``lifecycle serve`` (or ``bentoml serve serving.service:LifecycleScoring``).
Settings come from ``LIFECYCLE_HOME`` / ``LIFECYCLE_CONFIG`` like every command. The
service loads the champions and the Feast store once, in the background: ``/livez``
answers at once, ``/readyz`` only when both are loaded. Every endpoint is a typed POST
(JSON in, JSON out) and appears in the OpenAPI document at ``/docs.json``.

This class only declares the routes and hands each call to the scorer (``serving.scorer``)
through ``answer``, where the worker first follows the aliases mirror (``serving.follow``).
Around it: the models of requests and answers (``serving.schemas``), the error shape
(``serving.errors``), API tokens (``serving.auth``), the body limit (``serving.limits``),
the documented errors (``serving.openapi``) and one-line logs of bad input
(``serving.logs``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Annotated, TypeVar

import bentoml
from pydantic import Field, Strict, StringConstraints

from lifecycle.tasks import names as task_names
from lifecycle.tracking_http import registry_error
from serving.answers import RankedAtRiskResponse, stale_text
from serving.auth import TokenAuth, auth_config
from serving.errors import ApiError, PlainErrors
from serving.field_errors import NOT_ONLY_SPACE, SAFE_INTEGER, VERSION_NUMBER, FieldErrors
from serving.follow import AliasPoll, MirrorFollower, poll_seconds
from serving.limits import BodyLimit, EmptyBody, JsonOnly
from serving.logs import quiet_bad_input, show_service_info
from serving.model_schemas import ModelsResponse
from serving.openapi import WHERE_SAID, OpenApiErrors
from serving.replaced_data import ReplacedData
from serving.schemas import (
    FeatureRow,
    MonitorResponse,
    PromoteResponse,
    RankBy,
    ReasonsMode,
    ReloadResponse,
    ScoreResponse,
    Task,
    UserId,
)
from serving.stores import READINESS, ReadyReason, problem

logger = logging.getLogger("lifecycle.serving")
if bentoml.server_context.worker_index is not None:  # a server's worker, before its app is
    show_service_info()  # built (the auth line): BentoML's WARNING level hid the INFO lines
Answer = TypeVar("Answer")
TASKS = list(task_names())  # the default of ``tasks``: every task
TASKS_DOC = "the tasks to answer (default: every task); the others' fields stay null"


def quiet_bentoml_deprecation() -> None:
    """BentoML reads ``model_fields`` off every request's input model; pydantic >= 2.11 warns
    each time (4.4 MB of log in 17k requests), and the fix is BentoML's. Ignored first."""
    warnings.filterwarnings(
        "ignore", message="Accessing the 'model_fields' attribute on the instance"
    )


# Printed by a child process: importing the MLflow client costs seconds of CPU, which in
# the server would hold the GIL against the first requests.
# It first mirrors the registry (an alias moved in the MLflow UI): every worker follows.
REGISTRY_ALIASES = """import json, sys
from lifecycle.aliases_mirror import sync_mirror
from lifecycle.settings import load_settings
from serving.stores import registry_aliases
settings = load_settings()
try:
    sync_mirror(settings)
except OSError:  # a read-only workspace: the server reloads from the registry itself
    pass
print(json.dumps(registry_aliases(settings, sys.argv[1])))"""


def aliases_elsewhere(dataset: str) -> dict[str, dict[str, str]]:
    """Task -> alias -> version from the MLflow registry, read in a child process (niced)
    with this process's settings (``LIFECYCLE_*`` and the working directory), which
    rewrites the aliases mirror first where it differs."""
    child = subprocess.Popen(
        [sys.executable, "-c", REGISTRY_ALIASES, dataset],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.setpriority(os.PRIO_PROCESS, child.pid, 10)  # below the requests being served
    out, err = child.communicate(timeout=600)
    if child.returncode < 0:
        raise CheckStopped(signal.Signals(-child.returncode).name)
    if child.returncode != 0:
        said = err.strip().splitlines() or [f"exit {child.returncode} with no output"]
        raise RuntimeError(said[-1])
    return json.loads(out.strip().splitlines()[-1])


class CheckStopped(Exception):
    """The registry check's process was stopped by a signal (its name): BentoML passes a
    server's SIGTERM on to its workers' child processes."""


@bentoml.service(
    name="lifecycle_scoring",
    # Access log and trace sampling cost more than the scoring itself at these latencies.
    logging={"access": {"enabled": False}},
    # Sampled or not, OpenTelemetry's middleware starts a span per request (a tenth of a
    # /score's time in a profile): the scoring routes skip it. Tracing them means removing
    # them from excluded_urls as well as raising sample_rate.
    tracing={"sample_rate": 0.0, "excluded_urls": ["/score"]},
    metrics={"enabled": True, "namespace": "lifecycle"},
    traffic={"timeout": 30, "max_concurrency": 256},
    http={"response": {"trace_id": False}},
    # Scoring holds the GIL most of its time: a second process doubles what 8 connections
    # get on 2 cores (bench_serving.py --workers 1,2); every worker follows the champions
    # through the aliases mirror (serving.follow), so /promote and /reload reach them all.
    workers=2,
    # BentoML runs sync APIs on ONE thread by default; the Feast read (SQLite) and the
    # compiled trees release the GIL, so a few threads overlap requests. 1, 2 and 4 threads
    # and an async /score on the event loop measured alike with 2 workers (decisions.md).
    threads=4,
)
class LifecycleScoring:
    """Churn, conversion and LTV scores with reasons, for user ids or supplied features."""

    def __init__(self) -> None:
        from lifecycle.settings import load_settings
        from serving.scorer import Scorer  # here: the arbiter imports this module, not NumPy

        quiet_bentoml_deprecation()
        if bentoml.server_context.worker_index is not None:  # a server process, not a test's
            from lifecycle.bundle import import_lightgbm_without_sklearn
            from serving.drain import drain_on_shutdown

            import_lightgbm_without_sklearn()
            drain_on_shutdown()  # on SIGTERM, every request sent before it is answered
        self.settings = load_settings()
        auth_config(self.settings, [])  # an unreadable tokens file stops the start, clearly
        quiet_bad_input()
        self.scorer = Scorer(self.settings)
        READINESS.dataset = self.scorer.dataset  # /readyz names it, loaded or not
        self.follower = MirrorFollower(self.scorer)
        self.replaced_data = ReplacedData(self.settings, self.scorer.dataset)
        self._stop = threading.Event()
        # Load in the background so liveness answers at once and readiness tells the truth.
        self.scorer.expect_load()
        threading.Thread(target=self._start, name="lifecycle-load", daemon=True).start()

    def _start(self) -> None:
        with self.scorer.checking("checking the champions' aliases against the registry"):
            try:
                # The registry's aliases mirror, not the MLflow client: seconds off the start.
                self.follower.loading()
                self.scorer.load(mirrored=True)
            except Exception as error:
                if self.scorer.error is None:  # failed before the load: say why all the same
                    self.scorer.failed(error)
                return
            finally:
                self.scorer.load_ended()  # also when it failed before loading: nobody waits
                quiet_bentoml_deprecation()  # again: libraries imported by load add filters
            self._check_mirror()
        seconds, aliases = poll_seconds(self.settings), AliasPoll(self.scorer, self.follower)
        while seconds > 0 and not self._stop.wait(seconds):
            aliases.poll()

    def _check_mirror(self) -> None:
        """Once ready, the registry itself: an alias moved outside lifecycle (the MLflow UI)
        is not in the mirror; the child rewrites the mirror and the worker follows it, or
        (a mirror it cannot write) reloads from the registry."""
        from lifecycle.aliases_mirror import aliases_file
        from lifecycle.registry import tracking_uri

        mirror = aliases_file(tracking_uri(self.settings))
        state = self.scorer.state
        if state is None or mirror is None or not mirror.is_file():
            return  # loaded from the registry itself
        try:
            registered = aliases_elsewhere(self.scorer.dataset)
            self.follower.follow()
            state = self.scorer.state
            if state is not None and registered != state.aliases:
                logger.info("aliases differ from their mirror: %s", self.scorer.reload().changed)
        except CheckStopped as stopped:  # said "failed: no output" as the server stopped
            logger.info(
                "registry check after start not done: its process was stopped by %s, as "
                "when the server stops; the next start checks again",
                stopped,
            )
        except Exception as error:  # the registry may be away for a moment; keep serving
            logger.warning("registry check after start failed: %s", error)
        finally:
            quiet_bentoml_deprecation()

    def answer(self, call: Callable[[], Answer]) -> Answer:
        """What every route answers, and the one place a route follows the aliases mirror
        (``serving.follow``: one ``stat`` unless it moved) before calling the scorer: its
        answer, or the error answer it raised (field errors go to BentoML: 400); a feature
        store that cannot answer is a 503 naming the command that fixes it."""
        from features.store import FeatureStoreError

        self.follower.follow()
        try:
            return call()
        except ApiError as error:
            return error.response()  # type: ignore[return-value]
        except FeatureStoreError as error:
            return ApiError(503, str(error)).response()  # type: ignore[return-value]

    def __is_ready__(self) -> bool:
        """Loaded, and the stores it reads still there, the files it opened, with rows; the
        reason goes to the 503 (``ReadyReason``). Batch scores not written by the served
        champions are a warning of the 200, or with ``serving.stale_scores = "refuse"`` a 503
        (``/at_risk`` refuses them then too); so is a champion of replaced data, always a
        warning (``serving.replaced_data``)."""
        # Not a route (no ``answer``): after a /reload that reached another worker, reopened here.
        self.follower.follow()
        state = self.scorer.state
        warnings: list[str] = []
        if state is None:
            reason = self.scorer.error or "still loading the models and the feature store"
        else:  # with no champion at all there is nothing to serve
            from serving.served_tasks import no_model_for

            reason = problem(self.settings, state.store, read=True) or no_model_for(
                state.champions, TASKS
            )
        if reason is None and self.follower.problem is not None:
            warnings.append(self.follower.problem)  # still served: the champions loaded
        behind = self.scorer.behind  # once: the poll's thread may clear it meanwhile
        if reason is None and behind is not None:
            warnings.append(behind)  # not the batch table's staleness: the worker's
        stale = self.scorer.stale_scores() if reason is None and not behind else None
        if stale is not None and self.settings.serving.stale_scores == "refuse":
            reason = stale_text(stale)
        elif stale is not None:
            warnings.append(stale_text(stale))
        if reason is None and state is not None:
            from serving.scoring import answered_by

            served = state.champions  # conversion as 1 - churn: its own champion serves nothing
            answered = answered_by(served.versions, served.kinds)
            warnings += self.replaced_data.warnings(served.versions, answered)
        READINESS.set(reason, warnings)
        return reason is None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()

    @bentoml.api
    def score(
        self,
        user_ids: Annotated[
            list[UserId], Field(min_length=1, description="users to score, request order kept")
        ],
        # A list or left out, never null: what the document says (default: every task).
        tasks: Annotated[list[Task], Field(min_length=1, description=TASKS_DOC)] = TASKS,
        reasons: Annotated[
            ReasonsMode,
            Field(
                description="auto: precomputed by score-all while fresh, else computed; "
                "fresh: always computed; none: left out"
            ),
        ] = "auto",
    ) -> ScoreResponse:
        """Scores from the online store; users not in it get the documented cold-start answer."""
        return self.answer(lambda: self.scorer.score(user_ids, tasks, reasons))

    @bentoml.api
    def score_features(
        self,
        users: Annotated[
            list[FeatureRow], Field(min_length=1, description="rows to score, order kept")
        ],
        tasks: Annotated[list[Task], Field(min_length=1, description=TASKS_DOC)] = TASKS,
    ) -> ScoreResponse:
        """Scores for features the caller supplies (users not in the store yet)."""
        return self.answer(lambda: self.scorer.score_features(users, tasks))

    @bentoml.api
    def at_risk(
        self,
        segment: Annotated[
            str | None, Field(description="only users of this value segment; null: all")
        ] = None,
        lifecycle_stage: Annotated[
            str | None, Field(description="only users in this lifecycle stage; null: all")
        ] = None,
        channel: Annotated[
            str | None, Field(description="only users acquired through this channel; null: all")
        ] = None,
        # Strict: a number, as documented (false or "0.5" would be read as 0 and 0.5); finite:
        # NaN (Python's json writes it) was refused as not ">= 0", Infinity as "got inf"
        min_ltv: Annotated[
            float | None,
            Strict(),
            Field(
                ge=0,
                allow_inf_nan=False,
                description="only users with ltv at least this, in currency; null: all",
            ),
        ] = None,
        min_churn: Annotated[
            float | None,
            Strict(),
            Field(
                ge=0,
                le=1,
                allow_inf_nan=False,
                description="only users with churn probability (0-1) at least this; null: "
                "serving.medium_risk (the medium risk band and above), 0: every user",
            ),
        ] = None,
        rank_by: Annotated[
            RankBy, Field(description="the score ranked by, highest first; ties by user id")
        ] = "value_at_risk",
        control_share: Annotated[
            float | None,
            Strict(),
            # lt: the document states it as OpenAPI 3.0's exclusiveMaximum (serving.openapi)
            Field(
                ge=0,
                lt=1,
                allow_inf_nan=False,
                description="share of all scored users held out, in [0, 1); null: the CLI's",
            ),
        ] = None,
        seed: Annotated[
            int | None,
            Strict(),
            Field(
                ge=-SAFE_INTEGER,
                le=SAFE_INTEGER,
                description="control-group seed, same seed same group, within +-(2^53 - 1) "
                "(what every JSON client reads exactly); null: drawn from the list asked "
                "for, as the CLI draws it (seed_drawn_from says from what)",
            ),
        ] = None,
        limit: Annotated[
            int, Strict(), Field(ge=1, le=1000, description="most users on the page, 1-1000")
        ] = 100,
        offset: Annotated[
            int, Strict(), Field(ge=0, description="users skipped before the page")
        ] = 0,
        # a list is either value, as the CLI's --where country=FR --where country=DE; the
        # examples are the demo's (serving.openapi.WHERE_SAID), a served document its table's
        where: Annotated[
            dict[str, str | list[str]] | None,
            Field(
                description=f"only users whose attributes have these values, {WHERE_SAID}; "
                "the attributes are not returned; null: all"
            ),
        ] = None,
    ) -> RankedAtRiskResponse:
        """The list `lifecycle at-risk` gives, one page: users from the latest batch scores,
        ranked by value at risk (or rank_by), with reasons and the control-group flag; `stale`
        says when those scores are not what /score answers now (and the command to run)."""
        return self.answer(
            lambda: self.scorer.at_risk(
                segment=segment,
                lifecycle_stage=lifecycle_stage,
                channel=channel,
                min_ltv=min_ltv,
                min_churn=min_churn,
                rank_by=rank_by,
                control_share=control_share,
                seed=seed,
                limit=limit,
                offset=offset,
                where=where,
            )
        )

    @bentoml.api
    def models(self) -> ModelsResponse:
        """The serving models: versions, aliases, training window, headline test metrics."""
        return self.answer(lambda: self.scorer.models())

    @bentoml.api
    def monitor(self) -> MonitorResponse:
        """Drift of the champions' inputs and scores, as `lifecycle monitor` last measured it
        (nothing is recomputed here; run the command from cron)."""
        return self.answer(lambda: self.scorer.monitor())

    @bentoml.api
    def reload(self) -> ReloadResponse:
        """Re-read the champion aliases and swap the models; requests in flight finish on the
        old ones. Every other worker reloads before its next answer (``serving.follow``)."""

        def reloaded() -> ReloadResponse:
            try:
                done = self.scorer.reload()
            except ApiError:
                raise
            except Exception as error:  # the old models keep serving
                said = registry_error(self.settings, error)  # a tracking server down
                raise ApiError(
                    503, f"reload failed, still serving the previous models: {said}"
                ) from None
            try:
                self.follower.publish(self.settings, reload=True)
            except Exception as error:  # reloaded here; the other workers wait for their poll
                logger.warning("could not announce the reload to the other workers: %s", error)
            return done

        return self.answer(reloaded)

    @bentoml.api
    def promote(
        self,
        task: Annotated[Task, Field(description="the task whose champion moves")],
        reason: Annotated[
            str,
            StringConstraints(min_length=1, max_length=500, pattern=NOT_ONLY_SPACE),
            Field(description="why, recorded on the version"),
        ],
        force: Annotated[
            bool,
            Strict(),  # "yes" or 1 read as true would force a promotion the gate kept back
            Field(
                description="promote a version the promotion gate kept back (lost to the "
                "champion or the best baseline) or never judged; without it such a "
                "promotion is a 409 quoting the gate"
            ),
        ] = False,
        version: Annotated[
            Annotated[str, StringConstraints(pattern=VERSION_NUMBER)] | None,
            Field(
                description="the registered version of the task's model to make champion, as "
                "`lifecycle models` shows it (3 or v3): a former champion rolls back with no "
                "force; null: the task's challenger. One the model lacks is a 404 naming "
                "those it has"
            ),
        ] = None,
        accept_definition_change: Annotated[
            bool,
            Strict(),  # as force: only a JSON true accepts scores that change meaning
            Field(
                description="promote a version whose label definition (horizon, target, "
                "lookback) differs from the champion's, as `lifecycle promote "
                "--accept-definition-change`: its scores mean something else to their users; "
                "the change is recorded with the reason. Without it such a promotion is a 409 "
                "naming the changes"
            ),
        ] = False,
    ) -> PromoteResponse:
        """Admin: make a task's challenger, or a version of its model (a rollback), the
        champion, then reload; says what moved."""
        return self.answer(
            lambda: self.scorer.promote(task, reason, force, version, accept_definition_change)
        )


# The first added runs first: an unauthenticated request's body is never read.
LifecycleScoring.add_asgi_middleware(TokenAuth)
LifecycleScoring.add_asgi_middleware(JsonOnly)
LifecycleScoring.add_asgi_middleware(BodyLimit)
LifecycleScoring.add_asgi_middleware(EmptyBody)  # within the limit: BodyLimit runs first
LifecycleScoring.add_asgi_middleware(OpenApiErrors)
LifecycleScoring.add_asgi_middleware(ReadyReason)
LifecycleScoring.add_asgi_middleware(FieldErrors)  # a 400's error names its fields
LifecycleScoring.add_asgi_middleware(PlainErrors)  # a 404 or 405 is JSON too


def refuse_unknown_fields(api: bentoml.api, route: str) -> None:  # type: ignore[valid-type]
    """A request field the route does not take is a 400 naming it and the fields it takes:
    ignored, a misspelt filter (``stage`` for ``lifecycle_stage``) would answer unfiltered, a
    misspelt option (``reason`` for ``reasons``) be left at its default, and /models of
    ``{"dataset": "other"}`` answer for the served dataset."""
    from pydantic import create_model, model_validator

    from serving.errors import field_errors

    spec = api.input_spec  # type: ignore[attr-defined]
    taken = tuple(spec.model_fields)

    def known_fields_only(cls: type, data: object) -> object:
        unknown = [k for k in data if k not in taken] if isinstance(data, dict) else []
        takes = f"takes {', '.join(taken)}" if taken else "takes no field"
        if unknown:
            raise field_errors(
                route, [((k,), f"unknown field {k!r}; {route} {takes}") for k in unknown]
            )
        return data

    # Made under the spec's own name: a subclass statement would name every 400 of the
    # route "validation error for KnownFieldsOnly", a name that means nothing to a caller.
    api.input_spec = create_model(  # type: ignore[attr-defined, call-overload]
        spec.__name__,
        __base__=spec,
        __validators__={
            "_known_fields_only": model_validator(mode="before")(classmethod(known_fields_only))
        },
    )


for _route, _api in LifecycleScoring.apis.items():
    refuse_unknown_fields(_api, _route)
