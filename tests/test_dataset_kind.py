"""A snapshot or a campaign table given to a command that needs events: one line saying what
the dataset is and what works on it, not a step that cannot apply (`features build` on a
dataset that was imported, `score-all` on a dataset that cannot have scores)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lifecycle.cli import main

NEEDS_EVENTS = [
    ("features", "build"),
    ("features", "apply"),
    ("train", "churn"),
    ("score-all",),
    ("backtest", "--cutoff", "2024-01-01"),
    ("at-risk",),
    ("movers",),
    ("segments",),
    ("report",),
    ("monitor",),
    ("campaign", "start", "winback", "--top", "10"),
    ("serve", "--port", "1"),  # refused before the port is tried
]


def _invoke(home: Path, *args: str):
    return CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])


@pytest.fixture(scope="module")
def imported(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """telco-churn and hillstrom imported by `lifecycle import` from their first 400 rows."""
    home = tmp_path_factory.mktemp("kinds")
    for source, file in (
        ("telco-churn", "telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"),
        ("hillstrom", "hillstrom/hillstrom.csv"),
    ):
        head = home / f"{source}.csv"
        pd.read_csv(shared_data / file, nrows=400).to_csv(head, index=False)
        assert _invoke(home, "import", source, str(head)).exit_code == 0
    listed = _invoke(home, "datasets").stdout
    assert "(snapshot)" in listed and "(campaign)" in listed
    return home


@pytest.mark.parametrize("command", NEEDS_EVENTS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize(
    ("dataset", "what", "works"),
    [
        ("telco_churn", "a snapshot table", "lifecycle train-snapshot --dataset telco_churn"),
        ("hillstrom", "a campaign table", "lifecycle train-uplift --dataset hillstrom"),
    ],
)
def test_a_command_needing_events_names_what_works_on_the_dataset(
    imported: Path, command: tuple[str, ...], dataset: str, what: str, works: str
) -> None:
    result = _invoke(imported, *command, "--dataset", dataset)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    said = result.stderr.strip()
    assert len(said.splitlines()) == 1, said
    assert f"'{dataset}' is {what}" in said and works in said, said
    assert "run `lifecycle features build" not in said and "score-all` first" not in said


@pytest.mark.parametrize(
    "command",
    [("segments",), ("movers",), ("report",), ("campaign", "start", "winback", "--top", "10")],
)
def test_a_scores_command_on_a_snapshot_is_named_as_run_not_beside_at_risk(
    imported: Path, command: tuple[str, ...]
) -> None:
    """`segments --dataset telco_churn` said 'scores (at-risk, movers, segments, report,
    campaigns): needs an events dataset', then pointed to `lifecycle at-risk --dataset
    telco_churn`, the one list a snapshot has: the refusal names the command run."""
    step = " ".join(command[:2]) if command[0] == "campaign" else command[0]
    said = _invoke(imported, *command, "--dataset", "telco_churn").stderr.strip()
    assert said.startswith(f"Error: {step}: needs an events dataset, and 'telco_churn' is"), said


def test_a_reader_of_scores_under_another_command_is_not_named_after_it(imported: Path) -> None:
    """The step a refusal names was read from click's current command (review R M4, session
    46): `latest_scores` called in-process under `refresh` said "refresh: needs an events
    dataset". The commands pass their name; any other caller gets the generic one."""
    import click

    from lifecycle.dataset_kind import SCORES_STEP
    from lifecycle.errors import UserError
    from lifecycle.settings import load_settings
    from serving.batch import latest_scores

    settings = load_settings(home=imported, environ={})
    refresh = click.Context(click.Command("refresh"), info_name="lifecycle refresh")
    with refresh, pytest.raises(UserError) as refused:
        latest_scores(settings, "telco_churn")
    assert str(refused.value).startswith(f"{SCORES_STEP}: needs an events dataset"), refused


def test_a_campaign_from_a_list_on_a_missing_dataset_is_refused_as_campaign_start(
    imported: Path, tmp_path: Path
) -> None:
    """`campaign start NAME --from-list FILE` with the settings' `demo` not held was refused
    as 'score-all: no dataset 'demo'', a command the operator never ran."""
    listed = tmp_path / "list.csv"
    listed.write_text("user_id,control,as_of\n7590-VHVEG,False,2024-01-01\n")
    said = _invoke(imported, "campaign", "start", "c1", "--from-list", str(listed)).stderr
    assert said.strip().startswith(
        f"Error: campaign start: no dataset 'demo' in {imported}; it "
        "holds hillstrom, telco_churn, none of them events"
    ), said


def test_scores_of_a_date_are_found_on_a_machine_without_the_dataset(tmp_path: Path) -> None:
    """`find_scores` refused a dataset the workspace does not hold before looking for its
    scores table (review R L1, session 46): a machine with the scores history but no
    dataset folder could no longer read `at-risk --as-of D`. It looks first, and refuses
    only when no table of that date is found."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.errors import UserError
    from lifecycle.settings import load_settings
    from serving.batch import METADATA_KEY, find_scores

    settings = load_settings(home=tmp_path, environ={})
    settings.workspace.scores_dir.mkdir(parents=True)
    table = pa.table({"user_id": ["u1"], "churn_probability": [0.5]}).replace_schema_metadata(
        {METADATA_KEY: json.dumps({"as_of": "2011-09-01", "dataset": "demo"})}
    )
    path = settings.workspace.scores_dir / "scores-2011-09-01-20261206T000000000000Z.parquet"
    pq.write_table(table, path)
    found = find_scores(settings, pd.Timestamp("2011-09-01"), "demo", "at-risk")
    assert found is not None and found.path == path.resolve()
    with pytest.raises(UserError, match=r"^at-risk: no dataset 'demo' in "):
        find_scores(settings, pd.Timestamp("2011-10-01"), "demo", "at-risk")


def test_a_folder_without_a_report_is_known_by_its_table(tmp_path: Path) -> None:
    from lifecycle.dataset_kind import dataset_kind
    from lifecycle.settings import load_settings

    settings = load_settings(home=tmp_path, environ={})
    folder = settings.workspace.campaign_table("constructed").parent
    folder.mkdir(parents=True)
    pd.DataFrame({"treatment": [0, 1]}).to_parquet(settings.workspace.campaign_table("constructed"))
    assert dataset_kind(settings, "constructed") == "campaign"
    assert dataset_kind(settings, "nothing") is None


@pytest.mark.parametrize(
    ("command", "step"),
    [
        (("features", "build"), "features build"),
        (("train", "all"), "train"),
        (("score-all",), "score-all"),
        (("monitor",), "monitor"),
    ],
)
def test_a_dataset_the_workspace_lacks_is_refused_naming_those_it_holds(
    tmp_path: Path, command: tuple[str, ...], step: str
) -> None:
    """After `lifecycle import online-retail` the settings' dataset is still `demo`: the
    chain's steps said "ingest or import it first" (`features build`), "run `lifecycle features
    apply` first" (`train`) or "run `lifecycle features build`" (`score-all`, `monitor`, which
    then said to import) instead of naming the imported dataset."""
    events = tmp_path / "datasets" / "shop" / "events.parquet"
    events.parent.mkdir(parents=True)
    pd.DataFrame({"user_id": ["a"], "event_type": ["purchase"]}).to_parquet(events)
    result = _invoke(tmp_path, *command)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip() == (
        f"Error: {step}: no dataset 'demo' in {tmp_path}; its events datasets: shop: "
        "pass --dataset shop (or set LIFECYCLE_DATASET)"
    )


def test_a_server_on_a_snapshot_says_what_it_is_not_to_apply_features(imported: Path) -> None:
    """`bentoml serve` itself (no `lifecycle serve` in front): /readyz's 503 asked for
    `lifecycle features apply`, which refuses a snapshot too."""
    from lifecycle.dataset_kind import NotEventsDataset
    from lifecycle.settings import load_settings
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=imported, environ={"LIFECYCLE_DATASET": "telco_churn"}))
    with pytest.raises(NotEventsDataset):
        scorer.load()
    assert scorer.error is not None
    assert scorer.error.startswith("serve: needs an events dataset, and 'telco_churn' is a")
    assert "on it run `lifecycle train-snapshot --dataset telco_churn`, whose champion ranks" in (
        scorer.error
    )  # and, once trained, the at-risk list of its champion


def test_serve_of_a_dataset_the_workspace_does_not_hold_names_the_ones_it_does(
    imported: Path,
) -> None:
    """A misspelt --dataset started a server whose workers answered 503 forever, asking to
    `lifecycle features apply` a dataset that does not exist."""
    result = _invoke(imported, "serve", "--dataset", "telco", "--port", "1")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"Error: serve: no dataset 'telco' in {imported}; it holds hillstrom, telco_churn, "
        "none of them events: ingest or import events first; on what it holds run "
        "`lifecycle train-uplift --dataset hillstrom`, `lifecycle train-snapshot --dataset "
        "telco_churn`"
    )


