"""Refusals of operators' commands on hostile input, each one line saying what helps:
`lifecycle refresh FILE` of files its ingest step refuses names `lifecycle ingest` only when
one of its options would; `segments --as-of` of no date, or of one outside the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifecycle.cli import main

EVENTS = (
    "user_id,event_time,event_type,amount\nu1,2024-01-02 10:00,signup,\n"
    "u1,2024-02-03 09:00,purchase,5\nu2,2024-03-01 12:00,session,\n"
)


def _error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_refusal_no_ingest_option_helps_is_not_sent_to_ingest(home: Path, tmp_path: Path) -> None:
    """`refresh nope.csv` said 'file not found. `refresh` ... takes no ingest options: append
    this one with `lifecycle ingest nope.csv ... --map CONTRACT=SOURCE`': no option finds a file."""
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-01,signup\n")
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    missing = tmp_path / "nope.csv"
    assert _error(["refresh", str(missing)]) == f"Error: {missing}: file not found"
    empty = tmp_path / "empty.csv"  # 0 bytes (a header alone is a day with no events)
    empty.write_text("")
    assert _error(["refresh", str(empty)]) == f"Error: {empty}: file is empty (no header, no rows)"
    raw = tmp_path / "raw.csv"  # its own column names: ingest's --map reads it
    raw.write_text("CustomerID,event_time,event_type\nu1,2024-01-02,session\n")
    assert f"`lifecycle ingest {raw} --dataset demo --append --map" in _error(["refresh", str(raw)])
    # the command it gives keeps the option its refusal names (it said --map only: copied,
    # it was refused again)
    commas = tmp_path / "commas.csv"
    commas.write_text('user_id,event_time,event_type,amount\nu1,2024-01-02,purchase,"4,50"\n')
    appended = f"`lifecycle ingest {commas} --dataset demo --append --decimal-comma`, then"
    assert appended in _error(["refresh", str(commas)])


def test_a_shops_export_refreshed_is_sent_to_ingest_with_one_way_to_read_its_types(
    home: Path, tmp_path: Path
) -> None:
    """`refresh` of a Shopify export (Email, Created at, Total, Name) into a dataset gave the
    command `ingest ... --append --event-type purchase --map event_type=Email` (session 49):
    the two ways its refusal offers joined into one, and an e-mail column named as one
    holding event types ('Email' or 'Created at' or 'Name'). Now the command gives the
    purchase log's option alone, and no column that holds no types is named."""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    shop = tmp_path / "orders_export.csv"
    rows = [
        f"c{i % 60}@x.com,2024-03-{1 + i % 9:02d} 10:{i % 60:02d},{5 + i % 80}.50,#{1000 + i}"
        for i in range(300)
    ]  # 60 customers, one order each line: no column of types
    shop.write_text("Email,Created at,Total,Name\n" + "\n".join(rows) + "\n")
    error = _error(["refresh", str(shop)])
    assert f"`lifecycle ingest {shop} --dataset demo --append --event-type purchase`, then" in error
    assert "holds each row's event type" not in error and "event_type=Email" not in error


def test_segments_of_a_date_that_is_no_date_is_one_line(home: Path, tmp_path: Path) -> None:
    """`lifecycle segments --as-of 99999-01-01` (or 'nope') was a DateParseError traceback;
    score-all and features build said it in one line. 0000-01-01 (and backtest --cutoff
    0000-01-01) passed the reader, then was an OutOfBoundsDatetime or strftime traceback."""
    for value, why in (
        ("99999-01-01", " (year 99999 is out of range)"),
        ("nope", ""),
        ("2025-02-29", " (day is out of range for month)"),
        ("0000-01-01", " between 1677-09-22 and 2262-04-11"),
        ("1600-01-01", " between 1677-09-22 and 2262-04-11"),
    ):
        assert _error(["segments", "--as-of", value]) == (
            f"Error: --as-of '{value}': expected a date such as 2025-06-01{why}"
        )
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    assert _error(["backtest", "--cutoff", "0000-01-01"]) == (
        "Error: --cutoff '0000-01-01': expected a date such as 2025-06-01 between 1677-09-22 and "
        "2262-04-11"
    )


