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


# An answer's purchase outlook: the outlook model's (Champions.outlook_bundle), any tasks asked
OUTLOOK_FIELDS = ("p_alive", "expected_purchases")


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
        outlook = champions.outlook_bundle()
        if outlook is not None:
            fields += OUTLOOK_FIELDS
        if state.uplift is not None:
            fields += ["uplift", "uplift_outside"]
            versions["uplift"] = state.uplift.version
        # every model named in versions has its kind and definition, a partner's too (churn
        # asked along: it makes the stage), so a client may read each of them by its key
        kinds = {**champions.kinds, **{t: champions.bundles[t].kind for t in champions.partners}}
        if state.uplift is not None:
            kinds["uplift"] = state.uplift.bundle.learner
        labels = champions.labels
        partners = {t: partner_fields(champions, t) for t in sorted(champions.partners)}
        # p_alive and expected_purchases are the outlook model's (LTV's purchase process,
        # whatever was asked): named like a partner when its task was not asked
        if outlook is not None and outlook.task not in champions.answered:
            versions.setdefault(outlook.task, state.champions.versions[outlook.task])
            kinds.setdefault(outlook.task, outlook.kind)
            labels.setdefault(outlook.task, outlook.label)
            partners[outlook.task] = [*partners.get(outlook.task, []), *OUTLOOK_FIELDS]
        plan = AnswerPlan(
            fields=fields,
            float_fields=[name for name in fields if name in _FLOAT_FIELDS],
            versions=versions,
            kinds=kinds,
            labels={**labels, **uplift_definition(state)},
            horizon_days=label_windows(labels),  # the tasks': a campaign's outcome has none
            partners=dict(sorted(partners.items())),
        )
        if len(state.answer_plans) < 64:  # the orders of tasks a caller can ask are few
            state.answer_plans[key] = plan
    return plan


def uplift_definition(state: Loaded) -> dict[str, dict[str, Any]]:
    """The uplift model's definition, as ``/models``' ``uplift`` gives it: the campaign
    outcome it predicts the change of, and which rows counted as treated (no horizon in days:
    the outcome is the campaign's, over the campaign's own window)."""
    if state.uplift is None:
        return {}
    bundle = state.uplift.bundle
    return {
        "uplift": {
            "outcome": bundle.outcome,
            "outcome_kind": bundle.outcome_kind,
            "treatment": dict(bundle.treatment),
        }
    }


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
