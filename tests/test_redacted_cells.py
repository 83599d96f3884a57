"""`lifecycle datasets check`: cells a `forget` before 2026-12-07 damaged (`forget 3` of ids
00001.. turned every `quantity` cell `3` into `[forgotten]`, in the dataset and its older
versions, with nothing logged) had no way to be found but reading the tables by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from test_erasure_no_user import EVENTS, MAP, invoke

from features.erasure_holders import older_versions
from features.erasure_places import rewrite_all
from features.scrub import REDACTED
from lifecycle.cli import main


def check(home: Path, *args: str, exit_code: int) -> str:
    """`datasets check` with the exit status a script reads: 3 damage found, 1 unreadable."""
    result = CliRunner().invoke(main, ["--home", str(home), *args])
    assert result.exit_code == exit_code, result.output
    return result.stdout


def test_cells_a_forget_of_no_user_redacted_are_found_with_the_way_to_repair(
    tmp_path: Path,
) -> None:
    home, source = tmp_path / "ws", tmp_path / "cdnow.csv"
    source.write_text(EVENTS)
    ingest = ["ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase"]
    for _ in range(2):
        invoke(home, *ingest)
    invoke(home, "forget", "00004")  # a user: its mention in a note is redacted, as meant
    clean = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
    assert clean[0]["damaged"] == {} and clean[0]["redacted"] == {"events.note": 1}
    said = invoke(home, "datasets", "check", "cdnow")
    assert said.startswith("dataset 'cdnow': no cell damaged by an erasure"), said

    # what `forget 3` did before 2026-12-07: every table scrubbed of the id 3, no user
    folder = home / "datasets" / "cdnow"
    for version in [folder, *older_versions(folder, "cdnow")]:
        rewrite_all([version / "events.parquet"], {"3"})
    assert pd.read_parquet(folder / "events.parquet")["quantity"].tolist().count(REDACTED) == 11
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"events.quantity": 11}
    assert found["damaged_in_older_versions"] == {"events.quantity": 22}
    assert found["redacted"] == {"events.note": 1, "events.quantity": 11}
    said = check(home, "datasets", "check", exit_code=3)
    assert "dataset 'cdnow': cells DAMAGED by an erasure" in said
    assert "events.quantity: 11 cells, its other values numbers or codes" in said
    assert f"{source} (on disk)" in said and "`lifecycle refresh --dataset cdnow`" in said

    # the repair said: the source again; the erased user stays out
    assert "33 rows loaded of 36, 3 quarantined (3 erased_user" in invoke(
        home, *ingest, "--replace"
    )
    # the current version whole again: exit 0; the older versions' damage is still said
    [after] = json.loads(invoke(home, "--json", "datasets", "check", "cdnow"))["datasets"]
    assert after["damaged"] == {} and after["redacted"] == {}
    assert after["damaged_in_older_versions"] == {"events.quantity": 33}
    events = pd.read_parquet(folder / "events.parquet")
    assert events["quantity"].tolist().count("3") == 11 and "00004" not in set(events["user_id"])


def test_a_damaged_report_is_named_and_the_other_datasets_still_checked(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text(EVENTS)
        invoke(
            home,
            "ingest",
            str(tmp_path / f"{name}.csv"),
            "--dataset",
            name,
            *MAP,
            "--event-type",
            "purchase",
        )
    (home / "datasets" / "a" / "report.json").write_text("{not json")
    said = check(home, "datasets", "check", exit_code=1)
    assert said.startswith("dataset 'a': ") and "report.json" in said
    assert "dataset 'b': no cell damaged by an erasure" in said


def test_the_quarantine_scores_tables_and_ledger_a_forget_rewrote_are_checked(
    tmp_path: Path,
) -> None:
    """`datasets check` read the dataset's Parquet tables only: the quarantine CSV, the scores
    tables and the ledger, which a `forget 3` before 2026-12-07 rewrote too, were not read,
    and their damaged cells went unsaid (exit 0 once the dataset was ingested again)."""
    from features import contract as c
    from features.scrub import recorded_columns, rewrite_file
    from lifecycle.settings import load_settings
    from serving.batch import write_scores

    home, source = tmp_path / "ws", tmp_path / "cdnow.csv"
    source.write_text(EVENTS + "00013,not-a-date,3,10.5,\n00014,bad,2,10.5,\n")
    invoke(home, "ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase")
    settings = load_settings(home=home, environ={})
    scores = pd.DataFrame({c.USER_ID: ["00001", "00002", "00003"], "orders": ["3", "1", "3"]})
    write_scores(settings.workspace.scores_dir, scores.assign(churn_probability=0.5),
                 {"as_of": "1997-04-01", "dataset": "cdnow"})  # fmt: skip
    [table] = sorted(settings.workspace.scores_dir.glob("scores-*.parquet"))
    ledger = settings.workspace.ledger("cdnow") / "as_of=1997-04-01" / "part-0.parquet"
    ledger.parent.mkdir(parents=True)
    scores.to_parquet(ledger)
    check(home, "datasets", "check", exit_code=0)

    # what `forget 3` did before 2026-12-07 to these places (the dataset's tables left whole)
    quarantine = home / "datasets" / "cdnow" / "quarantine" / "events.csv"
    columns = recorded_columns(quarantine.parent.parent.resolve())
    assert rewrite_file(quarantine.resolve(), {"3"}, **columns(quarantine)).redacted == 1
    for place in (table, ledger):
        assert rewrite_all([place], {"3"}).redacted == 2
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"quarantine/events.quantity": 1}
    assert found["damaged_outside"] == {
        f"scores/{table.stem}.orders": 2,
        "ledger/dataset=cdnow/as_of=1997-04-01/part-0.orders": 2,
    }
    said = check(home, "datasets", "check", "cdnow", exit_code=3)
    assert "  quarantine/events.quantity: 1 cell, its other values numbers or codes" in said
    assert (
        f"  scores/{table.stem}.orders: 2 cells, its other values numbers or codes, in a " in said
    )


def test_a_column_of_user_ids_an_erasure_redacted_as_meant_is_not_called_damaged(
    tmp_path: Path,
) -> None:
    """`forget 00004` redacts the user's id where another row mentions it, as documented: a
    `referrer` column of ids (numbers) holding it then read as DAMAGED (exit 3), a value
    taken for a count. Its other values are the dataset's ids and an erasure of a user was
    logged: said as such a column, not judged. With no erasure logged, no cell of it could
    have been a mention: damaged. A count (`quantity`) stays damaged."""
    home, source = tmp_path / "ws", tmp_path / "cdnow.csv"
    events = EVENTS.splitlines()
    lines = [events[0] + ",referrer"] + [
        f"{row},{(int(row[:5]) % 12) + 1:05d}" for row in events[1:]
    ]  # user n was referred by user n+1: every value an id
    source.write_text("\n".join(lines) + "\n")
    ingest = ["ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase"]
    invoke(home, *ingest)
    invoke(home, "forget", "00004")
    [found] = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
    assert found["redacted"] == {"events.note": 1, "events.referrer": 3}
    assert found["damaged"] == {}
    assert found["user_id_columns"] == {"events.referrer": {"cells": 3, "ids": 10, "values": 10}}
    said = invoke(home, "datasets", "check")
    assert (
        "  events.referrer: 3 in a column of user ids (10 of its 10 distinct other values" in said
    )

    # a count damaged beside it: still DAMAGED
    rewrite_all([home / "datasets" / "cdnow" / "events.parquet"], {"3"})
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"events.quantity": 11}
    assert list(found["user_id_columns"]) == ["events.referrer"]

    # no erasure of a user logged: no cell was a mention
    (home / "erasure_log.jsonl").unlink()
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"events.quantity": 11, "events.referrer": 3}
    assert found["user_id_columns"] == {}


def test_a_column_of_user_ids_spelt_as_other_files_write_them_is_one_of_ids(
    tmp_path: Path,
) -> None:
    """The column of ids rule compared a column's values with the dataset's ids as held:
    a `referrer` writing them `5.0`, `000005` or ` 00005` (as other exports do, and as
    ingest reads one id) shared none, and the id `forget 00004` redacted there, as meant,
    read as DAMAGED (exit 3). Compared by ingest's spelling key now: a column of ids."""
    home, source = tmp_path / "ws", tmp_path / "cdnow.csv"
    events = EVENTS.splitlines()
    spelt = {0: "{m}.0", 1: "0{m:05d}", 2: " {m:05d}"}
    lines = [events[0] + ",referrer"]
    for row in events[1:]:
        m = (int(row[:5]) % 12) + 1
        lines.append(f"{row},{f'{m:05d}' if m == 4 else spelt[m % 3].format(m=m)}")
    source.write_text("\n".join(lines) + "\n")
    invoke(home, "ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase")
    invoke(home, "forget", "00004")
    referrers = pd.read_parquet(home / "datasets" / "cdnow" / "events.parquet")["referrer"]
    assert {"6.0", "000007", " 00002"} <= set(referrers) and REDACTED in set(referrers)
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=0))["datasets"]
    assert found["damaged"] == {}
    assert found["user_id_columns"] == {"events.referrer": {"cells": 3, "ids": 10, "values": 10}}


