"""The record of the Redis stores a dataset was materialized into
(``feast/<dataset>/online_stores.jsonl``, :mod:`features.erasure_online`): written by
`materialize` (under the workspace's lock) and by `datasets check` (a reader, without it)
at once, one's rewrite of the list it read replaced the other's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
