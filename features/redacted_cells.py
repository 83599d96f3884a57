"""Cells ``[forgotten]`` outside the user id column of a dataset's tables, told by
``lifecycle datasets check``.

``lifecycle forget`` redacts a user's id where another row's text mentions it
(``features.scrub``): a ``note`` of ``gift from 00004`` becomes ``gift from [forgotten]``, as
documented. Before 2026-12-07 it did so for an id that was no user too (``forget 3`` of ids
``00001``..): every cell ``3`` of a column kept as text, CDNOW's ``quantity``, became
``[forgotten]``, in the dataset, its quarantine and older versions, and in every place
outside it ``forget`` rewrites as its (scores tables, ledger, feature table:
``features.erasure_places.rewritten_tables``), with nothing in the erasure log. The
workspace cannot tell which value such a cell held; the source file can: ingesting it again
restores the values, and later ingests keep the erased users out (``features.erasure_log``).

A column whose other values are all numbers (or that the dataset's report names as codes) held
a count or a code there, not a mention of someone: damage; but a column of numbers most of
whose values are the dataset's user ids (a ``referrer_id``; compared by ingest's spelling key,
``features.id_spellings.spelling_keys``: ``18074.0``, ``018074`` and `` 18074`` are ``18074``)
may hold an erased user's id, redacted as meant, when an erasure of a user of the dataset was
logged: counted, said, not judged (the value is gone, the log holds keyed hashes only). Where
the ids are whole numbers from 1 (``00001``..), a count is an id too: a column whose values
fill the lowest ids up to its largest, in the lower half of them (:func:`_fills_lowest`), is
one of counts, judged as any. A text column's cells may be either (a mention of an erased
user, or of an id that was no user): counted, not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.erasure_holders import older_versions
from features.erasure_online import OnlineStore, record_reached
from features.scrub import REDACTED, quarantine_own, recorded_columns, table_files

if TYPE_CHECKING:
    from lifecycle.settings import Settings

NUMBER = r"^\s*[-+]?(\d[\d,]*(\.\d*)?|\.\d+)\s*$"  # a count, an amount, a numeric code
# a column of numbers at least this share of whose distinct other values are user ids of the
# dataset is one of ids (a ``referrer_id``): its ``[forgotten]`` may be an erased user's id
ID_SHARE = 0.5
DISTINCT = 10_000  # the distinct values of a column read to tell (a sample past it)


@dataclass
class Redacted:
    """Per ``<table>.<column>``: cells holding ``[forgotten]``, and whether the column's other
    values are all numbers or codes (so those cells held one)."""

    cells: dict[str, int] = field(default_factory=dict)
    numbers: set[str] = field(default_factory=set)
    # of ``numbers``, columns of user ids (a ``referrer_id``): -> (their distinct other values
    # that are ids of the dataset, the distinct values read): a cell there may have been a
    # mention of an erased user, redacted as meant
    ids: dict[str, tuple[int, int]] = field(default_factory=dict)
    # places that could not be read (a Redis online store down) -> why: not checked, no pass
    not_checked: dict[str, str] = field(default_factory=dict)

    def damaged(self) -> dict[str, int]:
        return {col: n for col, n in self.cells.items() if col in self.numbers - set(self.ids)}


Batches = tuple[list[str], Iterator[list[Any]]]  # the text columns, their values by batch


@dataclass(frozen=True)
class UserKeys:
    """A dataset's user ids by ingest's spelling key (``features.id_spellings``), and those
    keys that are whole numbers, in order (where ids are ``00001``.., a count is one)."""

    keys: frozenset[str]
    numbers: tuple[int, ...]

    def id_column(self, values: set[str]) -> tuple[int, int] | None:
        """(the distinct ``values`` that are ids of the dataset, the distinct values) when at
        least :data:`ID_SHARE` are and they do not fill its lowest ids as counts do; else
        None."""
        if not values:
            return None
        keys = dict(zip(values, _keys(values), strict=True))
        held = {k for k in keys.values() if k in self.keys}
        count = sum(k in held for k in keys.values())
        if count < ID_SHARE * len(values) or _fills_lowest(held, self.numbers):
            return None
        return count, len(values)


def _keys(ids: Iterable[str]) -> list[str]:
    import pyarrow as pa

    from features.id_spellings import spelling_keys

    return spelling_keys(pa.array(list(ids), pa.string())).to_pylist()


def _fills_lowest(held: set[str], numbers: tuple[int, ...]) -> bool:
    """Whether the ids ``held`` (spelling keys) are the run of small whole numbers a count
    column holds: at least half of the dataset's lowest ids up to the largest of them, which
    is in the lower half of its ids (quantities 1..99 of ids 00001..23570). Ids of users
    spread over the dataset do not; ids of its first users only (all referred by them) do,
    and read as counts: judged, the side that hides no damage."""
    from bisect import bisect_right

    whole = [int(k) for k in held if k.isascii() and k.isdigit()]
    if not whole or not numbers:
        return False
    lowest = bisect_right(numbers, max(whole))  # the dataset's ids up to the largest held
    return 2 * len(whole) >= lowest and 2 * lowest <= len(numbers)


def redacted_cells(
    files: Iterable[Path | OnlineStore],
    root: Path,
    columns: Callable[[Path], dict[str, Any]] = dict,
    users: Callable[[], UserKeys] | None = None,
) -> Redacted:
    """The ``[forgotten]`` cells of ``files`` (Parquet tables and CSV files, as a dataset's
    quarantine), read in batches: every text column but the user id's (a CSV: every column
    but its user column and a quarantine's own). Named ``<file, of root, no suffix>.<column>``
    (``events.quantity``, ``quarantine/events.quantity``); ``columns``: a file -> what its
    version's report records (``features.scrub.recorded_columns``: ``codes``,
    ``user_column``); ``users``: the dataset's user ids, read when a column of numbers holds
    ``[forgotten]`` (None: no erasure of a user of it was logged, so no cell was a mention):
    a column most of whose distinct other values are ids (:meth:`UserKeys.id_column`) is one
    of ids, its cells not judged (``Redacted.ids``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from features.store import StoreUnreachable

    found = Redacted()
    for path in files:
        recorded = columns(path)
        if isinstance(path, OnlineStore):
            table = path.named(root)
        else:
            table = path.relative_to(root).with_suffix("").as_posix()
        try:
            texts, batches = _reader(path, recorded)
            other = dict.fromkeys(texts, True)  # every other value a number so far
            cells = dict.fromkeys(texts, 0)
            values: dict[str, set[str]] = {name: set() for name in texts}  # up to DISTINCT
            for batch in batches:
                for name, column in zip(texts, batch, strict=True):
                    if isinstance(column, pa.DictionaryArray):
                        column = column.dictionary_decode()
                    hits = pc.fill_null(pc.match_substring(column, REDACTED), False)
                    cells[name] += int(pc.sum(hits).as_py() or 0)
                    if other[name]:
                        rest = pc.drop_null(column.filter(pc.invert(hits)))
                        rest = rest.filter(pc.not_equal(pc.utf8_trim_whitespace(rest), ""))
                        other[name] = bool(pc.all(pc.match_substring_regex(rest, NUMBER)).as_py())
                        if other[name] and len(values[name]) < DISTINCT:
                            values[name].update(pc.unique(rest).to_pylist()[:DISTINCT])
        except StoreUnreachable as error:  # the other places are still checked
            why = f"unreachable at {error.address} ({error.reason})"
            if isinstance(path, OnlineStore) and path.earlier:
                why += f"; materialized {path.earlier} under earlier settings"
            found.not_checked[table] = why
            continue
        if isinstance(path, OnlineStore):  # reached: the settings' Redis recorded if not
            record_reached(path, "datasets check")
        for name, count in cells.items():
            if count:
                where = f"{table}.{name}"
                found.cells[where] = count
                # an online store's column is `<view table>.<feature>`: the feature's name
                column = name.rsplit(".", 1)[-1] if isinstance(path, OnlineStore) else name
                codes = column in recorded.get("codes", ())
                if other[name] or codes:
                    found.numbers.add(where)
                judged = not other[name] or codes or users is None
                if not judged and (held := users().id_column(values[name])):
                    found.ids[where] = held
    return found


def dataset_users(folder: Path) -> Callable[[], UserKeys]:
    """The user ids a dataset version's tables hold, by spelling key (read once, when first
    asked)."""
    from functools import cache

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    @cache
    def users() -> UserKeys:
        held: set[str] = set()
        for path in sorted(folder.glob("*.parquet")):
            if c.USER_ID in pq.ParquetFile(path).schema_arrow.names:
                column = pq.read_table(path, columns=[c.USER_ID])[c.USER_ID]
                held.update(str(u) for u in pc.unique(column).to_pylist() if u is not None)
        keys = frozenset(_keys(held))
        return UserKeys(keys, tuple(sorted(int(k) for k in keys if k.isascii() and k.isdigit())))

    return users


def _reader(path: Path | OnlineStore, recorded: dict[str, Any]) -> Batches:
    if isinstance(path, OnlineStore):  # its text features (``features.online_text``)
        from features.online_text import text_batches

        return text_batches(path)
    return _csv(path, recorded) if path.suffix.lower() == ".csv" else _parquet(path)


def _parquet(path: Path) -> Batches:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    texts = [
        f.name
        for f in table.schema_arrow
        if f.name != c.USER_ID
        and (pa.types.is_string(_values(f.type)) or pa.types.is_large_string(_values(f.type)))
    ]
    batches = (b.columns for b in table.iter_batches(columns=texts)) if texts else iter(())
    return texts, batches


def _csv(path: Path, recorded: dict[str, Any], size: int = 65_536) -> Batches:
    """A CSV's columns (all text), as ``features.scrub.scrub_csv`` reads it: not its user
    column nor a quarantine's own (source row, reason)."""
    import csv

    import pyarrow as pa

    src = path.open(newline="", encoding="utf-8", errors="surrogateescape")
    rows = csv.reader(src)
    header = next(rows, [])
    user = next((n for n in (recorded.get("user_column"), c.USER_ID) if n in header), None)
    own = quarantine_own(header)
    at = [i for i, n in enumerate(header) if n != user and i not in own]

    def batches() -> Iterator[list[Any]]:
        with src:
            while chunk := list(islice(rows, size)):
                yield [
                    pa.array([r[i] if i < len(r) else None for r in chunk], pa.string()) for i in at
                ]

    return [header[i] for i in at], batches()


def _values(kind: Any) -> Any:
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def check_workspace(
    settings: Settings, dataset: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`check_dataset` of ``dataset`` (None: each dataset of the workspace), with the
    tables outside it ``forget`` rewrites as its, and the lines said; a dataset whose report
    cannot be read is named in one line (``error``), the others still checked."""
    from features.erasure_log import log_entries
    from features.erasure_places import online_stores, rewritten_tables
    from lifecycle.dataset_kind import REPORT
    from lifecycle.errors import UserError

    root = settings.workspace.home / "datasets"
    every = sorted(p.name for p in root.glob("*") if not p.name.startswith("."))
    names = [dataset] if dataset else [n for n in every if (root / n / REPORT).is_file()]
    outside = [t for owned in rewritten_tables(settings, every).values() for t in owned]
    # the datasets (None: all) of a logged erasure of a user: a mention redacted as meant
    erased = {
        e.get("dataset") for e in log_entries(settings.workspace.home) if e.get("user_hashes")
    }
    found: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in names:
        tables: list[Path | OnlineStore] = [path for path, owner in outside if owner == name]
        folder = settings.workspace.dataset_dir(name)
        logged = None in erased or name in erased
        try:
            tables += online_stores(settings, [name])  # its record of Redis stores read too
            each = check_dataset(folder, name, tables, settings.workspace.home, logged)
        except UserError as error:  # one damaged report: the others are still checked
            found.append({"name": name, "error": str(error)})
            lines.append(f"dataset '{name}': {error}")
            continue
        found.append(each)
        lines += check_lines(each)
    unread = [f"{e['name']}: {place}" for e in found for place in e.get("not_checked", {})]
    if unread:
        lines.append(
            f"{len(unread)} place{'s' * (len(unread) != 1)} NOT checked ({', '.join(unread)}): "
            "exit 1, the check is not complete"
        )
    return found, lines


def check_dataset(
    folder: Path, name: str, outside: list[Path | OnlineStore], home: Path, logged: bool = True
) -> dict[str, Any]:
    """What ``lifecycle datasets check`` says of one dataset: its current version's
    ``[forgotten]`` cells (tables and quarantine), its older versions', those of the tables
    outside it ``forget`` rewrites as its (``outside``: its scores tables, ledger files,
    feature table, the demo's: ``features.erasure_places.rewritten_tables``, named from
    ``home``; its online stores' text features: ``online_stores``), and the
    sources to ingest again. ``logged``: an erasure of a user of the dataset was logged (else
    no ``[forgotten]`` of it was a mention: a column of ids is judged as any other)."""
    from features.batches import batches
    from lifecycle.dataset_kind import NOT_ID_COLUMNS, read_report

    report = read_report(folder) or {}
    codes = recorded_columns(folder)(folder / "events.parquet")["codes"]
    users = dataset_users(folder) if logged else None
    now = redacted_cells(table_files(folder), folder, recorded_columns(folder), users)
    older: dict[str, int] = {}
    for old in older_versions(folder, name):
        of_old = dataset_users(old) if logged else None
        found = redacted_cells(table_files(old), old, recorded_columns(old), of_old)
        for col, n in found.damaged().items():
            older[col] = older.get(col, 0) + n
    elsewhere = redacted_cells(outside, home, lambda _: {"codes": codes}, users)
    ids = {
        col: {"cells": found.cells[col], "ids": held, "values": read}
        for found in (now, elsewhere)
        for col, (held, read) in found.ids.items()
    }
    sources = [b["source"] for b in batches(report) if b.get("source")]
    if not sources and (read := report.get("tables", {}).get("events", {}).get("source")):
        sources = [read]  # a first `import` records no batches: its events' file
    stale = [v for v in (folder, *older_versions(folder, name)) if _description_text(v)]
    return {
        "name": name,
        "redacted": now.cells,
        "damaged": now.damaged(),
        "damaged_in_older_versions": older,
        "redacted_outside": elsewhere.cells,
        "damaged_outside": elsewhere.damaged(),
        "user_id_columns": ids,
        "not_checked": elsewhere.not_checked,
        # online_retail versions imported before its description was a code column
        "description_as_text": [v.name for v in stale],
        # columns the operator declared never ids (features.not_ids): judged as codes
        "not_id_columns": list(report.get(NOT_ID_COLUMNS) or ()),
        "sources": [{"path": s, "on_disk": Path(s).is_file()} for s in sources],
    }


def _description_text(version: Path) -> bool:
    from features.adapters import description_as_text
    from lifecycle.dataset_kind import read_report
    from lifecycle.errors import UserError

    try:
        return description_as_text(read_report(version) or {})
    except UserError:  # an older version's damaged report: said where it is read
        return False


def _description_line(found: dict[str, Any]) -> list[str]:
    """What :func:`check_dataset` says of an online_retail dataset whose product description
    is still text (imported before 2026-12-07), and the command that makes it a code."""
    name, stale = found["name"], found.get("description_as_text", [])
    if not stale:
        return []
    files = [s["path"] for s in found["sources"]]
    now = name in stale  # the current version (``folder.name``)
    where = "its current version" if now else "older versions only"
    older = len(stale) - now
    kept = (
        f"; {older:,} older version{'s keep' if older != 1 else ' keeps'} it so until pruned"
        if older
        else ""
    )
    fix = (
        f"`lifecycle import online-retail {files[0] if len(files) == 1 else '<the file>'} "
        f"--dataset {name} --replace`"
        + (f" (then --append {', '.join(files[1:])})" if len(files) > 1 else "")
    )
    return [
        f"  description: the product description is TEXT in {where} (imported before "
        "2026-12-07, when it became a code column): `forget` redacts a customer id written in "
        f"it (`SET 10 CARDS HANGING BAUBLES 17080`){kept}"
        + (f"; to make it a code: {fix}" if now else "")
    ]


def _declared_line(found: dict[str, Any]) -> list[str]:
    """The columns declared never ids (``lifecycle datasets not-ids``), which `forget` leaves."""
    if not (columns := found.get("not_id_columns")):
        return []
    return [
        f"  declared never ids (`datasets not-ids`): {', '.join(columns)}: `forget` leaves "
        f"them, a {REDACTED} there is a value lost"
    ]


def check_lines(found: dict[str, Any]) -> list[str]:
    """The summary of :func:`check_dataset`."""
    name, damaged, older = found["name"], found["damaged"], found["damaged_in_older_versions"]
    outside, ids = found["damaged_outside"], found["user_id_columns"]
    text = {col: n for col, n in found["redacted"].items() if col not in damaged and col not in ids}
    text |= {
        col: n
        for col, n in found["redacted_outside"].items()
        if col not in outside and col not in ids
    }
    of_ids = [
        f"  {col}: {i['cells']:,} in a column of user ids ({i['ids']:,} of its {i['values']:,} "
        "distinct other values are ids of the dataset): an erased user's id `forget` redacted "
        "as meant, or a value of an id that was no user: not told apart (the value is gone, the "
        "erasure log holds keyed hashes only); ingest the source again if in doubt"
        for col, i in ids.items()
    ]
    unread = found.get("not_checked", {})
    not_read = [f"  {place}: not checked: {why}" for place, why in unread.items()]
    partly = (
        f"NOT fully checked, {len(unread)} place{'s' * (len(unread) != 1)} could not be read "
        "(a check not done is no pass: run it again once it answers); in the others "
        if unread
        else ""
    )
    if not damaged and not older and not outside:
        said = f"dataset '{name}': {partly}no cell damaged by an erasure"
        if text:
            cells = ", ".join(f"{col} {n:,}" for col, n in text.items())
            said += f" ({REDACTED} in text, mentions `forget` redacted: {cells})"
        return [said, *not_read, *of_ids, *_description_line(found), *_declared_line(found)]
    lines = [
        f"dataset '{name}': {partly}cells DAMAGED by an erasure, {REDACTED} in place of a value",
        *not_read,
    ]
    for col, n in damaged.items():
        lines.append(
            f"  {col}: {n:,} cell{'s' * (n != 1)}, its other values numbers or codes: a value "
            "a `forget` took for a mention of an id (before 2026-12-07 also of an id that was "
            "no user; where the ids are whole numbers, a count equal to an erased user's id, "
            "over-redacted rather than leaked); the workspace cannot tell what it was"
        )
    for col, n in older.items():
        lines.append(f"  {col}: {n:,} in older versions (`datasets restore` brings them back)")
    for col, n in outside.items():
        kept = (
            "the feature table (Feast's offline store; the online store serves its latest rows "
            "as materialized): the refresh below builds both again"
            if col.startswith("features/")
            else "the online store (the features `/score` serves, as materialized): the "
            "refresh below materializes them again"
            if col.startswith("feast/")
            else f"a table `forget` rewrites as {name}'s (scores, ledger): the refresh below "
            "writes new ones; this one keeps them until deleted"
        )
        lines.append(
            f"  {col}: {n:,} cell{'s' * (n != 1)}, its other values numbers or codes, in {kept}"
        )
    for col, n in text.items():
        lines.append(
            f"  {col}: {n:,} in text: mentions `forget` redacted (of an erased user, or by such "
            "a `forget`, of an id that was no user: not told apart)"
        )
    lines += of_ids + _description_line(found) + _declared_line(found)
    files = [
        f"{s['path']} ({'on disk' if s['on_disk'] else 'NOT on disk now'})"
        for s in found["sources"]
    ]
    how = "the first with --replace, the next with --append" if len(files) > 1 else "--replace"
    lines.append(
        f"  to repair: ingest (or import) its source again with the options it was read with "
        f"(report.json's batches record them, `file_shape`), {how}, then `lifecycle refresh "
        f"--dataset {name}`: {'; '.join(files) or 'no source recorded'}; the erased users "
        "stay out (quarantined as erased_user)"
    )
    return lines
