"""Reading an Excel workbook (.xlsx, .xlsm) as ingest reads a CSV: each cell as the text a
CSV of the sheet holds, in frames of bounded size, so one set of rules (ids, times, amounts,
the quarantine) reads both.

A cell's text: a number as Excel's General format writes it (17850, never 17850.0; 2.55), with
the currency sign or ISO code of its number format (``"£"#,##0.00``, ``[$£-809]#,##0.00``,
``#,##0.00 [$EUR]``: ``£139.12``, ``-£31.8``, ``EUR 12.5``) as a CSV of the sheet writes it,
so its amounts' currency is read as a CSV's (:mod:`features.currency`), a date cell as ``2010-12-01 08:26:00`` (to the millisecond, Excel's precision), a date alone as
``2010-12-01``, a time of day as ``08:26:00``, TRUE/FALSE, an error as shown (``#N/A``), a
formula its value as last calculated (a workbook saved by a program that calculates none is
refused naming the cell), a blank cell empty. The header is the first of the sheet's first
:data:`HEADER_SCAN_ROWS` rows that fills as many cells as most of them do (title rows above
it fill fewer); a row under it fills columns the header names, and one that fills a column past
them is quarantined as ``extra_fields``, as a CSV row is. A workbook of one sheet, or of one
visible sheet with cells among blank or hidden ones, is read; of several, ``--sheet NAME``
chooses one. A sheet's size is its cells', not its ``<dimension>`` (other writers leave it out
or wrong); a 1904 date-system workbook marks its frames (:data:`DATE_SYSTEM`); an .xlsb is
refused in one line.

openpyxl's read-only mode streams a sheet's rows in bounded memory (online_retail's 541,909
rows: 52 s and 87 MB to read alone, against python-calamine's 5.5 s and 383 MB, which loads a
whole sheet at once and is no dependency).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.csv_lines import ZIP_MAGIC, starts_with
from features.currency import SIGNS
from features.currency_words import ISO_CODES
from features.hints import option_hint
from features.quarantine import RAGGED_ROWS
from features.read_words import EXTRA_FIELDS
from features.validation import ContractError

XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Excel's binary workbook (a zip of xl/workbook.bin): no reader here (openpyxl reads XML)
XLSB = "an Excel binary workbook (.xlsb): save it as .xlsx (Excel Workbook) or the sheet as CSV"
HEADER_SCAN_ROWS = 50  # the rows a header is looked for in (title rows above it)
# attrs key of a sheet's first frame: (sheet name, Excel row of the header)
SHEET_HEADER = "sheet_header"
# attrs key of every frame of a workbook of the 1904 date system (its serials count from
# 1904-01-01: features.serial_dates reads a number column of it so)
DATE_SYSTEM = "date_system"
# a formula cell (<f>) closed without a value (<v>): its value was never calculated
_UNCALCULATED = re.compile(
    rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*>\s*<f\b[^>]*(?:/>|>[^<]*</f>)\s*'
    rb"(?:<v\s*/>|<v>\s*</v>)?\s*</c>"
)


def xlsx_chunks(
    path: Path, chunk_rows: int, csv: Any = None, head: bool = False
) -> Iterator[pd.DataFrame]:
    """The chosen sheet's rows under its header as text (see the module), ``chunk_rows`` at a
    time; the first frame's attrs name the sheet and the header's Excel row. ``csv``: the
    file's ``features.csv_format.CsvFormat``, its sheet (``--sheet``, a users file's
    ``--users-sheet``); ``head``: its first rows alone are read (a refusal from the header),
    so its formulas without a value are left to the full read, which scans the whole sheet."""
    import openpyxl

    if _binary(path):
        raise ContractError(f"{path}: {XLSB}")
    handle = path.open("rb")  # a file, not its name: openpyxl refuses one named .csv
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        handle.close()
        raise ContractError(f"{path}: cannot be read as an Excel workbook: {error}") from None
    for worksheet in workbook.worksheets:  # see _chosen_sheet
        worksheet.reset_dimensions()
    try:
        option = csv.option("sheet") if csv is not None else "--sheet"
        name = _chosen_sheet(path, workbook, csv.sheet if csv is not None else None, option)
        if not head:
            _refuse_uncalculated(path, workbook[name], name)
        rows = workbook[name].iter_rows()  # cells: their number formats (currency signs)
        head = [_texts(row) for row in _first(rows, HEADER_SCAN_ROWS)]
        filled = [sum(cell != "" for cell in row) for row in head]
        if not head or max(filled) == 0:
            raise pd.errors.EmptyDataError(f"sheet '{name}' is empty")
        # the data's width: the count of cells most of its first rows fill (the larger of two)
        counts = Counter(n for n in filled if n)
        width = max(counts, key=lambda n: (counts[n], n))
        at = next(i for i, n in enumerate(filled) if n >= width)
        first = next(i for i, cell in enumerate(head[at]) if cell != "")
        last = max(i for i, cell in enumerate(head[at]) if cell != "")
        columns = head[at][first : last + 1]
        data = (_texts(row) for row in rows)
        body = (row for rows_ in (head[at + 1 :], data) for row in rows_)
        system = {DATE_SYSTEM: 1904} if workbook.epoch.year == 1904 else {}
        attrs = {SHEET_HEADER: (name, at + 1), **system}
        batch: list[list[str]] = []
        ragged: dict[int, str] = {}
        for row in body:  # blank rows under the data: features.blank_tail skips them
            cells = row[first : last + 1]
            if any(cell != "" for cell in row[:first]) or any(
                cell != "" for cell in row[last + 1 :]
            ):
                ragged[len(batch)] = EXTRA_FIELDS
            batch.append(cells + [""] * (len(columns) - len(cells)))
            if len(batch) == chunk_rows:
                yield _frame(batch, columns, ragged, attrs)
                batch, ragged, attrs = [], {}, dict(system)
        if batch or SHEET_HEADER in attrs:
            yield _frame(batch, columns, ragged, attrs)
    finally:
        workbook.close()
        handle.close()


def is_workbook(path: Path) -> bool:
    """Whether ``path`` is an Excel workbook: named .xlsx or .xlsm (or .xlsb, refused), or a
    zip archive holding ``xl/workbook.xml`` (``.bin``) under another name (orders.csv)."""
    if path.name.lower().endswith((*XLSX_SUFFIXES, ".xlsb")):
        return True
    return _workbook_part(path) is not None


def _binary(path: Path) -> bool:
    return path.name.lower().endswith(".xlsb") or _workbook_part(path) == "xl/workbook.bin"


def _workbook_part(path: Path) -> str | None:
    """The workbook part of a zip archive, ``xl/workbook.xml`` or ``.bin``, or None."""
    if not starts_with(path, ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return None
    return next((n for n in ("xl/workbook.xml", "xl/workbook.bin") if n in names), None)


def _chosen_sheet(path: Path, workbook: Any, sheet: str | None, option: str) -> str:
    """``sheet`` if given, else the workbook's one sheet, or its one visible sheet with cells:
    a hidden sheet (a lookup table beside the data) is not chosen unless named; a chart sheet
    has no cells. Sizes are read from the cells, not the sheet's ``<dimension>``, which other
    writers leave out or set wrong (A1:A1 over 1,000 rows read one cell)."""
    names = list(workbook.sheetnames)
    cells = [s.title for s in workbook.worksheets]
    hidden = [n for n in cells if workbook[n].sheet_state != "visible"]
    shown = ", ".join(f"'{n}'" + (" (hidden)" if n in hidden else "") for n in names)
    if sheet is not None:
        if sheet not in cells:
            what = (
                f"sheet '{sheet}' is a chart, no cells"
                if sheet in names
                else f"has no sheet '{sheet}' ({option})"
            )
            raise ContractError(f"{path}: {what}; its sheets: {shown}")
        return sheet
    if names == cells and len(names) == 1:
        return names[0]
    with_cells = [
        n
        for n in cells
        if n not in hidden and any(_texts(row) for row in _first(workbook[n].iter_rows(), 50))
    ]
    if len(with_cells) == 1:
        return with_cells[0]
    hint = option_hint(
        f"name the one to read with {option} NAME (e.g. {option} '{(with_cells or cells)[0]}')",
        "save the sheet to read as a workbook of its own, or as CSV",
    )
    raise ContractError(
        f"{path}: a workbook of {len(names)} sheets ({shown}), {len(with_cells)} of them "
        f"{'visible ' if hidden else ''}with cells; {hint}"
    )


def _refuse_uncalculated(path: Path, worksheet: Any, name: str) -> None:
    """A formula cell the workbook holds no value for (a program that writes formulas but
    calculates none, e.g. a script's openpyxl): refused naming it, as its value is unknown."""
    archive = worksheet.parent._archive
    member = worksheet._worksheet_path
    tail = b""
    with archive.open(member) as source:
        while piece := source.read(1 << 22):
            text = tail + piece
            if b"<f" in text and (found := _UNCALCULATED.search(text)):
                raise ContractError(
                    f"{path}: sheet '{name}', cell {found.group(1).decode()} holds a formula "
                    "whose value the workbook does not hold (it was saved by a program that "
                    "does not calculate): open it in Excel or LibreOffice and save it again, or "
                    "save the sheet as CSV"
                )
            tail = text[-4096:]


def _first(rows: Iterator[Any], count: int) -> list[Any]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) == count:
            break
    return out


