"""`lifecycle import` of hostile copies of the public data sets: ids and text are judged as
ingest judges them, and a refusal names only options `import` has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from features import adapters
from features import contract as c
from lifecycle.cli import main

TELCO_HEADER = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
    "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
    "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn\n"
)
TELCO_REST = (
    ",0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,"
    "Electronic check,29.85,29.85,No\n"
)
RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)


def test_telco_ids_and_text_are_judged_as_ingest_judges_them(tmp_path: Path) -> None:
    """A customerID with a line break, a NUL, or written as a spreadsheet rounds it (7.59e3)
    loaded as a customer (the line break stripped into another's id); a tab in an attribute
    loaded as a category of its own."""
    path = tmp_path / "telco.csv"
    ids = ['"7590-VHVEG\n"', "7.59e3", "3668-QPYBK\x00", "5575-GNVDE", "9237-HQITU"]
    genders = ["Female"] * 4 + ['"Fe\tmale"']
    path.write_text(
        TELCO_HEADER + "".join(f"{i},{g}{TELCO_REST}" for i, g in zip(ids, genders, strict=True))
    )
    loaded = adapters.telco_churn(path, max_bad_fraction=0.9)
    assert loaded.report.reasons == {"invalid_user_id": 3, "invalid_gender": 1}
    assert loaded.frame[c.USER_ID].tolist() == ["5575-GNVDE"]


def test_a_telco_label_written_as_pandas_writes_a_float_column_is_read(tmp_path: Path) -> None:
    """A copy whose Churn was label-encoded and saved by pandas (1.0 / 0.0): every row
    invalid_label, the file refused as 'not the right file'."""
    path = tmp_path / "telco.csv"
    rest = TELCO_REST.removesuffix("No\n")
    churn = ["1.0", "0.0", "1", "0.5", "2.0"]
    path.write_text(TELCO_HEADER + "".join(f"c{i},Male{rest}{v}\n" for i, v in enumerate(churn)))
    loaded = adapters.telco_churn(path, max_bad_fraction=0.9)
    assert loaded.report.reasons == {"invalid_label": 2}  # 0.5 and 2.0 are no 0/1 label
    assert loaded.frame[c.LABEL].tolist() == [1, 0, 1]


def test_online_retail_customer_ids_with_control_characters_are_invalid(tmp_path: Path) -> None:
    """'17850\\n' was stripped into customer 17850 (ingest quarantines it)."""
    path = tmp_path / "retail.csv"
    line = "536365,85123A,X,6,2010-12-01 08:26:00,2.55,{},United Kingdom\n"
    customers = ['"17850\n"', "1.785E+4", " 17851", "17852"]
    path.write_text(RETAIL_HEADER + "".join(line.format(who) for who in customers))
    events, _ = adapters.online_retail(path, max_bad_fraction=0.9)
    assert events.report.reasons == {"invalid_user_id": 2}
    assert sorted(events.frame[c.USER_ID]) == ["17851", "17852"]


RETAIL_ROW = "536365,85123A,X,6,{when},2.55,17850,United Kingdom\n"
HOSTILE_RETAIL = {
    "words.csv": RETAIL_HEADER + RETAIL_ROW.format(when="yesterday") * 2,
    "epoch.csv": RETAIL_HEADER
    + RETAIL_ROW.format(when="1291191960")
    + RETAIL_ROW.format(when="1291191961"),
    "mixed.csv": RETAIL_HEADER
    + RETAIL_ROW.format(when="13/12/2010 08:26")
    + RETAIL_ROW.format(when="12/13/2010 08:26"),
    "repeats.csv": RETAIL_HEADER + RETAIL_ROW.format(when="2010-12-01 08:26:00") * 3,
    "semicolons.csv": RETAIL_HEADER.replace(",", ";") + "1;2;3;4;5;6;7;8\n",
    "ragged.csv": RETAIL_HEADER + "1,2\n" * 3,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_RETAIL))
def test_import_refusals_name_only_options_import_has(
    home: Path, tmp_path: Path, name: str
) -> None:
    """`import online-retail` of a file of unreadable times said 'name their form with
    --time-format', an option import does not have (nor --encoding, --delimiter,
    --keep-repeats)."""
    path = tmp_path / name
    path.write_text(HOSTILE_RETAIL[name])
    result = CliRunner().invoke(main, ["import", "online-retail", str(path)])
    assert result.exit_code == 1, result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: {path}")
    own = {o for p in main.commands["import"].params for o in p.opts}
    assert set(re.findall(r"--[a-z-]+", error)) <= own, error
    assert "mapping" not in error  # import maps nothing


def test_import_of_text_not_utf8_says_to_save_it_so_and_ingest_names_encoding(
    home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(RETAIL_HEADER.encode() + RETAIL_ROW.format(when="2010-12-01").encode()[:-1])
    path.write_bytes(path.read_bytes().replace(b",X,", b",caf\xe9,") + b"\n")
    result = CliRunner().invoke(main, ["import", "online-retail", str(path)])
    assert result.stderr.strip().splitlines()[-1].endswith("; save the file as UTF-8")
    result = CliRunner().invoke(main, ["ingest", str(path), "--map", "user_id=CustomerID"])
    assert "--encoding latin-1" in result.stderr  # ingest has the option


def test_hillstrom_attributes_that_are_no_number_or_no_text_are_quarantined(
    tmp_path: Path,
) -> None:
    """A history of 'abc' loaded as null (an unknown spend history, silently), a zip_code
    with a tab as a category of its own, a recency of -1 months (or a history of -5
    dollars) as a customer."""
    path = tmp_path / "hillstrom.csv"
    header = "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,"
    path.write_text(
        header + "visit,conversion,spend\n"
        "10,x,142.44,1,0,Rural,0,Phone,Womens E-Mail,0,0,0\n"
        '6,x,329.08,1,1,"Ru\tral",1,Web,No E-Mail,1,1,5.5\n'
        "6,x,abc,1,1,Rural,1,Web,No E-Mail,1,1,5.5\n"
        "6,x,,1,1,Urban,1,Web,No E-Mail,1,0,0\n"
        # months since the last purchase (1-12 in the file): -1 loaded as a customer
        "-1,x,142.44,1,0,Rural,0,Phone,Womens E-Mail,0,0,0\n"
        "6,x,-5,1,0,Rural,0,Phone,Womens E-Mail,0,0,0\n"
    )
    loaded = adapters.hillstrom(path, max_bad_fraction=0.9)
    assert loaded.report.reasons == {
        "invalid_zip_code": 1,
        "invalid_history": 2,
        "invalid_recency": 1,
    }
    assert loaded.frame["zip_code"].tolist() == ["Rural", "Urban"]  # a blank history is null


def test_a_hillstrom_recency_outside_1_to_12_whole_months_is_quarantined(
    home: Path, tmp_path: Path
) -> None:
    """recency is whole months since the last purchase, 1 to 12 in the file: a 0, a 13 and
    a 2.5 loaded as customers. Each is quarantined with its reason, said by the import; a
    blank stays unknown (null), as a blank history does."""
    path = tmp_path / "hillstrom.csv"
    row = "{recency},x,142.44,1,0,Rural,0,Phone,Womens E-Mail,0,0,0\n"
    months = ["1", "12", "0", "13", "2.5", "", "12.0"]
    control = "6,x,142.44,1,0,Rural,0,Phone,No E-Mail,0,0,0\n"  # a file of one arm is refused
    path.write_text(
        HILLSTROM_HEADER + "\n" + "".join(row.format(recency=m) for m in months) + control
    )
    loaded = adapters.hillstrom(path, max_bad_fraction=0.9)
    assert loaded.report.reasons == {"recency_out_of_range": 2, "fractional_recency": 1}
    assert loaded.frame["recency"].tolist()[:2] == [1, 12] and loaded.frame["recency"][3] == 12
    assert loaded.frame["recency"].isna().tolist() == [False, False, True, False, False]
    said = CliRunner().invoke(main, ["import", "hillstrom", str(path)]).stdout
    assert "campaign: 5 rows loaded of 8, 3 quarantined" in said
    assert "2 recency_out_of_range" in said and "1 fractional_recency" in said


HILLSTROM_HEADER = (
    "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,"
    "visit,conversion,spend"
)


def test_hillstrom_outcomes_are_0_or_1_and_the_control_arm_is_read_in_any_case(
    tmp_path: Path,
) -> None:
    """A conversion of 300 was a traceback (no Int8), a visit of 2 or 0.5 loaded as a visit,
    and 'no e-mail' (a copy's lower case) was an arm of its own, counted as treated."""
    path = tmp_path / "hillstrom.csv"
    row = "10,x,142.44,1,0,Rural,0,Phone,{arm},{visit},{conversion},0\n"
    rows = [
        ("Womens E-Mail", 1, 1),
        ("no e-mail", 0, 0),
        ("NO E-MAIL ", 1, 0),
        ("Mens E-Mail", 2, 0),
        ("Mens E-Mail", 0.5, 0),
        ("No E-Mail", 0, 300),
    ]
    path.write_text(
        HILLSTROM_HEADER
        + "\n"
        + "".join(row.format(arm=a, visit=v, conversion=k) for a, v, k in rows)
    )
    loaded = adapters.hillstrom(path, max_bad_fraction=0.9)
    assert loaded.report.reasons == {"invalid_visit": 2, "invalid_conversion": 1}
    frame = loaded.frame
    assert frame[c.TREATMENT].tolist() == [True, False, False]
    assert frame[c.ARM].tolist() == ["Womens E-Mail", "No E-Mail", "No E-Mail"]
    assert frame[c.VISIT].tolist() == [1, 0, 1]
    # an e-mail arm typed otherwise was a treated arm of its own (5 'Mens Email' rows: a
    # third e-mail in the campaign effect, `--arm` naming it); another campaign's stays its own
    arms = ["Mens Email", "womens e-mail", "WOMENS_E-MAIL", "no email", "SMS", "Mens E-Mail"]
    path.write_text(
        HILLSTROM_HEADER + "\n" + "".join(row.format(arm=a, visit=0, conversion=0) for a in arms)
    )
    frame = adapters.hillstrom(path).frame
    assert frame[c.ARM].tolist() == [
        "Mens E-Mail",
        "Womens E-Mail",
        "Womens E-Mail",
        "No E-Mail",
        "SMS",
        "Mens E-Mail",
    ]
    assert frame[c.TREATMENT].tolist() == [True, True, True, False, True, True]


@pytest.mark.parametrize("kept", ["Mens E-Mail", "No E-Mail"])
def test_a_hillstrom_copy_of_one_arm_is_refused_at_import_in_one_line(
    home: Path, tmp_path: Path, shared_data: Path, kept: str
) -> None:
    """The real file cut to one segment (only 'Mens E-Mail': no control; only 'No E-Mail': no
    e-mail) was imported, 21,307 rows, and train-uplift refused it later. Import refuses it,
    naming the file, the column and the two arms a campaign's effect compares."""
    import pandas as pd

    real = pd.read_csv(shared_data / adapters.HILLSTROM_FILE)
    path = tmp_path / "one_arm.csv"
    real[real["segment"] == kept].to_csv(path, index=False)
    rows = int((real["segment"] == kept).sum())
    result = CliRunner().invoke(main, ["--quiet", "import", "hillstrom", str(path)])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line == (
        f"Error: {path}: column 'segment' holds only '{kept}' ({rows:,}) in its {rows:,} loaded "
        "rows: expected both an e-mail arm (e.g. 'Mens E-Mail') and the control 'No E-Mail', "
        "which a campaign's effect compares"
    )
    assert not (home / "datasets").exists()


TELCO_ROW = "7590-VHVEG,Female" + TELCO_REST.replace("No\n", "No,x\n")
HILLSTROM_ROW = "10,x,142.44,1,0,Rural,0,Phone,No E-Mail,0,0,0,1\n"


@pytest.mark.parametrize(
    ("source", "text", "column"),
    [
        ("telco-churn", TELCO_HEADER.replace(",Churn", ",Churn,user_id") + TELCO_ROW, "user_id"),
        ("telco-churn", TELCO_HEADER.replace(",Churn", ",Churn,label") + TELCO_ROW, "label"),
        ("hillstrom", HILLSTROM_HEADER + ",treatment\n" + HILLSTROM_ROW, "treatment"),
    ],
)
def test_a_column_named_as_one_the_adapter_makes_is_refused_in_one_line(
    home: Path, tmp_path: Path, source: str, text: str, column: str
) -> None:
    """A telco copy with a user_id column had every customer id replaced by it: 7,042 of
    7,043 rows refused as duplicate_user_id, the column never named."""
    path = tmp_path / "copy.csv"
    path.write_text(text)
    result = CliRunner().invoke(main, ["--quiet", "import", source, str(path)])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(
        f"Error: {path}: column '{column}' has the name of the column this adapter makes from"
    ), line
    assert "rename it in the file" in line
    assert not (home / "datasets").exists()


def test_online_retail_parquet_copy_loads_as_its_csv(tmp_path: Path) -> None:
    """`import online-retail retail.parquet` (pandas' copy: CustomerID floats, Quantity ints)
    was "AttributeError: Can only use .str accessor with string values!"."""
    import pandas as pd

    path = tmp_path / "retail.csv"
    line = "53636{i},85123A,X,6,2010-12-01 08:2{i}:00,2.55,{who},United Kingdom\n"
    customers = ["7", "8", ""]
    path.write_text(
        RETAIL_HEADER + "".join(line.format(i=i, who=w) for i, w in enumerate(customers))
    )
    pd.read_csv(path).to_parquet(tmp_path / "retail.parquet")
    from_csv, _ = adapters.online_retail(path)
    from_parquet, _ = adapters.online_retail(tmp_path / "retail.parquet")
    assert from_parquet.frame[c.USER_ID].tolist() == ["7", "8"]
    pd.testing.assert_frame_equal(from_parquet.frame, from_csv.frame)
    assert from_parquet.report.reasons == from_csv.report.reasons == {"missing_user_id": 1}


def test_import_of_a_folder_takes_the_one_data_file_in_it_or_lists_them(
    home: Path, tmp_path: Path
) -> None:
    """`import telco-churn ../shared/data/telco_churn` (the folder) was refused: 'is a
    directory, expected a CSV or Parquet file'. Its one data file (beside SOURCE.txt) is
    read; a folder of several names them; the data root finds it by its usual path."""
    folder = tmp_path / "telco_churn"
    folder.mkdir()
    (folder / "SOURCE.txt").write_text("where it came from\n")
    (folder / "customers.csv").write_text(TELCO_HEADER + "7590-VHVEG,Female" + TELCO_REST)
    result = CliRunner().invoke(main, ["import", "telco-churn", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"from {folder / 'customers.csv'} as dataset" in result.stderr
    (folder / "old.csv").write_text(TELCO_HEADER)
    result = CliRunner().invoke(main, ["import", "telco-churn", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {folder}: is a folder of 2 data files (customers.csv, old.csv); give the "
        "telco-churn file as PATH"
    )
    (folder / "customers.csv").rename(folder / Path(adapters.TELCO_CHURN_FILE).name)
    result = CliRunner().invoke(main, ["import", "telco-churn", str(tmp_path), "--replace"])
    assert result.exit_code == 0, result.output
    assert f"from {tmp_path / adapters.TELCO_CHURN_FILE} as dataset" in result.stderr


def test_history_of_a_snapshot_counts_its_rows_not_no_events(home: Path, tmp_path: Path) -> None:
    """`datasets history telco_churn` said 'no events' of every version of a snapshot."""
    path = tmp_path / "telco.csv"
    ids = ["7590-VHVEG", "5575-GNVDE", "9237-HQITU"]
    path.write_text(TELCO_HEADER + "".join(f"{i},Female{TELCO_REST}" for i in ids))
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "import", "telco-churn", str(path)]).exit_code == 0
    result = runner.invoke(main, ["datasets", "history", "telco_churn"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("* ")]
    assert "  a snapshot table (one row a customer): 3 rows  (1 batch)" in line, line
