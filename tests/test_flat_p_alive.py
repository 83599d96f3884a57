"""A grocery export (one row per customer and day, trial P: online_retail counted so) fits a
purchase process whose dropout collapses (MBG/NBD's mean dropout on its bound, 3.8e-11; the
fit before 2026-12-07 stopped at a 0.0001-0.003), so p_alive is near 1 for every customer.
The model is kept; `train` says in one line that p_alive carries little here and what to rank
by, and the model's metadata records it. A log whose process judges some customer more likely
gone than alive says nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features.adapters import ONLINE_RETAIL_FILE
from features.asof import AS_OF, build_feature_table
from features.demo import generate_demo
from lifecycle import registry
from lifecycle.btyd_features import FLAT_P_ALIVE, GONE, fit_purchase_process, flat_p_alive
from lifecycle.bundle import ModelBundle
from lifecycle.cli import main
from lifecycle.settings import load_settings


def _grocery_log(online_retail: Path, path: Path, days: int | None = None) -> Path:
    """online_retail's non-cancelled lines with a customer as a loyalty export: one row per
    card and day (trial P's visits.csv); ``days``: its first days only (a young log)."""
    lines = pd.read_csv(online_retail, dtype={"InvoiceNo": str, "StockCode": str})
    lines = lines[lines.CustomerID.notna() & ~lines.InvoiceNo.str.startswith("C")]
    lines = lines[lines.Quantity > 0]
    time = pd.to_datetime(lines.InvoiceDate)
    if days is not None:
        lines = lines[time < time.min().normalize() + pd.Timedelta(days=days)]
    day = pd.to_datetime(lines.InvoiceDate).dt.strftime("%Y-%m-%d")
    card = "C" + lines.CustomerID.astype(int).astype(str)
    pd.DataFrame({"card_id": card, "visit_date": day}).drop_duplicates().to_csv(path, index=False)
    return path


def _cli(*args: str) -> str:
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def _churn_of_a_grocery_export(
    shared_data: Path,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dataset: str,
    days: int | None = None,
) -> tuple[str, dict]:
    """Dataset ``dataset`` (the default one) ingested from the grocery log, in Feast and its
    churn trained: what train said (its one p_alive line checked) and the first version's
    record of it."""
    monkeypatch.setenv("LIFECYCLE_DATASET", dataset)
    log = _grocery_log(shared_data / ONLINE_RETAIL_FILE, tmp_path / "visits.csv", days)
    _cli("ingest", str(log), "--dataset", dataset, "--map", "user_id=card_id",
         "--map", "event_time=visit_date", "--event-type", "purchase", "--amount-default", "1")  # fmt: skip
    for step in ("build", "apply", "materialize"):
        _cli("features", step)
    said = _cli("train", "churn")
    lines = [line for line in said.splitlines() if "p_alive carries little" in line]
    assert len(lines) == 1, said
    assert lines[0].startswith("p_alive carries little here: the purchase process's dropout is")
    assert lines[0].endswith("; rank by churn probability or expected_purchases")
    # the registered model's metadata says so: the first version of a new workspace
    client = registry.client(load_settings(home=home))
    name = registry.model_name(dataset, "churn")
    path = registry.bundle_path(client, name, "1", tmp_path / "bundle")
    flat = ModelBundle.load(path).data_window[FLAT_P_ALIVE]
    assert f"no customer of {flat['customers']:,} is more likely gone than alive" in lines[0]
    return said, flat


@pytest.mark.slow
@pytest.mark.real_data
def test_train_says_p_alive_carries_little_on_a_grocery_export(
    shared_data: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the old code train said nothing of it and no model recorded it."""
    _, flat = _churn_of_a_grocery_export(shared_data, home, tmp_path, monkeypatch, "grocery")
    assert flat["least"] >= GONE and flat["median"] > 0.999 and flat["customers"] > 2_000
    assert flat["dropout_mean"] < 1e-3


@pytest.mark.slow
@pytest.mark.real_data
def test_a_label_free_churn_of_a_young_grocery_export_says_p_alive_carries_little(
    shared_data: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its first 150 days, too young for churn's labels: the label-free MBG/NBD serves, its
    process as flat (mean dropout on its bound, 3.8e-11). On the old code only a learned model's train said so."""
    # no shorter horizon learned and bridged (that path is a learned model's): label-free
    monkeypatch.setenv("LIFECYCLE_TRAINING__BRIDGE_HORIZON", "false")
    said, flat = _churn_of_a_grocery_export(
        shared_data, home, tmp_path, monkeypatch, "young", days=150
    )
    assert "young-churn v1 (run " in said and "), label-free: too few outcomes" in said, said
    client = registry.client(load_settings(home=home))
    assert registry.is_label_free(
        client.get_model_version(registry.model_name("young", "churn"), "1")
    )
    assert flat["least"] >= GONE and flat["customers"] > 1_000


def test_a_process_with_a_dropout_is_not_said_flat(tmp_path: Path) -> None:
    """The demo's customers leave (MBG/NBD's a about 0.38 here): some p_alive is under a half."""
    generate_demo(users=1_500, seed=3, out_dir=tmp_path / "demo", days=540, future_days=0)
    table = tmp_path / "features.parquet"
    build_feature_table(tmp_path / "demo" / "events.parquet", None, table, windows=(30, 90))
    rows = pd.read_parquet(table)
    rows = rows[rows[AS_OF] == rows[AS_OF].max()]
    params = fit_purchase_process(rows)
    assert params is not None and flat_p_alive(params, rows) is None
