"""The export register: every list the CLI writes to a file, wherever it is.

Lists leave the workspace (``lifecycle at-risk --out /shared/crm/list.csv``), and erasure
must still know of them: ``$LIFECYCLE_HOME/export_register.jsonl`` gets one JSON line per
list written (its absolute path, when, the dataset, how many users, whether the ids are
pseudonyms). It holds no ids. ``lifecycle forget`` reads it (``features.erasure``).
A backtest's scratch workspace kept with ``--out`` (a copy of the dataset up to a cutoff,
with its features, online store and scores) is registered the same way, as a folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings

REGISTER_FILE = "export_register.jsonl"
SCORES_METADATA_KEY = b"lifecycle"  # where a scores table names its dataset
SCRATCH_MARKER = ".lifecycle-backtest"  # a backtest's scratch workspace: ours to replace


@dataclass(frozen=True)
class Export:
    """One list written to a file."""

    path: str  # absolute
    time: str  # UTC, ISO 8601
    dataset: str | None
    users: int
    pseudonymized: bool


def register_path(home: Path) -> Path:
    return home / REGISTER_FILE


def metadata_dataset(path: Path, key: bytes) -> str | None:
    """The dataset a Parquet file's metadata under ``key`` names, if it says (a damaged file,
    or none of ours: None)."""
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(key)
        dataset = json.loads(raw).get("dataset") if raw else None
    except (OSError, ValueError, AttributeError):
        return None
    return dataset if isinstance(dataset, str) else None


def scores_dataset(scores: Path | None) -> str | None:
    """The dataset a scores table was made from (its Parquet metadata), if it says."""
    return None if scores is None else metadata_dataset(scores, SCORES_METADATA_KEY)


def record_export(
    settings: Settings,
    path: Path,
    users: int,
    *,
    pseudonymized: bool,
    scores: Path | str | None = None,
) -> Export:
    """Register a list about to be written to ``path`` (before it is: a list the register
    cannot take is not written). ``scores``: the scores table it was made from."""
    home = settings.workspace.home
    entry = Export(
        path=str(Path(path).expanduser().absolute().resolve()),
        time=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=scores_dataset(Path(scores) if scores else None) or settings.dataset,
        users=int(users),
        pseudonymized=bool(pseudonymized),
    )
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(register_path(home), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return entry


def record_scratch(settings: Settings, home: Path, users: int) -> None:
    """Register a backtest's scratch workspace kept outside the workspace (``--out``): a copy
    of the users' data that ``forget`` must find. One the register cannot take is removed."""
    import shutil

    try:
        record_export(settings, home, users, pseudonymized=False)
    except OSError:
        shutil.rmtree(home, ignore_errors=True)
        raise


def registered_exports(home: Path) -> list[Export]:
    """Every registered path once, as last written (a path written again holds the new list)."""
    path = register_path(home)
    if not path.is_file():
        return []
    latest: dict[str, Export] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = Export(**json.loads(line))
        except (ValueError, TypeError):
            from lifecycle.errors import UserError

            raise UserError(
                f"{path}, line {number}: expected an export record "
                "(path, time, dataset, users, pseudonymized)"
            ) from None
        latest.pop(entry.path, None)  # keep the order of the last writes
        latest[entry.path] = entry
    return list(latest.values())
