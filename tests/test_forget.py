"""`lifecycle forget`: users leave every file and table the project keeps, the online store
answers "not found" for them, nobody else loses a row, the log holds keyed hashes only,
and a crash mid-way leaves the previous files readable."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from services import prepare
from workspaces import copy_workspace

from features import contract as c
from features.erasure import forget, log_entries
from features.store import online_features, open_store, store_paths
from lifecycle.cli import main
from lifecycle.pseudonyms import keyed_hash
from lifecycle.settings import load_settings
from lifecycle.workspace import LATEST_SCORES, PREVIOUS_SCORES
from serving.batch import write_scores
from serving.lists import pseudonyms

GONE = ("u0000003", "u0000007")
KEPT = "u0000005"
LIST_KEY = "list-secret"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIFECYCLE_PRIVACY__PSEUDONYM_KEY", "LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo workspace with features, online store, two scores tables, a quarantine
    file, lists, reports and an MLflow input example (the latter ones written here)."""
    home = tmp_path_factory.mktemp("forget_ws")
    prepare(
        home,
        ["demo-data", "--users", "300", "--seed", "2"],
        ["features", "build"],
        ["features", "apply"],
        ["features", "materialize"],
    )
    settings = load_settings(home=home, environ={})
    data = settings.workspace.dataset_dir("demo").resolve()
    events = pd.read_parquet(data / "events.parquet")
    assert set(GONE) | {KEPT} <= set(events[c.USER_ID])
    quarantine = events[events[c.USER_ID].isin([*GONE, KEPT])].head(9).copy()
    quarantine = quarantine.rename(columns={c.USER_ID: "CustomerID"})  # raw column name
    quarantine["reason"] = "negative amount"
    quarantine.to_csv(data / "quarantine" / "events.csv", index=False)

    features = pd.read_parquet(store_paths(settings).feature_table)
    latest = features.sort_values("as_of").groupby(c.USER_ID).tail(1)
    scores = latest[[c.USER_ID, "as_of"]].assign(churn_probability=0.5).reset_index(drop=True)
    for _ in range(2):  # latest and previous
        write_scores(settings.workspace.scores_dir, scores, {"as_of": str(latest["as_of"].max())})
    # What score-all keeps for the monitor: users' feature rows and scores, without ids.
    features_sample, scores_sample = settings.workspace.monitor_samples
    latest.drop(columns=[c.USER_ID, "as_of"]).to_parquet(features_sample)
    scores[["churn_probability"]].to_parquet(scores_sample)

    reports = settings.workspace.reports_dir
    reports.mkdir(parents=True)
    (reports / "report-demo.html").write_text(f"<td>{GONE[0]}</td><td>{KEPT}</td>")
    (reports / "report-other.html").write_text(f"<td>{KEPT}</td><td>{GONE[0]}0</td>")
    lists = home / "lists"
    lists.mkdir()
    scores.to_csv(lists / "at_risk.csv", index=False)
    scores.assign(user_id=lambda f: pseudonyms(f[c.USER_ID], LIST_KEY.encode())).to_csv(
        lists / "at_risk_pseudonymized.csv", index=False
    )
    example = home / "mlflow" / "artifacts" / "1" / "run" / "artifacts" / "model"
    example.mkdir(parents=True)
    (example / "input_example.json").write_text(json.dumps({"user_id": [GONE[1]]}))
    return home


@pytest.fixture
def ws(base_home: Path, tmp_path: Path) -> Path:
    # Re-pointed, not only copied: the Feast registry names base_home's feature table.
    return copy_workspace(base_home, tmp_path / "ws")


def table_files(home: Path) -> list[Path]:
    """Every Parquet and CSV file under the workspace (symlinks followed once)."""
    return sorted(
        p
        for p in home.rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix in (".parquet", ".csv")
    )


