"""The scorer: everything the scoring API does, without HTTP.

It loads the champion models and the Feast store once, scores user ids (online features)
or supplied features, answers the at-risk list from the batch scores with the CLI's list
functions, and reloads or promotes models, swapping them atomically. ``serving.service``
puts it behind BentoML; tests and benchmarks call it directly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from features import contract as c
from features.id_spellings import padded_width, padding_hint
from lifecycle.tasks import names as task_names
from serving import gauges
from serving.answers import ListAnswers, as_reason, clean, dataset_currency
from serving.errors import ApiError, field_errors
from serving.model_schemas import ModelInfo, ModelsResponse
from serving.openapi import SERVED_INPUTS
from serving.outlook_apart import outlook_apart
from serving.row_checks import contradictions, value_errors
from serving.schemas import (
    AtRiskResponse,
    FeatureRow,
    MonitorResponse,
    PromoteResponse,
    Reason,
    ReasonsMode,
    ReloadResponse,
    ScoreResponse,
    StaleScores,
    Task,
    UserScore,
    trusted,
)
from serving.segments import STAGE_COLUMNS
from serving.served_tasks import answer_plan, serving_champions
from serving.stores import open_for_champions, problem, registry_aliases, reopen_registry
from serving.units import Units, label_windows

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.feature_matrix import FeatureMatrix, Layout
    from serving.rowpath import RowModel
    from serving.scoring import Champions

logger = logging.getLogger("lifecycle.serving")


@dataclass
class Loaded:
    """One consistent set of models and store; replaced as a whole on reload, never mutated."""

    champions: Champions
    store: Any  # feast.FeatureStore
    aliases: dict[str, dict[str, str]]  # task -> alias -> version
    cold_start: dict[str, Any]  # the scored cold-start row (all available tasks)
    fetch: dict[str, str]  # feature service -> the service whose lookup also answers it
    layout: Layout  # the columns of every request's feature matrix, fixed at load
    row_models: dict[str, RowModel]  # what the float path reads of each champion
    uplift: Any = None  # serving.uplift.UpliftChampion, when the dataset has one
    realized: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # outcomes
    campaigns: list[dict[str, Any]] = field(default_factory=list)  # saved campaign reports
    currency: str | None = None  # of the dataset's money (serving.answers.dataset_currency)
    amounts: str = "money"  # or "purchases", "items": a log without money (serving.units.Units)
    case_insensitive_ids: bool = False  # the dataset's ids folded: an asked id is too
    id_width: int | None = None  # its ids' zero-padded width: a miss typed unpadded says so
    # tasks asked -> what every answer to them repeats (serving.served_tasks.answer_plan), filled on use
    answer_plans: dict[tuple[str, ...], Any] = field(default_factory=dict, init=False)
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


# Longest a request waits for a starting worker's first load; below the service's 30 s
# request timeout (serving.service), and far above a load's 2 s (docs/benchmarks.md).
START_WAIT_SECONDS = 20


class Scorer:
    """Loads once, scores many times; swaps models atomically on reload."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dataset = settings.dataset
        self.state: Loaded | None = None
        self.error: str | None = None
        self.behind: str | None = None  # why the champions served are not the registry's
        # clear while an announced load is under way (expect_load): what a request waits on
        self._no_load_pending = threading.Event()
        self._no_load_pending.set()
        self._reload_lock = threading.Lock()
        self._promote_lock = threading.Lock()
        self.lists = ListAnswers(settings, self.dataset)
        from serving.known_reasons import ReasonsCache

        self._reasons = ReasonsCache(settings.workspace.latest_scores, self.dataset)
        self._compiling: threading.Thread | None = None
        self._checks: set[str] = set()  # work of the service after a load (``checking``)

    # loading

    @contextmanager
    def checking(self, what: str) -> Iterator[None]:
        """``what`` is under way in the background: ``/models`` says so (``settling``)."""
        self._checks.add(what)
        try:
            yield
        finally:
            self._checks.discard(what)

    def settling(self) -> list[str]:
        """What this process still does in the background after a load; empty once settled."""
        compiling = self._compiling is not None and self._compiling.is_alive()
        return sorted(self._checks) + (["compiling trees and reasons tables"] if compiling else [])

    def expect_load(self) -> None:
        """A load is on its way (a server's start, in the background): until it ends, a
        request waits for it (``ready``) instead of a 503."""
        self._no_load_pending.clear()

    def load_ended(self) -> None:
        """The announced load is over, loaded or not: requests stop waiting for it."""
        self._no_load_pending.set()

    def failed(self, error: Exception) -> None:
        """Keep why the load (or the start, before it) failed: /readyz and requests say it."""
        from lifecycle.errors import UserError

        # an error made for the user is its own line; anything else keeps its type
        self.error = str(error) if isinstance(error, ApiError | UserError) else repr(error)
        logger.error("scoring service could not load: %s", self.error)

    def load(self, *, mirrored: bool = False) -> Loaded:
        """Open the Feast store and the champions (``mirrored``: read from the registry's
        aliases mirror, a server's start); keep the error for /readyz if it fails."""
        from lifecycle.dataset_kind import require_events

        try:
            require_events(self.settings, self.dataset, "serve")  # not "run features apply"
            store = open_for_champions(self.settings, self.dataset, mirrored=mirrored)
            state = self._build(store, mirrored)
            self.state, self.error, self.behind = state, None, None
        except Exception as error:
            self.failed(error)
            raise
        finally:
            self.load_ended()
        for task, why in state.champions.unavailable.items():  # the start's log says it too
            logger.warning("%s cannot be served: %s", task, why)
        from lifecycle.champion_inputs import words_retrain

        if said := words_retrain(state.champions.bundles, state.champions.versions):
            logger.warning("%s", said)  # once a load: its scores are unchanged
        return state

    def _build(self, store: Any, mirrored: bool = False) -> Loaded:
        import pandas as pd

        from serving.feature_matrix import layout_of
        from serving.hotpath import fetch_plan
        from serving.not_scored import not_scored
        from serving.rowpath import row_models
        from serving.scoring import (
            cold_start_features,
            compile_champions,
            load_champions,
            score_frame,
            served_versions,
        )

        champions = load_champions(self.settings, self.dataset, mirrored=mirrored)
        SERVED_INPUTS.publish(champions.bundles.values())  # for the OpenAPI document
        cold: dict[str, Any] = {}
        if champions.bundles:
            names = sorted({n for b in champions.bundles.values() for n in b.feature_names})
            features = cold_start_features(names)
            for column in ("recency_days", "orders_total", "tenure_days", *STAGE_COLUMNS):
                features[column] = features.get(column, pd.Series([None])).astype("float64")
            features.insert(0, c.USER_ID, ["<new user>"])
            cold = {k: clean(v) for k, v in score_frame(champions, features).iloc[0].items()}
            cold["not_scored"] = not_scored(
                champions.labels, champions.bundles, lambda n: features[n].to_numpy(float), 1
            )[0]
        from features.batches import dataset_case_insensitive_ids
        from lifecycle.outcomes import latest_outcomes
        from lifecycle.uplift_model import UPLIFT_TASK
        from serving.campaign_reports import saved_reports
        from serving.drift_results import drift_staleness, last_result
        from serving.scoring import answering_versions
        from serving.uplift import uplift_champion_or_none

        realized = latest_outcomes(self.settings, self.dataset)
        # conversion by churn, alone or where churn scores: keyed as its outcomes are
        gauges.publish_realized(realized, answering_versions(champions.versions, champions.kinds))
        drift = last_result(self.settings, self.dataset)
        served = (served_versions(champions), self.lists.online.as_of())
        gauges.publish_drift(drift, stale=bool(drift_staleness(drift, *served)))
        gauges.publish_campaigns(campaigns := saved_reports(self.settings, self.dataset))
        uplift, unloadable = uplift_champion_or_none(self.settings, self.dataset, mirrored=mirrored)
        if unloadable:  # the tasks still serve; /models and the start's log say why
            champions.unavailable[UPLIFT_TASK] = unloadable
        loaded = Loaded(
            champions=champions,
            store=store,
            aliases=registry_aliases(self.settings, self.dataset, mirrored=mirrored),
            cold_start=cold,
            fetch=fetch_plan(store, champions.services),
            layout=layout_of(champions.bundles, uplift.bundle if uplift is not None else None),
            row_models=row_models(champions),
            uplift=uplift,
            realized=realized,
            campaigns=campaigns,
            currency=dataset_currency(self.settings.workspace.events(self.dataset)),
            amounts=Units(purchase_counts=champions.purchase_counts).amounts_are,
            case_insensitive_ids=dataset_case_insensitive_ids(
                self.settings.workspace.dataset_dir(self.dataset)
            ),
            id_width=padded_width(self.settings.workspace.events(self.dataset)),
        )
        # Last: the compiling thread would hold the GIL against the rest of the load (a start
        # is ready sooner); meanwhile the boosters predict through LightGBM.
        self._compiling = compile_champions(self.settings, champions, self.dataset, background=True)
        return loaded

    def ready(self) -> Loaded:
        if self.state is None:
            # A request that reaches a worker still starting waits for its load (about 2 s)
            # rather than a 503: the other worker may have answered /readyz for the server.
            self._no_load_pending.wait(START_WAIT_SECONDS)
        if self.state is None:
            reason = self.error or "still loading the models and the feature store"
            raise ApiError(503, f"not ready: {reason}")
        if (reason := problem(self.settings, self.state.store)) is not None:
            raise ApiError(503, reason)  # files gone or replaced: say so, never answer from them
        return self.state

    def reload(self) -> ReloadResponse:
        """Build a new model set beside the serving one, then swap the reference."""
        from serving.scoring import served_versions

        started = time.perf_counter()
        with self._reload_lock:
            previous = self.state
            reopen_registry(self.settings)  # a replaced mlflow.db is read, a deleted one refused
            if previous is None:
                new = self.load()
            else:  # a new store: the registry and online files now on disk, not the old ones
                new = self._build(open_for_champions(self.settings, self.dataset))
                self.state = new  # one assignment: a request sees the old set or the new one
            self.behind = None  # the registry's champions, as it names them now
        # what made each task's numbers, as /score says it: a churn promotion changes
        # conversion served as 1 - churn, a conversion one there changes nothing served
        before = served_versions(previous.champions) if previous else {}
        after = served_versions(new.champions)
        return ReloadResponse(
            dataset=self.dataset,
            model_versions=after,
            previous_versions=before,
            changed=sorted(t for t in task_names() if before.get(t) != after.get(t)),
            unavailable=dict(new.champions.unavailable),
            seconds=round(time.perf_counter() - started, 3),
        )

    def promote(
        self,
        task: str,
        reason: str,
        force: bool = False,
        version: str | None = None,
        accept_definition_change: bool = False,
    ) -> PromoteResponse:
        """Make ``version`` (None: the challenger) champion, then reload (``serving.promotion``)."""
        from serving.promotion import promote

        with self._promote_lock:
            return promote(self, task, reason, force, version, accept_definition_change)

    def aliases_moved(self) -> bool:
        """Whether a champion alias points elsewhere than the loaded models (cheap registry read)."""
        state = self.state
        if state is None:
            return True
        current = {
            t: a.get("champion") for t, a in registry_aliases(self.settings, self.dataset).items()
        }
        return current != {t: state.champions.versions.get(t) for t in task_names()}

    # scoring

    def check_tasks(self, tasks: list[Task] | None) -> list[str]:
        return list(dict.fromkeys(tasks)) if tasks else list(task_names())

    def score(
        self,
        user_ids: list[str],
        tasks: list[Task] | None = None,
        reasons: ReasonsMode = "auto",
    ) -> ScoreResponse:
        """Online features of the users (one lookup per distinct feature service) as one
        matrix, then the models. ``reasons``: ``auto`` serves the ones ``score-all``
        precomputed while fresh and computes the rest, ``fresh`` computes them all,
        ``none`` leaves them out."""
        limit = self.settings.serving.max_users_per_request
        if len(user_ids) > limit:
            raise field_errors(
                "score",
                [
                    (
                        ("user_ids",),
                        f"at most {limit} user ids per request (got {len(user_ids)}); split the batch",
                    )
                ],
            )
        from serving.hotpath import online_matrix

        state = self.ready()
        wanted = self.check_tasks(tasks)
        champions = serving_champions(state.champions, wanted)
        # an id written 18074.0 is the user ingest loaded as 18074, unless known as given;
        # C1@X.COM is c1@x.com where the dataset's ids are case-insensitive
        held = c.held_user_ids(user_ids, state.case_insensitive_ids)
        lookup = c.lookup_user_ids(held)
        matrix = online_matrix(state.store, state.layout, state.fetch, champions, lookup)
        rows = self._score_known(state, champions, matrix, reasons)
        keys = [c.answering_user_id(u, rows) for u in held]
        return self._response(
            state, champions, wanted, user_ids, rows, "scored", keys, reasons != "none"
        )

    def score_features(
        self, users: list[FeatureRow], tasks: list[Task] | None = None
    ) -> ScoreResponse:
        """Score caller-supplied features, checked against the models' feature lists and types."""
        import pandas as pd

        from features.asof import WORDS_ONLY, words_only
        from serving.feature_matrix import FeatureMatrix

        limit = self.settings.serving.max_users_per_request
        if len(users) > limit:
            raise field_errors(
                "score_features",
                [(("users",), f"at most {limit} users per request (got {len(users)})")],
            )
        state = self.ready()
        wanted = self.check_tasks(tasks)
        champions = serving_champions(state.champions, wanted)
        numeric: set[str] = set()
        categories: dict[str, list[str]] = {}
        for bundle in champions.bundles.values():
            categories.update(bundle.categories)
            numeric.update(n for n in bundle.feature_names if n not in bundle.categories)
        numeric.update(WORDS_ONLY)  # for the words: given to a model trained before, unread
        known = numeric | set(categories)
        errors = value_errors(users, numeric, categories)
        if errors:
            raise field_errors("score_features", errors)
        for i, row in enumerate(users):  # each value fine, together impossible: a 422
            for name, message in contradictions(row.features):
                raise ApiError(
                    422, f"users[{i}].features: {message}", ("users", i, "features", name)
                )
        columns = sorted(known)
        # Keyed by position, not id: two rows of one id (what-if variants) are two answers,
        # each from its own features.
        keys = [str(i) for i in range(len(users))]
        records = [
            {c.USER_ID: key, **{n: r.features.get(n) for n in columns}}
            for key, r in zip(keys, users, strict=True)
        ]
        frame = pd.DataFrame.from_records(records, columns=[c.USER_ID, *columns])
        for name in columns:
            if name in numeric:
                frame[name] = frame[name].astype("float64")
        matrix = FeatureMatrix.from_frame(state.layout, frame)
        rows = self._score_known(state, champions, matrix, "fresh")
        answer = self._response(
            state, champions, wanted, [r.user_id for r in users], rows, "supplied", keys
        )
        # said, not silently unknown (a null is given); a words-only feature is no input
        for row, user in zip(users, answer.users, strict=True):
            user.features_missing = sorted(
                n for n in known - set(row.features) if not words_only(n)
            )
        return answer

    def _score_known(
        self, state: Loaded, champions: Champions, matrix: FeatureMatrix, reasons: ReasonsMode
    ) -> dict[str, dict[str, Any]]:
        """Each user's scored fields, by user id (``serving.scoring.score_matrix``)."""
        from serving import rowpath
        from serving.feature_matrix import UPLIFT_KEY
        from serving.not_scored import not_scored
        from serving.scoring import score_matrix

        if len(matrix) == 0 or not champions.bundles:
            return {}
        options: dict[str, Any] = {
            "reasons": reasons != "none",
            "known_reasons": self._reasons.lookup(champions) if reasons == "auto" else None,
        }
        scored: dict[str, Any] | None = None
        if len(matrix) <= rowpath.MAX_ROWS:  # a few users: the same answers on floats
            try:
                scored = rowpath.score_rows(champions, state.row_models, matrix, **options)
            except rowpath.OffThePath:
                scored = None
        clean = scored is not None  # the row path's lists are JSON-ready already
        if scored is None:
            scored = score_matrix(champions, matrix, **options)
        # why a task asked has no score of a user (a repeat customer's conversion)
        scored["not_scored"] = not_scored(
            champions.labels, champions.answered, matrix.column, len(matrix)
        )
        uplift = state.uplift
        if uplift is not None and matrix.has_model(UPLIFT_KEY):
            values, outside = uplift.bundle.predict_within(matrix.model(UPLIFT_KEY))
            scored["uplift"] = _python_values(values)
            scored["uplift_outside"] = outside.tolist()
        names = list(scored)
        columns = [scored[name] if clean else _python_values(scored[name]) for name in names]
        return {
            str(values[0]): dict(zip(names, values, strict=True))
            for values in zip(*columns, strict=True)
        }

    def _response(
        self,
        state: Loaded,
        champions: Champions,
        wanted: list[str],
        user_ids: list[str],
        rows: dict[str, dict[str, Any]],
        known_status: str,
        keys: list[str] | None = None,
        explained: bool = True,
    ) -> ScoreResponse:
        """One user per id of ``user_ids``, in order: its row of ``rows`` (looked up by its
        key of ``keys``, default the id itself) or the cold-start answer; reasons null
        where not computed (not ``explained``, or churn not asked), [] where none raised it."""
        plan = answer_plan(state, champions, wanted)
        versions = dict(plan.versions)
        fields, float_fields = plan.fields, plan.float_fields
        explained = explained and "reasons" in fields
        # Built without validation (the values are scoring's own, JSON-ready, of the fields'
        # types): for 100 users validating ~400 models cost more than scoring them.
        users = []
        for user_id, key in zip(user_ids, keys or user_ids, strict=True):
            row = rows.get(key)
            status = known_status if row is not None else "unknown_user"
            source = row if row is not None else state.cold_start
            values = {name: source.get(name) for name in fields}  # JSON-ready already
            for name in float_fields:
                value = values[name]
                if value is not None and type(value) is not float:
                    values[name] = float(value)
            # precomputed reasons come as the answer's models already (serving.known_reasons)
            values["reasons"] = (
                [r if type(r) is Reason else as_reason(r) for r in values.get("reasons") or []]
                if explained
                else None
            )
            # a task whose population leaves the user out: said why, its model not named
            outside = {t: w for t, w in (source.get("not_scored") or {}).items() if t in wanted}
            mine = {t: v for t, v in versions.items() if t not in outside} if outside else versions
            values.update(
                user_id=user_id, status=status, model_versions=mine, not_scored=outside or None
            )
            values["outlook_apart"] = outlook_apart(values)  # p_alive against the LTV's
            if row is None:  # '3' where the ids are written '00003': said, no user named
                values["hint"] = padding_hint(user_id, state.id_width)
            users.append(trusted(UserScore, values))

        return trusted(
            ScoreResponse,
            {
                "users": users,
                "model_versions": versions,
                "model_kinds": dict(plan.kinds),
                "unavailable": dict(champions.unavailable),
                "definitions": dict(plan.labels),
                "partners": dict(plan.partners),
                "as_of": self.lists.online.as_of(),
                "horizon_days": dict(plan.horizon_days),
                "currency": state.currency,
                "amounts": state.amounts,
            },
        )

    # models and lists

    def monitor(self) -> MonitorResponse:
        from serving.drift_results import drift_staleness, last_result
        from serving.scoring import served_versions

        result = last_result(self.settings, self.dataset)
        versions = served_versions(self.state.champions) if self.state is not None else None
        stale = drift_staleness(result, versions, self.lists.online.as_of())
        gauges.publish_drift(result, stale=bool(stale))
        return MonitorResponse(
            dataset=self.dataset,
            measured=result is not None,
            drifting=list((result or {}).get("drifting", [])),
            stale=stale,
            result=result or {},
        )

    def at_risk(self, **request: Any) -> AtRiskResponse:
        """One page of the list ``lifecycle at-risk`` prints (``serving.answers.ListAnswers``)."""
        return self.lists.at_risk(self.state, **request)

    def stale_scores(self) -> StaleScores | None:
        """Why the latest batch scores are not what /score answers now (None when they are)."""
        return self.lists.stale(self.state)

    def models(self) -> ModelsResponse:
        from lifecycle import lineage, registry
        from serving.one_event import none_answers, served_where
        from serving.scoring import answered_by, answering_versions
        from serving.uplift import uplift_info

        state = self.ready()
        infos = []
        kinds = state.champions.kinds
        answered = answered_by(state.champions.versions, kinds)
        answering = answering_versions(state.champions.versions, kinds)  # as outcomes key it
        # with a churn lookback, where 1 - churn answers and where the task's own champion does
        in_part = served_where(state.champions.versions, kinds, state.champions.labels)
        for task, bundle in state.champions.bundles.items():
            version = state.champions.versions[task]
            # another model's answers: this one's test metrics are not theirs
            metrics = {} if task in answered else bundle.metrics
            infos.append(
                ModelInfo(
                    task=task,
                    model=registry.model_name(self.dataset, task),
                    version=version,
                    aliases=sorted(
                        a for a, v in state.aliases.get(task, {}).items() if v == version
                    ),
                    kind=kinds.get(task, bundle.kind),
                    feature_service=bundle.service,
                    features=len(bundle.feature_names),
                    label=bundle.label,
                    horizon_days=label_windows({task: bundle.label}).get(task),
                    training_window=bundle.data_window,
                    learned_from=lineage.learned_from(bundle.data_window),
                    answered_by=answered.get(task),
                    unserved=none_answers(task, answered[task]) if task in answered else None,
                    served_where=in_part.get(task),
                    metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
                    realized=state.realized.get(task, {}).get(answering[task]) or {},
                )
            )
        return ModelsResponse(
            dataset=self.dataset,
            models=infos,
            unavailable=dict(state.champions.unavailable),
            loaded_at=state.loaded_at,
            uplift=uplift_info(state.uplift),
            campaigns=state.campaigns,
            as_of=self.lists.online.as_of(),
            currency=state.currency,
            amounts=state.amounts,
            settling=self.settling(),
        )


def _python_values(column: Any) -> list[Any]:
    """A scored column as JSON-ready Python values (NaN as None), converted in one go."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "f":
        values = column.tolist()
        return [None if v != v else v for v in values] if np.isnan(column).any() else values
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]