def test_a_count_is_not_taken_for_a_column_of_ids_where_ids_are_whole_numbers_from_1(
    tmp_path: Path,
) -> None:
    """Where the ids are 1..12, a damaged `quantity` (1, 2 and `[forgotten]` for 3) had every
    other value an id: read as a column of user ids, not judged, exit 0, the damage unsaid.
    Its values fill the lowest ids as counts do: DAMAGED (exit 3). A column of ids spread
    over the users (a referrer) is still one of ids."""
    home, source = tmp_path / "ws", tmp_path / "shop.csv"
    events = EVENTS.splitlines()
    lines = [events[0] + ",referrer"] + [
        f"{int(row[:5])}{row[5:]},{(int(row[:5]) % 12) + 1}" for row in events[1:]
    ]
    source.write_text("\n".join(lines) + "\n")
    invoke(home, "ingest", str(source), "--dataset", "shop", *MAP, "--event-type", "purchase")
    invoke(home, "forget", "4")  # a user: an erasure is logged, its referrer cells redacted
    # cells `3` redacted as a `forget 3` redacts them (user 3's own rows go: 10 cells left)
    rewrite_all([home / "datasets" / "shop" / "events.parquet"], {"3"})
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"events.quantity": 10}
    assert list(found["user_id_columns"]) == ["events.referrer"]


