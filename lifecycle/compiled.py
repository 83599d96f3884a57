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

A champion is compiled when training registers and promotes it (``compile_registered``),
not only when a server loads it; compiled versions no longer champion or challenger are
pruned then, but for the newest few (``serving.compiled_versions_kept``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Below this many rows one thread: lleaves starts a thread pool per call otherwise.
from lifecycle.bundle import SINGLE_THREAD_ROWS

if TYPE_CHECKING:
    from lifecycle.bundle import ModelBundle
    from lifecycle.settings import Settings

logger = logging.getLogger("lifecycle.compiled")

OBJECT_SUFFIX = ".o"
# Requests up to this many rows predict through preallocated per-thread buffers.
BUFFERED_ROWS = 128
# Without inlining, compiling is 3.5x faster (60 trees: 0.7 vs 2.6 CPU-s) for the same
# one-row time and 1.5x slower batches, still ~10x LightGBM: a new model version serves
# compiled sooner, and a first score-all with it gains even after paying the compile.
INLINE = False
# lleaves' entry point: (rows x features doubles, outputs, first row, end row), by address
_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


class CompiledTrees:
    """A booster compiled to native code: ``predict`` as ``Booster.predict`` (not raw scores)."""

    def __init__(self, model: Any, path: Path) -> None:
        self._model = model
        self.path = path
        # One output per row in float64 (what lleaves compiles by default): small inputs then
        # call the compiled function itself, with plain addresses; lleaves' predict costs
        # ~5 µs more per call (conversions, pointer objects), as much as the trees of one row.
        self._direct = None
        if model._n_classes == 1 and model.use_fp64:
            address = ctypes.cast(model._c_entry_func, ctypes.c_void_p).value
            self._direct = _ENTRY(address)
        self._features = model.num_feature()
        self._buffers = threading.local()

    def predict(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        rows = len(values)
        if rows >= SINGLE_THREAD_ROWS or self._direct is None:
            threads = 1 if rows < SINGLE_THREAD_ROWS else os.cpu_count() or 1
            return self._model.predict(values, n_jobs=threads)
        if values.ndim != 2 or values.shape[1] != self._features:
            raise ValueError(f"Data must be of dimension (N, {self._features}), is {values.shape}.")
        if rows > BUFFERED_ROWS:
            data = np.ascontiguousarray(values, dtype=np.float64)
            out = np.zeros(rows)
            self._direct(data.ctypes.data, out.ctypes.data, 0, rows)  # drops the GIL meanwhile
            return out
        # A small request goes through this thread's own buffers, whose addresses are read
        # once: ``ndarray.ctypes.data`` costs ~3 µs a call, as much as one row's trees.
        buffers = self._buffers.__dict__.get("arrays")
        if buffers is None:
            buffers = self._buffers.arrays = _Buffers(self._features)
        buffers.inputs[:rows] = values
        buffers.outputs[:rows] = 0.0  # as a fresh output array: lleaves may add into it
        self._direct(buffers.inputs_at, buffers.outputs_at, 0, rows)
        return buffers.outputs[:rows].copy()


class _Buffers:
    """One thread's input and output arrays of a compiled model, with their addresses."""

    def __init__(self, features: int) -> None:
        self.inputs = np.zeros((BUFFERED_ROWS, features))
        self.outputs = np.zeros(BUFFERED_ROWS)
        self.inputs_at = self.inputs.ctypes.data
        self.outputs_at = self.outputs.ctypes.data


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
        with _compiling(cache_dir):
            if path.is_file():  # another process compiled it while this one waited
                model.compile(cache=str(path), finline=INLINE)
                return CompiledTrees(model, path)
            # lleaves writes its cache in place: write a private file, then rename it whole.
            handle, staging = tempfile.mkstemp(
                prefix=f".{name}-", suffix=OBJECT_SUFFIX, dir=cache_dir
            )
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


@contextmanager
def _compiling(cache_dir: Path) -> Iterator[None]:
    """One compile at a time in a cache folder, across processes and threads: the two workers
    of a starting server compiled the same trees side by side (twice the CPU, ~10 s each on
    the demo's champions); the second now waits and loads the first one's file."""
    import fcntl

    folder = os.open(cache_dir, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # released when the descriptor closes
        yield
    finally:
        os.close(folder)


def compile_bundles(
    bundles: Mapping[str, ModelBundle],
    cache_dir: Path,
    *,
    background: bool = False,
    cached_only: bool = False,
    trees: bool = True,
) -> threading.Thread | None:
    """Compile the trees of every bundle (name: model and version -> bundle) and prepare
    its TreeSHAP (``ModelBundle.tabulate_reasons``). In the background the bundles predict
    through LightGBM until each booster's trees are ready (a server stays quick to start);
    else before returning (batch scoring). ``trees`` False: the TreeSHAP alone, for a caller
    that explains and predicts nothing (a list's reasons)."""

    def compile_all() -> None:
        for name, bundle in bundles.items():
            if trees:
                bundle.compile_trees(cache_dir, name, cached_only=cached_only)
            # TreeSHAP tables: explained answers at a fraction of the CPU (saved beside the trees)
            bundle.tabulate_reasons(cache_dir, f"{name}-booster")

    if not background:
        compile_all()
        return None
    thread = threading.Thread(target=compile_all, name="lifecycle-compile", daemon=True)
    thread.start()
    return thread


def champion_names(dataset: str, versions: Mapping[str, str]) -> dict[str, str]:
    """Each task's champion as the cache names its compiled trees: model and version."""
    from lifecycle import registry

    return {task: f"{registry.model_name(dataset, task)}-v{v}" for task, v in versions.items()}


def compile_registered(settings: Settings, dataset: str, task: str, version: str) -> int:
    """Compile a model version training just registered, if it is now the champion (from its
    registered bundle: the very files a server downloads, so the server finds them cached),
    then prune compiled versions no longer served; how many boosters were compiled now.
    Nothing when ``serving.compile_trees`` is off."""
    if not settings.serving.compile_trees:
        return 0
    try:
        return _compile_registered(settings, dataset, task, version)
    except Exception as error:  # an optimisation: a failure never fails the training
        logger.warning(
            "model %s of %s not compiled at registration (%s: %s): the server compiles it",
            version,
            task,
            type(error).__name__,
            error,
        )
        return 0


def _compile_registered(settings: Settings, dataset: str, task: str, version: str) -> int:
    from lifecycle import registry
    from lifecycle.bundle import ModelBundle

    client = registry.client(settings, fluent=False)  # often a background thread
    name = registry.model_name(dataset, task)
    champion = registry.alias_version(client, name, registry.CHAMPION)
    compiled = 0
    if champion is not None and str(champion.version) == str(version):
        cache_dir = settings.workspace.compiled_dir
        with tempfile.TemporaryDirectory(prefix="lifecycle-compile-") as scratch:
            source = registry.bundle_path(client, name, str(version), Path(scratch))
            bundle = ModelBundle.load(source)
            label = f"{name}-v{version}"
            if not _all_cached(source, bundle.booster_files(), cache_dir, label):
                compiled = bundle.compile_trees(cache_dir, label)
    prune_compiled(settings, dataset)
    return compiled


def _all_cached(source: Path, files: Mapping[str, Any], cache_dir: Path, label: str) -> bool:
    """Whether every booster file of a bundle has its compiled file already (no loading)."""
    try:
        return all(
            (cache_dir / f"{label}-{Path(f).stem}-{cache_key(source / f)}{OBJECT_SUFFIX}").is_file()
            for f in files
        )
    except ImportError:  # no compiler: compile_trees says so in its one log line
        return False


def prune_compiled(settings: Settings, dataset: str) -> list[Path]:
    """Delete the compiled trees of the dataset's model versions that are neither champion
    nor challenger, except the ``serving.compiled_versions_kept`` newest of each model (a
    rollback serves at once); the files deleted. Files of other models are left alone."""
    from lifecycle import registry, tasks

    cache_dir = settings.workspace.compiled_dir
    if not cache_dir.is_dir():
        return []
    client = registry.client(settings, fluent=False)
    served: dict[str, set[str]] = {}
    for task in tasks.names():
        name = registry.model_name(dataset, task)
        served[name] = {
            str(found.version)
            for alias in (registry.CHAMPION, registry.CHALLENGER)
            if (found := registry.alias_version(client, name, alias)) is not None
        }
    return prune_versions(cache_dir, served, settings.serving.compiled_versions_kept)


def prune_versions(cache_dir: Path, served: Mapping[str, set[str]], keep: int) -> list[Path]:
    """Delete ``<model>-v<version>-*.o`` (and its saved TreeSHAP, ``*.shap.npz``) of each
    model in ``served`` whose version is not served and not among the ``keep`` newest other
    versions; the files deleted."""
    from lifecycle.treeshap import SAVED_SUFFIX

    by_model: dict[str, dict[int, list[Path]]] = {}
    saved = (*cache_dir.glob(f"*{OBJECT_SUFFIX}"), *cache_dir.glob(f"*{SAVED_SUFFIX}"))
    for path in saved:
        for model in served:
            version = _version_of(path.name, model)
            if version is not None:
                by_model.setdefault(model, {}).setdefault(version, []).append(path)
    deleted = []
    for model, versions in by_model.items():
        others = sorted((v for v in versions if str(v) not in served[model]), reverse=True)
        for version in others[keep:]:
            for path in versions[version]:
                path.unlink(missing_ok=True)
                deleted.append(path)
    return deleted


def _version_of(file_name: str, model: str) -> int | None:
    """The version of ``<model>-v<version>-<booster>-<key>.o``, None for another model's file."""
    prefix = f"{model}-v"
    if not file_name.startswith(prefix):
        return None
    version, dash, _ = file_name[len(prefix) :].partition("-")
    return int(version) if dash and version.isdigit() else None
