"""The LightGBM spec of each model (``ModelSpec``) and the settings' hyperparameters over
them (:func:`model_specs`): no training library, so `lifecycle settings`, which checks the
model names, imports none (it imported pandas and SciPy through ``training.models``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lifecycle import tasks
from lifecycle.settings import Settings, SettingsError

ROUNDS = ("num_boost_round", "early_stopping_rounds")  # ModelSpec fields, not LightGBM params


@dataclass(frozen=True)
class ModelSpec:
    """LightGBM parameters of one model; every tuning value can be overridden from settings
    (``training.models.<name>``, applied by :func:`model_specs`)."""

    objective: str
    params: dict[str, Any] = field(default_factory=dict)
    num_boost_round: int = 1000
    early_stopping_rounds: int = 30
    # Stop once the validation's log loss is below this (None: never): answers all but certain
    # on rows it did not learn from (a column that gives the label away) only sharpen each
    # round, and the loss falling every round never stops early (3,000 rounds a fold).
    certain_loss: float | None = None

    def lgb_params(self, seed: int, rows: int | None = None) -> dict[str, Any]:
        """``rows``: the training size; below 50k rows one thread is faster (OpenMP start-up and
        spinning cost more than the work: 97 s vs 0.2 s for 1,349 rows on a busy machine)."""
        base = {
            "objective": self.objective,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_data_in_leaf": 40,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1 if rows is not None and rows < 50_000 else 2,
            "verbosity": -1,
        }
        return base | self.params

    def overridden(self, values: Mapping[str, Any]) -> ModelSpec:
        """This spec with settings' values over it: the rounds to their fields, the rest to
        the LightGBM parameters."""
        rounds = {name: values[name] for name in ROUNDS if name in values}
        params = {name: value for name, value in values.items() if name not in ROUNDS}
        return replace(self, params=self.params | params, **rounds)


LTV_PURCHASE = "ltv_purchase"  # the spec of LTV's P(any value) part
LTV_QUANTILE = "ltv_quantile"  # the spec of its value quantiles

# The two-part value model's other boosters (the value-given-a-purchase booster is the task's).
SPECS: dict[str, ModelSpec] = {
    LTV_PURCHASE: ModelSpec(
        "binary", {"metric": "binary_logloss", "num_leaves": 15, "learning_rate": 0.05}
    ),
    LTV_QUANTILE: ModelSpec("quantile", {"metric": "quantile", "num_leaves": 15}),
}


def spec_of(task: str) -> ModelSpec:
    """The task's LightGBM spec: its declaration (``lifecycle.tasks``), or an entry of
    ``SPECS`` under its name that replaces it."""
    if task in SPECS:
        return SPECS[task]
    declared = tasks.get(task)
    return ModelSpec(declared.objective, dict(declared.params))


def model_specs(settings: Settings) -> dict[str, ModelSpec]:
    """Every model's spec with ``training.models`` of the settings over it; a model name
    with no spec is refused with the names there are."""
    overrides = settings.training.models
    names = [*tasks.names(), *SPECS]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SettingsError(
            f"training.models.{unknown[0]}: there is no model {unknown[0]!r} to set "
            f"hyperparameters of; the models are {', '.join(names)}"
        )
    return {
        name: spec_of(name).overridden(overrides[name].values())
        if name in overrides
        else spec_of(name)
        for name in names
    }
