"""The scoring API: champion models + Feast online features over HTTP, with BentoML 1.4.

Start with ``lifecycle serve`` (or ``bentoml serve serving.service:LifecycleScoring``).
Settings come from ``LIFECYCLE_HOME`` / ``LIFECYCLE_CONFIG`` like every command. The
service loads the champions and the Feast store once, in the background: ``/livez``
answers at once, ``/readyz`` only when both are loaded. Every endpoint is a typed POST
(JSON in, JSON out) and appears in the OpenAPI document at ``/docs.json``.

Errors a caller can fix come back as 4xx with one shape, the one BentoML uses for its
own validation errors: ``{"error": "...", "detail": [{"loc": [field, ...], "msg": "..."}]}``.
The OpenAPI document lists them per route (400, 404, 413, 500, 503; 409 for /promote;
401/403 with auth).

Access (``serving.auth``): ``on``, ``off`` or ``auto`` (default) = on as soon as the server
listens on a non-loopback address (the worker's listening socket, or ``serving.bind_host``).
When on, every route but ``/livez``, ``/readyz``, ``/healthz`` and ``/metrics`` (probes and
Prometheus scraping; no user data) needs ``Authorization: Bearer <token>``: 401 when it is
missing or unknown; the admin calls ``/reload`` and ``/promote`` need an admin token, else
403. Tokens come from
``LIFECYCLE_SERVING__API_TOKEN`` / ``LIFECYCLE_SERVING__ADMIN_TOKEN`` and/or
``serving.api_tokens_file`` (one per line, ``admin:`` prefix); they are ``SecretStr`` in the
settings and are never logged. Auth on with no token configured refuses every call.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import bentoml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.settings import Settings
    from serving.scoring import Champions

logger = logging.getLogger("lifecycle.serving")

Task = Literal["churn", "conversion", "ltv"]
ALL_TASKS: tuple[Task, ...] = ("churn", "conversion", "ltv")
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
FeatureValue = float | bool | str | None
COLD_START = (
    "unknown users are scored as a brand-new user: tenure 0, no activity or orders counted "
    "yet, every other feature unknown (serving.scoring.cold_start_features)"
)
# Per task, the response fields it fills; a task not asked for leaves them null.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "churn": ("churn_probability", "risk_band", "reasons"),
    "conversion": ("conversion_probability",),
    "ltv": ("ltv", "ltv_p10", "ltv_p50", "ltv_p90", "purchase_probability"),
}


# -- request and response models (they make the OpenAPI document) ----------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(_Model):
    feature: str
    value: FeatureValue = Field(description="the user's value of the feature")
    contribution: float = Field(
        description="its push on the churn score: LightGBM SHAP in log-odds, or for a baseline "
        "rule served instead (model_kinds) its term of the rule's score against the average"
    )
    text: str


class UserScore(_Model):
    user_id: str
    status: Literal["scored", "unknown_user", "supplied"] = Field(
        description="scored: features from the online store; unknown_user: not in the store, "
        "cold-start answer; supplied: features given by the caller"
    )
    churn_probability: float | None = Field(
        None,
        description="null when churn was not asked for, or the champion's label has a lookback "
        "and the user was not active in it (default: every known user is scored)",
    )
    risk_band: Literal["low", "medium", "high"] | None = None
    conversion_probability: float | None = Field(
        None, description="null when the user is not eligible (already converted) or not asked for"
    )
    ltv: float | None = Field(
        None,
        description="expected revenue over the LTV horizon (the mean: with most of the mass at 0 "
        "and a heavy tail it can exceed ltv_p90)",
    )
    ltv_p10: float | None = Field(
        None, description="10th percentile of the revenue (0 when P(no purchase) >= 10%)"
    )
    ltv_p50: float | None = None
    ltv_p90: float | None = None
    purchase_probability: float | None = Field(
        None, description="probability of any revenue over the LTV horizon"
    )
    value_at_risk: float | None = Field(None, description="churn_probability x ltv")
    p_alive: float | None = Field(
        None,
        description="BG/NBD probability that the customer is still active (null without a purchase)",
    )
    expected_purchases: float | None = Field(
        None,
        description="BG/NBD expected purchases over the LTV horizon (churn horizon without an "
        "LTV model; null without a purchase)",
    )
    lifecycle_stage: str | None = None
    reasons: list[Reason] = Field(default_factory=list, description="what pushed churn up most")
    model_versions: dict[str, str] = Field(default_factory=dict)


class ScoreResponse(_Model):
    users: list[UserScore]
    model_versions: dict[str, str] = Field(description="task -> registry version used")
    model_kinds: dict[str, str] = Field(
        default_factory=dict,
        description="task -> what serves it: lightgbm, or the baseline rule registered when it "
        "beat LightGBM (recency_rule, rfm_score, last_period_value, bgnbd_gamma_gamma)",
    )
    unavailable: dict[str, str] = Field(description="task -> why it cannot serve")
    cold_start: str = COLD_START


class FeatureRow(_Model):
    user_id: UserId
    features: dict[str, FeatureValue] = Field(
        description="feature name -> value; a feature left out is unknown (null), a name the "
        "models do not know is an error"
    )


class ModelInfo(_Model):
    task: str
    model: str
    version: str
    aliases: list[str]
    kind: str = Field(description="lightgbm, or the baseline rule that beat it")
    feature_service: str
    features: int
    label: dict[str, Any]
    training_window: dict[str, Any]
    metrics: dict[str, float]


class ModelsResponse(_Model):
    dataset: str
    models: list[ModelInfo]
    unavailable: dict[str, str]
    loaded_at: str


class AtRiskUser(_Model):
    rank: int
    user_id: str
    churn_probability: float | None = None
    ltv: float | None = None
    value_at_risk: float | None = None
    risk_band: str | None = None
    p_alive: float | None = None
    expected_purchases: float | None = None
    lifecycle_stage: str | None = None
    segment: str | None = None
    channel: str | None = None
    reasons: list[Reason] = Field(default_factory=list)


class AtRiskResponse(_Model):
    total: int = Field(description="users matching the filters")
    offset: int
    limit: int
    scored_at: str = Field(description="when the batch scores file was written")
    users: list[AtRiskUser]


class ReloadResponse(_Model):
    model_versions: dict[str, str]
    previous_versions: dict[str, str]
    changed: list[str]
    unavailable: dict[str, str]
    seconds: float


class PromoteResponse(_Model):
    task: Task
    model: str = Field(description="the registered model, <dataset>-<task>")
    champion: str = Field(description="the version now champion (the challenger it was)")
    previous: str = Field(description="the version that was champion, or 'none'")
    reason: str = Field(description="as recorded on the version (tag promotion)")
    reload: ReloadResponse = Field(description="the models this service now serves")


# -- errors ----------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than 200 that is not a field error (404, 503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.message, "detail": [{"loc": [], "msg": self.message}]},
            status_code=self.status,
        )


def field_errors(title: str, errors: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A pydantic ValidationError: BentoML answers it with 400 and the field of each error."""
    details = [
        InitErrorDetails(type=PydanticCustomError("invalid_value", message), loc=loc, input=None)
        for loc, message in errors
    ]
    return ValidationError.from_exception_data(title, details)


