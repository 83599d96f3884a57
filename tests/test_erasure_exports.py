"""Lists written outside the workspace: `at-risk --out` and `movers --out` register them, and
`forget` names those that hold a forgotten user, rewrites them with --scrub-exports
(pseudonymized ones found by the users' keyed pseudonyms) and reports those that are gone."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features import contract as c
from features.erasure_log import log_entries
from lifecycle.cli import main
from lifecycle.exports import registered_exports
from lifecycle.pseudonyms import pseudonym
from lifecycle.settings import load_settings
from serving.batch import write_scores

USERS = ["7", "17", "a.b*", "u(1)", "8"]
GONE = "7"
KEY = "list-secret"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIFECYCLE_PRIVACY__PSEUDONYM_KEY", "LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


def invoke(home: Path, *args: str, key: str | None = None) -> str:
    # the scores tables below are dataset shop's: the lists read only their dataset's
    env = {"LIFECYCLE_DATASET": "shop"} | ({"LIFECYCLE_PRIVACY__PSEUDONYM_KEY": key} if key else {})
    result = CliRunner().invoke(main, ["--home", str(home), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Two scores tables of dataset shop (risk rising between them) and no data otherwise."""
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    for churn in (0.2, 0.6):
        scores = pd.DataFrame({c.USER_ID: USERS, "churn_probability": churn, "ltv": 10.0})
        scores["value_at_risk"] = scores["churn_probability"] * scores["ltv"]
        # what the HTML report shows beside them
        scores = scores.assign(ltv_p10=5.0, ltv_p90=20.0, segment="loyal", lifecycle_stage="active")
        write_scores(
            settings.workspace.scores_dir, scores, {"as_of": "2024-01-05", "dataset": "shop"}
        )
    return home


def read(path: Path) -> pd.DataFrame:
    with path.open("rb") as head:
        parquet = head.read(4) == b"PAR1"
    return pd.read_parquet(path) if parquet else pd.read_csv(path, dtype=str)