def test_an_empty_as_of_is_one_line_in_every_command_that_takes_one(
    home: Path, tmp_path: Path
) -> None:
    """`segments --as-of ''` (an unset shell variable) and 'NaT' were tracebacks ('NaTType
    does not support strftime'; features build: no attribute 'normalize'): pandas reads
    both as no time at all, not as an error."""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    assert CliRunner().invoke(main, ["features", "build"]).exit_code == 0
    commands = (["segments"], ["score-all"], ["features", "build"], ["campaign", "start", "c"])
    for command in commands:
        for value in ("", "NaT"):
            assert _error([*command, "--as-of", value]) == (
                f"Error: --as-of '{value}': expected a date such as 2025-06-01"
            )
        # A time of day: `score-all` said '2024-03-02 is not a cutoff ... e.g. --as-of 2024-03-02'.
        assert _error([*command, "--as-of", "2024-03-02T05:00"]) == (
            "Error: --as-of '2024-03-02T05:00': a cutoff is a date (midnight UTC), not a time "
            "of day: --as-of 2024-03-02"
        )


def test_segments_of_a_date_outside_the_data_advises_a_date_that_works(
    home: Path, tmp_path: Path
) -> None:
    """`segments --as-of 1900-01-01` advised `features build --as-of 1900-01-01`, which
    refuses it ('before the first event'); a date outside the data now gets the dates it
    allows and a cutoff the table has. A date inside it still gets `features build`."""
    from features.store import store_paths
    from lifecycle.settings import load_settings
    from serving.batch import resolve_as_of

    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    assert CliRunner().invoke(main, ["features", "build"]).exit_code == 0
    table = str(store_paths(load_settings(home=home, environ={})).feature_table)
    for outside in ("1900-01-01", "2030-01-01"):
        error = _error(["segments", "--as-of", outside])
        assert error.startswith(f"Error: {outside} is not a cutoff of the feature table {table}")
        assert error.endswith(
            "the data allows cutoffs from 2024-01-03 to 2024-03-02 only, e.g. --as-of 2024-03-02"
        )
    assert resolve_as_of(Path(table), "2024-03-02") == resolve_as_of(Path(table), None)
    assert _error(["segments", "--as-of", "2024-02-11"]).endswith(
        "run `lifecycle features build --as-of 2024-02-11` first"
    )


def test_a_date_not_in_another_datasets_feature_table_advises_its_own_build(
    home: Path, tmp_path: Path
) -> None:
    """Session 58, online_retail ingested as 'orders' beside the demo: `score-all --dataset
    orders --as-of 2011-09-09` advised `lifecycle features build --as-of 2011-09-09`, which
    builds the settings' dataset (demo), not orders. The advice names the dataset, and
    followed, the date is a cutoff of that dataset's table."""
    from features.store import store_paths
    from lifecycle.settings import load_settings
    from serving.batch import resolve_as_of

    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "shop"]).exit_code == 0
    assert CliRunner().invoke(main, ["features", "build", "--dataset", "shop"]).exit_code == 0
    error = _error(["segments", "--dataset", "shop", "--as-of", "2024-02-11"])
    advised = "lifecycle features build --dataset shop --as-of 2024-02-11"
    assert error.endswith(f"run `{advised}` first"), error
    followed = CliRunner().invoke(main, advised.split()[1:])
    assert followed.exit_code == 0, followed.output
    table = store_paths(load_settings(home=home, environ={}), "shop").feature_table
    assert f"{resolve_as_of(table, '2024-02-11'):%Y-%m-%d}" == "2024-02-11"


def test_refresh_of_another_dataset_names_it_in_the_refresh_it_advises(
    home: Path, tmp_path: Path
) -> None:
    """Session 58: `lifecycle refresh bad.csv --dataset orders` (online_retail beside the
    demo) advised `lifecycle ingest bad.csv --dataset orders --append ...`, then `lifecycle
    refresh` alone, which refreshes the settings' dataset (demo), not orders."""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "shop"]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    error = _error(["refresh", str(bad), "--dataset", "shop"])
    assert f"`lifecycle ingest {bad} --dataset shop --append " in error, error
    assert error.endswith("then run `lifecycle refresh --dataset shop`"), error


