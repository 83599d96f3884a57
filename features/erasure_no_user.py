"""Which ids asked of ``lifecycle forget`` are no user, told before anything changes.

An id no table holds, that no list holds a row of and no erasure logged is no user
(docs/privacy.md): ``forget 3`` of a dataset whose ids are ``00001``.., or ``user_id``, an
ids file's header line. Such an id changes nothing anywhere: its mentions in other rows'
text are not redacted, so no dataset version is written, no older one, scores table,
ledger or list rewritten (CDNOW's text column ``quantity`` lost 1,889 cells ``3`` to
``[forgotten]``, in every version, for an id that was nobody's). ``features.erasure``
tells the tables and the log; here the lists: those in the workspace
(``features.erasure_places.other_files``), the registered lists and backtest copies
outside it, and the tables of the datasets not searched (``forget --dataset``). An id one
of them, or a searched dataset's online store (``features.erasure_online.online_held``),
holds a row of is a user after all, erased and logged as any (the privacy-safe side), so
later ingests keep it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.erasure_exports import REPORT_SUFFIXES, check_scratch, export_format
from features.erasure_holders import ids_by_dataset
from features.erasure_online import online_held
from features.id_spellings import padded_width, padding_hint, shown
from features.scrub import scrub, table_format
from lifecycle.exports import SCRATCH_MARKER
from lifecycle.pseudonyms import pseudonym
from lifecycle.storage import under_staging

if TYPE_CHECKING:
    from features.erasure_record import ErasureRecord
    from lifecycle.exports import Export
    from lifecycle.settings import Settings

LIST_SUFFIXES = (".parquet", ".xlsx", ".csv", ".json")  # of files that hold rows of users


def listed(
    settings: Settings,
    groups: dict[str, set[str]],
    files: Iterable[Path],
    exports: Iterable[Export],
    apart: Iterable[str],
    fold: bool,
    owners: Mapping[Path, str],
) -> dict[str, dict[str, str | None]]:
    """Of ``groups`` (an asked id no table holds and no erasure logged -> the terms a row of
    it holds: its spellings, and keyed pseudonyms where a key is configured), those a list
    holds a row of, each with the places that do (``the list lists/crm.csv``) and their
    datasets (None: a list of no known dataset): one of ``files`` (the workspace's, of ``owners``' dataset: resolved path ->
    dataset), a registered list or backtest copy outside (``exports``, of the dataset
    registered), or a table of a dataset ``apart`` (not searched). ``fold``: in any casing.
    Each place is read once for all the ids, again per id only when it holds one."""
    found: dict[str, dict[str, str | None]] = {}
    every = set().union(*groups.values())

    def take(rows: Callable[[set[str]], int], owner: str | None, where: str) -> None:
        try:
            if rows(every):
                for u, terms in groups.items():
                    if rows(terms):
                        found.setdefault(u, {})[where] = owner
        except Exception:  # damaged or no table: the erasure names it where it reads it
            return

    for path in files:
        if path.suffix.lower() in LIST_SUFFIXES:
            fmt = table_format(path) or path.suffix.lower().removeprefix(".")
            take(
                lambda terms, p=path, f=fmt: _removed(scrub(p, None, terms, f, fold=fold)),
                owners.get(path.resolve()),
                f"the list {path.relative_to(settings.workspace.home)}",
            )
    home = settings.workspace.home.resolve()
    outside = {Path(e.path): e.dataset for e in exports if not Path(e.path).is_relative_to(home)}
    scratch = {p: owner for p, owner in outside.items() if (p / SCRATCH_MARKER).is_file()}
    scratch |= {
        marker.parent: None
        for marker in home.rglob(SCRATCH_MARKER)
        if not under_staging(marker, home)  # a running backtest's own copy: not a place
    }
    for path, owner in scratch.items():
        take(
            lambda terms, p=path: sum(f.rows for f in check_scratch(p, terms, False, fold)),
            owner,
            f"the backtest copy {path}",
        )
    for path, owner in outside.items():
        if path.is_file() and path.suffix.lower() not in REPORT_SUFFIXES:
            take(
                lambda terms, p=path: _removed(scrub(p, None, terms, export_format(p), fold=fold)),
                owner,
                f"the list {path}",
            )
    if apart := list(apart):
        held = ids_by_dataset(settings, dict.fromkeys(apart, every), fold)
        for u, terms in groups.items():
            for name in (n for n, ids in held.items() if terms & ids):
                found.setdefault(u, {})[f"dataset {name}'s tables (not searched, left)"] = name
    return found


def no_users(
    settings: Settings,
    key: bytes,
    record: ErasureRecord,
    spelt_as: dict[str, set[str]],
    names: list[str],
    lists: tuple[list[Path], list[Any], list[str], bool, Mapping[Path, str]],
) -> tuple[set[str], dict[str, set[str | None]]]:
    """The spellings of the ids asked that are no user (``record.not_found`` that no list
    holds a row of, :func:`listed`, nor the online store of a dataset searched), each said in
    ``record.no_user`` (why, with the dataset's zero-padding where it applies); and those a
    list or online store holds a row of, users after all (``record.listed``), each with the
    datasets of the places holding it (None: a list of no known dataset). ``spelt_as``: each
    asked id -> its spellings no table holds; ``names``: the datasets searched. ``lists``:
    the workspace's other files, the registered lists, the datasets not searched, whether
    one searched folds case, the workspace files' datasets (:func:`listed`)."""
    terms = {u: set(spelt_as[u]) for u in record.not_found}
    if settings.privacy.key() is not None:  # lists made with --pseudonymize carry these
        terms = {u: t | {pseudonym(key, s) for s in t} for u, t in terms.items()}
    found = listed(settings, terms, *lists) if terms else {}
    # a dataset's online store keeps the features of a user its events no longer hold (a
    # rolling export replaced them): a user there, its row deleted (`online_held`)
    left = {s for u in record.not_found for s in spelt_as[u]}  # a list's too: whose
    not_reached: dict[str, str] = {}  # a Redis of earlier settings down: may hold any
    for name in names if left else ():
        online = online_held(settings, name, left, not_reached)
        for u in (u for u in record.not_found if spelt_as[u] & online):
            found.setdefault(u, {})[f"the online store of {name}"] = name
    record.listed = sorted(found)
    record.listed_in = {u: sorted(found[u]) for u in record.listed}
    nobody = [u for u in record.not_found if u not in found]
    # found in no place reached: not known to be no user, nothing changed for it (exit 1)
    record.not_reached.update(not_reached)
    record.maybe_held = {u: sorted(not_reached) for u in nobody} if not_reached else {}
    widths = [padded_width(settings.workspace.events(n)) for n in names]
    pasted = pasted_as(settings, nobody, names)
    for u in (u for u in nobody if u not in record.maybe_held):
        padded = next((h for w in widths if (h := padding_hint(u, w))), "")
        record.no_user[u] = padded or pasted.get(u, "")
    unheld = {s for u in nobody for s in spelt_as[u]} - {s for u in found for s in spelt_as[u]}
    return unheld, {u: set(where.values()) for u, where in found.items()}


PASTED = re.compile(r'\s*(?:="(?P<formula>.*)"|"(?P<quoted>.*)"|\'(?P<single>.*)\')\s*')


def pasted_as(settings: Settings, ids: list[str], names: list[str]) -> dict[str, str]:
    """Of ``ids`` (no user), those pasted with the quotes around a value (``"13047"``, as a
    CSV cell or a JSON string is written) or as a spreadsheet's text formula (``="12583"``)
    whose inside a searched dataset holds (in any spelling ingest reads as it, ``13047.0``):
    id -> the hint naming the held id, which is not erased (only what was asked is)."""
    inside = {u: m.group(m.lastgroup) for u in ids if (m := PASTED.fullmatch(u)) and m.lastgroup}
    if not inside:
        return {}
    # each read in every spelling ingest reads as it (13047.0 is 13047), named as read
    held = ids_by_dataset(settings, {name: set(inside.values()) for name in names})
    hints = {}
    for u, i in inside.items():
        if where := [n for n in names if i in held[n]]:
            as_held = c.user_id_spellings(i)[0]
            form = "a spreadsheet's text formula" if u.lstrip().startswith("=") else "quoted"
            hints[u] = (
                f"no user {shown(u)}: {form}, as pasted; it reads as {shown(as_held)}, held by "
                f"dataset {', '.join(where)}: NOT erased (ids are matched exactly as "
                f"given); if that is who is meant, run forget {as_held}"
            )
    return hints


def _removed(done: object) -> int:
    return getattr(done, "removed", 0)
