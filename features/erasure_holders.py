"""Where the users ``lifecycle forget`` erases are: which tables of the workspace, and which
datasets' versions, hold their ids (read before any change, ``features.erasure``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from features import contract as c
from features.scrub import csv_user_ids, recorded_columns, table_files
from lifecycle.storage import VERSIONS

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def older_versions(path: Path, name: str) -> list[Path]:
    """The versions of dataset ``name`` kept beside its folder ``path``, but the current one."""
    versions = path.parent / VERSIONS
    if not versions.is_dir():
        return []
    current = path.resolve()
    return [
        old
        for old in sorted(versions.iterdir())
        if old.name.startswith(f"{name}@") and old.is_dir() and old.resolve() != current
    ]


def ids_present(settings: Settings, names: list[str], ids: set[str]) -> set[str]:
    """The ids some table of the workspace holds (datasets, features, scores, ledger)."""
    ws = settings.workspace
    folders = [ws.dataset_dir(n) for n in names] + [ws.features_dir, ws.scores_dir, ws.ledger_dir]
    return ids_in([*folders, ws.demo_dir()], ids)


def datasets_holding(
    settings: Settings, names: list[str], found: set[str]
) -> tuple[list[str], bool]:
    """The datasets whose rows (any version, or the feature table) hold some of the users
    ``found``, and whether each user is in one: a user whose rows a killed erasure removed
    already could have been in any dataset, and all are named then."""
    ws = settings.workspace
    holders = {}
    for name in names:
        path = ws.dataset_dir(name)
        versions = older_versions(path, name)  # the current one is read through ``path``
        holders[name] = ids_in([path, *versions, ws.feature_table(name)], found)
    certain = set().union(*holders.values()) >= found
    return ([name for name in names if holders[name]] if certain else names), certain


def ids_in(places: list[Path], ids: set[str]) -> set[str]:
    """The ids the tables in ``places`` (folders, or table files) hold."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array(sorted(ids), pa.string())
    found: set[str] = set()
    for place in places:
        folder = place.resolve() if place.is_dir() else place.parent.resolve()
        columns = recorded_columns(folder)
        files = table_files(folder) if place.is_dir() else [place] if place.is_file() else []
        for file in files:
            if file.suffix.lower() == ".csv":
                found |= csv_user_ids(file, ids, columns(file)["user_column"])
                continue
            try:
                table = pq.read_table(file, columns=[c.USER_ID])
            except (KeyError, pa.ArrowInvalid, OSError):
                continue  # a table without users
            column = pc.cast(table[c.USER_ID], pa.string())
            hits = column.filter(pc.fill_null(pc.is_in(column, value_set=wanted), False))
            found |= set(pc.unique(hits).to_pylist())
            if found == ids:
                return found
    return found
