"""Feast imported once, quietly, with its runtime type checks off: call :func:`load_feast`
before any ``from feast ... import`` (a module of this package that imports Feast at its top
calls it first)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def load_feast(typechecks: bool | None = None) -> None:
    """Import Feast once, quietly, with its runtime type checks off.

    Feast decorates ~260 functions with typeguard's ``@typechecked``, which re-parses their
    source at import: 8.5 s instead of 3.5 s on a 2-core machine, paid by every command,
    server start and test worker. ``typechecks`` (the setting ``feast.typechecks``, passed by
    :func:`features.store.open_store`; unset: the variable ``LIFECYCLE_FEAST__TYPECHECKS``)
    keeps them, e.g. when debugging Feast itself. Only Feast's first import decides.
    """
    if typechecks is None:
        typechecks = os.environ.get("LIFECYCLE_FEAST__TYPECHECKS", "").lower() in ("1", "true")
    if "feast" not in sys.modules and not typechecks:
        import typeguard

        typeguard.typechecked = _unchecked
    import feast  # noqa: F401

    logging.getLogger("feast").setLevel(logging.WARNING)
    logging.getLogger("feast.repo_config").addFilter(_no_file_registry_advice)


def _no_file_registry_advice(record: logging.LogRecord) -> bool:
    """Drop Feast's advice that ``serve_features_while_materializing`` does nothing for a file
    registry: it does here (a killed ``FeatureStore.materialize`` otherwise leaves views
    unservable; tests/test_faults.py), and it printed on every store opened."""
    return "`serve_features_while_materializing` is enabled but `registry_type`" not in str(
        record.msg
    )


def _unchecked(target: Any = None, **_: Any) -> Any:
    return target if target is not None else (lambda function: function)
