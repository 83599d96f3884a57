"""Every prediction the product makes, declared once.

A :class:`Task` says who gets a label and a score (``population``), what its label counts
in the horizon (``outcome``), how LightGBM fits it, which baseline rules it must beat and
on which metric, and the columns it adds to scores, the API and lists. Labels, training,
the gate, scoring, batch tables and lists iterate over :func:`all_tasks`; nothing else
spells a task's name to decide how it behaves.

A task declared elsewhere joins with :func:`register`; modules named in the environment
variable ``LIFECYCLE_TASK_MODULES`` (comma-separated) are imported on first use, so a
task declared in one module reaches every process: CLI, server and workers.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lifecycle.errors import UserError

Kind = Literal["probability", "value"]
# Who is labelled and scored at a cutoff, read from the features alone:
#   known: every user known at as_of (signed up or seen by then);
#   recently_active: active in the lookback days up to as_of (no lookback: every known user);
#   before_target: users with exactly the orders that precede the target (0 or 1).
Population = Literal["known", "recently_active", "before_target"]
# What the label counts in (as_of, as_of + horizon]:
#   no_activity: 1 when the user does nothing but refunds; any_purchase: 1 when they order;
#   net_value: purchases minus refunds, at least 0.
Outcome = Literal["no_activity", "any_purchase", "net_value"]
TASK_MODULES_ENV = "LIFECYCLE_TASK_MODULES"
# The test metrics a gate can compare, by kind: those training.evaluation computes on every
# model's test rows where higher is better.
GATE_METRICS: dict[str, tuple[str, ...]] = {
    "probability": ("auc", "pr_auc", "lift_top_decile", "capture_top_decile"),
    "value": ("normalized_gini", "spearman"),
}


class UnknownTaskError(UserError):
    """A task name that no declaration has."""


@dataclass(frozen=True)
class Task:
    name: str
    kind: Kind
    population: Population
    outcome: Outcome
    horizon_days: int  # default; settings ``labels.<name>_horizon_days`` override it
    objective: str  # LightGBM objective of the task's main booster
    params: Mapping[str, Any]  # its LightGBM parameters (settings may override them)
    rules: tuple[str, ...]  # the baseline rules (lifecycle.rules) it must beat, and may serve
    gate_metric: str  # the test metric a challenger must beat (higher is better)
    outputs: tuple[str, ...]  # its columns in scores and the API; the first is the score
    listed: tuple[str, ...]  # those an operator's list row shows, in order
    meaning: str  # one line for help, the API document and lists
    # Rule scores say "more of the outcome": +1 when silence (recency) means more of it.
    silence_sign: float = -1.0
    reasons: bool = False  # the score gets its top reasons in words (TreeSHAP)

    @property
    def score(self) -> str:
        return self.outputs[0]

    @property
    def is_probability(self) -> bool:
        return self.kind == "probability"


CHURN = Task(
    name="churn",
    kind="probability",
    population="recently_active",
    outcome="no_activity",
    horizon_days=90,
    objective="binary",
    # Smaller trees and a slower rate rank better out of time on a real purchase log
    # (docs/decisions.md, `churn_31_leaves_rate_0.1`).
    params={"metric": "binary_logloss", "num_leaves": 15, "learning_rate": 0.05},
    rules=("recency_rule", "rfm_score"),
    gate_metric="auc",
    outputs=("churn_probability", "risk_band"),
    listed=("churn_probability",),
    meaning="probability of no activity in the horizon",
    silence_sign=1.0,
    reasons=True,
)
CONVERSION = Task(
    name="conversion",
    kind="probability",
    population="before_target",
    outcome="any_purchase",
    horizon_days=90,
    objective="binary",
    # Few positives (about 5% of never-buyers convert per quarter): smaller, steadier trees.
    params={
        "metric": "binary_logloss",
        "num_leaves": 7,
        "min_data_in_leaf": 200,
        "learning_rate": 0.05,
    },
    rules=("recency_rule", "rfm_score"),
    gate_metric="auc",
    outputs=("conversion_probability",),
    listed=(),
    meaning="probability of reaching the conversion target in the horizon",
)
LTV = Task(
    name="ltv",
    kind="value",
    population="known",
    outcome="net_value",
    horizon_days=365,
    # The value given some value (Gamma: positive, heavy-tailed); the two-part model's
    # purchase part and quantiles are fitted next to it (training.models).
    objective="gamma",
    params={"metric": "gamma", "num_leaves": 15, "learning_rate": 0.05},
    rules=("last_period_value", "bgnbd_gamma_gamma"),
    gate_metric="normalized_gini",
    outputs=("ltv", "ltv_p10", "ltv_p50", "ltv_p90", "purchase_probability"),
    listed=("ltv", "ltv_p10", "ltv_p50", "ltv_p90"),
    # at least 0 per user, as the label: said, as a net-negative user counts 0 (trial 114)
    meaning="expected value of purchases minus refunds in the horizon, at least 0 per user",
)

_BUILT_IN = (CHURN, CONVERSION, LTV)
_registry: dict[str, Task] = {task.name: task for task in _BUILT_IN}
_loaded_modules: set[str] = set()


def _load_declared_modules() -> None:
    load_modules(m.strip() for m in os.environ.get(TASK_MODULES_ENV, "").split(","))


def load_modules(modules: Iterable[str]) -> None:
    """Import each module (once) that declares tasks (settings ``task_modules``)."""
    for module in filter(None, modules):
        if module not in _loaded_modules:
            try:
                importlib.import_module(module)
            except ImportError as error:
                raise UnknownTaskError(
                    f"task_modules (or {TASK_MODULES_ENV}) names the module {module!r}, which "
                    f"cannot be imported: {error}"
                ) from None
            _loaded_modules.add(module)


def register(task: Task) -> Task:
    """Add (or replace) a task declaration; every stage picks it up from here."""
    if not task.name.isidentifier() or task.name == "all":
        raise UnknownTaskError(
            f"a task name must be an identifier other than 'all', got {task.name!r}"
        )
    _registry[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove a registered task (built-in tasks stay)."""
    if name in {t.name for t in _BUILT_IN}:
        raise UnknownTaskError(f"{name} is a built-in task and cannot be removed")
    _registry.pop(name, None)


def all_tasks() -> tuple[Task, ...]:
    _load_declared_modules()
    return tuple(_registry.values())


def names() -> tuple[str, ...]:
    return tuple(task.name for task in all_tasks())


def get(name: str) -> Task:
    """The declaration of ``name``, or an error listing the known tasks."""
    _load_declared_modules()
    task = _registry.get(name)  # asked per model of every request: no copy of the registry
    if task is None:
        raise UnknownTaskError(f"unknown task {name!r}; expected one of {', '.join(_registry)}")
    return task


def output_columns() -> tuple[str, ...]:
    """Every task's columns in scores and lists, in declaration order."""
    return tuple(column for task in all_tasks() for column in task.outputs)


def gate_metrics() -> dict[str, str]:
    return {task.name: task.gate_metric for task in all_tasks()}
