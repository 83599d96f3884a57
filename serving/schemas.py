"""The request and response models of the scoring API (they make its OpenAPI document)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    create_model,
)

from features.contract import ID_REFUSED_CHARACTER, MAX_USER_ID_CHARS
from lifecycle import tasks
from lifecycle.list_fields import list_fields, rank_by_choices
from serving.not_scored import NOT_SCORED_DOC
from serving.outlook_apart import OUTLOOK_APART_DOC

# The API follows the task registry (lifecycle.tasks), read when the service is defined: a
# task declared in a module named by LIFECYCLE_TASK_MODULES is asked for, answered and
# listed like the built-in ones.
Task = Literal[tasks.names()]  # type: ignore[valid-type]


def _no_control_character(user_id: str) -> str:
    """An id with a control or invisible character is no user ingest loads ('7\x00' was
    answered as an unknown user, with the cold-start scores)."""
    if re.search(ID_REFUSED_CHARACTER, user_id):
        raise ValueError(
            "a user id holds no control character (a NUL, a tab, a line break) nor an "
            "invisible one (a zero-width space, a right-to-left mark, a byte order mark)"
        )
    return user_id


UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_USER_ID_CHARS),
    AfterValidator(_no_control_character),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_USER_ID_CHARS,
            "pattern": f"^[^{ID_REFUSED_CHARACTER[1:-1]}]*$",
        }
    ),
]
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


# The risk band's thresholds are settings (serving.high_risk, serving.medium_risk): the
# served document states the configured ones (serving.openapi.document_context).
RISK_BAND_DOC = (
    "churn risk band from churn_probability: high from serving.high_risk, medium from "
    "serving.medium_risk, low below"
)
STAGE_DOC = (
    "where the user is in the product's lifecycle (never_active, new, active, at_risk, "
    "silent, churned, reactivated), from their activity and churn risk; churned is no activity "
    "for 90 days or more, whatever churn_probability forecasts"
)
AS_OF_DOC = "the date (YYYY-MM-DD) of the features the scores were computed from"
HORIZON_DOC = "task -> the window its score looks ahead, in days after as_of (label definition)"
CURRENCY_DOC = (
    "ISO 4217 code of every money field (ltv, value_at_risk, revenue...), from the dataset's "
    "events (currency column); null when the events record none (amounts as in the data, "
    "e.g. purchase counts) or several"
)
AMOUNTS_DOC = (
    "what the amount fields (ltv, value_at_risk, revenue...) hold: 'money' (in currency), or "
    "'purchases' for a log without amounts (ingested with --amount-default N: purchases "
    "counted, N each), 'items' for amounts that count items (--amount-unit count); currency "
    "is then null"
)
VERSIONS_DOC = (
    "task -> registry version of the model whose scores these are; '1 - churn vN' where the "
    "churn model answers the task (conversion on a log of purchases, as /models answered_by)"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reason(_Model):
    feature: str = Field(description="the model input (feature name) this reason is about")
    value: FeatureValue = Field(
        description="the user's value of the feature, in the feature's own unit (days, counts, "
        "money in the response's currency, ratios)"
    )
    contribution: float = Field(
        description="its push on the churn score: LightGBM SHAP in log-odds, or for a baseline "
        "rule served instead (model_kinds) its term of the rule's score against the average"
    )
    text: str = Field(description="the reason in words an operator reads")


class _UserScore(_Model):
    user_id: str = Field(description="the user id as asked for")
    status: Literal["scored", "unknown_user", "supplied"] = Field(
        description="scored: features from the online store; unknown_user: not in the store, "
        "cold-start answer; supplied: features given by the caller"
    )
    hint: str | None = Field(
        None,
        description="unknown_user: why the id may have missed, when its form is not the "
        "dataset's (digits where the dataset's ids are zero-padded: '3' where they are "
        "written '00003'; said of the ids' form, never of another user); null otherwise",
    )
    churn_probability: float | None = Field(
        None,
        description="probability 0-1 of no qualifying activity within the churn window "
        "(horizon_days.churn days after as_of); null when churn was not asked for, or the champion's label has a lookback "
        "and the user was not active in it (default: every known user is scored)",
    )
    risk_band: Literal["low", "medium", "high"] | None = Field(None, description=RISK_BAND_DOC)
    conversion_probability: float | None = Field(
        None,
        description="probability 0-1 of reaching the conversion target within its window "
        "(horizon_days.conversion days); null when the user is not eligible (already converted) or not asked for",
    )
    ltv: float | None = Field(
        None,
        description="expected revenue, in the response's currency, over the LTV window "
        "(horizon_days.ltv days; the mean: with most of the mass at 0 "
        "and a heavy tail it can exceed ltv_p90)",
    )
    ltv_p10: float | None = Field(
        None,
        description="10th percentile of the revenue over the LTV window, in the response's "
        "currency (0 when P(no purchase) >= 10%)",
    )
    ltv_p50: float | None = Field(
        None, description="median revenue over the LTV window, in the response's currency"
    )
    ltv_p90: float | None = Field(
        None,
        description="90th percentile of the revenue over the LTV window, in the response's currency",
    )
    purchase_probability: float | None = Field(
        None, description="probability 0-1 of any revenue over the LTV window"
    )
    value_at_risk: float | None = Field(
        None, description="churn_probability x ltv, in the response's currency"
    )
    p_alive: float | None = Field(
        None,
        description="MBG/NBD probability 0-1 that the customer is still active (null without a purchase)",
    )
    expected_purchases: float | None = Field(
        None,
        description="MBG/NBD expected purchases over the LTV horizon (churn horizon without an "
        "LTV model; null without a purchase)",
    )
    outlook_apart: str | None = Field(None, description=OUTLOOK_APART_DOC)
    features_missing: list[str] | None = Field(
        None,
        description="supplied: the models' inputs this row left out, each taken as unknown (as "
        "a null, e.g. a non-buyer's purchase recency; the scores then rest on the others); "
        "null otherwise",
    )
    uplift: float | None = Field(
        None,
        description="with an uplift champion whose inputs the user has: the expected effect of "
        "acting (the campaign) on the outcome it was trained for (lifecycle train-uplift); "
        "null for a user outside the campaign's population (uplift_outside says why)",
    )
    uplift_outside: str | None = Field(
        None,
        description="why uplift is null: the user's input beyond the range the campaign's users "
        "had (the model would extrapolate); null when the user is within it",
    )
    lifecycle_stage: str | None = Field(None, description=STAGE_DOC)
    reasons: list[Reason] | None = Field(
        None,
        description="what pushed churn up most ([]: computed, no feature raised it); null when "
        "not computed: reasons 'none', or tasks without churn",
    )
    model_versions: dict[str, str] = Field(
        default_factory=dict,
        description="task -> registry version that scored this user ('1 - churn vN': as "
        "model_versions of the answer); a task of not_scored is left out",
    )
    not_scored: dict[str, str] | None = Field(None, description=NOT_SCORED_DOC)


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
    users: list[UserScore] = Field(description="one per requested user id, in request order")
    model_versions: dict[str, str] = Field(description=VERSIONS_DOC)
    model_kinds: dict[str, str] = Field(
        default_factory=dict,
        description="every key of model_versions -> what serves it (uplift: its learner): "
        "lightgbm (lightgbm+bgnbd_gamma_gamma: a value "
        "blended with that rule's, as the test cutoffs preferred), or the baseline rule "
        "registered when it "
        "beat LightGBM (recency_rule, rfm_score, last_period_value, bgnbd_gamma_gamma), or the "
        "model of data with too few outcomes to learn from (purchase_process, "
        "activity_process, bgnbd_gamma_gamma); conversion on a log of purchases only: "
        "churn_complement (a one-time buyer's conversion is 1 - their churn probability), or "
        "with labels.churn_lookback_days churn_complement_else_<kind> (its own champion "
        "answers the one-time buyers churn does not score)",
    )
    unavailable: dict[str, str] = Field(description="task -> why it cannot serve")
    cold_start: str = Field(COLD_START, description="how unknown users are answered")
    definitions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=DEFINITIONS_DOC + "; of each key of model_versions, a partner's too, and "
        "the uplift model's: its campaign outcome, outcome_kind and treatment (as /models)",
    )
    partners: dict[str, list[str]] = Field(
        default_factory=dict,
        description="task not asked for -> the fields of this answer its model made, why it "
        "is in model_versions, model_kinds and definitions while its own fields are null: "
        "churn makes lifecycle_stage (of the user's churn risk), and conversion_probability "
        "on a log of purchases (1 - churn); ltv (its purchase process) p_alive and "
        "expected_purchases, whatever tasks are asked",
    )
    as_of: str | None = Field(
        None, description=AS_OF_DOC + ": the newest the online store holds (materialized)"
    )
    horizon_days: dict[str, int] = Field(
        default_factory=dict,
        description=HORIZON_DOC + "; every task of model_versions, not uplift: a campaign "
        "outcome has no horizon in days (its definition: definitions.uplift)",
    )
    currency: str | None = Field(None, description=CURRENCY_DOC)
    amounts: Literal["money", "purchases", "items"] = Field("money", description=AMOUNTS_DOC)


Built = TypeVar("Built", bound=BaseModel)
_FIELD_DEFAULTS: dict[type, list[tuple[str, Any, Any]]] = {}


def trusted(model: type[Built], values: dict[str, Any]) -> Built:
    """``model.model_construct(**values)`` (no validation; defaults for the fields not given)
    for this module's models (no aliases, no post-init), several times cheaper: an answer
    builds hundreds of them from scoring's own values, of the fields' types."""
    spec = _FIELD_DEFAULTS.get(model)
    if spec is None:
        spec = [(n, f.default, f.default_factory) for n, f in model.model_fields.items()]
        _FIELD_DEFAULTS[model] = spec
    fields = {
        name: values[name] if name in values else (factory() if factory else default)
        for name, default, factory in spec
    }
    built = model.__new__(model)
    object.__setattr__(built, "__dict__", fields)
    object.__setattr__(built, "__pydantic_fields_set__", set(values))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


@lru_cache(maxsize=4096)  # asked per value of every /score_features row
def never_negative(name: str) -> bool:
    """Whether a feature is one ``features.asof`` computes: a count, a duration in days, an
    amount or a ratio of them, none of which can be negative (``-100`` is not a value); only
    the value kept after refunds can be."""
    from features.asof import SIGNED_FEATURES, TOTAL_FEATURES, WINDOW_FEATURES, window_of

    window = window_of(name)
    counted = window is not None and window[0] in WINDOW_FEATURES
    return counted or (name in TOTAL_FEATURES and name not in SIGNED_FEATURES)


# A day count of ``features.asof`` (tenure, recency, a gap between orders) spans the user's
# events, and the data contract takes none before 1990 (``features.validation``): a hundred
# years is beyond any, and 1e300 days describes no user.
LONGEST_DAYS = 36_525


@lru_cache(maxsize=4096)
def largest(name: str) -> float | None:
    """The largest value a feature ``features.asof`` computes can take, where there is one
    apart from other fields (:func:`contradictions` compares those): a flag's 1, a day
    count's :data:`LONGEST_DAYS`; None for counts and amounts."""
    from features.asof import TOTAL_FEATURES

    if name == "activated":
        return 1.0
    days = name.endswith("_days") or name.startswith("days_")
    return float(LONGEST_DAYS) if days and name in TOTAL_FEATURES else None


