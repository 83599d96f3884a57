"""A new user's own exports of online_retail's orders (session 60's walk-through): a CSV whose
columns are named as the shop names them (`Account`, `Placed`, `Type` of `Sale` and `Refund`)
and workbooks whose amounts are numbers formatted as pounds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main

MAPS = (
    "--map", "user_id=Account", "--map", "event_time=Placed", "--map", "event_type=Type",
    "--map", "amount=Total", "--map", "order_id=Order",
)  # fmt: skip


def _orders(path: Path, first: int = 0) -> Path:
    lines = ["Order,Account,Placed,Type,Total"]
    for n in range(first, first + 12):
        lines.append(f"{536365 + n},{17850 + n % 5},2010-12-0{1 + n % 9} 08:26,Sale,{10 + n}.50")
    lines.append(f"C{536500 + first},17850,2010-12-13 09:00,Refund,4.25")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_mapped_event_types_are_shown_as_the_user_wrote_them(tmp_path: Path) -> None:
    """`--map-type purchase=Completed` was said `purchase=completed 11,415 rows` in the
    summary, `datasets` and report.json (types are matched in lower case, and so stored):
    not what the user wrote, nor the file. They are now shown as written; an append that
    writes the same map in another case reads as the dataset's (not refused as another)."""
    home = ("--home", str(tmp_path / "ws"))
    ingest = (*home, "ingest", "--dataset", "shop", *MAPS, "--map-type", "purchase=Sale")
    done = _invoke(*ingest, "--map-type", "refund=REFUND", str(_orders(tmp_path / "a.csv")))
    assert done.exit_code == 0, done.output
    said = "read as the contract's event types (--map-type): purchase=Sale 12 rows"
    assert said in done.output and "purchase=sale" not in done.output
    listed = _invoke(*home, "datasets")
    assert said in listed.output, listed.output
    report = json.loads((tmp_path / "ws" / "datasets" / "shop" / "report.json").read_text())
    assert report["batches"][-1]["event_types"] == {"Sale": "purchase"}
    later = _orders(tmp_path / "b.csv", first=20)
    appended = _invoke(*home, "ingest", "--dataset", "shop", *MAPS, "--append",
                       "--map-type", "purchase=SALE", str(later))  # fmt: skip
    assert appended.exit_code == 0, appended.output
    assert "purchase=SALE 12 rows" in appended.output