@pytest.mark.parametrize("command", [("report",), ("at-risk",), ("segments",), ("outcomes",)])
def test_lists_of_a_workspace_without_events_do_not_ask_for_score_all(
    imported: Path, command: tuple[str, ...]
) -> None:
    """On a workspace holding only telco_churn and hillstrom, `report` (and every reader of
    the scores) said "run `lifecycle score-all` first", which refuses both datasets."""
    result = _invoke(imported, *command)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    said = result.stderr.strip()
    assert len(said.splitlines()) == 1 and "score-all" not in said, said
    assert "no dataset 'demo'" in said and "none of them events" in said
    assert "`lifecycle train-snapshot --dataset telco_churn`" in said
    assert "`lifecycle train-uplift --dataset hillstrom`" in said


def test_a_damaged_report_of_a_dataset_is_named_in_one_line(tmp_path: Path) -> None:
    """dataset_kind read report.json with plain json: a truncated one gave a JSONDecodeError
    traceback from every command that checks the dataset, naming no file."""
    from lifecycle.dataset_kind import dataset_kind
    from lifecycle.errors import UserError
    from lifecycle.settings import load_settings

    settings = load_settings(home=tmp_path, environ={})
    folder = settings.workspace.dataset_dir("shop")
    folder.mkdir(parents=True)
    pd.DataFrame({"user_id": ["a"]}).to_parquet(folder / "events.parquet")
    (folder / "report.json").write_text('{"kind": "ev')
    with pytest.raises(UserError, match=r"report\.json is truncated or not valid JSON"):
        dataset_kind(settings, "shop")
    # The list goes on past it (the other datasets are fine), saying what is wrong with it.
    other = settings.workspace.dataset_dir("other")
    other.mkdir()
    (other / "report.json").write_text('{"kind": "events", "tables": {}}')
    listed = _invoke(tmp_path, "--json", "datasets")
    assert listed.exit_code == 0, listed.output
    found = {d["name"]: d for d in json.loads(listed.stdout)["datasets"]}
    assert found["other"]["kind"] == "events"
    assert "report.json is truncated or not valid JSON" in found["shop"]["error"]
    result = _invoke(tmp_path, "features", "build", "--dataset", "shop")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip().endswith(
        f"dataset 'shop': report.json is truncated or not valid JSON "
        f"({folder / 'report.json'}): Unterminated string starting at: line 1 column 10 "
        "(char 9); point it at a kept version (`lifecycle datasets history shop`, then "
        "`lifecycle datasets restore VERSION`) or ingest it again"
    ), result.stderr
    # A misspelt --dataset is told that, not about the damaged report of another dataset.
    result = _invoke(tmp_path, "features", "build", "--dataset", "shpo")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip() == (
        f"Error: features build: no dataset 'shpo' in {tmp_path}; its events datasets: "
        "other: pass --dataset other (or set LIFECYCLE_DATASET)"
    ), result.stderr


