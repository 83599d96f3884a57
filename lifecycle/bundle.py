"""A trained model as one self-contained bundle: rebuilt only from its saved artifacts.

The bundle holds the LightGBM booster, the probability calibrator (churn, conversion) or
the LTV models, the feature names and categories it was trained on, the feature service
it reads, the label definition and the data window. Training saves it; MLflow stores it
as one pyfunc model; serving and batch scoring load it. It lives in the shared
``lifecycle`` package: training writes the format and serving reads it, neither owns it.

LTV is a two-part model of a zero-inflated value: a calibrated P(any value in the horizon)
(``purchase_booster`` + ``calibrator``) times E[value | some value] (``booster``, Gamma),
with quantile boosters of the value given some value. P10/P50/P90 are quantiles of that
mixture: P10 is 0 for a user whose chance of buying nothing is 10% or more, and the mean
can exceed P90 when most of the mass is at 0 and the rest is heavy-tailed. (A bundle
without ``purchase_booster``, from before, is one Tweedie model with plain quantiles.)
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecycle import bridge, tasks
from lifecycle.lightgbm_import import import_lightgbm_without_sklearn, predicting_only
from lifecycle.maths import ARRAYS, Maths
from lifecycle.mixture import mixture_quantiles, zero_below
from lifecycle.rules import RULE_FILE, RuleModel
from lifecycle.storage import read_json

BUNDLE_FILE = "bundle.json"
PURCHASE_FILE = "purchase_booster.txt"
BLEND_DIR = "blend"  # the rule a value is blended with (its rule.json)
QUANTILES = (0.1, 0.5, 0.9)  # the interval reported
# A value model's outputs, in the order of a value task's declared outputs (LTV: ltv, ltv_p10, ...).
VALUE_OUTLOOK = ("value", "p10", "p50", "p90", "purchase_probability")
# Levels of the value-given-a-purchase quantile models; mixture quantiles interpolate them.
VALUE_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
# Below this many rows LightGBM predicts on one thread: waking an OpenMP team costs more than
# the trees (0.03 ms vs 8 ms for one row on a busy 2-core box), and a server runs many requests at once.
SINGLE_THREAD_ROWS = 512


def _threads(rows: int) -> int:
    return 1 if rows < SINGLE_THREAD_ROWS else 0


@dataclass
class Calibrator:
    """Isotonic calibration with its ties broken by Platt scaling.

    Isotonic regression (``x`` -> ``y`` steps, interpolated) calibrates best, but its flat
    steps tie users and cost ranking (0.003 AUC on the demo); a 0.1% share of the strictly
    increasing Platt curve ``sigmoid(slope * link(raw) + intercept)`` (``slope`` > 0) keeps
    every user's order while leaving the probabilities isotonic's to within 0.001. The link
    is the logit for a raw probability and the identity for a rule's score on another scale
    (days of recency, an RFM sum), which the logit's clipping would tie.
    """

    x: list[float]
    y: list[float]
    slope: float
    intercept: float
    platt_share: float = 1e-3
    link: str = "logit"  # or "identity"

    def __call__(self, raw: Any, xp: Maths = ARRAYS) -> Any:
        """Calibrated probabilities of raw scores: an array, or with ``FLOATS`` one float."""
        isotonic = xp.interp(raw, self.x, self.y)
        linked = logit(raw, xp) if self.link == "logit" else raw
        platt = 1.0 / (1.0 + xp.exp(-(self.slope * linked + self.intercept)))
        return xp.clip((1 - self.platt_share) * isotonic + self.platt_share * platt, 0.0, 1.0)


def logit(p: Any, xp: Maths = ARRAYS) -> Any:
    clipped = xp.clip(p, 1e-7, 1 - 1e-7)
    return xp.log(clipped / (1 - clipped))


@dataclass
class ModelBundle:
    task: str  # a task of lifecycle.tasks
    booster: Any  # lightgbm.Booster
    feature_names: list[str]
    categories: dict[
        str, list[str]
    ]  # categorical feature -> its training categories, in code order
    service: str  # the Feast feature service the model reads
    label: dict[str, Any]  # the label spec (task, horizon, lookback, target)
    data_window: dict[str, Any]  # dataset, train/valid/test cutoffs
    calibrator: Calibrator | None = None
    quantile_boosters: dict[float, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # BG/NBD parameters (r, alpha, a, b) fitted on the freshest matured cutoff's users:
    # P(alive) and expected purchases next to the scores (lifecycle.btyd_features.purchase_outlook).
    purchase_process: dict[str, float] | None = None
    purchase_booster: Any = None  # LTV: P(any value in the horizon), calibrated by ``calibrator``
    # "log1p": the quantile boosters model log(1 + value) (quantiles survive the transform,
    # and a heavy tail is learned in far fewer trees); "value": the value itself
    quantile_scale: str = "value"
    # "probability" or "value": what the bundle predicts, saved with it so a bundle is read
    # without the task registry; from the task's declaration when not given.
    prediction: str | None = None
    # Boosting from the purchase process (lifecycle.offsets): its parameters, horizon, each
    # booster part's role and the fallback start; the raw score is start + trees.
    boost_start: dict[str, Any] | None = None
    # A value blended with a rule's (training.combination): the served value is
    # blend_weight x LightGBM's + the rest x the rule's, each quantile too where the rule has
    # an interval (``blends_interval``); P(any value) stays LightGBM's part's.
    blend: RuleModel | None = None
    blend_weight: float = 1.0
    # Learned at a shorter horizon than its label's (lifecycle.bridge): learned_days,
    # served_days, the process and the fallback factors that put its outputs on the label's,
    # and ``at``: the cutoff the process was fitted at (absent in bundles from before).
    bridge: dict[str, Any] | None = None
    # id(booster) -> its compiled trees (lifecycle.compiled), filled by ``compile_trees``
    compiled: dict[int, Any] = field(default_factory=dict, init=False, repr=False)
    # the main booster's TreeSHAP tables (lifecycle.treeshap), filled by ``tabulate_reasons``
    shap_tables: Any = field(default=None, init=False, repr=False)
    # the directory the bundle was loaded from: its booster files are what gets compiled
    source: Path | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.prediction is None:
            self.prediction = tasks.get(self.task).kind

    def __getstate__(self) -> dict[str, Any]:
        # Compiled trees are native code of this process (and keyed by booster identity):
        # a copy sent elsewhere (Dask workers) predicts through LightGBM.
        return {**self.__dict__, "compiled": {}, "shap_tables": None}

    @property
    def outcomes_learned_until(self) -> str | None:
        """Up to when (``YYYY-MM-DD``, 00:00 UTC) this model learned from the events: its
        latest training cutoff's end of the horizon it learned at (a bridged model's shorter
        one), or the latest cutoff it was fitted at without an outcome (a label-free model,
        a blend's rule, a bridge's process: the events before it); None if unknown.
        Predictions as of an earlier day are judged in sample (``lifecycle outcomes``)."""
        from lifecycle.registry import LABEL_FREE_TAG

        window = self.data_window
        cutoffs = window.get("trained_on", {}).get("cutoffs", [])
        fitted = [window.get("rule_fitted_on", {}).get("cutoff"), (self.bridge or {}).get("at")]
        ends = [pd.Timestamp(day) for day in fitted if day]
        learned = (self.bridge or {}).get("learned_days") or self.label.get("horizon_days")
        if cutoffs and learned and LABEL_FREE_TAG not in window:  # label-free: its rule's
            ends.append(pd.Timestamp(max(cutoffs)) + pd.Timedelta(days=int(learned)))
        return f"{max(ends):%Y-%m-%d}" if ends else None

    @property
    def is_probability(self) -> bool:
        return self.prediction == "probability"

    @property
    def kind(self) -> str:
        """``lightgbm``, the baseline rule served in its place (``lifecycle.rules``), or
        ``lightgbm+<rule>`` for a value blended with the rule's."""
        if isinstance(self.booster, RuleModel):
            return self.booster.kind
        return "lightgbm" if self.blend is None else f"lightgbm+{self.blend.kind}"

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        """The model's input matrix as one float array: its columns in its order, categories
        as training codes. A missing feature column is an error naming it; unknown
        categories become null."""
        missing = [name for name in self.feature_names if name not in features.columns]
        if missing:
            raise KeyError(f"features missing for the {self.task} model: {', '.join(missing)}")
        # One 2-D array, not a frame built column by column: per-column pandas calls cost
        # ~5 ms per model for a single row, more than the trees (the online-serving path).
        out = np.empty((len(features), len(self.feature_names)), dtype="float64")
        numeric = [j for j, name in enumerate(self.feature_names) if name not in self.categories]
        out[:, numeric] = numeric_block(features, [self.feature_names[j] for j in numeric])
        for j, name in enumerate(self.feature_names):
            if name in self.categories:
                out[:, j] = category_codes(self.categories[name], features[name])
        return out

    def matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        """:meth:`encode` as a frame with the model's column names."""
        return pd.DataFrame(self.encode(features), columns=self.feature_names, index=features.index)

    def predict_trees(self, booster: Any, values: np.ndarray) -> np.ndarray:
        """The one place a booster predicts on a float64 matrix: its compiled trees when
        ``compile_trees`` made them (same values, several times faster), else LightGBM. A
        bundle boosted from the purchase process (a trial of ``training.pipeline.Method``)
        predicts its start + trees through LightGBM's raw score: its compiled trees and
        TreeSHAP tables know nothing of the start."""
        start = self._start(booster, values)
        if start is not None:
            from lifecycle.offsets import finished

            role, offset = start
            raw = booster.predict(values, raw_score=True, num_threads=_threads(len(values)))
            return finished(role, raw + offset)
        compiled = self.compiled.get(id(booster))
        if compiled is not None:
            return compiled.predict(values)
        return booster.predict(values, num_threads=_threads(len(values)))

    def _start(self, booster: Any, values: np.ndarray) -> tuple[str, np.ndarray] | None:
        """The role and start of a booster boosted from the purchase process, else None."""
        if not self.boost_start:
            return None
        if booster is self.booster:
            part = "booster"
        elif booster is self.purchase_booster:
            part = "purchase_booster"
        else:
            part = "quantile_boosters"
        from lifecycle.offsets import bundle_start

        index = {name: j for j, name in enumerate(self.feature_names)}
        return bundle_start(self.boost_start, part, lambda name: values[:, index[name]])

    def booster_files(self) -> dict[str, Any]:
        """File name -> LightGBM booster, as ``save`` writes them (a baseline rule has none)."""
        files = {} if isinstance(self.booster, RuleModel) else {"booster.txt": self.booster}
        files |= {f"quantile_{q:.2f}.txt": b for q, b in self.quantile_boosters.items()}
        if self.purchase_booster is not None:
            files[PURCHASE_FILE] = self.purchase_booster
        return files

    def compile_trees(self, cache_dir: Path, name: str, *, cached_only: bool = False) -> int:
        """Compile every booster to native code (``lifecycle.compiled``), cached in
        ``cache_dir`` under ``name`` (model and version); how many are compiled. A booster
        that cannot be compiled keeps predicting through LightGBM."""
        from lifecycle.compiled import compile_trees

        for file_name, booster in self.booster_files().items():
            if id(booster) in self.compiled:
                continue
            label = f"{name}-{Path(file_name).stem}"
            if self.source is not None and (self.source / file_name).is_file():
                compiled = compile_trees(
                    self.source / file_name, cache_dir, label, cached_only=cached_only
                )
            else:  # a bundle made in this process: compile its model text
                with tempfile.TemporaryDirectory() as scratch:
                    model_file = Path(scratch) / file_name
                    booster.save_model(str(model_file))
                    compiled = compile_trees(model_file, cache_dir, label, cached_only=cached_only)
            if compiled is not None:
                self.compiled[id(booster)] = compiled
        return len(self.compiled)

    def tabulate_reasons(self, cache_dir: Path | None = None, name: str | None = None) -> bool:
        """Build the TreeSHAP tables of the main booster (``lifecycle.treeshap``) when its
        task explains its scores; whether they are there; read from, else saved in,
        ``cache_dir`` under ``name`` (``TreeShap.cached``) when given. A model they cannot
        hold (or a baseline rule) keeps LightGBM's ``pred_contrib``, with one log line."""
        if self.shap_tables is not None:
            return True
        declared = next((t for t in tasks.all_tasks() if t.name == self.task), None)
        if declared is None or not declared.reasons or isinstance(self.booster, RuleModel):
            return False
        from lifecycle.treeshap import TreeShap, TreeShapUnavailable

        try:
            text = self.booster.model_to_string()
            saved = cache_dir is not None and name is not None
            self.shap_tables = TreeShap.cached(text, cache_dir, name) if saved else TreeShap(text)
        except TreeShapUnavailable as error:
            logging.getLogger("lifecycle.compiled").warning(
                "no TreeSHAP tables for the %s model (%s): reasons through LightGBM",
                self.task,
                error,
            )
        return self.shap_tables is not None

    # -- numpy entry points: ``X`` is the model's input matrix (rows x feature_names) -------
    # Online requests and batch frames both score through these; the DataFrame methods
    # below only encode their frame first.

    def raw_score_matrix(self, X: np.ndarray) -> np.ndarray:
        return self.predict_trees(self.booster, X)

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability (churn, conversion) or expected value (LTV)."""
        if not self.is_probability:
            return self._bridged_value(self._value(X, self._purchase(X)), X)
        raw = self.raw_score_matrix(X)
        probability = self.calibrator(raw) if self.calibrator is not None else raw
        factors = self._bridge_factors(X)
        if factors is None:
            return probability
        if tasks.get(self.task).outcome == "no_activity":
            return bridge.none_longer(probability, factors[0])
        return bridge.any_longer(probability, factors[0])

    def _bridge_factors(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per row, the factors that put a bridged model on its label's horizon, else None."""
        if self.bridge is None:
            return None
        index = {name: j for j, name in enumerate(self.feature_names)}
        return bridge.factors(self.bridge, lambda name: X[:, index[name]].astype("float64"))

    def _bridged_value(self, value: np.ndarray, X: np.ndarray) -> np.ndarray:
        factors = self._bridge_factors(X)
        return value if factors is None else value * factors[1]

    def purchase_matrix_uncalibrated(self, X: np.ndarray) -> np.ndarray:
        """LTV two-part model: its purchase part's own probability, before calibration."""
        return self.predict_trees(self.purchase_booster, X)

    def purchase_matrix(self, X: np.ndarray) -> np.ndarray:
        """LTV two-part model: the calibrated probability of any value in the horizon."""
        raw = self.purchase_matrix_uncalibrated(X)
        return self.calibrator(raw) if self.calibrator is not None else raw

    def interval_matrix(self, X: np.ndarray) -> np.ndarray:
        """P10/P50/P90 (rows x 3) that never cross (see :meth:`predict_interval`)."""
        return self._interval(X, self._purchase(X), self._bridge_factors(X))

    @property
    def rule_outlook(self) -> bool:
        """A served BG/NBD + Gamma-Gamma rule: its interval and P(any value) are the
        processes' own (``RuleModel.value_outlook``)."""
        return isinstance(self.booster, RuleModel) and self.booster.has_outlook

    @property
    def gives_purchase_probability(self) -> bool:
        """Whether the value model has a P(any value): its purchase part, or a rule's."""
        return self.purchase_booster is not None or self.rule_outlook

    def value_outlook_matrix(self, X: np.ndarray) -> np.ndarray:
        """Rows x ``VALUE_OUTLOOK``: the value, P10/P50/P90 and P(any value) from one pass of
        the purchase part; NaN where the model has no such part."""
        factors = self._bridge_factors(X)
        if self.rule_outlook:
            value = self._value(X, None) * (1.0 if factors is None else factors[1])
            return np.column_stack([value, self._rule_outlook(X, factors)])
        purchase = self._purchase(X)
        nan = np.full(len(X), np.nan)
        interval = (
            self._interval(X, purchase, factors)
            if self.quantile_boosters
            else np.column_stack([nan, nan, nan])
        )
        value = self._value(X, purchase)
        if factors is not None:
            value = value * factors[1]
            purchase = None if purchase is None else bridge.any_longer(purchase, factors[0])
        return np.column_stack([value, interval, nan if purchase is None else purchase])

    def outputs_matrix(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``score`` per row, plus ``p10``/``p50``/``p90`` when the model has quantiles."""
        out = {"score": self.predict_matrix(X)}
        if self.quantile_boosters or self.rule_outlook:
            out.update(zip(("p10", "p50", "p90"), self.interval_matrix(X).T, strict=True))
        return out

    def contributions_matrix(self, X: np.ndarray) -> np.ndarray:
        """Per-row feature contributions to the raw score (LightGBM's SHAP values), rows x
        features (the bias column dropped): the TreeSHAP tables when ``tabulate_reasons``
        built them (same values to 1e-9, about a quarter of LightGBM's CPU at any size), else
        LightGBM on every core for large inputs."""
        if self.shap_tables is not None:
            return self.shap_tables.contributions(X)
        values = self.booster.predict(X, pred_contrib=True, num_threads=_threads(len(X)))
        return values[:, :-1]

    def _purchase(self, X: np.ndarray) -> np.ndarray | None:
        return self.purchase_matrix(X) if self.purchase_booster is not None else None

    def _value(self, X: np.ndarray, purchase: np.ndarray | None) -> np.ndarray:
        return self.blended(expected_value(self.raw_score_matrix(X), purchase), X)

    def blended(self, value: Any, X: np.ndarray) -> Any:
        """LightGBM's expected ``value`` of the rows of ``X``, blended with the rule's where the
        bundle has one (rows of floats stay a list)."""
        if self.blend is None:
            return value
        mixed = blend_values(
            self.blend_weight, np.asarray(value, dtype="float64"), self.blend.predict(X)
        )
        return mixed.tolist() if isinstance(value, list) else mixed

    def _interval(
        self,
        X: np.ndarray,
        purchase: np.ndarray | None,
        factors: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """P10/P50/P90 on the label's horizon; a bridged model's (``factors``) is the mixture
        of the served P(any value) and the value given one put on the served horizon (times
        the value's factor over P(any value)'s, so the mixture's mean scales as the value), so
        its zero mass is 1 - the served P(any value) (scaled, the learned mixture kept its own)."""
        scale = (lambda v: v) if factors is None else (lambda v: v * factors[1][:, None])
        if self.rule_outlook:
            return self._rule_outlook(X, factors)[:, :3]
        if not self.quantile_boosters:
            raise ValueError(f"the {self.task} model has no quantile models")
        levels = sorted(self.quantile_boosters)
        stacked = np.column_stack(
            [self.predict_trees(self.quantile_boosters[q], X) for q in levels]
        )
        stacked = np.sort(conditional_quantile(stacked, self.quantile_scale), axis=1)
        if purchase is None:
            interval = scale(stacked[:, [levels.index(q) for q in QUANTILES]])
        else:
            if factors is not None:  # the value given one and P(any value) on H
                stacked = stacked * bridge.given_any_ratio(purchase, factors)[:, None]
                purchase = bridge.any_longer(purchase, factors[0])
            interval = mixture_quantiles(purchase, np.asarray(levels), stacked, QUANTILES)
        if not self.blends_interval:
            return interval
        rule = scale(self.blend.value_outlook(X)[:, :3])
        blended = blend_values(self.blend_weight, interval, rule)
        if purchase is None:
            return blended
        return np.column_stack(zero_below(purchase, list(blended.T), QUANTILES))

    def _rule_outlook(
        self, X: np.ndarray, factors: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        """A served BG/NBD + Gamma-Gamma's P10/P50/P90 and P(any value); bridged, as
        LightGBM's: the mixture of the served P(any value) and the value given one put on
        the served horizon (the processes' own levels of that mixture)."""
        if factors is None:
            return self.booster.value_outlook(X)
        outlook = self.booster.value_outlook(X, none_ratio=factors[0])
        outlook[:, :3] *= bridge.given_any_ratio(outlook[:, 3], factors)[:, None]
        outlook[:, 3] = bridge.any_longer(outlook[:, 3], factors[0])
        return outlook

    @property
    def blends_interval(self) -> bool:
        """Whether the interval is blended as the value is: each quantile the same weights of
        LightGBM's and the rule's own (BG/NBD + Gamma-Gamma's), so that a value blended
        below LightGBM's P10 is not shown outside its own interval."""
        return self.blend is not None and self.blend.has_outlook and bool(self.quantile_boosters)

    # -- the DataFrame API: encode, then the numpy entry points ----------------------------

    def raw_score(self, matrix: pd.DataFrame) -> np.ndarray:
        return self.raw_score_matrix(matrix.to_numpy(dtype="float64"))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (churn, conversion) or expected value (LTV)."""
        return self.predict_matrix(self.encode(features))

    def purchase_probability(self, matrix: pd.DataFrame) -> np.ndarray:
        """LTV two-part model: the calibrated probability of any value in the horizon."""
        return self.purchase_matrix(matrix.to_numpy(dtype="float64"))

    def predict_interval(self, features: pd.DataFrame) -> pd.DataFrame:
        """P10/P50/P90 that never cross: of the two-part mixture (a mass of 1 - P(purchase)
        at 0, the value-given-a-purchase quantiles above it), or the plain quantile models."""
        interval = self.interval_matrix(self.encode(features))
        return pd.DataFrame(interval, columns=["p10", "p50", "p90"], index=features.index)

    def value_outlook(self, features: pd.DataFrame) -> pd.DataFrame:
        """The value, its P10/P50/P90 and P(any value) (``VALUE_OUTLOOK``) from one input matrix
        and one pass of the purchase part (what scoring asks for on every request); NaN where
        the model has no such part (a served rule other than BG/NBD + Gamma-Gamma)."""
        outlook = self.value_outlook_matrix(self.encode(features))
        return pd.DataFrame(outlook, columns=list(VALUE_OUTLOOK), index=features.index)

    def outputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """What the MLflow pyfunc returns: ``score`` per row (calibrated probability or expected
        value), plus ``p10``/``p50``/``p90`` when the model has quantiles."""
        return pd.DataFrame(self.outputs_matrix(self.encode(features)), index=features.index)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-row feature contributions to the raw score (LightGBM's SHAP values)."""
        values = self.contributions_matrix(self.encode(features))
        return pd.DataFrame(values, columns=self.feature_names, index=features.index)

    # -- persistence ------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        if isinstance(self.booster, RuleModel):
            self.booster.save(directory)
        else:
            self.booster.save_model(str(directory / "booster.txt"))
        for q, booster in self.quantile_boosters.items():
            booster.save_model(str(directory / f"quantile_{q:.2f}.txt"))
        if self.purchase_booster is not None:
            self.purchase_booster.save_model(str(directory / PURCHASE_FILE))
        if self.blend is not None:
            (directory / BLEND_DIR).mkdir(exist_ok=True)
            self.blend.save(directory / BLEND_DIR)
        meta = {
            "task": self.task,
            "feature_names": self.feature_names,
            "categories": self.categories,
            "service": self.service,
            "label": self.label,
            "data_window": self.data_window,
            "calibrator": None if self.calibrator is None else asdict(self.calibrator),
            "quantiles": sorted(self.quantile_boosters),
            "metrics": self.metrics,
            "purchase_process": self.purchase_process,
            "two_part": self.purchase_booster is not None,
            "quantile_scale": self.quantile_scale,
            "prediction": self.prediction,
            "boost_start": self.boost_start,
            "blend_weight": self.blend_weight,
            "bridge": self.bridge,
        }
        (directory / BUNDLE_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path, boosters: bool = True) -> ModelBundle:
        """``boosters`` False: none parsed (nor LightGBM imported); what its metadata says."""
        meta_path = directory / BUNDLE_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory}: not a model bundle (no {BUNDLE_FILE})")
        meta = read_json(meta_path)
        calibrator = meta.get("calibrator")
        parsed = load_booster if boosters else lambda path: None
        bundle = cls(
            task=meta["task"],
            booster=(
                RuleModel.load(directory)
                if (directory / RULE_FILE).is_file()
                else parsed(directory / "booster.txt")
            ),
            feature_names=meta["feature_names"],
            categories=meta["categories"],
            service=meta["service"],
            label=meta["label"],
            data_window=meta["data_window"],
            calibrator=Calibrator(**calibrator) if calibrator else None,
            quantile_boosters={
                float(q): load_booster(directory / f"quantile_{float(q):.2f}.txt")
                for q in (meta["quantiles"] if boosters else ())
            },
            metrics=meta.get("metrics", {}),
            purchase_process=meta.get("purchase_process"),
            purchase_booster=parsed(directory / PURCHASE_FILE) if meta.get("two_part") else None,
            quantile_scale=meta.get("quantile_scale", "value"),
            prediction=meta.get("prediction"),
            boost_start=meta.get("boost_start"),
            blend=(
                RuleModel.load(directory / BLEND_DIR)
                if (directory / BLEND_DIR / RULE_FILE).is_file()
                else None
            ),
            blend_weight=float(meta.get("blend_weight", 1.0)),
            bridge=meta.get("bridge"),
        )
        bundle.source = directory
        return bundle


def numeric_block(features: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Numeric feature columns as one float64 array (None and pd.NA become NaN; text that is
    not a number becomes NaN)."""
    try:  # all numbers or None: one conversion (None becomes NaN)
        return features[names].to_numpy(dtype="float64")
    except (TypeError, ValueError):  # strings or pd.NA somewhere: column by column, bad values null
        return np.column_stack(
            [
                pd.to_numeric(features[name], errors="coerce").astype("float64").to_numpy()
                for name in names
            ]
        ).reshape(len(features), len(names))


def category_codes(categories: list[str], values: Any) -> np.ndarray:
    """Training codes of categorical values (a Series or array); unknown or missing is NaN."""
    codes = pd.Index(categories).get_indexer(pd.Series(values).astype("string"))
    return np.where(codes < 0, np.nan, codes)


def blend_values(weight: float, value: np.ndarray, rule_value: np.ndarray) -> np.ndarray:
    """A blended value (``training.combination``): ``weight`` of LightGBM's, the rest the rule's."""
    return weight * value + (1.0 - weight) * rule_value


def expected_value(raw: Any, purchase: Any, xp: Maths = ARRAYS) -> Any:
    """The value model's expectation from its raw score (never below 0), times P(any
    value) where the model has that part (``purchase`` not None)."""
    value = xp.at_least_zero(raw)
    return value if purchase is None else purchase * value


def conditional_quantile(raw: Any, scale: str, xp: Maths = ARRAYS) -> Any:
    """A quantile booster's prediction as a value (never below 0) on ``scale``."""
    return xp.at_least_zero(xp.expm1(raw) if scale == "log1p" else raw)


def load_booster(path: Path) -> Any:
    """A LightGBM booster from a complete model file; LightGBM itself can crash the process
    (not raise) on a truncated file, so a file without its closing sections is refused."""
    if predicting_only():
        import_lightgbm_without_sklearn()
    import lightgbm as lgb

    text = path.read_text(errors="replace")  # FileNotFoundError names a missing file
    if "end of trees" not in text or "end of parameters" not in text:
        raise ValueError(f"{path.name} is truncated or not a LightGBM model ({path})")
    return lgb.Booster(model_str=text)
