"""Compiled trees: a LightGBM model file as native code (lleaves), cached in the workspace.

Chosen by measurement (``experiments/bench_compiled.py``, numbers in docs/serving.md):
lleaves predicts the same values as ``Booster.predict`` (max abs diff ~1e-12) several
times faster in batch and for one row, where LightGBM's single-row fast path gains less.
Compiling takes seconds per thousand trees, so a compiled model is cached under
``Workspace.compiled_dir`` keyed by model version and a hash of the model file (the file
is what is compiled; the version names it for a reader) and reused by every later start.
A process writes its object file under a temporary name and renames it, so two processes
compiling the same model at once both end with a whole file. Anything that goes wrong
(lleaves not installed, an objective it does not know, a broken cache file) costs one log
line and the booster keeps predicting through LightGBM.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lifecycle.bundle import ModelBundle

logger = logging.getLogger("lifecycle.compiled")

OBJECT_SUFFIX = ".o"
# Below this many rows one thread: lleaves starts a thread pool per call otherwise
# (same threshold as LightGBM's in lifecycle.bundle).
SINGLE_THREAD_ROWS = 512
# Without inlining, compiling is 3.5x faster (60 trees: 0.7 vs 2.6 CPU-s) for the same
# one-row time and 1.5x slower batches, still ~10x LightGBM: a new model version serves
# compiled sooner, and a first score-all with it gains even after paying the compile.
INLINE = False


class CompiledTrees:
    """A booster compiled to native code: ``predict`` as ``Booster.predict`` (not raw scores)."""

    def __init__(self, model: Any, path: Path) -> None:
        self._model = model
        self.path = path

    def predict(self, values: np.ndarray) -> np.ndarray:
        threads = 1 if len(values) < SINGLE_THREAD_ROWS else os.cpu_count() or 1
        return self._model.predict(values, n_jobs=threads)


def cache_key(model_file: Path) -> str:
    """Hash of the model file, the compiler's version and the CPU it compiles for."""
    from importlib.metadata import version

    import llvmlite
    import llvmlite.binding as llvm

    digest = hashlib.sha256(model_file.read_bytes())
    digest.update(f"lleaves {version('lleaves')} llvmlite {llvmlite.__version__}".encode())
    digest.update(llvm.get_host_cpu_name().encode())
    return digest.hexdigest()[:16]


def compile_trees(
    model_file: Path, cache_dir: Path, name: str, *, cached_only: bool = False
) -> CompiledTrees | None:
    """The model file compiled (from the cache when there), or None after one log line
    (or silently when ``cached_only`` and it is not cached).

    ``name`` says which model it is (``demo_churn-v3-booster``); the cache file is
    ``<name>-<cache_key>.o``.
    """
    try:
        import lleaves

        path = cache_dir / f"{name}-{cache_key(model_file)}{OBJECT_SUFFIX}"
        if cached_only and not path.is_file():
            return None
        model = lleaves.Model(model_file=str(model_file))
        if path.is_file():
            model.compile(cache=str(path), finline=INLINE)
            return CompiledTrees(model, path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        # lleaves writes its cache in place: write a private file, then rename it whole.
        handle, staging = tempfile.mkstemp(prefix=f".{name}-", suffix=OBJECT_SUFFIX, dir=cache_dir)
        os.close(handle)
        os.unlink(staging)  # lleaves compiles only when the cache path does not exist
        try:
            model.compile(cache=staging, finline=INLINE)
            os.replace(staging, path)
        finally:
            Path(staging).unlink(missing_ok=True)
        return CompiledTrees(model, path)
    except Exception as error:  # any failure: LightGBM predicts instead
        logger.warning(
            "trees of %s not compiled (%s: %s): predicting with LightGBM",
            name,
            type(error).__name__,
            error,
        )
        return None


def compile_bundles(
    bundles: Mapping[str, ModelBundle],
    cache_dir: Path,
    *,
    background: bool = False,
    cached_only: bool = False,
) -> threading.Thread | None:
    """Compile the trees of every bundle (name: model and version -> bundle). In the
    background the bundles predict through LightGBM until each booster's trees are ready
    (a server stays quick to start); else before returning (batch scoring)."""

    def compile_all() -> None:
        for name, bundle in bundles.items():
            bundle.compile_trees(cache_dir, name, cached_only=cached_only)

    if not background:
        compile_all()
        return None
    thread = threading.Thread(target=compile_all, name="lifecycle-compile", daemon=True)
    thread.start()
    return thread
