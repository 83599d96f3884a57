"""A campaign table read for uplift training: its treatment, arm and outcome columns checked,
the treated arm picked (Hillstrom's two e-mail arms both count as treated unless ``arm`` picks
one), and what was known of each customer before the campaign kept as the features
(:mod:`training.uplift` fits and judges the models).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import WORDS_ONLY, words_only
from features.identifiers import not_features
from lifecycle.errors import UserError
from lifecycle.uplift_model import encode_features
from lifecycle.words import ROWS, word_for
from training.campaign_effect import OUTCOME_KINDS

if TYPE_CHECKING:
    from collections.abc import Sequence

NOT_FEATURES = frozenset(c.CAMPAIGN_REQUIRED) | {c.SOURCE_ROW, *WORDS_ONLY}

MIN_ROWS_PER_ARM = 50


class UpliftInputError(UserError):
    """A campaign table uplift cannot learn from; the message names the file and column."""


@dataclass
class Campaign:
    """A randomized campaign's rows as model inputs: features, treated flags, the outcome."""

    source: str
    outcome_name: str
    outcome_kind: str
    user_ids: np.ndarray
    features: pd.DataFrame
    feature_names: list[str]
    categories: dict[str, list[str]]
    treated: np.ndarray  # bool
    outcome: np.ndarray  # float
    treatment: dict[str, Any]

    def matrix(self) -> np.ndarray:
        return encode_features(self.features, self.feature_names, self.categories)

    def subset(self, rows: np.ndarray) -> Campaign:
        return Campaign(
            **{
                **self.__dict__,
                "user_ids": self.user_ids[rows],
                "features": self.features.iloc[rows].reset_index(drop=True),
                "treated": self.treated[rows],
                "outcome": self.outcome[rows],
            }
        )


def read_campaign_table(path: Path) -> pd.DataFrame:
    """A dataset's campaign table (:func:`campaign_from_frame` checks it), or one clear line."""
    if not path.is_file():
        raise UpliftInputError(
            f"no campaign table at {path}: import one first (`lifecycle import hillstrom`)"
        )
    return pd.read_parquet(path)


def _arm_letters(arm: str) -> str:
    """An arm's letters and digits alone, in lower case: how two spellings of one compare."""
    return "".join(ch for ch in arm.casefold() if ch.isalnum())


def treated_arm(asked: str, known: list[str], source: str) -> str:
    """The treated arm of ``known`` that ``asked`` names, whatever its case and punctuation
    (as the hillstrom adapter reads the file's arms: 'womens e-mail' was refused while the
    error listed 'Womens E-Mail'); refused naming the known ones, and a near miss."""
    if asked in known:
        return asked
    same = [name for name in known if _arm_letters(name) == _arm_letters(asked)]
    if len(same) == 1:  # two arms spelt alike ('A-1', 'A 1'): neither is guessed
        return same[0]
    spelt = {_arm_letters(name): name for name in known}
    near = difflib.get_close_matches(_arm_letters(asked), list(spelt), n=1, cutoff=0.8)
    hint = f"; did you mean {spelt[near[0]]!r}?" if near and not same else ""
    raise UpliftInputError(
        f"--arm {asked}: not a treated arm of {source} (it has: {', '.join(known) or 'none'})"
        + hint
    )


def campaign_from_frame(
    frame: pd.DataFrame,
    source: str,
    outcome: str,
    arm: str | None = None,
    attributes: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> Campaign:
    """Check that ``frame`` is a randomized campaign with both outcomes in each arm; its
    features leave people's attributes out (:mod:`features.identifiers`; ``attributes``: the
    settings allowing and excluding some)."""
    if c.USER_ID in frame:  # the seeded split then depends on the users, not the row order
        frame = frame.sort_values(c.USER_ID, kind="stable").reset_index(drop=True)
    for column, meaning in (
        (c.TREATMENT, "True for users sent the campaign, False for the control group"),
        (outcome, f"the {outcome} outcome of each user"),
    ):
        if column not in frame.columns:
            raise UpliftInputError(f"{source}: no column {column!r} (expected {meaning})")
    treatment = frame[c.TREATMENT]
    if treatment.isna().any() or not set(treatment.astype(object).unique()) <= {True, False}:
        row = int(np.flatnonzero(treatment.isna() | ~treatment.isin([True, False]))[0])
        raise UpliftInputError(
            f"{source}: column {c.TREATMENT!r} row {row}: {treatment.iloc[row]!r}; expected True or False"
        )
    treated = treatment.astype(bool).to_numpy()
    definition: dict[str, Any] = {"column": c.TREATMENT, "treated": "every treated arm"}
    if arm is not None:
        arms = frame[c.ARM].astype("string") if c.ARM in frame else pd.Series(dtype="string")
        arm = treated_arm(arm, sorted(arms[treated].dropna().unique()), source)
        keep = (~treated) | (arms == arm).fillna(False).to_numpy()
        frame, treated = frame[keep].reset_index(drop=True), treated[keep]
        definition["treated"] = arm
    values = pd.to_numeric(frame[outcome], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna())[0])
        raise UpliftInputError(
            f"{source}: column {outcome!r} row {row}: {frame[outcome].iloc[row]!r}; expected a number"
        )
    for name, in_arm in (("treated", treated), ("control", ~treated)):
        count = int(in_arm.sum())
        if count == 0:
            other = "control" if name == "treated" else "treated"
            raise UpliftInputError(
                f"{source}: no {name} rows (every row is {other}); uplift needs a randomized "
                f"campaign with both a treated and a control arm in column {c.TREATMENT!r}"
            )
        if count < MIN_ROWS_PER_ARM:
            raise UpliftInputError(
                f"{source}: {count} {name} {word_for(count, ROWS)}; uplift needs at least "
                f"{MIN_ROWS_PER_ARM} per arm"
            )
        distinct = values[in_arm].unique()
        if len(distinct) < 2:
            raise UpliftInputError(
                f"{source}: column {outcome!r} is {distinct[0]:g} in every {name} row; uplift "
                f"needs both outcomes in each arm"
            )
    candidates = [c for c in frame.columns if c not in NOT_FEATURES and not words_only(c)]
    people = not_features(frame, candidates, *attributes)  # a name, an email: in no model
    features = frame[[col for col in candidates if col not in people]]
    if features.shape[1] == 0:
        raise UpliftInputError(
            f"{source}: no feature columns besides {', '.join(sorted(NOT_FEATURES))}"
        )
    categories = {
        col: sorted(features[col].dropna().astype(str).unique())
        for col in features.columns
        if not pd.api.types.is_numeric_dtype(features[col])
        and not pd.api.types.is_bool_dtype(features[col])
    }
    return Campaign(
        source=source,
        outcome_name=outcome,
        outcome_kind=OUTCOME_KINDS[outcome],
        user_ids=frame[c.USER_ID].astype(str).to_numpy()
        if c.USER_ID in frame
        else np.arange(len(frame)).astype(str),
        features=features.reset_index(drop=True),
        feature_names=list(features.columns),
        categories=categories,
        treated=treated,
        outcome=values.to_numpy(dtype=float),
        treatment=definition,
    )
