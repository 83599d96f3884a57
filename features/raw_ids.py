"""How ingest's readers read a raw id cell, so that ``forget`` finds a user's rows in a
quarantine file, which keeps the cells as the file wrote them: ``="13047"`` (a spreadsheet's
formula), ``13047.0`` (pandas' integer in a column with a null), `` 13047`` (online retail's
reader strips the spaces)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from features import contract as c

SPREADSHEET_TEXT = r'^="(.*)"$'  # ="00123": a spreadsheet's formula keeping a number as text


def formula_text(text: pd.Series) -> pd.Series:
    """Each spreadsheet text formula (``="00123"``) of ``text`` as the text inside."""
    return text.str.replace(SPREADSHEET_TEXT, r"\1", regex=True)


def integer_ids(ids: pd.Series) -> pd.Series:
    """Text ids written ``18074.0`` as the integers they hold (``18074``)."""
    # only an id with a point can be one: the regex runs on those alone (it is row by row)
    pointed = ids.str.contains(".", regex=False).fillna(False).astype(bool)
    return ids.mask(pointed, ids[pointed].str.replace(c.WHOLE_FLOAT_ID, r"\1", regex=True))


def stripped_ids(text: pd.Series) -> pd.Series:
    """Ids as online retail's reader loads them: the spaces around them stripped (spaces
    only: a control character makes the id invalid_user_id, as in ingest), ``17850.0`` read
    as the integer."""
    return integer_ids(text.str.strip(" "))


def raw_id_readings(raw: Iterable[str], case_insensitive: bool = False) -> dict[str, set[str]]:
    """Each raw id (as a file, and so a quarantine file, writes it) -> the ids ingest's
    readers load it as: as written, the text of a spreadsheet formula (``="13047"``) and a
    whole number written ``13047.0`` (the generic reader's), and with the spaces around it
    stripped (online retail's: `` 13047`` is its customer ``13047``); each also folded
    (``C1@X.COM`` is ``c1@x.com``) for a dataset of ``case_insensitive`` ids."""
    cells = pd.Series(sorted(set(raw)), dtype="string")
    inside = formula_text(cells)
    readings = [cells, inside, integer_ids(inside), stripped_ids(cells)]
    if case_insensitive:
        readings += [pd.Series(c.held_user_ids(read, True), dtype="string") for read in readings]
    return {cell: set(read) for cell, *read in zip(cells, *readings, strict=True)}