# -- the scorer: everything the endpoints do, without HTTP -----------------------------


@dataclass
class Loaded:
    """One consistent set of models and store; replaced as a whole on reload, never mutated."""

    champions: Champions
    store: Any  # feast.FeatureStore
    aliases: dict[str, dict[str, str]]  # task -> alias -> version
    cold_start: dict[str, Any]  # the scored cold-start row (all available tasks)
    fetch: dict[str, str]  # feature service -> the service whose lookup also answers it
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Scorer:
    """Loads once, scores many times; swaps models atomically on reload."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dataset = settings.dataset
        self.state: Loaded | None = None
        self.error: str | None = None
        self._reload_lock = threading.Lock()
        self._promote_lock = threading.Lock()
        self._cache = Path(tempfile.mkdtemp(prefix="lifecycle-serving-"))
        self._scores: tuple[float, Any] | None = None  # (mtime, frame) of the batch scores

    # loading

    def load(self) -> Loaded:
        """Open the Feast store and the champions; keep the error for /readyz if it fails."""
        from features.store import open_store

        try:
            store = open_store(self.settings, self.dataset)
            state = self._build(store)
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            logger.error("scoring service could not load: %s", self.error)
            raise
        self.state, self.error = state, None
        return state

    def _build(self, store: Any) -> Loaded:
        import pandas as pd

        from features import contract as c
        from serving.scoring import cold_start_features, load_champions, score_frame

        champions = load_champions(self.settings, self.dataset, cache=self._cache)
        cold: dict[str, Any] = {}
        if champions.bundles:
            names = sorted({n for b in champions.bundles.values() for n in b.feature_names})
            features = cold_start_features(names)
            for column in (
                "recency_days",
                "orders_total",
                "tenure_days",
                "active_days_30d",
                "active_days_90d",
            ):
                features[column] = features.get(column, pd.Series([None])).astype("float64")
            features.insert(0, c.USER_ID, ["<new user>"])
            cold = score_frame(champions, features).iloc[0].to_dict()
        return Loaded(
            champions=champions,
            store=store,
            aliases=self._aliases(),
            cold_start=cold,
            fetch=fetch_plan(store, champions.services),
        )

    def _aliases(self) -> dict[str, dict[str, str]]:
        from mlflow.exceptions import MlflowException

        from lifecycle import registry

        client = registry.client(self.settings)
        aliases: dict[str, dict[str, str]] = {}
        for task in ALL_TASKS:
            try:
                found = client.get_registered_model(registry.model_name(self.dataset, task)).aliases
            except MlflowException:
                found = {}
            aliases[task] = {alias: str(version) for alias, version in found.items()}
        return aliases

    def ready(self) -> Loaded:
        if self.state is None:
            reason = self.error or "still loading the models and the feature store"
            raise ApiError(503, f"not ready: {reason}")
        return self.state

    def reload(self) -> ReloadResponse:
        """Build a new model set beside the serving one, then swap the reference."""
        started = time.perf_counter()
        with self._reload_lock:
            previous = self.state
            if previous is None:
                new = self.load()
            else:
                new = self._build(previous.store)
                self.state = new  # one assignment: a request sees the old set or the new one
        before = previous.champions.versions if previous else {}
        after = new.champions.versions
        return ReloadResponse(
            model_versions=dict(after),
            previous_versions=dict(before),
            changed=sorted(t for t in ALL_TASKS if before.get(t) != after.get(t)),
            unavailable=dict(new.champions.unavailable),
            seconds=round(time.perf_counter() - started, 3),
        )

    def promote(self, task: str, reason: str) -> PromoteResponse:
        """Make the task's challenger the champion (the registry's one promotion path), then
        reload; 409 when there is no challenger to promote."""
        from lifecycle.registry import PromotionError, challenger_version, promote

        with self._promote_lock:
            try:
                version = challenger_version(self.settings, task, self.dataset)
                done = promote(
                    self.settings, task, version, f"{reason} (POST /promote)", self.dataset
                )
            except PromotionError as error:
                raise ApiError(409, str(error)) from None
            logger.info(
                "promoted %s v%s to champion (was %s) over HTTP",
                done["model"],
                done["champion"],
                done["previous"],
            )
            try:
                reloaded = self.reload()
            except Exception as error:  # the alias moved; the old models keep serving
                raise ApiError(
                    503,
                    f"{done['model']} champion is now v{done['champion']} (was "
                    f"{done['previous']}), but the reload failed and the previous models still "
                    f"serve: {error}; retry POST /reload",
                ) from None
        return PromoteResponse(
            task=task,  # type: ignore[arg-type]
            model=done["model"],
            champion=done["champion"],
            previous=done["previous"],
            reason=f"manual: {reason} (POST /promote)",
            reload=reloaded,
        )

    def aliases_moved(self) -> bool:
        """Whether a champion alias points elsewhere than the loaded models (cheap registry read)."""
        state = self.state
        if state is None:
            return True
        current = {t: a.get("champion") for t, a in self._aliases().items()}
        return current != {t: state.champions.versions.get(t) for t in ALL_TASKS}

    def close(self) -> None:
        shutil.rmtree(self._cache, ignore_errors=True)

    # scoring

    def check_tasks(self, tasks: list[Task] | None) -> list[str]:
        return list(dict.fromkeys(tasks)) if tasks else list(ALL_TASKS)

    def score(self, user_ids: list[str], tasks: list[Task] | None = None) -> ScoreResponse:
        """Online features for each distinct feature service, merged on user id, then the models."""
        from features import contract as c
        from features.store import any_service, online_features

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
        state = self.ready()
        wanted = self.check_tasks(tasks)
        champions = _subset(state.champions, wanted)
        distinct = list(dict.fromkeys(user_ids))
        frame: pd.DataFrame | None = None
        found = None
        services = sorted({state.fetch[s] for s in champions.services})
        for service_name in services or [any_service(state.store)]:
            online = online_features(state.store, distinct, service_name)
            if frame is None:
                frame, found = online.frame, online.found.to_numpy()
            else:
                extra = [col for col in online.frame.columns if col not in frame.columns]
                frame = frame.merge(
                    online.frame[[c.USER_ID, *extra]],
                    on=c.USER_ID,
                    how="left",
                    validate="one_to_one",
                )
                found = found | online.found.to_numpy()
        assert frame is not None and found is not None
        rows = self._score_known(champions, frame[found])
        return self._response(state, champions, wanted, user_ids, rows, "scored")

    def score_features(
        self, users: list[FeatureRow], tasks: list[Task] | None = None
    ) -> ScoreResponse:
        """Score caller-supplied features, checked against the models' feature lists and types."""
        import pandas as pd

        from features import contract as c

        limit = self.settings.serving.max_users_per_request
        if len(users) > limit:
            raise field_errors(
                "score_features",
                [(("users",), f"at most {limit} users per request (got {len(users)})")],
            )
        state = self.ready()
        wanted = self.check_tasks(tasks)
        champions = _subset(state.champions, wanted)
        if not champions.bundles:
            raise ApiError(503, f"no model can serve {', '.join(wanted)}: {champions.unavailable}")
        numeric: set[str] = set()
        categories: dict[str, list[str]] = {}
        for bundle in champions.bundles.values():
            categories.update(bundle.categories)
            numeric.update(n for n in bundle.feature_names if n not in bundle.categories)
        known = numeric | set(categories)
        errors: list[tuple[tuple[str | int, ...], str]] = []
        for i, row in enumerate(users):
            for name, value in row.features.items():
                loc = ("users", i, "features", name)
                if name not in known:
                    errors.append(
                        (
                            loc,
                            f"unknown feature {name!r}; the models read: {', '.join(sorted(known))}",
                        )
                    )
                elif value is None:
                    continue
                elif name in categories and not isinstance(value, str):
                    errors.append(
                        (
                            loc,
                            f"{name} is categorical: expected a string, got {type(value).__name__}",
                        )
                    )
                elif name in categories and value not in categories[name]:
                    errors.append(
                        (
                            loc,
                            f"{value!r} is not a known {name}; expected one of {categories[name]}",
                        )
                    )
                elif name in numeric and isinstance(value, str):
                    errors.append((loc, f"{name} is numeric: expected a number, got a string"))
                elif name in numeric and not math.isfinite(float(value)):
                    errors.append((loc, f"{name} must be a finite number"))
        if errors:
            raise field_errors("score_features", errors)
        columns = sorted(known)
        records = [{c.USER_ID: r.user_id, **{n: r.features.get(n) for n in columns}} for r in users]
        frame = pd.DataFrame.from_records(records, columns=[c.USER_ID, *columns])
        for name in columns:
            if name in numeric:
                frame[name] = frame[name].astype("float64")
        frame = frame.drop_duplicates(c.USER_ID, keep="last")
        rows = self._score_known(champions, frame)
        return self._response(
            state, champions, wanted, [r.user_id for r in users], rows, "supplied"
        )

    def _score_known(self, champions: Champions, frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
        from features import contract as c
        from serving.scoring import score_frame

        if frame.empty or not champions.bundles:
            return {}
        scored = score_frame(champions, frame.reset_index(drop=True))
        return {r[c.USER_ID]: r for r in scored.to_dict(orient="records")}

    def _response(
        self,
        state: Loaded,
        champions: Champions,
        wanted: list[str],
        user_ids: list[str],
        rows: dict[str, dict[str, Any]],
        known_status: str,
    ) -> ScoreResponse:
        versions = dict(champions.versions)
        fields = ["lifecycle_stage"] + [
            f for t in wanted if t in champions.bundles for f in TASK_FIELDS[t]
        ]
        if "churn" in champions.bundles and "ltv" in champions.bundles:
            fields.append("value_at_risk")
        if any(b.purchase_process for b in champions.bundles.values()):
            fields += ["p_alive", "expected_purchases"]
        users = []
        for user_id in user_ids:
            row = rows.get(user_id)
            status = known_status if row is not None else "unknown_user"
            source = row if row is not None else state.cold_start
            values = {name: _clean(source.get(name)) for name in fields}
            values["reasons"] = [_reason(r) for r in values.get("reasons") or []]
            users.append(
                UserScore(user_id=user_id, status=status, model_versions=versions, **values)
            )
        return ScoreResponse(
            users=users,
            model_versions=versions,
            model_kinds=champions.kinds,
            unavailable=dict(champions.unavailable),
        )

    # models and lists

    def models(self) -> ModelsResponse:
        from lifecycle import registry

        state = self.ready()
        infos = []
        for task, bundle in state.champions.bundles.items():
            version = state.champions.versions[task]
            infos.append(
                ModelInfo(
                    task=task,
                    model=registry.model_name(self.dataset, task),
                    version=version,
                    aliases=sorted(
                        a for a, v in state.aliases.get(task, {}).items() if v == version
                    ),
                    kind=bundle.kind,
                    feature_service=bundle.service,
                    features=len(bundle.feature_names),
                    label=bundle.label,
                    training_window=bundle.data_window,
                    metrics={
                        k: float(v) for k, v in bundle.metrics.items() if isinstance(v, int | float)
                    },
                )
            )
        return ModelsResponse(
            dataset=self.dataset,
            models=infos,
            unavailable=dict(state.champions.unavailable),
            loaded_at=state.loaded_at,
        )

    def batch_scores(self) -> tuple[float, pd.DataFrame]:
        """The latest batch scores table, re-read only when the file changes."""
        import pandas as pd

        path = self.settings.workspace.scores_dir / "latest.parquet"
        if not path.is_file():
            raise ApiError(404, f"no batch scores yet at {path}: run `lifecycle score-all`")
        mtime = path.stat().st_mtime
        cached = self._scores
        if cached is None or cached[0] != mtime:
            cached = (mtime, pd.read_parquet(path))
            self._scores = cached
        return cached

    def at_risk(
        self,
        *,
        segment: str | None = None,
        lifecycle_stage: str | None = None,
        channel: str | None = None,
        min_ltv: float | None = None,
        min_churn: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> AtRiskResponse:
        """Batch-scored users ranked by value at risk, filtered like the CLI list, one page."""
        mtime, frame = self.batch_scores()
        if "user_id" not in frame.columns or "value_at_risk" not in frame.columns:
            raise ApiError(500, "the batch scores table has no user_id or value_at_risk column")
        from serving.lists import Filters, ListError, filter_scores
        from serving.lists import rank as rank_scores

        wanted = Filters(segment, lifecycle_stage, channel, min_ltv, min_churn)
        try:
            ranked = rank_scores(filter_scores(frame, wanted), "value_at_risk")
        except ListError as error:
            option = str(error).split(" ", 1)[0].rstrip(":").removeprefix("--")
            field = {
                "stage": "lifecycle_stage",
                "min-ltv": "min_ltv",
                "min-churn": "min_churn",
            }.get(option, option)
            raise field_errors("at_risk", [((field,), str(error))]) from None
        page = ranked.iloc[offset : offset + limit]
        users = []
        for rank, record in enumerate(page.to_dict(orient="records"), start=offset + 1):
            values = {
                name: _clean(record.get(name))
                for name in AtRiskUser.model_fields
                if name not in ("rank", "reasons")
            }
            values["user_id"] = str(values["user_id"])
            for name in ("risk_band", "lifecycle_stage", "segment", "channel"):
                if values[name] is not None:
                    values[name] = str(values[name])
            users.append(
                AtRiskUser(rank=rank, reasons=_reasons_of(record.get("reasons")), **values)
            )
        return AtRiskResponse(
            total=len(ranked),
            offset=offset,
            limit=limit,
            scored_at=datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds"),
            users=users,
        )


def fetch_plan(store: Any, services: set[str]) -> dict[str, str]:
    """Look up each distinct set of features once: a service whose features another
    service already returns is answered by that service's lookup (one Feast call, not three)."""
    refs = {
        name: frozenset(
            f"{projection.name_to_use()}:{feature.name}"
            for projection in store.get_feature_service(name).feature_view_projections
            for feature in projection.features
        )
        for name in services
    }
    plan: dict[str, str] = {}
    for name in sorted(services, key=lambda n: (-len(refs[n]), n)):
        plan[name] = next((f for f in dict.fromkeys(plan.values()) if refs[name] <= refs[f]), name)
    return plan


def _subset(champions: Champions, tasks: list[str]) -> Champions:
    from serving.scoring import Champions

    return Champions(
        bundles={t: b for t, b in champions.bundles.items() if t in tasks},
        versions={t: v for t, v in champions.versions.items() if t in tasks},
        unavailable={t: r for t, r in champions.unavailable.items() if t in tasks},
    )


def _clean(value: Any) -> Any:
    """numpy scalars to Python, NaN to None (JSON has no NaN)."""
    if hasattr(value, "item") and not isinstance(value, list | dict):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _reason(raw: dict[str, Any]) -> Reason:
    return Reason(
        feature=str(raw["feature"]),
        value=_clean(raw.get("value")),
        contribution=float(raw["contribution"]),
        text=str(raw.get("text", "")),
    )


def _reasons_of(raw: Any) -> list[Reason]:
    """Reasons as stored by batch scoring: a list of dicts, or the same as a JSON string."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return []
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    return [_reason(dict(r)) for r in list(raw)]


# -- request size limit ----------------------------------------------------------------


class BodyLimit:
    """ASGI middleware: a body over ``serving.max_request_bytes`` gets 413 before it is parsed."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._limit: int | None = None

    @property
    def limit(self) -> int:
        if self._limit is None:
            from lifecycle.settings import load_settings

            self._limit = load_settings().serving.max_request_bytes
        return self._limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                return await self._too_large(send, declared.decode(errors="replace"))
            return await self.app(scope, receive, send)
        # No length given (chunked): read it here, up to the limit, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._too_large(send, f"more than {size}")
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any, size: str) -> None:
        message = f"request body of {size} bytes is over the limit of {self.limit} (serving.max_request_bytes)"
        response = JSONResponse(
            {"error": message, "detail": [{"loc": ["body"], "msg": message}]}, status_code=413
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


# -- API token authentication ----------------------------------------------------------

BIND_HOST_ENV = "LIFECYCLE_SERVING__BIND_HOST"  # serving.bind_host, e.g. set by a launcher
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})  # probes and scraping
ADMIN_PATHS = frozenset({"/reload", "/promote"})
AUTH_SCOPE_KEY = "lifecycle.auth"  # TokenAuth tells OpenApiErrors whether auth is on


