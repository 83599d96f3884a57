"""Exact path-dependent TreeSHAP of a LightGBM model, precomputed per leaf at load.

LightGBM's ``pred_contrib`` walks every path of every tree for each row (O(leaves x
depth^2), ~1 ms for one row of the demo's churn model, the dearest part of an explained
answer). Here the same values come from tables built once: a leaf's share of each feature's
contribution depends on the row only through which of the leaf path's features the row
"follows" (one bit per distinct feature on the path), so for every leaf and every such
pattern the shares are computed in advance. Per row what is left is every split's decision,
each leaf's pattern and a gather-and-sum of the table: numpy over flat arrays. The tables
are large (~10 MB for the demo's churn model) and reading them evicts a request's compiled
trees, so where llvmlite compiles it a native kernel (``lifecycle.treeshap_native``)
computes the row's one pattern per leaf from the cover fractions instead; the tables are
built only without it.

For a leaf with value ``v`` whose path has distinct features ``D`` with cover fractions
``z_k`` (the product of child count / parent count over the path's splits on ``k``) and
``o_k`` = 1 when the row goes the path's way at all of them, feature ``i`` of ``D`` gets
``v (o_i - z_i) * sum_S |S|! (|D|-1-|S|)! / |D|! prod_{k in S} o_k prod_{k not in S} z_k``
(S over subsets of D without i): the sum is the integral over [0, 1] of
``prod_{k != i} (z_k + (o_k - z_k) u)``, a polynomial of degree |D| - 1, integrated exactly
by Gauss-Legendre. Splits decide as LightGBM's ``Tree::Decision`` (missing types, default
directions, categorical bitsets). Values equal LightGBM's to rounding (tested within 1e-9).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from lifecycle.bundle import SINGLE_THREAD_ROWS

# Leaf tables larger than this many values (8 bytes each) are not built: LightGBM explains.
MAX_TABLE_VALUES = 16_000_000
# Rows explained per numpy pass: bounds the (rows x path steps) temporaries to a few MB.
ROWS_PER_PASS = 32
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float widened to double)
_CATEGORICAL, _DEFAULT_LEFT = 1, 2
_MISSING_ZERO, _MISSING_NAN = 1, 2


# A model's TreeSHAP saved beside its compiled trees: <model>-v<version>-booster-<key>.shap.npz,
# the key a hash of the model text and of FORMAT (bumped when the saved state changes).
SAVED_SUFFIX = ".shap.npz"
FORMAT = b"lifecycle.treeshap 1"


def _native_kernel() -> object | None:
    from lifecycle.treeshap_native import kernel

    return kernel()


class TreeShapUnavailable(ValueError):
    """The model cannot be explained by tables (LightGBM's TreeSHAP is used instead)."""


@dataclass
class _Tree:
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_value: np.ndarray
    leaf_count: np.ndarray
    internal_count: np.ndarray
    cat_boundaries: np.ndarray
    cat_threshold: np.ndarray


def _parse(model_text: str) -> tuple[int, list[_Tree]]:
    """The number of features and the trees of a LightGBM model file's text."""
    header, _, body = model_text.partition("\nTree=")
    fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    if int(fields.get("num_tree_per_iteration", "1")) != 1:
        raise TreeShapUnavailable("more than one tree per iteration (multiclass)")
    features = int(fields["max_feature_idx"]) + 1
    trees = []
    for block in ("Tree=" + body).split("\nTree=")[: _tree_count(model_text)]:
        block = block.split("end of trees")[0]
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if values.get("is_linear", "0") != "0":
            raise TreeShapUnavailable("linear trees")

        def array(name: str, dtype: type, values: dict[str, str] = values) -> np.ndarray:
            text = values.get(name, "")
            return np.array(text.split(), dtype=dtype) if text else np.zeros(0, dtype=dtype)

        trees.append(
            _Tree(
                array("split_feature", np.int64),
                array("threshold", np.float64),
                array("decision_type", np.int64),
                array("left_child", np.int64),
                array("right_child", np.int64),
                array("leaf_value", np.float64),
                array("leaf_count", np.float64),
                array("internal_count", np.float64),
                array("cat_boundaries", np.int64),
                array("cat_threshold", np.int64),
            )
        )
    return features, trees


def _tree_count(model_text: str) -> int:
    return model_text.split("end of trees")[0].count("\nTree=")


def _gauss_legendre(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1]: exact for polynomials of degree < 2 * points."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    return (nodes + 1.0) / 2.0, weights / 2.0


def _leaf_shares(values: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Shares (leaves x 2^d patterns x d) of leaves whose paths have the same number ``d``
    of distinct features; ``cover`` is leaves x d, pattern bit k is feature slot k."""
    depth = cover.shape[1]
    patterns = (np.arange(2**depth)[:, None] >> np.arange(depth)[None, :]) & 1  # 2^d x d
    u, w = _gauss_legendre(max(1, math.ceil(depth / 2)))
    z = cover[:, None, :, None]  # leaves x 1 x d x 1
    factor = z + (patterns[None, :, :, None] - z) * u  # leaves x 2^d x d x points
    ones = np.ones_like(factor[:, :, :1, :])
    before = np.cumprod(np.concatenate([ones, factor[:, :, :-1, :]], axis=2), axis=2)
    after = np.cumprod(np.concatenate([ones, factor[:, :, :0:-1, :]], axis=2), axis=2)[
        :, :, ::-1, :
    ]
    integral = (before * after) @ w  # leaves x 2^d x d: the product without slot i, integrated
    return values[:, None, None] * (patterns[None, :, :] - cover[:, None, :]) * integral


class TreeShap:
    """A LightGBM model's exact TreeSHAP as tables: :meth:`contributions` is
    ``Booster.predict(X, pred_contrib=True)`` without its last (expected value) column."""

    def __init__(
        self, model_text: str, max_table_values: int | None = None, *, native: bool = True
    ) -> None:
        """``native``: compute each row's shares with the compiled kernel
        (``lifecycle.treeshap_native``) when it compiles, instead of building the tables."""
        max_table_values = MAX_TABLE_VALUES if max_table_values is None else max_table_values
        self.num_features, trees = _parse(model_text)
        node_offset = 0
        nodes: dict[str, list[np.ndarray]] = {
            k: [] for k in ("feature", "threshold", "type", "cats")
        }
        steps_node, steps_left, steps_bit, steps_slot, steps_leaf = [], [], [], [], []
        entries_feature, entries_slot, entries_leaf = [], [], []
        by_depth: dict[int, list[tuple[int, float, list[float]]]] = {}
        leaf_values: list[float] = []
        leaf_covers: list[float] = []  # each leaf's cover fractions, slot by slot
        category_width = 1
        for tree in trees:
            if len(tree.cat_boundaries) > 1:
                category_width = max(category_width, 32 * int(np.diff(tree.cat_boundaries).max()))
        leaf_id = 0
        for tree in trees:
            internal = len(tree.split_feature)
            if internal == 0:  # a single leaf: all of it is the expected value
                continue
            nodes["feature"].append(tree.split_feature)
            nodes["threshold"].append(tree.threshold)
            nodes["type"].append(tree.decision_type)
            nodes["cats"].append(self._category_sets(tree, category_width))
            # Depth-first over the paths: (node, [(node, went left)]).
            stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
            while stack:
                node, path = stack.pop()
                if node >= 0:
                    stack.append((int(tree.right[node]), [*path, (node, False)]))
                    stack.append((int(tree.left[node]), [*path, (node, True)]))
                    continue
                leaf = ~node
                slots: dict[int, int] = {}
                cover: list[float] = []
                for step, went_left in path:
                    feature = int(tree.split_feature[step])
                    child = tree.left[step] if went_left else tree.right[step]
                    count = tree.internal_count[child] if child >= 0 else tree.leaf_count[~child]
                    fraction = count / tree.internal_count[step]
                    if feature not in slots:
                        slots[feature] = len(slots)
                        cover.append(1.0)
                    cover[slots[feature]] *= fraction
                    steps_node.append(node_offset + step)
                    steps_left.append(went_left)
                    steps_bit.append(1 << slots[feature])
                    steps_slot.append(slots[feature])
                    steps_leaf.append(leaf_id)
                for feature, slot in slots.items():
                    entries_feature.append(feature)
                    entries_slot.append(slot)
                    entries_leaf.append(leaf_id)
                by_depth.setdefault(len(slots), []).append(
                    (leaf_id, float(tree.leaf_value[leaf]), cover)
                )
                leaf_values.append(float(tree.leaf_value[leaf]))
                leaf_covers += cover
                leaf_id += 1
            node_offset += internal
        leaves = leaf_id
        depth = np.zeros(leaves, dtype=np.int64)
        for d, group in by_depth.items():
            depth[[g[0] for g in group]] = d
        steps_leaf_array = np.array(steps_leaf, dtype=np.int64)
        self._leaf_starts = np.flatnonzero(np.diff(steps_leaf_array, prepend=-1))
        self._native = None
        self.table_values = 0
        # the kernel's slots are 6 bits and its positions 32-bit integers
        fits = depth.max(initial=0) <= 63 and len(steps_node) < 2**31
        function = _native_kernel() if native and fits else None
        if function is not None:
            from lifecycle.treeshap_native import NativeRows

            self._native = NativeRows(
                function,
                {
                    "snode": np.array(steps_node, dtype=np.int32),
                    # the path's slot of the step's feature, and bit 7: the path goes left
                    "sinfo": (
                        np.array(steps_slot, dtype=np.uint8)
                        | (np.array(steps_left, dtype=np.uint8) << 7)
                    ),
                    "lend": np.append(self._leaf_starts[1:], len(steps_node)).astype(np.int32),
                    "estart": np.concatenate([[0], np.cumsum(depth)]).astype(np.int32),
                    "efeat": np.array(entries_feature, dtype=np.int32),
                    "cover": np.array(leaf_covers, dtype=np.float64),
                    "value": np.array(leaf_values, dtype=np.float64),
                },
                leaves,
            )
        else:
            self._build_tables(
                by_depth, depth, max_table_values, steps_bit, entries_leaf, entries_slot
            )
        self._feature = np.concatenate(nodes["feature"]) if nodes["feature"] else np.zeros(0, int)
        self._threshold = np.concatenate(nodes["threshold"]) if nodes["threshold"] else np.zeros(0)
        types = np.concatenate(nodes["type"]) if nodes["type"] else np.zeros(0, int)
        self._categorical = (types & _CATEGORICAL) != 0
        self._default_left = (types & _DEFAULT_LEFT) != 0
        missing = (types >> 2) & 3
        self._missing_zero = missing == _MISSING_ZERO
        self._missing_nan = missing == _MISSING_NAN
        self._category_nodes = np.flatnonzero(self._categorical)
        self._category_sets = (
            np.concatenate(nodes["cats"])[self._category_nodes]
            if nodes["cats"]
            else np.zeros((0, category_width), dtype=bool)
        )
        self._steps_node = np.array(steps_node, dtype=np.int64)
        self._steps_left = np.array(steps_left, dtype=bool)
        self._entry_feature = np.array(entries_feature, dtype=np.int64)

    def _build_tables(
        self,
        by_depth: dict[int, list[tuple[int, float, list[float]]]],
        depth: np.ndarray,
        max_table_values: int,
        steps_bit: list[int],
        entries_leaf: list[int],
        entries_slot: list[int],
    ) -> None:
        """Every leaf's shares for every pattern of its path (``_leaf_shares``)."""
        sizes = (2**depth) * depth
        if depth.max(initial=0) > 15:  # pattern bits are int16
            raise TreeShapUnavailable(f"a path with {depth.max()} distinct features")
        if int(sizes.sum()) > max_table_values:
            raise TreeShapUnavailable(
                f"tables of {int(sizes.sum()):,} values (limit {max_table_values:,})"
            )
        base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        table = np.empty(int(sizes.sum()))
        for d, group in by_depth.items():
            ids = np.array([g[0] for g in group])
            shares = _leaf_shares(
                np.array([g[1] for g in group]), np.array([g[2] for g in group], dtype=float)
            )
            offsets = base[ids][:, None] + np.arange(2**d * d)[None, :]
            table[offsets] = shares.reshape(len(ids), -1)
        self._table = table
        self._steps_bit = np.array(steps_bit, dtype=np.int16)  # at most 15 slots: checked
        self._all_bits = (2**depth - 1).astype(np.int16)
        entry_leaf = np.array(entries_leaf, dtype=np.int64)
        self._entry_leaf = entry_leaf
        self._entry_base = base[entry_leaf] + np.array(entries_slot, dtype=np.int64)
        self._entry_stride = depth[entry_leaf]
        self.table_values = int(sizes.sum())

    @classmethod
    def cached(cls, model_text: str, cache_dir: Path, name: str) -> TreeShap:
        """The TreeSHAP of the LightGBM model text, from ``cache_dir`` where a list, score-all
        or a server of this model version saved it, else built and saved there: the build is
        ~55 ms of CPU for a 5,000-user shop's churn model, the read ~8 ms. The file's name
        holds a hash of the model text: another model, a new champion's (even under a name
        used before, as a workspace trained again numbers its versions again) never reads
        these. A file that cannot be read is built again; one that cannot be written is only
        not saved. The folder is made where missing (the compiled trees' folder, which training
        makes only where it compiles a champion: before, a list in a workspace trained with
        ``serving.compile_trees`` off, then served with it on, built the TreeSHAP each time).
        Only paths explaining through the TreeSHAP come here (``serving.compile_trees`` on);
        with it off every path explains through LightGBM and nothing is saved."""
        with contextlib.suppress(OSError):  # a read-only workspace: built, not saved
            cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(FORMAT)
        digest.update(model_text.encode())
        path = cache_dir / f"{name}-{digest.hexdigest()[:16]}{SAVED_SUFFIX}"
        found = cls._read(path)
        if found is not None:
            return found
        tables = cls(model_text)
        with contextlib.suppress(OSError):  # a read-only cache: each list builds its own
            tables._write(path)
        return tables

    def _write(self, path: Path) -> None:
        """Save the prepared state (numpy arrays; the kernel's inputs when native), whole
        (``lifecycle.storage.atomic_file``)."""
        from lifecycle.storage import atomic_file

        arrays = {f"own_{k}": v for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        if self._native is not None:
            arrays |= {f"native_{k}": v for k, v in self._native.named.items()}
        counts = [self.num_features, self.table_values, getattr(self._native, "_leaves", -1)]
        with atomic_file(path) as staging, staging.open("wb") as out:
            np.savez(out, counts=np.array(counts, dtype=np.int64), **arrays)
            os.chmod(staging, 0o644)  # as the compiled trees beside it, not the staging's 0600

    @classmethod
    def _read(cls, path: Path) -> TreeShap | None:
        """The state :meth:`_write` saved, or None: no file, an unreadable one, or one saved
        for the native kernel where it does not compile now (built again, as then)."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {key: saved[key] for key in saved.files}
        except (OSError, ValueError, EOFError):
            return None
        num_features, table_values, leaves = (int(v) for v in arrays.pop("counts"))
        self = cls.__new__(cls)
        self.num_features, self.table_values, self._native = num_features, table_values, None
        for key, value in arrays.items():
            if key.startswith("own_"):
                setattr(self, key[4:], value)
        if leaves >= 0:
            function = _native_kernel()
            if function is None:
                return None
            from lifecycle.treeshap_native import NativeRows

            named = {k[7:]: v for k, v in arrays.items() if k.startswith("native_")}
            self._native = NativeRows(function, named, leaves)
        return self

    @staticmethod
    def _category_sets(tree: _Tree, width: int) -> np.ndarray:
        """Per split of the tree, the category codes that go left (all False if numeric)."""
        sets = np.zeros((len(tree.split_feature), width), dtype=bool)
        for node in np.flatnonzero(tree.decision_type & _CATEGORICAL):
            index = int(tree.threshold[node])
            words = tree.cat_threshold[tree.cat_boundaries[index] : tree.cat_boundaries[index + 1]]
            codes = np.arange(32 * len(words))
            sets[node, : len(codes)] = (words[codes // 32] >> (codes % 32)) & 1 == 1
        return sets

    def _goes_left(self, X: np.ndarray) -> np.ndarray:
        """Every split's decision for every row (rows x splits), as ``Tree::Decision``."""
        value = X[:, self._feature]
        nan = np.isnan(value)
        # Missing type other than NaN: NaN is read as 0.
        number = np.where(nan & ~self._missing_nan, 0.0, value)
        missing = (self._missing_zero & (number >= -_ZERO) & (number <= _ZERO)) | (
            self._missing_nan & nan
        )
        left = np.where(missing, self._default_left, number <= self._threshold)
        if len(self._category_nodes):
            codes = value[:, self._category_nodes]
            width = self._category_sets.shape[1]
            known = ~np.isnan(codes)
            index = np.where(known, codes, -1.0).astype(np.int64)  # C++ truncation toward 0
            inside = known & (index >= 0) & (index < width)
            member = self._category_sets[
                # not np.clip, whose Python wrapper costs more than this on a few rows
                np.arange(len(self._category_nodes))[None, :],
                np.minimum(np.maximum(index, 0), width - 1),
            ]
            left[:, self._category_nodes] = inside & member
        return left

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """rows x features: each feature's SHAP value for the raw score. Rows are
        independent: a large input is split over one thread per core (the native kernel
        and numpy release the GIL), with the same values as one pass."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(f"expected rows x {self.num_features} features, got {X.shape}")
        out = np.zeros((len(X), self.num_features))
        if len(self._entry_feature) == 0:
            return out
        threads = len(X) // SINGLE_THREAD_ROWS  # rows per thread (cores asked only then)
        threads = min(os.cpu_count() or 1, threads) if threads > 1 else threads
        if threads > 1:
            bounds = np.linspace(0, len(X), threads + 1).astype(int).tolist()
            with ThreadPoolExecutor(threads) as pool:
                parts = pairwise(bounds)
                done = [pool.submit(self._add, X[lo:hi], out[lo:hi]) for lo, hi in parts]
                for part in done:
                    part.result()  # an error of any part is raised here
        else:
            self._add(X, out)
        return out

    def _add(self, X: np.ndarray, out: np.ndarray) -> None:
        for start in range(0, len(X), ROWS_PER_PASS):
            rows = X[start : start + ROWS_PER_PASS]
            count = len(rows)
            if self._native is not None:
                self._native.add(self._goes_left(rows).view(np.uint8), out[start : start + count])
                continue
            strays = self._goes_left(rows)[:, self._steps_node] != self._steps_left
            stray_bits = np.bitwise_or.reduceat(strays * self._steps_bit, self._leaf_starts, axis=1)
            pattern = self._all_bits ^ stray_bits  # bit k: the row follows the path at slot k
            index = pattern[:, self._entry_leaf] * self._entry_stride
            index += self._entry_base
            shares = self._table.take(index)
            target = (np.arange(count)[:, None] * self.num_features + self._entry_feature).ravel()
            out[start : start + count] = np.bincount(
                target, weights=shares.ravel(), minlength=count * self.num_features
            ).reshape(count, self.num_features)
