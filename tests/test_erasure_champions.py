"""The models `forget` names as having learned from the erased users: on a re-run, with
nothing of the users left, a version trained before the erasure and promoted after it is
named too, while one trained after the erasure is not."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from workspaces import cli_report

from lifecycle import registry
from lifecycle.cli import main
from lifecycle.settings import load_settings


def _shop_with_two_versions(home: Path, tmp_path: Path) -> tuple[Any, str]:
    """Dataset shop of users 7 and 8, and shop-churn v1 (the champion) and v2 (a challenger),
    both trained with user 7; a second later, so that an erasure comes after them."""
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\n7,2024-01-01 10:00:00,purchase,10\n"
        "8,2024-01-02 10:00:00,purchase,10\n"
    )
    result = CliRunner().invoke(main, ["--quiet", "ingest", str(events), "--dataset", "shop"])
    assert result.exit_code == 0, result.output
    client = registry.client(load_settings(home=home, environ={}))
    model = registry.model_name("shop", "churn")
    client.create_registered_model(model)
    for _ in range(2):
        client.create_model_version(model, source=str(tmp_path), run_id=None)
    registry.set_champion(client, model, "1", "first model")
    time.sleep(1.1)  # the log's times are to the second: the erasure comes a second later
    return client, model


def test_a_version_trained_before_the_erasure_and_promoted_after_it_is_named_on_a_rerun(
    home: Path, tmp_path: Path
) -> None:
    """Only the champions the first erasure named were named again: shop-churn v2, trained
    on the users' rows before `forget` and made champion after it, went unsaid."""
    client, model = _shop_with_two_versions(home, tmp_path)

    first = cli_report("forget", "7")
    assert first["users"] == 1 and first["champions_trained_with_users"] == ["shop-churn v1"]
    registry.set_champion(client, model, "2", "promoted after the erasure")
    again = cli_report("forget", "7")
    assert again["erased_before"] == {"7": first["timestamp"]}
    assert again["champions_trained_with_users"] == ["shop-churn v2"]
    said = CliRunner().invoke(main, ["forget", "7"]).stdout
    assert "serving champions that learned from the users: shop-churn v2 (retrain" in said

    # Trained after the erasure, on the data without the user: not named.
    client.create_model_version(model, source=str(tmp_path), run_id=None)
    registry.set_champion(client, model, "3", "retrained after the erasure")
    assert cli_report("forget", "7")["champions_trained_with_users"] == []


def test_promoting_a_version_trained_before_an_erasure_warns_and_promotes(
    home: Path, tmp_path: Path
) -> None:
    """`lifecycle promote` of a version trained on the users' rows before `forget` went
    unsaid (session 39): it now warns in one line, naming the erasure and retraining."""
    client, model = _shop_with_two_versions(home, tmp_path)
    erased = cli_report("forget", "7")["timestamp"]
    promote = ["promote", "churn", "2", "--dataset", "shop", "--force", "--reason", "rollback"]
    said = CliRunner().invoke(main, promote)
    assert said.exit_code == 0, said.output  # warned, not refused
    warned = [line for line in said.stdout.splitlines() if "erasure" in line]
    assert len(warned) == 1, said.stdout
    assert (
        f"shop-churn v2 was trained before the erasure of {erased} (`lifecycle forget`), so it "
        "learned from the erased users: retrain with `lifecycle train TASK --dataset shop`"
    ) in warned[0]
    assert registry.champion_versions(client, "shop")["churn"] == "2"

    # Trained after the erasure: promoted without a word of it.
    client.create_model_version(model, source=str(tmp_path), run_id=None)
    said = CliRunner().invoke(main, ["--json", *promote[:2], "3", *promote[3:]])
    assert said.exit_code == 0, said.output
    assert "predates_erasure" not in json.loads(said.stdout)
