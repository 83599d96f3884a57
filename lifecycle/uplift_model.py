"""An uplift model as one self-contained bundle: the boosters of a treatment-effect learner.

``training.uplift`` fits and saves it; MLflow stores it as one pyfunc
(``lifecycle/mlflow_uplift_model.py``) registered as ``<dataset>-uplift``; serving loads it
to rank users by what a campaign would change for them. It lives in the shared ``lifecycle``
package because both sides read the format and neither owns it.

What each learner predicts as the uplift tau(x) = E[Y | x, treated] - E[Y | x, control]:

- ``t_learner``: two outcome models, mu1 on treated and mu0 on control rows; tau = mu1 - mu0.
- ``x_learner``: effects imputed with the other arm's outcome model (treated: Y - mu0(x),
  control: mu1(x) - Y), one regression per arm on them (tau1, tau0), blended by the
  propensity e: tau = e * tau0 + (1 - e) * tau1. In a randomized campaign e is the treated
  share, a constant.
- ``transformed_outcome``: one regression on Z = Y (T - e) / (e (1 - e)), whose expectation
  given x is tau(x) when treatment is random with probability e.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecycle.storage import read_json

UPLIFT_FILE = "uplift.json"
UPLIFT_TASK = "uplift"  # registered as <dataset>-uplift; not a scored task of lifecycle.tasks
LEARNERS = ("t_learner", "x_learner", "transformed_outcome")
# The boosters each learner needs to predict (training fits more: the X-learner's mu0, mu1).
PREDICTION_BOOSTERS = {
    "t_learner": ("mu1", "mu0"),
    "x_learner": ("tau1", "tau0"),
    "transformed_outcome": ("tau",),
}


def is_uplift_bundle(directory: Path) -> bool:
    return (directory / UPLIFT_FILE).is_file()


@dataclass
class UpliftBundle:
    learner: str  # one of LEARNERS
    boosters: dict[str, Any]  # role (PREDICTION_BOOSTERS) -> lightgbm.Booster
    feature_names: list[str]
    categories: dict[str, list[str]]  # categorical feature -> training categories, in code order
    outcome: str  # the campaign outcome column: visit, conversion, spend
    outcome_kind: str  # "probability" (a 0/1 outcome: uplift in points) or "value"
    treated_share: float  # the propensity e of a randomized campaign
    treatment: dict[str, Any]  # which rows counted as treated and as control
    data_window: dict[str, Any]  # dataset, rows per split, split seed
    metrics: dict[str, float] = field(default_factory=dict)
    # The campaign's population: each numeric input's [min, max] among the campaign's users.
    # Beyond it the model extrapolates (a win-back campaign's model asked of an active
    # customer), so serving answers no uplift there. None: a bundle trained before it was
    # recorded, applied to every user (``population_text`` says so).
    population: dict[str, list[float]] | None = None

    def __post_init__(self) -> None:
        if self.learner not in LEARNERS:
            raise ValueError(f"unknown uplift learner {self.learner!r}; expected one of {LEARNERS}")
        missing = [r for r in PREDICTION_BOOSTERS[self.learner] if r not in self.boosters]
        if missing:
            raise ValueError(f"the {self.learner} uplift model lacks boosters {missing}")

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The input matrix: the model's columns in order, categories as training codes
        (unknown categories and unparsable numbers become null, as LightGBM's missing)."""
        missing = [name for name in self.feature_names if name not in features.columns]
        if missing:
            raise KeyError(f"features missing for the uplift model: {', '.join(missing)}")
        return encode_features(features, self.feature_names, self.categories)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The uplift of each row: the outcome with the campaign minus without it."""
        return self.predict_matrix(self.matrix(features))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """:meth:`predict` of an encoded input matrix (:meth:`matrix`'s columns)."""
        raw = {
            role: self.boosters[role].predict(matrix) for role in PREDICTION_BOOSTERS[self.learner]
        }
        if self.learner == "t_learner":
            return raw["mu1"] - raw["mu0"]
        if self.learner == "x_learner":
            e = self.treated_share
            return e * raw["tau0"] + (1 - e) * raw["tau1"]
        return raw["tau"]

    def outside_population(self, matrix: np.ndarray) -> np.ndarray:
        """Per row of an encoded input matrix (:meth:`matrix`), why it is outside the
        campaign's population (its first input beyond the campaign's range), else None. A
        missing input is not outside: the model learned what missing means."""
        reasons = np.full(len(matrix), None, dtype=object)
        for name, (low, high) in (self.population or {}).items():
            values = matrix[:, self.feature_names.index(name)]
            beyond = np.flatnonzero(((values < low) | (values > high)) & np.equal(reasons, None))
            where = population_range(low, high)
            reasons[beyond] = [f"{name} {v:g} outside {where}" for v in values[beyond]]
        return reasons

    def predict_within(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Uplift per row of an encoded input matrix, NaN outside the campaign's population
        (the model would extrapolate there), and why each such row is outside
        (:meth:`outside_population`)."""
        outside = self.outside_population(matrix)
        return np.where(np.equal(outside, None), self.predict_matrix(matrix), np.nan), outside

    def population_text(self) -> str:
        """Whom the model answers for, in one line (``/models``, list notes)."""
        if self.population is None:
            return (
                "every user: no campaign population recorded (a model trained before it was), "
                "so its uplift is also given for users unlike the campaign's"
            )
        ranges = ", ".join(f"{n} {low:g}..{high:g}" for n, (low, high) in self.population.items())
        return f"users within the campaign's ranges: {ranges}"

    def outputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """What the MLflow pyfunc returns: ``uplift`` per row."""
        return pd.DataFrame({"uplift": self.predict(features)}, index=features.index)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for role, booster in self.boosters.items():
            booster.save_model(str(directory / f"{role}.txt"))
        meta = {
            "learner": self.learner,
            "roles": sorted(self.boosters),
            "feature_names": self.feature_names,
            "categories": self.categories,
            "outcome": self.outcome,
            "outcome_kind": self.outcome_kind,
            "treated_share": self.treated_share,
            "treatment": self.treatment,
            "data_window": self.data_window,
            "metrics": self.metrics,
            "population": self.population,
        }
        (directory / UPLIFT_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> UpliftBundle:
        from lifecycle.bundle import load_booster

        meta_path = directory / UPLIFT_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory}: not an uplift model (no {UPLIFT_FILE})")
        meta = read_json(meta_path)
        return cls(
            learner=meta["learner"],
            boosters={role: load_booster(directory / f"{role}.txt") for role in meta["roles"]},
            feature_names=meta["feature_names"],
            categories=meta["categories"],
            outcome=meta["outcome"],
            outcome_kind=meta["outcome_kind"],
            treated_share=float(meta["treated_share"]),
            treatment=meta["treatment"],
            data_window=meta["data_window"],
            metrics=meta.get("metrics", {}),
            population=meta.get("population"),
        )


def encode_features(
    features: pd.DataFrame, names: list[str], categories: dict[str, list[str]]
) -> np.ndarray:
    """Columns ``names`` as one float matrix; a categorical column as its code in ``categories``."""
    out = np.empty((len(features), len(names)), dtype="float64")
    for j, name in enumerate(names):
        values = features[name]
        if name in categories:
            codes = pd.Index(categories[name]).get_indexer(values.astype("string"))
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    return out


def population_range(low: float, high: float) -> str:
    return f"the campaign's {low:g}..{high:g}"


def campaign_population(
    features: pd.DataFrame, names: list[str], categories: dict[str, list[str]]
) -> dict[str, list[float]]:
    """Each numeric input's [min, max] among a campaign's users (inputs never filled are
    left out): the population an uplift model learned from."""
    matrix = encode_features(features, names, categories)
    population = {}
    for j, name in enumerate(names):
        values = matrix[:, j]
        if name not in categories and not np.isnan(values).all():
            population[name] = [float(np.nanmin(values)), float(np.nanmax(values))]
    return population
