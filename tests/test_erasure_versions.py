"""`lifecycle forget` and a dataset's kept versions: an erasure writes a new version as an
ingest does and keeps as many (``DATASET_VERSIONS_KEPT``), each older one rewritten without
the users, so `datasets restore` still goes back to any of them. It kept 2: an ingest and 3
appends (4 versions) left 2 after `forget c2`, the first three gone with the rows of every
other customer they held."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from workspaces import cli_report

from features import contract as c
from lifecycle.workspace import DATASET_VERSIONS_KEPT


def _ids(folder: Path) -> set[str]:
    """Every user id the version's Parquet tables hold."""
    return {
        str(u)
        for table in folder.rglob("*.parquet")
        for u in pq.read_table(table, columns=[c.USER_ID])[c.USER_ID].to_pylist()
    }


def test_forget_keeps_every_version_ingest_keeps_each_without_the_user(
    home: Path, tmp_path: Path
) -> None:
    months = ["2024-01", "2024-02", "2024-03", "2024-04"]
    for number, month in enumerate(months):
        events = tmp_path / f"{month}.csv"
        events.write_text(
            f"user_id,event_time,amount\nc1,{month}-01,5\nc2,{month}-02,6\nc{number + 3},{month}-03,7\n"
        )
        mode = ["--append"] if number else []
        cli_report("ingest", str(events), "--dataset", "shop", "--event-type", "purchase", *mode)
    before = [v["version"] for v in cli_report("datasets", "history", "shop")["versions"]]
    assert len(before) == 4

    said = cli_report("forget", "c2", "--dataset", "shop")
    assert said["removed"]["datasets/shop (older versions)"] == 1 + 2 + 3 + 4
    after = [v["version"] for v in cli_report("datasets", "history", "shop")["versions"]]
    assert len(after) == 5 == DATASET_VERSIONS_KEPT and after[1:] == before  # newest first
    versions = home / "datasets" / ".versions"
    for version in after:  # every kept version, its tables read whole
        held = _ids(versions / version)
        assert "c2" not in held and "c1" in held, version
        # as a JSON string: a hash in the report may hold the letters c2 (bc9c2eb7...)
        assert '"c2"' not in (versions / version / "report.json").read_text(), version
    first = before[-1]  # the first ingest's, without c2: restorable
    cli_report("datasets", "restore", first)
    assert _ids(home / "datasets" / "shop") == {"c1", "c3"}

    # a sixth version: the restored one it replaces stays (current a moment before), the
    # oldest other goes, as ingest's; the first forget's, rewritten now, is no older for it
    cli_report("forget", "c1", "--dataset", "shop")
    kept = [v["version"] for v in cli_report("datasets", "history", "shop")["versions"]]
    assert len(kept) == DATASET_VERSIONS_KEPT and kept[1:] == [after[0], *before[:2], first]
    assert not any("c1" in _ids(versions / version) for version in kept)


def _months(tmp_path: Path, months: list[str], append: bool) -> None:
    for month in months:
        events = tmp_path / f"{month}.csv"
        events.write_text(f"user_id,event_time,amount\nc1,{month}-01,5\nc2,{month}-02,6\n")
        mode = ["--append"] if append or month != months[0] else []
        cli_report("ingest", str(events), "--dataset", "shop", "--event-type", "purchase", *mode)


def test_an_ingest_after_a_restore_keeps_the_restored_version(home: Path, tmp_path: Path) -> None:
    """Versions were pruned oldest first by their folder's time: a version restored is
    usually the oldest, so the next ingest deleted the one current a moment before, and a
    version rewritten in place (a killed forget) looked newer than it is. They are pruned by
    the stamp in their names, as `datasets history` lists them, never the one replaced."""
    import os

    _months(tmp_path, ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"], append=False)
    before = [v["version"] for v in cli_report("datasets", "history", "shop")["versions"]]
    assert len(before) == DATASET_VERSIONS_KEPT
    first, second = before[-1], before[-2]
    cli_report("datasets", "restore", first)
    os.utime(home / "datasets" / ".versions" / second)  # rewritten now, as a forget does
    _months(tmp_path, ["2024-06"], append=True)
    kept = [v["version"] for v in cli_report("datasets", "history", "shop")["versions"]]
    assert len(kept) == DATASET_VERSIONS_KEPT and kept[1:] == [*before[:3], first]
    assert second not in kept  # the oldest of the others, its folder's time however new
    assert cli_report("datasets", "restore", first)["version"]["version"] == first