def test_refresh_of_a_file_with_other_columns_advises_a_command_that_exists(
    home: Path, tmp_path: Path
) -> None:
    """`refresh new.csv` of a file with a column the dataset lacks said 'or replace the
    dataset with --replace', an option refresh does not have ('No such option'). (A column
    `note` is added since trial E; a contract column the dataset lacks, `order_id`, is still
    refused, the way advised so.)"""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    new = tmp_path / "new.csv"
    new.write_text("user_id,event_time,event_type,amount,order_id\nu3,2024-03-02,signup,,x\n")
    command = f"lifecycle ingest {new} --dataset demo --replace"
    assert _error(["refresh", str(new)]).endswith(f"replace the dataset with `{command}`")
    assert CliRunner().invoke(main, command.split()[1:]).exit_code == 0  # it works


def test_a_home_that_cannot_be_a_folder_is_one_line(tmp_path: Path) -> None:
    """`--home FILE/ws` (or below a broken symlink) was a NotADirectoryError or
    FileExistsError traceback from the first write (demo-data, ingest)."""
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)
    broken = tmp_path / "gone"
    broken.symlink_to(tmp_path / "nowhere")
    for home, why in (
        (events / "ws", f"{events} is a file, not a folder"),
        (
            broken / "ws",
            f"{broken} is a broken symlink: it points to {tmp_path / 'nowhere'}, which does "
            "not exist",
        ),
    ):
        for command in (["ingest", str(events)], ["demo-data", "--users", "10"]):
            assert _error(["--home", str(home), *command]) == (
                f"Error: workspace {home} (--home, LIFECYCLE_HOME): cannot be a folder: {why}; "
                "choose another --home"
            )
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_home_that_cannot_be_created_is_one_line() -> None:
    """`--home /proc/x` (a folder no one can create) was a FileNotFoundError traceback from the
    first write."""
    for command in (["ingest", "events.csv"], ["demo-data", "--users", "10"], ["datasets"]):
        assert _error(["--home", "/proc/x", *command]) == (
            "Error: workspace /proc/x (--home, LIFECYCLE_HOME): cannot be a folder: /proc: it "
            "takes no new folders; choose another --home"
        )


def test_a_report_out_that_is_no_html_file_is_refused(home: Path, tmp_path: Path) -> None:
    """`report --out r.pdf` wrote the HTML report into r.pdf (no PDF reader opens it)."""
    for out in (tmp_path / "r.pdf", tmp_path / "a b"):
        quoted = f"'{out}'" if " " in str(out) else str(out)
        html = f"'{out}.html'" if " " in str(out) else str(out.with_suffix(".html"))
        assert _error(["report", "--out", str(out)]) == (
            f"Error: --out {quoted}: the report is one HTML file; name it .html or .htm, e.g. "
            f"{html}"
        )
        assert not out.exists()


