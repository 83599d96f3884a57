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
