"""Adapters on the real files: counts must match each data set's SOURCE.txt."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from workspaces import clear_lifecycle_environ, copy_workspace

from features import adapters
from features import contract as c

pytestmark = pytest.mark.real_data


def test_online_retail_counts_match_source(online_retail_loaded) -> None:
    events, _ = online_retail_loaded
    notes = events.report.notes
    assert notes["invoice_lines"] == 541_909
    assert notes["customers"] == 4_372
    assert notes["lines_without_customer"] == 135_080
    assert notes["cancellation_lines"] == 9_288
    # SOURCE.txt: after dropping missing ids, cancellations, quantity <= 0 and price <= 0.
    assert notes["valid_purchase_lines"] == 397_884
    assert notes["valid_purchase_customers"] == 4_338
    # Nothing lost: every line is an event or quarantined with a reason.
    report = events.report
    assert report.rows_read == 541_909
    assert report.rows_loaded + report.rows_quarantined == 541_909
    assert len(events.frame) + len(events.quarantine) == 541_909
    # of the 135,080 lines without a customer, 1,336 stock adjustments (quantity <= 0 at
    # 0.00) and 2 'Adjust bad debt' lines (a negative price) are held back for that, as a
    # customer's line would be (session 51): the rest are guest orders
    assert report.reasons["missing_user_id"] == 133_742
    assert report.reasons["non_positive_quantity"] == 1_336
    assert report.reasons["negative_unit_price"] == 2
    assert events.quarantine[c.REASON].notna().all()


def test_online_retail_cancellations_become_refunds(online_retail_loaded) -> None:
    events, _ = online_retail_loaded
    frame = events.frame
    refunds = frame[frame[c.EVENT_TYPE] == c.REFUND]
    # 9,288 cancellation lines, 8,905 with a customer id; exact repeats are quarantined.
    assert 8_800 < len(refunds) <= 8_905
    assert refunds[c.ORDER_ID].str.startswith("C").all()
    assert (refunds[c.AMOUNT] > 0).all()
    purchases = frame[frame[c.EVENT_TYPE] == c.PURCHASE]
    # the 40 lines of a customer at a unit price of 0 are free items: 0.00 purchases
    free = purchases[c.AMOUNT] == 0
    assert free.sum() == events.report.notes["free_purchases"] == 40
    assert (purchases.loc[~free, c.AMOUNT] > 0).all()
    # Purchases minus duplicates quarantined: never more than the valid lines.
    assert len(purchases) + events.report.reasons.get("duplicate_row", 0) >= 397_884 - 100
    assert len(purchases) <= 397_884


def test_online_retail_contract_shape(online_retail_loaded) -> None:
    events, users = online_retail_loaded
    frame = events.frame
    assert str(frame[c.EVENT_TIME].dtype) == "datetime64[us, UTC]"
    assert frame[c.EVENT_TIME].min() >= pd.Timestamp("2010-12-01", tz="UTC")
    assert frame[c.EVENT_TIME].max() <= pd.Timestamp("2011-12-10", tz="UTC")
    assert frame[c.EVENT_TIME].is_monotonic_increasing
    assert frame[c.USER_ID].str.fullmatch(r"\d{5}").all()  # ids like 17850, no float '.0'
    assert set(users.frame[c.USER_ID]) == set(frame[c.USER_ID])
    assert users.frame[c.USER_ID].is_unique


@pytest.mark.parametrize("cutoff", ["2011-03-01", "2011-09-09"])
def test_online_retails_users_read_at_a_cutoff_nothing_of_later_invoices(
    online_retail_loaded, cutoff: str
) -> None:
    """A users table is read as it is at every cutoff, so what the adapter derives into it
    must be known at a customer's first event: the country of their first invoice. Each
    customer's main country over the whole log was not: 12455 bought from Cyprus until
    2011-09-08 and from Spain after, and read Spain at every earlier cutoff."""
    events, users = online_retail_loaded
    frame = events.frame
    until = adapters.online_retail_users(
        frame[frame[c.EVENT_TIME] <= pd.Timestamp(cutoff, tz="UTC")]
    )
    whole = users.frame.set_index(c.USER_ID)["country"]
    known = until.set_index(c.USER_ID)["country"]
    assert len(known) > 1000 and known.to_dict() == whole.loc[known.index].to_dict()
    assert whole["12455"] == "Cyprus"


def test_online_retail_in_one_chunk_is_the_same(
    online_retail_loaded, shared_data: Path, tmp_path: Path
) -> None:
    """Read in chunks, the file gives the same tables and report as in one chunk. The whole
    file in 100,000-line chunks is the session's load (`online_retail_loaded`) (its repeats, found across chunks too,
    counted); the comparison reads the first 30,000 lines in 10,000-line chunks, as the
    claim does not depend on size: the chunk boundary at 10,000 falls between lines and
    their repeats (9,917 and 10,034), so a repeat across chunks is found there too. Reading
    the whole file once more in one chunk cost 11 CPU-s."""
    events, _ = online_retail_loaded
    assert events.report.reasons["duplicate_row"] == 5_225  # repeats across chunks found
    with gzip.open(shared_data / adapters.ONLINE_RETAIL_FILE, "rt") as source:
        head = "".join(itertools.islice(source, 30_001))  # the header and 30,000 lines
    (cut := tmp_path / "first_lines.csv").write_text(head)
    lines = pd.read_csv(cut, dtype=str)
    copies = lines[lines["CustomerID"].notna()].reset_index()
    rows = copies.groupby(list(lines.columns), dropna=False)["index"].agg(["min", "max"])
    assert ((rows["min"] < 10_000) & (rows["max"] >= 10_000)).any()  # a repeat across chunks
    chunked, chunked_users = adapters.online_retail(cut, chunk_rows=10_000)
    whole, whole_users = adapters.online_retail(cut, chunk_rows=1_000_000)
    pd.testing.assert_frame_equal(chunked.frame, whole.frame)
    pd.testing.assert_frame_equal(chunked.quarantine, whole.quarantine)
    pd.testing.assert_frame_equal(chunked_users.frame, whole_users.frame)
    assert chunked.report == whole.report
    assert chunked.report.rows_read == 30_000 and chunked.report.reasons["duplicate_row"] > 0


def test_telco_snapshot_counts(shared_data: Path) -> None:
    loaded = adapters.telco_churn(shared_data / adapters.TELCO_CHURN_FILE)
    frame = loaded.frame
    assert len(frame) == 7_043 and loaded.report.rows_quarantined == 0
    assert frame[c.USER_ID].is_unique
    assert round(frame[c.LABEL].mean(), 4) == 0.2654
    assert loaded.report.notes["total_charges_blank_kept_as_null"] == 11
    # The 11 blanks are the brand-new customers: tenure 0, no charges yet.
    assert frame.loc[frame["TotalCharges"].isna(), "tenure"].eq(0).all()
    assert frame["tenure"].between(0, 72).all()


def test_a_telco_export_says_no_value_and_yes_no_as_people_write_them(tmp_path: Path) -> None:
    """A trial's hand-made rows: 'NA' charges quarantined the customer while a blank was
    kept, 'Yes' for SeniorCitizen quarantined them, a negative tenure was loaded and a blank
    gender became a category ''. Now: no value is null, Yes/No a flag, a negative or a
    flag of 2 quarantined with its reason."""
    rows = [
        "A1,Female,0,5,20,100,No",
        "A2,,Yes,3,20,NA,Yes",  # no gender, a flag in words, charges not available
        "A3,Male,0,-3,20,60,No",  # a negative tenure
        "A4,Male,1,0,20, ,No",  # new: no charges yet
        "A5,Male,2,4,20,80,No",  # a flag of 2
        "A6,Male,No,4,20,-,No",
    ]
    path = tmp_path / "telco.csv"
    header = "customerID,gender,SeniorCitizen,tenure,MonthlyCharges,TotalCharges,Churn"
    path.write_text("\n".join([header, *rows]) + "\n")
    loaded = adapters.telco_churn(path)
    frame = loaded.frame.set_index(c.USER_ID)
    assert sorted(frame.index) == ["A1", "A2", "A4", "A6"]
    assert loaded.report.reasons == {"invalid_tenure": 1, "invalid_SeniorCitizen": 1}
    assert frame.loc["A2", "SeniorCitizen"] == 1.0 and frame.loc["A6", "SeniorCitizen"] == 0.0
    assert frame["TotalCharges"].isna().tolist() == [False, True, True, True]
    assert pd.isna(frame.loc["A2", "gender"]) and frame["gender"].dropna().tolist() == [
        "Female", "Male", "Male"
    ]  # fmt: skip
    assert loaded.report.notes["total_charges_blank_kept_as_null"] == 3


def test_hillstrom_campaign_counts(shared_data: Path) -> None:
    loaded = adapters.hillstrom(shared_data / adapters.HILLSTROM_FILE)
    frame = loaded.frame
    notes = loaded.report.notes
    assert len(frame) == 64_000 and frame[c.USER_ID].is_unique
    assert notes["visit_rate"] == pytest.approx(0.14678, abs=1e-5)
    assert notes["conversion_rate"] == pytest.approx(0.00903, abs=1e-5)
    assert notes["mean_spend"] == pytest.approx(1.05091, abs=1e-5)
    arms = frame[c.ARM].value_counts()
    assert arms.to_dict() == {"Womens E-Mail": 21_387, "Mens E-Mail": 21_307, "No E-Mail": 21_306}
    assert frame[c.TREATMENT].sum() == 21_387 + 21_307
    by_arm = notes["conversion_by_arm"]
    assert by_arm["Mens E-Mail"] == pytest.approx(0.0125, abs=1e-4)
    assert by_arm["No E-Mail"] == pytest.approx(0.0057, abs=1e-4)


def documented_counts(source: str) -> tuple[str, str]:
    """The 'becomes' and 'counts (measured)' cells of a source's row in docs/datasets.md."""
    page = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"
    for line in page.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[0] == f"`{source}`":
            assert len(cells) == 3, f"{page}: the {source} row should have 3 cells: {line}"
            return cells[1], cells[2]
    raise AssertionError(f"{page}: no table row for `{source}`")