def test_a_relative_file_not_found_says_where_it_was_looked_for(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/repo/run lifecycle ingest orders.csv` started in the folder holding orders.csv said
    'orders.csv: file not found': ./run goes to the project's folder first. The error now
    names the folder searched and, where ./run was started elsewhere, the file's full path."""
    project, caller = tmp_path / "project", tmp_path / "caller"
    project.mkdir()
    caller.mkdir()
    (caller / "orders.csv").write_text(EVENTS)
    monkeypatch.chdir(project)
    monkeypatch.delenv("RUN_CALLER_DIR", raising=False)
    assert _error(["ingest", "orders.csv"]) == f"Error: orders.csv: file not found in {project}"
    monkeypatch.setenv("RUN_CALLER_DIR", str(caller))
    assert _error(["ingest", "orders.csv"]) == (
        f"Error: orders.csv: file not found in {project}; it is in {caller}, where ./run was "
        "started (./run runs commands from the project's folder): give its full path, "
        f"{caller / 'orders.csv'}"
    )
    assert _error(["ingest", "other.csv"]) == f"Error: other.csv: file not found in {project}"
    monkeypatch.chdir(caller)  # started where it is: read as given
    assert CliRunner().invoke(main, ["ingest", "orders.csv", "--dataset", "d"]).exit_code == 0


def test_a_missing_file_to_import_or_ingest_is_refused_in_its_one_line(
    home: Path, tmp_path: Path
) -> None:
    """`import telco-churn MISSING.csv` said 'importing telco-churn from ...' and 'the other
    commands work on dataset demo ...' before its 'file not found' (ingest: three lines)."""
    missing = tmp_path / "MISSING.csv"
    for args in (["import", "telco-churn", str(missing)], ["ingest", str(missing)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [f"Error: {missing}: file not found"], args
    assert not (home / "datasets").exists() or not any((home / "datasets").iterdir())


def test_a_list_written_to_a_relative_path_says_where_it_is_when_run_started_elsewhere(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~/run lifecycle at-risk --dataset telco_churn --out list.csv` started in ~/lists wrote
    the project's folder's list.csv and said '-> list.csv', which ~/lists does not hold. It
    now says the file's full path and why (the snapshot's list: no training needed here)."""
    from lifecycle.settings import load_settings
    from tests.workspaces import snapshot_champion_list

    telco = tmp_path / "telco.csv"
    telco.write_text(
        "customerID,SeniorCitizen,tenure,MonthlyCharges,TotalCharges,Churn\n"
        "7590-VHVEG,0,1,29.85,29.85,No\n5575-GNVDE,0,34,56.95,1889.5,Yes\n"
    )
    assert CliRunner().invoke(main, ["import", "telco-churn", str(telco)]).exit_code == 0
    settings = load_settings(home=home, environ={})
    snapshot_champion_list(settings, "telco_churn", "7590-VHVEG,0.9,tenure: 1,1\n", tmp_path)
    project, caller = tmp_path / "project", tmp_path / "caller"
    project.mkdir()
    caller.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("RUN_CALLER_DIR", str(caller))
    args = ["at-risk", "--dataset", "telco_churn", "--out", "list.csv"]
    said = CliRunner().invoke(main, args).stdout.splitlines()[0]
    assert said.endswith(
        f"1 row -> {project / 'list.csv'} (./run runs commands from the project's folder, not "
        f"{caller}, where it was started: give a full path to write there)"
    ), said
    assert (project / "list.csv").is_file() and not (caller / "list.csv").exists()
    answered = json.loads(CliRunner().invoke(main, ["--json", *args]).stdout)
    assert answered["out"] == str(project / "list.csv")  # as the line says (it was list.csv)
    monkeypatch.setenv("RUN_CALLER_DIR", str(project))  # started where it writes: as given
    assert CliRunner().invoke(main, args).stdout.splitlines()[0].endswith("1 row -> list.csv")


def test_score_all_of_data_no_training_can_learn_from_says_why_not_to_train(
    home: Path, tmp_path: Path
) -> None:
    """A dataset of one user: `score-all` said 'run `lifecycle train churn`', which refused
    (too short a history, too few customers); it says why no training can make a model from
    its first answer on (before any `train`: what training would certainly refuse), then
    `train`'s own words once it refused; data that may train is still told to train."""
    events = tmp_path / "one.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\nu1,2024-01-02 10:00,purchase,5\n"
        "u1,2024-02-03 09:00,purchase,7\n"
    )
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "one"]).exit_code == 0
    for step in (["features", "build"], ["features", "apply"]):
        assert CliRunner().invoke(main, [*step, "--dataset", "one"]).exit_code == 0
    first = _error(["score-all", "--dataset", "one"])
    assert "run `lifecycle train" not in first
    for task in ("churn", "conversion", "ltv"):
        assert f"`lifecycle train {task}` cannot train one on this data yet (" in first
    assert first.count("needs at least 20 customers, the latest cutoff 2024-02-04 has 1 user") == 3
    refused = _error(["train", "churn", "--dataset", "one"])
    why = refused.removeprefix("Error: churn: ")
    advice = _error(["score-all", "--dataset", "one"])
    assert (
        f"no champion for model one-churn: `lifecycle train churn` cannot train one on this data "
        f"yet ({why})"
    ) in advice
    # 20 customers buying again: a model that learns from no outcome may serve: train is the advice
    many = tmp_path / "many.csv"
    many.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(f"u{i},2024-01-0{1 + i % 5} 10:00,purchase,5\n" for i in range(20))
        + "".join(f"u{i},2024-02-0{1 + i % 5} 10:00,purchase,7\n" for i in range(20))
    )
    assert CliRunner().invoke(main, ["ingest", str(many), "--dataset", "many"]).exit_code == 0
    for step in (["features", "build"], ["features", "apply"]):
        assert CliRunner().invoke(main, [*step, "--dataset", "many"]).exit_code == 0
    told = _error(["score-all", "--dataset", "many"])
    assert all(f"run `lifecycle train {t}`" in told for t in ("churn", "conversion", "ltv"))


