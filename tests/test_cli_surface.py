"""What a person sees of the CLI: no library chatter unless --verbose, lists that say their
currency and windows, real xlsx, whole reasons, and a JSON answer for schedulers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from experiment_runs import few_rounds
from workspaces import NO_COMPILE, NO_PLOTS, TrainedWorkspace

from lifecycle.cli import main
from lifecycle.console import Console
from lifecycle.settings import load_settings

MLFLOW_NOTICES = ("Successfully registered", "Created version", "already exists")


def test_train_prints_mlflow_notices_only_with_verbose(trained_copy: Path) -> None:
    # What is asserted is where MLflow's notices go, not the model: few trees suffice, and
    # neither training draws plots or compiles a champion it might promote.
    runner = CliRunner(env=few_rounds() | NO_PLOTS | NO_COMPILE)
    quiet = runner.invoke(main, ["--home", str(trained_copy), "train", "churn"])
    assert quiet.exit_code == 0, quiet.output
    assert "churn" in quiet.stdout  # the command's own result is still there
    for notice in MLFLOW_NOTICES:
        assert notice not in quiet.stdout + quiet.stderr, quiet.stderr

    loud = runner.invoke(main, ["--home", str(trained_copy), "--verbose", "train", "churn"])
    assert loud.exit_code == 0, loud.output
    assert "Created version" in loud.stderr, loud.stderr
    assert "Created version" not in loud.stdout  # chatter never mixes into the result


def test_lists_and_report_state_currency_and_windows(trained_copy: Path, tmp_path: Path) -> None:
    home = str(trained_copy)  # the report writes monitoring references into the workspace
    settings = load_settings(home=trained_copy, environ={})
    horizons = {t: settings.labels.model_dump()[f"{t}_horizon_days"] for t in ("churn", "ltv")}
    listed = CliRunner().invoke(main, ["--home", home, "--json", "at-risk", "--top", "5"])
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert document["units"]["currency"] == "GBP"  # the demo's events are in GBP
    assert document["units"]["horizon_days"]["churn"] == horizons["churn"]

    human = CliRunner().invoke(main, ["--home", home, "at-risk", "--top", "5"])
    assert "money in GBP" in human.stdout
    assert f"churn: probability of no activity in the next {horizons['churn']} days" in (
        human.stdout
    )
    assert f"in the next {horizons['ltv']} days" in human.stdout

    out = tmp_path / "list.xlsx"
    written = CliRunner().invoke(main, ["--home", home, "at-risk", "--top", "5", "--out", str(out)])
    assert written.exit_code == 0, written.output
    book = pd.read_excel(out, sheet_name=None, engine="openpyxl")
    rows = book["list"]
    assert rows["user_id"].astype(str).tolist() == [str(r["user_id"]) for r in document["rows"]]
    assert rows["value_at_risk"].tolist() == pytest.approx(
        [r["value_at_risk"] for r in document["rows"]]
    )
    assert set(rows["currency"]) == {"GBP"} and set(rows["churn_window_days"]) == {90}
    assert rows["days_since_last_activity"].tolist() == [
        math.floor(r["days_since_last_activity"]) for r in document["rows"]
    ]  # whole days in what people open, the whole days gone by (as the stages count)
    assert pd.api.types.is_integer_dtype(rows["days_since_last_activity"])
    assert "money in GBP" in written.stdout

    report = tmp_path / "report.html"
    built = CliRunner().invoke(main, ["--home", home, "report", "--out", str(report)])
    assert built.exit_code == 0, built.output
    text = report.read_text()
    assert "money in GBP" in text and "value at risk (GBP)" in text
    assert f"probability of no activity in the next {horizons['churn']} days" in text


@pytest.mark.parametrize("name", ["list.xls", "list.txt"])
def test_unknown_list_suffix_is_refused_in_one_line(
    trained_workspace: TrainedWorkspace, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    result = CliRunner().invoke(
        main, ["--home", str(trained_workspace.home), "at-risk", "--out", str(out)]
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.output
    assert name in errors[0] and ".csv, .parquet, .json, .xlsx" in errors[0]
    assert not out.exists()


def test_ingest_reports_rows_read_as_it_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from features.ingest import ingest_events

    events = tmp_path / "events.csv"
    times = pd.date_range("2025-01-01", periods=250, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    pd.DataFrame(
        {"user_id": [f"u{i % 7}" for i in range(250)], "event_time": times, "event_type": "session"}
    ).to_csv(events, index=False)
    seen: list[tuple[str, int]] = []
    ingest_events(
        events, tmp_path / "ds", chunk_rows=100, progress=lambda t, n: seen.append((t, n))
    )
    assert [n for t, n in seen if t == "events"] == [100, 200, 250]

    console = Console()
    report = console.rows("validating", every_seconds=0)
    report("events", 1_500)
    assert "validating events: 1,500 rows read" in capsys.readouterr().err


def test_features_build_refuses_an_as_of_that_is_no_date_or_past_the_data(tmp_path: Path) -> None:
    """`features build --as-of yesterday` was a traceback; --as-of 2030-01-01 (for 2020) made
    the feature table's latest cutoff, which materialize and score-all read as today, a date
    years past the last event."""
    home = tmp_path / "home"
    events = tmp_path / "shop.csv"
    events.write_text("user_id,event_time,event_type\nu1,2025-01-01 10:00,session\n")
    runner = CliRunner()
    assert runner.invoke(main, ["--home", str(home), "-q", "ingest", str(events)]).exit_code == 0
    build = ["--home", str(home), "features", "build", "--dataset", "shop", "--as-of"]
    for as_of, said in (
        ("yesterday", "--as-of 'yesterday': expected a date such as 2025-06-01"),
        (  # said 'after the data ... the latest cutoff it can have is 2025-01-02'
            "2025-01-02T10:00",
            "--as-of '2025-01-02T10:00': a cutoff is a date (midnight UTC), not a time of day: "
            "--as-of 2025-01-02",
        ),
        (
            "2030-01-01",
            "--as-of 2030-01-01: after the data of dataset 'shop' (last event "
            "2025-01-01 10:00); the latest cutoff it can have is 2025-01-02",
        ),
    ):
        result = runner.invoke(main, [*build, as_of])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output and said in result.stderr, result.output
    assert not (home / "features" / "shop").exists()  # nothing built
    assert runner.invoke(main, [*build, "2025-01-02"]).exit_code == 0


def test_a_silent_step_gets_a_heartbeat(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console()
    console.start_heartbeat(silence_seconds=0.3)
    try:
        console.step("materializing the online store")
        # a note after the step is no step: the heartbeat names the step, not the note
        console.note("the other commands work on dataset 'demo'")
        deadline = time.monotonic() + 20
        while "still materializing" not in (err := capsys.readouterr().err):
            assert "still the other" not in err
            assert time.monotonic() < deadline, "no heartbeat after a silent step"
            time.sleep(0.1)
    finally:
        console.close()
    # A hint after the step is no step: `import` said "... still the other commands work on
    # dataset 'demo' ..." while it read the file.
    console = Console()
    console.start_heartbeat(silence_seconds=0.3)
    try:
        console.step("importing online-retail")
        console.note("the other commands work on dataset 'demo'")
        deadline, said = time.monotonic() + 20, ""
        while "still importing" not in said:
            assert time.monotonic() < deadline, "no heartbeat after a silent step"
            time.sleep(0.1)
            said += capsys.readouterr().err
        assert "still the other commands" not in said
    finally:
        console.close()
    quiet = Console(quiet=True)
    quiet.start_heartbeat(silence_seconds=0.1)
    quiet.step("anything")
    time.sleep(0.4)
    quiet.close()
    assert capsys.readouterr().err == ""  # --quiet: no progress, no heartbeat


def test_currency_comes_from_the_events(tmp_path: Path) -> None:
    from serving.units import Units, dataset_currencies

    def events(name: str, currencies: list[str | None], row_group_size: int = 2) -> Path:
        path = tmp_path / name
        frame = pd.DataFrame({"user_id": ["a"] * len(currencies), "currency": currencies})
        frame.to_parquet(path, row_group_size=row_group_size)
        return path

    assert dataset_currencies(events("one.parquet", ["GBP", None, "GBP", "GBP"])) == ("GBP",)
    mixed = dataset_currencies(events("mixed.parquet", ["GBP", "EUR", None, "GBP"]))
    assert mixed == ("EUR", "GBP") and Units(mixed).currency == "mixed: EUR, GBP"
    assert dataset_currencies(events("none.parquet", [None, None])) == ()
    assert dataset_currencies(tmp_path / "missing.parquet") == ()
    assert Units().currency.startswith("no currency recorded")


@pytest.mark.parametrize(
    ("args", "option", "said"),
    [
        (["at-risk", "--json"], "--json", "lifecycle --json at-risk ..."),
        (["features", "build", "--home", "x"], "--home", "lifecycle --home DIR features build ..."),
    ],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    args: list[str], option: str, said: str
) -> None:
    """`lifecycle at-risk --json` answered "No such option '--json'", as if lists had no JSON."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {option} is an option of lifecycle itself, given before the command: {said}"
    )
    typo = CliRunner().invoke(main, ["at-risk", "--jsn"])
    assert typo.exit_code == 2 and "No such option '--jsn'" in typo.stderr


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    """BentoML's arbiter failed to bind after the start and printed its traceback; the port is
    now tried first, and a free one passes (a port a stopped server left in TIME_WAIT too)."""
    import socket

    from serving.launch import check_can_listen

    events = tmp_path / "shop.csv"  # a dataset to serve: the port is what is wrong
    events.write_text("user_id,event_time,event_type,amount\nu1,2024-01-02 10:00:00,purchase,5.0\n")
    home = ["--home", str(tmp_path / "workspace")]
    assert CliRunner().invoke(main, [*home, "--quiet", "ingest", str(events)]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            [*home, "serve", "--dataset", "shop", "--port", str(port)],
            catch_exceptions=False,
        )
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert lines[-1] == (
            f"Error: port {port} on 127.0.0.1 is already in use (another service listens there): "
            "stop it or pick another with --port"
        )
        assert "Traceback" not in result.output
    check_can_listen("127.0.0.1", port)  # released: free again
    # a public address with auth on and no token: every call would be a 401, said up front
    public = CliRunner().invoke(
        main,
        [*home, "serve", "--dataset", "shop", "--host", "0.0.0.0", "--port", str(port)],
        catch_exceptions=False,
    )
    assert public.exit_code == 1 and "Traceback" not in public.output
    assert public.output.strip().splitlines()[-1] == (
        "Error: --host 0.0.0.0: API token auth is on (serving.auth = auto, bound to 0.0.0.0) "
        "and no token is configured, so every call would be refused: set "
        "LIFECYCLE_SERVING__API_TOKEN (and LIFECYCLE_SERVING__ADMIN_TOKEN for /reload and "
        "/promote) or serving.api_tokens_file, or serve on 127.0.0.1"
    )
    # on loopback with auth on by the setting, "or serve on 127.0.0.1" was no way out
    forced = CliRunner().invoke(
        main,
        [*home, "serve", "--dataset", "shop", "--port", str(port)],
        env={"LIFECYCLE_SERVING__AUTH": "on"},
        catch_exceptions=False,
    )
    assert forced.exit_code == 1 and "Traceback" not in forced.output
    last = forced.output.strip().splitlines()[-1]
    assert last.startswith("Error: --host 127.0.0.1: API token auth is on (") and last.endswith(
        "or serving.api_tokens_file, or set serving.auth = auto"
    ), last
    # nor, under the setting, is 127.0.0.1 alone a way out of a public address
    forced_public = CliRunner().invoke(
        main,
        [*home, "serve", "--dataset", "shop", "--host", "0.0.0.0", "--port", str(port)],
        env={"LIFECYCLE_SERVING__AUTH": "on"},
        catch_exceptions=False,
    )
    assert forced_public.exit_code == 1 and forced_public.output.strip().endswith(
        "or serving.api_tokens_file, or set serving.auth = auto and serve on 127.0.0.1"
    ), forced_public.output


