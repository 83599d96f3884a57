"""A Stripe-like billing export (trial 115): invoices with amounts in cents, event types of
its own (`invoice.paid`, `invoice.payment_failed`), appended month by month."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
from lifecycle.refresh_files import append_files as refresh_ingest
from lifecycle.settings import load_settings

HEADER = "id,type,customer,created,amount_paid,currency\n"
# epoch seconds: 2024-03-01, 2024-04-01, 2024-05-01, 2024-06-01 (00:00 UTC)
MARCH, APRIL, MAY, JUNE = 1709251200, 1711929600, 1714521600, 1717200000
MAPS = (
    "--map", "user_id=customer", "--map", "event_time=created", "--map", "event_type=type",
    "--map", "amount=amount_paid", "--time-format", "%s",
    "--map-type", "purchase=invoice.paid",
)  # fmt: skip


def _invoices(
    month: int, customers: range, failed: int, amount: int = 7045, currency: str = "usd"
) -> str:
    """A month's invoices: one paid per customer, ``failed`` card retries before them."""
    rows = [
        f"in_{n}_{month},invoice.paid,cus_{n},{month + n * 60},{amount},{currency}"
        for n in customers
    ]
    rows += [
        f"in_f{n}_{month},invoice.payment_failed,cus_{n},{month - 3600 + n},{amount},{currency}"
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
    return result.stdout  # the summary; what to run next follows it on stderr


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


def _amounts(home: Path, dataset: str) -> list[float]:
    events = pd.read_parquet(home / "datasets" / dataset / "events.parquet")
    return sorted(set(events[c.AMOUNT].dropna().round(6)))


def test_amounts_in_the_currencys_minor_unit_are_read_so_and_appends_read_them_so(
    home: Path, tmp_path: Path
) -> None:
    """Trial 115: Stripe's amount_paid 7045 (USD 70.45) was read as 7,045 dollars, and every
    list, report and /score said money 100 times too large, with no word at ingest."""
    march, april, may = (tmp_path / f"{m}.csv" for m in ("march", "april", "may"))
    march.write_text(_invoices(MARCH, range(1, 31), failed=2))
    april.write_text(_invoices(APRIL, range(1, 31), failed=1, amount=9900))
    may.write_text(_invoices(MAY, range(1, 31), failed=0, amount=12345))
    said = _lines(march, "--dataset", "billing", *MAPS, "--amount-unit", "minor")
    assert (
        "amounts in 'amount_paid' read in cents (--amount-unit minor): 7,045 is 70.45 USD" in said
    )
    assert "whole numbers" not in said  # told the unit: no guess of it
    assert _amounts(home, "billing") == [70.45]
    # recorded with the file's shape: an append, and `refresh FILE`, read their files so
    assert "read in cents" in _lines(april, "--dataset", "billing", "--append")
    settings = load_settings(home=home, environ={"LIFECYCLE_DATASET": "billing"})
    step = refresh_ingest(settings, [may], None, None)
    assert step["files"][0]["tables"]["events"]["notes"]["amount_unit_read"]["unit"] == "minor"
    assert _amounts(home, "billing") == [70.45, 99.0, 123.45]
    # one unit per dataset: an append told another is refused, the dataset unchanged
    result = CliRunner().invoke(
        main, ["ingest", str(may), "--dataset", "billing", "--append", "--amount-unit", "major"]
    )
    assert result.exit_code != 0 and "reads amounts as minor" in result.output
    # the ISO 4217 exponent of the rows' currency: yen are whole, a dinar has 1000 fils
    for currency, read in (("jpy", 7045.0), ("kwd", 7.045)):
        path = tmp_path / f"{currency}.csv"
        path.write_text(_invoices(MARCH, range(1, 31), failed=0, currency=currency))
        _ingest(path, "--dataset", currency, *MAPS, "--amount-unit", "minor")
        assert _amounts(home, currency) == [read]


def test_minor_units_without_a_currency_are_refused_and_cents_read_hundredths(
    home: Path, tmp_path: Path
) -> None:
    text = _invoices(MARCH, range(1, 31), failed=0).replace(",currency", "").replace(",usd", "")
    path = tmp_path / "no_currency.csv"
    path.write_text(text)
    result = CliRunner().invoke(
        main, ["ingest", str(path), "--dataset", "plain", *MAPS, "--amount-unit", "minor"]
    )
    assert result.exit_code != 0
    assert "row 1 (amount_paid=7045) has no currency" in result.output
    assert "--amount-unit cents" in result.output
    said = _lines(path, "--dataset", "plain", *MAPS, "--amount-unit", "cents")
    # no code, said so (it read "7,045 is 70.45", the money unnamed)
    assert said.endswith(
        "read in cents (--amount-unit cents): 7,045 is 70.45, no currency recorded "
        "(--map currency=COLUMN gives it)\n"
    )
    assert _amounts(home, "plain") == [70.45]
    # unasked, the maybe-cents note offers what reads them: cents (minor is refused here)
    said = " ".join(_lines(path, "--dataset", "plain2", *MAPS).split())
    assert (
        "ingest again with --amount-unit cents (7,045 then reads 70.45, no currency recorded; "
        "a dataset reads one unit"
    ) in said, said


def test_whole_amounts_with_a_large_median_are_said_to_be_maybe_cents(
    home: Path, tmp_path: Path
) -> None:
    """Said as a possibility, with the option; not of yen, nor of amounts with decimals, nor
    of small whole prices."""
    cents = tmp_path / "cents.csv"
    cents.write_text(_invoices(MARCH, range(1, 31), failed=0))
    said = _lines(cents, "--dataset", "cents", *MAPS)
    assert (
        "amounts are all whole numbers (median 7,045, 30 purchases and refunds): if they are "
        "cents (the minor unit), as Stripe writes them, every revenue, LTV and value at risk "
        "is 100 times too large; ingest again with --amount-unit minor (7,045 then reads "
        "70.45 USD" in " ".join(said.split())
    )
    assert _amounts(home, "cents") == [7045.0]  # never read so unasked
    # said once a dataset, not again on each month appended (it was)
    april = tmp_path / "april.csv"
    april.write_text(_invoices(APRIL, range(1, 31), failed=0))
    assert "whole numbers" not in _lines(april, "--dataset", "cents", "--append")
    for name, text in (
        ("yen", _invoices(MARCH, range(1, 31), failed=0, currency="jpy")),
        ("dollars", _invoices(MARCH, range(1, 31), failed=0).replace(",7045,", ",70.45,")),
        ("small", _invoices(MARCH, range(1, 31), failed=0, amount=25)),
    ):
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        assert "whole numbers" not in _lines(path, "--dataset", name, *MAPS), name
