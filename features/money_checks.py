"""Whole-table checks of an events file's money, run in DuckDB over its staged good rows
(:func:`features.loading.stream_table`): one currency, no amount far beyond any order the
file has, and an append's amounts on the dataset's scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from features import contract as c
from features.amount_units import kinds_apart
from features.duckdb_memory import median as estimated_median
from features.source_files import SourceFiles
from features.table_checks import TableChecks
from features.validation import ContractError
from lifecycle.sql import identifier, literal

ABSURD_AMOUNT = "absurd_amount"  # quarantine reason
ABSURD_NOTE = "absurd_amounts"  # report note: {"column", "median", "ratio", "limit"}
# Beyond 2**53 cents a float64 holds no amount to the cent: no order, in any currency.
CENT_LIMIT = 2.0**53 / 100
# an append's median amount is compared with the dataset's from this many amounts in each
SHIFT_MIN_AMOUNTS = 20
# Below the least normal float64 a number is held only roughly (1e-320 reads 9.99989e-321):
# no amount, a damaged cell
SUBNORMAL = float(np.finfo(np.float64).tiny)


def absurd_amounts(
    con: Any,
    staged: str,
    row: str,
    ratio: float,
    checks: TableChecks,
    stored: Path | None = None,
) -> np.ndarray:
    """Source rows (sorted, none already held back) whose amount (kept negative: its size) is
    more than ``ratio`` times the median of the positive amounts (``ratio`` 0: not judged so),
    or beyond what a number holds to the cent (1e15): a typo or a test row, which would dwarf
    every revenue, LTV and value at risk; or not zero but below any float64 held exactly
    (``SUBNORMAL``: 1e-320). The median is the file's, or with ``stored`` (the
    events of the dataset an append adds to) the dataset's with the file's: a few huge rows
    appended, or a file of nothing else, are their own median. They are added to the
    ``held_back`` table; the limit is noted."""
    amount = identifier(c.AMOUNT)
    loaded = f"{row} NOT IN (SELECT source_row FROM held_back)"
    normal = f"{amount} >= {SUBNORMAL!r}"  # above 0, a subnormal aside: no order's amount
    positive = f"SELECT {amount} AS amount FROM {staged} WHERE {normal} AND {loaded}"
    if stored is not None:
        import pyarrow.parquet as pq

        try:
            if c.AMOUNT not in pq.read_schema(stored).names:
                stored = None
        except (OSError, ValueError):  # damaged: the merge that follows names it in one line
            stored = None
    if stored is not None:
        positive += (
            f" UNION ALL SELECT {amount} FROM read_parquet({literal(stored)}) WHERE {normal}"
        )
    ((count,),) = con.execute(f"SELECT count(*) FROM ({positive})").fetchall()
    median = estimated_median(con, "amount", f"({positive})", count)
    limit = min(CENT_LIMIT, ratio * median) if ratio and median else CENT_LIMIT
    tiny = f"{amount} <> 0 AND abs({amount}) < {SUBNORMAL!r}"
    found, small = con.execute(
        f"SELECT list({row} ORDER BY {row}), count(*) FILTER ({tiny}) FROM {staged} "
        f"WHERE (abs({amount}) > {limit!r} OR ({tiny})) AND {loaded}"
    ).fetchall()[0]
    found = np.array(found or [], dtype=np.int64)
    if len(found):
        con.execute(
            f"INSERT INTO held_back SELECT {row} FROM {staged} WHERE (abs({amount}) > "
            f"{limit!r} OR ({tiny})) AND {loaded}"
        )
        column = checks.named.get(c.AMOUNT, c.AMOUNT)
        checks.notes[ABSURD_NOTE] = {
            "column": column,
            "median": median,
            "ratio": ratio if limit < CENT_LIMIT else None,
            "limit": limit,
            "median_of": "dataset" if stored is not None else "file",
        } | ({"subnormal": {"rows": int(small), "below": SUBNORMAL}} if small else {})
    return found


def refuse_amount_shift(
    con: Any, staged: str, row: str, stored: Path, limit: float, checks: TableChecks, source: str
) -> None:
    """Refuse an append whose amounts are on another scale than the dataset's: the median of
    its positive amounts (the rows not held back) more than ``limit`` times the median of the
    dataset's (``stored``: its events), or less than its ``1 / limit`` share, each of at least
    ``SHIFT_MIN_AMOUNTS`` amounts. A month exported in cents or another currency (every price
    x100) has no row absurd beside its own file's median, and once appended it would make
    every revenue, LTV and value at risk of its customers wrong. ``limit`` 0: not compared."""
    import pyarrow.parquet as pq

    try:
        if not limit or c.AMOUNT not in pq.read_schema(stored).names:
            return
    except (OSError, ValueError):  # damaged: the merge that follows names it in one line
        return
    amount = identifier(c.AMOUNT)
    positive = f"{amount} >= {SUBNORMAL!r}"
    files = f"{staged} WHERE {positive} AND {row} NOT IN (SELECT source_row FROM held_back)"
    held = f"read_parquet({literal(stored)}) WHERE {positive}"
    ((file_count,),) = con.execute(f"SELECT count(*) FROM {files}").fetchall()
    ((held_count,),) = con.execute(f"SELECT count(*) FROM {held}").fetchall()
    if min(file_count, held_count) < SHIFT_MIN_AMOUNTS:
        return
    file_median = estimated_median(con, amount, files, file_count)
    held_median = estimated_median(con, amount, held, held_count)
    ratio = float(file_median) / float(held_median)
    if 1 / limit <= ratio <= limit:
        return
    column = checks.named.get(c.AMOUNT, c.AMOUNT)
    said = (
        f"{source}: the median of its {file_count:,} amounts ('{column}') is "
        f"{float(file_median):,.2f}, {ratio:.3g} times the dataset's {float(held_median):,.2f} "
        f"(of its {held_count:,} amounts): "
    )
    setting = (
        f"(settings ingest.max_amount_shift, {limit:g}: the ratio beyond which an append is "
        "refused)"
    )
    if kinds := kinds_apart(stored, checks.notes):  # not another unit: another kind
        raise ContractError(
            f"{said}the dataset's amounts are {kinds[0]}, this file's {kinds[1]}. Nothing was "
            "appended; ingest the file as a dataset of its own (--dataset NAME), or append it "
            "read as the dataset's files were; LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT=0 would sum "
            f"the two kinds into one LTV {setting}"
        )
    raise ContractError(
        f"{said}another unit or currency (cents, a currency mistake)? Nothing was appended; "
        "correct the file, or if its amounts are right, append it with "
        f"LIFECYCLE_INGEST__MAX_AMOUNT_SHIFT=0 {setting}"
    )


def refuse_currencies(
    con: Any, staged: str, row: str, names: list[str], source: str, read_as: dict[str, str]
) -> None:
    """Refuse events whose purchases and refunds are in more than one currency (the contract's
    column, or one named so: 'Currency', 'currency_code'): their amounts would be summed as
    one money in every revenue, LTV and value at risk. ``read_as``: contract -> file column;
    a ``row`` of 0 is a row of the dataset a file is appended to."""
    column = c.currency_column(names)
    if column is None:
        return
    code = f"upper(trim(CAST({identifier(column)} AS VARCHAR)))"
    monetary = ", ".join(literal(t) for t in c.MONETARY_EVENT_TYPES)
    found = con.execute(
        f"SELECT {code} AS code, min({row}) AS first FROM {staged} "
        f"WHERE {identifier(c.EVENT_TYPE)} IN ({monetary}) AND {code} <> '' "
        "GROUP BY code ORDER BY first"
    ).fetchall()
    if len(found) > 1:
        files = SourceFiles.of(source)
        named = ", ".join(
            f"{code} in the dataset" if first == 0 else f"{code} from {files.where(first)}"
            for code, first in found[:4]
        )
        more = f" and {len(found) - 4:,} more" if len(found) > 4 else ""
        raise ContractError(
            f"{source}: column '{read_as.get(column, column)}' holds amounts in {len(found):,} currencies ({named}"
            f"{more}); summed as one they would make every revenue, LTV and value at risk "
            "wrong: ingest each currency as a dataset of its own (a file per currency)"
        )