def _texts(row: tuple[Any, ...]) -> list[str]:
    """A row's cells (openpyxl's read-only cells) as text, its blank cells at the end dropped."""
    cells = [_cell_text(cell) for cell in row]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


# a number format's parts that may be a currency mark: [$£-809] (Excel's locale currency),
# "£" (a quoted literal), \£ (an escaped one), a bare sign; [Red], [h], _x (a space the width
# of x) and *x (x repeated to fill) are none
_FORMAT_PART = re.compile(
    r'\[\$(?P<locale>[^\]-]*)[^\]]*\]|\[[^\]]*\]|"(?P<quoted>[^"]*)"|\\(?P<escaped>.)|[_*].'
    r"|(?P<bare>[£€¥₹₩₽₺₪₫₱₴$])"
)


@functools.lru_cache(maxsize=256)  # a sheet has a few formats, read on every number cell
def format_mark(number_format: str | None, negative: bool = False) -> str | None:
    """The currency sign or ISO code an Excel number format writes beside a number (``£``
    of ``"£"#,##0.00``, ``EUR`` of ``#,##0.00 [$EUR]``), of the section a value of its sign
    is shown by (positive;negative;zero); None when it writes none, or several."""
    if not number_format or number_format == "General":
        return None
    sections = number_format.split(";")
    section = sections[1] if negative and len(sections) > 1 else sections[0]
    parts = (
        (found.group("locale") or found.group("quoted") or found.group("escaped") or "")
        + (found.group("bare") or "")
        for found in _FORMAT_PART.finditer(section)
    )
    marks = {text for text in map(str.strip, parts) if text in SIGNS or text.upper() in ISO_CODES}
    return marks.pop() if len(marks) == 1 else None


