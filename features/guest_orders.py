"""Rows quarantined for having no user id (``missing_user_id``): a shop's guest orders. No
user's scores can use them, yet they are part of the shop's sales, so an ingest records how
many there were and their amount (``notes["rows_without_user"]``, also kept with the batch),
and the summary, `segments` and the report say that they are in no customer's numbers
(trial 114: 3,710 guest orders, 14.9% of a shop's revenue, gone unsaid)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.parquet_reading import partition_columns
from features.read_words import NO_USER_NOTE, without_user_words
from lifecycle.workspace import EVENTS_FILE

NO_USER = f"missing_{c.USER_ID}"  # the quarantine reason


GUEST_ROWS = "guest_rows.parquet"  # in a dataset folder: each guest row once, over its files
UNKEYED = "lifecycle.unkeyed"  # its schema metadata: the columns that key none of its rows
# ... and "canonical" when its rows are keyed alike by every route (:func:`_row_keys`)
KEYED_BY = "lifecycle.guest_key"
# its columns: row (:func:`_row_keys`), CONTRACT_ROW, CONTRACT_ONLY, order (a hash), amount, sign
CONTRACT_ROW = "contract_row"  # a hash of a row's contract fields alone
# a row kept before rows were keyed by their other columns too (its ``row`` is a hash of its
# contract fields alone): a file without these columns holds only such rows
CONTRACT_ONLY = "contract_only"


class RowsWithoutUser:
    """Collects, chunk by chunk, the rows of an events file quarantined for no user id: a hash
    of each row's contract values (exact repeats, a re-sent order, count once, in this file
    and beside the dataset's earlier files: :func:`keep_guest_rows`), of its order id, and its
    amount signed (a refund takes away)."""

    def __init__(self, unkeyed: frozenset[str] = frozenset(), canonical: bool = True) -> None:
        self._rows: list[pd.DataFrame] = []  # :data:`GUEST_ROWS`' columns
        self._unkeyed = unkeyed  # columns that key no row (:func:`unkeyed_columns`)
        self._canonical = canonical  # the rule of keys (:func:`keyed_canonically`)
        self._with_orders = False
        self._times: list[pd.Timestamp] = []  # each chunk's first and last
        self._where: list[pd.DataFrame] = []  # each row's source row and time, as _rows

    def add(self, frame: pd.DataFrame, reason: pd.Series) -> None:
        """The rows of a checked chunk (``frame``, contract columns) whose reason is none."""
        mask = (reason == NO_USER).fillna(False).to_numpy(dtype=bool)
        if not mask.any():
            return
        rows = frame.loc[mask, sorted(n for n in frame.columns if n != c.USER_ID)]
        kind = rows.get(c.EVENT_TYPE, pd.Series(pd.NA, index=rows.index)).astype("string")
        order = pd.array([pd.NA] * len(rows), dtype="UInt64")
        if c.ORDER_ID in rows:
            self._with_orders = True
            ids = rows[c.ORDER_ID].astype("string")
            hashed = pd.util.hash_pandas_object(ids, index=False).to_numpy()
            order = pd.array(hashed, dtype="UInt64")
            order[ids.isna().to_numpy()] = pd.NA
        amount = rows.get(c.AMOUNT, pd.Series(np.nan, index=rows.index)).astype(float)
        row, contract_row = _row_keys(rows, self._unkeyed, self._canonical)
        self._rows.append(
            pd.DataFrame(
                {
                    "row": row,
                    CONTRACT_ROW: contract_row,
                    CONTRACT_ONLY: False,
                    "order": order,
                    "amount": amount.to_numpy(),
                    "sign": np.select([kind == c.PURCHASE, kind == c.REFUND], [1.0, -1.0], 0.0),
                }
            )
        )
        moment = rows.get(c.EVENT_TIME, pd.Series(pd.NaT, index=rows.index))
        self._where.append(
            pd.DataFrame(
                {"source_row": rows.index.to_numpy() + 1, "moment": moment.reset_index(drop=True)}
            )
        )
        if c.EVENT_TIME in rows:
            self._times += [
                t for t in (rows[c.EVENT_TIME].min(), rows[c.EVENT_TIME].max()) if pd.notna(t)
            ]

    def totals_on_lines(self, by_order: bool) -> np.ndarray:
        """The source rows of guest orders' later lines that repeat their first line's amount
        (an order's total written on each line, ``features.line_items.repeated_totals``), by
        the order id, else the moment (a guest has no customer to tell orders apart): taken
        out of these rows, so each such order counts once, on its first line."""
        if not self._rows:
            return np.array([], dtype=np.int64)
        rows = pd.concat(self._rows, ignore_index=True)
        where = pd.concat(self._where, ignore_index=True)
        key = rows["order"] if by_order else where["moment"]
        kept = (rows["sign"] > 0).to_numpy() & rows["amount"].notna().to_numpy()
        kept &= key.notna().to_numpy()
        groups = pd.DataFrame({"key": key, "amount": rows["amount"]})[kept]
        grouped = groups.groupby("key", sort=False)["amount"]
        alike = (grouped.transform("nunique") == 1) & (grouped.transform("size") > 1)
        later = alike & groups.groupby("key", sort=False).cumcount().gt(0)
        out = np.zeros(len(rows), dtype=bool)
        out[np.flatnonzero(kept)[later.to_numpy()]] = True
        self._rows = [rows[~out].reset_index(drop=True)]
        self._where = [where[~out].reset_index(drop=True)]
        return np.sort(where.loc[out, "source_row"].to_numpy(dtype=np.int64))

    def note(self) -> dict[str, Any]:
        """``{NO_USER_NOTE: {...}}``, or nothing when no row lacked a user id: ``rows``,
        ``repeats`` (exact repeats among them), ``orders`` (distinct order ids of purchase
        rows, with an order id column), ``purchases`` and ``refunds`` (amounts of the rows once
        each), ``first`` and ``last``: the days of their first and last event."""
        if not self._rows:
            return {}
        rows = pd.concat(self._rows, ignore_index=True)
        said = {"rows": len(rows), **_counted(rows.drop_duplicates("row"), len(rows))}
        if not self._with_orders:
            said.pop("orders")
        if self._times:
            said["first"], said["last"] = (
                f"{t:%Y-%m-%d}" for t in (min(self._times), max(self._times))
            )
        return {NO_USER_NOTE: said}

    def write(self, path: Path) -> None:
        """Each row once (its keys, amount and sign), for :func:`keep_guest_rows`, with the
        columns that keyed none; no file when no row lacked a user id."""
        if self._rows:
            rows = pd.concat(self._rows, ignore_index=True).drop_duplicates("row")
            write_guest_rows(rows, path, self._unkeyed, self._canonical)


def write_guest_rows(
    rows: pd.DataFrame, path: Path, unkeyed: frozenset[str] | None, canonical: bool
) -> None:
    """:data:`GUEST_ROWS` with the columns that key none of its rows (:data:`UNKEYED`; None:
    not known, a dataset's kept before they were recorded) and its rule of keys
    (:data:`KEYED_BY`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, preserve_index=False)
    if unkeyed is not None:
        said = {UNKEYED: json.dumps(sorted(unkeyed))}
        said |= {KEYED_BY: "canonical"} if canonical else {}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **said})
    pq.write_table(table, path)