def test_documented_counts_are_the_measured_ones(online_retail_loaded, shared_data: Path) -> None:
    """docs/datasets.md's counts table says what the adapters measure on the real files."""
    events, _ = online_retail_loaded
    notes, reasons = events.report.notes, events.report.reasons
    kinds = events.frame[c.EVENT_TYPE].value_counts()
    quarantined = ", ".join(
        f"{count:,} `{reason}`" for reason, count in sorted(reasons.items(), key=lambda r: -r[1])
    )
    assert documented_counts("online-retail")[1] == (
        f"{notes['invoice_lines']:,} lines, {notes['customers']:,} customers; "
        f"{notes['valid_purchase_lines']:,} valid purchase lines of "
        f"{notes['valid_purchase_customers']:,} customers; loaded {kinds[c.PURCHASE]:,} "
        f"purchases ({notes['free_purchases']} free lines at 0.00) + {kinds[c.REFUND]:,} "
        f"refunds; quarantined {quarantined}"
    )
    # docs/reliability.md counts the same quarantine in its "bad real rows" item.
    reliability = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    assert (
        f"- bad real rows: {events.report.rows_quarantined:,} online_retail lines quarantined "
        f"({reasons['missing_user_id']:,} without customer, {reasons['duplicate_row']:,} repeats"
        f", {reasons['non_positive_quantity'] + reasons['negative_unit_price']:,} guest lines of "
        "a quantity or price no order has); loaded + quarantined = "
        f"{events.report.rows_loaded + events.report.rows_quarantined:,} read "
    ) in reliability

    telco = adapters.telco_churn(shared_data / adapters.TELCO_CHURN_FILE)
    attributes = [n for n in telco.frame.columns if n not in (c.USER_ID, c.LABEL)]
    becomes, counts = documented_counts("telco-churn")
    assert becomes == f"snapshot table: `user_id`, `label` (churned), {len(attributes)} attributes"
    assert counts == (
        f"{len(telco.frame):,} customers, churn {telco.frame[c.LABEL].mean():.2%}; the "
        f"{telco.report.notes['total_charges_blank_kept_as_null']} blank `TotalCharges` "
        "(tenure 0) kept as null"
    )

    hillstrom = adapters.hillstrom(shared_data / adapters.HILLSTROM_FILE)
    h = hillstrom.report.notes
    assert documented_counts("hillstrom")[1] == (
        f"{len(hillstrom.frame):,} customers; visit {h['visit_rate']:.3%}, conversion "
        f"{h['conversion_rate']:.3%}, mean spend {h['mean_spend']:.4f}"
    )


