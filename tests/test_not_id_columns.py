"""Columns an operator declares never hold ids (`lifecycle datasets not-ids`), on real
online_retail lines ingested as a shop's own export is (a generic ingest: `StockCode` and
`Quantity` are kept as text). 27 customer ids are also product codes: `forget 15036` turned
325 product codes 15036 of other customers' lines into [forgotten], and `forget 12540`
customer 13256's quantity of 12540."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_erasure_text import invoke
from test_erasure_unreached import run

from features.scrub import REDACTED

MAPS = ("--map", "user_id=CustomerID", "--map", "event_time=InvoiceDate", "--map",
        "amount=LineTotal", "--map", "order_id=InvoiceNo", "--event-type", "purchase")  # fmt: skip


def _retail_lines(shared: Path, folder: Path) -> tuple[Path, Path]:
    """Real lines of customers 15036, 12540 and 13256, every line of product 15036 and the
    file's first 3,000, with their cost as a column (a shop's export): before and from June
    2011, two files (an ingest, then an append)."""
    path = shared / "online_retail" / "online_retail_transactions.csv.gz"
    lines = pd.read_csv(path, dtype=str, keep_default_na=False)
    lines["CustomerID"] = lines["CustomerID"].str.removesuffix(".0")
    wanted = lines["StockCode"].eq("15036") | lines["CustomerID"].isin(["15036", "12540", "13256"])
    lines = lines[(wanted | (lines.index < 3000)) & lines["CustomerID"].ne("")].copy()
    cost = lines["Quantity"].astype(float) * lines["UnitPrice"].astype(float)
    lines["LineTotal"] = cost.round(2).astype(str)
    later = pd.to_datetime(lines["InvoiceDate"]) >= "2011-06-01"
    files = folder / "before.csv", folder / "after.csv"
    lines[~later].to_csv(files[0], index=False)
    lines[later].to_csv(files[1], index=False)
    return files


def _cells(home: Path, column: str, value: str) -> tuple[int, int]:
    """(cells equal to ``value``, cells redacted) of ``column`` in the current events."""
    events = pd.read_parquet(home / "datasets" / "retail" / "events.parquet", columns=[column])
    return int(events[column].eq(value).sum()), int(events[column].eq(REDACTED).sum())


@pytest.mark.real_data
def test_columns_declared_never_ids_keep_values_equal_to_an_erased_id(
    shared_data: Path, tmp_path: Path
) -> None:
    before, after = _retail_lines(shared_data, tmp_path)
    home = tmp_path / "ws"
    undeclared = tmp_path / "undeclared"
    for where in (home, undeclared):  # an older version kept beside the current one
        for _ in range(2):
            invoke(where, "ingest", str(before), "--dataset", "retail", *MAPS, "--replace")
    invoke(undeclared, "ingest", str(after), "--dataset", "retail", *MAPS, "--append")
    codes, _ = _cells(undeclared, "StockCode", "15036")
    assert codes > 300 and _cells(undeclared, "Quantity", "12540") == (1, 0)
    # without a declaration: the token rule redacts product codes and a quantity
    invoke(undeclared, "forget", "15036", "12540")
    assert _cells(undeclared, "StockCode", "15036") == (0, codes)
    assert _cells(undeclared, "Quantity", "12540") == (0, 1)

    unknown = run(home, "datasets", "not-ids", "retail", "quantity")
    assert unknown.exit_code == 1 and "has no column 'quantity'" in unknown.output
    assert "Quantity" in unknown.output  # its columns named
    ids = run(home, "datasets", "not-ids", "retail", "CustomerID")
    assert ids.exit_code == 1 and "the user id column" in ids.output
    said = invoke(home, "datasets", "not-ids", "retail", "StockCode", "Quantity")
    assert "never ids now: Quantity, StockCode" in said
    invoke(home, "ingest", str(after), "--dataset", "retail", *MAPS, "--append")  # keeps it
    versions = sorted((home / "datasets" / ".versions").iterdir())
    assert len(versions) == 3
    for version in versions:
        report = json.loads((version / "report.json").read_text())
        assert report["not_id_columns"] == ["Quantity", "StockCode"]
    logged = json.loads((home / "erasure_log.jsonl").read_text().splitlines()[-1])
    assert logged["not_id_columns"]["declared"] == ["Quantity", "StockCode"]
    assert logged["user_hashes"] == []

    out = json.loads(invoke(home, "--json", "forget", "15036", "12540"))
    assert out["users"] == 2
    assert _cells(home, "StockCode", "15036") == (codes, 0)  # other customers' product
    assert _cells(home, "Quantity", "12540") == (1, 0)  # customer 13256's line
    for version in sorted((home / "datasets" / ".versions").iterdir()):
        events = pd.read_parquet(version / "events.parquet")
        assert not events["StockCode"].eq(REDACTED).any()
        assert (
            not events["CustomerID" if "CustomerID" in events else "user_id"]
            .isin(["15036", "12540"])
            .any()
        )
    checked = run(home, "--json", "datasets", "check")
    assert checked.exit_code == 0, checked.output
    [found] = json.loads(checked.stdout)["datasets"]
    assert found["not_id_columns"] == ["Quantity", "StockCode"] and found["damaged"] == {}
    assert (
        "declared never ids (`datasets not-ids`): Quantity, StockCode"
        in run(home, "datasets", "check").output
    )
    # --clear takes a column off
    invoke(home, "datasets", "not-ids", "retail", "Quantity", "--clear")
    current = json.loads((home / "datasets" / "retail" / "report.json").read_text())
    assert current["not_id_columns"] == ["StockCode"]
    # a replace keeps no recorded option: it says so, naming the command that declares again
    said = invoke(home, "ingest", str(before), "--dataset", "retail", *MAPS, "--replace")
    assert (
        "columns declared never ids by retail@" in said
        and "not kept: StockCode (a replace keeps no recorded option; `lifecycle datasets "
        "not-ids retail StockCode` declares them again"
        in said
    ), said
    replaced = json.loads((home / "datasets" / "retail" / "report.json").read_text())
    assert "not_id_columns" not in replaced