def unkeyed_columns(source: Path, dataset_events: Path | None = None) -> frozenset[str]:
    """The columns besides ``_``-prefixed ones that key no guest row of ``source`` (an
    events file, ``dataset_events``: the events of the dataset it is appended to). One rule
    a dataset: the one its kept guest rows were keyed by (the partition columns of a folder
    that began them), and of ``source``'s partition columns those the dataset never held (as
    a file lacking them). So a folder (``dt=2011-01-01/``) and a file of the same rows with
    ``dt`` as a column key alike whichever came first: ``dt`` keys no row of either after the
    folder, and every row of both after the file. Without kept guest rows (or kept before
    the rule was recorded): ``source``'s partition columns."""
    import pyarrow.parquet as pq

    own = partition_columns(source)
    kept = dataset_events.parent / GUEST_ROWS if dataset_events is not None else None
    if kept is None or not kept.is_file():
        return own
    if (recorded := _recorded_unkeyed(kept)) is None:
        return own
    return recorded | (own - set(pq.read_schema(dataset_events).names))


def keyed_canonically(dataset_events: Path | None) -> bool:
    """Whether the guest rows of a file for ``dataset_events`` (None: a new dataset's) are
    keyed alike whichever route sent them (:func:`_row_keys`): yes but for a dataset whose
    rows were kept before that rule (:data:`KEYED_BY` unrecorded), which keeps its own."""
    kept = dataset_events.parent / GUEST_ROWS if dataset_events is not None else None
    return kept is None or not kept.is_file() or _canonical(kept)


def _canonical(kept: Path) -> bool:
    import pyarrow.parquet as pq

    return (pq.read_schema(kept).metadata or {}).get(KEYED_BY.encode()) == b"canonical"