def test_serve_with_workers_past_the_cores_is_refused_before_any_starts(tmp_path: Path) -> None:
    """`serve --workers 100000` (a typo for 10) started process after process, each loading
    the models, until the machine gave out. The port is taken too: without the refusal the
    test fails on that message, never starting a server."""
    import os
    import socket

    from serving.launch import WORKERS_PER_CORE

    events = tmp_path / "shop.csv"
    events.write_text("user_id,event_time,event_type,amount\nu1,2024-01-02 10:00:00,purchase,5.0\n")
    home = ["--home", str(tmp_path / "workspace")]
    assert CliRunner().invoke(main, [*home, "--quiet", "ingest", str(events)]).exit_code == 0
    most = WORKERS_PER_CORE * (os.cpu_count() or 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = [*home, "serve", "--dataset", "shop", "--port", port, "--workers"]
        result = CliRunner().invoke(main, [*args, "100000"], catch_exceptions=False)
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1] == (
            f"Error: --workers 100000: at most {most} on this machine ({WORKERS_PER_CORE} per "
            f"core, {os.cpu_count() or 1} cores): each worker holds its own copy of the "
            "models, and past that they only wait for a core"
        )
        allowed = CliRunner().invoke(main, [*args, str(most)], catch_exceptions=False)
        assert "already in use" in allowed.output.strip().splitlines()[-1]  # the next check


