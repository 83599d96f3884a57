"""Which champions answer the tasks a request asks, and what every answer to them repeats
(worked out once per loaded model set): the scorer's plan for each ``/score``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.tasks import CHURN, CONVERSION, LTV
from serving.errors import ApiError
from serving.schemas import TASK_FIELDS, UserScore
from serving.units import label_windows

if TYPE_CHECKING:
    from serving.scorer import Loaded
    from serving.scoring import Champions


@dataclass(frozen=True)
class AnswerPlan:
    """What every answer for the same tasks repeats, worked out once per loaded model set."""

    fields: list[str]  # the user fields answered, besides user_id, status, reasons, versions
    float_fields: list[str]
    versions: dict[str, str]
    kinds: dict[str, str]
    labels: dict[str, dict[str, Any]]
    horizon_days: dict[str, Any]
    partners: dict[str, list[str]]  # a task not asked -> the fields its model made


def answer_plan(state: Loaded, champions: Champions, wanted: list[str]) -> AnswerPlan:
    key = tuple(wanted)
    plan = state.answer_plans.get(key)
    if plan is None:
        from serving.scoring import answering_versions

        # conversion answered as 1 - churn names the churn version that made its numbers
        versions = answering_versions(champions.versions, champions.kinds)
        fields = ["lifecycle_stage"] + [
            f for t in wanted if t in champions.bundles for f in TASK_FIELDS[t]
        ]
        answered = champions.answered
        if CHURN.name in answered and LTV.name in answered:
            fields.append("value_at_risk")
        if champions.outlook_bundle() is not None:
            fields += ["p_alive", "expected_purchases"]
        if state.uplift is not None:
            fields += ["uplift", "uplift_outside"]
            versions["uplift"] = state.uplift.version
        # every model named in versions has its kind and definition, a partner's too (churn
        # asked along: it makes the stage), so a client may read each of them by its key
        kinds = {**champions.kinds, **{t: champions.bundles[t].kind for t in champions.partners}}
        if state.uplift is not None:
            kinds["uplift"] = state.uplift.bundle.learner
        labels = {t: b.label for t, b in champions.bundles.items()}
        plan = AnswerPlan(
            fields=fields,
            float_fields=[name for name in fields if name in _FLOAT_FIELDS],
            versions=versions,
            kinds=kinds,
            labels=labels,
            horizon_days=label_windows(labels),
            partners={t: partner_fields(champions, t) for t in sorted(champions.partners)},
        )
        if len(state.answer_plans) < 64:  # the orders of tasks a caller can ask are few
            state.answer_plans[key] = plan
    return plan


def partner_fields(champions: Champions, task: str) -> list[str]:
    """The fields of an answer made with ``task``'s model though ``task`` was not asked
    (``Champions.subset``): churn's makes the lifecycle stage, and conversion on a log of
    purchases (1 - churn)."""
    made = ["lifecycle_stage"] if task == CHURN.name else []
    if task == CHURN.name and champions.one_event and CONVERSION.name in champions.answered:
        made.append("conversion_probability")
    return made


# Number fields of an answer: a value given as an int is made a float, as validation would.
_FLOAT_FIELDS = frozenset(
    name for name, info in UserScore.model_fields.items() if info.annotation == float | None
)


def no_model_for(champions: Champions, tasks: list[str]) -> str | None:
    """Why none of ``tasks`` can be answered (each one's reason), or None when one can."""
    if any(t in champions.bundles for t in tasks):
        return None
    reasons = "; ".join(f"{t}: {champions.unavailable.get(t, 'no champion')}" for t in tasks)
    return f"no model can serve {', '.join(tasks)}: {reasons}"


def serving_champions(champions: Champions, tasks: list[str]) -> Champions:
    """The champions of ``tasks``; 503 when none of them has one: an answer of nulls would
    call every user, known or not, an unknown user."""
    if (reason := no_model_for(champions, tasks)) is not None:
        raise ApiError(503, reason)
    return champions.subset(tasks, staged=True)  # every answer has the user's stage
