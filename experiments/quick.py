"""What the experiments' ``--quick`` modes (CI sizes: they check the script, not the
product) change besides the sizes of their data; the full runs keep the product's defaults."""

from __future__ import annotations

# A new champion's trees are not compiled to native code at registration: seconds of CPU
# per model, and nothing an experiment measures reads them (compiled trees score as
# LightGBM does: tests/test_compiled.py). As LIFECYCLE_* settings of a run.
UNCOMPILED = {"LIFECYCLE_SERVING__COMPILE_TREES": "false"}
# No evaluation plots drawn (training.plots): PNG files nothing a quick run prints or
# records reads, and their drawing is ~15% of a quick training's CPU.
NO_PLOTS = {"LIFECYCLE_TRAINING__PLOTS": "false"}


def single_threaded_models() -> None:
    """LightGBM on one thread (tiny data; two threads on a busy 2-core box spin on OpenMP
    barriers, 0.3 s per tree instead of 5 ms)."""
    import dataclasses

    from lifecycle import tasks
    from training import models

    for name in [*tasks.names(), *models.SPECS]:
        spec = models.spec_of(name)
        models.SPECS[name] = dataclasses.replace(spec, params=spec.params | {"num_threads": 1})


# Boosting rounds of every LightGBM model in a quick run whose test checks the script's
# output, not the models' quality (early stopping otherwise grows 150 to 560 trees per
# booster on the quick demo: most of a training's CPU).
QUICK_ROUNDS = 100


def few_rounds() -> dict[str, str]:
    """At most QUICK_ROUNDS boosting rounds for every model, as LIFECYCLE_* settings of a run
    (``training.models.<name>.num_boost_round``)."""
    from lifecycle import tasks
    from training import models

    return {
        f"LIFECYCLE_TRAINING__MODELS__{name.upper()}__NUM_BOOST_ROUND": str(QUICK_ROUNDS)
        for name in [*tasks.names(), *models.SPECS]
    }
