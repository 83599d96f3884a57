"""`lifecycle forget` and ids written inside other users' text: a hostile dataset whose free-
text columns name the forgotten users, among ids that only look alike (17, 7.5, 7-day) and
ids full of regex metacharacters. After forget no file of the workspace holds a forgotten
id as a token, and every other user's row is as before but for the redacted mentions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from features import contract as c
from features.scrub import REDACTED, redact_table, token_pattern
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores

GONE = ("7", "a.b*")  # "a.b*" would match "aXbbb" as a regex
EVENTS = """user_id,event_time,event_type,amount,description
7,2024-01-01,purchase,10,first order
17,2024-01-02,purchase,12,gift for 7 and 17
a.b*,2024-01-03,purchase,5,referred by 7.
u(1),2024-01-04,purchase,3,7.5 kg; see a.b* and u(1)
aXbbb,2024-01-04,purchase,3,"7-day trial, then (7)"
8,2024-01-05,purchase,-4,refund for 7
"""
USERS = """user_id,signup_time,channel,referrer
7,2023-12-01,ads,
17,2023-12-01,ads,friend 7
a.b*,2023-12-01,organic,7
u(1),2023-12-01,organic,u(1)x
aXbbb,2023-12-01,organic,a.b*?
8,2023-12-01,organic,"a.b*, 7-day promo"
"""
# Every mention of a forgotten id in a kept user's text, and what it becomes.
REDACTIONS = {
    "gift for 7 and 17": f"gift for {REDACTED} and 17",
    "7.5 kg; see a.b* and u(1)": f"7.5 kg; see {REDACTED} and u(1)",
    "7-day trial, then (7)": f"7-day trial, then ({REDACTED})",
    "refund for 7": f"refund for {REDACTED}",
    "friend 7": f"friend {REDACTED}",
    "a.b*?": f"{REDACTED}?",
    "a.b*, 7-day promo": f"{REDACTED}, 7-day promo",
    "ledger note on 7": f"ledger note on {REDACTED}",
    "called 7 and a.b*": f"called {REDACTED} and {REDACTED}",
    "7": REDACTED,  # a cell that is only the id, in another user's row of a list
}


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIFECYCLE_PRIVACY__PSEUDONYM_KEY", "LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


def whole_token(user: str) -> re.Pattern[str]:
    """The test's own reading of "the id as a token": not inside a word, number or dotted name."""
    return re.compile(rf"(?<![\w.-]){re.escape(user)}(?![\w-]|\.\w)")


