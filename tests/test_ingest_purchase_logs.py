"""Ingest of real purchase logs: no amounts (count-only), genuine same-moment repeats kept
on request, and a dataset named after its file, never silently `demo`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_ingest import HEADER_3, _events_file, _users_file

from features import contract as c
from features import ingest
from features.csv_format import CsvFormat
from features.dataset_summary import read_dataset_summary
from features.validation import ContractError
from lifecycle.cli import main
from lifecycle.errors import UserError

# -- real purchase logs: no amounts, genuine repeats, a name from the file -------------

GROCERY = (  # a count-only log: member, day; rows 2 and 3 are the same purchase twice
    "Member_number,Date\n"
    "1808,2015-07-21\n"
    "2552,2015-01-05\n"
    "2552,2015-01-05\n"
    "2300,2015-09-19\n"
    "1808,2015-07-21\n"  # row 5: repeats row 1
)
GROCERY_MAPS = ["--map", "user_id=Member_number", "--map", "event_time=Date"]


def _grocery(tmp_path: Path) -> Path:
    path = tmp_path / "groceries.csv"
    path.write_text(GROCERY)
    return path


def test_count_only_log_without_amount_default_is_refused_in_one_line(
    home: Path, tmp_path: Path
) -> None:
    log = _grocery(tmp_path)
    result = CliRunner().invoke(
        main, ["ingest", str(log), *GROCERY_MAPS, "--event-type", "purchase"]
    )
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert f"{log}: no amount column 'amount', but row 1 is a purchase" in error
    assert "--amount-default 1" in error and "--map amount=COLUMN" in error
    assert "Member_number, Date" in error  # the columns the file has
    assert "Traceback" not in result.output
    assert not (home / "datasets" / "groceries").exists()
    # The function says the same; a mixed log with a purchase in a later chunk names its row.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(HEADER_3 + "u1,2024-01-01,session\n" * 4 + "u1,2024-01-02,purchase\n")
    with pytest.raises(ContractError, match=r"mixed\.csv: no amount column.*row 5 is a purchase"):
        ingest.ingest_events(mixed, tmp_path / "d", chunk_rows=2)
    assert not (tmp_path / "d").exists()
    # A log with no purchase or refund rows needs no amounts.
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(HEADER_3 + "u1,2024-01-01,session\n")
    assert ingest.ingest_events(sessions, tmp_path / "s").tables["events"]["rows_loaded"] == 1


def test_a_purchase_log_without_event_types_is_told_its_option(home: Path, tmp_path: Path) -> None:
    """A shop's export (customer, time, amount: no event types) was refused naming only the
    missing column and --map, which cannot make one; the refusal names --event-type."""
    orders = tmp_path / "orders.csv"
    orders.write_text("user_id,event_time,amount\nc1,2024-01-01,12.5\n")
    result = CliRunner().invoke(main, ["ingest", str(orders)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: {orders}: missing column 'event_type'")
    assert error.endswith(
        "a log of purchases only (user, time, amount) takes --event-type purchase"
    )
    loaded = CliRunner().invoke(main, ["ingest", str(orders), "--event-type", "purchase"])
    assert loaded.exit_code == 0, loaded.output
    # A file missing other columns only, or without amounts, is not told about event types.
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("user_id,event_type\nc1,session\n")
    refused = CliRunner().invoke(main, ["ingest", str(sessions)])
    assert "missing column 'event_time'" in refused.stderr and "--event-type" not in refused.stderr
    visits = tmp_path / "visits.csv"
    visits.write_text("user_id,event_time,kind\nc1,2024-01-01,session\n")
    refused = CliRunner().invoke(main, ["ingest", str(visits)])
    assert "missing column 'event_type'" in refused.stderr and "--event-type" not in refused.stderr


def test_a_visit_log_without_amounts_or_types_is_told_its_option(
    home: Path, tmp_path: Path
) -> None:
    """Trial P: a loyalty log (card, date, store: no amount, no event type) was refused
    naming only the missing column and --map; it is told --event-type purchase, its other
    column named as the other way. A column holding an event type name is the file's types:
    not told (the visits.csv case of the test above)."""
    visits = tmp_path / "visits.csv"
    visits.write_text("card_id,visit_date,store\nC1,2024-01-01,Leeds\nC2,2024-01-02,York\n")
    maps = ["--map", "user_id=card_id", "--map", "event_time=visit_date"]
    refused = CliRunner().invoke(main, ["ingest", str(visits), *maps])
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: {visits}: missing column 'event_type'")
    assert error.endswith(
        "a log of purchases only (user and time, no amount column) takes --event-type purchase "
        "--amount-default 1 (each row counts 1); if 'store' holds each row's event type, --map "
        "event_type=store reads it"
    )
    told = CliRunner().invoke(
        main, ["ingest", str(visits), *maps, "--event-type", "purchase", "--amount-default", "1"]
    )
    assert told.exit_code == 0, told.output
    pairs = tmp_path / "pairs.csv"  # user and time alone
    pairs.write_text("user_id,event_time\nc1,2024-01-01\n")
    refused = CliRunner().invoke(main, ["ingest", str(pairs)])
    assert refused.stderr.rstrip().endswith(
        "a log of purchases only (user and time, no amount column) takes --event-type purchase "
        "--amount-default 1 (each row counts 1)"
    )
    typed = tmp_path / "typed.csv"  # a third column of type names, one among others
    typed.write_text("user_id,event_time,kind\nc1,2024-01-01,visit\nc1,2024-01-02, Purchase\n")
    refused = CliRunner().invoke(main, ["ingest", str(typed)])
    assert "missing column 'event_type'" in refused.stderr and "--event-type" not in refused.stderr


def test_a_column_of_currency_codes_is_named_as_the_currency_not_as_event_types(
    home: Path, tmp_path: Path
) -> None:
    """Session 53, a German shop's export (Kundennummer;Zeitpunkt;Betrag;Waehrung): the refusal
    offered '--map event_type=Waehrung' for a column of EUR in every row, and said nothing of
    it as the currency, so ingested as told it recorded none ('money in no currency
    recorded' in every list). A column of ISO 4217 codes is named as the currency."""
    orders = tmp_path / "bestellungen.csv"
    orders.write_text(
        "kunde,zeit,Waehrung,filiale\n0042,2024-01-01,EUR,Köln\n0043,2024-01-02,eur,Bonn\n"
    )
    maps = ["--map", "user_id=kunde", "--map", "event_time=zeit"]
    refused = CliRunner().invoke(main, ["ingest", str(orders), *maps])
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert error.endswith(
        "a log of purchases only (user and time, no amount column) takes --event-type purchase "
        "--amount-default 1 (each row counts 1); if 'filiale' holds each row's event type, "
        "--map event_type=filiale reads it; "
        "if 'Waehrung' holds the amounts' currency, --map currency=Waehrung"
    )
    alone = tmp_path / "alone.csv"  # the codes column the only other one
    alone.write_text("kunde,zeit,Waehrung\n0042,2024-01-01,EUR\n0043,2024-01-02,EUR\n")
    refused = CliRunner().invoke(main, ["ingest", str(alone), *maps])
    assert refused.stderr.rstrip().endswith(
        "takes --event-type purchase --amount-default 1 (each row counts 1); if 'Waehrung' "
        "holds the amounts' currency, "
        "--map currency=Waehrung"
    )
    assert "event_type=Waehrung" not in refused.stderr
    named = tmp_path / "named.csv"  # a column named as the currency is read so: not told
    named.write_text("kunde,zeit,Currency\n0042,2024-01-01,EUR\n")
    refused = CliRunner().invoke(main, ["ingest", str(named), *maps])
    assert refused.stderr.rstrip().endswith(
        "takes --event-type purchase --amount-default 1 (each row counts 1)"
    )


def test_an_ingested_column_of_currency_codes_not_read_as_the_currency_is_said(
    home: Path, tmp_path: Path
) -> None:
    """Session 53: a German shop's export ingested as told (--event-type purchase, its
    'Waehrung' of EUR not mapped) loaded and said nothing of the column, so the dataset
    recorded no currency and every list said 'no currency recorded'. The summary names the
    column, its code and --map currency=Waehrung; an append says to ingest the files again;
    a column of two codes says they are summed as one; none when the currency is read."""
    orders = tmp_path / "bestellungen.csv"
    header = "kunde;zeit;Betrag;Waehrung;filiale\n"
    orders.write_text(
        header + "0042;2024-01-01;97,50;EUR;Köln\n0043;2024-01-02;-23,90;eur;Bonn\n"
        "0042;2024-01-03;12,00;;Bonn\n"
    )
    maps = ["--map", "user_id=kunde", "--map", "event_time=zeit", "--map", "amount=Betrag"]
    told = [*maps, "--delimiter", ";", "--decimal-comma", "--event-type", "purchase"]
    loaded = CliRunner().invoke(main, ["ingest", str(orders), *told, "--negative-is-refund"])
    assert loaded.exit_code == 0, loaded.output
    said = (
        "    column 'Waehrung' holds a currency code on 2 purchase and refund rows (EUR) but is "
        "not read as the currency, so the dataset records none (lists and the API say 'no "
        "currency recorded'): if it is the amounts' currency, ingest the file again with "
        "--map currency=Waehrung"
    )
    assert said in loaded.stdout.splitlines()
    folder = home / "datasets" / "bestellungen"
    notes = json.loads((folder / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["currency_in_a_column"] == {
        "column": "Waehrung",
        "codes": {"EUR": 2},
        "appended": False,
    }
    # An append to the dataset (as `refresh` makes) says it again, with the files' remedy.
    later = tmp_path / "juni.csv"
    later.write_text(header + "0044;2024-02-01;5,00;EUR;Köln\n")
    appended = CliRunner().invoke(
        main, ["ingest", str(later), "--append", "--dataset", "bestellungen"]
    )
    assert appended.exit_code == 0, appended.output
    assert (
        "(EUR) but is not read as the currency, so the dataset records none (lists and the "
        "API say 'no currency recorded'): if it is the amounts' currency, ingest the "
        "dataset's files again with --map currency=Waehrung (the first with --replace, then "
        "--append the later ones)"
    ) in appended.stdout
    # Read as the currency: nothing to say, and the dataset records EUR.
    mapped = CliRunner().invoke(
        main,
        ["ingest", str(orders), *told, "--dataset", "mapped", "--map", "currency=Waehrung"],
    )
    assert mapped.exit_code == 0, mapped.output
    assert "Waehrung" not in mapped.stdout
    # Two codes: summed as one money, said so; a column of words ('filiale') is no currency.
    mixed = tmp_path / "gemischt.csv"
    mixed.write_text(header + "0042;2024-01-01;9,50;EUR;Köln\n0043;2024-01-02;4,00;CHF;Bonn\n")
    two = CliRunner().invoke(main, ["ingest", str(mixed), *told])
    assert two.exit_code == 0, two.output
    assert (
        "holds a currency code on 2 purchase and refund rows (CHF on 1, EUR on 1) but is not "
        "read as the currency, so the dataset records none (lists and the API say 'no "
        "currency recorded'): its amounts in 2 currencies are summed as one money"
    ) in two.stdout
    assert "filiale" not in loaded.stdout + two.stdout


def test_an_amount_column_named_in_another_language_is_named_as_the_amount(
    home: Path, tmp_path: Path
) -> None:
    """Session 53, a German shop's export: the refusal said '(user and time, no amount
    column)' beside 'Betrag' (97,50 in every row), as amount columns were known by English
    names only. A money word of the common languages of shops' exports names it, a whole
    word of the name or (German, Dutch, Scandinavian) a word's end; never part of another
    word (Importeur), and a quantity ('Menge') is not named."""
    orders = tmp_path / "bestellungen.csv"
    orders.write_text(
        "Kundennummer;Zeitpunkt;Betrag;Waehrung;Bestellnummer\n"
        "0175769;2023-01-01 09:04:26+01:00;97,50;EUR;1001\n"
        "0175770;2023-01-02 10:00:00+01:00;-23,90;EUR;1002\n"
    )
    maps = ["--map", "user_id=Kundennummer", "--map", "event_time=Zeitpunkt"]
    refused = CliRunner().invoke(main, ["ingest", str(orders), "--delimiter", ";", *maps])
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert error.endswith(
        "a log of purchases only (user, time, amount: --map amount=Betrag) takes --event-type "
        "purchase; if 'Waehrung' holds the amounts' currency, --map currency=Waehrung"
    )
    for name in ("Umsatz", "Montant", "Importe", "Prezzo", "Bedrag", "Gesamtbetrag (EUR)"):
        log = tmp_path / "log.csv"
        log.write_text(f'kunde,zeit,Menge,{name}\nc1,2024-01-01,2,"12,50"\n')
        refused = CliRunner().invoke(
            main, ["ingest", str(log), "--map", "user_id=kunde", "--map", "event_time=zeit"]
        )
        quoted = shlex.quote(name)
        assert f"(user, time, amount: --map amount={quoted}) takes" in refused.stderr, name
    # A file of event types: the refusal of its purchases without amounts names the column.
    typed = tmp_path / "typed.csv"
    typed.write_text("user_id,event_time,event_type,Importeur,Umsatz\nc1,2024-01-01,purchase,A,9\n")
    refused = CliRunner().invoke(main, ["ingest", str(typed)])
    assert "If 'Umsatz' holds them, name it with --map amount=Umsatz" in refused.stderr
    assert c.named_as_amount(["Importeur", "Menge", "escena"], []) is None


def test_a_unit_price_beside_a_quantity_is_not_offered_as_the_amount(
    home: Path, tmp_path: Path, shared_data: Path
) -> None:
    """Session 58, a newcomer's ingest of online_retail's own file with the README's maps:
    the refusal said `If 'UnitPrice' holds them, name it with --map amount=UnitPrice`, and
    that ingest loaded 401,604 rows whose every line counted one unit (an order's revenue
    the sum of its unit prices; its cancellations, quantity -6 at a positive price, read as
    purchases). A price per unit beside a quantity is said to be one, with the product to
    write, and online_retail's file is pointed to its adapter; nothing is written."""
    import gzip

    from features import adapters

    with gzip.open(shared_data / adapters.ONLINE_RETAIL_FILE, "rt") as source:
        head = [next(source) for _ in range(200)]
    orders = tmp_path / "online_retail_head.csv"
    orders.write_text("".join(head))
    maps = ["--map", "user_id=CustomerID", "--map", "event_time=InvoiceDate"]
    args = ["ingest", str(orders), *maps, "--map", "order_id=InvoiceNo", "--event-type"]
    refused = CliRunner().invoke(main, [*args, "purchase", "--negative-is-refund"])
    assert refused.exit_code == 1, refused.output
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert "--map amount=UnitPrice" not in error
    assert error.endswith(
        "'UnitPrice' is a price per unit beside 'Quantity': a purchase's amount is what the "
        "line cost, Quantity x UnitPrice, which no column holds; write it as a column and name "
        "that with --map amount=COLUMN (this file has online_retail's own columns: `lifecycle "
        "import online-retail FILE` reads it so, its cancellations as refunds)"
    ), error
    assert not (home / "datasets" / "online_retail_head").exists()
    # another shop's lines: the product to write, no adapter named
    lines = tmp_path / "lines.csv"
    lines.write_text("Email,Paid at,Lineitem quantity,Lineitem price\na@x.com,2024-01-01,2,9.5\n")
    args = ["ingest", str(lines), "--map", "user_id=Email", "--map", "event_time=Paid at"]
    refused = CliRunner().invoke(main, [*args, "--event-type", "purchase"])
    assert "'Lineitem price' is a price per unit beside 'Lineitem quantity'" in refused.stderr
    assert "import online-retail" not in refused.stderr
    # a price with no quantity beside it may be the line's amount: offered as before
    assert c.quantity_beside_price(["Email", "Price"], "Price") is None


def test_count_only_log_with_amount_default_counts_purchases(home: Path, tmp_path: Path) -> None:
    log = _grocery(tmp_path)
    args = ["ingest", str(log), *GROCERY_MAPS, "--event-type", "purchase", "--amount-default", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "3 purchase/refund rows given amount 1 (no amount column: LTV is in purchases)" in (
        result.stdout
    )
    folder = home / "datasets" / "groceries"
    events = pd.read_parquet(folder / "events.parquet")
    assert events[c.USER_ID].tolist() == ["2552", "1808", "2300"]  # in time order
    assert events[c.AMOUNT].tolist() == [1.0, 1.0, 1.0]
    assert set(events[c.EVENT_TYPE]) == {c.PURCHASE}
    report = json.loads((folder / "report.json").read_text())["tables"]["events"]
    assert report["rows_read"] == 5 and report["rows_loaded"] == 3
    assert report["reasons"] == {"duplicate_row": 2}
    notes = report["notes"]
    assert notes["amount_default"] == 1.0 and notes["amount_in_file"] is False
    assert notes["amount_defaulted"] == 3  # the loaded rows only, not the quarantined repeats
    assert notes["amount_unit"].startswith("purchases")
    # With an event type column: purchases and refunds get the default, other rows none.
    typed = tmp_path / "typed.csv"
    typed.write_text(
        HEADER_3 + "u1,2024-01-01,signup\nu1,2024-01-02,purchase\nu1,2024-01-03,refund\n"
    )
    summary = ingest.ingest_events(typed, tmp_path / "typed", amount_default=2.5)
    loaded = pd.read_parquet(summary.path / "events.parquet")
    assert loaded[c.AMOUNT].tolist()[1:] == [2.5, 2.5] and pd.isna(loaded[c.AMOUNT].iloc[0])
    assert summary.tables["events"]["notes"]["amount_defaulted"] == 2


def test_units_of_a_count_only_log_say_purchases_not_money(home: Path, tmp_path: Path) -> None:
    """Lists and the report state their units from the dataset: a log ingested without
    amounts holds purchases counted, which no list may call money."""
    from lifecycle.settings import load_settings
    from serving.units import units_for

    args = ["ingest", str(_grocery(tmp_path)), *GROCERY_MAPS, "--event-type", "purchase"]
    assert CliRunner().invoke(main, [*args, "--amount-default", "1"]).exit_code == 0
    settings = load_settings(home=home)
    units = units_for(settings, {"dataset": "groceries"})
    assert units.text().startswith("amounts are purchases counted (a log without amounts: each ")
    assert units.currency == "none: amounts are purchases counted"
    assert units.to_dict()["amounts"] == units.amounts
    # A log with amounts and no currency keeps saying so.
    orders = tmp_path / "orders.csv"
    orders.write_text("Member_number,Date,Total\n1808,2015-07-21,3.5\n")
    done = CliRunner().invoke(main, [*args[:1], str(orders), *args[2:], "--map", "amount=Total"])
    assert done.exit_code == 0, done.output
    assert (
        units_for(settings, {"dataset": "orders"})
        .text()
        .startswith("money in no currency recorded")
    )


def test_amount_default_fills_empty_cells_of_a_present_column_and_counts_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "user_id,event_time,event_type,amount\n"
        "u1,2024-01-01,purchase,12.5\n"
        "u2,2024-01-02,purchase,\n"  # row 2: empty amount
        "u3,2024-01-03,session,\n"  # not monetary: stays without an amount
        # row 4: no user and no amount: missing_amount as a user's row would be; given the
        # default, missing_user_id (a guest purchase), never counted as defaulted
        ",2024-01-04,purchase,\n"
        "u5,2024-01-05,purchase,abc\n"  # row 5: a bad value is never defaulted
        "u2,2024-01-02,purchase,\n"  # row 6: repeats row 2, quarantined, not counted
        "u6,2024-01-06,session,\n"
    )
    without = ingest.ingest_events(path, tmp_path / "without", max_bad_fraction=0.9)
    assert without.tables["events"]["reasons"]["missing_amount"] == 3  # rows 2, 4 and 6
    assert "amount_defaulted" not in without.tables["events"]["notes"]
    with_default = ingest.ingest_events(path, tmp_path / "with", amount_default=1)
    report = with_default.tables["events"]
    assert report["reasons"] == {"duplicate_row": 1, "invalid_amount": 1, "missing_user_id": 1}
    assert report["rows_loaded"] + report["rows_quarantined"] == report["rows_read"] == 7
    assert report["notes"]["amount_defaulted"] == 1 and report["notes"]["amount_in_file"] is True
    events = pd.read_parquet(with_default.path / "events.parquet").set_index(c.USER_ID)
    assert events.at["u1", c.AMOUNT] == 12.5 and events.at["u2", c.AMOUNT] == 1.0
    assert pd.isna(events.at["u3", c.AMOUNT])
    line = "1 purchase/refund rows given amount 1 (their amount was empty)"
    assert line in "\n".join(with_default.lines())


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_cli_amount_default_must_be_a_positive_number(
    home: Path, tmp_path: Path, value: str
) -> None:
    result = CliRunner().invoke(
        main, ["ingest", str(_grocery(tmp_path)), *GROCERY_MAPS, "--amount-default", value]
    )
    assert result.exit_code == 2 and "--amount-default" in result.output
    assert not (home / "datasets").exists()


def _ingest_repeats(events: Path, folder: Path, chunk_rows: int, keep: bool) -> Path:
    summary = ingest.ingest_events(
        events,
        folder,
        users_path=_users_file(events.parent),
        users_mapping=c.ColumnMapping(columns={c.USER_ID: "id"}),
        chunk_rows=chunk_rows,
        keep_repeats=keep,
    )
    return summary.path


@pytest.mark.parametrize("keep", [False, True])
def test_keep_repeats_counts_add_up_and_match_across_chunk_sizes(
    tmp_path: Path, keep: bool
) -> None:
    events, expected = _events_file(tmp_path)  # 60 rows: 6 bad, 3 exact repeats
    if keep:
        expected = {row: r for row, r in expected.items() if r != "duplicate_row"}
    folders = {n: _ingest_repeats(events, tmp_path / f"c{n}", n, keep) for n in (1, 7, 1_000)}
    whole = folders[1_000]
    report = json.loads((whole / "report.json").read_text())["tables"]
    for folder in folders.values():
        pd.testing.assert_frame_equal(
            pd.read_parquet(folder / "events.parquet"), pd.read_parquet(whole / "events.parquet")
        )
        for table in ("events", "users"):
            assert (folder / "quarantine" / f"{table}.csv").read_bytes() == (
                whole / "quarantine" / f"{table}.csv"
            ).read_bytes()
        assert json.loads((folder / "report.json").read_text())["tables"] == report
    events_report = report["events"]
    loaded = pd.read_parquet(whole / "events.parquet")
    quarantine = pd.read_csv(whole / "quarantine" / "events.csv", dtype=str)
    assert dict(zip(quarantine[c.SOURCE_ROW].astype(int), quarantine[c.REASON], strict=True)) == (
        expected
    )
    assert events_report["rows_read"] == 60 == len(loaded) + len(quarantine)
    assert events_report["rows_loaded"] == len(loaded) == 60 - len(expected)
    assert events_report["rows_quarantined"] == len(quarantine)
    if keep:
        assert events_report["notes"]["repeats_kept"] == 3
        assert "duplicate_row" not in events_report["reasons"]
        assert len(loaded) == 54
        assert (loaded.duplicated(keep=False)).sum() == 6  # each of 3 rows and its copy
    else:
        assert "repeats_kept" not in events_report["notes"]
        assert events_report["reasons"]["duplicate_row"] == 3 and len(loaded) == 51
        assert not loaded.duplicated().any()
    # The users table stays one row per user either way.
    assert report["users"]["reasons"]["duplicate_user_id"] == 3


def test_cli_keep_repeats_from_option_and_settings(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifecycle.settings import IngestSettings

    assert IngestSettings().keep_repeats is False
    log = _grocery(tmp_path)
    base = ["--json", "--quiet", "ingest", str(log), *GROCERY_MAPS]
    base += ["--event-type", "purchase", "--amount-default", "1"]
    runner = CliRunner()

    def loaded(*extra: str) -> dict:
        result = runner.invoke(main, [*base, *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["tables"]["events"]

    assert loaded()["rows_loaded"] == 3
    # the summary names the option: 255 real repeat purchases of CDNOW's log were quarantined
    # with no word of it
    said = runner.invoke(main, base[2:]).stdout.splitlines()
    assert (
        "    2 duplicate_row rows: the same in every column as a row loaded, kept once; if they "
        "are separate events (two purchases at one moment, an item bought twice in one "
        "basket, invoice lines exported without their product), --keep-repeats loads every copy"
    ) in said
    kept = loaded("--keep-repeats")
    assert kept["rows_loaded"] == 5 and kept["rows_quarantined"] == 0
    assert kept["notes"]["repeats_kept"] == 2 and kept["notes"]["amount_defaulted"] == 5
    monkeypatch.setenv("LIFECYCLE_INGEST__KEEP_REPEATS", "true")
    assert loaded()["notes"]["repeats_kept"] == 2
    assert loaded("--no-keep-repeats")["reasons"] == {"duplicate_row": 2}
    events = pd.read_parquet(home / "datasets" / "groceries" / "events.parquet")
    assert len(events) == 3  # the last run quarantined the repeats again


@pytest.mark.parametrize(
    ("file_name", "dataset"),
    [
        ("orders.csv", "orders"),
        ("orders.csv.gz", "orders"),
        ("Orders 2024.CSV", "orders_2024"),
        ("../x y.CSV", "x_y"),
        ("shop-events_v2.parquet", "shop-events_v2"),
        ("sales.tsv.gz", "sales"),
        ("export.2024.txt", "export_2024"),
        ("Zürich.csv", "z_rich"),
    ],
)
def test_dataset_name_from_file(file_name: str, dataset: str) -> None:
    assert ingest.dataset_name_from_file(Path(file_name)) == dataset


@pytest.mark.parametrize("file_name", [".csv", "+++.csv", "日本.csv", ".."])
def test_dataset_name_from_a_file_name_that_gives_none(file_name: str) -> None:
    with pytest.raises(UserError, match=r"no dataset name can be made.*--dataset NAME"):
        ingest.dataset_name_from_file(Path(file_name))


def test_cli_names_the_dataset_after_the_file_never_demo(home: Path, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    hostile = tmp_path / "x y.CSV"
    hostile.write_text(HEADER_3 + "u1,2024-01-01,session\nu2,2024-01-02,session\n")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(tmp_path / "sub" / ".." / "x y.CSV")])
    assert result.exit_code == 0, result.output
    assert "dataset 'x_y', named after x y.CSV" in result.stderr
    assert "--dataset x_y" in result.stderr  # how the other commands find it
    assert "dataset 'x_y' (events)" in result.stdout
    datasets = home / "datasets"
    assert sorted(p.name for p in datasets.iterdir() if not p.name.startswith(".")) == ["x_y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "workspace", "x y.CSV"]
    data = json.loads(runner.invoke(main, ["--json", "--quiet", "ingest", str(hostile)]).stdout)
    assert data["name"] == "x_y"
    # demo only when asked for by name.
    assert runner.invoke(main, ["ingest", str(hostile), "--dataset", "demo"]).exit_code == 0
    assert sorted(p.name for p in datasets.iterdir() if not p.name.startswith(".")) == [
        "demo",
        "x_y",
    ]
    # A file name that gives no name, or a name that is not one folder: a clear error.
    nameless = tmp_path / "+++.csv"
    nameless.write_text(hostile.read_text())
    refused = runner.invoke(main, ["ingest", str(nameless)])
    assert refused.exit_code == 1 and "name the dataset with --dataset NAME" in refused.stderr
    for bad_name in ("../escape", ".versions", ""):
        refused = runner.invoke(main, ["ingest", str(hostile), "--dataset", bad_name])
        assert refused.exit_code == 1 and "expected one folder name" in refused.stderr
    assert not (tmp_path / "escape").exists()
    assert sorted(p.name for p in datasets.iterdir() if not p.name.startswith(".")) == [
        "demo",
        "x_y",
    ]


def test_import_and_demo_data_keep_their_own_dataset_names(home: Path, tmp_path: Path) -> None:
    hillstrom = tmp_path / "my-campaign.csv"
    hillstrom.write_text(
        "recency,history,mens,womens,newbie,channel,segment,visit,conversion,spend\n"
        "10,142.44,1,0,0,Phone,Womens E-Mail,0,0,0\n"
        "6,329.08,1,1,1,Web,No E-Mail,1,0,0\n"
    )
    runner = CliRunner()
    result = runner.invoke(main, ["import", "hillstrom", str(hillstrom)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--quiet", "demo-data", "--users", "10", "--seed", "1"])
    assert result.exit_code == 0, result.output
    datasets = home / "datasets"
    assert sorted(p.name for p in datasets.iterdir() if not p.name.startswith(".")) == [
        "demo",
        "hillstrom",
    ]


# -- purchase logs as other tools write them ---------------------------------------------

PURCHASE_MAPS = ["user_id=CustomerID", "event_time=InvoiceDate", "amount=Total"]
PURCHASE_CLI = [arg for pair in PURCHASE_MAPS for arg in ("--map", pair)]


def _purchases(**options: object) -> c.ColumnMapping:
    return c.ColumnMapping.parse(PURCHASE_MAPS, default_event_type=c.PURCHASE, **options)


def test_float_ids_in_a_csv_are_the_integers_parquet_gives(tmp_path: Path) -> None:
    invoices = pd.DataFrame(  # pandas writes an id column with a null as floats: 18074.0
        {
            "InvoiceNo": [536384.0, 536385.0, None, 536387.0],
            "CustomerID": [18074.0, None, 12583.0, 18074.0],
            "InvoiceDate": ["2010-12-01 09:53", "2010-12-01 10:00", "2010-12-02", "2010-12-03"],
            "Total": [10.0, 5.0, 7.5, 3.0],
        }
    )
    invoices.to_csv(tmp_path / "invoices.csv", index=False)
    assert "18074.0" in (tmp_path / "invoices.csv").read_text()
    invoices.to_parquet(tmp_path / "invoices.parquet", index=False)
    mapping = c.ColumnMapping.parse(
        [*PURCHASE_MAPS, "order_id=InvoiceNo"], default_event_type=c.PURCHASE
    )
    loaded = {}
    for kind in ("csv", "parquet"):
        summary = ingest.ingest_events(
            tmp_path / f"invoices.{kind}", tmp_path / kind, mapping=mapping
        )
        loaded[kind] = pd.read_parquet(tmp_path / kind / "events.parquet")
    assert loaded["csv"][c.USER_ID].tolist() == ["18074", "12583", "18074"]
    assert loaded["csv"][c.USER_ID].tolist() == loaded["parquet"][c.USER_ID].tolist()
    assert loaded["csv"][c.ORDER_ID].tolist() == ["536384", pd.NA, "536387"]
    csv_notes = read_dataset_summary(tmp_path / "csv").tables["events"]["notes"]
    assert csv_notes["ids_read_as_integers"] == {"user_id": "CustomerID", "order_id": "InvoiceNo"}
    assert "CustomerID': every id written with .0 (18074.0), read as the integer" in "\n".join(
        read_dataset_summary(tmp_path / "csv").lines()
    )
    assert "ids_read_as_integers" not in summary.tables["events"]["notes"]  # Parquet: exact
    # A later clean export appends to the same customers, not to new ones.
    clean = tmp_path / "next.csv"
    clean.write_text("CustomerID,InvoiceDate,Total,InvoiceNo\n18074,2010-12-04,2,536390\n")
    ingest.ingest_events(clean, tmp_path / "csv", mapping=mapping, mode="append")
    after = pd.read_parquet(tmp_path / "csv" / "events.parquet")
    assert sorted(set(after[c.USER_ID])) == ["12583", "18074"]
    # Only when every filled id is written so: 12.0 beside x7 is text as the file holds it.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("CustomerID,InvoiceDate,Total\n12.0,2010-12-01,1\nx7,2010-12-01,1\n")
    ingest.ingest_events(mixed, tmp_path / "mixed", mapping=_purchases())
    kept = pd.read_parquet(tmp_path / "mixed" / "events.parquet")
    assert sorted(kept[c.USER_ID]) == ["12.0", "x7"]


def test_epoch_second_times_are_named_and_read_with_time_format_s(
    home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "epoch.csv"
    log.write_text("CustomerID,InvoiceDate,Total\n18074,1291197180,10\n12583,1291200000,5\n")
    with pytest.raises(ContractError, match=r"seconds since 1970: use --time-format %s"):
        ingest.ingest_events(log, tmp_path / "refused", mapping=_purchases())
    args = ["ingest", str(log), *PURCHASE_CLI, "--event-type", "purchase"]
    result = CliRunner().invoke(main, [*args, "--time-format", "%s"])
    assert result.exit_code == 0, result.output
    events = pd.read_parquet(home / "datasets" / "epoch" / "events.parquet")
    assert events[c.EVENT_TIME].tolist() == [
        pd.Timestamp("2010-12-01 09:53:00", tz="UTC"),
        pd.Timestamp("2010-12-01 10:40:00", tz="UTC"),
    ]
    # Milliseconds (a JavaScript export) in a Parquet integer column are named too, the example
    # as the file's value (it read 'InvoiceDate=np.int64(1291197180123)')
    millis_pq = tmp_path / "millis.parquet"
    pd.DataFrame(
        {"CustomerID": [1, 2], "InvoiceDate": [1291197180123, 1291197190000], "Total": [1, 2]}
    ).to_parquet(millis_pq)
    with pytest.raises(
        ContractError,
        match=r"milliseconds since 1970: use --time-format %ms\), .*InvoiceDate=1291197180123\)$",
    ):
        ingest.ingest_events(millis_pq, tmp_path / "refused", mapping=_purchases())
    millis = tmp_path / "millis.csv"
    millis.write_text("CustomerID,InvoiceDate,Total\n1,1291197180123,1\n2,soon,1\n3,1291197180,1\n")
    loaded = ingest.ingest_events(
        millis, tmp_path / "ms", mapping=_purchases(time_format="%ms"), max_bad_fraction=0.9
    )
    assert loaded.tables["events"]["reasons"] == {
        "unparseable_event_time": 1,  # 'soon'
        "event_time_out_of_range": 1,  # seconds read as milliseconds: 1970
    }
    times = pd.read_parquet(tmp_path / "ms" / "events.parquet")[c.EVENT_TIME]
    assert times.tolist() == [pd.Timestamp("2010-12-01 09:53:00.123", tz="UTC")]
    # Every value of the other unit: each row was event_time_out_of_range (1970) and the
    # file refused as mostly bad rows, the unit never named.
    for declared, written, unit in (("%ms", log, "seconds"), ("%s", millis_pq, "milliseconds")):
        result = CliRunner().invoke(
            main, [*args[:1], str(written), *args[2:], "--time-format", declared]
        )
        assert result.exit_code == 1, result.output
        error = result.stderr.splitlines()[-1]
        assert error.startswith(f"Error: {written}: column 'InvoiceDate' is read with "), error
        other = "%ms" if declared == "%s" else "%s"
        assert f"but every value looks like {unit} since 1970: use --time-format {other} (" in error
        assert f"{other} (row 1 has InvoiceDate=" in error and error.endswith(")"), error


def test_other_separators_and_encodings_are_named_with_their_option(
    home: Path, tmp_path: Path
) -> None:
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("InvoiceNo;CustomerID;InvoiceDate;Total\n536384;18074;2010-12-01;12,5\n")
    named = (
        r"one column .* holding ';', not ',': if ';' separates the columns, give --delimiter ';'"
    )
    with pytest.raises(ContractError, match=r"semi\.csv: the header line is " + named):
        ingest.ingest_events(semicolons, tmp_path / "x", mapping=_purchases())
    # A .tsv written with commas (and a BOM, not shown) names ','; a file named
    # orders.tsv.csv is a CSV, read with commas (it was read with tabs: 'missing column').
    tsv = tmp_path / "orders.tsv"
    tsv.write_text("\ufeffCustomerID,InvoiceDate,Total\n18074,2010-12-01,3\n")
    with pytest.raises(ContractError, match=r"\('CustomerID,.*holding ',', not tab: .*','$"):
        ingest.ingest_events(tsv, tmp_path / "x", mapping=_purchases())
    csv = tsv.rename(tmp_path / "orders.tsv.csv")
    loaded = ingest.ingest_events(csv, tmp_path / "x", mapping=_purchases())
    assert loaded.tables["events"]["rows_loaded"] == 1
    # columns aligned by runs of spaces (CDNOW_master.txt): "Map other names with --map", which
    # cannot read it; with --delimiter ' ' every row was out of line with the header
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("CustomerID  InvoiceDate   Total\n00001 2010-12-01  11.77\n")
    with pytest.raises(ContractError, match=r"one column whose name holds spaces: .*tr -s ' '"):
        ingest.ingest_events(spaced, tmp_path / "x", mapping=_purchases())
    squeezed = tmp_path / "squeezed.csv"
    squeezed.write_text("CustomerID InvoiceDate Total\n00001 2010-12-01 11.77\n")  # tr -s
    loaded = ingest.ingest_events(
        squeezed, tmp_path / "x", mapping=_purchases(), csv=CsvFormat.given(" ", None)
    )
    assert loaded.tables["events"]["rows_loaded"] == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "CustomerID,InvoiceDate,Total,City\n7,2010-12-01,3,Orléans\n".encode("latin-1")
    )
    not_utf8 = r"column 'City' is not UTF-8 text \(line 2 reads '7,2010-12-01,3,Orl\\xe9ans'\); "
    with pytest.raises(ContractError, match=not_utf8 + ".*--encoding"):
        ingest.ingest_events(latin, tmp_path / "x", mapping=_purchases())
    runner = CliRunner()
    base = [*PURCHASE_CLI, "--event-type", "purchase"]
    done = runner.invoke(
        main, ["ingest", str(semicolons), *base, "--delimiter", ";", "--decimal-comma"]
    )
    assert done.exit_code == 0, done.output
    events = pd.read_parquet(home / "datasets" / "semi" / "events.parquet")
    assert events[c.AMOUNT].tolist() == [12.5]
    done = runner.invoke(main, ["ingest", str(latin), *base, "--encoding", "latin-1"])
    assert done.exit_code == 0, done.output
    assert pd.read_parquet(home / "datasets" / "latin" / "events.parquet")["City"].tolist() == [
        "Orléans"
    ]


# CDNOW_master.txt's shape: each line begins with a space, its columns aligned by runs of spaces
CDNOW_LINES = [
    " customer_id  date number_of_cds  dollar_value",
    *(f" {u:05d} 199701{u % 28 + 1:02d}  1   {10 + u % 7}.77" for u in range(1, 40)),
    " 00050 19970101 10   35.24",  # 10 CDs: one space fewer, 7 fields, date='10'
    " 00051 19970102 12  135.24",
]


@pytest.mark.parametrize("mapped", [False, True])
def test_a_file_aligned_by_runs_of_spaces_read_with_a_space_delimiter_says_to_squeeze_them(
    home: Path, tmp_path: Path, mapped: bool
) -> None:
    """`--delimiter ' '` reads each further space of a run as an empty field: the fields shift
    and the refusal (missing columns; with the maps, dates that do not parse or mostly bad
    rows) never named the runs. It now says them and what to run; the file squeezed so loads."""
    import re

    raw = tmp_path / "cdnow.txt"
    raw.write_text("\r\n".join(CDNOW_LINES) + "\r\n")
    maps = ["user_id=customer_id", "event_time=date", "amount=dollar_value"] if mapped else []
    cli = ["ingest", "--delimiter", " ", *(a for m in maps for a in ("--map", m))]
    cli += ["--event-type", "purchase"] if mapped else []
    done = CliRunner().invoke(main, [*cli[:1], str(raw), *cli[1:]])
    assert done.exit_code != 0 and "Traceback" not in done.output, done.output
    said = " ".join(done.output.split())  # as one line, whatever the terminal's wrapping
    refused = "should hold timestamps" if mapped else "missing column 'user_id'"
    assert refused in said, said
    assert (
        "its fields look aligned by runs of spaces (blank columns between named ones, or rows "
        "with more fields than the header), which --delimiter ' ' does not collapse"
    ) in said
    squeezed = tmp_path / "cdnow-squeezed.csv"
    assert f"(tr -s ' ' < {raw} > {squeezed}) and ingest that file with --delimiter ' '" in said
    squeezed.write_text(re.sub(" +", " ", raw.read_text()))  # what tr -s ' ' does
    done = CliRunner().invoke(main, [*cli[:1], str(squeezed), *cli[1:]])
    if mapped:
        assert done.exit_code == 0, done.output
        assert "41 rows loaded of 41" in done.output
    else:  # refused for its names only: its one blank column leads, no run of spaces
        assert "missing column 'user_id'" in done.output and "runs of spaces" not in done.output


def test_a_file_aligned_by_runs_of_spaces_is_refused_for_its_header_before_its_rows_are_read(
    tmp_path: Path,
) -> None:
    """CDNOW_master.txt read with --delimiter ' ' without maps (every row has more fields
    than its header) was read whole, 69,659 lines in 16 s, before the refusal for columns
    its header alone lacks. It is now refused from its header and first rows, in the same
    words: the validation has read no row of the file (its progress counted 20,000, all of
    them), and the file's 20,000 lines are far more than the first ones read."""
    from features.column_checks import FIRST_BYTES, FIRST_ROWS

    raw = tmp_path / "cdnow.txt"
    rows = (
        f" {u % 99_999 + 1:05d} 199701{u % 28 + 1:02d}  1   {10 + u % 7}.77" for u in range(20_000)
    )
    raw.write_text("\r\n".join([CDNOW_LINES[0], *rows]) + "\r\n")
    assert raw.stat().st_size > 8 * FIRST_BYTES and FIRST_ROWS * 10 < 20_000
    read: list[tuple[str, int]] = []
    with pytest.raises(ContractError) as refused:
        ingest.ingest_events(
            raw, tmp_path / "d", csv=CsvFormat(delimiter=" "), progress=lambda *r: read.append(r)
        )
    assert str(refused.value) == (
        f"{raw}: missing column 'user_id', 'event_time', 'event_type'; the file has: Unnamed: "
        "0, customer_id, Unnamed: 2, date, number_of_cds, Unnamed: 5, dollar_value. Map other "
        "names with --map CONTRACT=SOURCE; a log of purchases only (user, time, amount: --map "
        "amount=dollar_value) takes --event-type purchase; its fields look aligned by runs of "
        "spaces (blank columns between named ones, or rows with more fields than the header), "
        "which --delimiter ' ' does not collapse (each further space is an empty field, so "
        f"fields shift): make each run of spaces one (tr -s ' ' < {raw} > "
        f"{tmp_path / 'cdnow-squeezed.csv'}) and ingest that file with --delimiter ' '"
    )
    assert read == []  # the old code's: [('events', 20000)], every row read first
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("table", ["events", "users"])
def test_a_column_the_header_lacks_is_refused_before_any_pass_reads_the_rows(
    tmp_path: Path, table: str
) -> None:
    """The pass that looks at the id and amount columns' forms (ids written 18074.0) read
    the whole file before the header was checked: an events file without event types
    (CDNOW's, mapped: 1.35 CPU-s of the refusal's 1.9) and a users file without user ids
    were read to their end first. A row far down that does not read (not UTF-8) was then
    refused in its place; the missing column is said now, from the header and first rows."""
    events = tmp_path / "events.csv"
    users = tmp_path / "users.csv"
    if table == "events":  # a purchase log: its event types are missing
        header, bad = b"user_id,event_time,amount\n", b"u1,2024-02-01,\xff\xfe9\n"
        rows = [f"u{i % 300},2024-01-{1 + i % 28:02d},{i % 50}.5\n" for i in range(20_000)]
    else:  # a users file whose ids are under another name
        header, bad = b"customer,channel\n", b"u1,\xff\xfe\n"
        rows = [f"u{i},ads\n" for i in range(20_000)]
    written = b"".join([header, *(row.encode() for row in rows), bad])
    (events if table == "events" else users).write_bytes(written)
    if table == "users":
        events.write_text(HEADER_3 + "u1,2024-01-01,purchase\n")
    with pytest.raises(ContractError) as refused:
        ingest.ingest_events(events, tmp_path / "d", users_path=users if table == "users" else None)
    said = str(refused.value)  # the old code's: "... is not UTF-8 text (line 20,002 ...)"
    assert "not UTF-8" not in said, said
    if table == "events":
        assert said.startswith(f"{events}: missing column 'event_type'; the file has: "), said
    else:
        assert said.startswith(f"{users}: missing column 'user_id'; the file has: "), said
    assert not (tmp_path / "d").exists()


def test_a_header_of_spaces_only_read_with_a_space_delimiter_is_refused_for_its_columns(
    tmp_path: Path,
) -> None:
    """A first line of spaces names no column: the check for runs of spaces between named
    columns raised an IndexError (a traceback) where the refusal names the missing columns."""
    log = tmp_path / "blank_header.txt"
    log.write_text("  \n1 2011-01-01 5\n")
    done = CliRunner().invoke(main, ["ingest", str(log), "--delimiter", " "])
    assert done.exit_code == 1 and not isinstance(done.exception, IndexError), done.exception
    assert "missing column 'user_id'" in done.stderr, done.output
    assert "runs of spaces" not in done.stderr


def test_a_day_first_file_is_read_day_first_never_partly_quarantined(
    home: Path, tmp_path: Path
) -> None:
    # A DD/MM/YYYY export lost its dates up to the 12th of each month (38% of the rows) to
    # the quarantine, with a hint in the summary (the grocery log's Date is 21-07-2015): its
    # dates that show their order all show day first, so every date is read so, and said.
    log = tmp_path / "dayfirst.csv"
    log.write_text(
        "CustomerID,InvoiceDate,Total\n1,13/01/2011 10:00,5\n2,01/02/2011 10:00,5\n"
        "3,25/02/2011 10:00,5\n4,2011-03-01,5\n"
    )
    cli = ["ingest", str(log), *PURCHASE_CLI, "--event-type", "purchase"]
    result = CliRunner().invoke(main, cli)
    assert result.exit_code == 0, result.output
    assert (
        "    'InvoiceDate' read day first: all 2 of its dates whose order shows are day first "
        "(row 1 has InvoiceDate='13/01/2011 10:00'), so the 1 that read either way "
        "(row 2 has InvoiceDate='01/02/2011 10:00') are read day first too (--date-order "
        "dayfirst says so)"
    ) in result.stdout.splitlines()
    events = pd.read_parquet(home / "datasets" / "dayfirst" / "events.parquet")
    assert sorted(events[c.EVENT_TIME].dt.strftime("%Y-%m-%d")) == [
        "2011-01-13",
        "2011-02-01",  # never January 2nd
        "2011-02-25",
        "2011-03-01",
    ]
    notes = read_dataset_summary(home / "datasets" / "dayfirst").tables["events"]["notes"]
    assert notes["dates_read_as"]["InvoiceDate"]["order"] == "dayfirst"
    told = CliRunner().invoke(main, [*cli, "--date-order", "dayfirst", "--dataset", "told"])
    assert told.exit_code == 0, told.output
    assert "read day first" not in told.stdout
    assert pd.read_parquet(home / "datasets" / "told" / "events.parquet").equals(events)
    # Mostly ambiguous and too few showing the order: the refusal names the option.
    mostly = tmp_path / "mostly.csv"
    mostly.write_text(
        "CustomerID,InvoiceDate,Total\n1,13/01/2011,5\n"
        + "".join(f"{i},0{i % 9 + 1}/02/2011,5\n" for i in range(2, 22))
    )
    with pytest.raises(ContractError, match=r"order shows is day first: use --date-order dayfirst"):
        ingest.ingest_events(mostly, tmp_path / "x", mapping=_purchases(), max_bad_fraction=0.2)


def test_each_column_of_currency_codes_is_named_not_only_the_first(
    home: Path, tmp_path: Path
) -> None:
    """Session 54, two exports' currency columns: a 'Waehrung' of GBP beside an
    'Abrechnungswaehrung' (settlement) of EUR was said as 'column 'Waehrung' holds a currency
    code ... --map currency=Waehrung', the other never named, so the user took the first
    for the only one; and a 'Settlement Currency' of EUR beside the 'Currency' of GBP read
    by its name went unsaid. Each is named now with its codes and its map, none chosen."""
    header = "kunde,zeit,Betrag,Waehrung,Abrechnungswaehrung\n"
    orders = tmp_path / "zwei.csv"
    orders.write_text(header + "c1,2024-01-01,9.50,GBP,EUR\nc2,2024-01-02,4.00,GBP,EUR\n")
    maps = ["--map", "user_id=kunde", "--map", "event_time=zeit", "--map", "amount=Betrag"]
    told = [*maps, "--event-type", "purchase"]
    loaded = CliRunner().invoke(main, ["ingest", str(orders), *told])
    assert loaded.exit_code == 0, loaded.output
    assert (
        "    columns 'Waehrung' (GBP) and 'Abrechnungswaehrung' (EUR) hold currency codes on "
        "purchase and refund rows, but none is read as the currency, so the dataset records "
        "none (lists and the API say 'no currency recorded'): if one is the amounts' "
        "currency, ingest the file again with --map currency=Waehrung or --map "
        "currency=Abrechnungswaehrung"
    ) in loaded.stdout.splitlines()
    notes = json.loads((home / "datasets" / "zwei" / "report.json").read_text())["tables"]
    assert notes["events"]["notes"]["currency_in_a_column"] == {
        "column": "Waehrung",
        "codes": {"GBP": 2},
        "appended": False,
        "others": [{"column": "Abrechnungswaehrung", "codes": {"EUR": 2}}],
    }
    # Without event types, the refusal names each as the currency's map too.
    refused = CliRunner().invoke(main, ["ingest", str(orders), *maps, "--dataset", "x"])
    assert (
        "if 'Waehrung' or 'Abrechnungswaehrung' holds the amounts' currency, --map "
        "currency=Waehrung or --map currency=Abrechnungswaehrung"
    ) in refused.stderr
    # A column read by its name ('Currency'): another column of codes beside it is said.
    named = tmp_path / "named.csv"
    named.write_text("kunde,zeit,Betrag,Currency,Settlement Currency\nc1,2024-01-01,9.50,GBP,EUR\n")
    read = CliRunner().invoke(main, ["ingest", str(named), *told])
    assert read.exit_code == 0, read.output
    assert (
        "    column 'Settlement Currency' (EUR) holds currency codes too, not read: the "
        "amounts' currency is read from 'Currency' (named so); if it is another column's, "
        "ingest the file again with --map currency='Settlement Currency'"
    ) in read.stdout.splitlines()
    assert "currency GBP, from column 'Currency' (named so, not mapped)" in read.stdout
    # Mapped as told: the user chose, nothing to say.
    chosen = CliRunner().invoke(
        main, ["ingest", str(named), *told, "--dataset", "chosen", "--map", "currency=Currency"]
    )
    assert chosen.exit_code == 0, chosen.output
    assert "Settlement" not in chosen.stdout


def test_an_amount_column_of_a_name_no_list_knows_is_named_among_the_columns_of_numbers(
    home: Path, tmp_path: Path
) -> None:
    """Session 54: a Japanese shop's '金額', a Russian 'Сумма', an Arabic 'المبلغ' (14.85 in
    every row) were refused as 'no amount column' or '(user and time, no amount column)',
    naming no column: money words are listed for the languages of most shops only. The
    refusal now names the columns whose every cell is a number (decimals first, an order
    number or an id by its name not), with the map when there is one, never choosing it: a
    quantity reads alike."""
    for name in ("金額", "Сумма", "المبلغ"):
        log = tmp_path / "log.csv"
        log.write_text(
            f"kunde,zeit,{name},Bestellnummer,Land\nc1,2024-01-01,14.85,1001,JP\n"
            "c2,2024-01-02,3.00,1002,JP\n"
        )
        maps = ["--map", "user_id=kunde", "--map", "event_time=zeit"]
        quoted = shlex.quote(name)
        refused = CliRunner().invoke(main, ["ingest", str(log), *maps, "--event-type", "purchase"])
        assert refused.exit_code != 0
        assert refused.stderr.rstrip().endswith(
            f"or name the amount column with --map amount=COLUMN ('{name}' (14.85) holds "
            f"numbers: --map amount={quoted})"
        ), refused.stderr
        untyped = CliRunner().invoke(main, ["ingest", str(log), *maps])
        assert (
            f"a log of purchases only (user, time, amount: if '{name}' (14.85) holds the "
            f"amounts, --map amount={quoted}) takes --event-type purchase"
        ) in untyped.stderr, untyped.stderr
    # Two columns of numbers: both named, decimals first, the map left to the user.
    two = tmp_path / "two.csv"
    two.write_text("kunde,zeit,Menge,金額\nc1,2024-01-01,2,14.85\n")
    refused = CliRunner().invoke(
        main, ["ingest", str(two), "--map", "user_id=kunde", "--map", "event_time=zeit"]
    )
    assert "(user, time, amount: if '金額' (14.85) or 'Menge' (2) holds the amounts, " in (
        refused.stderr
    )
    assert "--map amount=COLUMN) takes --event-type purchase" in refused.stderr
