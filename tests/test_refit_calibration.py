"""The deployed refit's calibrator (training.models.refit_bundle): fitted on its own recipe's
out-of-fold scores, users in folds, never on scores of a model that learned from the user,
and not on the evaluated model's test scores, which carry the evaluated model's drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.asof import AS_OF
from features.contract import USER_ID
from features.labels import LABEL
from training.models import (
    CALIBRATION_FOLDS,
    cross_fitted_scores,
    fit_bundle,
    refit_bundle,
    user_folds,
)

COMMON = {
    "label": LABEL,
    "feature_names": ["x"],
    "service": "churn_v1",
    "label_spec": {"task": "churn"},
    "data_window": {},
}


def cutoffs(level_of: dict[str, float], users: int = 1500, seed: int = 0) -> pd.DataFrame:
    """The same users at each cutoff, each with a lasting propensity ``x``; the base rate of
    the outcome is the cutoff's level (a season)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=users)
    rows = []
    for cutoff, level in level_of.items():
        p = 1 / (1 + np.exp(-(1.2 * x + level)))
        rows.append(
            pd.DataFrame(
                {
                    USER_ID: [f"u{i}" for i in range(users)],
                    AS_OF: pd.Timestamp(cutoff, tz="UTC"),
                    "x": x + rng.normal(scale=0.3, size=users),
                    LABEL: (rng.random(users) < p).astype(int),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_user_folds_keep_every_row_of_a_user_together() -> None:
    users = pd.Series(["b", "a", "c", "a", "b", "d", "c", "a"] * 50)
    fold = user_folds(users, 2, seed=7)
    assert set(fold) == {0, 1}
    assert users.groupby(fold).nunique().sum() == users.nunique()  # no user in both folds
    assert (fold == user_folds(users, 2, seed=7)).all()  # seeded


def test_no_row_is_scored_by_a_model_that_learned_from_its_user() -> None:
    frame = cutoffs({"2024-01-01": 0.0, "2024-02-01": 0.0, "2024-03-01": 0.0})
    evaluated = fit_bundle("churn", frame[frame[AS_OF] < "2024-03-01"], frame, **COMMON)
    learned: list[set[str]] = []

    def fit(task: str, train: pd.DataFrame, valid: pd.DataFrame, **options: object):
        learned.append(set(train[USER_ID]))
        assert options["probability_only"] and options["rounds_of"] is evaluated
        return fit_bundle(task, train, valid, **options)

    raw, outcome = cross_fitted_scores(evaluated, frame, label=LABEL, seed=7, fit=fit)
    assert len(learned) == CALIBRATION_FOLDS
    fold = user_folds(frame[USER_ID], CALIBRATION_FOLDS, 7)
    for k, users in enumerate(learned):
        held = set(frame.loc[fold == k, USER_ID])
        assert held and not held & users  # the fold's users were never learned from
        assert users == set(frame[USER_ID]) - held
    assert ((raw > 0) & (raw < 1)).all()
    assert (outcome == frame[LABEL].to_numpy()).all()


def test_the_refit_keeps_the_level_it_learned_where_the_transferred_calibrator_undoes_it() -> None:
    """The evaluated model learns a high season and is tested on a low one: calibrating the
    refit (which learned both) on the evaluated model's test scores lowers it twice. The
    cross-fitted calibrator keeps the refit's mean at the rate of the rows it learned from."""
    frame = cutoffs(
        {"2024-01-01": 1.0, "2024-02-01": 1.0, "2024-03-01": 1.0, "2024-04-01": -1.0}, seed=1
    )
    train = frame[frame[AS_OF] < "2024-03-01"]
    valid = frame[frame[AS_OF] == pd.Timestamp("2024-03-01", tz="UTC")]
    test = frame[frame[AS_OF] == pd.Timestamp("2024-04-01", tz="UTC")]
    evaluated = fit_bundle("churn", train, valid, **COMMON)
    assert evaluated.predict(test).mean() > test[LABEL].mean() + 0.2  # it learned the high one
    refits = {
        kind: refit_bundle(
            evaluated, frame, label=LABEL, calibration=test, data_window={}, calibration_kind=kind
        )
        for kind in ("cross_fitted", "transferred", "none")
    }
    rate = frame[LABEL].mean()
    mean = {kind: float(bundle.predict(frame).mean()) for kind, bundle in refits.items()}
    assert mean["cross_fitted"] == pytest.approx(rate, abs=0.02)
    assert mean["none"] == pytest.approx(rate, abs=0.03)
    assert mean["transferred"] < rate - 0.1  # the evaluated model's drift, undone twice
    assert refits["cross_fitted"].calibrator is not None and refits["none"].calibrator is None


def test_a_value_task_is_calibrated_on_its_purchase_part_alone() -> None:
    frame = cutoffs({"2024-01-01": 0.0, "2024-02-01": 0.0, "2024-03-01": 0.0}, seed=2)
    rng = np.random.default_rng(2)
    frame[LABEL] = frame[LABEL] * rng.gamma(2.0, 50.0, size=len(frame))
    options = COMMON | {"label_spec": {"task": "ltv"}, "service": "ltv_v1"}
    early = frame[frame[AS_OF] < "2024-03-01"]
    evaluated = fit_bundle("ltv", early, frame[frame[AS_OF] == frame[AS_OF].max()], **options)
    part = fit_bundle("ltv", early, early, rounds_of=evaluated, probability_only=True, **options)
    assert part.purchase_booster is not None and part.calibrator is not None
    assert part.booster is None and not part.quantile_boosters  # no value boosters grown
    deployed = refit_bundle(evaluated, frame, label=LABEL, calibration=frame, data_window={})
    probability = deployed.value_outlook(frame)["purchase_probability"]
    assert probability.mean() == pytest.approx((frame[LABEL] > 0).mean(), abs=0.03)