def test_lists_of_data_no_training_can_learn_from_say_why_not_to_score_all(
    home: Path, tmp_path: Path
) -> None:
    """`at-risk`, `movers` and `segments` of a dataset too small to train said 'run
    `lifecycle score-all` first', which refused in turn. Without features they name the
    command that builds them, trains and scores; with features but no model any training
    can make, why (each reason says what would help), never `score-all`."""
    events = tmp_path / "one.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\nu1,2024-01-02 10:00,purchase,5\n"
        "u1,2024-02-03 09:00,purchase,7\n"
    )
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "one"]).exit_code == 0
    for command in ("at-risk", "movers", "segments"):
        error = _error([command, "--dataset", "one"])
        assert "dataset 'one' has no features yet; `lifecycle refresh --dataset one`" in error
    for step in (["features", "build"], ["features", "apply"]):
        assert CliRunner().invoke(main, [*step, "--dataset", "one"]).exit_code == 0
    _error(["train", "churn", "--dataset", "one"])  # refused: recorded for this feature table
    _error(["score-all", "--dataset", "one"])  # what training would refuse: recorded too
    for command in ("at-risk", "movers", "segments"):
        error = _error([command, "--dataset", "one"])
        assert "run `lifecycle score-all`" not in error, error
        assert (
            "`lifecycle score-all` cannot make one: no model can be trained on dataset 'one'"
            in error
        )
        assert error.count("needs at least 20 customers") == 3, error
        assert "churn: " in error and "conversion: " in error and "ltv: " in error


def test_lists_of_a_dataset_without_features_after_another_scored_name_refresh(
    home: Path, tmp_path: Path
) -> None:
    """Once another dataset held the latest scores table, `at-risk --dataset online_retail`
    (imported, nothing built) said to run `lifecycle score-all --dataset online_retail`,
    which refused in turn (no feature table). The remedy is the no-scores-yet one."""
    import pandas as pd

    from lifecycle.settings import load_settings
    from serving.batch import write_scores

    events = tmp_path / "one.csv"
    events.write_text(EVENTS)
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "one"]).exit_code == 0
    scores = pd.DataFrame({"user_id": ["a", "b"], "churn_probability": [0.2, 0.1]})
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2025-01-01", "dataset": "demo"})
    for command in ("at-risk", "movers", "segments"):
        error = _error([command, "--dataset", "one"])
        assert "holds dataset demo, not one (one latest scores table per workspace)" in error
        assert "dataset 'one' has no features yet; `lifecycle refresh --dataset one`" in error
        assert "score-all --dataset one" not in error and error.endswith("pass --dataset demo")


def test_a_campaign_from_a_list_refuses_every_option_that_makes_a_list(
    home: Path, tmp_path: Path
) -> None:
    """`campaign start --from-list FILE --control-share 0.5` recorded the list's own control
    flags (1 held out of 20) without a word; --top, --seed and --rank-by were ignored too."""
    listed = tmp_path / "list.csv"
    listed.write_text("user_id,control\nu1,false\nu2,true\n")
    start = ["campaign", "start", "winback", "--from-list", str(listed)]
    assert _error([*start, "--control-share", "0.5"]) == (
        "Error: --from-list takes the list as it is (its users and their control flags): drop "
        "the options that make a list (--control-share), or --from-list"
    )
    many = _error([*start, "--top", "5", "--seed", "3", "--rank-by", "ltv", "--stage", "silent"])
    assert all(o in many for o in ("--top", "--seed", "--rank-by", "--stage"))
    assert not (home / "campaigns").exists()


@pytest.mark.parametrize("command", [["at-risk"], ["movers"]])
def test_a_list_format_without_a_file_is_refused(home: Path, command: list[str]) -> None:
    """`at-risk --format csv` printed the terminal's text list as if no --format were given."""
    result = CliRunner().invoke(main, [*command, "--format", "csv"])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: --format csv is the format of the file --out writes: add --out FILE (printed "
        "lists are text; --json prints them as JSON)"
    )