@lru_cache(maxsize=4096)
def whole_number(name: str) -> bool:
    """Whether a feature counts things (orders, sessions, active days, refunds), in a window
    (``<name>_<days>d``) or in all: its values are whole numbers."""
    from features.asof import COUNTED_TOTALS, COUNTED_WINDOW_FEATURES, window_of

    window = window_of(name)
    return (window is not None and window[0] in COUNTED_WINDOW_FEATURES) or name in COUNTED_TOTALS


class FeatureRow(_Model):
    user_id: UserId = Field(description="an id for the row, echoed in the answer")
    features: dict[str, FeatureValue] = Field(
        description="feature name -> value; a feature left out is unknown (null), a name the "
        "models do not know is an error; numeric features take numbers (not true/false), and "
        "the engineered ones (counts, days, amounts, ratios) are never negative (but "
        "net_revenue_total), and counts are whole numbers"
    )


RankBy = Literal[rank_by_choices()]  # type: ignore[valid-type]


RFM_SCORE_DOC = (
    "the {} score (1-5, {}) the segment was named from; null without an order (M: also on a "
    "log scored on R and F alone)"
)


class _AtRiskUser(_Model):
    """One row of the operator's at-risk list: the fields of ``serving.lists.list_fields()``
    (what ``lifecycle at-risk`` prints) plus the churn reasons as structured items."""

    rank: int = Field(description="1-based position in the whole ranked list")
    user_id: str = Field(description="the user id as given (the CLI's default privacy)")
    churn_probability: float | None = Field(
        None, description="probability 0-1 of no activity within horizon_days.churn days"
    )
    ltv: float | None = Field(
        None, description="expected revenue over horizon_days.ltv days, in currency"
    )
    ltv_p10: float | None = Field(None, description="10th percentile of that revenue, in currency")
    ltv_p50: float | None = Field(None, description="median of that revenue, in currency")
    ltv_p90: float | None = Field(None, description="90th percentile of that revenue, in currency")
    value_at_risk: float | None = Field(None, description="churn_probability x ltv, in currency")
    return_probability: float | None = Field(
        None,
        description="ranked by it: 1 - churn_probability, the probability 0-1 of any activity "
        "within horizon_days.churn days (of a churned user: coming back)",
    )
    uplift: float | None = Field(None, description="with an uplift champion: the effect of acting")
    expected_saved_value: float | None = Field(None, description="uplift x LTV, in currency")
    risk_band: str | None = Field(None, description=RISK_BAND_DOC)
    p_alive: float | None = Field(
        None, description="MBG/NBD probability 0-1 that the customer is still active"
    )
    expected_purchases: float | None = Field(
        None, description="MBG/NBD expected purchases over the LTV window"
    )
    outlook_apart: str | None = Field(None, description=OUTLOOK_APART_DOC)
    lifecycle_stage: str | None = Field(None, description=STAGE_DOC)
    segment: str | None = Field(None, description="the user's value segment (RFM-based)")
    r_score: int | None = Field(None, description=RFM_SCORE_DOC.format("R", "recency"))
    f_score: int | None = Field(None, description=RFM_SCORE_DOC.format("F", "orders"))
    m_score: int | None = Field(None, description=RFM_SCORE_DOC.format("M", "revenue kept"))
    super_user: bool | None = Field(
        None, description="among the top 20% of customers by revenue kept (super_users_v4)"
    )
    days_since_last_activity: float | None = Field(
        None, description="days from the last activity to as_of"
    )
    orders: float | None = Field(None, description="orders up to as_of")
    revenue: float | None = Field(None, description="revenue up to as_of, in currency")
    channel: str | None = Field(None, description="the acquisition channel")
    top_reasons: str = Field("", description="the reasons as one line, as the CLI list shows them")
    not_scored: dict[str, str] | None = Field(None, description=NOT_SCORED_DOC)
    control: bool = Field(
        description="in the control group: hold this user out of the campaign. A stable draw "
        "from (seed, user id) alone, so it does not depend on the filters or the page"
    )
    reasons: list[Reason] | None = Field(
        None,
        description="what pushed churn up most, as structured items ([]: computed, no "
        "feature raised it); null when not computed, as /score (notes say why)",
    )


