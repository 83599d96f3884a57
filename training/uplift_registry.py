"""An uplift model in the registry: the champion to beat, and a new version logged as one
pyfunc and registered as challenger."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle import registry
from lifecycle.uplift_model import UpliftBundle

if TYPE_CHECKING:
    from training.uplift_campaign import Campaign


def uplift_champion(mlflow_client: Any, name: str) -> UpliftBundle | None:
    """The registered uplift champion's bundle, or None."""
    version = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    if version is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.bundle_path(mlflow_client, name, version.version, Path(tmp))
        return UpliftBundle.load(path)


def log_uplift_bundle(
    mlflow_client: Any, name: str, bundle: UpliftBundle, campaign: Campaign, workdir: Path
) -> str:
    """Log the bundle as one pyfunc in the active run and register it as ``challenger``."""
    from training.tracking import log_pyfunc
    from training.uplift import SPLIT_SHARES

    window = bundle.data_window
    return log_pyfunc(
        mlflow_client,
        name,
        bundle,
        campaign.features,
        workdir,
        model_file="mlflow_uplift_model.py",
        metadata={
            "outcome": bundle.outcome,
            "learner": bundle.learner,
            "treatment": bundle.treatment,
            "data_window": window,
        },
        tags={
            "learner": bundle.learner,  # every learner is LightGBM ("kind" names a served baseline)
            # `lifecycle models` shows this as the test set: no cutoff, a seeded random share
            "test_cutoff": f"random {SPLIT_SHARES[2]:.0%} (seed {window['split_seed']})",
            "outcome": bundle.outcome,
            "treated": str(bundle.treatment["treated"]),
        },
        metrics={
            key: bundle.metrics.get(f"{bundle.learner}.{key}")
            for key in ("qini", "qini_low", "qini_high", "auuc", "qini_over_response_low")
        },
    )