def online_bytes(db: Path) -> bytes:
    """The raw bytes of an SQLite database and its write-ahead log."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def rows_of(path: Path, users: tuple[str, ...] | list[str]) -> tuple[int, int]:
    """(all rows, rows mentioning one of the users in any cell)."""
    if path.suffix == ".parquet":
        frame = pq.read_table(path).to_pandas()
    else:
        frame = pd.read_csv(path, dtype=str)
    hit = frame.astype(str).isin(list(users)).any(axis=1)
    return len(frame), int(hit.sum())


def test_forget_removes_users_everywhere_and_only_them(ws: Path) -> None:
    before = {p: rows_of(p, GONE) for p in table_files(ws)}
    assert sum(hit for _, hit in before.values()) > 0
    assert any("quarantine" in str(p) and hit for p, (_, hit) in before.items())
    assert any(".versions" in str(p) for p in before)  # older dataset versions exist too
    settings = load_settings(home=ws, environ={})
    store = open_store(settings)
    assert online_features(store, [*GONE, KEPT], "churn_v1").found.all()
    online_db = store_paths(settings).online_db
    assert all(user.encode() in online_bytes(online_db) for user in GONE)

    result = CliRunner().invoke(main, ["--home", str(ws), "--json", "forget", *GONE])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)

    # Every table: the users' rows gone, every other row still there.
    for path, (total, hit) in before.items():
        if not path.exists():
            continue
        now_total, now_hit = rows_of(path, GONE)
        assert now_hit == 0, path
        assert now_total == total - hit, path
    assert (ws / "lists" / "at_risk.csv").exists()  # lists are filtered, not deleted
    assert rows_of(ws / "scores" / LATEST_SCORES, GONE)[1] == 0
    assert rows_of(ws / "scores" / PREVIOUS_SCORES, GONE)[1] == 0
    assert (ws / "scores" / LATEST_SCORES).is_symlink()
    assert pq.read_schema(ws / "scores" / LATEST_SCORES).metadata[b"lifecycle"]  # metadata kept

    # The online store no longer knows them; others unchanged.
    store = open_store(load_settings(home=ws, environ={}))
    found = online_features(store, [*GONE, KEPT], "churn_v1").found.tolist()
    assert found == [False, False, True]
    assert out["removed"]["online/demo"] == 2 * 3  # 2 users x 3 feature views
    # Not even in SQLite's free pages or write-ahead log.
    assert not any(user.encode() in online_bytes(online_db) for user in GONE)
    assert KEPT.encode() in online_bytes(online_db)

    # Counts per location match what the files lost.
    demo_rows = sum(hit for p, (_, hit) in before.items() if p.parent == ws / "demo")
    assert out["removed"]["demo"] == demo_rows
    assert out["removed"]["features/demo"] == before[store_paths(settings).feature_table][1]
    assert out["removed"]["datasets/demo"] > 0
    assert out["removed"]["scores"] == sum(
        hit for p, (_, hit) in before.items() if p.parent == ws / "scores"
    )
    # The monitor's samples hold no ids to find a user's row by: deleted whole.
    assert not any(p.exists() for p in settings.workspace.monitor_samples)
    assert out["removed"]["monitor sample files deleted"] == 2

    # Reports mentioning a user are deleted (and named); others stay.
    assert out["deleted_files"] == ["reports/report-demo.html"]
    assert (ws / "reports" / "report-other.html").exists()  # u00000030 is not u0000003
    assert out["mlflow_artifacts_mentioning_users"] == [
        "mlflow/artifacts/1/run/artifacts/model/input_example.json"
    ]

    # The log: keyed hashes, no ids; the key file is private.
    log_text = (ws / "erasure_log.jsonl").read_text()
    assert not any(u in log_text for u in GONE)
    key_file = ws / ".erasure_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip().encode()
    [entry] = log_entries(ws)
    assert entry["user_hashes"] == sorted(keyed_hash(key, u) for u in GONE)
    assert entry["removed"] == out["removed"]
    assert stat.S_IMODE((ws / "erasure_log.jsonl").stat().st_mode) == 0o600


def test_monitor_says_its_saved_drift_counts_include_users_forget_erased(ws: Path) -> None:
    """/monitor after `forget` still reported the drift `lifecycle monitor` measured with the
    users' rows (`current_rows` 3658 after a user left: trial 94), though their samples were
    deleted: its `stale` now says the result was measured before the erasure, and the fix."""
    from serving.scorer import Scorer

    settings = load_settings(home=ws, environ={})
    saved = settings.workspace.drift_result("demo")
    saved.parent.mkdir(parents=True, exist_ok=True)
    column = {"name": "orders_total", "source": "features", "current_rows": 300, "psi": 0.01}
    as_of = Scorer(settings).lists.online.as_of()  # measured of the features served
    measured = {"dataset": "demo", "current_as_of": as_of, "drifting": [], "columns": [column]}
    saved.write_text(json.dumps(measured))
    assert Scorer(settings).monitor().stale == []

    result = CliRunner().invoke(main, ["--home", str(ws), "--json", "forget", *GONE])
    assert result.exit_code == 0, result.output
    when = json.loads(result.stdout)["timestamp"]
    answer = Scorer(load_settings(home=ws, environ={})).monitor()
    assert answer.stale == [
        f"measured before `lifecycle forget` erased 2 users of dataset demo at {when}",
        "run `lifecycle monitor` (`lifecycle refresh` measures it with its report)",
    ]
    assert answer.result["columns"] == [column]  # what was saved, said to be outdated
    # an id found nowhere erases nothing: the result is not marked again
    again = CliRunner().invoke(main, ["--home", str(ws), "--json", "forget", "no-such-user"])
    assert again.exit_code == 0 and Scorer(settings).monitor().stale == answer.stale


def test_unknown_user_is_zero_removals_and_changes_nothing(ws: Path) -> None:
    before = {p: p.read_bytes() for p in table_files(ws)}
    result = CliRunner().invoke(main, ["--home", str(ws), "--json", "forget", "no-such-user"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["total_removed"] == 0 and set(out["removed"].values()) == {0}
    assert out["deleted_files"] == []
    assert {p: p.read_bytes() for p in table_files(ws)} == before
    assert log_entries(ws) == []  # nobody found: no entry, not even a keyed hash
    text = CliRunner().invoke(main, ["--home", str(ws), "forget", "ghost"])
    assert text.exit_code == 0 and "0 rows removed" in text.stdout
    # 10,000 unknown ids were one line of 150 kB: the summary names 20, --json all of them
    ghosts = [f"ghost-{n:03d}" for n in range(25)]
    many = CliRunner().invoke(main, ["--home", str(ws), "forget", *ghosts])
    assert many.exit_code == 0, many.output
    line = next(x for x in many.stdout.splitlines() if "not found in any table" in x)
    assert line.endswith(f"{', '.join(ghosts[:20])} and 5 more (--json lists them all)"), line
    every = CliRunner().invoke(main, ["--home", str(ws), "--json", "forget", *ghosts])
    assert json.loads(every.stdout)["not_found"] == ghosts
    # thousands of ids need no command line: --ids-file, one a line, exactly (a space kept)
    listed = ws.parent / "ids.txt"
    listed.write_text("\n".join([*ghosts[1:], "", " ghost-000"]) + "\r\n")
    for source, stdin in ((str(listed), None), ("-", listed.read_text())):
        args = ["--home", str(ws), "--json", "forget", ghosts[0], "--ids-file", source]
        read = CliRunner().invoke(main, args, input=stdin)
        assert read.exit_code == 0, read.output
        assert json.loads(read.stdout)["not_found"] == sorted([*ghosts, " ghost-000"])


def test_pseudonymized_lists_are_found_with_the_list_key(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = ws / "pseudonym.key"  # the key from a file: the same key lists were made with
    key_file.write_text(LIST_KEY + "\n")
    path = ws / "lists" / "at_risk_pseudonymized.csv"
    names = pseudonyms(list(GONE), LIST_KEY.encode())
    total, hit = rows_of(path, names)
    assert hit == 2
    settings = load_settings(
        home=ws, environ={"LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE": str(key_file)}
    )
    record = forget(settings, list(GONE))
    assert rows_of(path, names) == (total - 2, 0)
    assert record.key_source == "privacy.pseudonym_key_file"
    assert record.user_hashes == sorted(keyed_hash(LIST_KEY.encode(), u) for u in GONE)
    assert not (ws / ".erasure_key").exists()  # one key, the configured one
    log = (ws / "erasure_log.jsonl").read_text()
    assert LIST_KEY not in log and not any(u in log for u in GONE)


def test_staging_left_by_a_killed_writer_is_removed_first(ws: Path) -> None:
    """A killed ingest leaves a half-written staging folder nobody reads or erases; forget
    removes it (its writer is gone), and leaves a live writer's staging alone."""
    import os
    import subprocess
    import sys

    from lifecycle.storage import staging_name

    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])  # a process that has ended
    dead_pid.wait()
    versions = ws / "datasets" / ".versions"
    live = versions / staging_name("demo", "dir")  # this process: alive
    dead = versions / live.name.replace(f"-{os.getpid()}-", f"-{dead_pid.pid}-")
    for folder in (live, dead):
        folder.mkdir()
        (folder / "events.csv").write_text(f"user_id\n{GONE[0]}\n")
    record = forget(load_settings(home=ws, environ={}), list(GONE))
    assert not dead.exists()
    assert record.stale_staging == [str(dead.relative_to(ws))]
    assert live.exists()  # never a live writer's
    assert json.loads((ws / "erasure_log.jsonl").read_text())["stale_staging_removed"] == [
        str(dead.relative_to(ws))
    ]


