"""The request and response models of the scoring API (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


RankBy = Literal["value_at_risk", "churn_probability", "ltv"]  # serving.lists.RANK_BY


class AtRiskUser(_Model):
    """One row of the operator's at-risk list: the fields of ``serving.lists.LIST_FIELDS``
    (what ``lifecycle at-risk`` prints) plus the churn reasons as structured items."""

    rank: int
    user_id: str
    churn_probability: float | None = None
    ltv: float | None = None
    ltv_p10: float | None = None
    ltv_p90: float | None = None
    value_at_risk: float | None = None
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


class AtRiskResponse(_Model):
    total: int = Field(description="users matching the filters that have the ranking score")
    offset: int
    limit: int
    rank_by: RankBy
    control_share: float = Field(description="share of all scored users in the control group")
    seed: int = Field(description="the control group's seed: same seed, same group")
    as_of: str | None = Field(None, description="the as-of date of the batch scores")
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
