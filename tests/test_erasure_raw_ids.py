"""A quarantine file keeps each row's raw id; `forget` erases the rows whose raw id ingest
reads as a forgotten user: online retail's reader strips the spaces around ``" 13047"``, the
generic reader takes the text inside a spreadsheet formula ``="13047"``. And the counts of a
report's "ids spelt apart" are counted again without the erased ids, in every version."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from workspaces import cli_report

from features import contract as c
from features.scrub import REDACTED
from lifecycle.cli import main

# Customer 13047 loaded once and quarantined twice, written with spaces; 14000 only
# quarantined, written "  14000.0 " (a zero quantity, a zero price).
RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536001,85123A,WHITE HANGING HEART,6,2010-12-01 08:26,2.55,13047,United Kingdom
536002,71053,WHITE METAL LANTERN,0,2010-12-02 08:26,3.39, 13047,United Kingdom
536003,22633,ASSORTED COLOURS SILK FAN,12,2010-12-01 09:00,-1,13047 ,United Kingdom
536004,22633,HAND WARMER UNION JACK,6,2010-12-03 09:00,1.85,12583,France
536005,22632,HAND WARMER RED POLKA DOT,0,2010-12-04 10:00,1,  14000.0 ,United Kingdom
536007,84029G,KNITTED UNION FLAG HOT WATER BOTTLE,6,2010-12-05 10:00,3.39,17850,United Kingdom
"""


def _quarantined(home: Path) -> list[Path]:
    return sorted((home / "datasets").rglob("quarantine/*.csv"))


def test_a_quarantined_id_written_with_spaces_is_erased_with_the_customer(
    home: Path, tmp_path: Path
) -> None:
    """online_retail's reader loads " 13047" as customer 13047, but the quarantine file keeps
    the raw " 13047": `forget 13047` left those rows, and said "not found" of 14000, whose
    only rows were quarantined as "  14000.0 "."""
    source = tmp_path / "retail.csv"
    source.write_text(RETAIL)
    cli_report("import", "online-retail", str(source), "--dataset", "shop")
    cli_report("import", "online-retail", str(source), "--dataset", "shop", "--replace")
    [current, older] = [pd.read_csv(p, dtype=str) for p in _quarantined(home)]
    assert sorted(current["CustomerID"]) == ["  14000.0 ", " 13047", "13047 "]
    assert older.equals(current)

    out = cli_report("forget", "13047", "14000")
    assert out["not_found"] == [] and out["users"] == 2
    for path in _quarantined(home):  # every version: the three rows, nobody else's
        assert pd.read_csv(path, dtype=str).empty, path
    assert out["removed"]["datasets/shop"] == 2 + 3  # events, users, quarantined rows
    events = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert sorted(events[c.USER_ID]) == ["12583", "17850"]
    for report in sorted((home / "datasets").rglob("report.json")):
        notes = json.loads(report.read_text())["tables"]["events"]["notes"]
        # its one user ("  14000.0 ", read as 14000) erased: the note goes, count and example
        assert "users_only_quarantined" not in notes, report


def test_a_quarantined_id_written_as_a_spreadsheet_formula_is_erased(
    home: Path, tmp_path: Path
) -> None:
    """Ingest reads ="13047" (what a spreadsheet export writes to keep an id as text) as
    13047; its quarantined row kept the raw formula, and `forget 13047` left it."""
    source = tmp_path / "events.csv"
    source.write_text(
        "user_id,event_time,event_type,amount\n"
        '="13047",2024-01-01 10:00:00,purchase,5\n="13047",2024-01-02 10:00:00,purchase,-5\n'
        '="12583",2024-01-03 10:00:00,purchase,-7\n="12583",2024-01-04 10:00:00,purchase,7\n'
        '="17850",2024-01-05 10:00:00,purchase,7\n'
    )
    data = cli_report("ingest", str(source), "--dataset", "shop")
    assert data["tables"]["events"]["rows_quarantined"] == 2
    out = cli_report("forget", "13047")
    assert out["removed"]["datasets/shop"] == 2
    for path in _quarantined(home):  # the version before the erasure too
        assert "13047" not in path.read_text() and "12583" in path.read_text(), path


def test_the_ids_spelt_apart_are_counted_again_after_an_erasure(home: Path, tmp_path: Path) -> None:
    """After `forget 17850`, report.json still counted 17850 among the ids spelt apart (only
    its example became [forgotten]), in every version: `lifecycle datasets` told of ids that
    were gone."""
    rows = [" 17850", "017850", "17850", "0012583", "12583", "A1"]

    def ingest(rows: list[str], *options: str) -> None:
        source = tmp_path / "events.csv"
        source.write_text(
            "user_id,event_time,event_type,amount\n"
            + "".join(f"{u},2024-01-0{n + 1} 10:00:00,purchase,5\n" for n, u in enumerate(rows))
        )
        cli_report("ingest", str(source), "--dataset", "shop", *options)

    def spelt(versions: int) -> list[dict | None]:  # every version forget keeps, each's note
        reports = sorted((home / "datasets").rglob("report.json"))
        assert len(reports) == versions
        notes = [json.loads(p.read_text())["tables"]["events"]["notes"] for p in reports]
        return [n.get("user_ids_spelt_apart") for n in notes]

    ingest(rows)
    ingest(rows, "--replace")  # an older version beside
    assert [(n["ids"], n["groups"]) for n in spelt(2)] == [(5, 2), (5, 2)]
    cli_report("forget", "17850")  # " 17850" and "017850" are users of their own: still apart
    for note in spelt(3):  # both ingests' and forget's: it keeps as many as ingest
        assert (note["ids"], note["groups"]) == (4, 2)
        assert note["example"] == [REDACTED] and note["more_examples"] == [["0012583", "12583"]]
    cli_report("forget", " 17850", "017850")
    assert [(n["ids"], n["groups"]) for n in spelt(4)] == [(2, 1)] * 4
    cli_report("forget", "12583")  # 0012583 is alone now: no id is spelt apart any more
    assert spelt(5) == [None] * 5

    # A count an earlier erasure left unchanged (the code before) is put right by the next
    # forget, whoever it asks for; a forgotten example is never drawn again.
    ingest([u.replace("17850", "15000").replace("12583", "12000") for u in rows], "--replace")
    cli_report("forget", "15000")
    path = home / "datasets" / "shop" / "report.json"
    stale = json.loads(path.read_text())
    stale["tables"]["events"]["notes"]["user_ids_spelt_apart"]["ids"] = 5
    path.write_text(json.dumps(stale))
    cli_report("forget", "nobody")
    note = json.loads(path.read_text())["tables"]["events"]["notes"]["user_ids_spelt_apart"]
    assert (note["ids"], note["groups"]) == (4, 2) and note["example"] == [REDACTED]
    listed = CliRunner().invoke(main, ["datasets"])
    assert "4 user ids differ from another" in listed.stdout, listed.stdout
