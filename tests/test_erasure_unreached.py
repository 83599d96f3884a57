"""`lifecycle datasets check` and `lifecycle forget` with a Redis online store that cannot be
reached, and with one the settings no longer name: the check stopped at the first Redis error
(exit 1, nothing else checked), and a Redis materialized into under earlier settings was
neither erased nor checked (only the settings' store was known)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result
from services import redis_server
from test_erasure_online_stores import served
from test_erasure_text import invoke, referred_shop

from features.scrub import REDACTED
from lifecycle.cli import main


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def settings(home: Path, store: str, connection: str = "127.0.0.1:6379") -> None:
    """The online store, and Redis's timeout: a test's server gone answers within 2 s."""
    (home / "lifecycle.toml").write_text(
        f'[feast]\nonline_store = "{store}"\nredis_connection = "{connection}"\n'
        "redis_timeout_seconds = 1\n"
    )


def test_the_check_reads_every_other_place_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    with redis_server(tmp_path / "redis") as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        invoke(home, "forget", "00004")  # 58 mentions in the feature table, 6 in Redis
    # the server is gone: the check reads the rest and says the store was not checked
    checked = run(home, "--json", "datasets", "check")
    assert checked.exit_code == 1, checked.output
    [found] = json.loads(checked.stdout)["datasets"]
    assert "error" not in found
    assert found["redacted_outside"]["features/shop/user_features.referred_by"] == 58
    [(place, why)] = found["not_checked"].items()
    assert place == "feast/shop/redis"
    assert why.startswith(f"unreachable at {connection} (") and "refused" in why
    said = run(home, "datasets", "check").stdout
    assert said.startswith("dataset 'shop': NOT fully checked, 1 place could not be read")
    assert f"  feast/shop/redis: not checked: unreachable at {connection} (" in said
    assert said.splitlines()[-1] == (
        "1 place NOT checked (shop: feast/shop/redis): exit 1, the check is not complete"
    )


def test_forget_and_the_check_reach_a_redis_of_earlier_settings(tmp_path: Path) -> None:
    """Materialized into Redis, then the settings name SQLite (materialized again): `forget`
    left the Redis's 6 mentions of 00004 and its row, and the check never read it. Now both
    reach every Redis materialize wrote into; gone, it is said NOT erased / not checked."""
    home = tmp_path / "ws"
    home.mkdir()
    with redis_server(tmp_path / "redis") as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        settings(home, "sqlite")  # the settings changed since: the default store
        invoke(home, "features", "materialize", "--dataset", "shop")

        out = json.loads(invoke(home, "--json", "forget", "00004"))
        held = served(home, "redis", connection)
        assert held["00004"] == 0 and held[REDACTED] == 6 and held["none"] == 5
        assert out["not_reached"] == {}
        recorded = (home / "feast" / "shop" / "online_stores.jsonl").read_text()
        assert json.loads(recorded)["connection"].startswith(connection)  # no password kept
        [found] = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
        assert (
            found["redacted_outside"][f"feast/shop/redis@{connection}.user_profile.referred_by"]
            == 6
        )

    # the old server is gone: forget erases everywhere else and says it is not erased there
    gone = run(home, "--json", "forget", "00002")
    assert gone.exit_code == 1, gone.output
    out = json.loads(gone.stdout)
    assert out["users"] == 1 and out["removed"]["datasets/shop"] == 4
    [(place, why)] = out["not_reached"].items()
    assert place == f"feast/shop/redis@{connection}"
    assert why.startswith(f"NOT erased: unreachable at {connection} (")
    assert "under earlier settings" in why and "online_stores.jsonl" in why
    logged = json.loads((home / "erasure_log.jsonl").read_text().splitlines()[-1])
    assert logged["not_reached"] == out["not_reached"]
    checked = run(home, "--json", "datasets", "check")
    assert checked.exit_code == 1
    [found] = json.loads(checked.stdout)["datasets"]
    assert list(found["not_checked"]) == [f"feast/shop/redis@{connection}"]
    # started again (empty here), a re-run of the same id reaches it: nothing left unsaid
    port = int(connection.rsplit(":", 1)[1])
    with redis_server(tmp_path / "redis", port=port):
        again = run(home, "--json", "forget", "00002")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["not_reached"] == {}


def test_a_record_of_redis_stores_edited_wrong_is_refused_naming_its_line(tmp_path: Path) -> None:
    """The record an operator edits to retire a Redis gone for good, left half-deleted, gave a
    JSONDecodeError traceback in `forget` and `datasets check`; now one line naming it."""
    home = tmp_path / "ws"
    home.mkdir()
    settings(home, "sqlite")
    referred_shop(home, tmp_path)
    record = home / "feast" / "shop" / "online_stores.jsonl"
    record.write_text('{"connection": "127.0.0.1:6390", "first": "T", "last": "T"}\n{"connec\n')
    expected = f"{record}, line 2: '{{\"connec' is not a Redis the dataset was materialized into"
    checked = run(home, "datasets", "check")
    assert checked.exit_code == 1 and expected in checked.stdout, checked.output
    forgot = run(home, "forget", "00004")
    assert forgot.exit_code == 1 and expected in forgot.output and "Traceback" not in forgot.output


def earlier_redis_gone(home: Path, data: Path) -> str:
    """The referred shop materialized into a Redis, then the settings name SQLite and 00012
    leaves the data (a rolling export replaced it: only that Redis holds it), built and
    materialized again; the Redis is then stopped. Its ``host:port``."""
    home.mkdir()
    with redis_server(data / "redis") as connection:
        settings(home, "redis", connection)
        referred_shop(home, data)
        settings(home, "sqlite")
        for name in ("events.csv", "users.csv"):
            kept = [line for line in (data / name).read_text().splitlines(True)]
            (data / name).write_text("".join(x for x in kept if not x.startswith("00012,")))
        invoke(home, "ingest", str(data / "events.csv"), "--users", str(data / "users.csv"),
               "--dataset", "shop", "--replace")  # fmt: skip
        for step in ("build", "materialize"):
            invoke(home, "features", step, "--dataset", "shop")
    return connection


def test_a_rerun_while_an_earlier_redis_is_down_is_logged_without_ids(tmp_path: Path) -> None:
    """forget 00002 again while the Redis of earlier settings is still down exited 1 and wrote
    no entry (nothing changed, nothing logged): the attempt left no trace for the privacy
    officer. Now it is logged: counts, time, the store not reached, the erasure it leaves open."""
    home = tmp_path / "ws"
    connection = earlier_redis_gone(home, tmp_path)
    first = json.loads(run(home, "--json", "forget", "00002").stdout)
    log = home / "erasure_log.jsonl"
    entries = len(log.read_text().splitlines())
    again = run(home, "--json", "forget", "00002")
    assert again.exit_code == 1, again.output
    said = json.loads(again.stdout)
    place = f"feast/shop/redis@{connection}"
    assert said["users"] == 0 and list(said["not_reached"]) == [place]
    lines = log.read_text().splitlines()
    assert len(lines) == entries + 1
    logged = json.loads(lines[-1])
    assert logged["not_reached"] == said["not_reached"] and logged["users"] == 0
    assert logged["not_completed"] == [{"dataset": None, "timestamp": first["timestamp"]}]
    assert logged["removed"]["datasets/shop"] == 0
    assert "00002" not in lines[-1]
    told = run(home, "forget", "00002").stdout.splitlines()[-1]
    assert told.startswith(
        f"NOT complete (the forget of {first['timestamp']} (every dataset)): 1 place not "
        f"reached ({place}); this attempt recorded in {log}"
    ), told


def test_an_id_only_an_unreachable_earlier_redis_may_hold_is_not_said_no_user(
    tmp_path: Path,
) -> None:
    """00012, held only by the Redis of earlier settings (its events replaced since), read as
    "no user" (exit 0) while that Redis was down: the no-user check skipped the store. Now it
    is said not found in the places reached, the store not reached named, exit 1."""
    home = tmp_path / "ws"
    connection = earlier_redis_gone(home, tmp_path)
    current = (home / "datasets" / "shop").resolve()
    for version in (home / "datasets" / ".versions").iterdir():  # pruned, as 5 ingests later
        if version != current:
            shutil.rmtree(version)
    place = f"feast/shop/redis@{connection}"
    asked = run(home, "--json", "forget", "00012")
    assert asked.exit_code == 1, asked.output
    said = json.loads(asked.stdout)
    assert said["no_user"] == [] and said["maybe_held"] == {"00012": [place]}
    assert list(said["not_reached"]) == [place] and said["users"] == 0
    told = run(home, "forget", "00012").stdout
    assert (
        "  not found in the places reached; NOT known to be no user: "
        f"{place} could not be reached and may hold it, nothing changed for it (start it "
        "and run forget again): 00012"
    ) in told, told
    assert "00012" not in (home / "erasure_log.jsonl").read_text()


def test_a_redis_gone_for_good_is_retired_by_a_command_logged(tmp_path: Path) -> None:
    """Retiring a Redis of earlier settings gone for good meant editing
    feast/<ds>/online_stores.jsonl by hand (no trace of it). `datasets retire-store` removes
    its line once it does not answer (or with --force), and logs it without ids."""
    home = tmp_path / "ws"
    connection = earlier_redis_gone(home, tmp_path)
    record = home / "feast" / "shop" / "online_stores.jsonl"
    port = int(connection.rsplit(":", 1)[1])
    with redis_server(tmp_path / "redis", port=port):  # it answers: not retired
        answers = run(home, "datasets", "retire-store", "shop", connection)
        assert answers.exit_code == 1, answers.output
        assert f"the Redis at {connection} answers" in answers.output
        assert connection in record.read_text()
    wrong = run(home, "datasets", "retire-store", "shop", "127.0.0.1:1")
    assert wrong.exit_code == 1 and f"{record}: no Redis at 127.0.0.1:1 recorded" in wrong.output
    retired = run(home, "--json", "datasets", "retire-store", "shop", connection)
    assert retired.exit_code == 0, retired.output
    assert record.read_text() == ""
    logged = json.loads((home / "erasure_log.jsonl").read_text().splitlines()[-1])
    assert logged["dataset"] == "shop" and logged["user_hashes"] == []
    assert logged["retired_store"]["place"] == f"feast/shop/redis@{connection}"
    assert logged["retired_store"]["why"].startswith(f"unreachable at {connection} (")
    forgot = run(home, "--json", "forget", "00002")  # no longer reached, nor said
    assert forgot.exit_code == 0 and json.loads(forgot.stdout)["not_reached"] == {}


def test_a_redis_written_before_the_record_is_recorded_when_first_reached(tmp_path: Path) -> None:
    """A Redis materialized into before online_stores.jsonl existed (2026-12-07) was in no
    record: once the settings named another store, forget and the check never reached it.
    Now `datasets check` and `forget` record the settings' Redis when they reach it."""
    home = tmp_path / "ws"
    home.mkdir()
    record = home / "feast" / "shop" / "online_stores.jsonl"
    with redis_server(tmp_path / "redis") as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        record.unlink()  # as a workspace materialized before the record began
        assert run(home, "datasets", "check").exit_code == 0
        [held] = [json.loads(line) for line in record.read_text().splitlines()]
        assert held["connection"].startswith(connection)
        assert held["found_by"] == "datasets check"
        record.unlink()
        invoke(home, "forget", "00004")
        assert json.loads(record.read_text())["found_by"] == "forget"
        settings(home, "sqlite")  # the settings changed since: that Redis is still reached
        out = json.loads(invoke(home, "--json", "forget", "00006"))
        assert out["removed"]["online/shop"] == 1  # its hash in that Redis
    gone = run(home, "--json", "forget", "00008")
    [why] = json.loads(gone.stdout)["not_reached"].values()
    assert "materialized before " in why and "(recorded when `forget` reached it)" in why


def test_retire_store_with_force_and_the_settings_own_store(tmp_path: Path) -> None:
    """`--force` retires a Redis that answers (flushed, say), logged as forced; the Redis the
    settings name is never retired (the record would lose the store in use)."""
    home = tmp_path / "ws"
    home.mkdir()
    settings(home, "sqlite")
    referred_shop(home, tmp_path)
    record = home / "feast" / "shop" / "online_stores.jsonl"
    with redis_server(tmp_path / "redis") as connection:
        line = {"connection": connection, "first": "T1", "last": "T2", "store": "redis"}
        record.write_text(json.dumps(line) + "\n")
        settings(home, "redis", connection)
        own = run(home, "datasets", "retire-store", "shop", connection)
        assert own.exit_code == 1 and "the settings name" in own.output, own.output
        settings(home, "sqlite")
        forced = run(home, "--json", "datasets", "retire-store", "shop", connection, "--force")
        assert forced.exit_code == 0, forced.output
    assert record.read_text() == ""
    logged = json.loads((home / "erasure_log.jsonl").read_text().splitlines()[-1])
    assert logged["retired_store"]["why"].startswith("--force")
    assert logged["retired_store"]["materialized"] == "from T1 to T2"
