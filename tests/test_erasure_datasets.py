"""`forget --dataset X` and the places of the other datasets: two datasets whose customers
share an id spelling (``c1`` of each is another person). A place outside a dataset (an
at-risk list, a campaign record, a report, a scores table, the ledger, a registered list)
was matched to its dataset only among those searched, so dataset y's places counted as of
no known dataset and lost x's ``c1``, y's own customer. Each place of a dataset not searched
is now left as it is, and said so where it held the id."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from features.erasure import forget
from lifecycle.cli import main
from lifecycle.exports import SCORES_METADATA_KEY, record_export
from lifecycle.registry import model_name
from lifecycle.settings import load_settings
from serving.campaigns import METADATA_KEY

EVENTS = "user_id,event_time,amount\nc1,2011-11-01 10:00,10.50\nc2,2011-11-02 09:00,7.00\n"
MEMBERS = pd.DataFrame({"user_id": ["c1", "c2"], "score": [0.9, 0.1]})


def _places(home: Path, name: str) -> dict[str, Path]:
    """Dataset ``name``'s places outside the dataset, each holding its c1 and c2."""
    settings = load_settings(home=home, environ={})
    ws = settings.workspace
    table = pa.Table.from_pandas(MEMBERS, preserve_index=False)
    said = json.dumps({"dataset": name, "as_of": "2011-12-01", "horizon_days": 30}).encode()
    places = {
        "at_risk": ws.snapshot_at_risk(model_name(name, "churn"), "1"),
        "campaign": ws.campaign(f"winback-{name}"),
        "scores": ws.scores_dir / f"scores-{name}-1.parquet",
        "ledger": ws.ledger(name) / "as_of=2011-12-01" / "part-0.parquet",
        "report": ws.reports_dir / f"report-{name}-2011-12-01.html",
        "export": home / "lists" / f"{name}-list.csv",
    }
    for path in places.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    MEMBERS.to_csv(places["at_risk"], index=False)
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: said}), places["campaign"])
    pq.write_table(table.replace_schema_metadata({SCORES_METADATA_KEY: said}), places["scores"])
    pq.write_table(table, places["ledger"])
    places["report"].write_text("<html><td>c1</td><td>c2</td></html>")
    record_export(settings, places["export"], 2, pseudonymized=False, scores=places["scores"])
    MEMBERS.to_csv(places["export"], index=False)
    return places


def _ingest(home: Path, events: Path, name: str, *more: str) -> None:
    """``lifecycle ingest EVENTS --dataset NAME --event-type purchase`` (and ``more``)."""
    args = ["--home", str(home), "ingest", str(events), "--dataset", name]
    done = CliRunner().invoke(main, [*args, "--event-type", "purchase", *more])
    assert done.exit_code == 0, done.output


def _users(path: Path) -> list[str]:
    if path.suffix == ".csv":
        return pd.read_csv(path)["user_id"].tolist()
    return pd.read_parquet(path)["user_id"].tolist()


