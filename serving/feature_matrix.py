"""Users' features as one float matrix whose columns are fixed once, for every model.

A :class:`Layout` is made when the champions load: the numeric features every model
reads (plus the columns populations, stages and the purchase outlook read), then one
column per categorical feature and category list, encoded as training codes. A batch
frame (:meth:`FeatureMatrix.from_frame`) and the raw rows of an online lookup
(:meth:`FeatureMatrix.from_online_rows`) both become a :class:`FeatureMatrix`, and each
model takes its columns from it by position: the one scoring definition
(``serving.scoring.score_matrix``) then serves one user and millions alike, with no
DataFrame per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from lifecycle.bundle import category_codes, numeric_block
from serving.segments import STAGE_COLUMNS

# Columns scoring reads besides the models' inputs: the populations (features.labels), the
# lifecycle stages (serving.segments) and the purchase outlook (lifecycle.btyd).
CONTEXT_COLUMNS = (
    "recency_days",
    "orders_total",
    "tenure_days",
    *STAGE_COLUMNS,
    "first_purchase_age_days",
    "purchase_recency_days",
)
UPLIFT_KEY = "<uplift>"  # the uplift model's key among the layout's models (never a task name)


@dataclass(frozen=True)
class ModelInputs:
    """What a model reads: its features in order and its categorical features' categories."""

    feature_names: Sequence[str]
    categories: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Layout:
    """The matrix columns: numeric features first, then (categorical feature, categories)."""

    numeric: tuple[str, ...]
    coded: tuple[tuple[str, tuple[str, ...]], ...]
    models: dict[str, np.ndarray]  # model key -> its input columns, in its feature order
    model_features: dict[str, tuple[str, ...]]
    position: dict[str, int] = field(init=False)  # numeric feature -> column
    codes: tuple[dict[str, int], ...] = field(init=False)  # per coded column: category -> code

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {n: j for j, n in enumerate(self.numeric)})
        object.__setattr__(
            self, "codes", tuple({v: k for k, v in enumerate(cats)} for _, cats in self.coded)
        )

    @classmethod
    def of(cls, models: Mapping[str, ModelInputs]) -> Layout:
        numeric: dict[str, None] = {}
        coded: dict[tuple[str, tuple[str, ...]], None] = {}
        for inputs in models.values():
            for name in inputs.feature_names:
                if name in inputs.categories:
                    coded[(name, tuple(inputs.categories[name]))] = None
                else:
                    numeric[name] = None
        numeric.update(dict.fromkeys(n for n in CONTEXT_COLUMNS if n not in numeric))
        names, pairs = tuple(numeric), tuple(coded)
        columns = {}
        for key, inputs in models.items():
            columns[key] = np.array(
                [
                    len(names) + pairs.index((n, tuple(inputs.categories[n])))
                    if n in inputs.categories
                    else names.index(n)
                    for n in inputs.feature_names
                ],
                dtype=np.intp,
            )
        features = {k: tuple(m.feature_names) for k, m in models.items()}
        return cls(names, pairs, columns, features)

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.coded)

    def places(self, plan: Any) -> _Places:
        """Where an online read plan's values land in this layout, worked out once per plan."""
        cache = self.__dict__.setdefault("_places", {})
        found = cache.get(id(plan))
        if found is None or found.plan is not plan:
            wanted = self.text_features()
            numbers = [
                (i, n)
                for i, n in zip(plan.numbers, plan.number_names, strict=True)
                if n in self.position
            ]
            texts = [
                (i, n) for i, n in zip(plan.texts, plan.text_names[1:], strict=True) if n in wanted
            ]
            found = _Places(
                plan,
                list(plan.stamps),
                [i for i, _ in numbers],
                [n for _, n in numbers],
                [self.position[n] for _, n in numbers],
                [i for i, _ in texts],
                [n for _, n in texts],
                itemgetter(*(i for i, _ in numbers)) if numbers else None,
                np.array([self.position[n] for _, n in numbers], dtype=np.intp),
            )
            cache[id(plan)] = found
        return found

    def text_features(self) -> set[str]:
        return {name for name, _ in self.coded}


@dataclass(frozen=True)
class _Places:
    """An online read plan's row positions and their columns in a layout."""

    plan: Any  # the plan itself: its id keys the cache
    stamps: list[int]
    numbers: list[int]
    number_names: list[str]
    targets: list[int]
    texts: list[int]
    text_names: list[str]
    picker: Any = None  # row -> the values at ``numbers`` (an itemgetter), None without any
    target_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


def layout_of(bundles: Mapping[str, Any], uplift: Any = None) -> Layout:
    """The layout of task bundles (keyed by task) and, when given, the uplift model's."""
    models = {
        key: ModelInputs(bundle.feature_names, bundle.categories) for key, bundle in bundles.items()
    }
    if uplift is not None:
        models[UPLIFT_KEY] = ModelInputs(uplift.feature_names, uplift.categories)
    return Layout.of(models)