def test_ctrl_c_inside_a_duckdb_query_aborts_without_a_traceback() -> None:
    """Ctrl-C during `features build` (DuckDB's COPY) printed a traceback ending in
    'RuntimeError: Query interrupted'; it is 'Aborted!' like Ctrl-C anywhere else."""
    import os
    import signal
    import threading

    import click
    import duckdb

    from lifecycle.cli import LifecycleGroup

    @click.group(cls=LifecycleGroup)
    def group() -> None:
        pass

    # SIGINT every 50 ms until the command receives one (a busy machine once ran the whole query
    # before a single timer's thread got to send its one signal), read by a handler that
    # raises KeyboardInterrupt, as Python's own does, only while the command runs: a
    # signal received in the command's `finally` once left the sender running, and its
    # next signal, after the command, interrupted the worker's next test. pytest started
    # as a background job inherits SIGINT ignored (POSIX), so the test sets its own.
    running, received, stop = threading.Event(), threading.Event(), threading.Event()

    def interrupt() -> None:
        while not received.is_set() and not stop.wait(0.05):
            os.kill(os.getpid(), signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        if running.is_set():
            received.set()
            raise KeyboardInterrupt

    @group.command()
    def count() -> None:  # seconds of work unless interrupted: a signal lands in the query
        running.set()
        try:
            duckdb.connect().execute("SELECT count(*) FROM range(3000000000) t(i) WHERE i % 7 = 3")
        finally:
            running.clear()

    sender = threading.Thread(target=interrupt, daemon=True)
    previous = signal.signal(signal.SIGINT, handler)
    try:
        sender.start()
        result = CliRunner().invoke(group, ["count"])
    finally:
        stop.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 1 and "Aborted!" in result.output, result.output
    assert not isinstance(result.exception, RuntimeError), result.exception


def test_train_lines_show_the_gate_metric_in_use_and_the_test_window() -> None:
    """`train` printed the task's declared gate metric (auc) beside a verdict on the one the
    settings chose (pr_auc), and named the test by its last cutoff alone."""
    import pandas as pd

    from training.pipeline import TrainResult
    from training.time_splits import TimeSplit

    test = [pd.Timestamp("2011-05-12"), pd.Timestamp("2011-06-02")]
    metrics = {
        "lightgbm": {"auc": 0.72, "pr_auc": 0.69, "n": 10776.0},
        "rfm_score": {"auc": 0.73, "pr_auc": 0.68, "n": 10776.0},
    }
    verdict = "first model: pr_auc 0.6900 > best baseline rfm_score 0.6800 on test 2011-06-02"
    split = TimeSplit([pd.Timestamp("2011-01-06")], [pd.Timestamp("2011-02-03")], test)
    result = TrainResult(
        "churn",
        "shop-churn",
        "1",
        "0123456789",
        metrics,
        True,
        verdict,
        split,
        gate_metric="pr_auc",
    )
    head, table, line = result.lines()
    assert (
        head
        == "churn: shop-churn v1 (run 01234567), test 2011-05-12..2011-06-02 (2 cutoffs, 10,776 rows)"
    )
    assert table == "  pr_auc: lightgbm 0.6900, rfm_score 0.6800"
    assert line == f"  promoted to champion: {verdict}"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to write to")
@pytest.mark.parametrize("as_json", [False, True])
def test_a_result_that_stdout_cannot_take_is_one_line_not_the_workspace(
    tmp_path: Path, as_json: bool
) -> None:
    """`lifecycle models > /dev/full` (a full disk) said 'make the workspace HOME writable';
    with --json it was a traceback (the error document went to the same full stdout)."""
    command = [str(Path(sys.executable).with_name("lifecycle")), *(["--json"] * as_json)]
    # stdout buffered, as on a machine without PYTHONUNBUFFERED: what it held failed again
    # at the flush on exit (exit 120, 'Exception ignored ... OSError')
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIFECYCLE_") and k != "PYTHONUNBUFFERED"
    }
    environ["LIFECYCLE_HOME"] = str(tmp_path / "home")
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*command, "settings"], stdout=full, stderr=subprocess.PIPE, text=True, env=environ
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: cannot write the result to standard output (where it was sent: a file, a "
        "pipe): No space left on device"
    )


