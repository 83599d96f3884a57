"""`segments` says what each RFM score stands for on its table: the quintiles' edges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores
from serving.rfm_quintiles import quintiles_words, rfm_quintiles


def scores_table(days: list[float], orders: list[float], kept: list[float]) -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in range(n)],
            "days_since_last_purchase": days,
            "orders": orders,
            "revenue": kept,
            "refunds": 0.0,
            "churn_probability": 0.5,
            "ltv": 1.0,
            "value_at_risk": 0.5,
            "lifecycle_stage": "active",
            "segment": "loyal",
            "risk_band": "medium",
            "super_user": False,
        }
    )


def test_segments_say_the_days_orders_and_money_each_rfm_score_spans(tmp_path: Path) -> None:
    """`segments` named champions (R 4-5, F 4-5, M 4-5) without saying what R 4 was: on
    online_retail at 2011-09-09 a last purchase 18 to 50 days before, where an ageing log's
    quintiles reach further back. Ten buyers and a non-buyer: R in pairs of two, one-order
    buyers tied at F 2 (F 1 holds nobody: said `empty (0 buyers)`, where `none` between the
    spans read as a value), a refund-heavy buyer's negative M."""
    days = [0.5, 3.9, 10.0, 20.2, 30.0, 45.0, 60.0, 90.0, 120.0, 200.7, np.nan]
    orders = [9.0, 6, 4, 3, 2, 2, 1, 1, 1, 1, 0]
    kept = [900.0, 700, 500, 450, 300, 250, 150.5, 99.5, 40, -12, 0]
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    write_scores(
        settings.workspace.scores_dir, scores_table(days, orders, kept), {"as_of": "2024-01-05"}
    )
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "segments"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["rfm_quintiles"]
    assert found["buyers"] == 10
    assert found["r"] == [
        [5, 0.5, 3.9],
        [4, 10.0, 20.2],
        [3, 30.0, 45.0],
        [2, 60.0, 90.0],
        [1, 120.0, 200.7],
    ]
    assert found["f"] == [
        [5, 6.0, 9.0],
        [4, 3.0, 4.0],
        [3, 2.0, 2.0],
        [2, 1.0, 1.0],
        [1, None, None],
    ]
    assert found["m"][0] == [5, 700.0, 900.0] and found["m"][-1] == [1, -12.0, 40.0]
    text = CliRunner().invoke(main, ["--home", str(home), "segments"]).stdout
    assert (
        "  scores by quintile of the 10 buyers (segments' edges move with them): R 5-1, days "
        "since the last purchase: 0-3, 10-20, 30-45, 60-90, 120-200; F 5-1, orders: 6-9, 3-4, "
        "2, 1, empty (0 buyers); M 5-1, revenue kept: 700-900, 450-500, 250-300, 99.5-150, -12 to 40"
    ) in text
    report = tmp_path / "report.html"  # the report says it under its segments too
    built = CliRunner().invoke(main, ["--home", str(home), "report", "--out", str(report)])
    assert built.exit_code == 0, built.output
    assert (
        "RFM scores by quintile of the 10 buyers (segments&#x27; edges move with them): R 5-1, "
        "days since the last purchase: 0-3, 10-20, 30-45, 60-90, 120-200; F 5-1"
    ) in report.read_text()


def test_a_log_counting_purchases_has_no_m_and_a_table_without_buyers_no_line() -> None:
    table = scores_table([1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5], [1.0, 2, 3, 4, 5])
    counted = rfm_quintiles(table, "rfm_v4_rf")
    assert counted is not None and counted["m"] is None
    assert "; M " not in quintiles_words(counted, "purchases")
    assert rfm_quintiles(table.assign(orders=0.0), "rfm_v4") is None
    assert rfm_quintiles(table.drop(columns="orders"), "rfm_v4") is None