# A row holds the list fields and the score it was ranked by (conversion_probability, ...).
AtRiskUser = _with_task_fields(_AtRiskUser, "AtRiskUser", (*list_fields(), *rank_by_choices()))


class StaleScores(_Model):
    """Why the scores table /at_risk ranks is not what /score answers now, and the fix."""

    reasons: list[str] = Field(description="each difference in one sentence")
    table_versions: dict[str, str] = Field(description="task -> version that wrote the table")
    served_versions: dict[str, str] = Field(description="task -> version /score serves")
    table_as_of: str | None = Field(description="the table's features date (YYYY-MM-DD)")
    served_as_of: str | None = Field(description="the online store's features date")
    fix: str = Field(description="the command that rewrites the table with the champions")


class AtRiskResponse(_Model):
    total: int = Field(description="users matching the filters that have the ranking score")
    offset: int = Field(description="users skipped before this page")
    limit: int = Field(description="most users on this page")
    rank_by: RankBy = Field(description="the score the list is ranked by, highest first")
    control_share: float = Field(description="share of all scored users in the control group")
    seed: int = Field(description="the control group's seed: same seed, same group")
    seed_drawn_from: dict[str, Any] | None = Field(
        None,
        description="what a seed not given was drawn from, as `lifecycle at-risk` draws it: "
        "the list (dataset, as_of, rank_by, filters with the churn floor; not limit, offset "
        "nor control_share); the same list holds out the same users; null: given",
    )
    as_of: str | None = Field(None, description=AS_OF_DOC + " (the batch scores' as-of)")
    scored_at: str = Field(description="when the batch scores file was written")
    definitions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description=DEFINITIONS_DOC
    )
    model_versions: dict[str, str] = Field(
        default_factory=dict, description=VERSIONS_DOC + " (that wrote the batch scores)"
    )
    horizon_days: dict[str, int] = Field(default_factory=dict, description=HORIZON_DOC)
    currency: str | None = Field(None, description=CURRENCY_DOC)
    amounts: Literal["money", "purchases", "items"] = Field("money", description=AMOUNTS_DOC)
    stale: StaleScores | None = Field(
        None,
        description="null when the list is what /score answers now; else why not (other model "
        "versions, label definitions or features) and the command that fixes it",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="what the list leaves out and why: without min_churn, the users below the "
        "medium risk band (serving.medium_risk); ranked by expected_saved_value, the "
        "users outside the uplift campaign's population (no uplift, not ranked); the "
        "users of the page without churn reasons (below score-all --reasons-top N, and the "
        "served churn model or online features not those of the table)",
    )
    users: list[AtRiskUser] = Field(description="the page, in rank order")