@dataclass(frozen=True)
class AuthConfig:
    """Whether requests need a token, why, and the tokens (bytes; never logged or shown)."""

    enabled: bool
    reason: str
    tokens: tuple[bytes, ...] = ()
    admin_tokens: tuple[bytes, ...] = ()

    def __repr__(self) -> str:  # no token in any repr
        return (
            f"AuthConfig(enabled={self.enabled}, reason={self.reason!r}, "
            f"tokens={len(self.tokens)}, admin_tokens={len(self.admin_tokens)})"
        )


def bind_hosts(settings: Settings) -> list[str]:
    """The addresses this server may listen on: the listening socket a BentoML worker was
    handed (``--fd N``) and ``serving.bind_host`` (set by ``lifecycle serve``); none in
    process (a test client)."""
    import os
    import socket
    import sys

    hosts: list[str] = []
    argv = sys.argv
    for i, arg in enumerate(argv[:-1]):
        if arg == "--fd" and argv[i + 1].isdigit():
            try:
                with socket.socket(fileno=os.dup(int(argv[i + 1]))) as listening:
                    hosts.append(str(listening.getsockname()[0]))
            except (OSError, IndexError):
                pass
    if settings.serving.bind_host:
        hosts.append(settings.serving.bind_host.strip("[]"))
    return hosts


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def read_tokens_file(path: Path) -> tuple[list[str], list[str]]:
    """(tokens, admin tokens) of a file: one per line, ``admin:`` prefix, # comments."""
    from lifecycle.settings import SettingsError

    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise SettingsError(
            f"serving.api_tokens_file {path} cannot be read: {error.strerror}"
        ) from None
    tokens: list[str] = []
    admin: list[str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("admin:"):
            admin.append(line.removeprefix("admin:").strip())
        else:
            tokens.append(line)
    return [t for t in tokens if t], [t for t in admin if t]


def auth_config(settings: Settings, hosts: list[str]) -> AuthConfig:
    """auto: on as soon as one address the server listens on is not loopback."""
    serving = settings.serving
    if serving.auth == "off":
        return AuthConfig(False, "serving.auth = off")
    public = [h for h in hosts if not is_loopback(h)]
    if serving.auth == "on":
        reason = "serving.auth = on"
    elif not hosts:
        return AuthConfig(False, "serving.auth = auto, not bound to a network address")
    elif not public:
        return AuthConfig(False, f"serving.auth = auto, bound to loopback {', '.join(hosts)}")
    else:
        reason = f"serving.auth = auto, bound to {', '.join(public)}"
    tokens: list[str] = []
    admin: list[str] = []
    if serving.api_tokens_file is not None:
        tokens, admin = read_tokens_file(serving.api_tokens_file)
    if serving.api_token is not None and serving.api_token.get_secret_value():
        tokens.append(serving.api_token.get_secret_value())
    if serving.admin_token is not None and serving.admin_token.get_secret_value():
        admin.append(serving.admin_token.get_secret_value())
    return AuthConfig(
        True,
        reason,
        tuple(t.encode() for t in tokens + admin),  # an admin token is also an API token
        tuple(t.encode() for t in admin),
    )


def _matches(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time against every token (no early exit that would tell which one is close)."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


class TokenAuth:
    """ASGI middleware: ``Authorization: Bearer <token>`` on every route but the probes and
    /metrics; /reload and /promote need an admin token. 401 missing or unknown token, 403
    not admin."""

    def __init__(self, app: Any, config: AuthConfig | None = None) -> None:
        self.app = app
        if config is None:
            from lifecycle.settings import load_settings

            settings = load_settings()
            config = auth_config(settings, bind_hosts(settings))
        self.config = config
        if config.enabled:
            logger.info(
                "API token auth on (%s): %d token(s), %d admin",
                config.reason,
                len(config.tokens),
                len(config.admin_tokens),
            )
            if not config.tokens:
                logger.warning(
                    "API token auth is on but no token is configured: every call but the "
                    "probes is refused (set LIFECYCLE_SERVING__API_TOKEN or serving.api_tokens_file)"
                )
        else:
            logger.info("API token auth off (%s)", config.reason)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        scope[AUTH_SCOPE_KEY] = self.config.enabled
        if not self.config.enabled:
            return await self.app(scope, receive, send)
        path = re.sub("/+", "/", scope.get("path") or "/")
        if path != "/":
            path = path.rstrip("/")
        if path in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = _bearer(scope)
        if given is None:
            return await _deny(send, 401, "missing API token: send Authorization: Bearer <token>")
        if not _matches(given, self.config.tokens):
            return await _deny(send, 401, "invalid API token")
        if path in ADMIN_PATHS and not _matches(given, self.config.admin_tokens):
            return await _deny(send, 403, f"{path} needs an admin token")
        return await self.app(scope, receive, send)


def _bearer(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            token = token.strip()
            if scheme.lower() == b"bearer" and token:
                return token
            return None
    return None


async def _deny(send: Any, status: int, message: str) -> None:
    response = JSONResponse(
        {"error": message, "detail": [{"loc": ["header", "authorization"], "msg": message}]},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


# -- the error answers, in the OpenAPI document -----------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "every error answer: a message and, per problem, where and what",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
PATH_ERRORS = {  # answers only some routes give
    "/promote": {"409": "no challenger to promote, or it is already the champion"},
}
API_ERRORS = {
    "400": "a field is invalid (detail says which)",
    "404": "no such route, or no batch scores yet (/at_risk)",
    "413": "request body over serving.max_request_bytes",
    "500": "a server fault",
    "503": "not ready yet (models or feature store loading or failed), or reload failed",
}


def document_errors(spec: dict[str, Any], auth: bool) -> dict[str, Any]:
    """BentoML documents 400/404/500 with ``detail`` as a string and nothing else; document
    the errors this service really answers, with their real shape, and the token scheme."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if auth:
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token; /reload and /promote need an admin token",
        }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if method == "post":
                for code, text in {**API_ERRORS, **PATH_ERRORS.get(path, {})}.items():
                    responses[code] = {"description": text, "content": ref}
            elif path == "/readyz":
                responses["503"] = {"description": "not ready yet", "content": ref}
            if auth and path not in OPEN_PATHS:
                operation["security"] = [{"bearer": []}]
                responses["401"] = {"description": "missing or invalid API token", "content": ref}
                if path in ADMIN_PATHS:
                    responses["403"] = {"description": "not an admin token", "content": ref}
    return spec


class OpenApiErrors:
    """ASGI middleware: rewrites ``/docs.json`` on its way out with :func:`document_errors`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").endswith("/docs.json"):
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await finish()

        async def finish() -> None:
            body = b"".join(chunks)
            if start.get("status") == 200:
                try:
                    spec = document_errors(json.loads(body), bool(scope.get(AUTH_SCOPE_KEY)))
                    body = json.dumps(spec).encode()
                except ValueError:
                    pass
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


class QuietBadInput(logging.Filter):
    """BentoML logs a full traceback for every 400; a caller's bad input deserves one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            record.msg, record.args = (
                f"{record.getMessage()}: 400, {error.error_count()} field error(s)",
                (),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


# -- the BentoML service ---------------------------------------------------------------


@bentoml.service(
    name="lifecycle_scoring",
    # Access log and trace sampling cost more than the scoring itself at these latencies.
    logging={"access": {"enabled": False}},
    tracing={"sample_rate": 0.0},
    metrics={"enabled": True, "namespace": "lifecycle"},
    traffic={"timeout": 30, "max_concurrency": 256},
    http={"response": {"trace_id": False}},
    workers=1,
    # BentoML runs sync APIs on ONE thread by default; the Feast read (SQLite) and LightGBM
    # release the GIL, so a few threads overlap requests (bench: 21 -> see experiments/).
    threads=4,
)
class LifecycleScoring:
    """Churn, conversion and LTV scores with reasons, for user ids or supplied features."""

    def __init__(self) -> None:
        from lifecycle.settings import load_settings

        self.settings = load_settings()
        auth_config(self.settings, [])  # an unreadable tokens file stops the start, clearly
        http_log = logging.getLogger("bentoml._internal.server.http_app")
        if not any(isinstance(f, QuietBadInput) for f in http_log.filters):
            http_log.addFilter(QuietBadInput())
        self.scorer = Scorer(self.settings)
        self._stop = threading.Event()
        # Load in the background so liveness answers at once and readiness tells the truth.
        threading.Thread(target=self._start, name="lifecycle-load", daemon=True).start()

    def _start(self) -> None:
        try:
            self.scorer.load()
        except Exception:
            return
        seconds = self.settings.serving.poll_aliases_seconds
        while seconds > 0 and not self._stop.wait(seconds):
            try:
                if self.scorer.aliases_moved():
                    logger.info("champion alias moved: %s", self.scorer.reload().changed)
            except Exception as error:  # the registry may be away for a moment; keep serving
                logger.warning("alias poll failed: %s", error)

    def __is_ready__(self) -> bool:
        return self.scorer.state is not None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        self.scorer.close()

    @bentoml.api
    def score(
        self,
        user_ids: Annotated[
            list[UserId], Field(min_length=1, description="users to score, request order kept")
        ],
        tasks: Annotated[
            list[Task] | None, Field(min_length=1, description="default: all three")
        ] = None,
    ) -> ScoreResponse:
        """Scores from the online store; users not in it get the documented cold-start answer."""
        try:
            return self.scorer.score(user_ids, tasks)
        except ApiError as error:
            return error.response()  # type: ignore[return-value]

    @bentoml.api
    def score_features(
        self,
        users: Annotated[list[FeatureRow], Field(min_length=1)],
        tasks: Annotated[list[Task] | None, Field(min_length=1)] = None,
    ) -> ScoreResponse:
        """Scores for features the caller supplies (users not in the store yet)."""
        try:
            return self.scorer.score_features(users, tasks)
        except ApiError as error:
            return error.response()  # type: ignore[return-value]

    @bentoml.api
    def at_risk(
        self,
        segment: str | None = None,
        lifecycle_stage: str | None = None,
        channel: str | None = None,
        min_ltv: Annotated[float | None, Field(ge=0)] = None,
        min_churn: Annotated[float | None, Field(ge=0, le=1)] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> AtRiskResponse:
        """Users from the latest batch scores, ranked by value at risk."""
        try:
            return self.scorer.at_risk(
                segment=segment,
                lifecycle_stage=lifecycle_stage,
                channel=channel,
                min_ltv=min_ltv,
                min_churn=min_churn,
                limit=limit,
                offset=offset,
            )
        except ApiError as error:
            return error.response()  # type: ignore[return-value]

    @bentoml.api
    def models(self) -> ModelsResponse:
        """The serving models: versions, aliases, training window, headline test metrics."""
        try:
            return self.scorer.models()
        except ApiError as error:
            return error.response()  # type: ignore[return-value]

    @bentoml.api
    def reload(self) -> ReloadResponse:
        """Re-read the champion aliases and swap the models; requests in flight finish on the old ones."""
        try:
            return self.scorer.reload()
        except ApiError as error:
            return error.response()  # type: ignore[return-value]
        except Exception as error:  # the old models keep serving
            return ApiError(
                503, f"reload failed, still serving the previous models: {error}"
            ).response()  # type: ignore[return-value]

    @bentoml.api
    def promote(
        self,
        task: Annotated[Task, Field(description="the task whose challenger becomes champion")],
        reason: Annotated[
            str,
            StringConstraints(min_length=1, max_length=500, pattern=r"\S"),
            Field(description="why, recorded on the version"),
        ],
    ) -> PromoteResponse:
        """Admin: make a task's challenger the champion, then reload; says what moved."""
        try:
            return self.scorer.promote(task, reason)
        except ApiError as error:
            return error.response()  # type: ignore[return-value]


# The first added runs first: an unauthenticated request's body is never read.
LifecycleScoring.add_asgi_middleware(TokenAuth)
LifecycleScoring.add_asgi_middleware(BodyLimit)
LifecycleScoring.add_asgi_middleware(OpenApiErrors)
