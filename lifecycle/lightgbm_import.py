"""How a process that only predicts imports LightGBM: without scikit-learn.

``lightgbm.compat`` imports scikit-learn (0.6 s of a server start, ~0.9 CPU-s with the SciPy
parts it pulls) for LightGBM's estimator classes alone (``lightgbm.dask`` training uses
them); a process that only loads boosters and predicts never does. No heavy import here:
the CLI declares a predicting command before anything is loaded.
"""

from __future__ import annotations

import sys

_PREDICT_ONLY = {"process": False}


def import_lightgbm_without_sklearn() -> None:
    """Import LightGBM for a process that only predicts, its estimator classes absent from
    it. No-op once LightGBM is in."""
    if "lightgbm" in sys.modules:
        return
    blocked = "sklearn" not in sys.modules
    if blocked:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # ImportError: compat skips it
    try:
        import lightgbm  # noqa: F401
    finally:
        if blocked:
            del sys.modules["sklearn"]


def predict_only_process() -> None:
    """Declare that this process only predicts (a scoring command in its own process, see
    ``lifecycle.cli.PREDICT_ONLY``): ``lifecycle.bundle.load_booster`` then imports LightGBM
    as :func:`import_lightgbm_without_sklearn` does."""
    _PREDICT_ONLY["process"] = True


def predicting_only() -> bool:
    """Whether :func:`predict_only_process` was declared in this process."""
    return _PREDICT_ONLY["process"]
