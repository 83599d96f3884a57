"""The fields of an operator's list, from the task registry: what the CLI prints, exports
carry and the API's list rows hold; and every column of the scores table, which ingest keeps
users attributes from being named as (a light module: the service reads it at start)."""

from __future__ import annotations

from collections.abc import Iterable

from features import contract as c
from lifecycle import tasks

# 1 - churn probability: any activity in churn's window; of a churned user, coming back. The
# win-back list's ranking: every churn-scored user has it, where conversion probability is
# only of users before conversion's target (a repeat customer has none: trial W).
RETURN_PROBABILITY = "return_probability"
# The R, F and M scores (1-5) a user's RFM segment was named from (serving.segments.rfm_columns):
# null without an order, M on a log scored on R and F alone.
RFM_SCORES = ("r_score", "f_score", "m_score")
# Row context an operator reads besides the tasks' outputs (lifecycle.tasks), in list order.
CONTEXT_BEFORE = ("rank", c.USER_ID)
CONTEXT_AFTER = (
    "value_at_risk",
    RETURN_PROBABILITY,  # when ranked by it (serving.lists.with_ranking)
    "uplift",  # with an uplift champion (serving.uplift)
    "expected_saved_value",
    "risk_band",
    "p_alive",
    "expected_purchases",
    "outlook_apart",  # p_alive and the LTV read apart (serving.outlook_apart), as /score
    "lifecycle_stage",
    "segment",
    *RFM_SCORES,
    "super_user",
    "days_since_last_activity",
    "orders",
    "revenue",
    c.CHANNEL,
    "top_reasons",
    "not_scored",  # task -> why it has no score of the user (serving.not_scored), as /score
    "control",
)
# Feature -> scores-table column an operator reads (the list's row fields).
CONTEXT_COLUMNS = {
    "recency_days": "days_since_last_activity",
    "purchase_recency_days": "days_since_last_purchase",
    "tenure_days": "tenure_days",
    "orders_total": "orders",
    "net_revenue_total": "revenue",  # after refunds, as LTV's value
    "refund_amount_total": "refunds",  # to date: segments share revenue out before them
    "sessions_total": "sessions",
    "activated": "activated",
}
UPLIFT_OUTSIDE = "uplift_outside"  # why a user has no uplift: outside the campaign's population
# Scores-table columns that are in no list row: churn reasons as JSON, UPLIFT_OUTSIDE.
SCORES_ONLY = ("reasons", UPLIFT_OUTSIDE)
# Fields kept in exports besides those (never personal), and the movers' columns.
OTHER_NON_PERSONAL = (
    "as_of",
    "days_since_last_purchase",
    "tenure_days",
    "churn_probability_before",
    "churn_probability_change",
    "value_at_risk_before",
    "value_at_risk_change",
)


def rank_by_choices() -> tuple[str, ...]:
    """What a list can be ranked by: value at risk, any task's score, the return probability
    (1 - churn probability), or (with an uplift champion) the expected saved value, uplift x LTV."""
    scores = (task.score for task in tasks.all_tasks())
    return ("value_at_risk", *scores, RETURN_PROBABILITY, "expected_saved_value")


def list_fields() -> tuple[str, ...]:
    """The fields of a list row, in order (a column the scores table lacks is left out)."""
    listed = (column for task in tasks.all_tasks() for column in task.listed)
    return (*CONTEXT_BEFORE, *listed, *CONTEXT_AFTER)


def non_personal() -> frozenset[str]:
    """Columns an export may always carry: list fields, every task output, context."""
    return frozenset((*list_fields(), *tasks.output_columns(), *OTHER_NON_PERSONAL))


def model_version_column(task: str) -> str:
    """The scores table's column of the model version that scored ``task``."""
    return f"{task}_model_version"


def scores_columns() -> frozenset[str]:
    """Every column the scores table and a list row hold besides the user id and channel:
    a users attribute named as one would be overwritten by it (or overwrite it) when scored."""
    return (
        non_personal()
        | frozenset(CONTEXT_COLUMNS.values())
        | frozenset(SCORES_ONLY)
        | frozenset(
            model_version_column(n) for n in ("uplift", *(t.name for t in tasks.all_tasks()))
        )
    ) - {c.USER_ID, c.CHANNEL}


def user_attributes(columns: Iterable[str]) -> list[str]:
    """The user attributes among a scores table's ``columns`` (``country``, ``gender``,
    what `--where` and /at_risk's ``where`` filter by), in order of name."""
    return sorted(set(columns) - scores_columns() - {c.USER_ID, c.CHANNEL})