def test_online_retail_with_month_first_dates_reads_them_with_date_order(
    home: Path, tmp_path: Path
) -> None:
    """Copies of the data set write InvoiceDate as 12/1/2010 8:26 (month first): the import
    was refused naming column 'event_time' (the file has InvoiceDate) and --date-order, an
    option `import` did not have."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    path = tmp_path / "retail.csv"
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    lines = "".join(
        f"5363{i},85123A,MUG,2,12/{i}/2010 8:26,2.55,1785{i},United Kingdom\n" for i in range(1, 6)
    )
    path.write_text(header + lines)
    runner = CliRunner()
    refused = runner.invoke(main, ["import", "online-retail", str(path)])
    assert refused.exit_code == 1 and "--date-order" in refused.stderr
    # the file's column, not the contract's name for it (event_time); dates, whose order
    # none shows, not values that do not parse
    assert "column 'InvoiceDate' writes 5 dates that read either way" in refused.stderr
    done = runner.invoke(main, ["import", "online-retail", str(path), "--date-order", "monthfirst"])
    assert done.exit_code == 0, done.output
    events = pd.read_parquet(home / "datasets" / "online_retail" / "events.parquet")
    assert events[c.EVENT_TIME].dt.day.tolist() == [1, 2, 3, 4, 5]  # 8:26 in London is UTC
    assert (events[c.EVENT_TIME].dt.month == 12).all()
    hillstrom = runner.invoke(main, ["import", "hillstrom", str(path), "--date-order", "dayfirst"])
    assert hillstrom.exit_code == 1 and "hillstrom has no dates" in hillstrom.stderr
    # A copy long enough to have a 13th (12/13/2010) shows its order: read month first on its
    # own, said, and the invoice lines counted once though the file is read twice.
    path.write_text(header + lines + "536399,22423,CAKE STAND,1,12/13/2010 9:02,12.75,17850,UK\n")
    shown = runner.invoke(main, ["import", "online-retail", str(path), "--dataset", "shown"])
    assert shown.exit_code == 0, shown.output
    assert "'InvoiceDate' read month first: all 1 of its dates whose order shows" in shown.stdout
    events = pd.read_parquet(home / "datasets" / "shown" / "events.parquet")
    assert events[c.EVENT_TIME].dt.day.tolist() == [1, 2, 3, 4, 5, 13]
    notes = json.loads((home / "datasets" / "shown" / "report.json").read_text())
    notes = notes["tables"]["events"]["notes"]
    assert notes["invoice_lines"] == 6 and notes["valid_purchase_lines"] == 6
    assert notes["dates_read_as"]["InvoiceDate"]["order"] == "monthfirst"


def test_an_imported_datasets_notes_suggest_no_option_import_lacks(
    home: Path, tmp_path: Path
) -> None:
    """`datasets` listed an imported log's repeated lines with "--keep-repeats loads every
    copy", an option `import` refuses."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    path = tmp_path / "retail.csv"
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    line = "536365,85123A,MUG,2,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    other = "536366,22423,CAKE STAND,1,2010-12-02 09:02:00,12.75,17851,United Kingdom\n"
    path.write_text(header + line + line + other)
    runner = CliRunner()
    for command in (["import", "online-retail", str(path)], ["datasets"]):
        said = runner.invoke(main, command)
        assert said.exit_code == 0, said.output
        assert "1 duplicate_row rows: the same in every column" in said.stdout, said.stdout
        # import has the option now (test below); the listing has none of ingest's
        assert ("--keep-repeats loads every copy" in said.stdout) == (command[0] == "import")


