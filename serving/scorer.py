"""The scorer: everything the scoring API does, without HTTP.

It loads the champion models and the Feast store once, scores user ids (online features)
or supplied features, answers the at-risk list from the batch scores with the CLI's list
functions, and reloads or promotes models, swapping them atomically. ``serving.service``
puts it behind BentoML; tests and benchmarks call it directly.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.tasks import CHURN, LTV
from lifecycle.tasks import names as task_names
from serving import gauges
from serving.errors import ApiError, field_errors
from serving.schemas import (
    TASK_FIELDS,
    AtRiskResponse,
    AtRiskUser,
    FeatureRow,
    ModelInfo,
    ModelsResponse,
    MonitorResponse,
    PromoteResponse,
    RankBy,
    Reason,
    ReloadResponse,
    ScoreResponse,
    Task,
    UserScore,
)

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import ValidationError

    from lifecycle.settings import Settings
    from serving.batch import ScoresTable
    from serving.lists import ListError
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
    uplift: Any = None  # serving.uplift.UpliftChampion, when the dataset has one
    realized: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # outcomes
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
            store = open_store(self.settings, self.dataset, online_only=True)
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
        from serving.scoring import (
            cold_start_features,
            compile_champions,
            load_champions,
            score_frame,
        )

        champions = load_champions(self.settings, self.dataset, cache=self._cache)
        compile_champions(self.settings, champions, self.dataset, background=True)
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
        from lifecycle.outcomes import latest_outcomes
        from serving.monitor import last_result

        realized = latest_outcomes(self.settings, self.dataset)
        gauges.publish_realized(realized, champions.versions)
        gauges.publish_drift(last_result(self.settings, self.dataset))
        return Loaded(
            champions=champions,
            store=store,
            aliases=self._aliases(),
            cold_start=cold,
            fetch=fetch_plan(store, champions.services),
            uplift=self._uplift_champion(),
            realized=realized,
        )

    def _uplift_champion(self) -> Any:
        """The dataset's uplift champion, or None (the API then answers ``uplift`` null)."""
        from serving.uplift import UpliftUnavailable, load_uplift_champion

        try:
            return load_uplift_champion(self.settings, self.dataset, cache=self._cache)
        except UpliftUnavailable:
            return None

    def _aliases(self) -> dict[str, dict[str, str]]:
        from mlflow.exceptions import MlflowException

        from lifecycle import registry

        client = registry.client(self.settings)
        aliases: dict[str, dict[str, str]] = {}
        for task in task_names():
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
            changed=sorted(t for t in task_names() if before.get(t) != after.get(t)),
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
        return current != {t: state.champions.versions.get(t) for t in task_names()}

    def close(self) -> None:
        shutil.rmtree(self._cache, ignore_errors=True)

    # scoring

    def check_tasks(self, tasks: list[Task] | None) -> list[str]:
        return list(dict.fromkeys(tasks)) if tasks else list(task_names())

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
        rows = self._score_known(state, champions, frame[found])
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
        rows = self._score_known(state, champions, frame)
        return self._response(
            state, champions, wanted, [r.user_id for r in users], rows, "supplied"
        )

    def _score_known(
        self, state: Loaded, champions: Champions, frame: pd.DataFrame
    ) -> dict[str, dict[str, Any]]:
        from features import contract as c
        from serving.scoring import score_frame

        if frame.empty or not champions.bundles:
            return {}
        frame = frame.reset_index(drop=True)
        scored = score_frame(champions, frame)
        uplift = state.uplift
        if uplift is not None and set(uplift.bundle.feature_names) <= set(frame.columns):
            from serving.uplift import uplift_per_user

            scored["uplift"] = uplift_per_user(uplift, frame)["uplift"].to_numpy()
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
        if CHURN.name in champions.bundles and LTV.name in champions.bundles:
            fields.append("value_at_risk")
        if any(b.purchase_process for b in champions.bundles.values()):
            fields += ["p_alive", "expected_purchases"]
        if state.uplift is not None:
            fields.append("uplift")
            versions["uplift"] = state.uplift.version
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

    def monitor(self) -> MonitorResponse:
        from serving.monitor import last_result

        result = last_result(self.settings, self.dataset)
        gauges.publish_drift(result)
        return MonitorResponse(
            dataset=self.dataset,
            measured=result is not None,
            drifting=list((result or {}).get("drifting", [])),
            result=result or {},
        )

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
                    realized=state.realized.get(task, {}).get(version) or {},
                )
            )
        return ModelsResponse(
            dataset=self.dataset,
            models=infos,
            unavailable=dict(state.champions.unavailable),
            loaded_at=state.loaded_at,
        )

    def batch_scores(self) -> tuple[float, ScoresTable]:
        """The latest batch scores table, re-read only when the file changes."""
        from serving.batch import read_scores

        path = self.settings.workspace.latest_scores
        if not path.is_file():
            raise ApiError(404, f"no batch scores yet at {path}: run `lifecycle score-all`")
        mtime = path.stat().st_mtime
        cached = self._scores
        if cached is None or cached[0] != mtime:
            cached = (mtime, read_scores(path))
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
        rank_by: RankBy = "value_at_risk",
        control_share: float | None = None,
        seed: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> AtRiskResponse:
        """One page of the list ``lifecycle at-risk`` prints, made by the same functions
        (``serving.lists.at_risk_page`` and ``list_rows``) from the latest batch scores."""
        from serving.lists import (
            CONTROL_SEED,
            CONTROL_SHARE,
            Filters,
            ListError,
            Privacy,
            at_risk_page,
            list_rows,
        )

        control_share = CONTROL_SHARE if control_share is None else control_share
        seed = CONTROL_SEED if seed is None else seed
        mtime, table = self.batch_scores()
        try:
            page = at_risk_page(
                table.frame,
                Filters(segment, lifecycle_stage, channel, min_ltv, min_churn),
                rank_by=rank_by,
                limit=limit,
                offset=offset,
                control_share=control_share,
                seed=seed,
            )
        except ListError as error:
            raise list_error(error) from None
        # user ids as given and no personal column: the CLI's default privacy
        rows = list_rows(page.ranked, Privacy(), table.metadata.get("personal_columns", []))
        reasons = page.ranked["reasons"] if "reasons" in page.ranked else [None] * len(rows)
        users = [
            _at_risk_user(row, raw)
            for row, raw in zip(rows.to_dict(orient="records"), reasons, strict=True)
        ]
        return AtRiskResponse(
            total=page.total,
            offset=offset,
            limit=limit,
            rank_by=rank_by,
            control_share=control_share,
            seed=seed,
            as_of=table.as_of or None,
            scored_at=datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds"),
            users=users,
        )


# serving.lists names a parameter as its Filters field or keyword; the request field of
# /at_risk where the two differ.
AT_RISK_FIELDS = {"stage": "lifecycle_stage"}


def list_error(error: ListError) -> ValidationError | ApiError:
    """A list error as the 400 of the request field it names (``ListError.field``)."""
    if error.field is None:
        return ApiError(400, str(error))
    field_name = AT_RISK_FIELDS.get(error.field, error.field)
    return field_errors("at_risk", [((field_name,), str(error))])


def _at_risk_user(row: dict[str, Any], raw_reasons: Any) -> AtRiskUser:
    """A list row (``list_rows``) as the API's model, with the reasons as structured items."""
    values = {name: _clean(value) for name, value in row.items()}
    for name in ("user_id", "risk_band", "lifecycle_stage", "segment", "channel"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return AtRiskUser(**values, reasons=_reasons_of(raw_reasons))


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
    """Reasons as batch scoring stores them: JSON text, null when not computed."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or not str(raw).strip():
        return []
    return [_reason(r) for r in json.loads(raw)]
