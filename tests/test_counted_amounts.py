"""A loyalty log's amount column that counts what was bought (trial P: `basket_items`, one
row per card and day) is no money: `ingest --amount-unit count` records it with the dataset,
appends read so, and the dataset is worded in purchases counted, no currency; unasked, whole
amounts without a currency are said to be perhaps counts, once."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.reason_words import reason_text
from serving.units import Counted, dataset_currencies, purchase_counts, units_for

MAPS = (
    "--map", "user_id=card_id", "--map", "event_time=visit_date", "--event-type", "purchase",
    "--map", "amount=basket_items",
)  # fmt: skip


def _visits(path: Path, days: range, items: int = 12) -> Path:
    """A grocery export: one row per card and day, the basket's items counted."""
    rows = [f"C{n},2024-03-{d:02d},Leeds,{items + n % 5}" for d in days for n in range(1, 11)]
    path.write_text("card_id,visit_date,store,basket_items\n" + "\n".join(rows) + "\n")
    return path


def _ingest(path: Path, *extra: str) -> str:
    result = CliRunner().invoke(main, ["ingest", str(path), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_count_column_ingested_with_amount_unit_count_is_worded_as_items(
    home: Path, tmp_path: Path
) -> None:
    """Before a4c3e2d --amount-unit had no 'count' (a usage error), and basket items mapped
    as amounts were money of no currency: 'spent 1,852 in all'; until s42 each item was worded
    a purchase ('14 purchases per order on average' of 14 items in one basket)."""
    said = _ingest(_visits(tmp_path / "march.csv", range(1, 11)), "--dataset", "g", *MAPS,
                   "--amount-unit", "count")  # fmt: skip
    assert (
        "amounts in 'basket_items' read as counts of what was bought (--amount-unit count): "
        "no money, LTV and every list in items counted" in said
    )
    assert "whole numbers" not in said  # asked: not offered again
    settings = load_settings(home=home)
    data = settings.workspace.dataset_dir("g")
    assert purchase_counts(data) == Counted(1.0, "items")  # each item one: kept as written
    units = units_for(settings, {"dataset": "g"})
    assert units.counted and units.amounts_are == "items" and units.unit_name == "items"
    assert units.currency == "none: amounts are items counted"
    assert units.amounts == (
        "amounts are items counted (the file's 'basket_items', --amount-unit count), no money"
    )
    assert units.value_name("revenue_total") == "items"
    counts = purchase_counts(data)
    assert reason_text("revenue_total", 1852.0, counts) == "1,852 items in all"
    assert reason_text("revenue_90d", 0.0, counts) == "no items in the last 90 days"
    assert reason_text("avg_order_value", 14.0, counts) == "14 items per order on average"
    assert reason_text("max_order_value", 1.0, counts) == "largest order 1 item"
    assert reason_text("refund_rate", 0.25, counts) == "25% of items refunded"
    assert reason_text("revenue_total", None, counts) == "no items recorded"
    # a log without amounts counts purchases, as before
    assert reason_text("avg_order_value", 2.0, Counted(1.0)) == "2 purchases per order on average"
    # an append reads its file so, told nothing; another unit is refused
    april = _visits(tmp_path / "april.csv", range(11, 21))
    assert "read as counts" in _ingest(april, "--dataset", "g", "--append")
    assert purchase_counts(data) == Counted(1.0, "items")
    other = CliRunner().invoke(
        main, ["ingest", str(april), "--dataset", "g", "--append", "--amount-unit", "major"]
    )
    assert other.exit_code != 0
    assert "dataset 'g' reads amounts as count" in other.output


def test_counted_amounts_have_no_currency(home: Path, tmp_path: Path) -> None:
    visits = _visits(tmp_path / "march.csv", range(1, 11))
    for money in (("--currency", "GBP"), ("--map", "currency=store")):
        refused = CliRunner().invoke(
            main,
            ["ingest", str(visits), "--dataset", "g", *MAPS, "--amount-unit", "count", *money],
        )
        assert refused.exit_code != 0
        assert "(--amount-unit count) are no money, so they have no currency" in refused.output
    assert not load_settings(home=home).workspace.dataset_dir("g").exists()


def test_a_currency_column_beside_counted_amounts_is_ignored_in_one_line(
    home: Path, tmp_path: Path
) -> None:
    """An unmapped 'Currency' column in a file whose amounts are counts (--amount-unit count,
    or no amount column with --amount-default 1, as --currency is there) is no currency: on
    the old code it was read as the dataset's (lists, report and API said GBP beside amounts
    'counted, no money'), and two codes in it refused the file as amounts in two currencies."""

    def visits_of(name: str, days: range) -> Path:
        rows = [f"C{n},2024-03-{d:02d},{'GBP' if n % 2 else 'EUR'},{3 + n % 4}" for d in days
                for n in range(1, 11)]  # fmt: skip
        path = tmp_path / name
        path.write_text("card_id,visit_date,Currency,basket_items\n" + "\n".join(rows) + "\n")
        return path

    visits, later = visits_of("visits.csv", range(1, 11)), visits_of("later.csv", range(11, 21))
    counted_by = {
        "items": (*MAPS, "--amount-unit", "count"),
        "days": (*MAPS[:6], "--amount-default", "1", "--keep-repeats"),  # no amount column
    }
    settings = load_settings(home=home)
    for name, options in counted_by.items():
        said = _ingest(visits, "--dataset", name, *options)
        how = "--amount-unit count" if name == "items" else "--amount-default"
        assert said.count("Currency") == 1, said
        assert (
            f"    column 'Currency' ignored as a currency: amounts counted ({how}) are no money, "
            "so no currency is recorded" in said
        )
        units = units_for(settings, {"dataset": name})
        assert units.currencies == () and units.currency.startswith("none: amounts are ")
        assert dataset_currencies(settings.workspace.events(name)) == ()
        # not staged, so an append has no codes to compare (before s42 every append was
        # refused as 'amounts in 2 currencies', whatever the new file held)
        events = settings.workspace.events(name)
        assert "Currency" not in pq.read_schema(events).names
        assert "ignored as a currency" in _ingest(later, "--dataset", name, "--append")
        assert pq.read_metadata(events).num_rows == 200
    # a dataset ingested before s42 holds the column, two codes in it: appends are not refused
    events = settings.workspace.events("items")
    held = pq.read_table(events)
    codes = pa.array(["GBP", "EUR"] * (held.num_rows // 2))
    pq.write_table(held.append_column("Currency", codes), events)
    _ingest(visits_of("april.csv", range(21, 31)), "--dataset", "items", "--append")
    assert pq.read_metadata(events).num_rows == 300
    # with money, the same column is read (here refused: two currencies)
    refused = CliRunner().invoke(main, ["ingest", str(visits), "--dataset", "m", *MAPS])
    assert refused.exit_code != 0 and "holds amounts in 2 currencies" in refused.output


def test_whole_amounts_without_a_currency_are_said_to_be_maybe_counts_once(
    home: Path, tmp_path: Path
) -> None:
    """Trial P: `--map amount=basket_items` went in silently as money (report notes {})."""
    said = _ingest(_visits(tmp_path / "march.csv", range(1, 11)), "--dataset", "g", *MAPS)
    assert (
        "amounts in 'basket_items' have no currency and are all whole numbers (median 14, 100 "
        "purchases and refunds): if they count what was bought (items), not money, every list "
        "and reason says 'spent'; ingest again with --amount-unit count" in said
    )
    data = load_settings(home=home).workspace.dataset_dir("g")
    assert purchase_counts(data) is None  # never read so unasked
    report = json.loads((data / "report.json").read_text())
    assert report["batches"][-1]["amounts_maybe_counts"]["column"] == "basket_items"
    april = _visits(tmp_path / "april.csv", range(11, 21))
    assert "whole numbers" not in _ingest(april, "--dataset", "g", "--append")  # said once
    # a currency says they are money; a count-only log's --amount-default is no column's
    money = _ingest(_visits(tmp_path / "gbp.csv", range(1, 11)), "--dataset", "m", *MAPS,
                    "--currency", "GBP")  # fmt: skip
    assert "whole numbers" not in money
    only = tmp_path / "only.csv"
    only.write_text(
        "card_id,visit_date\n" + "".join(f"C{n},2024-03-0{n}\n" for n in range(1, 10)) * 3
    )
    counted = _ingest(only, "--dataset", "o", "--map", "user_id=card_id", "--map",
                      "event_time=visit_date", "--event-type", "purchase", "--amount-default", "1",
                      "--keep-repeats")  # fmt: skip
    assert "whole numbers" not in counted


def test_a_purchase_of_0_items_is_worded_in_items_not_money(home: Path, tmp_path: Path) -> None:
    """Review R2 of s42 (L1): a count log's day of 0 items was said as money, 'purchases at
    0.00 kept (a free item of an order: activity, no revenue)', beside the line that its
    amounts are counts of what was bought, no money."""
    path = _visits(tmp_path / "march.csv", range(1, 3))
    path.write_text(path.read_text() + "C1,2024-03-05,Leeds,0\n")
    said = _ingest(path, "--dataset", "g", *MAPS, "--amount-unit", "count")
    assert "    purchases of 0 items kept (activity): 1" in said.splitlines()
    assert "0.00" not in said


SESSION_MAPS = ("--map", "user_id=card_id", "--map", "event_time=visit_date", "--map",
                "event_type=kind")  # fmt: skip


def _sessions(tmp_path: Path) -> Path:
    """A session log: no amount column, no purchase, a 'Currency' column beside."""
    rows = [f"C{n},2024-03-{d:02d},GBP,session" for d in range(1, 11) for n in range(1, 11)]
    visits = tmp_path / "sessions.csv"
    visits.write_text("card_id,visit_date,Currency,kind\n" + "\n".join(rows) + "\n")
    return visits


def _refused_without_amounts(home: Path, visits: Path, option_reads: str, *given: str) -> None:
    """The first ingest of ``visits`` (no amount column) with the options ``given`` is
    refused in one line naming the file and ``option_reads``; nothing is written."""
    refused = CliRunner().invoke(
        main, ["ingest", str(visits), "--dataset", "s", *SESSION_MAPS, *given]
    )
    assert refused.exit_code == 1, refused.output
    assert (
        f"{visits} has no amount column: {option_reads} (name it with --map amount=COLUMN); "
        "for a log without amounts drop the option (--amount-default 1 counts each purchase 1)"
    ) in " ".join(refused.output.split())
    assert not load_settings(home=home).workspace.dataset_dir("s").exists()


def test_amount_unit_count_of_a_file_without_amounts_is_refused_in_one_line(
    home: Path, tmp_path: Path
) -> None:
    """A session log (no amount column, no purchase) with a 'Currency' column, ingested with
    --amount-unit count: validation judged it counted while the summary (counted_by) judged
    it money, so ingest wrote the dataset and then died on KeyError 'currency' in its
    summary. Then (6f70380) the option was ignored, said nowhere, yet recorded with the
    dataset: a later append of money read its amounts as counts and said the file lacked its
    'Currency' column (review R1 of s43, LOW-4). Refused now, naming the file; without the
    option the file loads, its column kept."""
    visits = _sessions(tmp_path)
    counts = "--amount-unit count reads counts of what was bought from one"
    _refused_without_amounts(home, visits, counts, "--amount-unit", "count")
    said = _ingest(visits, "--dataset", "s", *SESSION_MAPS)
    assert "100 rows loaded of 100" in said
    events = load_settings(home=home).workspace.events("s")
    assert pq.read_table(events, columns=["Currency"])["Currency"].to_pylist() == ["GBP"] * 100


@pytest.mark.parametrize(
    ("unit", "reads", "default"),
    [
        ("minor", "in the currency's minor unit (7045 is USD 70.45)", ()),
        ("cents", "in hundredths (7045 is 70.45)", ()),
        # a default's amounts are no minor unit: the option reads none of them either
        ("cents", "in hundredths (7045 is 70.45)", ("--amount-default", "1")),
    ],
)
def test_a_minor_amount_unit_of_a_file_without_amounts_is_refused_in_one_line(
    home: Path, tmp_path: Path, unit: str, reads: str, default: tuple[str, ...]
) -> None:
    """Session 43 (after 0f759b8): --amount-unit minor or cents given to a session log
    without an amount column was ignored, said nowhere, yet recorded with the dataset: a
    later append's GBP 3.50 was read as 0.035 (cents), or refused as a minor unit of no
    currency (minor), though the append gave no --amount-unit. Refused now, as count is;
    without it an append reads its amounts as written."""
    visits = _sessions(tmp_path)
    option_reads = f"--amount-unit {unit} reads amounts {reads} from one"
    _refused_without_amounts(home, visits, option_reads, "--amount-unit", unit, *default)
    _ingest(visits, "--dataset", "s", *SESSION_MAPS, *default)
    paid = tmp_path / "paid.csv"
    paid.write_text("card_id,visit_date,kind,amount\nC1,2024-03-11,purchase,3.50\n")
    said = _ingest(paid, "--dataset", "s", *SESSION_MAPS, "--map", "amount=amount", "--append")
    assert "1 row loaded of 1" in said, said
    events = pq.read_table(load_settings(home=home).workspace.events("s")).to_pandas()
    assert events.loc[events["event_type"] == "purchase", "amount"].tolist() == [3.5]


@pytest.mark.parametrize("default", [(), ("--amount-default", "1")])
def test_currency_of_a_file_without_amounts_is_refused_in_one_line(
    home: Path, tmp_path: Path, default: tuple[str, ...]
) -> None:
    """Session 43 (after 0f759b8): --currency GBP given to a session log without an amount
    column was said ignored ('no currency is recorded'), yet recorded with the dataset: a
    later append of money was refused ('--currency GBP: dataset 's' records no currency'),
    though it gave no --currency. Refused now, --amount-default's amounts (purchases
    counted, no money) too; without it an append's amounts load in no currency."""
    visits = _sessions(tmp_path)
    currency = "--currency GBP gives the currency of the amounts in one"
    _refused_without_amounts(home, visits, currency, "--currency", "GBP", *default)
    _ingest(visits, "--dataset", "s", *SESSION_MAPS, *default)
    paid = tmp_path / "paid.csv"
    paid.write_text("card_id,visit_date,kind,amount\nC1,2024-03-11,purchase,3.50\n")
    said = _ingest(paid, "--dataset", "s", *SESSION_MAPS, "--map", "amount=amount", "--append")
    assert "1 row loaded of 1" in said, said


def _later_sessions(tmp_path: Path) -> Path:
    """Another session log, of the days after :func:`_sessions`'."""
    later = tmp_path / "later.csv"
    later.write_text("card_id,visit_date,Currency,kind\nC1,2024-03-11,GBP,session\n")
    return later


@pytest.mark.parametrize(
    ("first", "given", "option_reads"),
    [  # the dataset records no currency: an append's --currency would record one
        ((), ("--currency", "GBP"), "--currency GBP gives the currency of the amounts in one"),
        # the dataset records cents: given again, the option still reads no amount here
        (
            ("--amount-unit", "cents"),
            ("--amount-unit", "cents"),
            "--amount-unit cents reads amounts in hundredths (7045 is 70.45) from one",
        ),
    ],
)
def test_an_append_of_a_file_without_amounts_refuses_amount_options_given(
    home: Path, tmp_path: Path, first: tuple[str, ...], given: tuple[str, ...], option_reads: str
) -> None:
    """Session 44: an append's file without an amount column took --currency GBP (and
    --amount-unit) where a first ingest's is refused, and recorded it with the batch: a later
    append of money without --currency was refused ('--currency GBP: dataset 's' records no
    currency'). Refused now in the same line, nothing written; the options the dataset records
    (not given) still read such a file, and the later append loads."""
    if first:  # money read in cents: 350 is 3.50
        paid = tmp_path / "cents.csv"
        paid.write_text("card_id,visit_date,kind,amount\nC2,2024-03-01,purchase,350\n")
        _ingest(paid, "--dataset", "s", *SESSION_MAPS, *first)
    else:
        _ingest(_sessions(tmp_path), "--dataset", "s", *SESSION_MAPS)
    report = load_settings(home=home).workspace.dataset_dir("s") / "report.json"
    before = report.read_text()
    later = _later_sessions(tmp_path)
    refused = CliRunner().invoke(
        main, ["ingest", str(later), "--dataset", "s", *SESSION_MAPS, *given, "--append"]
    )
    assert refused.exit_code == 1, refused.output
    assert (
        f"{later} has no amount column: {option_reads} (name it with --map amount=COLUMN); "
        "for a log without amounts drop the option (--amount-default 1 counts each purchase 1)"
    ) in " ".join(refused.output.split())
    assert report.read_text() == before  # nothing written
    assert "1 row loaded of 1" in _ingest(later, "--dataset", "s", *SESSION_MAPS, "--append")
    paid = tmp_path / "paid.csv"
    paid.write_text("card_id,visit_date,kind,amount\nC1,2024-03-12,purchase,350\n")
    said = _ingest(paid, "--dataset", "s", *SESSION_MAPS, "--map", "amount=amount", "--append")
    assert "1 row loaded of 1" in said, said
    events = pq.read_table(load_settings(home=home).workspace.events("s")).to_pandas()
    paid_on = events.loc[events["event_type"] == "purchase"].set_index("user_id")["amount"]
    assert paid_on["C1"] == (3.5 if first else 350.0)