@pytest.mark.parametrize("crash_at", [1, 4, 9])  # new dataset version, older one, scores
def test_crash_mid_rewrite_leaves_previous_files_readable(
    ws: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    before = {p: rows_of(p, GONE) for p in table_files(ws)}
    real_write = pq.write_table
    calls = {"n": 0}

    def dying_write(table, where, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == crash_at:
            Path(where).write_bytes(b"PAR1 half a file")
            raise KeyboardInterrupt("killed mid-write")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", dying_write)
    settings = load_settings(home=ws, environ={})
    with pytest.raises(KeyboardInterrupt):
        forget(settings, list(GONE))
    # Every file is whole: either the old one, or (written before the crash) the new one.
    for path, (total, hit) in before.items():
        now_total, now_hit = rows_of(path, GONE)
        assert (now_total, now_hit) in ((total, hit), (total - hit, 0)), path
    assert not [p for p in ws.rglob(".*.tmp")]  # no staging file left behind
    assert not (ws / "erasure_log.jsonl").exists()  # not recorded as done

    monkeypatch.setattr(pq, "write_table", real_write)
    forget(settings, list(GONE))  # running again finishes the job
    for path, (total, hit) in before.items():
        if path.exists():
            assert rows_of(path, GONE) == (total - hit, 0), path


def test_forget_deletes_users_from_redis(tmp_path_factory: pytest.TempPathFactory) -> None:
    import redis
    from services import redis_workspace

    home = tmp_path_factory.mktemp("forget_redis_ws")
    with redis_workspace(home, tmp_path_factory.mktemp("redis"), users=100, seed=2) as connection:
        settings = load_settings(home=home, environ={})
        host, port = connection.split(":")
        with redis.Redis(host=host, port=int(port)) as client:
            keys = client.dbsize()
        record = forget(settings, [*GONE, "no-such-user"])
        assert record.removed["online/demo"] == 2  # one hash per user entity
        with redis.Redis(host=host, port=int(port)) as client:
            assert client.dbsize() == keys - 2
        store = open_store(settings)
        assert online_features(store, [*GONE, KEPT], "ltv_v1").found.tolist() == [
            False,
            False,
            True,
        ]


def test_forget_killed_before_its_log_line_keeps_the_users_out_and_a_rerun_logs_them(
    ws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Killed after erasing everything but before the log line: the users are already kept
    out of an append, a forget of other ids says the erasure is unfinished, and a re-run
    with the ids logs them although nothing of them is left to find."""
    import features.erasure as erasure

    settings = load_settings(home=ws, environ={})
    events = pd.read_parquet(settings.workspace.dataset_dir("demo") / "events.parquet")
    back = tmp_path / "back.csv"
    events[events[c.USER_ID].isin(GONE)].head(4).to_csv(back, index=False)

    def killed(*_: object) -> None:
        raise KeyboardInterrupt("killed before the log line")

    monkeypatch.setattr(erasure, "append_entry", killed)
    with pytest.raises(KeyboardInterrupt):
        forget(settings, list(GONE))
    monkeypatch.undo()
    assert not (ws / "erasure_log.jsonl").exists()

    result = CliRunner().invoke(
        main, ["--home", str(ws), "ingest", str(back), "--dataset", "demo", "--append"]
    )
    assert result.exit_code == 0, result.output
    appended = pd.read_parquet(settings.workspace.dataset_dir("demo") / "events.parquet")
    assert not appended[c.USER_ID].isin(GONE).any() and "4 erased_user" in result.output

    other = forget(settings, ["nobody"])
    assert [u.split(", ")[1] for u in other.unfinished] == ["2 users"]
    assert "NOT finished, run forget again with its ids: started " in "\n".join(other.lines())

    again = forget(settings, list(GONE))
    assert again.not_found == [] and again.unfinished == []
    key = (ws / ".erasure_key").read_text().strip().encode()
    [entry] = log_entries(ws)
    assert entry["user_hashes"] == sorted(keyed_hash(key, u) for u in GONE)
    assert not (ws / ".erasure_pending.json").exists()


def test_a_backtest_workspace_kept_inside_the_workspace_is_deleted_whole(ws: Path) -> None:
    """`backtest --out` under $LIFECYCLE_HOME: its copy is part of the workspace, so it goes
    whole (its online store too, which the scrub of other files would not reach)."""
    import shutil

    from lifecycle.exports import SCRATCH_MARKER, record_scratch

    settings = load_settings(home=ws, environ={})
    scratch = ws / "bt" / "2023-11-01" / "workspace"
    shutil.copytree(settings.workspace.dataset_dir("demo").resolve(), scratch / "datasets" / "demo")
    (scratch / SCRATCH_MARKER).write_text("")
    (scratch / "feast").mkdir()
    (scratch / "feast" / "online.db").write_bytes(GONE[0].encode())  # entity keys, as bytes
    unregistered = ws / "bt" / "2023-12-01" / "workspace"  # kept before backtests registered
    shutil.copytree(scratch, unregistered)
    record_scratch(settings, scratch, 300)
    record = forget(settings, list(GONE))
    assert sorted((e.path, e.status) for e in record.exports) == [
        (str(scratch), "deleted"),
        (str(unregistered), "deleted"),
    ]
    assert not scratch.exists() and not unregistered.exists() and scratch.parent.is_dir()


def test_a_damaged_pending_erasure_file_is_named_in_one_line(tmp_path: Path) -> None:
    """Every ingest reads it: a damaged one was a bare JSONDecodeError naming no file."""
    from features.erasure_log import PENDING_FILE, pending_entries
    from lifecycle.errors import UserError

    (tmp_path / PENDING_FILE).write_text('[{"user_hashes": ["ab')
    with pytest.raises(UserError, match=rf"{PENDING_FILE} is truncated or not valid JSON") as error:
        pending_entries(tmp_path)
    assert str(tmp_path / PENDING_FILE) in str(error.value)
    assert "run `lifecycle forget` again with the same ids" in str(error.value)


def test_a_dataset_with_a_damaged_report_is_named_by_its_name_not_its_copy(
    tmp_path: Path,
) -> None:
    """forget over a dataset whose report.json is damaged named "dataset '.b.dir.<host>-
    <pid>-<token>.tmp'" and that hidden staging copy's path: the dataset and its own file
    are named, before any copy is made."""
    runner = CliRunner()
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-02,session\nu2,2024-01-03,x\n")
    home = ["--home", str(tmp_path / "ws")]
    assert runner.invoke(main, [*home, "ingest", str(events), "--dataset", "b"]).exit_code == 0
    version = (tmp_path / "ws" / "datasets" / "b").resolve()
    (version / "report.json").write_text("{bad json")
    result = runner.invoke(main, [*home, "forget", "u1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(
        f"Error: dataset 'b': report.json is truncated or not valid JSON ({version}"
    )
    assert ".tmp" not in error


def test_a_damaged_table_file_is_named_and_the_others_still_erased(tmp_path: Path) -> None:
    """A damaged .parquet anywhere in the workspace (a campaign record cut short) made
    `forget` an ArrowInvalid traceback mid-way, the files after it not erased. Now it is
    named as not covered, and the others are."""
    runner = CliRunner()
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-02,session\nu2,2024-01-03,x\n")
    home = tmp_path / "ws"
    assert runner.invoke(main, ["--home", str(home), "ingest", str(events)]).exit_code == 0
    (home / "campaigns").mkdir()
    (home / "campaigns" / "cut.parquet").write_bytes(b"PAR1 cut short")
    (home / "zlists").mkdir()  # after the damaged file in the walk
    (home / "zlists" / "calls.csv").write_text("user_id,note\nu1,a\nu2,b\n")
    result = runner.invoke(main, ["--home", str(home), "forget", "u1"])
    assert result.exit_code == 0, result.output
    assert (
        "  not covered: campaigns/cut.parquet: cannot be read (ArrowInvalid), so not checked "
        "for the users: delete or restore it, then run forget again"
    ) in result.stdout.splitlines()
    assert (home / "zlists" / "calls.csv").read_text() == "user_id,note\nu2,b\n"