def test_the_feature_table_a_forget_rewrote_is_checked(tmp_path: Path) -> None:
    """`forget` rewrites a dataset's feature table (Feast's offline store), and a `forget 002`
    of no user before 2026-12-07 redacted its users' `store` codes `002` too; `datasets
    check` did not read it: exit 0, the damaged features unsaid (and served, once
    materialized)."""
    home, source, users = tmp_path / "ws", tmp_path / "cdnow.csv", tmp_path / "users.csv"
    source.write_text(EVENTS)
    users.write_text("user_id,store\n" + "".join(f"{n:05d},00{n % 3}\n" for n in range(1, 13)))
    invoke(home, "ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase",
           "--users", str(users))  # fmt: skip
    invoke(home, "features", "build", "--dataset", "cdnow")
    check(home, "datasets", "check", exit_code=0)
    table = home / "features" / "cdnow" / "user_features.parquet"
    assert set(pd.read_parquet(table)["store"]) == {"000", "001", "002"}
    done = rewrite_all([table], {"002"})  # what `forget 002` did then, the dataset left whole
    assert done.removed == 0 and done.redacted > 0
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {}
    assert found["damaged_outside"] == {"features/cdnow/user_features.store": done.redacted}
    said = check(home, "datasets", "check", "cdnow", exit_code=3)
    assert (
        f"  features/cdnow/user_features.store: {done.redacted:,} cells, its other values "
        "numbers or codes, in the feature table (Feast's offline store;"
    ) in said


