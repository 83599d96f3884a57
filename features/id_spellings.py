"""Ids held under another spelling of an id asked for: ``josé`` typed on a keyboard (one
character) and ``jose`` + a combining accent as a Mac export writes it, ``Bob`` and ``Bob ``,
``13047`` and ``013047``. Ids are matched exactly (ingest keeps the file's text), so
`forget josé` found nobody and said "not found in any table" while the person's rows stayed:
the other spellings are named, for the operator to erase with the id exactly as held."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from lifecycle.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

# Letters of other scripts drawn like Latin ones (Cyrillic 'A' in '\u0410123'), lower case
# (the key folds case first): their Latin look-alike
_LOOKALIKES = dict(
    zip(
        "аврсеһіјкмнорѕтухԁӏαβεζηικμνορτυχϲ",
        "abpcehijkmhopstyxdlabezhikmnoptyxc",
        strict=True,
    )
)
_KEY = "lifecycle_user_id_key"  # spelling_keys, as a DuckDB function of a connection
_FOLD = "lifecycle_user_id_folded"  # contract.fold_case, as one
SPELT_APART = "user_ids_spelt_apart"  # report note: ids one user may have, written two ways
_THOUSANDS = "^[0-9]{1,3}(,[0-9]{3})+$"  # 12,590


def spelling_keys(ids: Any) -> Any:
    """The key two spellings of one id share (an Arrow string array of ``ids``, keys in
    order), the one ingest's ``user_ids_spelt_apart`` groups by and ``forget`` names other
    spellings by: they differ only by case, surrounding spaces, leading zeros, Unicode
    compatibility form (NFKC: an accent as one character or two, full-width digits), a
    letter of another script drawn alike (Cyrillic '\u0410123'), or a whole number written
    '17850.0' (as ingest reads 18074.0) or with thousands commas ('12,590')."""
    import pyarrow.compute as pc

    keys = c.fold_case(pc.utf8_trim(pc.utf8_normalize(ids, "NFKC"), " "))
    if not pc.all(pc.string_is_ascii(keys)).as_py():  # most files: nothing to look alike
        for other, latin in _LOOKALIKES.items():
            keys = pc.replace_substring(keys, other, latin)
    keys = pc.replace_substring_regex(keys, c.WHOLE_FLOAT_ID, r"\1")
    commas = pc.match_substring_regex(keys, _THOUSANDS)
    keys = pc.if_else(commas, pc.replace_substring(keys, ",", ""), keys)
    return pc.utf8_ltrim(keys, "0")


def spelling_key(con: Any, sql: str) -> str:
    """SQL of :func:`spelling_keys` of the id ``sql``, registered on DuckDB's ``con``."""
    return _function(con, _KEY, spelling_keys, sql)


# The functions registered on each open connection, by name. Asking DuckDB's catalog
# (duckdb_functions(): its every function) took ~10 ms a call, ~3 calls an ingest.
_REGISTERED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _function(con: Any, name: str, keys: Any, sql: str) -> str:
    """SQL of ``keys`` (Arrow strings -> Arrow strings) of ``sql``, registered on ``con``
    as ``name`` once. Never on a cursor that closes before its connection does
    (:func:`features.duckdb_memory.cursor`): the function stays in their one catalog, and
    a call of it from another cursor then crashes the process (DuckDB 2.0.1)."""
    import duckdb

    registered = _REGISTERED.setdefault(con, set())
    if name not in registered:
        try:
            con.create_function(
                name, keys, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False
            )
        except duckdb.CatalogException:  # a cursor of a connection that has it: one catalog
            if not _in_catalog(con, name):
                raise
        registered.add(name)
    return f"{name}({sql})"


def _in_catalog(con: Any, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
        ).fetchall()[0][0]
    )


