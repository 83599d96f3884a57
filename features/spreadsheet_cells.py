"""Text cells a spreadsheet would run as formulas, quoted in the CSV files operators open
(written lists, ingest's quarantine files) and unquoted where those files are read back
(`campaign start --from-list`, `forget` finding a user's rows).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP's CSV injection list): a hostile id ``=HYPERLINK(...)`` in an
input file, kept as given, would run when the file is opened. Such a text cell is written
with one leading "'", which the spreadsheet shows as text and hides; text that already
starts with "'" before one of them gets one more, so that every cell reads back as it was.
A plain number (``-5``, ``+1.5e3``: a refund's amount in a quarantine file) is no formula
and stays as it is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only where a table is quoted: `forget` reads cells one by one
    import pandas as pd

FORMULA_START = re.compile(r"^'*[=+\-@\t\r]")
QUOTED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def quoted(cell: object) -> object:
    """``cell`` as written into a CSV a spreadsheet opens: a formula-like text quoted."""
    if isinstance(cell, str) and FORMULA_START.match(cell) and not PLAIN_NUMBER.match(cell):
        return f"'{cell}"
    return cell


def unquoted(cell: object) -> object:
    """A cell of such a CSV as it was before :func:`quoted`."""
    return cell[1:] if isinstance(cell, str) and QUOTED_FORMULA.match(cell) else cell


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each formula-like text cell quoted (:func:`quoted`); numbers stay."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    out = table.copy()
    for column in text_columns(out):
        cells = out[column]
        if not isinstance(cells.dtype, pd.StringDtype):
            out[column] = cells.map(quoted)
            continue
        # only a cell FORMULA_START matches can change: found in Arrow (RE2 reads the
        # pattern alike) in one pass, and those alone quoted; object cells, as map gives
        starts = pc.match_substring_regex(pa.array(cells), FORMULA_START.pattern)
        maybe = pc.fill_null(starts, False).to_numpy(zero_copy_only=False)
        out[column] = cells.astype(object)
        out.loc[maybe, column] = cells[maybe].map(quoted).astype(object)
    return out


def spreadsheet_text(table: pd.DataFrame) -> pd.DataFrame:
    """A table read from such a CSV, each text cell as it was (:func:`unquoted`)."""
    for column in text_columns(table):
        table[column] = table[column].map(unquoted)
    return table


def text_columns(table: pd.DataFrame) -> list[str]:
    import pandas as pd

    return [
        k
        for k in table.columns
        if pd.api.types.is_object_dtype(table[k]) or isinstance(table[k].dtype, pd.StringDtype)
    ]