@pytest.mark.parametrize("args", [["--version"], ["no-such-command"]])
def test_the_lifecycle_script_ends_without_collecting_its_objects(args: list[str]) -> None:
    """Python's shutdown traversed every object of MLflow, Feast and pandas several times:
    ~1 CPU-s and 2-4 s of wall after a command's last line (`lifecycle models` on the demo).
    The script's last exit handler leaves the collector off, its objects frozen, whether the
    command succeeds or fails; the handlers registered before it still run."""
    probe = (
        "import atexit, gc, sys\n"
        "from lifecycle.cli import run\n"
        "atexit.register(lambda: print('collecting', gc.isenabled(), gc.get_freeze_count() > 0,"
        " file=sys.stderr))\n"
        "run(sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == (0 if args == ["--version"] else 2), done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "collecting False True", done.stderr[-2000:]


def test_a_negative_id_is_told_to_go_after_the_double_dash(tmp_path: Path) -> None:
    """`lifecycle forget -5` (an id beginning with '-') answered Click's "No such option: -5"
    alone, not saying that `forget -- -5` gives it as an id (session 59, ERX3)."""
    home = str(tmp_path / "ws")
    result = CliRunner().invoke(main, ["--home", home, "forget", "--dataset", "x", "-5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: No such option '-5'. An argument that begins with '-' (the id -5) goes after "
        "`--`, which ends the options: lifecycle forget [OPTIONS] -- -5"
    )
    shown = CliRunner().invoke(main, ["--home", home, "features", "show", "-17850.0"])
    assert "lifecycle features show [OPTIONS] -- -17850.0" in shown.stderr
    typo = CliRunner().invoke(main, ["--home", home, "forget", "-x"])  # an option mistyped
    assert (
        typo.exit_code == 2 and "No such option '-x'." in typo.stderr and "--`" not in typo.stderr
    )
