"""Who can be saved: treatment-effect (uplift) models trained on a randomized campaign table.

A campaign table (``lifecycle import hillstrom``; ``features.contract.CAMPAIGN_REQUIRED``)
has one row per customer: ``treatment`` (sent the campaign or in the control group), the
arm, outcomes (visit, conversion, spend) and, in its other columns, what was known of the
customer before the campaign: those are the features. Hillstrom's two e-mail arms (Mens,
Womens) both count as treated unless ``arm`` picks one: the question asked is "whom does an
e-mail move", and either e-mail answers it; one arm asks it of one creative.

The rows are split at random (``SPLIT_SHARES``, seeded by ``training.seed``) into train,
valid (early stopping, and the choice of learner by Qini) and test (the gate). Every
learner of ``lifecycle.uplift_model`` is fitted with LightGBM, next to a response model
(the outcome among treated users: "target who is most likely to respond") and random
targeting. The chosen learner is registered as ``<dataset>-uplift`` and becomes champion
only when its test Qini beats random targeting (interval above 0) and the response model
(paired interval of the difference above 0), and does not fall below the current champion
of the same outcome on this test split. A model of another outcome or treated arm than the
champion's replaces it only with ``accept_definition_change`` (a reason, as for the tasks).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import registry
from lifecycle.tracking_http import training_writes
from lifecycle.uplift_model import (
    LEARNERS,
    PREDICTION_BOOSTERS,
    UPLIFT_TASK,
    UpliftBundle,
    campaign_population,
)
from training.campaign_effect import (
    OUTCOME_KINDS,
    ArmEffect,
    arm_effects,
    effect_lines,
    effect_of,
)
from training.uplift_campaign import (
    Campaign,
    UpliftInputError,
    campaign_from_frame,
    read_campaign_table,
)
from training.uplift_definitions import same_uplift_definition, uplift_definition_change
from training.uplift_metrics import BOOTSTRAP_DRAWS, Comparison, compare_rankings, qini_coefficient
from training.uplift_registry import log_uplift_bundle, uplift_champion

if TYPE_CHECKING:
    from lifecycle.settings import Settings

SPLIT_SHARES = (0.6, 0.2, 0.2)  # train, valid, test
RESPONSE = "response_model"
# Shallow, slow trees: an effect is a small difference of two noisy outcomes (hillstrom's
# conversion uplift is about half a point), and deep trees fit the noise.
PARAMS: dict[str, Any] = {
    "num_leaves": 15,
    "learning_rate": 0.03,
    "min_data_in_leaf": 100,  # at most: see min_data_in_leaf()
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "verbosity": -1,
}
NUM_BOOST_ROUND = 600
EARLY_STOPPING_ROUNDS = 40


# -- fitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    seed: int

    @classmethod
    def random(cls, rows: int, seed: int) -> Split:
        order = np.random.default_rng(seed).permutation(rows)
        ends = np.cumsum([round(s * rows) for s in SPLIT_SHARES[:2]])
        return cls(
            np.sort(order[: ends[0]]),
            np.sort(order[ends[0] : ends[1]]),
            np.sort(order[ends[1] :]),
            seed,
        )

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def min_data_in_leaf(rows: int) -> int:
    """Leaves (and categories) of at least 100 rows, or 1/20 of a smaller fit (at least 10): a
    campaign of a few thousand members (the demo's) would otherwise leave each arm's model a
    single leaf, blind to the channel."""
    return int(min(PARAMS["min_data_in_leaf"], max(10, rows // 20)))


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    binary: bool,
    categorical: list[int],
    seed: int,
) -> Any:
    import lightgbm as lgb

    params = PARAMS | {
        # LightGBM's categorical splits need min_data_per_group rows per category (100)
        "min_data_in_leaf": min_data_in_leaf(len(y)),
        "min_data_per_group": min_data_in_leaf(len(y)),
        "objective": "binary" if binary else "regression",
        "seed": seed,
        "num_threads": 2,  # fixed: LightGBM's sums, hence the numbers, depend on the threads
    }
    data = lgb.Dataset(x, y, categorical_feature=categorical, free_raw_data=False)
    check = lgb.Dataset(x_valid, y_valid, categorical_feature=categorical, reference=data)
    return lgb.train(
        params,
        data,
        num_boost_round=NUM_BOOST_ROUND,
        valid_sets=[check],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


@dataclass
class Fitted:
    """Every learner and the response model, fitted on one split."""

    bundles: dict[str, UpliftBundle]
    response: Any  # lightgbm.Booster: the outcome among treated users


def fit_all(
    campaign: Campaign, split: Split, learners: tuple[str, ...] = LEARNERS, dataset: str = ""
) -> Fitted:
    """Fit each learner and the response model on train, stopping early on valid."""
    x = campaign.matrix()
    y, t = campaign.outcome, campaign.treated
    categorical = [j for j, n in enumerate(campaign.feature_names) if n in campaign.categories]
    binary = campaign.outcome_kind == "probability"
    tr, va = split.train, split.valid
    e = float(t[tr].mean())  # the propensity: randomized, so the treated share

    def fit(rows: np.ndarray, valid_rows: np.ndarray, target: np.ndarray, is_binary: bool) -> Any:
        return _fit(
            x[rows],
            target[rows],
            x[valid_rows],
            target[valid_rows],
            is_binary,
            categorical,
            split.seed,
        )

    arm = {True: (tr[t[tr]], va[t[va]]), False: (tr[~t[tr]], va[~t[va]])}
    mu = {}
    if {"t_learner", "x_learner"} & set(learners):
        mu = {"mu1": fit(*arm[True], y, binary), "mu0": fit(*arm[False], y, binary)}
    boosters: dict[str, dict[str, Any]] = {}
    if "t_learner" in learners:
        boosters["t_learner"] = mu
    if "x_learner" in learners:
        imputed = np.where(t, y - mu["mu0"].predict(x), mu["mu1"].predict(x) - y)
        boosters["x_learner"] = {
            "tau1": fit(*arm[True], imputed, False),
            "tau0": fit(*arm[False], imputed, False),
        }
    if "transformed_outcome" in learners:
        transformed = y * (t - e) / (e * (1 - e))
        boosters["transformed_outcome"] = {"tau": fit(tr, va, transformed, False)}
    window = {
        "dataset": dataset,
        "source": campaign.source,
        "split_seed": split.seed,
        "split_shares": list(SPLIT_SHARES),
        **split.sizes(),
    }
    # every user of the campaign (all splits): whom its effect was measured on
    population = campaign_population(campaign.features, campaign.feature_names, campaign.categories)
    bundles = {
        learner: UpliftBundle(
            learner=learner,
            boosters={r: boosters[learner][r] for r in PREDICTION_BOOSTERS[learner]},
            feature_names=campaign.feature_names,
            categories=campaign.categories,
            outcome=campaign.outcome_name,
            outcome_kind=campaign.outcome_kind,
            treated_share=e,
            treatment=campaign.treatment,
            data_window=window,
            population=population,
        )
        for learner in learners
    }
    # The response model is the outcome among treated users: the T-learner's mu1 when fitted.
    response = mu["mu1"] if mu else fit(*arm[True], y, binary)
    return Fitted(bundles=bundles, response=response)


@dataclass
class Evaluation:
    """Learners judged on a campaign: the one chosen on valid, everything on test."""

    campaign: Campaign
    split: Split
    fitted: Fitted
    valid_qini: dict[str, float]
    chosen: str
    test: Comparison
    champion_qini: float | None = None  # the current champion on this test split, if comparable
    gate: dict[str, bool] = field(default_factory=dict)

    @property
    def promote(self) -> bool:
        return bool(self.gate) and all(self.gate.values())

    def reason(self) -> str:
        q = self.test.qini[self.chosen]
        over = self.test.qini_over_baseline[self.chosen]
        text = (
            f"{self.chosen} test Qini {q.text()} vs random 0 and vs response model "
            f"(difference {over.text()})"
        )
        if self.champion_qini is not None:
            text += f", champion {self.champion_qini:.4f}"
        failed = [name for name, ok in self.gate.items() if not ok]
        return text + (f"; does not beat {' nor '.join(failed)}" if failed else "")

    def metrics(self) -> dict[str, float]:
        """Flat test metrics for MLflow: <ranking>.qini[_low|_high], .auuc..., random.auuc."""
        out: dict[str, float] = {}
        for kind, table in (("qini", self.test.qini), ("auuc", self.test.auuc)):
            for name, est in table.items():
                out |= {
                    f"{name}.{kind}": est.value,
                    f"{name}.{kind}_low": est.low,
                    f"{name}.{kind}_high": est.high,
                }
        for name, est in self.test.qini_over_baseline.items():
            out |= {
                f"{name}.qini_over_response": est.value,
                f"{name}.qini_over_response_low": est.low,
                f"{name}.qini_over_response_high": est.high,
            }
        r = self.test.random_auuc
        out |= {"random.auuc": r.value, "random.auuc_low": r.low, "random.auuc_high": r.high}
        out |= {f"{name}.valid_qini": v for name, v in self.valid_qini.items()}
        return out

    def test_effect(self) -> ArmEffect:
        """The test rows' ATE with the campaign effect's interval (Newcombe's for 0/1 outcomes)."""
        y, t = self.campaign.outcome[self.split.test], self.campaign.treated[self.split.test]
        return effect_of(
            self.campaign.treatment["treated"], self.campaign.outcome_name, y[t], y[~t]
        )

    def lines(self) -> list[str]:
        t, e = self.test, self.test_effect()
        head = (
            f"uplift on {self.campaign.source}: outcome {self.campaign.outcome_name}, "
            f"treated = {self.campaign.treatment['treated']}; split "
            + " / ".join(f"{n:,} {part}" for part, n in self.split.sizes().items())
            + f"; test ATE {e.interval_text()} (95%, {e.method}; the test split's {e.treated_rows:,} "
            f"treated and {e.control_rows:,} control only, which judges the learners: not the "
            "campaign's effect)"
        )
        rows = [head, f"{'ranking':<30}{'Qini [95% CI]':<34}{'AUUC [95% CI]':<34}Qini - response"]
        for name in (*self.fitted.bundles, RESPONSE):
            over = t.qini_over_baseline.get(name)
            mark = " (chosen)" if name == self.chosen else ""
            rows.append(
                f"{name + mark:<30}{t.qini[name].text(5):<34}{t.auuc[name].text(5):<34}"
                f"{over.text(5) if over else '-'}"
            )
        rows.append(f"{'random':<30}{'0 (by definition)':<34}{t.random_auuc.text(5):<34}-")
        return [*rows, self.chosen_line(), t.legend(self.campaign.outcome_name)]

    def chosen_line(self) -> str:
        """What "(chosen)" means: the highest Qini on the validation split, not on test (a
        learner under another one on test read as chosen on it)."""
        return (
            f"(chosen): {self.chosen}, the highest Qini on the validation split "
            f"({self.split.sizes()['valid']:,} customers: {self.valid_qini[self.chosen]:.5f}), "
            "not on test; the test figures above judge that choice"
        )


def evaluate(
    campaign: Campaign,
    seed: int,
    *,
    learners: tuple[str, ...] = LEARNERS,
    draws: int = BOOTSTRAP_DRAWS,
    dataset: str = "",
    champion: UpliftBundle | None = None,
) -> Evaluation:
    """Fit everything on a seeded split, choose the learner on valid, compare all on test."""
    split = Split.random(len(campaign.outcome), seed)
    fitted = fit_all(campaign, split, learners, dataset)
    valid = campaign.subset(split.valid)
    valid_qini = {
        name: qini_coefficient(valid.outcome, valid.treated, bundle.predict(valid.features))
        for name, bundle in fitted.bundles.items()
    }
    chosen = max(valid_qini, key=lambda name: valid_qini[name])
    test = campaign.subset(split.test)
    scores = {name: b.predict(test.features) for name, b in fitted.bundles.items()}
    scores[RESPONSE] = fitted.response.predict(test.matrix())
    comparison = compare_rankings(
        test.outcome, test.treated, scores, RESPONSE, draws=draws, seed=seed
    )
    champion_qini = None
    if champion is not None and same_uplift_definition(
        champion, campaign.outcome_name, campaign.treatment
    ):
        try:
            champion_qini = qini_coefficient(
                test.outcome, test.treated, champion.predict(test.features)
            )
        except KeyError:  # trained on other features: not comparable here
            champion_qini = None
    gate = {
        "random targeting": comparison.qini[chosen].low > 0,
        "the response model": comparison.qini_over_baseline[chosen].low > 0,
    }
    if champion_qini is not None:
        gate["the champion"] = comparison.qini[chosen].value >= champion_qini
    evaluation = Evaluation(
        campaign, split, fitted, valid_qini, chosen, comparison, champion_qini, gate
    )
    fitted.bundles[chosen].metrics = evaluation.metrics()
    return evaluation


# -- tracking and registration ------------------------------------------------------------


@dataclass
class UpliftResult:
    evaluation: Evaluation
    model: str
    version: str
    promoted: bool
    reason: str
    effects: list[ArmEffect] = field(default_factory=list)  # the campaign's, on every row

    def to_dict(self) -> dict[str, Any]:
        e = self.evaluation
        return {
            "campaign_effect": [effect.to_dict() for effect in self.effects],
            "model": self.model,
            "version": self.version,
            "learner": e.chosen,
            "outcome": e.campaign.outcome_name,
            "treated": e.campaign.treatment["treated"],
            "promoted": self.promoted,
            "reason": self.reason,
            "split": e.split.sizes(),
            "test_effect": e.test_effect().to_dict(),
            "test": e.metrics(),
        }

    def lines(self) -> list[str]:
        verdict = "champion" if self.promoted else "challenger only (not promoted)"
        return [
            *effect_lines(self.effects, self.evaluation.campaign.source),
            *self.evaluation.lines(),
            f"{self.model} v{self.version} ({self.evaluation.chosen}): {verdict}: {self.reason}",
        ]


@training_writes  # a tracking server's short outage carried through
def train_uplift(
    settings: Settings,
    dataset: str,
    outcome: str = c.VISIT,
    *,
    arm: str | None = None,
    draws: int = BOOTSTRAP_DRAWS,
    progress: Any = None,
    table: pd.DataFrame | None = None,
    source: str = "",
    accept_definition_change: str | None = None,
) -> UpliftResult:
    """Fit, judge, track and register an uplift model of a dataset's campaign table, or of
    ``table`` (named ``source``), e.g. the dataset's own recorded campaigns. The table is
    checked before anything is written (no MLflow run for a bad table), and a tracking
    server's refusal of the run or the version comes before the fit (``reserved_run``)."""
    import mlflow

    from lifecycle.dataset_kind import require_kind
    from training.tracking import experiment_for, reserved_run, start_training_run

    say = progress or (lambda _: None)
    if outcome not in OUTCOME_KINDS:
        raise UpliftInputError(f"--outcome {outcome}: expected one of {', '.join(OUTCOME_KINDS)}")
    outcomes = [outcome]  # a table of recorded campaigns has the asked one
    if table is None:  # the dataset's own table, read once: the learners and the readout
        require_kind(settings, dataset, "campaign", "train-uplift")
        path = settings.workspace.campaign_table(dataset)
        table, source, outcomes = read_campaign_table(path), str(path), list(OUTCOME_KINDS)
    allowed = (settings.features.allow_attributes, settings.features.exclude_attributes)
    campaign = campaign_from_frame(table, source or "campaign table", outcome, arm, allowed)
    effects = arm_effects(table, outcomes)
    name = registry.model_name(dataset, UPLIFT_TASK)
    with reserved_run(settings, UPLIFT_TASK, dataset):  # a refused write refused before the fit
        mlflow_client = registry.client(settings)
        champion = uplift_champion(mlflow_client, name)
        say(f"fitting {', '.join(LEARNERS)} and a response model on {len(campaign.outcome):,} rows")
        evaluation = evaluate(
            campaign, settings.training.seed, draws=draws, dataset=dataset, champion=champion
        )
        bundle = evaluation.fitted.bundles[evaluation.chosen]
        experiment_id = experiment_for(settings, mlflow_client, name)
        with (
            start_training_run(experiment_id, UPLIFT_TASK, dataset, kind=evaluation.chosen),
            tempfile.TemporaryDirectory() as tmp,
        ):
            mlflow.log_params(
                {
                    "task": UPLIFT_TASK,
                    "dataset": dataset,
                    "outcome": outcome,
                    "treated": campaign.treatment["treated"],
                    "learner": evaluation.chosen,
                    "features": ",".join(campaign.feature_names),
                    "seed": settings.training.seed,
                    "bootstrap_draws": draws,
                    **{f"lgb.{k}": v for k, v in PARAMS.items()},
                    **{f"rows.{k}": v for k, v in evaluation.split.sizes().items()},
                }
            )
            mlflow.log_metrics({k: v for k, v in bundle.metrics.items() if np.isfinite(v)})
            version = log_uplift_bundle(mlflow_client, name, bundle, campaign, Path(tmp))
        allowed, change = uplift_definition_change(
            champion, campaign.outcome_name, campaign.treatment, accept_definition_change
        )
        reason = evaluation.reason() + (f"; {change}" if change else "")
        promote = evaluation.promote and allowed
        if promote:
            registry.set_champion(mlflow_client, name, version, reason)
        return UpliftResult(evaluation, name, version, promote, reason, effects)
