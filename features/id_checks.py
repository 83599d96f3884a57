"""User id columns checked as ingest reads them: the ids parsed (:func:`parse_ids`), a column
a spreadsheet rounded refused, spreadsheet text formulas (``="00123"``) read as the text inside
and counted, ids written ``18074.0`` said in the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from features import contract as c
from features.parsing import FAST_TEXT, as_text, is_text, parse_ids, rounded_ids
from features.quarantine import Quarantine
from features.raw_ids import formula_text
from features.read_words import IDS_FOLDED

if TYPE_CHECKING:
    from features.table_checks import TableChecks


def check_user_ids(
    raw: pd.DataFrame,
    column: str,
    bad: Quarantine,
    checks: TableChecks,
    whole_floats: bool = False,
    case_insensitive: bool = False,
) -> pd.Series:
    """The user ids of ``column`` (:func:`parse_ids`), bad ones flagged with their reason; a
    column mostly of ids a spreadsheet rounded (1.23457E+11) is refused as a whole. An id
    written as a spreadsheet's text formula (="00123", what exports write to keep its zeros)
    is the text inside, counted in the report. A row without an id is ``missing_user_id``
    only when it breaks no other rule (:meth:`Quarantine.flag_last`). ``case_insensitive``:
    the ids folded (:func:`features.contract.fold_case`); a quarantined row keeps the file's
    spelling."""
    ids = inside_formulas(raw[column], column, checks, FORMULA_IDS)
    rounded = rounded_ids(ids)  # once: the rows' reason and the column's share of them
    user_id, problem = parse_ids(ids, whole_floats, rounded)
    missing = (problem == MISSING).fillna(False)  # a guest row, unless it breaks another rule
    bad.flag_each(problem.mask(missing))
    bad.flag_last(missing, MISSING)
    checks.add(raw, rounded, column, ROUNDED)
    if case_insensitive:
        import pyarrow as pa

        folded = c.fold_case(pa.array(user_id, pa.string(), from_pandas=True))
        written = user_id
        user_id = pd.Series(folded.to_pylist(), index=user_id.index, dtype="string")
        seen = checks.notes.setdefault(IDS_FOLDED, {"column": column, "rows": 0})
        seen["rows"] += int(user_id.ne(written).fillna(False).sum())
    return user_id


def inside_formulas(values: pd.Series, column: str, checks: TableChecks, note: str) -> pd.Series:
    """``values`` with each spreadsheet text formula (="00123", ="7.50": what exports write to
    keep a number as they show it) replaced by the text inside, counted in the report's
    ``note``; a column with none is returned as it is."""
    if not is_text(values):
        return values
    text = as_text(values)
    formula = text.astype(FAST_TEXT).str.fullmatch('=".*"').fillna(False).astype(bool)
    if not formula.any():
        return values
    seen = checks.notes.setdefault(note, {"column": column, "rows": 0})
    seen["rows"] += int(formula.sum())
    return formula_text(text)


MISSING = "missing_user_id"  # parse_ids' reason of a row without a user id
FORMULA_IDS = "ids_written_as_formulas"  # report note: {"column", "rows"}
FORMULA_AMOUNTS = "amounts_written_as_formulas"  # report note: {"column", "rows"}
ROUNDED = "ids in full, not as a spreadsheet shows long numbers (export the column as text)"


def check_mapped_user_ids(
    raw: pd.DataFrame, column: str, bad: Quarantine, checks: TableChecks, mapping: c.ColumnMapping
) -> pd.Series:
    """:func:`check_user_ids` of a file read through ``mapping`` (its ids written 18074.0, its
    dataset's case-insensitive ids), the ids written 18074.0 said in the report."""
    whole_floats = c.USER_ID in mapping.whole_float_ids
    user_id = check_user_ids(raw, column, bad, checks, whole_floats, mapping.case_insensitive_ids)
    note_whole_float_ids(mapping, checks)
    return user_id


def note_whole_float_ids(mapping: c.ColumnMapping, checks: TableChecks) -> None:
    """Say in the report which id columns were written 18074.0 and read as 18074."""
    for note, names in [("ids_read_as_integers", mapping.whole_float_ids),
                        ("ids_written_both_ways", mapping.ids_written_both_ways)]:  # fmt: skip
        if names:
            checks.notes[note] = {name: mapping.source(name) for name in names}
