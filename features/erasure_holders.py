"""Where the users ``lifecycle forget`` erases are: which tables of the workspace, and which
datasets' versions, hold their ids (read before any change, ``features.erasure``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.scrub import csv_user_ids, recorded_columns, table_files, users_in
from lifecycle.storage import VERSIONS

if TYPE_CHECKING:
    from collections.abc import Collection, Container, Iterable, Mapping

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


def held_ids(
    names: list[str], read_as: dict[str, str], folding: Container[str]
) -> dict[str, dict[str, str]]:
    """Dataset -> each asked id -> the id that dataset holds it as (``read_as``: as ingest
    reads it, ``18074.0`` as ``18074``): folded (``features.contract.fold_case``) where its
    ids are case-insensitive (``folding``: those datasets), else as read (``c1@x.com`` there
    is a user of its own, not ``C1@X.COM``)."""
    folded = c.held_user_ids(read_as.values(), True)
    return {
        name: dict(zip(read_as, folded if name in folding else read_as.values(), strict=True))
        for name in names
    }


def held_readings(
    held: dict[str, dict[str, str]], read_as: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    """Each asked id -> the ids some dataset holds it as (``held``, of :func:`held_ids`),
    folded first; as read when there is no dataset."""
    return {
        u: tuple(dict.fromkeys(sorted((ids[u] for ids in held.values()), key=read.__eq__)))
        or (read,)
        for u, read in read_as.items()
    }


def ids_by_dataset(
    settings: Settings, ids: dict[str, set[str]], fold: bool = False
) -> dict[str, set[str]]:
    """Of ``ids`` (dataset -> the ids it may hold them as), those each dataset's rows hold:
    any version, its quarantine files, its feature table (each read once); ``fold``: held
    in any casing."""
    ws = settings.workspace
    places = {
        name: [ws.dataset_dir(name), *older_versions(ws.dataset_dir(name), name)] for name in ids
    }
    return {
        name: ids_in([*folders, ws.feature_table(name)], ids[name], fold=fold)
        for name, folders in places.items()
    }


def ids_present(
    settings: Settings, held_by: dict[str, set[str]], ids: set[str], apart: Container[str] = ()
) -> tuple[set[str], dict[str, set[str | None]]]:
    """The ids some table of the datasets searched holds: a dataset's (``held_by``, of
    :func:`ids_by_dataset`), or the features', scores', ledger's or demo's, but those of a
    dataset ``apart`` (not searched, ``forget --dataset``: its scores hold its own users); and
    of those no dataset's rows hold, the datasets of the places holding each (None: a place of
    no known dataset, as a scores table naming none): the tables ``forget`` rewrites
    (``features.erasure_places.rewritten_tables``, the feature tables among them) and any
    other table of the features folder."""
    from features.erasure_places import rewritten_tables

    ws = settings.workspace
    rows = set().union(*held_by.values())
    tables = [t for owned in rewritten_tables(settings, [*held_by, *apart]).values() for t in owned]
    features = ws.features_dir
    listed = {p for p, _ in tables}
    tables += [(p, _folder_of(features, p)) for p in _tables(features) if p not in listed]
    by_owner: dict[str | None, list[Path]] = {}
    for path, owner in tables:
        if owner not in apart:
            by_owner.setdefault(owner, []).append(path)
    outside: dict[str, set[str | None]] = {}
    for owner, paths in by_owner.items():
        for user in ids_in(paths, ids - rows):
            outside.setdefault(user, set()).add(owner)
    return rows | set(outside), outside


def _folder_of(features: Path, path: Path) -> str | None:
    """The dataset of a file under the features folder: ``features/<name>/...``."""
    parts = path.relative_to(features).parts
    return parts[0] if len(parts) > 1 else None


def _tables(folder: Path) -> list[Path]:
    return table_files(folder) if folder.is_dir() else []


def _partition_of(ws: Any, path: Path, names: Iterable[str]) -> bool:
    return any(ws.ledger(n) in path.parents for n in names)


def datasets_holding(
    held_by: dict[str, set[str]],
    found: set[str],
    listed: Mapping[str, Collection[str | None]],
    outside: Mapping[str, Collection[str | None]],
) -> tuple[list[str], str]:
    """The datasets that held the users this ``forget`` erases, and why that cannot be told
    ("" when it can). The users: those ``found`` (a table held them, or a killed erasure
    logged them), whose datasets are those whose rows (any version, or the feature table,
    ``held_by``) hold them, and those only a list or online store held (``listed``: id ->
    the datasets of the places holding it, ``features.erasure_no_user``), of those places'
    datasets. When a user's rows a killed erasure removed already, or a list of no known
    dataset (None) held one, it could have been any dataset's, and all are named then. One
    only a searched dataset's scores, ledger or feature table holds, none of its rows (a
    dataset replaced since it was scored), is of the datasets of those places (``outside``:
    id -> their datasets, of :func:`ids_present`); of any, where one is of no known dataset."""
    if not found and not listed:
        return [], ""
    known = {u for u, owners in outside.items() if owners and set(owners) <= set(held_by)}
    if not set().union(*held_by.values()) | known >= found:
        unsure = (
            "rows of theirs were gone from the datasets before this erasure (a killed erasure, "
            "or a dataset replaced since a table of no known dataset was made from it)"
        )
    elif any(None in owners for owners in listed.values()):
        unsure = "a list of no known dataset held one"
    else:
        of = {n for owners in [*listed.values(), *outside.values()] for n in owners}
        return [name for name, held in held_by.items() if held & found or name in of], ""
    return list(held_by), unsure


def spellings(ids: set[str]) -> set[str]:
    """Every spelling of ``ids`` a table may hold them by (``features.contract``)."""
    return {spelt for u in ids for spelt in c.user_id_spellings(u)}


def held_apart(alike: dict[str, list[str]], ids: set[str]) -> dict[str, list[str]]:
    """Of ``ids`` (as ingest reads them), those the loaded tables hold under more than one
    spelling, each a user of its own to ``/score`` (``18074`` beside ``18074.0``, kept as
    written in a column that also holds ``A1``): id -> those spellings. ``alike``: the
    tables' :func:`features.id_spellings.held_alike` of every spelling of ``ids``."""
    apart = {}
    for user_id in sorted(ids):
        spelt = c.user_id_spellings(user_id)
        held = [s for s in spelt if any(s in alike.get(other, []) for other in spelt)]
        if len(held) > 1:
            apart[user_id] = held
    return apart