def test_forget_in_one_dataset_leaves_another_datasets_places_alone(
    home: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    for name in ("x", "y"):
        _ingest(home, events, name)
    places = {name: _places(home, name) for name in ("x", "y")}
    nobodys = home / "lists" / "handmade.csv"  # of no known dataset: every searched spelling
    MEMBERS.to_csv(nobodys, index=False)
    as_written = {kind: path.read_bytes() for kind, path in places["y"].items()}
    record = forget(load_settings(home=home, environ={}), ["c1"], dataset="x")
    for kind, path in places["y"].items():  # y's own c1 is another person: left as written
        assert path.is_file() and path.read_bytes() == as_written[kind], kind
    for kind, path in places["x"].items():
        if kind == "report":
            assert not path.exists()
        else:
            assert _users(path) == ["c2"], kind
    assert pd.read_parquet(home / "datasets" / "y" / "events.parquet")["user_id"].tolist() == [
        "c1",
        "c2",
    ]
    left = {str(p.relative_to(home)) for p in places["y"].values()}
    assert set(record.another_datasets) == left
    assert all("dataset y's, not searched" in why for why in record.another_datasets.values())
    assert _users(nobodys) == ["c2"]
    assert list(record.every_spelling) == ["lists/handmade.csv"]
    assert "a user of y (not searched)" in record.every_spelling["lists/handmade.csv"]
    (said,) = [line for line in record.lines() if "dataset y's, not searched" in line]
    assert all(where in said for where in left)


def test_a_place_of_no_dataset_names_only_the_datasets_not_searched_that_hold_the_id(
    home: Path, tmp_path: Path
) -> None:
    """A place of no known dataset scrubbed under `forget --dataset x` was said to have cost
    a user of every dataset not searched its rows, whether that dataset held the id or not:
    it names those that hold it now, and says nothing when none does."""
    for name, text in {"x": EVENTS + "c9,2011-11-03 08:00,3.00\n", "y": EVENTS}.items():
        events = tmp_path / f"{name}.csv"
        events.write_text(text)
        _ingest(home, events, name)
    z = tmp_path / "z.csv"
    z.write_text("user_id,event_time,amount\nc5,2011-11-01 10:00,1.00\n")
    _ingest(home, z, "z")
    nobodys = home / "lists" / "handmade.csv"
    nobodys.parent.mkdir()
    pd.DataFrame({"user_id": ["c1", "c9", "c2"]}).to_csv(nobodys, index=False)
    record = forget(load_settings(home=home, environ={}), ["c1"], dataset="x")
    assert _users(nobodys) == ["c9", "c2"]
    said = record.every_spelling["lists/handmade.csv"]
    assert "a user of y (not searched) with one of these ids" in said  # z holds no c1
    record = forget(load_settings(home=home, environ={}), ["c9"], dataset="x")
    assert _users(nobodys) == ["c2"]
    assert record.every_spelling == {}  # neither y nor z holds c9: nothing to say
    assert not [line for line in record.lines() if "not searched" in line]


def test_a_place_of_no_dataset_names_a_dataset_not_searched_holding_the_id_in_any_casing(
    home: Path, tmp_path: Path
) -> None:
    """`forget --dataset x c1` of a dataset x that folds case scrubs a place of no known
    dataset of C1 too (review 3 #1); dataset y, not searched, holds ids as written and its
    C1, a user of its own, lost its rows there: y is named, read in any casing."""
    texts = {"x": EVENTS, "y": "user_id,event_time,amount\nC1,2011-11-01 10:00,1.00\n"}
    for name, text in texts.items():
        events = tmp_path / f"{name}.csv"
        events.write_text(text)
        fold = ["--case-insensitive-ids"] if name == "x" else []
        _ingest(home, events, name, *fold)
    nobodys = home / "lists" / "handmade.csv"
    nobodys.parent.mkdir()
    pd.DataFrame({"user_id": ["C1", "c2"]}).to_csv(nobodys, index=False)
    record = forget(load_settings(home=home, environ={}), ["c1"], dataset="x")
    assert _users(nobodys) == ["c2"]
    said = record.every_spelling["lists/handmade.csv"]
    assert "a user of y (not searched) with one of these ids in any casing" in said, said


def test_a_csv_put_in_a_folding_datasets_folder_loses_the_id_in_any_casing(
    home: Path, tmp_path: Path
) -> None:
    """Session 41: a CSV in a dataset's folder that is no quarantine file (put there by hand:
    the customers written before the dataset folded case) was matched exactly by `forget`,
    so `forget c1` of a dataset of case-insensitive ids left its C1 rows, where every other
    place of that dataset loses the id in any casing. It is searched so too, in the current
    version and the older ones."""
    events = tmp_path / "x.csv"
    events.write_text(EVENTS)
    _ingest(home, events, "x", "--case-insensitive-ids")
    _ingest(home, events, "x", "--case-insensitive-ids", "--replace")  # an older version
    dataset = home / "datasets" / "x"
    versions = sorted((home / "datasets" / ".versions").glob("x@*"))
    assert len(versions) == 2
    for version in versions:
        pd.DataFrame({"user_id": ["C1", "c2"], "note": ["vip", "new"]}).to_csv(
            version / "customers.csv", index=False
        )
    forget(load_settings(home=home, environ={}), ["c1"], dataset="x")
    assert _users(dataset / "customers.csv") == ["c2"]
    current = dataset.resolve()
    older = [v for v in (home / "datasets" / ".versions").glob("x@*") if v != current]
    assert len(older) == 2 and all(_users(v / "customers.csv") == ["c2"] for v in older)