def ids_spelt_apart(table: Path, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """:func:`spelt_apart` of a table's file (an appended dataset's events, whose new ids
    may be an old user written another way). ``con``: the ingest's connection, which
    :func:`spelt_apart` runs on itself, not in a cursor (it registers functions)."""
    import duckdb

    if con is not None:
        return spelt_apart(con, f"read_parquet({literal(table)})")
    with duckdb.connect() as own:
        return spelt_apart(own, f"read_parquet({literal(table)})")


def spelt_apart(con: Any, staged: str) -> dict[str, Any]:
    """Loaded ids that are spellings of one id (:func:`spelling_keys`: ' 13047 ', '013047',
    '13047.0', in full-width digits; 'é' as one character or as 'e' and an accent, as a Mac
    writes names; 'A123' with a Cyrillic 'A'): each stays the user the file names (ids are
    the file's text), but a user written two ways is two users, so the summary says how many
    and up to three groups, those with an id not ASCII first (a look-alike letter or
    full-width digits show only escaped); ``by_case``: how many differ from another only by
    case, which `ingest --case-insensitive-ids` reads as one user."""
    distinct = f"SELECT DISTINCT {identifier(c.USER_ID)} AS id FROM {staged}"
    # the ids' lists are built for the keys of several ids only: a list per key of 100,000
    # users ran out of 17MB (16 MiB, the least ingest.memory_limit), their count did not
    con.execute(
        f"CREATE TEMP TABLE spellings AS SELECT id, {spelling_key(con, 'id')} AS k "
        f"FROM ({distinct})"
    )
    try:
        ((groups, ids, examples),) = con.execute(
            "SELECT count(*), sum(n), list(spellings ORDER BY unseen DESC, spellings)[1:3] "
            "FROM (SELECT count(*) AS n, list(id ORDER BY id) AS spellings, "
            "bool_or(strlen(id) <> length(id)) AS unseen FROM spellings "
            "WHERE k IN (SELECT k FROM spellings GROUP BY k HAVING count(*) > 1) GROUP BY k)"
        ).fetchall()
    finally:
        con.execute("DROP TABLE spellings")
    if not groups:
        return {}
    note = {"ids": int(ids), "groups": int(groups), "example": list(examples[0])}
    if more := [list(group) for group in examples[1:]]:
        note["more_examples"] = more
    ((by_case,),) = con.execute(
        f"SELECT sum(n) FROM (SELECT count(*) AS n FROM ({distinct}) "
        f"GROUP BY {_function(con, _FOLD, c.fold_case, 'id')} HAVING count(*) > 1)"
    ).fetchall()
    if by_case:
        note["by_case"] = int(by_case)
    return {SPELT_APART: note}


def other_spellings(tables: Iterable[Path], ids: Iterable[str]) -> dict[str, list[str]]:
    """For each of ``ids``, the ids of ``tables`` (Parquet, with a user_id column) written
    another way, none of ``ids``; ids with none are left out."""
    asked = set(ids)
    others = {
        u: [h for h in held if h not in asked] for u, held in held_alike(tables, asked).items()
    }
    return {u: held for u, held in others.items() if held}


def held_alike(tables: Iterable[Path], ids: Iterable[str]) -> dict[str, list[str]]:
    """For each of ``ids``, every id of ``tables`` with its spelling key but itself (one
    of ``ids`` too); ids with none are left out."""
    import duckdb

    asked = sorted(set(ids))
    files = [str(t) for t in tables if t.is_file()]
    if not asked or not files:
        return {}
    user = identifier(c.USER_ID)
    with duckdb.connect() as con:
        try:
            rows = con.execute(
                "WITH asked AS (SELECT unnest(?::VARCHAR[]) AS id), "
                f"held AS (SELECT DISTINCT CAST({user} AS VARCHAR) AS id "
                f"FROM read_parquet([{', '.join(literal(f) for f in files)}], union_by_name = true)) "
                f"SELECT asked.id, list(DISTINCT held.id ORDER BY held.id) FROM asked JOIN held "
                f"ON {spelling_key(con, 'asked.id')} = {spelling_key(con, 'held.id')} "
                "AND asked.id <> held.id "
                "GROUP BY asked.id ORDER BY asked.id",
                [asked],
            ).fetchall()
        except duckdb.Error:  # a table without user ids: nothing to name (the erasure goes on)
            return {}
    return dict(rows)


def shown(user_id: str) -> str:
    """An id as it must be typed: quoted, with what does not show escaped ("jose\\u0301")."""
    return json.dumps(user_id)


def listed(user_id: str) -> str:
    """An id in a line of ids: as it is where it reads as itself, else :func:`shown`: one
    holding what does not show (``1785`` + a zero-width space + ``0`` reads ``17850``), spaces
    around it (`` 13778`` after a colon), a comma or quote (the list's own marks), or an
    accent of two characters."""
    import unicodedata

    plain = (
        user_id.isprintable()
        and user_id == user_id.strip()
        and not {",", '"'} & set(user_id)
        and unicodedata.is_normalized("NFC", user_id)
    )
    return user_id if plain and user_id else shown(user_id)


# What the dataset's writer found of its events' ids, beside the table (the "_" keeps it out
# of a folder read as a Parquet dataset): {"events": the file's key, "padded_width": ...}
IDS_RECORD = "_events.parquet.ids.json"


def padded_width(events: Path) -> int | None:
    """The one width a dataset's user ids are zero-padded to (CDNOW's ``00001``..``23570``:
    5), read from its events table: ids a person types unpadded (``3`` for ``00003``), which
    match no user as ids match exactly, so a miss says so (:func:`padding_hint`). None when
    the ids are not all digits of one length, none starts with ``0``, or the table cannot be
    read (none yet, or being replaced). What the table's writer recorded of this very file
    (:func:`record_padded_width`) answers without reading the ids (a model load: 0.73 s of
    16M padded ids); a table it does not describe is read."""
    found, width = recorded_width(events)
    if found:
        return width
    try:
        with events.open("rb") as file:
            return _read_width(file)[1]
    except OSError:  # none yet, or being replaced
        return None


def record_padded_width(events: Path) -> int | None:
    """:func:`padded_width` of an events table just written (an ingest, an append, an
    import, a ``forget``), kept beside it under the file's key (:func:`_file_key`: its
    content, not its file times): a table rewritten since by any step with other ids no
    longer matches, and is read again; a copy (``cp -r`` without ``-p``) still does.
    Nothing is kept for a table that cannot be read."""
    try:
        with events.open("rb") as file:  # the key and the ids of one and the same file
            key = _file_key(file)
            read, width = _read_width(file) if key is not None else (False, None)
    except OSError:
        return None
    if not read:
        return None
    from lifecycle.storage import atomic_file

    with atomic_file(events.with_name(IDS_RECORD)) as staging:
        staging.write_text(json.dumps({"events": key, "padded_width": width}))
    return width


def recorded_width(events: Path) -> tuple[bool, int | None]:
    """(True, the width) that :func:`record_padded_width` kept for this very file; (False,
    None) when nothing kept is of it (written before such records, or rewritten since)."""
    try:
        record = json.loads(events.with_name(IDS_RECORD).read_text())
        with events.open("rb") as file:
            key = _file_key(file)
    except (OSError, ValueError):
        return False, None
    if not isinstance(record, dict) or key is None or record.get("events") != key:
        return False, None
    width = record.get("padded_width")
    return (True, width) if width is None or isinstance(width, int) else (False, None)


def _file_key(file: Any) -> list[Any] | None:
    """An open Parquet file's size, the digest of its footer (schema, row groups, column
    statistics) and the digest of its user-id column's bytes (every page of it, as the
    footer places them); None when it is not a whole Parquet file. What the width is read
    from and nothing else: no file time, which a copy without ``-p`` changed, so each load
    of a copied workspace read every id again until its next write (the footer alone could
    be equal for other ids of the same lengths and bounds). 21 ms at 16M ids (32 MB)."""
    import hashlib
    import os

    stat = os.fstat(file.fileno())
    if stat.st_size < 12:
        return None
    file.seek(-8, os.SEEK_END)
    tail = file.read(8)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] != b"PAR1" or length + 12 > stat.st_size:
        return None
    file.seek(-(length + 8), os.SEEK_END)
    footer = hashlib.sha256(file.read(length)).hexdigest()
    ids = _column_digest(file, stat.st_size - length - 8)
    file.seek(0)
    return None if ids is None else [stat.st_size, footer, ids]