@dataclass
class FeatureMatrix:
    """Rows of users: ids, the float matrix of a :class:`Layout`, and the raw values reasons
    quote (numbers as the source held them, text as given)."""

    layout: Layout
    user_ids: np.ndarray
    values: np.ndarray  # rows x layout.width, float64
    present: frozenset[str]  # features the source had (others are NaN and cannot be read)
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # feature -> raw values
    as_of_us: np.ndarray | None = None  # each row's feature time (µs), from the online store

    def __len__(self) -> int:
        return len(self.user_ids)

    def column(self, name: str) -> np.ndarray:
        """A numeric feature's values; a feature the source lacks is a KeyError naming it."""
        if name not in self.present or name not in self.layout.position:
            raise KeyError(name)
        return self.values[:, self.layout.position[name]]

    def has_model(self, key: str) -> bool:
        known = self.layout.__dict__.setdefault("_has_model", {})  # per (model, features held)
        found = known.get((key, self.present))
        if found is None:
            found = (
                key in self.layout.models and set(self.layout.model_features[key]) <= self.present
            )
            if len(known) > 256:
                known.clear()
            known[(key, self.present)] = found
        return found

    def model(self, key: str, rows: np.ndarray | None = None) -> np.ndarray:
        """The input matrix of model ``key`` (a task name or ``UPLIFT_KEY``), C-contiguous."""
        if not self.has_model(key):
            missing = [n for n in self.layout.model_features[key] if n not in self.present]
            raise KeyError(f"features missing for the {key} model: {', '.join(missing)}")
        columns = self.layout.models[key]
        if rows is None:
            # take, not values[:, columns]: fancy indexing of columns gives a Fortran-ordered
            # array, which compiled trees (lleaves) copy to rows first, once per booster
            return self.values.take(columns, axis=1)
        return self.values[np.ix_(rows, columns)]

    def raw_value(self, name: str, row: int) -> Any:
        """The user's value of a feature as the source held it (what a reason quotes)."""
        column = self.raw.get(name)
        value = self.values[row, self.layout.position[name]] if column is None else column[row]
        return value.item() if hasattr(value, "item") else value

    def row_values(self, row: int) -> Callable[[str], Any]:
        """:meth:`raw_value` of one row, each feature read once: a reason's words, facts and
        pace read the same few values over and over."""
        read: dict[str, Any] = {}

        def value_of(name: str) -> Any:
            if name not in read:
                read[name] = self.raw_value(name, row)
            return read[name]

        return value_of

    def take(self, rows: np.ndarray) -> FeatureMatrix:
        """The given rows (positions)."""
        return FeatureMatrix(
            self.layout,
            self.user_ids[rows],
            self.values[rows],
            self.present,
            self.raw.take(rows)
            if isinstance(self.raw, _FrameColumns)
            else {name: column[rows] for name, column in self.raw.items()},
            None if self.as_of_us is None else self.as_of_us[rows],
        )

    @classmethod
    def from_frame(cls, layout: Layout, features: pd.DataFrame) -> FeatureMatrix:
        """A frame of ``user_id`` and feature columns (batch scoring, supplied features)."""
        from features import contract as c

        columns = set(features.columns)
        values = np.full((len(features), layout.width), np.nan)
        numeric = [n for n in layout.numeric if n in columns]
        if numeric:
            values[:, [layout.position[n] for n in numeric]] = numeric_block(features, numeric)
        start = len(layout.numeric)
        for j, (name, categories) in enumerate(layout.coded):
            if name in columns:
                values[:, start + j] = category_codes(list(categories), features[name])
        present = frozenset(numeric) | frozenset(n for n, _ in layout.coded if n in columns)
        # Reasons quote the frame's own values (an Int64 count stays an int): read lazily.
        raw = _FrameColumns(features)
        return cls(layout, features[c.USER_ID].to_numpy(), values, present, raw)

    @classmethod
    def from_online_rows(
        cls, layout: Layout, user_ids: list[str], reads: Sequence[tuple[Any, list[tuple]]]
    ) -> tuple[FeatureMatrix, np.ndarray]:
        """Users' rows as the online store returned them, one ``(ReadPlan, rows)`` per
        feature service looked up; and whether each user has a row in any view."""
        count = len(user_ids)
        values = np.full((count, layout.width), np.nan)
        found = np.zeros(count, dtype=bool)
        as_of = np.zeros(count, dtype=np.int64)
        present: set[str] = set()
        texts: dict[str, np.ndarray] = {}
        start = len(layout.numeric)
        for plan, rows in reads:
            places = layout.places(plan)
            for row_index, row in enumerate(rows):
                stamps = [row[i] for i in places.stamps if row[i] is not None]
                if stamps:
                    found[row_index] = True
                    as_of[row_index] = max(as_of[row_index], *stamps)
            if not present:  # the first read: all its numbers, with what was worked out once
                picked, targets, names = places.picker, places.target_columns, places.number_names
            else:
                fresh = [k for k, name in enumerate(places.number_names) if name not in present]
                picked = itemgetter(*(places.numbers[k] for k in fresh)) if fresh else None
                targets = np.array([places.targets[k] for k in fresh], dtype=np.intp)
                names = [places.number_names[k] for k in fresh]
            if names and picked is not None:
                # None (a missing value or user) becomes NaN in one conversion
                values[:, targets] = np.array([picked(row) for row in rows], dtype=float).reshape(
                    count, len(names)
                )
                present.update(names)
            for position, name in zip(places.texts, places.text_names, strict=True):
                if name not in texts:
                    texts[name] = np.array([row[position] for row in rows], dtype=object)
                    present.add(name)
        for j, (name, _) in enumerate(layout.coded):
            if name in texts:
                codes = layout.codes[j]
                values[:, start + j] = [
                    codes.get(value, np.nan) if value is not None else np.nan
                    for value in texts[name]
                ]
        matrix = cls(
            layout, np.array(user_ids, dtype=object), values, frozenset(present), texts, as_of
        )
        return matrix, found


class _FrameColumns(dict):
    """Raw columns of a frame as numpy arrays, converted on first use."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if name not in self:
            if name not in self.frame.columns:
                return default
            self[name] = self.frame[name].to_numpy()
        return self[name]

    def take(self, rows: np.ndarray) -> _FrameColumns:
        return _FrameColumns(self.frame.iloc[rows])