def test_import_without_a_path_says_where_a_relative_data_root_is_read_from(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lifecycle import online-retail` run outside the project said only
    `../shared/data/online_retail/...: file not found`, not that the default data_root is
    read from the current folder (trial G)."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIFECYCLE_DATA_ROOT", "../shared/data")
    said = CliRunner().invoke(main, ["import", "online-retail"])
    assert said.exit_code == 2, said.output
    assert (
        f"file not found (data_root ../shared/data is read from the current folder, {tmp_path}); "
        "give the file as PATH" in " ".join(said.stderr.split())
    )
    monkeypatch.setenv("LIFECYCLE_DATA_ROOT", str(tmp_path / "absent"))
    said = CliRunner().invoke(main, ["import", "online-retail"])
    assert said.exit_code == 2 and "read from the current folder" not in said.stderr


def test_import_keeps_repeated_invoice_lines_with_keep_repeats_and_appends_read_so(
    home: Path, tmp_path: Path
) -> None:
    """online_retail's 5,225 identical invoice lines were always quarantined as
    duplicate_row on import, which had no --keep-repeats (ingest has it, and
    ingest.keep_repeats). With it they load, counted as repeats_kept; it is recorded, so a
    later month appended by `import --append` or `refresh --source` keeps its repeats too,
    and --no-keep-repeats quarantines them again. A table of customers has no repeats."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    line = "536365,85123A,MUG,2,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    other = "536366,22423,CAKE STAND,1,2010-12-02 09:02:00,12.75,17851,United Kingdom\n"
    (month := tmp_path / "december.csv").write_text(header + line + line + other)
    later = "536900,22111,BOTTLE,1,2010-12-20 10:00:00,4.25,17851,United Kingdom\n"
    (january := tmp_path / "january.csv").write_text(header + later + later)
    (february := tmp_path / "february.csv").write_text(header + later.replace("536900", "537100")
                                                         .replace("12-20", "12-28") * 2)  # fmt: skip
    runner = CliRunner()

    def run(*args: str) -> dict:
        said = runner.invoke(main, ["--json", "--quiet", *args])
        assert said.exit_code == 0, said.output
        return json.loads(said.stdout)

    def events(report: dict) -> tuple[int, dict, int | None]:
        table = report["tables"]["events"]
        return table["rows_loaded"], table["reasons"], table["notes"].get("repeats_kept")

    into = ("import", "online-retail", "--dataset", "retail")
    assert events(run(*into, str(month), "--keep-repeats")) == (3, {}, 1)
    assert events(run(*into, str(january), "--append")) == (2, {}, 1)
    refresh = ["--json", "refresh", str(february), "--dataset", "retail"]
    refreshed = runner.invoke(main, [*refresh, "--source", "online-retail"])
    ingest = json.loads(refreshed.stdout)["steps"][0]  # 3: too little data to train on
    assert refreshed.exit_code == 3 and ingest["status"] == "ran", refreshed.output
    appended = ingest["detail"]["files"][0]
    assert events(appended) == (2, {}, 1), appended
    again = run(*into, str(month), "--no-keep-repeats", "--replace")
    assert events(again) == (2, {"duplicate_row": 1}, None)
    refused = runner.invoke(main, ["import", "telco-churn", str(month), "--keep-repeats"])
    assert refused.exit_code == 1 and "--keep-repeats: telco-churn is no log of events" in (
        refused.stderr
    )


# `ingest`'s maps of online_retail's invoice lines, as docs/datasets.md gives them
RETAIL_INGEST = ["--event-type", "purchase", "--negative-is-refund", "--map", "user_id=CustomerID"]
RETAIL_INGEST += ["--map", "event_time=InvoiceDate", "--map", "order_id=InvoiceNo"]
RETAIL_INGEST += ["--map", "amount=Total"]


def _both_routes(home: Path, lines: pd.DataFrame, folder: Path, name: str, *options: str) -> dict:
    """``lines`` into ``home`` by `import online-retail` (dataset "import") and by `ingest`
    of the same lines with their Total (dataset "ingest"), ``options`` given to both: each
    route's --json events notes."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    (imported := folder / f"import-{name}.csv").write_text(lines.to_csv(index=False))
    total = lines["Quantity"].astype(float) * lines["UnitPrice"].astype(float)
    (ingested := folder / f"ingest-{name}.csv").write_text(
        lines.assign(Total=total).to_csv(index=False)
    )
    notes = {}
    for route, args in (
        ("import", ["import", "online-retail", str(imported)]),
        ("ingest", ["ingest", str(ingested), *RETAIL_INGEST]),
    ):
        run = ["--home", str(home), "--json", "--quiet", *args, "--dataset", route, *options]
        done = CliRunner().invoke(main, run)
        assert done.exit_code == 0, done.output
        notes[route] = json.loads(done.stdout)["tables"]["events"]["notes"]
    return notes


@pytest.fixture(scope="module")
def december(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, pd.DataFrame, dict]:
    """online_retail's December 2010 imported and ingested (datasets "import" and "ingest")
    into one workspace, once for the two tests that compare the routes (~1.5 CPU-s each):
    (the workspace, the lines, each route's notes). Read it; a test that appends copies it."""
    folder = tmp_path_factory.mktemp("december")
    lines = pd.read_csv(shared_data / adapters.ONLINE_RETAIL_FILE, dtype=str)
    december = lines[lines["InvoiceDate"] < "2011-01-01"]
    with pytest.MonkeyPatch.context() as patch:
        clear_lifecycle_environ(patch)
        notes = _both_routes(folder / "workspace", december, folder, "dec")
    return folder / "workspace", lines, notes


def test_import_and_ingest_count_online_retails_guest_orders_alike(
    december: tuple[Path, pd.DataFrame, dict], home: Path, tmp_path: Path
) -> None:
    """Session 41 D #5: `import online-retail` recorded its rows without a customer in its
    table's notes only (no batch, no kept rows), so `segments` and the report, which read the
    dataset's batches, said no guest orders of an imported dataset, where `ingest` of the same
    lines said 748 orders and 340,559.75 kept (Dec 2010 - Feb 2011); an append re-sending some
    counted them again. Both routes say the same now, a re-sent guest line counted once."""
    from features.guest_orders import dataset_guest_orders

    imported, lines, _ = december
    said = {}
    for route in ("import", "ingest"):
        said[route, "dec"] = dataset_guest_orders(imported / "datasets" / route)
    copy_workspace(imported, home)  # January appended to this test's copy
    january = lines[lines["InvoiceDate"].between("2010-12-20", "2011-01-31")]  # re-sends
    _both_routes(home, january, tmp_path, "jan", "--append")
    for route in ("import", "ingest"):
        said[route, "jan"] = dataset_guest_orders(home / "datasets" / route)
    for month, until in (("dec", "2011-01-01"), ("jan", "2011-02-01")):
        imported_, ingested = said["import", month], said["ingest", month]
        # but for the guest stock adjustments (quantity <= 0 at 0.00, one a line and an
        # invoice): the import holds them back as a customer's (non_positive_quantity);
        # ingest, which has no quantity rule, keeps them as 0.00 purchases (session 51)
        sent = lines[lines["InvoiceDate"] < until]
        guest = sent["CustomerID"].isna() & ~sent["InvoiceNo"].str.startswith("C")
        adjustments = sent[guest & (sent["Quantity"].astype(float) <= 0)]
        assert (adjustments["UnitPrice"].astype(float) == 0).all()
        assert (
            len(adjustments) == adjustments["InvoiceNo"].nunique() == {"dec": 70, "jan": 166}[month]
        )
        distinct = {
            r: said[r, month]["rows"] - said[r, month]["repeats"] for r in ("import", "ingest")
        }
        assert distinct["ingest"] == distinct["import"] + len(adjustments), month
        assert ingested["orders"] == imported_["orders"] + len(adjustments), month
        same = ("purchases", "refunds", "first", "last", "counted_once", "batches")
        assert {k: ingested.get(k) for k in same} == {k: imported_.get(k) for k in same}, month
    assert said["import", "dec"] is not None and said["import", "dec"]["orders"] > 0
    assert said["import", "jan"]["repeats"] > said["import", "dec"]["repeats"]  # re-sent once
    assert said["import", "jan"]["counted_once"] is True


def test_import_and_ingest_keep_online_retails_free_lines_alike(
    december: tuple[Path, pd.DataFrame, dict],
) -> None:
    """Session 41: `import online-retail` quarantined the invoice lines at a unit price of 0
    (non_positive_unit_price) that `ingest` of the same lines keeps as 0.00 purchases, so an
    import then `ingest --append` of the next month added such purchases only for the
    appended part (3 in December). A free item is activity in a real order: both routes keep
    it, counted as free_purchases, and the same rows give the same events."""
    import duckdb

    home, lines, notes = december
    events = {}
    for route in ("import", "ingest"):
        stored = home / "datasets" / route / "events.parquet"
        events[route] = duckdb.sql(
            "SELECT user_id, event_time, event_type, round(amount, 2) AS amount, order_id "
            f"FROM read_parquet('{stored}') ORDER BY ALL"
        ).df()
    december = lines[lines["InvoiceDate"] < "2011-01-01"]
    free = december["CustomerID"].notna() & (december["UnitPrice"].astype(float) == 0)
    assert free.sum() == 3
    pd.testing.assert_frame_equal(events["import"], events["ingest"])
    assert (events["import"]["amount"] == 0).sum() == 3
    assert notes["import"]["free_purchases"] == notes["ingest"]["free_purchases"] == 3
