"""Why each task without a champion could not be trained on a dataset's feature table as
it is: a command that finds no champion says why, instead of advising a `lifecycle train`
that refuses again (a dataset of one user, a history too short).

A refusal holds while the feature table is the one it was judged on (its size and time),
under the same labels and training settings; a new table (new data, `lifecycle features
build`) or another horizon may train, and the advice is to try. Commands that find no
champion first record what training would certainly refuse (``training.foresight``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings


LEFT_OUT = "left out by the setting training.tasks"


def left_out(settings: Settings) -> list[str]:
    """The tasks ``training.tasks`` leaves out on purpose (a subscription's conversion, where
    every customer pays): `train all` and `refresh` skip them, serving says they are not
    trained; an explicit `lifecycle train TASK` still trains one."""
    from lifecycle import tasks

    chosen = settings.training.tasks
    return [] if chosen is None else [task for task in tasks.names() if task not in chosen]


def left_out_line(settings: Settings) -> str | None:
    """The one line `train all` and `refresh` say of the tasks left out, or None."""
    if not (names := left_out(settings)):
        return None
    return f"not trained: {', '.join(names)}: {LEFT_OUT} (the others are trained)"


def _path(settings: Settings, dataset: str) -> Path:
    return settings.workspace.training_refusals(dataset)


def _table_stamp(settings: Settings, dataset: str) -> list[int | str] | None:
    """The feature table (its size and time) and the settings a refusal was judged with (the
    labels' horizons, training's limits): another horizon may train."""
    table = settings.workspace.feature_table(dataset)
    try:
        stat = table.stat()
    except OSError:
        return None
    judged = json.dumps([settings.labels.model_dump(), settings.training.model_dump()], default=str)
    return [stat.st_size, stat.st_mtime_ns, hashlib.sha256(judged.encode()).hexdigest()[:16]]


def record(settings: Settings, dataset: str, refused: dict[str, str], trained: list[str]) -> None:
    """Keep the refusals of ``refused`` (task -> why) for this feature table; forget those of
    ``trained``."""
    path = _path(settings, dataset)
    stamp = _table_stamp(settings, dataset)
    kept = {
        task: entry
        for task, entry in _read(path).items()
        if task not in trained and task not in refused and entry.get("table") == stamp
    }
    kept |= {
        task: {"why": why.removeprefix(f"{task}: "), "table": stamp}
        for task, why in refused.items()
    }
    if not kept and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(json.dumps(kept, indent=2) + "\n")
    staged.replace(path)


def refused(settings: Settings, dataset: str, task: str) -> str | None:
    """Why ``task`` was last refused on the dataset's feature table as it is now, if it was;
    a task left out by ``training.tasks`` is so."""
    if task in left_out(settings):
        return LEFT_OUT
    entry = _read(_path(settings, dataset)).get(task)
    if entry and entry.get("table") == _table_stamp(settings, dataset):
        return str(entry["why"])
    return None


def _read(path: Path) -> dict[str, dict]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
