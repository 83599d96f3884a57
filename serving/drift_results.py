"""The last saved drift result (``lifecycle monitor``, or the report of ``refresh``), as the
report and the HTTP service read it: the saved file, the gauges, and whether it is of what
the service serves now."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from lifecycle.settings import Settings
    from serving.monitor import MonitorResult


OUTDATED = "outdated"  # why a saved result no longer holds, until monitor measures again


def save_result(settings: Settings, result: MonitorResult) -> Path:
    """Write the result atomically where :func:`last_result` reads it."""
    return _write(settings.workspace.drift_result(result.dataset), result.to_dict())


def _write(path: Path, result: dict[str, Any]) -> Path:
    from lifecycle.storage import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as staging:
        staging.write_text(json.dumps(result, indent=2, default=str))
        staging.chmod(0o644)  # the HTTP service may run as another user
    return path


def mark_outdated(settings: Settings, dataset: str, why: str) -> bool:
    """Say in the dataset's saved result why it no longer holds (``why``: its row counts and
    verdicts include users `lifecycle forget` erased since); /monitor names it in ``stale``
    until `lifecycle monitor` measures again. False when there is no result."""
    result = last_result(settings, dataset)
    if result is None:
        return False
    _write(settings.workspace.drift_result(dataset), {**result, OUTDATED: why})
    return True


def last_result(settings: Settings, dataset: str | None = None) -> dict[str, Any] | None:
    """The last saved monitor result (``to_dict``), or None when monitor never ran."""
    path = settings.workspace.drift_result(dataset or settings.dataset)
    return json.loads(path.read_text()) if path.is_file() else None


def drift_gauges(result: dict[str, Any], stale: bool = False) -> dict[tuple[str, str], float]:
    """Prometheus gauge values from a saved result: (source, column) -> PSI,
    ("alert", "drifting") -> how many columns drift, and ("alert", "stale") -> 1 where the
    result is not of what the service serves (:func:`drift_staleness`), else 0."""
    gauges = {(col["source"], col["name"]): float(col["psi"]) for col in result["columns"]}
    gauges[("alert", "drifting")] = float(len(result["drifting"]))
    gauges[("alert", "stale")] = float(stale)
    return gauges


def drift_staleness(
    result: dict[str, Any] | None, versions: dict[str, str] | None, as_of: str | None
) -> list[str]:
    """Why a saved result is not of what the service serves now (the champions' ``versions``,
    None where none are loaded, and the online store's features ``as_of``), one sentence
    each and then the fix; empty when it is, or when nothing was measured."""
    if result is None:
        return []
    from serving.answers import made_by  # 'version 3', or '1 - churn v3' as it is

    problems = [str(result[OUTDATED])] if result.get(OUTDATED) else []
    measured = {str(k): str(v) for k, v in result.get("model_versions", {}).items()}
    for task in sorted(set(measured) | set(versions or {})) if versions is not None else []:
        if measured.get(task) != versions.get(task):
            problems.append(
                f"{task}: measured with {made_by(measured.get(task))}, the service "
                f"serves {made_by(versions.get(task))}"
            )
    if as_of and result.get("current_as_of") != as_of:
        problems.append(
            f"measured as of {result.get('current_as_of')}, the online store's features "
            f"(what /score answers from) are as of {as_of}"
        )
    fix = "run `lifecycle monitor` (`lifecycle refresh` measures it with its report)"
    return [*problems, fix] if problems else []