def ids_in(
    places: list[Path], ids: set[str], skip_reasons: Container[str] = (), fold: bool = False
) -> set[str]:
    """The ids the tables in ``places`` (folders, or table files) hold under any spelling
    (a quarantine file's raw ``18074.0`` is user ``18074``), as ingest reads them; none of a
    quarantined row of one of ``skip_reasons``; ``fold``: in any casing (each side folded as
    ``features.contract.fold_case`` folds)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not ids:
        return set()
    user_of = {spelt: u for u in ids for spelt in c.user_id_spellings(u)}
    if fold:
        user_of = dict(zip(c.held_user_ids(user_of, True), user_of.values(), strict=True))
    found: set[str] = set()
    for place in places:
        # a file's version, whose report records a quarantine file's raw id column
        version = place.parent.parent if place.parent.name == "quarantine" else place.parent
        folder = place.resolve() if place.is_dir() else version.resolve()
        columns = recorded_columns(folder)
        files = table_files(folder) if place.is_dir() else [place] if place.is_file() else []
        for file in files:
            if file.suffix.lower() == ".csv":
                of = columns(file)
                held = csv_user_ids(
                    file,
                    user_of.keys(),
                    of["user_column"],
                    of["raw_ids"],
                    of["case_insensitive"] or fold,
                    skip_reasons,
                )
            else:
                try:
                    table = pq.read_table(file, columns=[c.USER_ID])
                except (KeyError, pa.ArrowInvalid, OSError):
                    continue  # a table without users
                column, hits = users_in(table[c.USER_ID], user_of, fold)
                held = set(pc.unique(column.filter(hits)).to_pylist())
            found |= {user_of[spelt] for spelt in held}
            if found == ids:
                return found
    return found
