"""The baselines a snapshot model is cross-validated against (``training.snapshot``): simple
rules and a logistic regression, fitted on each fold's training rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BEST_SINGLE = "best_single_feature"
# The named rules and the column each needs (found by name, any case).
RULE_COLUMNS = {"tenure_rule": "tenure", "contract_rule": "contract"}


@dataclass
class Rules:
    """Each rule's scores of the held-out rows, and the column the best single feature was."""

    scores: dict[str, np.ndarray] = field(default_factory=dict)
    best_single: str | None = None


def missing_rules(feature_names: list[str]) -> dict[str, str]:
    """The named rules these inputs cannot give, and the column each lacks."""
    return {
        rule: name
        for rule, name in RULE_COLUMNS.items()
        if find_column(feature_names, name) is None
    }


def is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column)


def find_column(names: list[str], name: str) -> str | None:
    """The one of ``names`` that is ``name`` in any case: a rule reads the model's inputs
    only, never a column excluded from them."""
    return next((col for col in names if str(col).lower() == name), None)


def single_feature_score(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, name: str):
    """A feature as a score: numeric as is, a category as its training positive rate."""
    if is_categorical(train[name]):
        keys_train = train[name].astype("string").fillna("<null>")
        rates = pd.Series(y).groupby(keys_train.to_numpy()).mean()
        keys_test = test[name].astype("string").fillna("<null>")
        return (
            keys_train.map(rates).to_numpy(dtype=float),
            keys_test.map(rates).fillna(float(y.mean())).to_numpy(dtype=float),
        )
    values_train = pd.to_numeric(train[name], errors="coerce")
    fill = float(values_train.median()) if values_train.notna().any() else 0.0
    return (
        values_train.fillna(fill).to_numpy(dtype=float),
        pd.to_numeric(test[name], errors="coerce").fillna(fill).to_numpy(dtype=float),
    )


def rule_scores(
    train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame, feature_names: list[str]
) -> Rules:
    """Simple rules, higher = more likely positive; directions and orders learned on ``train``.

    - ``best_single_feature``: the one feature that ranks the training rows best;
    - ``tenure_rule`` (with a ``tenure`` column): shorter tenure first;
    - ``contract_rule`` (with a ``contract`` column): contract types by their training
      rate (month-to-month first), then shorter tenure first.
    """
    from sklearn.metrics import roc_auc_score

    out: dict[str, np.ndarray] = {}
    best: tuple[float, str, np.ndarray] | None = None
    for name in feature_names:
        score_train, score_test = single_feature_score(train, y_train, test, name)
        if np.ptp(score_train) == 0:
            continue
        auc = roc_auc_score(y_train, score_train)
        sign = 1.0 if auc >= 0.5 else -1.0
        strength = max(auc, 1.0 - auc)
        if best is None or strength > best[0]:
            best = (strength, name, sign * score_test)
    if best is not None:
        out[BEST_SINGLE] = best[2]
    tenure = find_column(feature_names, RULE_COLUMNS["tenure_rule"])
    if tenure is not None:
        out["tenure_rule"] = (
            -pd.to_numeric(test[tenure], errors="coerce").fillna(0).to_numpy(dtype=float)
        )
    contract = find_column(feature_names, RULE_COLUMNS["contract_rule"])
    if contract is not None:
        _, contract_rate = single_feature_score(train, y_train, test, contract)
        # Rates are < 1, so the contract order dominates and tenure only breaks ties.
        tie_break = out.get("tenure_rule", np.zeros(len(test)))
        tie_break = (tie_break - tie_break.min()) / (np.ptp(tie_break) or 1.0)
        out["contract_rule"] = contract_rate * 1000.0 + tie_break
    return Rules(out, None if best is None else best[1])


def logistic_regression(
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    feature_names: list[str],
    seed: int,
) -> np.ndarray:
    """Probabilities of a logistic regression on one-hot categories and scaled numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [n for n in feature_names if is_categorical(train[n])]
    numeric = [n for n in feature_names if n not in categorical]

    def prepared(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[feature_names].copy()
        for name in categorical:
            out[name] = out[name].astype("string").fillna("<null>").astype(object)
        for name in numeric:
            out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
        return out

    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = make_pipeline(columns, LogisticRegression(max_iter=2000, random_state=seed))
    model.fit(prepared(train), y_train)
    return model.predict_proba(prepared(test))[:, 1]