# the values that key a guest row: a field a file lacks is missing in it, as an empty one is
# (an append into a dataset without a currency carries an empty currency column)
_KEYED = tuple(n for n in c.EVENT_FIELDS if n != c.USER_ID)
# a number written with a point: compared by its shortest text (8.0 is 8, 15.30 is 15.3)
_POINT_NUMBER = r"^-?[0-9]+\.[0-9]*$"
_NUMBER = r"^-[0-9]+(\.[0-9]*)?$"  # a negative one (after the above)
# the columns `import online-retail` stores as magnitudes (a refund's quantity 6 of the file's
# -6: features.adapters), by their snake-case name: keyed so, others keep their sign
UNSIGNED = frozenset({"quantity"})


def unsigned(column: str) -> bool:
    """Whether a column is compared by its magnitude (:data:`UNSIGNED`): ``Quantity`` too."""
    return c.snake_case(column) in UNSIGNED


def _row_keys(
    rows: pd.DataFrame, unkeyed: frozenset[str] = frozenset(), canonical: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each row's values, the same in every file: its row key, of the contract's
    fields (times to the microsecond, text as text, a field the file lacks as an empty one)
    and the file's other columns (an invoice line's product: two lines of one guest order at
    one moment with one amount are two rows), each by its name and the number or text it
    writes, an empty one as a column the file lacks; and its key of the contract's fields
    alone (:data:`CONTRACT_ROW`). Columns that change between exports of the same rows key
    no row: ``unkeyed`` (a partitioned folder's ``dt=2011-01-01``, which a single file of the
    same rows lacks or holds as a column: :func:`unkeyed_columns`) and a name starting with
    ``_`` (an export's bookkeeping, ``_loaded_at``, ``_fivetran_synced``).

    ``canonical`` (every dataset's since session 41; one kept before keeps its rule): a row
    keyed alike by `import` and `ingest`, whose columns and values differ for the same line
    (online_retail's ``stock_code`` and ``StockCode``, quantity 6 of a refund and -6): other
    columns by their name in snake case, a quantity by its magnitude (the event type says
    a refund: :data:`UNSIGNED`), and no currency (a dataset holds one; the import states GBP,
    a file none)."""
    keyed = pd.DataFrame(index=rows.index)
    for name in _KEYED:
        if name not in rows:
            keyed[name] = pd.Series(pd.NA, index=rows.index, dtype="string")
        elif pd.api.types.is_datetime64_any_dtype(rows[name]):
            keyed[name] = rows[name].dt.as_unit("us")
        elif name == c.AMOUNT:
            keyed[name] = rows[name].astype(float)
        else:
            keyed[name] = rows[name].astype("string")
    contract_row = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    if canonical:
        keyed = keyed.drop(columns=c.CURRENCY)
    keyed["\x1e"] = _other_columns(rows, unkeyed, canonical)  # a name no column has
    return pd.util.hash_pandas_object(keyed, index=False).to_numpy(), contract_row


def _other_columns(rows: pd.DataFrame, unkeyed: frozenset[str], canonical: bool) -> pd.Series:
    """Each row's other columns as one text (:func:`_row_keys`): ``name\x1ftext\x1e`` of
    each filled one, its text stripped, ``6.50`` as ``6.5``. Built in Arrow, one pass per
    step (cell by cell it was most of an import's guest rows' time); Arrow strips Python's
    whitespace, and the patterns are ASCII classes and anchors, read alike by RE2."""
    import pyarrow as pa
    import pyarrow.compute as pc

    others = pa.array([""] * len(rows), type=pa.string())
    named = {n: c.snake_case(n) if canonical else n for n in rows.columns}
    other = set(rows.columns) - set(c.EVENT_FIELDS) - unkeyed
    # by name, then as the file writes it: StockCode and stock_code in one order in every run
    for name in sorted(other, key=lambda n: (named[n], n)):
        if name.startswith("_"):
            continue
        text = pc.utf8_trim_whitespace(pa.array(rows[name].astype("string")))
        point = pc.fill_null(pc.match_substring_regex(text, _POINT_NUMBER), False)
        text = pc.if_else(point, pc.utf8_rtrim(pc.utf8_rtrim(text, "0"), "."), text)
        if canonical and named[name] in UNSIGNED:
            negative = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
            text = pc.if_else(negative, pc.utf8_ltrim(text, "-"), text)
        said = pc.binary_join_element_wise(f"{named[name]}\x1f", text, "\x1e", "")
        filled = pc.fill_null(pc.not_equal(text, ""), False)
        others = pc.binary_join_element_wise(others, pc.if_else(filled, said, ""), "")
    return pd.Series(others.to_numpy(zero_copy_only=False), index=rows.index, dtype="string")


def _counted(distinct: pd.DataFrame, rows: int) -> dict[str, Any]:
    """``repeats`` (of ``rows`` sent), ``orders``, ``purchases`` and ``refunds`` of the
    ``distinct`` guest rows (:meth:`RowsWithoutUser.write`'s columns)."""
    priced = distinct["amount"].notna()
    sign = distinct["sign"]
    return {
        "repeats": rows - len(distinct),
        "purchases": round(float(distinct.loc[priced & (sign > 0), "amount"].sum()), 2),
        "refunds": round(float(distinct.loc[priced & (sign < 0), "amount"].sum()), 2),
        # as a customer's: the order ids of purchase lines (a credit note is a refund)
        "orders": int(distinct.loc[sign > 0, "order"].nunique()),
    }


def keep_guest_rows(
    new: Path,
    staging: Path,
    appending_to: Path | None,
    held: dict[str, Any] | None,
    source: Path,
) -> None:
    """The dataset version's guest rows: this file's (``new``, of the events file ``source``),
    and an append's beside the dataset's (``held``: its report.json), each once. A dataset
    whose earlier guest rows were not kept (ingested before) keeps none: its total stays
    summed file by file, said so."""
    parts = [pd.read_parquet(new)] if new.is_file() else []
    if appending_to is not None:
        earlier = appending_to / GUEST_ROWS
        if earlier.is_file():
            kept = _read_guest_rows(earlier)
            if parts:
                parts[0] = parts[0][~_kept_already(parts[0], kept)]
            parts.insert(0, kept)
        elif dataset_without_user(held) is not None:
            return
    if parts:
        rows = pd.concat(parts, ignore_index=True).drop_duplicates("row")
        # the dataset's rule: its kept rows', else this file's (keyed by it)
        rule = earlier if appending_to is not None and earlier.is_file() else new
        unkeyed = _recorded_unkeyed(rule)
        if unkeyed is not None and rule is not new:
            # and the partition columns this file brings, which key none of its rows (with
            # guest rows or not): once the append adds them to the dataset's columns only
            # the record says so
            assert appending_to is not None
            unkeyed = unkeyed_columns(source, appending_to / EVENTS_FILE)
        write_guest_rows(rows, staging / GUEST_ROWS, unkeyed, _canonical(rule))


def _recorded_unkeyed(kept: Path) -> frozenset[str] | None:
    """The columns that keyed none of a :data:`GUEST_ROWS` file's rows (None: not recorded)."""
    import pyarrow.parquet as pq

    recorded = (pq.read_schema(kept).metadata or {}).get(UNKEYED.encode())
    return None if recorded is None else frozenset(json.loads(recorded))


def _read_guest_rows(path: Path) -> pd.DataFrame:
    """A dataset's :data:`GUEST_ROWS`; one kept before rows were keyed by their other
    columns too has its rows marked :data:`CONTRACT_ONLY`."""
    rows = pd.read_parquet(path)
    if CONTRACT_ONLY not in rows:
        rows.insert(1, CONTRACT_ROW, rows["row"])
        rows.insert(2, CONTRACT_ONLY, True)
    return rows


def _kept_already(new: pd.DataFrame, kept: pd.DataFrame) -> np.ndarray:
    """Which ``new`` guest rows the dataset ``kept``: by their row key, or by their contract
    fields where it kept a row by those alone (an old dataset's: a re-sent row counts once)."""
    by_contract = kept.loc[kept[CONTRACT_ONLY].astype(bool), "row"]
    return (new["row"].isin(kept["row"]) | new[CONTRACT_ROW].isin(by_contract)).to_numpy()


def adds_guest_rows(staging: Path, appending_to: Path) -> bool:
    """Whether an append's version keeps guest rows the dataset did not (:func:`keep_guest_rows`):
    an append of no new user rows still has something new to keep."""
    import pyarrow.parquet as pq

    kept, held = staging / GUEST_ROWS, appending_to / GUEST_ROWS
    if not kept.is_file():
        return False
    return pq.read_metadata(kept).num_rows > (
        pq.read_metadata(held).num_rows if held.is_file() else 0
    )


def dataset_without_user(
    report: dict[str, Any] | None, kept: pd.DataFrame | None = None
) -> dict[str, Any] | None:
    """The rows without a user id of every batch of a dataset's report.json, summed (None:
    no batch recorded any, or none was recorded: a dataset ingested before they were);
    ``batches``: how many batches had some. With the dataset's guest rows ``kept`` (each
    once, :data:`GUEST_ROWS`), a row a later file sent again counts once (``counted_once``)."""
    from features.batches import batches

    found = [b[NO_USER_NOTE] for b in batches(report) if NO_USER_NOTE in b]
    if not found:
        return None
    keys = ("rows", "repeats", "purchases", "refunds")
    total: dict[str, Any] = {k: sum(n.get(k, 0) for n in found) for k in keys}
    total["purchases"], total["refunds"] = (round(total[k], 2) for k in ("purchases", "refunds"))
    if all("orders" in n for n in found):
        total["orders"] = sum(n["orders"] for n in found)
    if days := [n for n in found if "last" in n]:
        total["first"] = min(n["first"] for n in days)
        total["last"] = max(n["last"] for n in days)
    if kept is not None:
        orders = "orders" in total
        total |= _counted(kept, total["rows"]) | {"counted_once": True}
        if not orders:
            total.pop("orders")
    return total | {"batches": len(found)}


def dataset_without_user_words(
    total: dict[str, Any], kept_by_users: float | None, as_of: str | None = None
) -> str:
    """:func:`dataset_without_user` in words for `segments` and the report: what, how much,
    its share of all kept (guests' and the users' ``kept_by_users`` as of ``as_of``; none
    where guest orders are later than that) and, over several files, that a guest order a
    later file sends again is counted again (unless ``counted_once``)."""
    said = without_user_words(total)
    if (share := guest_share(total, kept_by_users, as_of)) is not None:
        said += f" ({share:.1%} of the amount kept of every order, guests' and users')"
    elif later_than(total, as_of):
        said += f" (orders of {total['first']} .. {total['last']}, to after {str(as_of)[:10]})"
    if total["batches"] > 1 and not total.get("counted_once"):
        said += (
            f"; counted file by file over {total['batches']} files, so a guest order a later "
            "file sent again counts again"
        )
    return said


def guest_share(
    total: dict[str, Any], kept_by_users: float | None, as_of: str | None = None
) -> float | None:
    """What the guest orders kept is of all kept (theirs and the users' ``kept_by_users``),
    or None: no users' amount, nothing kept, or guest orders later than ``as_of``."""
    guests_kept = total["purchases"] - total["refunds"]
    if kept_by_users is None or later_than(total, as_of) or guests_kept + kept_by_users <= 0:
        return None
    return guests_kept / (guests_kept + kept_by_users)


def later_than(total: dict[str, Any], as_of: str | None) -> bool:
    """Some guest orders are of days after ``as_of`` (a scores table of an earlier date)."""
    return as_of is not None and str(total.get("last", "")) > str(as_of)[:10]


def dataset_guest_orders(dataset_dir: Path) -> dict[str, Any] | None:
    """:func:`dataset_without_user` of a dataset folder (its report.json)."""
    from lifecycle.dataset_kind import read_report

    kept = dataset_dir / GUEST_ROWS
    return dataset_without_user(
        read_report(dataset_dir), pd.read_parquet(kept) if kept.is_file() else None
    )


def guest_rows_uncounted(dataset_dir: Path) -> int:
    """Rows without a user id quarantined by the dataset's files read before guest orders
    were counted (their batch records none, its quarantine file holds them): their orders
    and amount are unknown until those files are ingested again. 0: none, or no such file
    (a first import's table, recorded without batches, counts them in its notes)."""
    import duckdb

    from features.batches import batches
    from features.quarantine import batch_quarantine
    from lifecycle.dataset_kind import read_report
    from lifecycle.sql import literal

    files, appends = [], 0
    for batch in batches(read_report(dataset_dir)):
        appends += batch.get("mode") == "append"
        path = batch_quarantine(
            dataset_dir, "events", appends if batch.get("mode") == "append" else 0
        )
        if "source" in batch and NO_USER_NOTE not in batch and path.is_file():
            files.append(str(path))
    if not files:
        return 0
    with duckdb.connect() as con:
        ((rows,),) = con.execute(
            f"SELECT count(*) FROM read_csv([{', '.join(map(literal, files))}], all_varchar = true, "
            f"union_by_name = true) WHERE {c.REASON} = {literal(NO_USER)}"
        ).fetchall()
    return int(rows)


def uncounted_words(rows: int, dataset: str) -> str:
    """:func:`guest_rows_uncounted` in words for `segments` and the report."""
    some = f"{rows:,} row{'s' * (rows != 1)}"
    return (
        f"{some} without a user id (guest orders) quarantined by files ingested before guest "
        "orders were counted: their orders and amount are unknown here, in no customer's "
        f"numbers, until those files are ingested again (`lifecycle ingest FIRST --dataset "
        f"{dataset} --replace`, then each later one with --append)"
    )
