"""What the experiments' ``--quick`` modes (CI sizes: they check the script, not the
product) change besides the sizes of their data; the full runs keep the product's defaults."""

from __future__ import annotations

# A new champion's trees are not compiled to native code at registration: seconds of CPU
# per model, and nothing an experiment measures reads them (compiled trees score as
# LightGBM does: tests/test_compiled.py). As LIFECYCLE_* settings of a run.
UNCOMPILED = {"LIFECYCLE_SERVING__COMPILE_TREES": "false"}


def single_threaded_models() -> None:
    """LightGBM on one thread (tiny data; two threads on a busy 2-core box spin on OpenMP
    barriers, 0.3 s per tree instead of 5 ms)."""
    import dataclasses

    from lifecycle import tasks
    from training import models

    for name in [*tasks.names(), *models.SPECS]:
        spec = models.spec_of(name)
        models.SPECS[name] = dataclasses.replace(spec, params=spec.params | {"num_threads": 1})
