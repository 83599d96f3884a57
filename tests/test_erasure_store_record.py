"""The record of the Redis stores a dataset was materialized into
(``feast/<dataset>/online_stores.jsonl``, :mod:`features.erasure_online`): written by
`materialize` (under the workspace's lock) and by `datasets check` (a reader, without it)
at once, one's rewrite of the list it read replaced the other's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from services import redis_server
from test_erasure_text import invoke, referred_shop
from test_erasure_unreached import run, settings

ROOT = Path(__file__).resolve().parents[1]

# One writer: `materialize` (new addresses, as a first materialize into each) or `datasets
# check` (the settings' Redis it reached, unrecorded), each through record_redis as they call it.
WRITER = """
import sys
from pathlib import Path
from features.erasure_online import record_redis
repo, kind, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(count):
    if kind == "materialize":
        record_redis(repo, f"127.0.0.1:{20000 + i},password=secret")
    else:
        record_redis(repo, f"127.0.0.1:{30000 + i}", found_by="datasets check")
"""


def test_materialize_and_the_check_recording_at_once_lose_no_line(tmp_path: Path) -> None:
    """Two real processes recording 150 stores each at once: before, the check's rewrite of
    a list read before materialize's write dropped materialize's lines (and their first and
    last times) and the other way round; now each rewrite holds the record's lock."""
    repo = tmp_path / "feast" / "shop"
    repo.mkdir(parents=True)
    count = 150
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(repo), kind, str(count)], env=env)
        for kind in ("materialize", "check")
    ]
    try:
        for writer in writers:
            assert writer.wait(timeout=120) == 0
    finally:
        for writer in writers:
            writer.kill()
    held = [json.loads(line) for line in (repo / "online_stores.jsonl").read_text().splitlines()]
    by = {s["connection"]: s for s in held}
    assert len(held) == len(by) == 2 * count  # every store recorded, once
    for i in range(count):
        materialized = by[f"127.0.0.1:{20000 + i}"]  # no password kept
        assert "found_by" not in materialized and materialized["first"] == materialized["last"]
        assert by[f"127.0.0.1:{30000 + i}"]["found_by"] == "datasets check"


def test_a_redis_gone_for_good_is_retired_from_every_dataset_at_once(tmp_path: Path) -> None:
    """One Redis held both datasets' projects; shut down for good, it had to be retired
    dataset by dataset (`retire-store shop HOST:PORT`, `retire-store corner HOST:PORT`),
    and a dataset forgotten kept every `forget` at exit 1. `--all-datasets` retires it from
    every record holding it, asked once, one log entry per dataset; the others' stores stay."""
    home = tmp_path / "ws"
    home.mkdir()
    with redis_server(tmp_path / "redis") as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        invoke(home, "ingest", str(tmp_path / "events.csv"), "--dataset", "corner")
        for step in ("build", "apply", "materialize"):
            invoke(home, "features", step, "--dataset", "corner")
        settings(home, "sqlite")
        answers = run(home, "datasets", "retire-store", "--all-datasets", connection)
        assert answers.exit_code == 1 and f"the Redis at {connection} answers" in answers.output
    other = {"connection": "10.0.0.5:6379", "first": "T1", "last": "T2", "store": "redis"}
    with (home / "feast" / "shop" / "online_stores.jsonl").open("a") as record:
        record.write(json.dumps(other) + "\n")  # another server: kept
    unused = run(home, "datasets", "retire-store", "--all-datasets", "127.0.0.1:1")
    assert unused.exit_code == 1 and "no dataset records a Redis at 127.0.0.1:1" in unused.output
    usage = run(home, "datasets", "retire-store", "shop", connection, "--all-datasets")
    assert usage.exit_code == 2 and "HOST:PORT alone with --all-datasets" in usage.output
    retired = run(home, "--json", "datasets", "retire-store", "--all-datasets", connection)
    assert retired.exit_code == 0, retired.output
    entries = json.loads(retired.stdout)["retired"]
    assert [e["dataset"] for e in entries] == ["corner", "shop"]
    assert all(
        e["retired_store"]["why"].startswith(f"unreachable at {connection}") for e in entries
    )
    assert (home / "feast" / "corner" / "online_stores.jsonl").read_text() == ""
    [kept] = (home / "feast" / "shop" / "online_stores.jsonl").read_text().splitlines()
    assert json.loads(kept)["connection"] == "10.0.0.5:6379"
    logged = [json.loads(line) for line in (home / "erasure_log.jsonl").read_text().splitlines()]
    assert [e["retired_store"]["place"] for e in logged[-2:]] == [
        f"feast/corner/redis@{connection}",
        f"feast/shop/redis@{connection}",
    ]
    said = run(home, "datasets", "retire-store", "--help").output
    assert "--all-datasets" in said


def _held_on_disk(folder: Path, token: bytes) -> list[str]:
    """The files of a Redis's folder (its snapshot, its append-only files) holding ``token``."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and token in p.read_bytes())


def test_forget_has_a_persisting_redis_write_its_files_without_the_users(tmp_path: Path) -> None:
    """A Redis that snapshots and keeps an append-only file, as production servers do: after
    `forget 00004` its memory lost the user's hash, but dump.rdb (loaded again at a restart
    before the next save, up to an hour away) and the append-only file (the HSET that wrote
    it) still held 00004's id. Now forget has the server write both again, waits for them, and
    says and logs it."""
    home, disk = tmp_path / "ws", tmp_path / "redis"
    home.mkdir()
    with redis_server(disk, persist=True) as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        import redis

        port = int(connection.rsplit(":", 1)[1])
        server = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        server.bgsave()  # a snapshot of the store as materialized
        deadline = time.monotonic() + 30
        while (
            server.info("persistence")["rdb_bgsave_in_progress"]
            or not (disk / "dump.rdb").is_file()
        ):
            assert time.monotonic() < deadline, "the test's snapshot was not written in 30 s"
            time.sleep(0.05)
        assert "dump.rdb" in _held_on_disk(disk, b"00004")
        out = json.loads(invoke(home, "--json", "forget", "00004", "00006"))
        assert out["removed"]["online/shop"] == 2
        for user in (b"00004", b"00006"):
            assert _held_on_disk(disk, user) == []
        assert out["redis_files"] == {
            f"redis@{connection}": "append-only file rewritten, snapshot written"
        }
        assert _held_on_disk(disk, b"00008")  # the others' rows are still on disk
        logged = json.loads((home / "erasure_log.jsonl").read_text().splitlines()[-1])
        assert logged["redis_files"] == out["redis_files"]
        said = invoke(home, "forget", "00010")
        assert f"  redis@{connection} files on disk: append-only file rewritten, " in said


def test_a_redis_refusing_to_rewrite_its_files_is_said_not_rewritten(tmp_path: Path) -> None:
    """A managed Redis renames BGSAVE and BGREWRITEAOF away: forget erases its memory and says
    (and logs) that its files were NOT rewritten, naming the refusal, rather than nothing."""
    home, disk = tmp_path / "ws", tmp_path / "redis"
    home.mkdir()
    renamed = ("--rename-command", "BGREWRITEAOF", "", "--rename-command", "BGSAVE", "")
    with redis_server(disk, persist=True, options=renamed) as connection:
        settings(home, "redis", connection)
        referred_shop(home, tmp_path)
        out = json.loads(invoke(home, "--json", "forget", "00004"))
    assert out["removed"]["online/shop"] == 1
    [(where, said)] = out["redis_files"].items()
    assert where == f"redis@{connection}"
    assert said.startswith("NOT rewritten: ") and "unknown command" in said, said
