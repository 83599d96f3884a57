"""The request and response models of the scoring API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from features.contract import MAX_USER_ID_CHARS
from lifecycle import tasks
from serving.list_fields import list_fields, rank_by_choices

# The API follows the task registry (lifecycle.tasks), read when the service is defined: a
# task declared in a module named by LIFECYCLE_TASK_MODULES is asked for, answered and
# listed like the built-in ones.
Task = Literal[tasks.names()]  # type: ignore[valid-type]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USER_ID_CHARS)]
FeatureValue = float | bool | str | None
COLD_START = (
    "unknown users are scored as a brand-new user: tenure 0, no activity or orders counted "
    "yet, every other feature unknown (serving.scoring.cold_start_features)"
)
# Per task, the response fields it fills; a task not asked for leaves them null.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    t.name: (*t.outputs, *(("reasons",) if t.reasons else ())) for t in tasks.all_tasks()
}


# Churn reasons of a /score answer: auto serves those `score-all` precomputed while they are
# fresh (same churn model version and as-of date) and computes the others; fresh computes
# all; none leaves them out (the fastest answer).
ReasonsMode = Literal["auto", "fresh", "none"]
DEFINITIONS_DOC = (
    "task -> the label definition its scores follow (horizon_days, lookback_days, target...): "
    "a score means something else when this changes"
)


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


class _UserScore(_Model):
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
        description="MBG/NBD probability that the customer is still active (null without a purchase)",
    )
    expected_purchases: float | None = Field(
        None,
        description="MBG/NBD expected purchases over the LTV horizon (churn horizon without an "
        "LTV model; null without a purchase)",
    )
    uplift: float | None = Field(
        None,
        description="with an uplift champion whose inputs the user has: the expected effect of "
        "acting (the campaign) on the outcome it was trained for (lifecycle train-uplift)",
    )
    lifecycle_stage: str | None = None
    reasons: list[Reason] = Field(default_factory=list, description="what pushed churn up most")
    model_versions: dict[str, str] = Field(default_factory=dict)


def _with_task_fields(base: type[_Model], name: str, columns: tuple[str, ...]) -> type[_Model]:
    """``base`` plus a number field for each column of a declared task it does not name."""
    extra = {
        column: (float | None, Field(None, description=f"{task.name}: {task.meaning}"))
        for task in tasks.all_tasks()
        for column in task.outputs
        if column in columns and column not in base.model_fields
    }
    return create_model(name, __base__=base, __doc__=base.__doc__, **extra)  # type: ignore[call-overload]


UserScore = _with_task_fields(_UserScore, "UserScore", tasks.output_columns())


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
    definitions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description=DEFINITIONS_DOC
    )


def never_negative(name: str) -> bool:
    """Whether a feature is one ``features.asof`` computes: a count, a duration in days, an
    amount or a ratio of them, none of which can be negative (``-100`` is not a value)."""
    from features.asof import TOTAL_FEATURES, WINDOW_FEATURES

    window, _, days = name.rpartition("_")
    counted = window in WINDOW_FEATURES and days.endswith("d") and days[:-1].isdigit()
    return counted or name in TOTAL_FEATURES


class FeatureRow(_Model):
    user_id: UserId
    features: dict[str, FeatureValue] = Field(
        description="feature name -> value; a feature left out is unknown (null), a name the "
        "models do not know is an error; numeric features take numbers (not true/false), and "
        "the engineered ones (counts, days, amounts, ratios) are never negative"
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
    realized: dict[str, Any] = Field(
        default_factory=dict,
        description="the newest matured realized quality of this version (lifecycle outcomes): "
        "metrics on what really happened, n, as_of and a grade (excellent, good, fair, poor); "
        "empty until one of its predictions has matured and `lifecycle outcomes` has run",
    )


class UpliftInfo(_Model):
    model: str = Field(description="the registered uplift model, <dataset>-uplift")
    version: str
    learner: str = Field(description="t_learner, x_learner or transformed_outcome")
    outcome: str = Field(description="the campaign outcome whose change it predicts")
    treatment: dict[str, Any]
    training_window: dict[str, Any]
    metrics: dict[str, float] = Field(description="test Qini and AUUC with their intervals")


class ModelsResponse(_Model):
    dataset: str
    models: list[ModelInfo]
    unavailable: dict[str, str]
    loaded_at: str
    uplift: UpliftInfo | None = Field(
        None, description="the dataset's uplift champion (lifecycle train-uplift), if any"
    )
    campaigns: list[dict[str, Any]] = Field(
        default_factory=list,
        description="every reported campaign of the dataset as `lifecycle campaign report` "
        "last measured it: targeted vs control per measure (retention, conversion, revenue) "
        "with a 95% interval, users and value saved; empty until a report has run",
    )


RankBy = Literal[rank_by_choices()]  # type: ignore[valid-type]


class _AtRiskUser(_Model):
    """One row of the operator's at-risk list: the fields of ``serving.lists.list_fields()``
    (what ``lifecycle at-risk`` prints) plus the churn reasons as structured items."""

    rank: int
    user_id: str
    churn_probability: float | None = None
    ltv: float | None = None
    ltv_p10: float | None = None
    ltv_p90: float | None = None
    value_at_risk: float | None = None
    uplift: float | None = Field(None, description="with an uplift champion: the effect of acting")
    expected_saved_value: float | None = Field(None, description="uplift x LTV")
    risk_band: str | None = None
    p_alive: float | None = None
    expected_purchases: float | None = None
    lifecycle_stage: str | None = None
    segment: str | None = None
    super_user: bool | None = None
    days_since_last_activity: float | None = None
    orders: float | None = None
    revenue: float | None = None
    channel: str | None = None
    top_reasons: str = Field("", description="the reasons as one line, as the CLI list shows them")
    control: bool = Field(
        description="in the control group: hold this user out of the campaign. A stable draw "
        "from (seed, user id) alone, so it does not depend on the filters or the page"
    )
    reasons: list[Reason] = Field(default_factory=list)


AtRiskUser = _with_task_fields(_AtRiskUser, "AtRiskUser", list_fields())


class AtRiskResponse(_Model):
    total: int = Field(description="users matching the filters that have the ranking score")
    offset: int
    limit: int
    rank_by: RankBy
    control_share: float = Field(description="share of all scored users in the control group")
    seed: int = Field(description="the control group's seed: same seed, same group")
    as_of: str | None = Field(None, description="the as-of date of the batch scores")
    scored_at: str = Field(description="when the batch scores file was written")
    definitions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description=DEFINITIONS_DOC
    )
    users: list[AtRiskUser]


class MonitorResponse(_Model):
    dataset: str
    measured: bool = Field(description="false until `lifecycle monitor` has run")
    drifting: list[str] = Field(default_factory=list, description="columns past the thresholds")
    result: dict[str, Any] = Field(
        default_factory=dict,
        description="the saved result: every input and score with PSI, test and verdict "
        "(empty until `lifecycle monitor` has run)",
    )


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
