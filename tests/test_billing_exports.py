"""A Stripe-like billing export (trial 115): invoices with amounts in cents, event types of
its own (`invoice.paid`, `invoice.payment_failed`), appended month by month."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main

HEADER = "id,type,customer,created,amount_paid,currency\n"
# epoch seconds: 2024-03-01, 2024-04-01, 2024-05-01, 2024-06-01 (00:00 UTC)
MARCH, APRIL, MAY, JUNE = 1709251200, 1711929600, 1714521600, 1717200000
MAPS = (
    "--map", "user_id=customer", "--map", "event_time=created", "--map", "event_type=type",
    "--map", "amount=amount_paid", "--time-format", "%s",
    "--map-type", "purchase=invoice.paid",
)  # fmt: skip


def _invoices(month: int, customers: range, failed: int, amount: int = 7045) -> str:
    """A month's invoices: one paid per customer, ``failed`` card retries before them."""
    rows = [f"in_{n}_{month},invoice.paid,cus_{n},{month + n * 60},{amount},usd" for n in customers]
    rows += [
        f"in_f{n}_{month},invoice.payment_failed,cus_{n},{month - 3600 + n},{amount},usd"
        for n in list(customers)[:failed]
    ]
    return HEADER + "\n".join(rows) + "\n"


def _ingest(path: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, ["--json", "--quiet", "ingest", str(path), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _lines(path: Path, *extra: str) -> str:
    result = CliRunner().invoke(main, ["ingest", str(path), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_appends_summary_counts_its_own_rows_of_a_type_kept_as_activity(
    home: Path, tmp_path: Path
) -> None:
    """Trial 115: `refresh june.csv` said "'invoice.payment_failed' 7,246 rows" for a file of
    165 such rows (7,246: the whole dataset's, more than the 5,346 rows it loaded)."""
    march, april, may = (tmp_path / f"{m}.csv" for m in ("march", "april", "may"))
    march.write_text(_invoices(MARCH, range(1, 31), failed=5))
    april.write_text(_invoices(APRIL, range(1, 31), failed=2))
    may.write_text(_invoices(MAY, range(1, 31), failed=3))
    first = _ingest(march, "--dataset", "billing", *MAPS)
    assert first["tables"]["events"]["notes"]["other_event_types"] == {
        "invoice.payment_failed": [5, 5]
    }
    appended = _ingest(april, "--dataset", "billing", "--append")
    assert appended["tables"]["events"]["notes"]["other_event_types"] == {
        "invoice.payment_failed": [2, 2]
    }
    said = _lines(may, "--dataset", "billing", "--append")
    assert "'invoice.payment_failed' 3 rows; the amounts of 3 of their rows count nowhere" in said
    # the same file again adds nothing, and says no type of its own
    again = _ingest(may, "--dataset", "billing", "--append")
    assert "other_event_types" not in again["tables"]["events"]["notes"]
