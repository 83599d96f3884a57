"""The champions log: every change of a champion alias, by the gate or a hand, appended
beside a local registry (``mlflow/champions.jsonl``). A version's ``promotion`` tag holds its
latest reason only: a rollback's erased the first, with no time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.aliases_mirror import aliases_file
from lifecycle.registry import model_name, tracking_uri

if TYPE_CHECKING:
    from lifecycle.settings import Settings

CHAMPIONS_LOG = "champions.jsonl"  # every change of a champion alias, beside the mirror


def record_champion(
    mlflow_client: Any, name: str, before: Any, version: str, reason: str, by_gate: bool
) -> None:
    """Append the change to the champions log (a local registry's; a tracking server keeps
    none): when, the model, from and to, the gate or a hand (and whose), and why. A version's
    ``promotion`` tag holds its latest reason only: a rollback's erased the first."""
    import getpass
    import json
    import os
    from datetime import UTC, datetime

    mirror = aliases_file(str(mlflow_client._registry_uri))
    if mirror is None:
        return
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a name
        who = str(os.getuid())
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": name,
        "from": str(before.version) if before is not None else None,
        "to": str(version),
        "by": "gate" if by_gate else f"hand ({who})",
        "reason": reason,
    }
    with (mirror.parent / CHAMPIONS_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
        log.flush()
        os.fsync(log.fileno())


def champion_history(settings: Settings, dataset: str) -> list[dict[str, Any]]:
    """The champions log's entries for ``dataset``'s models, oldest first (none without one)."""
    import json

    mirror = aliases_file(tracking_uri(settings))
    path = None if mirror is None else mirror.parent / CHAMPIONS_LOG
    if path is None or not path.is_file():
        return []
    prefix = model_name(dataset, "")  # '<dataset>-<task or label>', a label without '-'
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:  # a line cut short by a kill mid-write: the others stand
            continue
    return [
        e
        for e in entries
        if str(e.get("model", "")).startswith(prefix)
        and "-" not in str(e["model"]).removeprefix(prefix)
    ]
