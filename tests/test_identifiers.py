"""People's attributes are no model input: a customers export's `First Name` (26% distinct,
so the distinct-values rule let it through) became a feature of churn, conversion and LTV,
the first churn "reason" of a shop's biggest customer ("First Name: Emma"), and every name
sat in the LightGBM bundles, where `forget` cannot reach. Now a column whose name says it
names, contacts, locates or identifies a person, or is a protected characteristic, is left
out by default and said so; ``features.allow_attributes`` takes one in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from experiment_runs import few_rounds
from services import run_cli
from workspaces import NO_COMPILE, NO_PLOTS

from features import contract as c
from features import repo
from features.identifiers import (
    BIRTH,
    CONTACT,
    EXCLUDED,
    IDENTIFYING_KEY,
    NAMES,
    PLACE,
    PROTECTED,
    identifying_of,
    not_features,
    personal_reason,
)
from lifecycle import lineage
from lifecycle.settings import load_settings

FIRST_NAMES = [
    "Emma",
    "Olivia",
    "Ava",
    "Isabella",
    "Sophia",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "Evelyn",
    "Liam",
    "Noah",
    "Oliver",
    "Elijah",
    "James",
    "William",
    "Benjamin",
    "Lucas",
    "Henry",
    "Theodore",
    "Chloe",
    "Grace",
    "Lily",
    "Jack",
    "Harry",
    "George",
    "Oscar",
    "Jacob",
    "Thomas",
    "Freya",
]


def first_names(users: int, seed: int = 3) -> list[str]:
    """Names as a shop's customers have them: a few common, a long tail (Zipf)."""
    rng = np.random.default_rng(seed)
    tail = [f"{a}{b}" for a in ("Al", "Be", "Ca", "Da", "El", "Fi") for b in ("na", "ric", "ton")]
    pool = FIRST_NAMES + tail + [f"Name{k}" for k in range(3000)]
    ranks = np.minimum(rng.zipf(1.3, users), len(pool)) - 1
    return [pool[r] for r in ranks]


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("First Name", NAMES),
        ("first_name", NAMES),
        ("firstName", NAMES),
        ("billing_last_name", NAMES),
        ("Prénom", NAMES),
        ("name", NAMES),
        ("E-Mail", CONTACT),
        ("Default Address Phone", CONTACT),
        ("Default Address Address1", PLACE),
        ("shipping_postcode", PLACE),
        ("date_of_birth", BIRTH),
        ("DOB", BIRTH),
        ("gender", PROTECTED),
        # categories, not people: a name only as a whole column name, never a part of one
        ("plan_name", None),
        ("channel_name", None),
        ("product_name", None),
        ("Default Address City", None),
        ("country", None),
        ("age", None),  # coarse and lawful to treat by (a birth date with a postcode is not)
        ("last_login", None),
        ("Accepts Email Marketing", None),
    ],
)
def test_a_column_name_says_whether_it_is_a_persons(column: str, reason: str | None) -> None:
    assert personal_reason(column) == reason


def test_a_realistic_first_name_column_is_no_feature_but_categories_are() -> None:
    """26% distinct names passed the distinct-values rule (> 50%) as a category."""
    users = 1000
    frame = pd.DataFrame(
        {
            "First Name": first_names(users),
            "plan_name": np.resize(["basic", "pro", "team"], users),
            "channel_name": np.resize(["email", "ads", "organic", "social"], users),
            "zip_code": np.resize(["Urban", "Surburban", "Rural"], users),  # Hillstrom's: areas
            "postcode": np.resize(["SW1A 1AA", "EC1A 1BB", "M1 1AE"], users),
            "gender": np.resize(["F", "M"], users),
            "mobile": np.resize([True, False], users),  # a flag, not a number
        }
    )
    share = frame["First Name"].nunique() / users
    assert 0.1 < share < 0.5, share  # what the distinct-values rule lets through
    left_out = not_features(frame, frame.columns)
    assert left_out == {"First Name": NAMES, "postcode": PLACE, "gender": PROTECTED}
    # a team that means to learn from one says so; one that excludes more, too
    allowed = not_features(frame, frame.columns, allow=["gender"], exclude=["Plan Name"])
    assert allowed == {"First Name": NAMES, "plan_name": EXCLUDED, "postcode": PLACE}


def _dataset(folder: Path, users: int = 200) -> tuple[Path, Path]:
    ids = [f"u{i}" for i in range(users)]
    pd.DataFrame(
        {
            c.USER_ID: ids,
            "First Name": first_names(users),
            "plan_name": np.resize(["basic", "pro", "team"], users),
        }
    ).to_parquet(folder / "users.parquet", index=False)
    pd.DataFrame(
        {
            c.USER_ID: ids,
            c.EVENT_TIME: pd.date_range("2025-01-01", periods=users, freq="h", tz="UTC").as_unit(
                "us"
            ),
            c.EVENT_TYPE: "purchase",
            c.AMOUNT: 10.0,
        }
    ).to_parquet(folder / "events.parquet", index=False)
    return folder / "events.parquet", folder / "users.parquet"


