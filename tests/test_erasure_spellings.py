"""One user however a file wrote the id: pandas writes integer ids as ``13047.0`` when the
column has a blank, ingest loads them as ``13047`` and the quarantine file keeps the raw
``13047.0``. `forget` finds and erases both spellings everywhere, logs the id ingest reads,
and later ingests keep out both. The ids a dataset's report gives as examples are erased
too, and an ids file saved "UTF-8 with BOM" is read whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features import contract as c
from features.scrub import REDACTED
from lifecycle.cli import main

# Rows of online_retail (invoice 536365-536367), as pandas writes them from a column with a
# blank: every id with .0. 13047's rows are all refunds booked negative: all quarantined.
EVENTS = (
    "user_id,event_time,event_type,amount,description\n"
    "17850.0,2010-12-01 08:26:00,purchase,15.3,WHITE HANGING HEART T-LIGHT HOLDER\n"
    "17850.0,2010-12-01 08:26:00,purchase,20.34,WHITE METAL LANTERN\n"
    ",2010-12-01 08:28:00,purchase,11.1,HAND WARMER UNION JACK\n"
    "13047.0,2010-12-01 08:34:00,purchase,-54.08,ASSORTED COLOUR BIRD ORNAMENT\n"
    "13047.0,2010-12-01 08:34:00,purchase,-12.6,POPPY'S PLAYHOUSE BEDROOM\n"
    "12583.0,2010-12-01 08:45:00,purchase,90.0,ALARM CLOCK BAKELIKE PINK\n"
)
GONE = "13047"


def _run(*args: str) -> dict:
    result = CliRunner().invoke(main, ["--json", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _held(folder: Path, user: str) -> list[str]:
    """The files under ``folder`` whose text or Parquet cells hold ``user`` in any spelling."""
    spellings = {user, f"{user}.0"}
    held = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            cells = set(pd.read_parquet(path).astype(str).to_numpy().ravel())
            found = bool(spellings & cells)
        else:
            found = any(s in path.read_text(errors="replace") for s in spellings)
        if found:
            held.append(str(path.relative_to(folder)))
    return held


def _events(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    if fmt == "parquet":  # a float column with a null, as pandas keeps it
        frame = pd.read_csv(path)
        assert frame[c.USER_ID].dtype == np.float64
        path = tmp_path / "events.parquet"
        frame.to_parquet(path)
    return path


def test_an_erased_id_leaves_the_examples_of_every_versions_report(
    home: Path, tmp_path: Path
) -> None:
    """The report's "ids spelt apart" example kept [" 17850", "017850", "17850"] after
    `forget 17850`, in the current and older versions: only the counts were adjusted."""
    spelt = EVENTS.replace("17850.0,", " 17850,", 1).replace("17850.0,", "017850,", 1)
    spelt += "17850,2010-12-01 08:50:00,purchase,1.0,PAPER CHAIN KIT\n"
    source = tmp_path / "ids.csv"
    source.write_text(spelt.replace("13047.0,", "13047,").replace("12583.0,", "12583,"))
    report = _run("ingest", str(source), "--dataset", "shop")["tables"]["events"]["notes"]
    assert report["user_ids_spelt_apart"]["example"] == [" 17850", "017850", "17850"]
    assert report["users_only_quarantined"]["example"] == GONE
    _run("ingest", str(source), "--dataset", "shop", "--replace")
    assert len(list((home / "datasets").rglob("report.json"))) == 2

    _run("forget", "17850", GONE)
    versions = sorted((home / "datasets").rglob("report.json"))  # the erasure's, and one older
    assert len(versions) == 2
    for path in versions:
        notes = json.loads(path.read_text())["tables"]["events"]["notes"]
        assert notes["user_ids_spelt_apart"]["example"] == [REDACTED], path
        assert notes["users_only_quarantined"]["example"] == REDACTED, path
        assert "17850" not in path.read_text() and GONE not in path.read_text()
    listed = CliRunner().invoke(main, ["datasets"])
    assert f"(e.g. '{REDACTED}')" in listed.stdout


def test_an_ids_file_saved_with_a_byte_order_mark_is_read_whole(home: Path, tmp_path: Path) -> None:
    """Excel's or Notepad's "UTF-8 with BOM": the first id was read '\\ufeff13047' and
    reported "not found" while the user stayed."""
    source = tmp_path / "events.csv"
    source.write_text(EVENTS.replace(".0,", ","))
    _run("ingest", str(source), "--dataset", "shop")
    ids = tmp_path / "ids.txt"
    ids.write_bytes("\ufeff17850\r\n12583\r\n".encode())
    out = _run("forget", "--ids-file", str(ids))
    assert out["not_found"] == [] and out["users"] == 2
    held = set(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID])
    assert held == set()  # 13047's rows are all quarantined: it alone is left, there
    piped = CliRunner().invoke(main, ["--json", "forget", "--ids-file", "-"], input="\ufeff13047\n")
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout)["not_found"] == []
