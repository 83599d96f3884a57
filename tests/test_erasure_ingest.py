"""Erased users stay erased: a later ingest or append quarantines their rows as
``erased_user``; the erasure log holds only the ids found; the monitor's reference samples
are deleted with the users; a model's own numbers are not taken for an id."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import cli_report, names_id

from features import contract as c
from features.erasure import forget
from features.erasure_log import ERASED_USER, log_entries
from lifecycle.cli import main
from lifecycle.pseudonyms import keyed_hash
from lifecycle.settings import load_settings

HEADER = "user_id,event_time,event_type,amount\n"
NOVEMBER = (
    HEADER + "12590,2025-11-01 10:00:00,purchase,10\n"
    "15749,2025-11-02 10:00:00,purchase,20\n"
    "14646,2025-11-03 10:00:00,purchase,30\n"
    "14646,2025-11-04 10:00:00,session,\n"
    "17000,2025-11-05 10:00:00,purchase,5\n"
)
# An export overlapping the last: November again, then December with the erased user.
DECEMBER = (
    NOVEMBER
    + "14646,2025-12-01 10:00:00,purchase,40\n"
    + "14646,2025-12-02 10:00:00,purchase,\n"  # bad too: erased_user still wins
    + "17000,2025-12-03 10:00:00,purchase,6\n"
)
USERS = "user_id,signup_time,channel\n14646,2025-10-01,ads\n17000,2025-10-02,organic\n"
GONE = ("12590", "15749", "14646")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def shop(home: Path, tmp_path: Path) -> Path:
    """Dataset ``shop`` from the November export, with a users file."""
    november = _write(tmp_path, "nov.csv", NOVEMBER)
    users = _write(tmp_path, "users.csv", USERS)
    cli_report("ingest", str(november), "--users", str(users), "--dataset", "shop")
    return home / "datasets" / "shop"


def test_a_forgotten_user_stays_out_of_an_overlapping_append(
    home: Path, shop: Path, tmp_path: Path
) -> None:
    cli_report("forget", *GONE)
    listed = CliRunner().invoke(main, ["datasets"])
    # read = loaded + quarantined + erased
    assert "events: 1 row loaded of 5, 0 quarantined, 4 erased" in listed.stdout

    december = _write(tmp_path, "dec.csv", DECEMBER)
    users = _write(tmp_path, "users.csv", USERS)
    data = cli_report(
        "ingest", str(december), "--users", str(users), "--dataset", "shop", "--append"
    )
    reasons = data["tables"]["events"]["reasons"]
    assert reasons[ERASED_USER] == 6  # 4 November rows, 2 December rows (one also bad)
    # no row of theirs loads, yet they are not named as users with no row loaded
    assert "users_only_quarantined" not in data["tables"]["events"]["notes"]
    assert data["tables"]["users"]["reasons"] == {ERASED_USER: 1}
    events = pd.read_parquet(shop / "events.parquet")
    users_table = pd.read_parquet(shop / "users.parquet")
    assert not set(GONE) & (set(events[c.USER_ID]) | set(users_table[c.USER_ID]))
    assert events[c.USER_ID].tolist() == ["17000", "17000"]
    # Quarantined with their source row and reason, none of their values kept.
    quarantine = "\n".join(p.read_text() for p in (shop / "quarantine").glob("*.csv"))
    assert ERASED_USER in quarantine
    assert not any(user in quarantine for user in GONE)
    [batch] = (shop / "quarantine").glob("events-append-*.csv")
    held = pd.read_csv(batch)
    assert sorted(held.loc[held[c.REASON] == ERASED_USER, c.SOURCE_ROW]) == [1, 2, 3, 4, 6, 7]


def test_an_id_written_14646_0_forgets_the_customer_ingest_loaded_as_14646(
    home: Path, shop: Path, tmp_path: Path
) -> None:
    """An erasure request copied from a pandas export (14646.0) erased nothing, said "not
    found", and logged no hash: the customer's rows stayed and a later export kept them."""
    result = CliRunner().invoke(main, ["--json", "forget", "14646.0", "12590", "99999.0"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["read_as"] == {"14646.0": "14646"} and out["not_found"] == ["99999.0"]
    [entry] = log_entries(home)
    key = (home / ".erasure_key").read_text().strip().encode()
    assert entry["user_hashes"] == sorted(keyed_hash(key, u) for u in ("14646", "12590"))
    assert "read_as" not in entry and not names_id(entry, "14646")
    december = _write(tmp_path, "dec.csv", DECEMBER)
    data = cli_report("ingest", str(december), "--dataset", "shop", "--append")
    assert data["tables"]["events"]["reasons"][ERASED_USER] == 5  # 4 rows of 14646, 1 of 12590
    assert "14646" not in set(pd.read_parquet(shop / "events.parquet")[c.USER_ID])


def test_an_id_held_under_another_spelling_is_named_never_erased_nor_logged(
    home: Path, tmp_path: Path
) -> None:
    """`forget josé` (typed: one character) of a customer a Mac export wrote 'jose' + a
    combining accent, or `forget Bob` of 'Bob ', said "not found in any table (nothing to
    erase)" and nothing else: the operator took the person for absent, the rows stayed."""
    nfd = "jose\u0301"
    events = (
        HEADER + f"{nfd},2025-11-01 10:00:00,purchase,10\nBob ,2025-11-02 10:00:00,purchase,5\n"
    )
    events += "bob,2025-11-03 10:00:00,purchase,5\n"
    cli_report("ingest", str(_write(tmp_path, "shop.csv", events)), "--dataset", "shop")
    result = CliRunner().invoke(main, ["forget", "jos\u00e9", "bob"])
    assert result.exit_code == 0, result.output
    said = result.stdout.splitlines()
    assert (
        '  "jos\\u00e9": held written as "jose\\u0301" (case, spaces, leading zeros or accent '
        "encoding apart), NOT erased; if that is the same person, run forget again with the id "
        "exactly as held"
    ) in said
    assert any(line.startswith('  "bob": also held written as "Bob "') for line in said), said
    held = set(pd.read_parquet(home / "datasets" / "shop" / "events.parquet")[c.USER_ID])
    assert held == {nfd, "Bob "}  # named, not erased: only bob was
    [entry] = log_entries(home)
    assert len(entry["user_hashes"]) == 1 and "Bob" not in json.dumps(entry)
    out = cli_report("forget", nfd)
    assert out["other_spellings"] == {} and out["users"] == 1


def test_an_erasure_keyed_by_an_absent_key_refuses_the_ingest(
    home: Path, shop: Path, tmp_path: Path
) -> None:
    key = {"LIFECYCLE_PRIVACY__PSEUDONYM_KEY": "list-secret"}
    forget(load_settings(home=home, environ=key), ["14646"], dataset="shop")
    december = str(_write(tmp_path, "dec.csv", DECEMBER))
    args = ["--quiet", "ingest", december, "--dataset", "shop", "--append"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code != 0
    [line] = refused.output.strip().splitlines()
    assert "privacy.pseudonym_key" in line and "configure that key again" in line
    assert "14646" not in pd.read_parquet(shop / "events.parquet")[c.USER_ID].tolist()
    # With the key back, the user's rows are quarantined; another dataset is not guarded.
    again = CliRunner().invoke(main, ["--json", *args], env=key)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["tables"]["events"]["reasons"][ERASED_USER] == 4
    other = cli_report("ingest", december, "--dataset", "other")
    assert ERASED_USER not in other["tables"]["events"]["reasons"]


def test_the_log_holds_only_the_ids_found_once_each(home: Path, shop: Path) -> None:
    result = CliRunner().invoke(
        main, ["--json", "forget", "12590", "15749", "14646", "12590", "99999", ""]
    )
    assert result.exit_code == 0, result.output
    # 4 ids asked, 3 of them users: the progress line counts ids (it said "4 users")
    assert "forgetting 4 ids (1 empty id ignored)" in result.stderr
    out = json.loads(result.stdout)
    assert out["not_found"] == ["99999"]
    [entry] = log_entries(home)
    assert entry["users"] == 3 and entry["dataset"] is None
    key = (home / ".erasure_key").read_text().strip().encode()
    assert entry["user_hashes"] == sorted(keyed_hash(key, u) for u in GONE)

    alone = CliRunner().invoke(main, ["forget", "99999"])
    assert alone.exit_code == 0, alone.output
    assert "nothing recorded in the erasure log" in alone.stdout
    assert len(log_entries(home)) == 1
    empty = CliRunner().invoke(main, ["forget", ""])
    assert empty.exit_code != 0
    [line] = empty.output.strip().splitlines()
    assert "no user ids given (1 empty id ignored)" in line


def test_forget_deletes_the_monitor_reference_samples(home: Path, shop: Path) -> None:
    monitor = load_settings(home=home, environ={}).workspace.monitor_dir
    monitor.mkdir(parents=True)
    sample = pd.DataFrame({"orders_30d": [1.0, 2.0]})
    ours = [
        "reference-features-shop-0123456789abcdef.parquet",
        "reference-scores-shop-churn-v3.parquet",
        # scored with a partner's output (conversion uses churn's): serving.monitor's key
        "reference-scores-shop-conversion-v2-churn-v1.parquet",
    ]
    others = [
        "reference-features-shop-x-0123456789abcdef.parquet",
        "drift-shop.json",
        "reference-scores-shop-x-conversion-v2-churn-v1.parquet",
    ]
    for name in ours + others[:1] + others[2:]:
        sample.to_parquet(monitor / name)
    (monitor / others[1]).write_text("{}")
    out = cli_report("forget", "14646", "--dataset", "shop")
    assert not any((monitor / name).exists() for name in ours)
    assert all((monitor / name).exists() for name in others)
    assert out["removed"]["monitor reference files deleted"] == 3
    assert sorted(out["deleted_files"]) == [f"monitor/{name}" for name in ours]
    # Nobody found: nothing of the monitor's is touched.
    sample.to_parquet(monitor / ours[0])
    cli_report("forget", "99999")
    assert (monitor / ours[0]).exists()


def test_only_the_datasets_that_held_a_user_lose_monitor_files_and_are_named(
    home: Path, shop: Path, tmp_path: Path
) -> None:
    """`forget` of a demo user named online_retail's champions as having learned from it (in
    the log too) and deleted online_retail's monitor references as 'mentioned a user'; the
    remedy opened with `train-snapshot`, as a snapshot dataset was in the workspace."""
    from lifecycle import registry

    other = _write(tmp_path, "other.csv", HEADER + "20001,2025-11-01 10:00:00,purchase,10\n")
    cli_report("ingest", str(other), "--dataset", "other")
    cli_report("import", "telco-churn", str(_write(tmp_path, "telco.csv", TELCO)))
    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    for name in ("shop", "other", "telco_churn"):
        model = registry.model_name(name, "churn")
        client.create_registered_model(model)
        client.create_model_version(model, source=str(tmp_path), run_id=None)
        registry.set_champion(client, model, "1", "first model")
    monitor = settings.workspace.monitor_dir
    monitor.mkdir(parents=True)
    ours = [
        "reference-features-shop-0123456789abcdef.parquet",
        "reference-scores-shop-churn-v1.parquet",
    ]
    theirs = [
        "reference-features-other-0123456789abcdef.parquet",
        "reference-scores-other-churn-v1.parquet",
    ]
    for name in ours + theirs:
        pd.DataFrame({"orders_30d": [1.0, 2.0]}).to_parquet(monitor / name)

    result = CliRunner().invoke(main, ["forget", "14646"])
    assert result.exit_code == 0, result.output
    assert not any((monitor / name).exists() for name in ours)
    assert all((monitor / name).exists() for name in theirs)
    for name in ours:
        assert (
            f"deleted (rows of dataset shop, which held a user, with no ids to remove them by): "
            f"monitor/{name}" in result.stdout
        )
    [line] = [x for x in result.stdout.splitlines() if "serving champions" in x]
    assert "learned from the users: shop-churn v1 (retrain with `lifecycle train TASK " in line
    assert "train-snapshot" not in line and "other-churn" not in line
    assert "`lifecycle promote TASK VERSION --dataset shop --force --reason erasure`" in line
    [entry] = log_entries(home)
    assert entry["champions_trained_with_users"] == ["shop-churn v1"]
    assert sorted(entry["deleted_files"]) == [f"monitor/{name}" for name in sorted(ours)]
    # A snapshot's user: its own remedy, and nothing of the events datasets.
    told = cli_report("forget", "7590-VHVEG")
    assert told["champions_trained_with_users"] == ["telco_churn-churn v1"]
    assert (
        "retrain with `lifecycle train-snapshot --dataset telco_churn`" in told["not_covered"][-1]
    )
    assert all((monitor / name).exists() for name in theirs)


def test_a_models_own_numbers_are_not_an_id(home: Path, shop: Path) -> None:
    bundle = home / "mlflow" / "artifacts" / "1" / "model" / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "booster.txt").write_text(
        "tree\nversion=v4\nthreshold=30.212590408045799 2\ninternal_count=4443 12590\n"
    )
    evaluation = bundle.parent / "evaluation.json"
    evaluation.write_text(json.dumps({"top_users": ["12590"], "threshold": 30.212590408045799}))
    out = cli_report("forget", "12590")
    assert out["mlflow_artifacts_mentioning_users"] == ["mlflow/artifacts/1/model/evaluation.json"]


RETAIL = (  # online_retail's own columns: an invoice, a cancellation, another customer
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,17850,United Kingdom\n"
    "536366,22633,WARMER,6,2010-12-01 08:28:00,1.85,13047,United Kingdom\n"
)
TELCO = (
    "customerID,SeniorCitizen,tenure,MonthlyCharges,TotalCharges,Churn\n"
    "7590-VHVEG,0,1,29.85,29.85,No\n5575-GNVDE,0,34,56.95,1889.5,Yes\n"
)


def test_an_id_held_by_no_one_that_names_a_column_leaves_the_lists_whole(
    home: Path, tmp_path: Path
) -> None:
    """`forget --ids-file` of a spreadsheet's column (its first line `user_id`) erased
    nobody, yet deleted the snapshot champion's at-risk list, whose header names `user_id`
    ('deleted (mentioned a user)'), and `at-risk --dataset telco_churn` then had no list.
    A column's name is no user: the lists stay, and a held user's row still goes."""
    cli_report("import", "telco-churn", str(_write(tmp_path, "telco.csv", TELCO)))
    settings = load_settings(home=home, environ={})
    listed = settings.workspace.snapshot_at_risk("telco_churn-churn", "1")
    listed.parent.mkdir(parents=True, exist_ok=True)
    listed.write_text(
        "user_id,churn_probability,reasons,rank\n"
        "7590-VHVEG,0.9,Contract: Month-to-month; tenure: 1,1\n5575-GNVDE,0.2,,2\n"
    )
    rows = [{"rank": 1, "user_id": "7590-VHVEG"}, {"rank": 2, "user_id": "5575-GNVDE"}]
    as_json = home / "lists" / "top.json"
    as_json.parent.mkdir()
    as_json.write_text(json.dumps({"title": "top 2", "rows": rows}))
    before = listed.read_text(), as_json.read_text()
    out = cli_report("forget", "user_id", "rank")
    assert sorted(out["not_found"]) == ["rank", "user_id"] and out["deleted_files"] == []
    assert (listed.read_text(), as_json.read_text()) == before
    by_user = home / "lists" / "by_user.json"  # a held user's id as a key is a mention
    by_user.write_text(json.dumps({"by_user": {"7590-VHVEG": {"spend": 3.5}}}))
    out = cli_report("forget", "user_id", "7590-VHVEG")
    assert out["not_found"] == ["user_id"]
    assert out["deleted_files"] == ["lists/by_user.json"] and not by_user.exists()
    assert list(pd.read_csv(listed)[c.USER_ID]) == ["5575-GNVDE"]
    assert [r["user_id"] for r in json.loads(as_json.read_text())["rows"]] == ["5575-GNVDE"]


def test_an_id_held_by_no_one_leaves_the_reports_naming_it(home: Path, tmp_path: Path) -> None:
    """`forget user_id` (an ids file's header line) erased nobody, yet deleted every HTML
    report with a `user_id` column ('deleted (mentioned a user)'), as lists were before
    e6017bf. A report naming only ids no table holds is kept, and said so; one naming a held
    user still goes, and so does one naming an id a list holds a row of (a user after all)."""
    cli_report("import", "telco-churn", str(_write(tmp_path, "telco.csv", TELCO)))
    reports = load_settings(home=home, environ={}).workspace.reports_dir
    reports.mkdir(parents=True)
    word = reports / "report-telco_churn-2011-12-01.html"
    word.write_text("<table><tr><th>user_id</th></tr><tr><td>5575-GNVDE</td></tr></table>")
    held = reports / "report-telco_churn-2011-12-02.html"
    held.write_text("<tr><th>user_id</th></tr><tr><td>7590-VHVEG</td></tr>")
    out = cli_report("forget", "user_id")
    assert out["not_found"] == ["user_id"] and out["deleted_files"] == []
    assert out["spared_files"] == {
        "reports/report-telco_churn-2011-12-01.html": ["user_id"],
        "reports/report-telco_churn-2011-12-02.html": ["user_id"],
    }
    said = CliRunner().invoke(main, ["forget", "user_id"]).stdout
    assert (
        "kept (mentions only user_id, no user's id): reports/report-telco_churn-2011-12-01.html"
        in said
    )
    out = cli_report("forget", "user_id", "7590-VHVEG")
    assert out["deleted_files"] == ["reports/report-telco_churn-2011-12-02.html"]
    assert list(out["spared_files"]) == ["reports/report-telco_churn-2011-12-01.html"]
    assert word.exists() and not held.exists()
    # an id of no table that a list outside the datasets holds a row of is a user's
    (home / "to_crm").mkdir()  # read after reports/
    (home / "to_crm" / "x.csv").write_text("user_id,rank\nX-1,1\n")
    seen = reports / "report-telco_churn-2011-12-03.html"
    seen.write_text("<td>X-1</td>")
    out = cli_report("forget", "X-1")
    assert out["not_found"] == ["X-1"] and not seen.exists()
    assert out["deleted_files"] == ["reports/report-telco_churn-2011-12-03.html"]
    assert (home / "to_crm" / "x.csv").read_text() == "user_id,rank\n"


@pytest.mark.parametrize(
    ("source", "text", "dataset", "gone", "kept"),
    [
        ("online-retail", RETAIL, "online_retail", "17850", "13047"),
        ("telco-churn", TELCO, "telco_churn", "7590-VHVEG", "5575-GNVDE"),
    ],
)
def test_a_forgotten_user_stays_out_of_a_later_import(
    home: Path, tmp_path: Path, source: str, text: str, dataset: str, gone: str, kept: str
) -> None:
    """`lifecycle import` read the file again with every erased customer in it."""
    path = _write(tmp_path, f"{dataset}.csv", text)
    cli_report("import", source, str(path))
    cli_report("forget", gone)
    data = cli_report("import", source, str(path))
    table = next(iter(data["tables"]))
    assert data["tables"][table]["reasons"][ERASED_USER] >= 1
    folder = home / "datasets" / dataset
    held = pd.concat(pd.read_parquet(p) for p in folder.glob("*.parquet"))
    assert set(held[c.USER_ID]) == {kept}
    quarantine = (folder / "quarantine" / f"{table}.csv").read_text()
    assert ERASED_USER in quarantine and gone not in quarantine


def test_an_id_in_a_parquet_text_column_of_bytes_is_forgotten(home: Path, tmp_path: Path) -> None:
    """A Parquet events 'note' of bytes was stored as bytes: `forget u1` left 'referred by u1'
    in another user's row (only text columns are scrubbed). Bytes are read as their text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    events = {
        c.USER_ID: ["u1", "u2"],
        c.EVENT_TIME: ["2025-11-01", "2025-11-02"],
        c.EVENT_TYPE: ["session", "session"],
        "note": pa.array([b"x", b"referred by u1"]),
    }
    pq.write_table(pa.table(events), path)
    assert CliRunner().invoke(main, ["ingest", str(path), "--dataset", "shop"]).exit_code == 0
    assert CliRunner().invoke(main, ["forget", "u1"]).exit_code == 0
    kept = pd.read_parquet(home / "datasets" / "shop" / "events.parquet")
    assert kept[[c.USER_ID, "note"]].to_dict("records") == [
        {c.USER_ID: "u2", "note": "referred by [forgotten]"}
    ]


def test_forget_reads_each_version_of_a_dataset_once_to_find_the_users(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding which datasets hold the users read a dataset's current version twice: through
    its folder, and again among its kept versions (which the erasure walks without it)."""
    import pyarrow.parquet as pq

    other = _write(tmp_path, "other.csv", HEADER + "20001,2025-11-01 10:00:00,purchase,10\n")
    more = _write(tmp_path, "more.csv", HEADER + "20002,2025-11-02 10:00:00,purchase,10\n")
    cli_report("ingest", str(other), "--dataset", "other")
    cli_report("ingest", str(more), "--dataset", "other", "--append")  # a version kept beside
    read: list[Path] = []
    real = pq.read_table

    def counted(source: Any, *args: Any, columns: Any = None, **kwargs: Any) -> Any:
        if columns == [c.USER_ID]:  # the ids a table holds
            read.append(Path(source).resolve())
        return real(source, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pq, "read_table", counted)
    cli_report("forget", "12590")  # in shop only: every table of other is searched
    current = (shop.parent / "other").resolve()
    (older,) = [v for v in current.parent.glob("other@*") if v != current]
    of_other = Counter(path.parent for path in read if path.parent.name.startswith("other@"))
    # every version once: to find the users and their datasets together
    assert of_other == {current: 1, older: 1}, read
