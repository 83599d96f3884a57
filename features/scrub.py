"""Scrubbing one table file for erasure: the users' rows dropped, their ids redacted elsewhere.

A row whose user column is one of the ids is dropped: ``user_id``, or in a quarantine file
the raw column the ingest read the ids from (``CustomerID``, recorded in the dataset's
report; a value equal to an id in another column, such as a product code, is no user's); in
a CSV without either (an older dataset's quarantine), any cell equal to an id. In the rows
that stay, every text cell (an event's ``description``, a user's ``referrer`` or ``note``)
but those of codes (an order id, event type, currency or channel, and the columns of codes
a dataset's report names: an invoice number or product code) has each occurrence of
an id *as a whole token* replaced by :data:`REDACTED`: the id neither preceded nor followed
by a letter, digit, ``_`` or ``-``, nor part of a dotted word or number (forgetting ``7``
leaves ``17``, ``7.5``, ``a.7`` and ``7-day`` alone, and redacts ``7`` in ``"ask 7, then 8."``).
Ids are matched literally, regex metacharacters included; with ``fold`` (a place of a dataset
of case-insensitive ids, which may hold an id as it was written before the dataset folded
case) in any casing ``features.contract.fold_case`` folds to it: the text is folded so, then
matched (not by ``re.IGNORECASE`` or RE2's ``(?i)``, which fold otherwise: RE2 never reads
'İ' as 'i', Python reads a dotless 'i' as 'i').

Large tables stay columnar: a scan of a text column's bytes skips the columns that never
hold an id; in the others a C++ regular expression (Arrow, RE2) finds the cells that contain
an id at all, and only those go through the whole-token rule in Python.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features.batches import case_insensitive_ids
from features.read_words import EXTRA_FIELDS, MISSING_FIELDS
from features.spreadsheet_cells import unquoted
from lifecycle.dataset_kind import (
    DATASET_CODE_COLUMNS,
    NOT_ID_COLUMNS,
    QUARANTINE_USER_COLUMNS,
    read_report,
)
from lifecycle.errors import UserError
from lifecycle.storage import atomic_file

if TYPE_CHECKING:
    import pyarrow as pa

REDACTED = "[forgotten]"
OUT_OF_LINE = (EXTRA_FIELDS, MISSING_FIELDS)  # quarantined rows whose columns are not the header's
TABLE_SUFFIXES = (".parquet", ".csv", ".xlsx")
_BEFORE = r"(?<![\w-])(?<!\w\.)"  # no word character or hyphen before, not after "x."
_AFTER = r"(?![\w-])(?!\.\w)"  # and none after, nor ".x" (7.5, 7.csv)


@dataclass
class Scrubbed:
    """What scrubbing a file did (or, only counting, would do)."""

    removed: int = 0  # rows of the users dropped
    redacted: int = 0  # id tokens replaced in the text of other rows

    def __bool__(self) -> bool:
        return bool(self.removed or self.redacted)

    def __iadd__(self, other: Scrubbed | None) -> Scrubbed:
        if other is not None:
            self.removed += other.removed
            self.redacted += other.redacted
        return self


@dataclass(frozen=True)
class Mentions:
    """Where a text mentions any of some ids as a whole token: exactly, or with ``fold`` in
    the text folded as ``features.contract.fold_case`` folds (the ids folded so too)."""

    pattern: re.Pattern[str]
    fold: bool = False

    def spans(self, text: str, folded: str | None = None) -> list[tuple[int, int]]:
        """The mentions' spans in ``text`` (``folded``: the text already folded)."""
        seen = (c.fold_text(text) if folded is None else folded) if self.fold else text
        return [m.span() for m in self.pattern.finditer(seen)]  # a folded text's are the text's

    def search(self, text: str) -> bool:
        return bool(self.spans(text))

    def findall(self, text: str) -> list[str]:
        return [text[start:end] for start, end in self.spans(text)]

    def redact(self, text: str, folded: str | None = None) -> tuple[str, int]:
        """``text`` with every mention replaced by :data:`REDACTED`, and how many were."""
        spans = self.spans(text, folded)
        kept = [0, *(at for span in spans for at in span), len(text)]
        pieces = [text[start:end] for start, end in zip(kept[0::2], kept[1::2], strict=True)]
        return REDACTED.join(pieces), len(spans)