def test_a_count_a_forget_of_a_user_redacted_today_is_said_as_such(tmp_path: Path) -> None:
    """Where ids are 1..12, `forget 2` of a user redacts the other users' `quantity` cells `2`
    kept as text (the token rule's over-redaction, not a leak). The check said them damaged
    by "a `forget` before 2026-12-07 ... an id that was no user": wrong of this one."""
    home, source = tmp_path / "ws", tmp_path / "shop.csv"
    events = EVENTS.splitlines()
    source.write_text("\n".join([events[0], *(f"{int(r[:5])}{r[5:]}" for r in events[1:])]))
    invoke(home, "ingest", str(source), "--dataset", "shop", *MAP, "--event-type", "purchase")
    invoke(home, "forget", "2")
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged"] == {"events.quantity": 11}
    said = check(home, "datasets", "check", exit_code=3)
    assert "where the ids are whole numbers, a count equal to an erased user's id" in said


def test_the_online_store_a_forget_rewrote_is_checked(tmp_path: Path) -> None:
    """The online store (SQLite, a column per feature) serves the users' text features to
    `/score`; a `forget` of no user before 2026-12-07 rebuilt it, and `forget` redacts
    mentions there: `datasets check` did not read it, its `[forgotten]` codes unsaid."""
    import sqlite3

    home, source, users = tmp_path / "ws", tmp_path / "cdnow.csv", tmp_path / "users.csv"
    source.write_text(EVENTS)
    users.write_text("user_id,store\n" + "".join(f"{n:05d},00{n % 3}\n" for n in range(1, 13)))
    invoke(home, "ingest", str(source), "--dataset", "cdnow", *MAP, "--event-type", "purchase",
           "--users", str(users))  # fmt: skip
    for step in ("build", "apply", "materialize"):
        invoke(home, "features", step, "--dataset", "cdnow")
    check(home, "datasets", "check", exit_code=0)
    with sqlite3.connect(home / "feast" / "cdnow" / "online.db") as conn:
        [table] = [t for (t,) in conn.execute("SELECT name FROM sqlite_master") if "profile" in t]
        damaged = conn.execute(f"UPDATE {table} SET store = ? WHERE store = '002'", [REDACTED])
        assert damaged.rowcount == 4
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged_outside"] == {f"feast/cdnow/online.{table}.store": 4}
    said = check(home, "datasets", "check", exit_code=3)
    assert f"  feast/cdnow/online.{table}.store: 4 cells, its other values numbers" in said
    assert "in the online store (the features `/score` serves, as materialized)" in said


def test_a_code_column_of_the_online_store_is_judged_as_in_the_feature_table(
    tmp_path: Path,
) -> None:
    """online_retail's `Country` is a code column (the report's `code_columns`): a
    `[forgotten]` there is DAMAGED in the feature table, but in the online store, whose
    columns `datasets check` names `<view table>.<feature>`, the name never matched the
    codes, so the same damage was counted as text mentions (exit 0)."""
    import sqlite3

    from test_erasure_codes import RETAIL

    home, source = tmp_path / "ws", tmp_path / "retail.csv"
    source.write_text(RETAIL)
    invoke(home, "--quiet", "import", "online-retail", str(source), "--dataset", "shop")
    for step in ("build", "apply", "materialize"):
        invoke(home, "features", step, "--dataset", "shop")
    with sqlite3.connect(home / "feast" / "shop" / "online.db") as conn:
        [table] = [t for (t,) in conn.execute("SELECT name FROM sqlite_master") if "profile" in t]
        damaged = conn.execute(
            f"UPDATE {table} SET country = ? WHERE country = 'United Kingdom'", [REDACTED]
        )
        assert damaged.rowcount == 2
    [found] = json.loads(check(home, "--json", "datasets", "check", exit_code=3))["datasets"]
    assert found["damaged_outside"] == {f"feast/shop/online.{table}.country": 2}