def _column_digest(file: Any, data_end: int) -> str | None:
    """The sha256 of an open Parquet file's user-id column chunks, read where its footer
    places them (before ``data_end``); None when the footer places them nowhere there."""
    import hashlib

    import pyarrow.parquet as pq

    try:
        file.seek(0)
        meta = pq.ParquetFile(file).metadata
        column = meta.schema.to_arrow_schema().get_field_index(c.USER_ID)
        chunks = [meta.row_group(i).column(column) for i in range(meta.num_row_groups)]
    except (OSError, ValueError, IndexError):
        return None
    digest = hashlib.sha256()
    for chunk in chunks if column >= 0 else []:
        first = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset:
            first = min(first, chunk.dictionary_page_offset)
        if first < 4 or first + chunk.total_compressed_size > data_end:
            return None
        file.seek(first)
        digest.update(file.read(chunk.total_compressed_size))
    return digest.hexdigest()


def _read_width(file: Any) -> tuple[bool, int | None]:
    """Whether an open events table's ids could be read, and their padded width
    (:func:`padded_width`): the Parquet statistics first (:func:`_may_be_padded`), then
    every id."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:  # pyarrow, which serving reads tables with already: no query engine at a model load
        if not _may_be_padded(file):
            return True, None
        file.seek(0)
        ids = pc.cast(pq.read_table(file, columns=[c.USER_ID])[c.USER_ID], pa.string())
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return False, None
    if len(ids) == 0 or ids.null_count:
        return True, None
    lengths = pc.min_max(pc.utf8_length(ids))
    shortest, longest = lengths["min"].as_py(), lengths["max"].as_py()
    digits = pc.all(pc.match_substring_regex(ids, r"^[0-9]+$")).as_py()
    padded = pc.any(pc.starts_with(ids, "0")).as_py()
    if not (digits and padded) or shortest != longest or longest < 2:
        return True, None
    return True, int(longest)


def _may_be_padded(file: Any) -> bool:
    """Whether the Parquet statistics of the ids (an open events table's) leave them
    possibly padded digits: the least starts with ``0`` and the greatest is digits
    (u0000001, emails, 12346..18287 are not), so most datasets are told without a scan (5M
    ids: 0.8 s). True where a file has none."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(file).metadata
        column = meta.schema.to_arrow_schema().get_field_index(c.USER_ID)
        groups = range(meta.num_row_groups) if column >= 0 else range(0)
        stats = [meta.row_group(i).column(column).statistics for i in groups]
    except (OSError, ValueError, IndexError):  # unreadable here: the scan says
        return True
    if not stats or any(s is None or not s.has_min_max for s in stats):
        return True
    least, greatest = min(str(s.min) for s in stats), max(str(s.max) for s in stats)
    return least.startswith("0") and greatest.isascii() and greatest.isdigit()


def padding_hint(user_id: str, width: int | None) -> str | None:
    """Why ``user_id`` found no user of a dataset whose ids are ``width`` digits zero-padded
    (:func:`padded_width`), when it is digits written another width (``3``, ``003``,
    ``000003`` for ``00003``): said of the ids' form alone, so it tells nobody asking over
    HTTP whether ``00003`` is a user. None for any other id."""
    if width is None or not user_id.isascii() or not user_id.isdigit():
        return None
    padded = (user_id.lstrip("0") or "0").zfill(width)
    if len(user_id) == width or len(padded) != width:
        return None
    return (
        f"no user {shown(user_id)}: this dataset's user ids are {width} digits, zero-padded "
        f"(this one would be written {shown(padded)}); ids are matched exactly as stored"
    )