class MonitorResponse(_Model):
    dataset: str = Field(description="the dataset monitored")
    measured: bool = Field(description="false until `lifecycle monitor` has run")
    drifting: list[str] = Field(default_factory=list, description="columns past the thresholds")
    stale: list[str] = Field(
        default_factory=list,
        description="why the saved result is not of the models and features served now, "
        "then the fix; empty when it is",
    )
    result: dict[str, Any] = Field(
        default_factory=dict,
        description="the saved result: every input and score with PSI, test and verdict "
        "(empty until `lifecycle monitor` has run)",
    )


class ReloadResponse(_Model):
    dataset: str = Field(description="the dataset whose champions this service serves")
    model_versions: dict[str, str] = Field(description=VERSIONS_DOC + ", serving now")
    previous_versions: dict[str, str] = Field(description="the same, served before")
    changed: list[str] = Field(
        description="tasks whose served numbers changed model (conversion served as 1 - churn "
        "changes with churn, not with a conversion model's promotion)"
    )
    unavailable: dict[str, str] = Field(description="task -> why it cannot serve")
    seconds: float = Field(description="how long the reload took, in seconds")


class PromoteResponse(_Model):
    task: Task = Field(description="the task whose champion moved")
    model: str = Field(description="the registered model, <dataset>-<task>")
    champion: str = Field(description="the version now champion (version, or the challenger)")
    previous: str = Field(description="the version that was champion, or 'none'")
    reason: str = Field(description="as recorded on the version (tag promotion)")
    gate_overridden: str | None = Field(
        None,
        description="what the promotion gate said of a version it never made champion, "
        "promoted anyway (with force, or accept_definition_change where its label definition "
        "alone held it back); null when the gate had passed it",
    )
    note: str | None = Field(
        None,
        description="what the move alone does not say: the version was already the champion "
        "(the reason is recorded on it), or it answers nothing served (conversion answered as "
        "1 - churn vN on a log of purchases); null: nothing to add",
    )
    reload: ReloadResponse = Field(description="the models this service now serves")
