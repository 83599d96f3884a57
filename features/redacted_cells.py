"""Cells ``[forgotten]`` outside the user id column of a dataset's tables, told by
``lifecycle datasets check``.

``lifecycle forget`` redacts a user's id where another row's text mentions it
(``features.scrub``): a ``note`` of ``gift from 00004`` becomes ``gift from [forgotten]``, as
documented. Before 2026-12-07 it did so for an id that was no user too (``forget 3`` of ids
``00001``..): every cell ``3`` of a column kept as text, CDNOW's ``quantity``, became
``[forgotten]``, in the dataset and its older versions, with nothing in the erasure log. The
workspace cannot tell which value such a cell held; the source file can: ingesting it again
restores the values, and later ingests keep the erased users out (``features.erasure_log``).

A column whose other values are all numbers (or that the dataset's report names as codes) held
a count or a code there, not a mention of someone: damage. A text column's cells may be either
(a mention of an erased user, or of an id that was no user): counted, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features import contract as c
from features.erasure_holders import older_versions
from features.scrub import REDACTED

NUMBER = r"^\s*[-+]?(\d[\d,]*(\.\d*)?|\.\d+)\s*$"  # a count, an amount, a numeric code


@dataclass
class Redacted:
    """Per ``<table>.<column>``: cells holding ``[forgotten]``, and whether the column's other
    values are all numbers or codes (so those cells held one)."""

    cells: dict[str, int] = field(default_factory=dict)
    numbers: set[str] = field(default_factory=set)

    def damaged(self) -> dict[str, int]:
        return {col: n for col, n in self.cells.items() if col in self.numbers}


def redacted_cells(folder: Path, codes: tuple[str, ...] = ()) -> Redacted:
    """The ``[forgotten]`` cells of a dataset version's Parquet tables (``folder``), read in
    batches: every text column but the user id's."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    found = Redacted()
    for path in sorted(folder.glob("*.parquet")):
        table = pq.ParquetFile(path)
        texts = [
            f.name
            for f in table.schema_arrow
            if f.name != c.USER_ID
            and (pa.types.is_string(_values(f.type)) or pa.types.is_large_string(_values(f.type)))
        ]
        other = dict.fromkeys(texts, True)  # every other value a number so far
        cells = dict.fromkeys(texts, 0)
        for batch in table.iter_batches(columns=texts) if texts else ():
            for name, column in zip(texts, batch.columns, strict=True):
                if isinstance(column, pa.DictionaryArray):
                    column = column.dictionary_decode()
                hits = pc.fill_null(pc.match_substring(column, REDACTED), False)
                cells[name] += int(pc.sum(hits).as_py() or 0)
                if other[name]:
                    rest = pc.drop_null(column.filter(pc.invert(hits)))
                    rest = rest.filter(pc.not_equal(pc.utf8_trim_whitespace(rest), ""))
                    other[name] = bool(pc.all(pc.match_substring_regex(rest, NUMBER)).as_py())
        for name, count in cells.items():
            if count:
                where = f"{path.stem}.{name}"
                found.cells[where] = count
                if other[name] or name in codes:
                    found.numbers.add(where)
    return found


def _values(kind: Any) -> Any:
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def check_dataset(folder: Path, name: str) -> dict[str, Any]:
    """What ``lifecycle datasets check`` says of one dataset: its current version's
    ``[forgotten]`` cells, its older versions', and the sources to ingest again."""
    from features.batches import batches
    from features.scrub import recorded_columns
    from lifecycle.dataset_kind import read_report

    report = read_report(folder) or {}
    codes = tuple(recorded_columns(folder)(folder / "events.parquet")["codes"])
    now = redacted_cells(folder, codes)
    older: dict[str, int] = {}
    for old in older_versions(folder, name):
        for col, n in redacted_cells(old, codes).damaged().items():
            older[col] = older.get(col, 0) + n
    sources = [b["source"] for b in batches(report) if b.get("source")]
    return {
        "name": name,
        "redacted": now.cells,
        "damaged": now.damaged(),
        "damaged_in_older_versions": older,
        "sources": [{"path": s, "on_disk": Path(s).is_file()} for s in sources],
    }


def check_lines(found: dict[str, Any]) -> list[str]:
    """The summary of :func:`check_dataset`."""
    name, damaged, older = found["name"], found["damaged"], found["damaged_in_older_versions"]
    text = {col: n for col, n in found["redacted"].items() if col not in damaged}
    if not damaged and not older:
        said = f"dataset '{name}': no cell damaged by an erasure"
        if text:
            cells = ", ".join(f"{col} {n:,}" for col, n in text.items())
            said += f" ({REDACTED} in text, mentions `forget` redacted: {cells})"
        return [said]
    lines = [f"dataset '{name}': cells DAMAGED by an erasure, {REDACTED} in place of a value"]
    for col, n in damaged.items():
        lines.append(
            f"  {col}: {n:,} cell{'s' * (n != 1)}, its other values numbers or codes: a value "
            "a `forget` before 2026-12-07 took for an id that was no user (it redacted those "
            "too); the workspace cannot tell what it was"
        )
    for col, n in older.items():
        lines.append(f"  {col}: {n:,} in older versions (`datasets restore` brings them back)")
    for col, n in text.items():
        lines.append(
            f"  {col}: {n:,} in text: mentions `forget` redacted (of an erased user, or by such "
            "a `forget`, of an id that was no user: not told apart)"
        )
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