@pytest.mark.parametrize("damaged", ["events", "users"])
@pytest.mark.parametrize(
    "command",
    [*NEEDS_EVENTS, ("refresh",), ("forget", "u1")],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_table_cut_short_is_named_in_one_line(
    tmp_path: Path, command: tuple, damaged: str
) -> None:
    """An events or users table cut short (a full disk, a copy stopped half-way) was DuckDB's
    or Arrow's traceback ('No magic bytes found', 'Parquet magic bytes not found in footer')
    in features build, train, segments and forget; now one line naming it and the way back."""
    events = tmp_path / "shop.csv"
    events.write_text("user_id,event_time,event_type,amount\nu1,2024-01-01,purchase,5\n")
    users = tmp_path / "users.csv"
    users.write_text("user_id,channel\nu1,ads\n")
    assert _invoke(tmp_path, "ingest", str(events), "--users", str(users)).exit_code == 0
    table = tmp_path / "datasets" / "shop" / f"{damaged}.parquet"
    whole = table.resolve().read_bytes()
    table.resolve().write_bytes(whole[: len(whole) // 2])
    # forget looks through every dataset: it needs no --dataset
    result = _invoke(tmp_path, *command, *(() if command[0] == "forget" else ("--dataset", "shop")))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip() == (
        f"Error: dataset 'shop': its {damaged} table {table} is not a whole Parquet file (cut "
        "short?); point it at a kept version (`lifecycle datasets history shop`, then "
        "`lifecycle datasets restore VERSION`) or ingest it again"
    ), result.stderr


def test_a_snapshot_list_is_titled_as_of_its_import_and_its_return_probability_has_no_window(
    shared_data: Path, tmp_path: Path
) -> None:
    """telco's list said 'as of 2026-12-06' (the import day; the file has no dates) and, by
    return probability, '(1 - churn probability: any activity in churn's window)': a snapshot
    has no window. Its title now says both as they are; --json keeps `as_of`, the same day."""
    from lifecycle.dataset_kind import read_report
    from lifecycle.settings import load_settings
    from tests.workspaces import snapshot_champion_list

    head = tmp_path / "telco.csv"
    raw = pd.read_csv(shared_data / "telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv", nrows=50)
    raw.to_csv(head, index=False)
    home = tmp_path / "home"
    assert _invoke(home, "import", "telco-churn", str(head)).exit_code == 0
    settings = load_settings(home=home, environ={})
    stayed = raw.loc[raw["Churn"] == "No", "customerID"].head(2).tolist()
    rows = f"{stayed[0]},0.9,tenure: 1,1\n{stayed[1]},0.2,tenure: 34,2\n"
    snapshot_champion_list(settings, "telco_churn", rows, tmp_path)
    imported = str(read_report(home / "datasets" / "telco_churn")["created_at"])[:10]
    by_churn = _invoke(home, "at-risk", "--dataset", "telco_churn").stdout.splitlines()[0]
    assert f"by churn probability as of its import, {imported} (" in by_churn, by_churn
    args = ["at-risk", "--dataset", "telco_churn", "--rank-by", "return_probability"]
    by_return = _invoke(home, *args).stdout.splitlines()[0]
    assert "window" in by_return and "churn's window" not in by_return, by_return
    assert (
        "by return probability (1 - churn probability: that the snapshot's 'label' is 0, not "
        f"churned; a snapshot has no time window) as of its import, {imported} ("
    ) in by_return, by_return
    shown = json.loads(_invoke(home, "--json", *args).stdout)
    assert shown["as_of"] == imported and [r["user_id"] for r in shown["rows"]] == stayed[::-1]


def test_train_snapshot_on_an_events_log_names_a_train_command_that_runs(tmp_path: Path) -> None:
    """`train-snapshot --dataset online_retail` said "on it run `lifecycle train --dataset
    online_retail`", which click refuses (Missing argument 'TASK|all'); it names `train all`."""
    events = tmp_path / "datasets" / "shop" / "events.parquet"
    events.parent.mkdir(parents=True)
    pd.DataFrame({"user_id": ["a"], "event_type": ["purchase"]}).to_parquet(events)
    result = _invoke(tmp_path, "train-snapshot", "--dataset", "shop")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    said = result.stderr.strip()
    assert said == (
        "Error: train-snapshot: needs a snapshot table (one row a customer), and 'shop' is an "
        "events log; on it run `lifecycle train all --dataset shop`"
    ), said
    named = said.split("`")[1].split()[1:]  # the command it names, as a user would run it
    ran = _invoke(tmp_path, *named)
    assert ran.exit_code != 2, ran.output  # 2: click's usage error
