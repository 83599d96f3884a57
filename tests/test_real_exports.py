"""Purchase logs as real exports write them: two exports concatenated, spreadsheet and BI
forms of ids, times and amounts. Each is read as the user meant or refused, never misread."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features import ingest
from features.csv_format import CsvFormat
from features.validation import ContractError
from lifecycle.cli import main

PURCHASE_MAPS = ["user_id=CustomerID", "event_time=InvoiceDate", "amount=Total"]


def _purchases(**options: object) -> c.ColumnMapping:
    return c.ColumnMapping.parse(PURCHASE_MAPS, default_event_type=c.PURCHASE, **options)


def test_ids_written_both_18074_and_18074_0_are_one_user(tmp_path: Path) -> None:
    # A clean export, then one pandas wrote with a null in the column (18074.0), in one file:
    # the second half must add to the same customers, in a later chunk too.
    events = tmp_path / "orders.csv"
    events.write_text(
        "CustomerID,InvoiceDate,Total,InvoiceNo\n"
        "18074,2010-12-01,10,536384\n"
        "12583,2010-12-02,5,536385\n"
        "18074.0,2011-01-03,7,536390.0\n"
        ",2011-01-04,3,\n"
        "12583.0,2011-01-05,2,536392.0\n"
    )
    users = tmp_path / "users.csv"
    users.write_text("user_id,channel\n18074,ads\n12583.0,email\n")
    folder = tmp_path / "orders"
    summary = ingest.ingest_events(
        events,
        folder,
        mapping=c.ColumnMapping.parse(
            [*PURCHASE_MAPS, "order_id=InvoiceNo"], default_event_type=c.PURCHASE
        ),
        users_path=users,
        chunk_rows=2,
    )
    loaded = pd.read_parquet(folder / "events.parquet")
    assert loaded[c.USER_ID].tolist() == ["18074", "12583", "18074", "12583"]
    assert loaded[c.ORDER_ID].tolist() == ["536384", "536385", "536390", "536392"]
    assert sorted(pd.read_parquet(folder / "users.parquet")[c.USER_ID]) == ["12583", "18074"]
    notes = json.loads((folder / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["ids_written_both_ways"] == {"user_id": "CustomerID", "order_id": "InvoiceNo"}
    lines = "\n".join(summary.lines())
    assert "'CustomerID': ids written both 18074 and 18074.0, each read as the integer" in lines
    # 12.0 beside a text id stays the text the file holds (nothing says it is a number)
    text = tmp_path / "text.csv"
    text.write_text(
        "CustomerID,InvoiceDate,Total\n12.0,2010-12-01,1\n12,2010-12-01,1\nx7,2010-12-01,1\n"
    )
    ingest.ingest_events(text, tmp_path / "text", mapping=_purchases())
    kept = pd.read_parquet(tmp_path / "text" / "events.parquet")
    assert sorted(kept[c.USER_ID]) == ["12", "12.0", "x7"]


def test_epoch_times_written_as_floats_read_with_their_time_format(tmp_path: Path) -> None:
    # pandas writes an epoch column with a null as floats (1291192440.0, in CSV and Parquet);
    # time.time() gives fractions: with --time-format %s they are the times they say, exactly.
    frame = pd.DataFrame(
        {
            "CustomerID": ["a", "b", "c", "d"],
            "InvoiceDate": [1291192440.0, None, 1700000000.001, 1291192500.0],
            "Total": [1.0, 2.0, 3.0, 4.0],
        }
    )
    frame.to_csv(tmp_path / "epoch.csv", index=False)
    assert "1291192440.0" in (tmp_path / "epoch.csv").read_text()
    frame.to_parquet(tmp_path / "epoch.parquet", index=False)
    for kind in ("csv", "parquet"):
        path = tmp_path / f"epoch.{kind}"
        with pytest.raises(ContractError, match=r"seconds since 1970: use --time-format %s"):
            ingest.ingest_events(path, tmp_path / f"refused_{kind}", mapping=_purchases())
        ingest.ingest_events(path, tmp_path / kind, mapping=_purchases(time_format="%s"))
        loaded = pd.read_parquet(tmp_path / kind / "events.parquet")
        assert loaded[c.EVENT_TIME].astype(str).tolist() == [
            "2010-12-01 08:34:00+00:00",
            "2010-12-01 08:35:00+00:00",
            "2023-11-14 22:13:20.001000+00:00",
        ]
    millis = tmp_path / "millis.csv"
    millis.write_text("CustomerID,InvoiceDate,Total\na,1291192440000.0,1\nb,,2\n")
    with pytest.raises(ContractError, match=r"milliseconds since 1970: use --time-format %ms"):
        ingest.ingest_events(millis, tmp_path / "ms", mapping=_purchases())
    # milliseconds read as seconds are no times: the refusal names the unit they are in
    with pytest.raises(ContractError, match=r"milliseconds since 1970: use --time-format %ms"):
        ingest.ingest_events(millis, tmp_path / "ms", mapping=_purchases(time_format="%s"))
    ingest.ingest_events(millis, tmp_path / "ms", mapping=_purchases(time_format="%ms"))
    loaded = pd.read_parquet(tmp_path / "ms" / "events.parquet")
    assert loaded[c.EVENT_TIME].astype(str).tolist() == ["2010-12-01 08:34:00+00:00"]


def test_amounts_grouped_by_points_are_ambiguous_never_read_as_decimals(tmp_path: Path) -> None:
    # A shop in a currency without cents, exported where a point groups thousands: 1.785 is
    # 1785 there, 950 is 950. Read as decimals, 1.785 became 1.785 and 950 stayed 950.
    grouped = tmp_path / "grouped.csv"
    grouped.write_text(
        "CustomerID;InvoiceDate;Total\n"
        "a;2011-01-01;950\nc;2011-01-03;1.785\nd;2011-01-04;2.500\n"
        "e;2011-01-05;1.234.567\nf;2011-01-06;35\n"
    )
    semicolon = CsvFormat.given(";", None)
    with pytest.raises(ContractError, match=r"a point groups thousands .* use --decimal-comma"):
        ingest.ingest_events(grouped, tmp_path / "g", mapping=_purchases(), csv=semicolon)
    summary = ingest.ingest_events(
        grouped,
        tmp_path / "g",
        mapping=_purchases(),
        csv=semicolon,
        chunk_rows=2,  # the evidence of points grouping thousands in other chunks
        max_bad_fraction=0.9,
    )
    loaded = pd.read_parquet(tmp_path / "g" / "events.parquet")
    assert dict(zip(loaded[c.USER_ID], loaded[c.AMOUNT], strict=True)) == {"a": 950.0, "f": 35.0}
    quarantine = pd.read_csv(tmp_path / "g" / "quarantine" / "events.csv", dtype=str)
    assert quarantine[c.REASON].tolist() == ["ambiguous_amount"] * 3
    assert "'Total' groups thousands with a point, as in 1.785 for 1785" in "\n".join(
        summary.lines()
    )
    ingest.ingest_events(
        grouped, tmp_path / "dc", mapping=_purchases(decimal_comma=True), csv=semicolon
    )
    loaded = pd.read_parquet(tmp_path / "dc" / "events.parquet")
    assert loaded[c.AMOUNT].tolist() == [950.0, 1785.0, 2500.0, 1234567.0, 35.0]
    # A point is a decimal point where the column shows one (12.5, 0.125, 1500 ungrouped):
    # then 1.785 is 1.785, as before.
    for decimal in ("12.5", "0.125", "1500", "1,234.50"):
        prices = tmp_path / "prices.csv"
        prices.write_text(
            "CustomerID,InvoiceDate,Total\n"
            f'a,2011-01-01,2\nb,2011-01-02,1.785\nc,2011-01-03,"{decimal}"\n'
        )
        ingest.ingest_events(prices, tmp_path / "p", mapping=_purchases())
        loaded = pd.read_parquet(tmp_path / "p" / "events.parquet")
        assert loaded[c.AMOUNT].tolist()[:2] == [2.0, 1.785], decimal


def test_decimal_point_reads_three_decimal_prices_a_column_seems_to_group_by_points(
    home: Path, tmp_path: Path
) -> None:
    # Prices to the tenth of a cent beside whole ones (2, 5) look like a column grouping
    # thousands with a point: 1.785 was ambiguous_amount, and no option said the point is a
    # decimal mark.
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "CustomerID,InvoiceDate,Total\na,2011-01-01,2\nb,2011-01-02,1.785\nc,2011-01-03,5\n"
        "d,2011-01-04,2.125\ne,2011-01-05,3.450\n"
    )
    args = ["ingest", str(prices), *(f"--map={m}" for m in PURCHASE_MAPS), "--event-type=purchase"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1, refused.output
    assert "a point groups thousands in this column" in refused.stderr
    assert "--decimal-point" in refused.stderr.splitlines()[-1]
    done = CliRunner().invoke(main, [*args, "--decimal-point"])
    assert done.exit_code == 0, done.output
    loaded = pd.read_parquet(home / "datasets" / "prices" / "events.parquet")
    assert loaded[c.AMOUNT].tolist() == [2.0, 1.785, 5.0, 2.125, 3.45]
    # the point a decimal mark, a comma can only group thousands: 1,250 is 1250, never 1.25
    prices.write_text(prices.read_text() + 'f,2011-01-06,"1,250"\ng,2011-01-07,"12,5"\n')
    done = CliRunner().invoke(main, [*args, "--decimal-point"])
    assert done.exit_code == 0, done.output
    loaded = pd.read_parquet(home / "datasets" / "prices" / "events.parquet")
    assert loaded[c.AMOUNT].tolist()[-1] == 1250.0
    quarantine = pd.read_csv(home / "datasets" / "prices" / "quarantine" / "events.csv")
    assert quarantine[c.REASON].tolist() == ["invalid_amount"]  # 12,5
    both = CliRunner().invoke(main, [*args, "--decimal-point", "--decimal-comma"])
    assert both.exit_code == 2 and "give one of --decimal-comma and --decimal-point" in both.output


def test_amounts_in_several_currencies_are_refused_never_summed(home: Path, tmp_path: Path) -> None:
    # GBP, EUR and USD orders loaded as one money: every revenue, LTV and value at risk
    # summed them. The column is found mapped or by its name; rows that do not load and
    # sessions without an amount do not count.
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "CustomerID,InvoiceDate,Total,Currency\na,2011-01-01,5,GBP\nb,2011-01-02,6, gbp\n"
        "c,2011-01-03,7,EUR\nd,2011-01-04,x,USD\n"
    )
    args = ["ingest", str(orders), *(f"--map={m}" for m in PURCHASE_MAPS), "--event-type=purchase"]
    for mapped in ([], ["--map", "currency=Currency"]):
        refused = CliRunner().invoke(main, [*args, *mapped, "--dataset", "orders"])
        assert refused.exit_code == 1, refused.output
        assert refused.stderr.splitlines()[-1] == (
            f"Error: {orders}: column 'Currency' holds amounts in 2 currencies (GBP from row 1, "
            "EUR from row 3); summed as one they would make every revenue, LTV and value at "
            "risk wrong: ingest each currency as a dataset of its own (a file per currency)"
        )
        assert not (home / "datasets" / "orders").exists()
    one = tmp_path / "one.csv"
    one.write_text(orders.read_text().replace("EUR", "GBP").replace("USD", "EUR"))
    done = CliRunner().invoke(main, ["ingest", str(one), *args[2:], "--map", "currency=Currency"])
    assert done.exit_code == 0, done.output  # the EUR row is invalid_amount: not loaded
    events = pd.read_parquet(home / "datasets" / "one" / "events.parquet")
    assert events[c.CURRENCY].tolist() == ["GBP", "gbp", "GBP"]
    # new days in another currency, appended: the dataset's and the file's would be summed
    euros = tmp_path / "euros.csv"
    euros.write_text("CustomerID,InvoiceDate,Total,Currency\na,2011-02-01,5,EUR\n")
    appended = CliRunner().invoke(
        main,
        ["ingest", str(euros), *args[2:], "--map=currency=Currency", "--dataset=one", "--append"],
    )
    assert appended.exit_code == 1, appended.output
    assert appended.stderr.splitlines()[-1] == (
        f"Error: {euros}: column 'currency' holds amounts in 2 currencies (GBP in the dataset, "
        "EUR from row 1); summed as one they would make every revenue, LTV and value at risk "
        "wrong: ingest each currency as a dataset of its own (a file per currency)"
    )
    assert len(pd.read_parquet(home / "datasets" / "one" / "events.parquet")) == 3


def test_absurd_amounts_are_quarantined_with_their_limit_never_summed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1e15 and 98765432101 loaded as purchases: one row outweighed the shop's whole revenue.
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "CustomerID,InvoiceDate,Total\na,2011-01-01,5\nb,2011-01-02,6\nc,2011-01-03,1e15\n"
        "d,2011-01-04,7\ne,2011-01-05,8\nf,2011-01-06,900\nf,2011-01-07,-98765432101\n"
    )
    args = ["ingest", str(orders), *(f"--map={m}" for m in PURCHASE_MAPS), "--event-type=purchase"]
    monkeypatch.setenv("LIFECYCLE_INGEST__CHUNK_ROWS", "2")  # rows judged over every chunk
    monkeypatch.setenv("LIFECYCLE_INGEST__MAX_AMOUNT_RATIO", "100")
    done = CliRunner().invoke(main, [*args, "--negative-is-refund"])
    assert done.exit_code == 0, done.output
    events = pd.read_parquet(home / "datasets" / "orders" / "events.parquet")
    assert events[c.AMOUNT].tolist() == [5.0, 6.0, 7.0, 8.0]  # median 8 (of 7 rows): limit 800
    quarantine = pd.read_csv(home / "datasets" / "orders" / "quarantine" / "events.csv", dtype=str)
    assert quarantine[[c.SOURCE_ROW, c.REASON, "Total"]].values.tolist() == [
        ["3", "absurd_amount", "1e15"],
        ["6", "absurd_amount", "900"],
        ["7", "absurd_amount", "-98765432101"],  # a refund as absurd as a purchase
    ]
    assert (
        "    3 absurd_amount rows: 'Total' above 800.00 (100 times the file's median amount, "
        "8.00: settings ingest.max_amount_ratio)"
    ) in done.stdout
    # ratio 0: only what no number holds to the cent
    summary = ingest.ingest_events(
        orders,
        tmp_path / "o",
        mapping=_purchases(),
        max_amount_ratio=0,
        allow_negative_amounts=True,
    )
    assert summary.tables["events"]["reasons"] == {"absurd_amount": 1}  # 1e15
    orders.write_text(orders.read_text().replace("1e15", "-1e15"))  # kept negative: as absurd
    summary = ingest.ingest_events(
        orders,
        tmp_path / "n",
        mapping=_purchases(),
        max_amount_ratio=0,
        allow_negative_amounts=True,
    )
    assert summary.tables["events"]["reasons"] == {"absurd_amount": 1}
    assert "beyond what a number holds to the cent" in "\n".join(summary.lines())


def test_a_date_and_a_time_in_two_columns_are_read_together_or_the_time_named(
    tmp_path: Path,
) -> None:
    # InvoiceDate=2011-09-01 and Time=14:05: mapping the date alone read every event at
    # midnight, without a word.
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "CustomerID,InvoiceDate,Time,Total\na,2011-09-01,14:05,5\nb,2011-09-02,9:30:15,6\n"
        "c,2011-09-03,,7\nd,,10:00,8\n"
    )
    summary = ingest.ingest_events(
        orders, tmp_path / "o", mapping=_purchases(), chunk_rows=2, max_bad_fraction=0.9
    )
    notes = summary.tables["events"]["notes"]
    assert notes["time_column_unused"] == {"column": "Time", "beside": "InvoiceDate"}
    assert (
        "    'InvoiceDate' holds dates without a time, so every event was read at midnight; "
        "column 'Time' holds times of day: --map event_time=InvoiceDate+Time reads the two "
        "together"
    ) in summary.lines()
    joined = c.ColumnMapping.parse(
        ["user_id=CustomerID", "event_time=InvoiceDate+Time", "amount=Total"],
        default_event_type=c.PURCHASE,
    )
    summary = ingest.ingest_events(
        orders, tmp_path / "j", mapping=joined, chunk_rows=2, max_bad_fraction=0.9
    )
    events = pd.read_parquet(tmp_path / "j" / "events.parquet")
    assert events[c.EVENT_TIME].tolist() == [
        pd.Timestamp("2011-09-01 14:05", tz="UTC"),
        pd.Timestamp("2011-09-02 09:30:15", tz="UTC"),
        pd.Timestamp("2011-09-03", tz="UTC"),  # no time: the date alone
    ]
    assert summary.tables["events"]["reasons"] == {"missing_event_time": 1}  # no date
    assert "InvoiceDate+Time" not in events.columns and "Time" in events.columns
    assert "time_column_unused" not in summary.tables["events"]["notes"]
    quarantine = pd.read_csv(tmp_path / "j" / "quarantine" / "events.csv", dtype=str)
    assert quarantine.columns.tolist() == [
        "source_row",
        "reason",
        "source_file",
        *orders.read_text().split("\n")[0].split(","),
    ]


def test_a_user_written_two_ways_is_counted_in_the_summary(tmp_path: Path) -> None:
    # Ids are the file's text (' 13047 ' and '13047' are two users), but a customer written
    # two ways was two users without a word: the summary and report now count them.
    events = tmp_path / "orders.csv"
    events.write_text(
        "CustomerID,InvoiceDate,Total\n"
        "13047,2011-01-01,5\n 13047 ,2011-01-02,5\n0013047,2011-01-03,5\n"
        "Ann@x.org,2011-01-04,5\nann@x.org,2011-01-05,5\n12346,2011-01-06,5\n12346,2011-01-07,5\n"
    )
    summary = ingest.ingest_events(events, tmp_path / "o", mapping=_purchases(), chunk_rows=2)
    loaded = pd.read_parquet(tmp_path / "o" / "events.parquet")
    assert loaded[c.USER_ID].nunique() == 6  # as the file writes them
    notes = json.loads((tmp_path / "o" / "report.json").read_text())["tables"]["events"]["notes"]
    assert notes["user_ids_spelt_apart"] == {
        "ids": 5,
        "groups": 2,
        "example": [" 13047 ", "0013047", "13047"],
        "more_examples": [["Ann@x.org", "ann@x.org"]],
        "by_case": 2,  # Ann@x.org and ann@x.org: --case-insensitive-ids reads them as one
    }
    assert (
        "5 user ids differ from another only by case, spaces, leading zeros, accent "
        "encoding, width, a look-alike letter of another script, '.0' or thousands commas "
        "(e.g. ' 13047 ' and '0013047' and '13047'; 'Ann@x.org' and 'ann@x.org'): each loaded "
        "as its own user"
    ) in "\n".join(summary.lines())
    users = tmp_path / "users.csv"
    users.write_text("user_id,channel\nAnn@x.org,ads\nann@x.org,email\n")
    ingest.ingest_events(events, tmp_path / "u", mapping=_purchases(), users_path=users)
    report = json.loads((tmp_path / "u" / "report.json").read_text())["tables"]
    assert report["users"]["notes"]["user_ids_spelt_apart"]["example"] == ["Ann@x.org", "ann@x.org"]
    accents = tmp_path / "accents.csv"  # José as a Mac writes it (e and a combining accent)
    accents.write_text(
        "CustomerID,InvoiceDate,Total\nJos\u00e9,2011-01-01,5\nJose\u0301,2011-01-02,5\n",
        encoding="utf-8",
    )
    ingest.ingest_events(accents, tmp_path / "accents", mapping=_purchases())
    report = json.loads((tmp_path / "accents" / "report.json").read_text())
    assert report["tables"]["events"]["notes"]["user_ids_spelt_apart"]["ids"] == 2
    clean = tmp_path / "clean.csv"
    clean.write_text("CustomerID,InvoiceDate,Total\n7,2011-01-01,5\n70,2011-01-02,5\n")
    ingest.ingest_events(clean, tmp_path / "c", mapping=_purchases())
    notes = json.loads((tmp_path / "c" / "report.json").read_text())["tables"]["events"]["notes"]
    assert "user_ids_spelt_apart" not in notes


def test_a_zip_of_one_csv_is_read_as_the_csv(tmp_path: Path) -> None:
    # Shops and BI tools mail exports zipped; a .zip was refused as 'a CSV file: name it .csv'
    text = "CustomerID,InvoiceDate,Total\n13047,2011-01-01,5\n12346.0,2011-01-02,1.5\n"
    (tmp_path / "orders.csv").write_text(text)
    with zipfile.ZipFile(tmp_path / "orders.csv.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/orders.csv", text)
        archive.writestr("__MACOSX/export/._orders.csv", b"\x00\x05")  # a Mac's zip adds it
    for name in ("orders.csv", "orders.csv.zip"):
        ingest.ingest_events(tmp_path / name, tmp_path / f"d_{name}", mapping=_purchases())
    read = {
        name: pd.read_parquet(tmp_path / f"d_{name}" / "events.parquet")
        for name in ("orders.csv", "orders.csv.zip")
    }
    pd.testing.assert_frame_equal(read["orders.csv"], read["orders.csv.zip"])
    assert read["orders.csv"][c.USER_ID].tolist() == ["13047", "12346"]
    assert ingest.dataset_name_from_file(tmp_path / "orders.csv.zip") == "orders"
    with zipfile.ZipFile(tmp_path / "tabs.zip", "w") as archive:  # a .tsv inside: tabs
        archive.writestr("orders.tsv", text.replace(",", "\t"))
    ingest.ingest_events(tmp_path / "tabs.zip", tmp_path / "tabs", mapping=_purchases())
    assert len(pd.read_parquet(tmp_path / "tabs" / "events.parquet")) == 2
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", text)
        archive.writestr("b.csv", text)
    with pytest.raises(ContractError, match=r"two.zip: a zip archive of 2 files \(a.csv, b.csv\)"):
        ingest.ingest_events(tmp_path / "two.zip", tmp_path / "two", mapping=_purchases())
    with zipfile.ZipFile(tmp_path / "pq.zip", "w") as archive:
        archive.writestr("orders.parquet", b"PAR1")
    with pytest.raises(ContractError, match=r"holding orders.parquet, not a CSV file"):
        ingest.ingest_events(tmp_path / "pq.zip", tmp_path / "pq", mapping=_purchases())
    whole = (tmp_path / "orders.csv.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ContractError, match=r"cut.zip: not a whole zip archive"):
        ingest.ingest_events(tmp_path / "cut.zip", tmp_path / "cut", mapping=_purchases())
    assert not (tmp_path / "cut").exists()


def test_postgres_times_with_hour_offsets_are_read(tmp_path: Path) -> None:
    # psql's COPY writes a timestamptz as 2010-12-01 08:26:00+00 (+01, -05, -03:30 only with
    # minutes): every such time was unparseable, and a column of two offsets beside a time
    # without one was an AttributeError traceback.
    events = tmp_path / "orders.csv"
    events.write_text(
        "CustomerID,InvoiceDate,Total\n"
        "a,2010-12-01 08:26:00+00,1\nb,2010-12-01 08:26:00+01,1\nc,2010-12-01 08:26:00.25-05,1\n"
        "d,2010-12-01 08:26:00,1\ne,2010-12-01 08:26:00-03:30,1\nf,2010-12-01 08:26:00+25,1\n"
    )
    summary = ingest.ingest_events(events, tmp_path / "o", mapping=_purchases())
    loaded = pd.read_parquet(tmp_path / "o" / "events.parquet")
    assert dict(zip(loaded[c.USER_ID], loaded[c.EVENT_TIME].astype(str), strict=True)) == {
        "a": "2010-12-01 08:26:00+00:00",
        "b": "2010-12-01 07:26:00+00:00",
        "c": "2010-12-01 13:26:00.250000+00:00",
        "d": "2010-12-01 08:26:00+00:00",
        "e": "2010-12-01 11:56:00+00:00",
    }
    assert summary.tables["events"]["reasons"] == {"unparseable_event_time": 1}  # +25: no zone


def test_a_users_file_whose_ids_meet_no_event_is_refused(tmp_path: Path) -> None:
    # A CRM export writing ids 'C12346' beside orders of 12346 loaded as 2 users more, who
    # never bought, and left both buyers without a profile: the population doubled silently.
    events = tmp_path / "orders.csv"
    events.write_text("CustomerID,InvoiceDate,Total\n12346,2011-01-01,5\n12347,2011-01-02,5\n")
    matching = tmp_path / "users.csv"
    matching.write_text("user_id,country\n12346,UK\n12347,FR\n")
    folder = tmp_path / "orders"
    ingest.ingest_events(events, folder, mapping=_purchases(), users_path=matching)
    before = pd.read_parquet(folder / "users.parquet")
    other = tmp_path / "crm.csv"
    other.write_text("user_id,country\nC12346,UK\nC12347,FR\n")
    with pytest.raises(
        ContractError,
        match=r"crm.csv: none of its 2 users is a user of the events \(.*orders.csv\): "
        r"e.g. user_id 'C12346' in the users file, '12346' in the events",
    ):
        ingest.ingest_events(events, folder, mapping=_purchases(), users_path=other)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "users.parquet"), before)
    # Some users without events are users who never bought: loaded, counted, one named.
    some = tmp_path / "some.csv"
    some.write_text("user_id,country\n12346,UK\n99999,FR\n")
    summary = ingest.ingest_events(events, folder, mapping=_purchases(), users_path=some)
    notes = summary.tables["users"]["notes"]
    assert notes["users_without_events"] == {"users": 1, "example": "99999"}
    assert summary.tables["events"]["notes"]["users_without_profile"] == 1
    assert "1 user of the users file has no event (e.g. '99999')" in "\n".join(summary.lines())


def test_an_append_writing_a_known_user_another_way_is_counted(tmp_path: Path) -> None:
    # The next month's export went through a spreadsheet: 013047 is customer 13047
    first = tmp_path / "january.csv"
    first.write_text("CustomerID,InvoiceDate,Total\n13047,2011-01-01,5\n12346,2011-01-02,5\n")
    later = tmp_path / "february.csv"
    later.write_text("CustomerID,InvoiceDate,Total\n013047,2011-02-01,5\n12346,2011-02-02,5\n")
    folder = tmp_path / "orders"
    ingest.ingest_events(first, folder, mapping=_purchases())
    summary = ingest.ingest_events(later, folder, mapping=_purchases(), mode="append")
    notes = summary.tables["events"]["notes"]
    assert notes["user_ids_spelt_apart"] == {"ids": 2, "groups": 1, "example": ["013047", "13047"]}
    assert "(e.g. '013047' and '13047'): each loaded as its own user" in "\n".join(summary.lines())


def test_event_types_the_contract_does_not_know_are_named_and_money_on_them_refused(
    tmp_path: Path,
) -> None:
    # An order export typed 'Order' and 'Return' loaded as 1,777 events of no purchase:
    # every amount counted nowhere, without a word.
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "CustomerID,InvoiceDate,Total,Type\n1,2011-01-01,5,Order\n2,2011-01-02,3,Return\n"
        "1,2011-01-03,4,Order\n1,2011-01-04,,page_view\n2,2011-01-04,,page_view\n"
    )  # the refusal names the types with amounts, not the most frequent (page_view)
    mapping = c.ColumnMapping.parse([*PURCHASE_MAPS, "event_type=Type"])
    with pytest.raises(
        ContractError,
        match=r"orders.csv: no event is a purchase or refund, but rows of other types carry "
        r"amounts \('order' 2 rows, 'return' 1 row with one\)",
    ):
        ingest.ingest_events(orders, tmp_path / "o", mapping=mapping)
    assert not (tmp_path / "o" / "events.parquet").exists()
    # Beside purchases, other types load as activity, and the summary names them.
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "CustomerID,InvoiceDate,Total,Type\n1,2011-01-01,5,purchase\n1,2011-01-02,,page_view\n"
        "2,2011-01-03,7,Sale\n"
    )
    summary = ingest.ingest_events(mixed, tmp_path / "m", mapping=mapping)
    notes = summary.tables["events"]["notes"]
    assert notes["other_event_types"] == {"page_view": [1, 0], "sale": [1, 1]}
    assert (
        "event types kept as activity, not as purchases or refunds: 'page_view' 1 row, "
        "'sale' 1 row; the amounts of 1 of their rows count nowhere"
    ) in "\n".join(summary.lines())
    # A type labels.not_activity_types names (a failed payment) is said apart (trial 115:
    # the line called a subscription's failed payments activity, and no setting said not)
    summary = ingest.ingest_events(
        mixed, tmp_path / "q", mapping=mapping, not_activity_types=["page_view", "absent"]
    )
    assert (
        "event types kept as activity, not as purchases or refunds: 'sale' 1 row; kept but not "
        "activity (labels.not_activity_types): 'page_view' 1 row; the amounts of 1 of their "
        "rows count nowhere\n"
    ) in "\n".join(summary.lines()) + "\n"
    # without it, the line says where a type that is no activity is named
    assert "count nowhere (a type that is no activity, such as a failed payment: name it in " + (
        "labels.not_activity_types)"
    ) in "\n".join(ingest.ingest_events(mixed, tmp_path / "r", mapping=mapping).lines())


def test_a_files_own_event_types_are_read_as_the_contracts_and_appends_read_them_so(
    tmp_path: Path,
) -> None:
    # A clickstream's payment_done, an export's Order and Return: without a way to read them
    # as purchases and refunds, the file had to be rewritten before ingest.
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "CustomerID,InvoiceDate,Total,Type\n1,2011-01-01,5,Order\n2,2011-01-02,3,Return\n"
        "1,2011-01-03,4,Order\n2,2011-01-04,,Browse\n"
    )
    maps = [f"--map={pair}" for pair in [*PURCHASE_MAPS, "event_type=Type"]]
    # without the map, a file of no purchase says which option reads one
    clicks = tmp_path / "clicks.csv"
    clicks.write_text(
        "CustomerID,InvoiceDate,Type\n1,2011-01-01,catalog\n1,2011-01-02,payment_done\n"
    )
    click_maps = [
        "--map=user_id=CustomerID",
        "--map=event_time=InvoiceDate",
        "--map=event_type=Type",
    ]
    as_is = CliRunner().invoke(
        main,
        ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "clicks", *click_maps, str(clicks)],
    )
    assert as_is.exit_code == 0, as_is.output
    assert (
        "no event is a purchase (LTV and conversion count purchases): if one of these types "
        "is, ingest again with --map-type purchase=TYPE"
    ) in as_is.output
    ingest_orders = ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "orders", *maps]
    typed = ["--map-type", "purchase=order", "--map-type", "refund=Return"]
    done = CliRunner().invoke(main, [*ingest_orders, *typed, str(orders)])
    assert done.exit_code == 0, done.output
    folder = tmp_path / "ws" / "datasets" / "orders"
    events = pd.read_parquet(folder / "events.parquet")
    assert sorted(events["event_type"]) == ["browse", "purchase", "purchase", "refund"]
    assert events.loc[events["event_type"] == "purchase", "amount"].sum() == 9
    assert "'browse' 1 row" in done.output  # still activity, and named
    assert "(--map-type): purchase=order 2 rows, refund=Return 1 row" in done.output
    # a type no row has (a typo) is refused, naming the closest; the dataset stays as it was
    typo = CliRunner().invoke(
        main, [*ingest_orders, *typed[2:], "--map-type", "purchase=ordr", str(orders)]
    )
    assert typo.exit_code != 0
    assert "--map-type purchase=ordr: no row of the file has the type 'ordr'" in typo.output
    assert "(did you mean order?)" in typo.output
    assert len(pd.read_parquet(folder / "events.parquet")) == 4
    report = json.loads((folder / "report.json").read_text())
    assert report["batches"][-1]["event_types"] == {"order": "purchase", "Return": "refund"}
    # an append reads its file with the dataset's map, unless told another, which is refused
    later = tmp_path / "later.csv"
    later.write_text("CustomerID,InvoiceDate,Total,Type\n1,2011-02-01,6,ORDER\n")
    other = CliRunner().invoke(
        main, [*ingest_orders, "--append", "--map-type", "session=order", str(later)]
    )
    assert other.exit_code != 0
    assert "reads the file's event types as purchase=order, refund=Return" in other.output
    assert len(pd.read_parquet(folder / "events.parquet")) == 4  # unchanged
    appended = CliRunner().invoke(main, [*ingest_orders, "--append", str(later)])
    assert appended.exit_code == 0, appended.output
    events = pd.read_parquet(folder / "events.parquet")
    assert events.loc[events["event_type"] == "purchase", "amount"].sum() == 15
    # the option's own refusals, each one line, nothing written
    for pairs, said in [
        (
            ["purchse=order"],
            "'purchse' is not an event type of the contract (did you mean purchase?)",
        ),
        (["purchase=order", "refund=ORDER"], "the file's type 'order' is mapped twice"),
        (["purchase"], "expected CONTRACT_TYPE=SOURCE_TYPE"),
    ]:
        refused = CliRunner().invoke(
            main,
            [*ingest_orders[:3], "--dataset", "refused", *maps]
            + [f"--map-type={pair}" for pair in pairs]
            + [str(orders)],
        )
        assert refused.exit_code == 2 and said in refused.output, refused.output
        assert not (tmp_path / "ws" / "datasets" / "refused").exists()


def test_a_refusal_of_mostly_ambiguous_rows_names_the_option_that_reads_them(
    tmp_path: Path,
) -> None:
    # Most bad rows ambiguous, but other reasons among them: the refusal asked only "Is this
    # the right file and mapping?", with no word of --decimal-comma or --date-order.
    amounts = tmp_path / "amounts.csv"
    amounts.write_text(
        'CustomerID,InvoiceDate,Total\na,2011-01-01,950\nb,2011-01-02,-20\nc,2011-01-03,"12,5"\n'
        'd,2011-01-04,"7,25"\ne,2011-01-05,"3,5"\nf,2011-01-06,35\n'
    )
    with pytest.raises(
        ContractError,
        match=r"4 of 6 rows are bad.* Most are ambiguous_amount \(12,5, 1,234, 1.785: a decimal "
        r"comma or a thousands mark\): --decimal-comma reads them",
    ):
        ingest.ingest_events(amounts, tmp_path / "a", mapping=_purchases())
    # (one date of 22 shows its order: too few to read the others in it)
    dates = tmp_path / "dates.csv"
    dates.write_text(
        "CustomerID,InvoiceDate,Total\n"
        + "".join(f"a{day},{day:02d}/12/2011,5\n" for day in range(1, 12))
        + "".join(f"b{day},2011-01-{day:02d},x\n" for day in range(1, 11))
        + "c,13/01/2011,5\n"
    )
    with pytest.raises(
        ContractError,
        match=r"Most are ambiguous_date_order \(01/02/2023: day or month first\): "
        r"--date-order dayfirst \(or monthfirst\) reads them",
    ):
        ingest.ingest_events(dates, tmp_path / "d", mapping=_purchases())


def test_ids_written_as_spreadsheet_text_formulas_are_the_text_inside(tmp_path: Path) -> None:
    # Exports write ="00123" so a spreadsheet keeps the zeros: the user was '="00123"', whom
    # no lookup of 00123 finds and whom a plain export of 00123 made a second user.
    events = tmp_path / "orders.csv"
    events.write_text(
        'CustomerID,InvoiceDate,Total\n="00123",2011-01-01,5\n"=""00124""",2011-01-02,6\n'
        "00123,2011-01-03,7\n"
    )
    users = tmp_path / "users.csv"
    users.write_text('user_id,country\n="00123",UK\n00124,FR\n')
    summary = ingest.ingest_events(
        events, tmp_path / "o", mapping=_purchases(), users_path=users, chunk_rows=1
    )
    loaded = pd.read_parquet(tmp_path / "o" / "events.parquet")
    assert loaded[c.USER_ID].tolist() == ["00123", "00124", "00123"]
    assert sorted(pd.read_parquet(tmp_path / "o" / "users.parquet")[c.USER_ID]) == [
        "00123",
        "00124",
    ]
    notes = summary.tables["events"]["notes"]
    assert notes["ids_written_as_formulas"] == {"column": "CustomerID", "rows": 2}
    assert (
        "user_id 'CustomerID': 2 ids written as spreadsheet formulas (=\"00123\"), read as the "
        "text inside"
    ) in "\n".join(summary.lines())