def test_lists_outside_the_workspace_are_registered_named_and_scrubbed(
    home: Path, tmp_path: Path
) -> None:
    crm = tmp_path / "crm"
    plain, hashed, risers = crm / "at_risk.csv", crm / "hashed.dat", crm / "movers.csv"
    gone, inside, report = crm / "old.csv", home / "lists" / "in.csv", crm / "report.html"
    invoke(home, "at-risk", "--out", str(plain))
    # Parquet bytes behind a name of no format: read by content, not by suffix.
    invoke(home, "at-risk", "--pseudonymize", "--format", "parquet", "--out", str(hashed), key=KEY)
    invoke(home, "movers", "--out", str(risers))
    invoke(home, "at-risk", "--out", str(gone))
    invoke(home, "at-risk", "--out", str(inside))
    invoke(home, "report", "--out", str(report))
    gone.unlink()

    register = {e.path: e for e in registered_exports(home)}
    assert list(register) == [str(p) for p in (plain, hashed, risers, gone, inside, report)]
    assert {e.dataset for e in register.values()} == {"shop"}
    assert [e.users for e in register.values()][:5] == [len(USERS)] * 5
    assert [e.pseudonymized for e in register.values()] == [False, True, False, False, False, False]
    text = (home / "export_register.jsonl").read_text()
    assert not any(f'"{u}"' in text for u in USERS)  # paths and counts, no ids
    assert stat.S_IMODE((home / "export_register.jsonl").stat().st_mode) == 0o600
    assert pseudonym(KEY.encode(), GONE) in set(read(hashed)[c.USER_ID])

    # Without --scrub-exports: named, not changed.
    before = {p: p.read_bytes() for p in (plain, hashed, risers, report)}
    result = CliRunner().invoke(
        main, ["--home", str(home), "forget", GONE], env={"LIFECYCLE_PRIVACY__PSEUDONYM_KEY": KEY}
    )
    assert result.exit_code == 0, result.output
    for path in (plain, hashed, risers):
        assert (
            f"HOLDS 1 row of the users, handle it (or run forget again with --scrub-exports): {path}"
            in result.stdout
        )
    assert f"gone (no longer on disk): {gone}" in result.stdout
    held = "mentions of the users, handle it (or run forget again with --scrub-exports)"
    assert f"{held}: {report}" in result.stdout  # a report: named, not rewritten
    assert report.exists()
    assert str(inside) not in result.stdout  # scrubbed with the workspace
    assert GONE not in set(read(inside)[c.USER_ID])
    assert {p: p.read_bytes() for p in before} == before

    # A pseudonymized list cannot be searched without the key it was made with.
    out = json.loads(invoke(home, "--json", "forget", GONE))
    findings = {f["path"]: f for f in out["exports"]}
    assert findings[str(hashed)]["status"] == "not checked"
    assert "pseudonym key" in findings[str(hashed)]["detail"]
    assert findings[str(plain)]["status"] == "holds users"

    # With it: rewritten without the user, atomically, everyone else kept, mode kept.
    plain.chmod(0o640)
    out = json.loads(invoke(home, "--json", "forget", GONE, "--scrub-exports", key=KEY))
    findings = {f["path"]: (f["status"], f["rows"]) for f in out["exports"]}
    assert findings == {
        str(plain): ("scrubbed", 1),
        str(hashed): ("scrubbed", 1),
        str(risers): ("scrubbed", 1),
        str(gone): ("gone", 0),
        str(report): ("deleted", 0),  # its figures were made with the user, as in the workspace
    }
    assert not report.exists()
    assert sorted(read(plain)[c.USER_ID]) == sorted(set(USERS) - {GONE})
    assert sorted(read(risers)[c.USER_ID]) == sorted(set(USERS) - {GONE})
    assert sorted(read(hashed)[c.USER_ID]) == sorted(
        pseudonym(KEY.encode(), u) for u in USERS if u != GONE
    )
    assert stat.S_IMODE(plain.stat().st_mode) == 0o640
    assert not list(crm.glob(".*"))  # no staging file left
    log = (home / "erasure_log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["exports"][0]["status"] == "scrubbed"

    # Again: nothing left to find.
    out = json.loads(invoke(home, "--json", "forget", GONE, "--scrub-exports", key=KEY))
    assert [f["status"] for f in out["exports"]] == ["gone", "gone"]


def test_a_broken_register_stops_forget_before_anything_changes(home: Path) -> None:
    (home / "export_register.jsonl").write_text('{"path": "/x", "time": "t"}\n')
    scores = sorted((home / "scores").glob("scores-*.parquet"))
    before = [p.read_bytes() for p in scores]
    result = CliRunner().invoke(main, ["--home", str(home), "forget", GONE])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "export_register.jsonl, line 1: expected an export record" in result.output
    assert [p.read_bytes() for p in scores] == before


@pytest.mark.parametrize("suffix", [".xlsx", ".json"])
def test_excel_and_json_lists_are_found_and_scrubbed_inside_and_outside(
    home: Path, tmp_path: Path, suffix: str
) -> None:
    """Every format `--out` writes is read back by forget: outside the workspace named and
    rewritten with --scrub-exports, inside it scrubbed with the workspace; the other users'
    rows and the file's other sheets or fields stay."""
    from serving.list_files import read_list_file

    outside, inside = tmp_path / "crm" / f"list{suffix}", home / "lists" / f"in{suffix}"
    for path in (outside, inside):
        invoke(home, "at-risk", "--out", str(path))
        assert GONE in set(read_list_file(path)[c.USER_ID].astype(str))
    out = json.loads(invoke(home, "--json", "forget", GONE))
    findings = {f["path"]: f for f in out["exports"]}
    assert findings[str(outside)]["status"] == "holds users"
    assert str(inside) not in findings
    assert sorted(read_list_file(inside)[c.USER_ID].astype(str)) == sorted(set(USERS) - {GONE})

    out = json.loads(invoke(home, "--json", "forget", GONE, "--scrub-exports"))
    assert {f["path"]: f["status"] for f in out["exports"]}[str(outside)] == "scrubbed"
    rows = read_list_file(outside)
    assert sorted(rows[c.USER_ID].astype(str)) == sorted(set(USERS) - {GONE})
    if suffix == ".xlsx":  # the sheet that says what the list means is kept
        about = pd.read_excel(outside, sheet_name="about")
        assert "currency of money columns" in set(about["what"])
    else:  # and what the JSON says about the list
        document = json.loads(outside.read_text())
        assert document["title"].startswith("shop: top 5 users") and "horizon_days" in document


def test_an_out_path_that_cannot_be_written_is_one_line_and_not_registered(
    home: Path, tmp_path: Path
) -> None:
    """`at-risk --out /proc/x.csv` was a FileNotFoundError traceback about a hidden staging
    file, after the list had been registered as written."""
    env = {"LIFECYCLE_DATASET": "shop"}
    note = tmp_path / "note.txt"
    note.write_text("a file, not a folder\n")
    cases = [(note / "x.csv", f"cannot write the list there: {note} is a file, not a folder")]
    if Path("/proc/self").is_dir():  # a virtual folder: no new files, whoever asks
        cases.append((Path("/proc/x.csv"), "cannot write the list in /proc: "))
    for out, said in cases:
        for command in ("at-risk", "movers", "report"):
            target = out.with_suffix(".html") if command == "report" else out  # one HTML file
            result = CliRunner().invoke(
                main, ["--home", str(home), command, "--out", str(target)], env=env
            )
            assert result.exit_code == 1, result.output
            what = "the report" if command == "report" else "the list"
            assert (
                result.stderr.strip()
                .splitlines()[-1]
                .startswith(f"Error: {target}: {said.replace('the list', what)}")
            ), result.stderr
    assert not registered_exports(home)


def test_a_rerun_names_what_still_holds_the_erased_users_and_logs_nothing(
    home: Path, tmp_path: Path
) -> None:
    """`forget` again of users erased before said "not found in any table (nothing to
    erase)" while naming a list that still held them, wrote a log entry of 0 users, and no
    longer named the serving champion that learned from them."""
    from lifecycle import registry

    events = tmp_path / "events.csv"
    rows = [f"{u},2024-01-0{n + 1} 10:00:00,purchase,10" for n, u in enumerate(USERS)]
    events.write_text("\n".join(["user_id,event_time,event_type,amount", *rows]) + "\n")
    invoke(home, "ingest", str(events), "--dataset", "shop")
    client = registry.client(load_settings(home=home, environ={}))
    model = registry.model_name("shop", "churn")
    client.create_registered_model(model)
    client.create_model_version(model, source=str(tmp_path), run_id=None)
    registry.set_champion(client, model, "1", "first model")
    plain = tmp_path / "crm" / "at_risk.csv"
    invoke(home, "at-risk", "--out", str(plain))
    first = json.loads(invoke(home, "--json", "forget", GONE))
    assert first["users"] == 1 and first["champions_trained_with_users"] == ["shop-churn v1"]
    [entry] = log_entries(home)

    again = json.loads(invoke(home, "--json", "forget", GONE))
    assert again["not_found"] == [] and again["erased_before"] == {GONE: first["timestamp"]}
    assert [(e["path"], e["status"]) for e in again["exports"]] == [(str(plain), "holds users")]
    assert again["champions_trained_with_users"] == ["shop-churn v1"]
    assert log_entries(home) == [entry]  # nothing erased now: no entry
    said = invoke(home, "forget", GONE).splitlines()
    assert not any("not found" in line for line in said), said
    assert (
        f"  erased by the forget of {first['timestamp']}, no row left in the workspace: {GONE}"
        in said
    )
    assert any(line.startswith("  export HOLDS 1 row of") for line in said), said
    assert any("learned from the users: shop-churn v1 (retrain" in line for line in said), said
    assert said[-1] == "nothing left to erase: nothing recorded in the erasure log"
    assert log_entries(home) == [entry]

    # Retrained and promoted: the new champion never saw them; an unknown id is still told.
    client.create_model_version(model, source=str(tmp_path), run_id=None)
    registry.set_champion(client, model, "2", "retrained after the erasure")
    later = json.loads(invoke(home, "--json", "forget", GONE, "nobody"))
    assert later["champions_trained_with_users"] == [] and later["not_found"] == ["nobody"]
    assert log_entries(home) == [entry]