def invoke(home: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def referred_shop(home: Path, data: Path) -> None:
    """A shop of 12 customers, 3 purchases each, whose odd ones were referred by 00004 (a
    users attribute: a text feature of few values), ingested into ``home`` as ``shop`` from
    CSVs written in ``data``, its features built, applied and materialized."""
    events = "user_id,event_time,event_type,amount\n" + "".join(
        f"{n:05d},1997-0{1 + k}-1{n % 9},purchase,{10 + n}.5\n"
        for n in range(1, 13)
        for k in range(3)
    )
    users = "user_id,referred_by\n" + "".join(
        f"{n:05d},{'00004' if n % 2 else 'none'}\n" for n in range(1, 13)
    )
    (data / "events.csv").write_text(events)
    (data / "users.csv").write_text(users)
    invoke(home, "ingest", str(data / "events.csv"), "--users", str(data / "users.csv"),
           "--dataset", "shop")  # fmt: skip
    for step in ("build", "apply", "materialize"):
        invoke(home, "features", step, "--dataset", "shop")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The hostile dataset ingested twice (an older version stays), and a campaign, a ledger
    partition, a scores table and a list that carry the same kind of notes."""
    home = tmp_path / "ws"
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "users.csv").write_text(USERS)
    for _ in range(2):
        invoke(home, "ingest", str(tmp_path / "events.csv"), "--users", str(tmp_path / "users.csv"),
               "--dataset", "shop")  # fmt: skip
    kept = ["17", "u(1)", "aXbbb", "8"]
    notes = pd.DataFrame({c.USER_ID: ["7", *kept]})
    notes["note"] = ["mine", "ledger note on 7", "called 7 and a.b*", "7.5", None]
    campaigns = home / "campaigns"
    campaigns.mkdir()
    notes.to_parquet(campaigns / "winback.parquet", index=False)
    ledger = home / "ledger" / "dataset=shop" / "as_of=2024-01-05"
    ledger.mkdir(parents=True)
    table = pa.Table.from_pandas(notes.assign(note=notes["note"].astype("category")))
    pq.write_table(table, ledger / "part-0.parquet")  # a dictionary-encoded text column
    settings = load_settings(home=home, environ={})
    scores = notes.assign(churn_probability=0.5, value_at_risk=1.0)
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})
    (home / "lists").mkdir()
    (home / "lists" / "calls.csv").write_text(
        "user_id,note,referred\n7,x,\n17,called 7 and a.b*,7\nu(1),7.5,17\n"
    )
    return home


def table_files(home: Path) -> list[Path]:
    return sorted(
        p
        for p in home.rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix in (".parquet", ".csv")
    )


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def text_cells(frame: pd.DataFrame) -> list[str]:
    """Every text cell but the user ids (which are the users, not mentions)."""
    text = frame.drop(columns=[c.USER_ID], errors="ignore").select_dtypes(["object", "category"])
    return [v for v in text.astype(object).to_numpy().ravel().tolist() if isinstance(v, str)]


def test_forget_redacts_ids_in_other_users_text_everywhere_and_nothing_else(home: Path) -> None:
    before = {p: read(p) for p in table_files(home)}
    assert any(".versions" in str(p) for p in before) and any(
        "quarantine" in str(p) for p in before
    )
    mentions = sum(
        len(whole_token(user).findall(cell))
        for path, frame in before.items()
        for cell in text_cells(frame[~frame.get(c.USER_ID, pd.Series(dtype=str)).isin(GONE)])
        for user in GONE
    )
    dictionary_type = pq.read_schema(next(home.glob("ledger/**/part-0.parquet"))).field("note").type

    out = json.loads(invoke(home, "--json", "forget", *GONE))

    # No file forget covers holds a forgotten id as a token, nor as a whole cell.
    for path in sorted(p for p in home.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name in ("erasure_log.jsonl", ".erasure_key"):
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            frame = read(path)
            text = "\n".join(frame.astype(str).to_numpy().ravel().tolist())
        for user in GONE:
            assert not whole_token(user).search(text), (path, user)
    # Every other user's row: as before, but for the mentions, which became the marker.
    for path, frame in before.items():
        if not path.exists():
            continue
        if c.USER_ID in frame:
            frame = frame[~frame[c.USER_ID].isin(GONE)]
        expected = frame.astype(object).map(
            lambda v: REDACTIONS.get(v, v) if isinstance(v, str) else v
        )
        expected = expected.reset_index(drop=True)
        now = read(path).astype(object).reset_index(drop=True)
        pd.testing.assert_frame_equal(now, expected, check_dtype=False, obj=str(path))
    # forget's new version is written from the current one, which stays beside it, redacted
    # too (both ingests' versions kept, as many as ingest keeps): its mentions count twice
    assert sum(out["redacted"].values()) == mentions + out["redacted"]["datasets/shop"]
    assert out["redacted"]["datasets/shop"] == 3 + 3 + 1  # events, users, quarantine
    assert out["redacted"]["datasets/shop (older versions)"] == 2 * (3 + 3 + 1)
    assert {"datasets/shop (older versions)", "ledger", "scores", "lists"} <= set(out["redacted"])
    ledger = next(home.glob("ledger/**/part-0.parquet"))
    assert pq.read_schema(ledger).field("note").type == dictionary_type  # schema kept
    # What only looks like an id stays: another user, a number, a word with a hyphen.
    events = read(home / "datasets" / "shop" / "events.parquet")
    assert set(events[c.USER_ID]) == {"17", "u(1)", "aXbbb"}
    assert "7.5 kg" in " ".join(events["description"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", REDACTED),
        ("17 and 71 and 7.5 and a.7 and 7-day and x7 and 7_a and 7.csv", None),
        ("users 7,8", f"users {REDACTED},8"),  # a comma separates: privacy over "7,5" kg
        ("ask 7, then 8.", f"ask {REDACTED}, then 8."),
        ("end with 7.", f"end with {REDACTED}."),
        ("(7)/7", f"({REDACTED})/{REDACTED}"),
        ("a.b* or aXbbb or a.b*c", f"{REDACTED} or aXbbb or a.b*c"),
        (None, None),
    ],
)
def test_whole_token_redaction_of_a_text_column(text: str | None, expected: str | None) -> None:
    for kind in (pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())):
        table = pa.table({c.USER_ID: ["8"], "note": pa.array([text], pa.string()).cast(kind)})
        redacted, count = redact_table(table, {"7", "a.b*"})
        want = text if expected is None else expected
        assert redacted.column("note").to_pylist() == [want], kind
        assert count == (0 if expected is None else len(token_pattern({"7", "a.b*"}).findall(text)))
        assert redacted.schema == table.schema


def test_many_ids_are_found_in_one_pass_over_every_kind_of_chunk() -> None:
    """A forget of 20,000 ids copied and scanned each text column's bytes once per id (262 s
    on the demo workspace; docs/privacy.md): a column is now scanned once for all. The
    same cells are found: ids anywhere in the set, with regex characters or not ASCII, in a
    column of several chunks (dictionaries that differ, a sliced chunk, nulls)."""
    ids = {f"u{n:07d}" for n in range(20_000)} | {"a.b*", "zoë", "(x)"}
    kinds = (pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string()))
    texts = [["from u0019999", None, "u00199990 is no id"], ["zoë said", "see (x)", "ab*"]]
    for kind in kinds:
        chunks = [pa.array(t, pa.string()).cast(kind) for t in texts]
        chunks.append(pa.array(["x", "a.b* here", "u0000000"], pa.string()).cast(kind).slice(1))
        table = pa.table(
            {c.USER_ID: pa.array(["o"] * 8), "note": pa.chunked_array(chunks, type=kind)}
        )
        redacted, count = redact_table(table, ids)
        assert redacted.column("note").to_pylist() == [
            f"from {REDACTED}",
            None,
            "u00199990 is no id",
            f"{REDACTED} said",
            f"see {REDACTED}",
            "ab*",
            f"{REDACTED} here",
            REDACTED,
        ], kind
        assert count == 5 and redacted.schema == table.schema


def test_a_quarantines_own_row_number_equal_to_an_id_is_no_mention(tmp_path: Path) -> None:
    """forget 15749 rewrote an anonymous quarantined line's source_row 15749 to [forgotten]
    and said another row mentioned the user; the row's own text still is redacted."""
    from features.scrub import REDACTED, scrub_csv

    path = tmp_path / "events.csv"
    path.write_text(
        "source_row,reason,InvoiceNo,Description,CustomerID\n"
        "15749,missing_user_id,537640,HOT WATER BOTTLE,\n"
        "12,missing_amount,537641,gift for 15749,17850\n"
        "15749,extra_fields,a,to 15749,b,c\n"  # out of line: every raw cell scanned, not its own
        "20,missing_amount,537642,MUG,15749\n"  # the user's own row: dropped
    )
    out = tmp_path / "out.csv"
    done = scrub_csv(path, out, {"15749"}, user_column="CustomerID")
    rows = out.read_text().splitlines()
    assert done.removed == 1 and done.redacted == 2
    assert rows[1] == "15749,missing_user_id,537640,HOT WATER BOTTLE,"
    assert rows[2] == f"12,missing_amount,537641,gift for {REDACTED},17850"
    assert rows[3] == f"15749,extra_fields,a,to {REDACTED},b,c"


