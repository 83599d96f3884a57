"""The scores table's text columns, read for a list's rows only.

A list ranks and filters on the numeric columns and shows its page: the JSON text of every
user (``reasons``, ``not_scored``, ``outlook_apart``) is needed for the listed rows only. At
1M users ``reasons`` alone is 374 MB in Arrow and more as Python strings; reading the whole
table for a top-100 list took 3.1 CPU-s and 1.4 GB (``experiments/bench_list_scores.py``).
``serving.batch.read_list_scores`` reads the table without them (``ScoresTable.later``
names them) and :func:`listed_text` reads them, batch by batch, for the rows listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle.errors import UserError

if TYPE_CHECKING:
    from serving.batch import ScoresTable

TEXT_COLUMNS = ("reasons", "not_scored", "outlook_apart")
# rows decoded at a time: the text of one batch at most is held, never the whole column's
BATCH_ROWS = 1024


def listed_text(table: ScoresTable, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (rows of ``table``'s frame, its index their row numbers in the file) with
    the text columns the table left for later, in the file's column order: the frame
    ``serving.batch.read_scores`` gives, for these rows."""
    if not table.later or table.path is None:
        return rows
    import pyarrow as pa
    import pyarrow.parquet as pq

    positions = rows.index.to_numpy(dtype=np.int64)
    file = pq.ParquetFile(table.path, buffer_size=1 << 20, pre_buffer=False)
    columns = [c.USER_ID, *table.later]
    order = np.argsort(positions, kind="stable")
    wanted = positions[order]
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for group in np.unique(np.searchsorted(starts, wanted, side="right") - 1):
        start = int(starts[group])
        for batch in file.iter_batches(
            batch_size=BATCH_ROWS, row_groups=[int(group)], columns=columns, use_threads=False
        ):
            end = start + batch.num_rows
            local = wanted[(wanted >= start) & (wanted < end)] - start
            if len(local):
                parts.append(pa.Table.from_batches([batch.take(pa.array(local))]))
            start = end
    schema = pa.schema([file.schema_arrow.field(name) for name in columns])
    taken = pa.concat_tables(parts) if parts else schema.empty_table()
    text = taken.take(pa.array(np.argsort(order))).to_pandas()
    ids = rows[c.USER_ID].astype(str).to_numpy()
    if len(text) != len(rows) or (text[c.USER_ID].astype(str).to_numpy() != ids).any():
        raise UserError(
            f"{table.path}: its rows changed while listed (user_id of the listed rows differ); "
            "list again"
        )
    text.index = rows.index
    out = rows.assign(**{name: text[name] for name in table.later})
    first = [name for name in file.schema_arrow.names if name in out]
    return out[first + [name for name in out.columns if name not in set(first)]]
