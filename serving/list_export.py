"""How a list is written to a file: CSV, Parquet, JSON or Excel, with its currency, its
windows and, where the format has room, its title and notes (``serving.lists`` makes it)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lifecycle import tasks
from serving.lists import ListError
from serving.segments import whole_days
from serving.units import Units

# The schema metadata key of a Parquet list's title, units and notes.
ABOUT_KEY = b"lifecycle.list"
# The column of a written list that says the seed its control flags were drawn with.
CONTROL_SEED_COLUMN = "control_seed"
# File formats a list is written in, by the suffix that picks them.
LIST_FORMATS = {".csv": "csv", ".parquet": "parquet", ".json": "json", ".xlsx": "xlsx"}


def list_format(out: Path, fmt: str | None = None) -> str:
    """The format of ``out``: ``fmt`` when given, else from its suffix; anything else is
    refused with the supported suffixes (a .xlsx of CSV text is worse than no file), and so
    is a ``fmt`` that another format's suffix contradicts (CSV text in a .parquet file)."""
    named = LIST_FORMATS.get(out.suffix.lower())
    if fmt in LIST_FORMATS.values() and named is not None and fmt != named:
        raise ListError(
            f"--format {fmt} contradicts --out {shlex.quote(str(out))} (a {out.suffix} file "
            f"holds {named}): name the file {out.stem}.{fmt} or drop --format",
            "fmt",
        )
    if fmt is not None and fmt in LIST_FORMATS.values():
        return fmt
    if fmt is None and out.suffix.lower() in LIST_FORMATS:
        return LIST_FORMATS[out.suffix.lower()]
    # the whole path as given (quoted when it has spaces): the name alone hid which file
    asked = f"--format {fmt}" if fmt is not None else f"--out {shlex.quote(str(out))}"
    what = f"a {out.suffix} file" if out.suffix else "a file without a suffix"
    what = "that format" if fmt is not None else what
    raise ListError(
        f"{asked}: cannot write {what}; supported: {', '.join(LIST_FORMATS)} "
        f"(or --format {'/'.join(LIST_FORMATS.values())})",
        "fmt" if fmt is not None else "out",
    )


def presentable(
    rows: pd.DataFrame,
    units: Units | None = None,
    as_of: str | None = None,
    control_seed: int | None = None,
) -> pd.DataFrame:
    """List rows as written for people: day counts in whole days, a part day counted as one
    (``serving.segments.whole_days``); with ``units``, a
    ``currency`` column, each listed score's window (``churn_window_days``) and revenue named
    ``purchases`` in a log without amounts (``Units.value_name``); with ``as_of``, the scores'
    date in an ``as_of`` column, which `campaign start --from-list` takes as its date; with
    ``control_seed``, the seed its control flags were drawn with (``CONTROL_SEED_COLUMN``),
    which that campaign records."""
    out = rows.copy()
    for column in out.columns:
        if ("days" in column.split("_")) and pd.api.types.is_float_dtype(out[column]):
            out[column] = whole_days(out[column]).astype("Int64")
    if units is not None:
        named = {k: units.value_name(k) for k in out.columns}
        out = out.rename(columns={k: v for k, v in named.items() if v != k and v not in out})
        if units.money:
            out["currency"] = units.currency
        for task in tasks.all_tasks():
            if task.name in units.horizon_days and any(o in out for o in task.outputs):
                out[f"{task.name}_window_days"] = units.horizon_days[task.name]
    if as_of and "as_of" not in out:
        out["as_of"] = str(as_of)
    if control_seed is not None and "control" in out and CONTROL_SEED_COLUMN not in out:
        out[CONTROL_SEED_COLUMN] = int(control_seed)
    return out


def export(
    rows: pd.DataFrame,
    out: Path,
    fmt: str | None = None,
    *,
    units: Units | None = None,
    title: str = "",
    notes: Sequence[str] = (),
    as_of: str | None = None,
    control_seed: int | None = None,
) -> Path:
    """Write a list as CSV, Parquet, JSON or Excel (from ``fmt`` or the suffix), atomically.

    Every format carries the currency, the windows and the scores' date ``as_of`` (columns
    from :func:`presentable`: a list started as a campaign after a newer scoring keeps its date);
    Excel and JSON also carry the title, the units in words and the ``notes`` (whom the list
    leaves out, ...), and Parquet in its metadata (``lifecycle.list``); a CSV is its rows."""
    from features.spreadsheet_cells import spreadsheet_safe
    from lifecycle.storage import atomic_file

    fmt = list_format(out, fmt)
    table = presentable(rows, units, as_of, control_seed)
    if fmt != "json" and "not_scored" in table:  # a cell of text, as the scores table holds it
        table["not_scored"] = [
            json.dumps(v, sort_keys=True) if isinstance(v, dict) else None
            for v in table["not_scored"]
        ]
    about = {"title": title, **(units.to_dict() if units else {}), "notes": list(notes)}
    with atomic_file(out) as staging:
        if fmt == "csv":
            # 12 significant digits: money to the penny up to 10^9, without float noise
            # (6 wrote 57120.91 as 57120.9 and 279489.02 as 279489)
            spreadsheet_safe(table).to_csv(staging, index=False, float_format="%.12g")
        elif fmt == "parquet":
            _write_parquet(table, staging, about)
        elif fmt == "json":
            records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
            staging.write_text(json.dumps({**about, "rows": records}, indent=2, default=str))
        else:
            _write_xlsx(table, staging, about, units, notes)
        staging.chmod(0o644)
    return out


def _write_parquet(table: pd.DataFrame, path: Path, about: dict[str, object]) -> None:
    """The rows, with what they mean under the schema metadata's ``lifecycle.list``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {**(arrow.schema.metadata or {}), ABOUT_KEY: json.dumps(about, default=str).encode()}
    pq.write_table(arrow.replace_schema_metadata(meta), path)


def _write_xlsx(
    table: pd.DataFrame,
    path: Path,
    about: dict[str, object],
    units: Units | None,
    said: Sequence[str] = (),
) -> None:
    """The rows on a "list" sheet, what they mean on an "about" sheet."""
    notes = [("title", about.get("title", ""))]
    if units is not None:
        notes += [("currency of money columns", units.currency)] if units.money else []
        notes += [(f"{task} window", text) for task, text in units.windows.items()]
    notes += [("note", text) for text in said]
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        table.to_excel(book, sheet_name="list", index=False)
        pd.DataFrame(notes, columns=["what", "value"]).to_excel(
            book, sheet_name="about", index=False
        )
        # openpyxl writes text that starts with '=' as a formula: a user id or channel '=1+1'
        # (or '=HYPERLINK(...)') was live in Excel, and read back as no id at all
        for cell in (c for sheet in book.book.worksheets for row in sheet.iter_rows() for c in row):
            cell.data_type = "s" if cell.data_type == "f" else cell.data_type