def test_the_feature_table_names_a_first_name_and_no_service_reads_it(tmp_path: Path) -> None:
    from features.asof import build_feature_table

    events, users = _dataset(tmp_path)
    out = tmp_path / "user_features.parquet"
    summary = build_feature_table(events, users, out, windows=[30, 90], frequency="7D")
    assert summary["not_features"] == ["First Name"]
    assert summary["not_feature_reasons"] == {"First Name": NAMES}
    schema = pq.read_schema(out)
    assert "First Name" in schema.names  # kept: lists take it with --allow-column
    profile = repo.task_features(schema, "churn")[repo.PROFILE_VIEW]
    assert "First Name" not in profile and "plan_name" in profile

    allowed = build_feature_table(
        events, users, out, windows=[30, 90], frequency="7D", allow=["first name"]
    )
    assert allowed["not_features"] == []
    assert "First Name" in repo.task_features(pq.read_schema(out), "churn")[repo.PROFILE_VIEW]


def test_a_table_written_before_leaves_its_first_name_out_too(tmp_path: Path) -> None:
    """A feature table written before kept only the distinct-values rule's list: it still
    reads, and its services leave the name out without a rebuild."""
    table = pa.table({c.USER_ID: ["u1"], "email": ["a@example.com"], "First Name": ["Emma"]})
    old = table.replace_schema_metadata({IDENTIFYING_KEY: json.dumps(["email"]).encode()})
    pq.write_table(old, tmp_path / "old.parquet")
    assert identifying_of(pq.read_schema(tmp_path / "old.parquet")) == ["email", "First Name"]
    # ... and it is stale (refresh rebuilds it, so models retrain without the name), while
    # one whose models never read a person's attribute stays current
    assert lineage.people_read_by_models(tmp_path / "old.parquet") == ["First Name"]
    pq.write_table(old.drop(["First Name"]), tmp_path / "fine.parquet")
    assert lineage.people_read_by_models(tmp_path / "fine.parquet") == []


def _bundles(home: Path) -> list[str]:
    return [p.read_text() for p in home.rglob("bundle.json")]


def test_ingest_build_and_train_say_a_first_name_is_left_out_of_every_model(
    tmp_path: Path,
) -> None:
    """The trial's path: a customers export with `First Name` beside the id, ingested with
    --users, built, trained: said at each step, in no model's files; the setting takes it in."""
    from features.demo import generate_demo

    home, demo = tmp_path / "ws", tmp_path / "demo"
    generate_demo(400, 3, demo, days=500, future_days=0)
    users = pd.read_parquet(demo / "users.parquet")
    users["First Name"] = first_names(len(users))
    users["plan_name"] = np.resize(["basic", "pro", "team"], len(users))
    users.to_csv(tmp_path / "customers.csv", index=False)
    said = "not features: 'First Name' (names a person); kept in the table, never in a model"

    ingested = run_cli(
        home, "ingest", str(demo / "events.parquet"), "--dataset", "shop",
        "--users", str(tmp_path / "customers.csv"),
    )  # fmt: skip
    assert said in ingested and ingested.count("First Name") == 1
    args = ("--dataset", "shop")
    built = json.loads(run_cli(home, "--json", "features", "build", *args))
    assert built["not_feature_reasons"] == {"First Name": NAMES}
    assert said in run_cli(home, "features", "build", *args)
    run_cli(home, "features", "apply", *args)
    trained = NO_COMPILE | NO_PLOTS | few_rounds()
    train = json.loads(run_cli(home, "--json", "train", "churn", *args, env=trained))
    assert train["not_features"] == {"First Name": NAMES}
    bundles = _bundles(home)  # the model and the baseline a champion is compared with
    assert any("plan_name" in bundle for bundle in bundles)  # a category stays a feature
    for bundle in bundles:
        assert "First Name" not in bundle and "Emma" not in bundle and "Olivia" not in bundle

    allow = {"LIFECYCLE_FEATURES__ALLOW_ATTRIBUTES": '["First Name"]'}
    stale = run_cli(home, "--json", "features", "build", *args, env=allow)
    assert json.loads(stale)["not_features"] == []
    table = load_settings(home=home, environ=allow).workspace.feature_table("shop")
    assert "First Name" in repo.task_features(pq.read_schema(table), "churn")[repo.PROFILE_VIEW]
