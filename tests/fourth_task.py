"""A task declared only here, as a project would add one: will the user buy within 30 days?

Importing this module registers it (``LIFECYCLE_TASK_MODULES=fourth_task`` does so in a
server or worker process); ``tests/test_tasks.py`` trains, serves and lists it.
"""

from lifecycle.tasks import Task, register

BUY_SOON = register(
    Task(
        name="buy_soon",
        kind="probability",
        population="known",
        outcome="any_purchase",
        horizon_days=30,
        objective="binary",
        params={"metric": "binary_logloss", "num_leaves": 7, "learning_rate": 0.1},
        rules=("recency_rule", "rfm_score"),
        gate_metric="auc",
        outputs=("buy_soon_probability",),
        listed=("buy_soon_probability",),
        meaning="probability of a purchase in the next 30 days",
    )
)