def _cell_text(cell: Any) -> str:
    """A cell as the text a CSV of the sheet holds: its value's (:func:`_text`), a number with
    its format's currency mark (:func:`format_mark`)."""
    value = getattr(cell, "value", None)
    text = _text(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (mark := format_mark(getattr(cell, "number_format", None), value < 0)):
        sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
        return f"{sign}{mark} {digits}" if mark.isalpha() else f"{sign}{mark}{digits}"
    return text


def _text(value: Any) -> str:
    """One cell as the text a CSV of the sheet holds (see the module)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel's General: a whole number without '.0' (ids, quantities); others as written
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime):
        shown = value.strftime("%Y-%m-%d %H:%M:%S")
        return shown + (f".{value.microsecond // 1000:03d}" if value.microsecond else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return str(value)


def _frame(
    batch: list[list[str]], columns: list[str], ragged: dict[int, str], attrs: dict[str, Any]
) -> pd.DataFrame:
    import pyarrow as pa

    table = pa.table(
        {str(i): pa.array([row[i] for row in batch], pa.string()) for i in range(len(columns))}
    )
    frame = table.to_pandas()
    frame.columns = columns
    if ragged:
        frame.attrs[RAGGED_ROWS] = ragged
    frame.attrs.update(attrs)
    return frame