def token_pattern(terms: Iterable[str], fold: bool = False) -> Mentions:
    """The mentions of any of the terms as a whole token (longest first, literally; in any
    casing ``features.contract.fold_case`` folds to them with ``fold``)."""
    wanted = fold_ids({t for t in terms if t}, fold)[0]
    ordered = sorted(wanted, key=lambda t: (-len(t), t))
    if not ordered:
        return Mentions(re.compile(r"(?!)"))  # matches nothing
    alternatives = "(?:" + "|".join(map(re.escape, ordered)) + ")"
    return Mentions(re.compile(_BEFORE + alternatives + _AFTER), fold)


def fold_ids(ids: set[str], fold: bool) -> tuple[set[str], Callable[[str], str]]:
    """The ids and what a cell is compared with them as: both folded with ``fold`` (as
    ``features.contract.fold_case`` folds), else as they are."""
    return ({c.fold_text(i) for i in ids}, c.fold_text) if fold else (ids, str)


def users_in(
    column: pa.ChunkedArray, ids: Iterable[str], fold: bool
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """A table's user column as text (folded with ``fold``, as ``features.contract.fold_case``
    folds) and, for each cell, whether it is one of ``ids`` (folded so too; a null is none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.cast(column, pa.string())
    column = c.fold_case(column) if fold else column
    wanted = pa.array(sorted(fold_ids(set(ids), fold)[0]), pa.string())
    return column, pc.fill_null(pc.is_in(column, value_set=wanted), False)


def _re2_literal(term: str) -> str:
    """``term`` as an RE2 literal: every character but [A-Za-z0-9_] as a ``\\x{...}`` escape."""
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"\\x{{{ord(ch):x}}}" for ch in term
    )


@functools.lru_cache(maxsize=4)
def _re2_any(terms: frozenset[str]) -> str:
    """One RE2 alternation of every term (RE2 scans a column once for all of them; a
    forget's tables share it, so it is made once)."""
    return "|".join(map(_re2_literal, sorted(terms)))


def _holding(strings: pa.Array, terms: frozenset[str], fold: bool = False) -> pa.Array:
    """Which of ``strings`` (with ``fold`` folded by ``fold_case``, as the terms are) contain
    one of ``terms`` at all (bytes, not yet whole tokens), in one pass. (A scan of the
    column's bytes per id, each a fresh copy, took 20,000 passes for 20,000 ids: most of a
    large forget's time.)"""
    import pyarrow.compute as pc

    seen = c.fold_case(strings) if fold else strings
    return pc.fill_null(pc.match_substring_regex(seen, _re2_any(terms)), False)


def _may_hold(column: pa.ChunkedArray, terms: frozenset[str], fold: bool) -> bool:
    """Whether a dictionary column's values hold an id at all: the many columns that never
    mention one (event types, channels) are judged by their few distinct values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return any(
        pc.any(
            _holding(chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk, terms, fold)
        ).as_py()
        for chunk in column.chunks
    )


def _redact_column(
    column: pa.ChunkedArray, terms: set[str], fold: bool
) -> tuple[pa.ChunkedArray, int]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    original = column.type
    wanted = frozenset(fold_ids(terms, fold)[0])
    if pa.types.is_dictionary(original) and not _may_hold(column, wanted, fold):
        return column, 0
    values = column.combine_chunks()
    if pa.types.is_dictionary(original):
        values = values.dictionary_decode()
    candidates = _holding(values, wanted, fold)
    positions = pa.array(np.flatnonzero(candidates.to_numpy(zero_copy_only=False)))
    if not len(positions):
        return column, 0
    mentions = token_pattern(terms, fold)
    held = values.take(positions)
    folded = c.fold_case(held).to_pylist() if fold else [None] * len(held)
    texts, count = [], 0
    for text, seen in zip(held.to_pylist(), folded, strict=True):
        new, found = mentions.redact(text, seen)
        texts.append(new)
        count += found
    if not count:
        return column, 0
    replaced = pc.replace_with_mask(values, candidates, pa.array(texts, values.type))
    if pa.types.is_dictionary(original):
        replaced = replaced.dictionary_encode().cast(original)
    return pa.chunked_array([replaced]), count


def redact_table(
    table: pa.Table, terms: set[str], codes: Iterable[str] = (), fold: bool = False
) -> tuple[pa.Table, int]:
    """Every text column but the user id's and the codes' with the ids redacted as whole
    tokens (in any casing with ``fold``)."""
    import pyarrow as pa

    count, left = 0, {c.USER_ID, *c.CODE_COLUMNS, *codes}
    for position, column_field in enumerate(table.schema):
        kind = column_field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if column_field.name in left or not (
            pa.types.is_string(kind) or pa.types.is_large_string(kind)
        ):
            continue
        redacted, found = _redact_column(table.column(position), terms, fold)
        if found:
            table = table.set_column(position, column_field, redacted)
            count += found
    return table, count


def scrub_parquet(
    path: Path, out: Path | None, ids: set[str], codes: Iterable[str] = (), fold: bool = False
) -> Scrubbed | None:
    """Scrub ``path`` into ``out`` (None: only count); None for a table with neither a user
    column nor text. The schema and its key-value metadata stay. ``fold``: ids in any casing."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    done = Scrubbed()
    if c.USER_ID in table.column_names:
        _, drop = users_in(table[c.USER_ID], ids, fold)
        done.removed = int(pc.sum(drop).as_py() or 0)
        if done.removed:
            table = table.filter(pc.invert(drop))
    table, done.redacted = redact_table(table, ids, codes, fold)
    if not done and c.USER_ID not in table.column_names:
        return None
    if done and out is not None:
        pq.write_table(table, out, compression="zstd")
    return done


def quarantine_own(header: list[str]) -> set[int]:
    """The positions of a quarantine file's own columns (source row, reason, source file):
    the leading ones of those names in that order. A quarantine written before source_file
    was kept a file's own column of that name among the raw values, under it."""
    own, at = set(), 0
    for name in c.QUARANTINE_OWN:
        if at < len(header) and header[at] == name:
            own.add(at)
            at += 1
    return own


def user_cells(
    header: list[str], user_column: str | None
) -> tuple[int | None, Callable[[list[str]], tuple[list[str], bool]]]:
    """Where a CSV header has ``user_column`` (a quarantine file's), else ``user_id`` (None:
    neither), and for a row the cells that may hold its user's id, and whether they are all
    of its cells: that column's, or every cell of an older dataset's raw rows (no user column
    recorded) and of a row quarantined as out of line with the header (no column of theirs
    is what it says). A formula-like id is written quoted (features.spreadsheet_cells): the
    cells are unquoted."""
    named = next((n for n in (user_column, c.USER_ID) if n in header), None)
    at = None if named is None else header.index(named)
    reason = header.index(c.REASON) if c.REASON in header else len(header)
    own = quarantine_own(header)

    def cells(row: list[str]) -> tuple[list[str], bool]:
        if at is None or (reason < len(row) and row[reason] in OUT_OF_LINE):
            return [unquoted(cell) for i, cell in enumerate(row) if i not in own], True
        return ([unquoted(row[at])] if at < len(row) else []), False

    return at, cells


def csv_user_ids(
    path: Path,
    ids: Container[str],
    user_column: str | None = None,
    raw_ids: bool = False,
    case_insensitive: bool = False,
    skip_reasons: Container[str] = (),
) -> set[str]:
    """The ids a CSV body holds where :func:`scrub_csv` looks for its users (read row by
    row), but in rows quarantined for one of ``skip_reasons``; ``raw_ids``,
    ``case_insensitive``: as :func:`scrub_csv`."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as src:
        rows = csv.reader(src)
        header = next(rows, [])
        _, cells = user_cells(header, user_column)
        reason = header.index(c.REASON) if c.REASON in header else len(header)
        counted = (row for row in rows if not (reason < len(row) and row[reason] in skip_reasons))
        held = {cell for row in counted for cell in cells(row)[0]}
    read_as = _read_as(held, raw_ids, case_insensitive)
    return {user for cell in held for user in read_as(cell) if user in ids}


def _read_as(
    cells: Iterable[str], raw_ids: bool, case_insensitive: bool = False
) -> Callable[[str], Iterable[str]]:
    """A cell -> the ids it holds: itself, or for a quarantine file's raw ids (``raw_ids``)
    each id ingest reads it as (``features.raw_ids.raw_id_readings``: `` 13047`` is online
    retail's ``13047``; ``C1@X.COM`` is ``c1@x.com`` in a dataset of ``case_insensitive``
    ids)."""
    if not raw_ids:
        return lambda cell: (cell,)
    from features.raw_ids import raw_id_readings

    return raw_id_readings(cells, case_insensitive).__getitem__


def recorded_columns(version: Path) -> Callable[[Path], dict[str, Any]]:
    """A dataset version's file -> what its report records for scrubbing it: a quarantine
    file's raw column of user ids, whether ingest folded them (case-insensitive ids), and the
    dataset's columns of codes (none of either in a version from before they were recorded)."""
    try:
        report = read_report(version) or {}
    except UserError:  # a damaged report: refused where the dataset itself is rewritten
        report = {}
    users, codes = (
        report.get(QUARANTINE_USER_COLUMNS) or {},
        # and those the operator declared never ids (features.not_ids): left as codes are
        (*(report.get(DATASET_CODE_COLUMNS) or ()), *(report.get(NOT_ID_COLUMNS) or ())),
    )
    folded = case_insensitive_ids(report)

    def of(file: Path) -> dict[str, Any]:
        quarantined = file.parent.name == "quarantine"
        return {
            "user_column": users.get(file.name) if quarantined else None,
            "codes": codes,
            "raw_ids": quarantined,  # as the file wrote them (features.raw_ids.raw_id_readings)
            "case_insensitive": quarantined and folded,  # ... and folded as ingest did
            # as every other place of the dataset, in any casing when it folds: a CSV (or
            # sheet) put there by hand, and a mention in a text column of its own tables
            "fold": folded,
        }

    return of


def _holds_any(text: str, wanted: set[str], as_: Callable[[str], str]) -> bool:
    """Whether ``text``, folded once (not once per id), holds any of the ``wanted`` ids."""
    folded = as_(text)
    return any(t in folded for t in wanted)


def scrub_csv(
    path: Path,
    out: Path | None,
    ids: set[str],
    user_column: str | None = None,
    codes: Iterable[str] = (),
    raw_ids: bool = False,
    case_insensitive: bool = False,
    fold: bool = False,
) -> Scrubbed:
    """Scrub a CSV file: the users' rows dropped (by ``user_column``, a quarantine file's
    raw column of user ids, else the ``user_id`` column, else any cell equal to an id, or
    with ``raw_ids``, a quarantine file's, read as ingest reads it, folded with
    ``case_insensitive``), ids redacted in the others' cells (CSV has no types: all are text);
    ``fold``: a list's ids in any casing."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as src:
        rows = list(csv.reader(src))
    if not rows:
        return Scrubbed()
    header, body = rows[0], rows[1:]
    at, cells = user_cells(header, user_column)
    judged = [(row, *cells(row)) for row in body]
    read_as = _read_as({h for _, held, _ in judged for h in held}, raw_ids, case_insensitive)
    wanted, as_ = fold_ids(ids, fold)
    # a row out of line is redacted in every cell (no column is what it says)
    kept = [
        (row, every)
        for row, held, every in judged
        if not any(as_(user) in wanted for h in held for user in read_as(h))
    ]
    done = Scrubbed(removed=len(body) - len(kept))
    mentions = token_pattern(ids, fold)
    # a quarantine's own columns, written by ingest, even in a row out of line with the
    # header: its row number 15749 is no user 15749 (it was redacted as a mention)
    own = quarantine_own(header)
    left = {*c.CODE_COLUMNS, *codes}
    text = [i for i, name in enumerate(header) if i != at and name not in left and i not in own]
    for row, every in kept:
        every_cell = ((i, cell) for i, cell in enumerate(row) if i not in own)
        for i, cell in every_cell if every else ((i, row[i]) for i in text if i < len(row)):
            if _holds_any(cell, wanted, as_):  # cheap before the regex
                row[i], found = mentions.redact(cell)
                done.redacted += found
    if done and out is not None:
        with out.open("w", newline="", encoding="utf-8", errors="surrogateescape") as dst:
            writer = csv.writer(dst)
            writer.writerow(header)
            writer.writerows(row for row, _ in kept)
    return done


def scrub_json(path: Path, out: Path | None, ids: set[str], fold: bool = False) -> Scrubbed:
    """Scrub a JSON list (``lifecycle at-risk --out list.json``): objects of the users
    (by ``user_id``) dropped from every array, ids redacted in every other string (in any
    casing with ``fold``)."""
    done = Scrubbed()
    mentions = token_pattern(ids, fold)
    wanted, as_ = fold_ids(ids, fold)

    def clean(value: object) -> object:
        if isinstance(value, list):
            kept = [
                v
                for v in value
                if not (
                    isinstance(v, dict)
                    and v.get(c.USER_ID) is not None
                    and as_(str(v[c.USER_ID])) in wanted
                )
            ]
            done.removed += len(value) - len(kept)
            return [clean(v) for v in kept]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, str) and _holds_any(value, wanted, as_):
            text, found = mentions.redact(value)
            done.redacted += found
            return text
        return value

    cleaned = clean(json.loads(path.read_text(encoding="utf-8")))
    if done and out is not None:
        out.write_text(json.dumps(cleaned, indent=2, default=str), encoding="utf-8")
    return done


def scrub_xlsx(path: Path, out: Path | None, ids: set[str], fold: bool = False) -> Scrubbed:
    """Scrub an Excel list: on every sheet with a ``user_id`` header the users' rows
    deleted; ids redacted in every other text cell (in any casing with ``fold``)."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    done = Scrubbed()
    mentions = token_pattern(ids, fold)
    wanted, as_ = fold_ids(ids, fold)
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows())
        if not rows:
            continue
        header = [cell.value for cell in rows[0]]
        at = header.index(c.USER_ID) if c.USER_ID in header else None
        dropped = []
        for number, row in enumerate(rows[1:], start=2):
            cell_id = row[at].value if at is not None else None
            if cell_id is not None and as_(str(cell_id)) in wanted:
                dropped.append(number)
                continue
            for cell in row:
                if isinstance(cell.value, str) and _holds_any(cell.value, wanted, as_):
                    cell.value, found = mentions.redact(cell.value)
                    done.redacted += found
        for number in reversed(dropped):
            sheet.delete_rows(number)
        done.removed += len(dropped)
    if done and out is not None:
        book.save(out)
    return done


def table_format(path: Path) -> str | None:
    """ "parquet", "csv" or "xlsx" by the file's suffix, None for another file."""
    suffix = path.suffix.lower()
    return suffix.removeprefix(".") if suffix in TABLE_SUFFIXES else None


def scrub(
    path: Path,
    out: Path | None,
    ids: set[str],
    fmt: str | None = None,
    user_column: str | None = None,
    codes: Iterable[str] = (),
    raw_ids: bool = False,
    case_insensitive: bool = False,
    fold: bool = False,
) -> Scrubbed | None:
    """:func:`scrub_parquet`, :func:`scrub_csv`, :func:`scrub_xlsx` or :func:`scrub_json` by
    ``fmt`` (default: the suffix); None for any other file. ``user_column``, ``raw_ids``,
    ``case_insensitive``: a CSV's (:func:`scrub_csv`); ``codes``: a table's columns of
    codes, left as they are; ``fold``: the ids in any casing."""
    fmt = fmt or table_format(path)
    if fmt == "csv":
        return scrub_csv(path, out, ids, user_column, codes, raw_ids, case_insensitive, fold)
    if fmt == "parquet":
        return scrub_parquet(path, out, ids, codes, fold)
    scrubbers = {"xlsx": scrub_xlsx, "json": scrub_json}
    return scrubbers[fmt](path, out, ids, fold) if fmt in scrubbers else None


def rewrite_file(
    path: Path,
    ids: set[str],
    fmt: str | None = None,
    user_column: str | None = None,
    codes: Iterable[str] = (),
    raw_ids: bool = False,
    case_insensitive: bool = False,
    fold: bool = False,
) -> Scrubbed | None:
    """Scrub a Parquet, CSV, Excel or JSON file in place, atomically; an untouched file is not rewritten.

    Returns what was done, or None for a file that cannot be scrubbed.
    """
    fmt = fmt or table_format(path)
    if fmt is None:
        return None
    mode = path.stat().st_mode & 0o777
    try:
        with atomic_file(path) as staging:
            done = scrub(
                path, staging, ids, fmt, user_column, codes, raw_ids, case_insensitive, fold
            )
            if not done:
                # Nothing to change: keep the original (replacing it by a copy is wasteful).
                raise _Unchanged(done)
            staging.chmod(mode)
    except _Unchanged as unchanged:
        return unchanged.done
    return done


class _Unchanged(Exception):
    def __init__(self, done: Scrubbed | None) -> None:
        self.done = done


def table_files(folder: Path) -> list[Path]:
    """The Parquet and CSV files under ``folder`` (hidden ones left out)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES and not p.name.startswith(".")
    )