def test_amounts_written_as_spreadsheet_text_formulas_are_the_number_inside(
    tmp_path: Path,
) -> None:
    # ="7.50" was invalid_amount (the whole column refused) where ="00123" ids were read.
    events = tmp_path / "orders.csv"
    events.write_text(
        'CustomerID,InvoiceDate,Total\n1,2011-01-01,="7.50"\n2,2011-01-02,"=""1,234.50"""\n'
        '3,2011-01-03,12\n4,2011-01-04,="x"\n'
    )
    summary = ingest.ingest_events(events, tmp_path / "o", mapping=_purchases(), chunk_rows=2)
    loaded = pd.read_parquet(tmp_path / "o" / "events.parquet")
    assert loaded[c.AMOUNT].tolist() == [7.5, 1234.5, 12.0]
    assert summary.tables["events"]["reasons"] == {"invalid_amount": 1}
    notes = summary.tables["events"]["notes"]
    assert notes["amounts_written_as_formulas"] == {"column": "Total", "rows": 3}
    assert (
        "amount 'Total': 3 amounts written as spreadsheet formulas (=\"7.50\"), read as the "
        "text inside"
    ) in "\n".join(summary.lines())


def test_negative_amounts_in_accounting_forms_are_negative(tmp_path: Path) -> None:
    # Accounting and ERP exports write a return as (12.50), 12.50- (SAP) or with a minus
    # sign U+2212: each was invalid_amount, so the refunds fell out of net revenue and LTV.
    events = tmp_path / "orders.csv"
    events.write_text(
        "CustomerID,InvoiceDate,Total\na,2011-01-01,20.00\na,2011-01-02,(12.50)\n"
        'b,2011-01-03,"(1,234.50)"\nb,2011-01-04,7.25-\nc,2011-01-05,\u221203.00\n'
        "c,2011-01-06,(abc)\n",
        encoding="utf-8",
    )
    summary = ingest.ingest_events(
        events, tmp_path / "o", mapping=_purchases(negative_amount_is_refund=True)
    )
    loaded = pd.read_parquet(tmp_path / "o" / "events.parquet")
    assert list(zip(loaded[c.EVENT_TYPE], loaded[c.AMOUNT], strict=True)) == [
        ("purchase", 20.0),
        ("refund", 12.5),
        ("refund", 1234.5),
        ("refund", 7.25),
        ("refund", 3.0),
    ]
    assert summary.tables["events"]["reasons"] == {"invalid_amount": 1}  # (abc): no number