def test_an_old_quarantines_own_source_file_column_is_scrubbed(tmp_path: Path) -> None:
    """Session 45: a quarantine written before source_file was (af56bdb) kept a file's own
    column `source_file` under that name among the raw values; forget took it for the
    quarantine's own column (as source_row) and left the user's id in it ('landing/15749/
    b.csv' kept, not counted). The quarantine's own columns are its leading ones; one of the
    file's is scrubbed as text, while a quarantine's own source_file stays as written."""
    from features.scrub import REDACTED, scrub_csv

    old = tmp_path / "events.csv"
    old.write_text(
        "source_row,reason,CustomerID,source_file\n"
        "12,missing_amount,17850,landing/15749/b.csv\n"
        "13,extra_fields,a,landing/15749/c.csv,b\n"  # out of line: every raw cell scanned
    )
    done = scrub_csv(old, old, {"15749"}, user_column="CustomerID")
    rows = old.read_text().splitlines()
    assert done.removed == 0 and done.redacted == 2
    assert rows[1:] == [
        f"12,missing_amount,17850,landing/{REDACTED}/b.csv",
        f"13,extra_fields,a,landing/{REDACTED}/c.csv,b",
    ]
    new = tmp_path / "events_new.csv"
    new.write_text(
        "source_row,reason,source_file,CustomerID,source_file.1\n"
        "12,missing_amount,dt=15749/part-0.parquet,17850,landing/15749/b.csv\n"
    )
    done = scrub_csv(new, new, {"15749"}, user_column="CustomerID")
    assert done.redacted == 1
    assert new.read_text().splitlines()[1] == (
        f"12,missing_amount,dt=15749/part-0.parquet,17850,landing/{REDACTED}/b.csv"
    )


def test_forget_redacts_a_users_id_in_other_users_text_features_of_the_online_store(
    tmp_path: Path,
) -> None:
    """A users attribute naming another user (`referred_by` 00004, a feature: few distinct
    values) is materialized into the online store. `forget 00004` redacted it in the feature
    table (58 cells) but the online store kept `00004` in 6 users' rows, served by `features
    show` and `/score` (`referred_by: 00004`), its bytes in the file. Now redacted there too,
    the file vacuumed."""
    import sqlite3

    home = tmp_path / "ws"
    referred_shop(home, tmp_path)
    db = home / "feast" / "shop" / "online.db"

    def stored() -> bytes:  # the file and its write-ahead log
        return b"".join(p.read_bytes() for p in sorted(db.parent.glob("online.db*")))

    assert b"00004" in stored()

    out = json.loads(invoke(home, "--json", "forget", "00004"))
    assert out["redacted"]["online/shop"] == 6 and out["removed"]["online/shop"] > 0
    assert "referred_by: 00004" not in invoke(
        home, "features", "show", "00001", "--dataset", "shop"
    )
    with sqlite3.connect(db) as conn:
        [table] = [
            t for (t,) in conn.execute("SELECT name FROM sqlite_master") if t.endswith("_profile")
        ]
        held = dict(conn.execute(f'SELECT referred_by, COUNT(*) FROM "{table}" GROUP BY 1'))
    assert held == {REDACTED: 6, "none": 5}
    assert b"00004" not in stored()
