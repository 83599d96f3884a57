"""The quarantine of one raw chunk: each bad row with the first reason found for it, as
the rows of ``quarantine/<table>.csv`` (the raw values as text after the 1-based source row
and the reason), and notes on rows that load with a caveat the report counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from features.parsing import as_text, raw_text

RAGGED_ROWS = "ragged_rows"  # attrs key: {row label: reason} of rows out of line with the header
# a row whose every cell is blank (a spreadsheet saves rows it once used as ',,,'): it carries
# nothing, so it is quarantined and counted, but not against the file's bad-row limit
EMPTY_ROW = "empty_row"
# the label of a totals line a spreadsheet or report adds under its rows (TOTAL, Grand Total)
TOTALS_ROW = "totals_row"
# a totals label, perhaps with what it counts after a colon or in brackets ("Total: 5000 rows")
TOTALS_LABEL = (
    r"(?i)(?:(?:grand[ _-]?)?totals?|sum|subtotal|summe|gesamt(?:summe)?|totaal)"
    r"(?:\s*(?::|\().*)?"
)


class Quarantine:
    """Collects bad rows of one raw frame with the first reason found for each, and notes
    on rows that load with a caveat the report counts (e.g. a defaulted amount). A reason
    flagged last (:meth:`flag_last`) is a row's only when it breaks no other rule."""

    def __init__(
        self, raw: pd.DataFrame, user_column: str | None = None, codes: tuple[str, ...] = ()
    ) -> None:
        self.raw = raw
        # the raw column read as the user id, which `forget` matches in the quarantine file
        # (another column may hold a value equal to an id: a product code 15036), and the
        # columns of codes (an invoice number, a product code), which it leaves as they are
        self.user_column = user_column
        self.codes = codes
        self._first = pd.Series(pd.NA, index=raw.index, dtype="string")
        self._last = pd.Series(pd.NA, index=raw.index, dtype="string")  # flag_last's
        self.noted: dict[str, pd.Series] = {}
        # rows out of line with the header (features.reading: no cell of theirs is trusted),
        # and files concatenated with their headers: a data row that is the header again
        self.flag_each(pd.Series(raw.attrs.get(RAGGED_ROWS, {}), dtype="string"))
        self.flag(blank_rows(raw), EMPTY_ROW)
        self.flag(repeated_header(raw), "repeated_header")
        self.flag(totals_row(raw), TOTALS_ROW)

    @property
    def reason(self) -> pd.Series:
        """Each row's reason (NA: a good row): the first it was flagged with, else the first
        flagged last."""
        return self._first.fillna(self._last)

    def _rows(self, mask: pd.Series | np.ndarray) -> pd.Series:
        """A mask over the raw rows (NA: not flagged)."""
        return pd.Series(mask, index=self.raw.index).fillna(False).astype(bool)

    def flag(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Mark rows as bad; a row keeps the first reason it was flagged with."""
        mask = self._rows(mask)
        self._first = self._first.mask(mask & self._first.isna(), reason)

    def flag_each(self, reasons: pd.Series) -> None:
        """Mark rows as bad, each with its own reason (NA: not bad)."""
        reasons = reasons.reindex(self.raw.index).astype("string")
        self._first = self._first.mask(reasons.notna() & self._first.isna(), reasons)

    def flag_last(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Mark rows as bad for a reason that is theirs only if they break no other rule,
        flagged before or after: ``missing_user_id``, a guest order's row, which counts as
        one only when a customer's row like it would load (a guest credit note is a refund,
        a stock adjustment of quantity -5 is ``non_positive_quantity``, never an order)."""
        mask = self._rows(mask)
        self._last = self._last.mask(mask & self._last.isna(), reason)

    def overrule(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Mark rows as bad for a reason that replaces any other (an erased user's)."""
        self._first = self._first.mask(self._rows(mask), reason)

    def note(self, mask: pd.Series | np.ndarray, name: str) -> None:
        """Mark rows the report counts under ``notes[name]`` if they load."""
        mask = self._rows(mask)
        self.noted[name] = self.noted.get(name, pd.Series(False, index=self.raw.index)) | mask

    def noted_rows(self, name: str) -> np.ndarray:
        return self.noted.get(name, pd.Series(False, index=self.raw.index)).to_numpy(dtype=bool)

    @property
    def good(self) -> pd.Series:
        return self.reason.isna()

    def frame(self) -> pd.DataFrame:
        bad = ~self.good
        return quarantine_rows(self.raw, bad.to_numpy(), self.reason[bad])

    def user_header(self) -> str | None:
        """The user id column's name in the quarantine file (None: the file has none)."""
        return self._headers().get(self.user_column) if self.user_column else None

    def code_headers(self) -> list[str]:
        """The names of the columns of codes, in the quarantine file (or as loaded)."""
        headers = self._headers()
        return sorted({headers.get(name, name) for name in self.codes})

    def _headers(self) -> dict[str, str]:
        names = [str(n) for n in self.raw.columns]
        return dict(zip(names, _beside(names, c.QUARANTINE_OWN), strict=True))

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in Counter(self.reason.dropna()).most_common()}


def quarantine_name(table: str, append: int = 0) -> str:
    """A batch's quarantine file name: ``<table>.csv`` of the ingest that began the dataset,
    ``<table>-append-<n>.csv`` of its ``append``-th append."""
    return f"{table}-append-{append}.csv" if append else f"{table}.csv"


def batch_quarantine(dataset_dir: Path, table: str, append: int = 0) -> Path:
    """A batch's quarantine file in a dataset folder (:func:`quarantine_name`)."""
    return dataset_dir / "quarantine" / quarantine_name(table, append)


def repeated_header(raw: pd.DataFrame) -> pd.Series:
    """Rows whose every cell is its column's name (a header repeated inside the file)."""
    if any(pd.api.types.is_numeric_dtype(raw[col]) for col in raw.columns):
        return pd.Series(False, index=raw.index)
    return every_cell(raw, lambda text, col: (text.str.strip() == str(col).strip()).fillna(False))


def reordered_header(raw: pd.DataFrame, source: str) -> None:
    """Refuse a data row that is the header with its columns in another order: two exports
    concatenated whose second wrote them so (`cat` of a shop's January and a February saved
    with Country before Description). Its rows were read into the first header's columns:
    the repeat was one unparseable_event_time, of a user 'CustomerID', and the rows under it
    loaded with each product's country as its description (amount columns swapped, revenue
    read from the quantity); one with a column more quarantined the rest of the file as
    extra_fields, unsaid. A row of half the header's names or more, the first one of them,
    is a header; the first place it differs is named. The header repeated as it is, is
    ``repeated_header``."""
    names = [str(col).strip() for col in raw.columns]
    names = ["" if name.startswith("Unnamed: ") else name for name in names]  # a blank name
    if len(set(names)) < 2 or any(pd.api.types.is_numeric_dtype(raw[col]) for col in raw):
        return
    # cheap first: the first cell is a column's name as written (compared in C), then the row
    first = raw[raw.columns[0]]
    need = max(2, (len(names) + 1) // 2)
    rows = raw.loc[first.isin({*names, *map(str, raw.columns)})]
    # a blank first name matches every blank first cell (CDNOW's lines begin with a space,
    # read with --delimiter ' '): count each such row's named cells in C, a blank one at most
    # once, so a row per Python call is only one that may be a header (it was each row:
    # 8,000 rows took over a minute, CDNOW's 69,659 never ended)
    named = {name for name in names if name}
    hits = sum((as_text(rows[col]).str.strip().isin(named)).fillna(False) for col in rows)
    for label in rows.index[np.asarray(hits) + ("" in names) >= need] if len(rows) else []:
        cells = [str(cell).strip() for cell in as_text(raw.loc[label]).fillna("")]
        if cells == names or len(set(cells) & set(names)) < need:
            continue
        moved = next(i for i, cell in enumerate(cells) if cell != names[i])
        what = (
            "its columns in another order" if sorted(cells) == sorted(names) else "of other columns"
        )
        raise c.ContractError(
            f"{source}: {c.row_named(raw, label)} is a header again, {what} ('{cells[moved]}' "
            f"where the first header has '{names[moved]}'): two files concatenated, the rows "
            "under it would be read into the first header's columns. Ingest each file apart "
            "(the later with --append), or save them with one header"
        )


def totals_row(raw: pd.DataFrame) -> pd.Series:
    """Rows of one totals label (``TOTAL``, ``Grand Total``) beside blanks and numbers, one
    cell blank at least and none a date or time (a totals line has no date; a customer
    named Total or Sum has): a report's sum, no event."""
    none = pd.Series(False, index=raw.index)
    if len(raw.columns) < 2:
        return none
    # a blank cell first, compared in C: the label's regex then runs on those rows alone
    blank = np.zeros(len(raw), dtype=bool)
    for col in raw.columns:
        blank |= _blank(raw[col])
    rows = raw.loc[blank]
    if rows.empty:
        return none
    labels = sum(_is_label(as_text(rows[col])).astype(int) for col in rows.columns)
    rows = rows.loc[labels == 1]
    totals = every_cell(
        rows,
        lambda text, _: (
            _is_label(text) | ~(text.str.contains(r"[^\W\d_]") | text.str.contains(DATE_OR_TIME))
        ),
    )
    return totals.reindex(raw.index, fill_value=False)


# a cell holding a date or a time of day (2024-01-02, 03.01.2024, 1/2/24, 10:00)
DATE_OR_TIME = r"\d[-/.]\d{1,2}[-/.]\d|\d:\d\d"


def _blank(values: pd.Series) -> np.ndarray:
    """Blank cells of a raw column: a CSV's text, no cell missing, compared as it is (made
    text first, six columns cost ~0.8 s of CPU per 1M rows), others through their text."""
    # (a typed text column, read from Parquet, holds pd.NA, which == does not compare)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.to_numpy() == ""
    return as_text(values).fillna("").eq("").to_numpy(dtype=bool)


def _is_label(text: pd.Series) -> pd.Series:
    return text.str.strip().str.fullmatch(TOTALS_LABEL).fillna(False).astype(bool)


def blank_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows whose every cell is blank, missing or spaces (``empty_row``; under a file's last
    row of data they are skipped, ``features.blank_tail``); none of a file of one column,
    whose blank cell is that column's value missing."""
    if len(raw.columns) <= 1:
        return pd.Series(False, index=raw.index)
    # narrowed column by column, as the first one rules out most rows; an empty cell is
    # compared in C (_blank), the others stripped: 1M ',,,,,,,,,' lines took 1.7 s stripping
    # every cell, 0.3 s so
    blank = np.full(len(raw), not raw.empty)
    for i in range(len(raw.columns)):
        rows = np.flatnonzero(blank)
        if not len(rows):
            break
        values = raw.iloc[:, i] if len(rows) == len(raw) else raw.iloc[rows, i]
        empty = _blank(values)
        if not empty.all():
            rest = ~empty
            empty[rest] = as_text(values[rest]).fillna("").str.strip().eq("").to_numpy(bool)
        blank[rows] = empty
    return pd.Series(blank, index=raw.index)


def every_cell(raw: pd.DataFrame, test: Callable[[pd.Series, str], pd.Series]) -> pd.Series:
    """Rows whose every cell passes ``test(text of the cells, column)`` (a missing cell is
    blank text); narrowed column by column, as the first one rules out most rows."""
    passed = pd.Series(not raw.empty and len(raw.columns) > 0, index=raw.index)
    for col in raw.columns:
        rows = passed[passed].index
        if rows.empty:
            break
        text = as_text(raw.loc[rows, col]).fillna("")
        passed[rows] = test(text, col).astype(bool)
    return passed


def quarantine_rows(raw: pd.DataFrame, mask: np.ndarray, reasons: pd.Series | str) -> pd.DataFrame:
    """The raw values of the masked rows as text, after their 1-based source row and reason
    (counted across a folder's files: ``features.source_files`` says the file when written);
    a file's own column called ``source_row``, ``reason`` or ``source_file`` is kept as
    ``source_row.1`` ..."""
    rows = raw.loc[mask].apply(raw_text)
    rows.columns = _beside(list(rows.columns), c.QUARANTINE_OWN)
    reason = reasons if isinstance(reasons, str) else reasons.to_numpy()
    rows.insert(0, c.REASON, pd.array(np.broadcast_to(reason, len(rows)), dtype="string"))
    rows.insert(0, c.SOURCE_ROW, rows.index.to_numpy(dtype="int64") + 1)
    return rows.reset_index(drop=True)


def _beside(names: list[str], ours: tuple[str, ...]) -> list[str]:
    """``names`` with a suffix where they would take one of ``ours`` or each other's name."""
    taken = set(ours)
    out = []
    for name in names:
        unique, n = name, 0
        while unique in taken:
            n += 1
            unique = f"{name}.{n}"
        taken.add(unique)
        out.append(unique)
    return out
