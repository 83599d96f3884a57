"""`lifecycle forget` and `lifecycle datasets check` in every online store the project writes:
a users attribute naming another user (`referred_by` 00004, a text feature) is materialized
into Redis (a real `redis-server`) or Feast's own SQLite store (a row per user and feature);
`forget 00004` redacted it in the feature table and the default SQLite store only, so these
kept serving it, and `datasets check` did not read them."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from services import redis_server
from test_erasure_text import invoke, referred_shop

from features.scrub import REDACTED


def _string(blob: bytes) -> str | None:
    from feast.protos.feast.types.Value_pb2 import Value

    value = Value.FromString(blob)
    return value.string_val if value.WhichOneof("val") == "string_val" else None


def served(home: Path, store: str, connection: str | None) -> Counter[str]:
    """Every text value the store holds, read with the test's own reading of its layout."""
    if store == "redis":
        import redis

        host, port = str(connection).split(":")
        with redis.Redis(host=host, port=int(port)) as client:
            hashes = [
                client.hgetall(k) for k in client.scan_iter() if not k.startswith(b"lifecycle:")
            ]
        texts = [_string(v) for held in hashes for f, v in held.items() if not f.startswith(b"_")]
    else:
        with sqlite3.connect(home / "feast" / "shop" / "online.db") as conn:
            tables = [
                t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            texts = [
                _string(blob)
                for t in tables
                if t.startswith("lifecycle_shop_")
                for (blob,) in conn.execute(f'SELECT value FROM "{t}"')
            ]
    return Counter(t for t in texts if t is not None)


@pytest.mark.parametrize("store", ["redis", "sqlite-feast"])
def test_forget_redacts_mentions_in_every_online_store_and_the_check_reads_it(
    tmp_path: Path, store: str
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    server = redis_server(tmp_path / "redis") if store == "redis" else contextlib.nullcontext()
    with server as connection:
        extra = f'redis_connection = "{connection}"\n' if connection else ""
        (home / "lifecycle.toml").write_text(f'[feast]\nonline_store = "{store}"\n{extra}')
        referred_shop(home, tmp_path)
        assert served(home, store, connection)["00004"] == 6

        out = json.loads(invoke(home, "--json", "forget", "00004"))
        assert out["redacted"]["online/shop"] == 6 and out["removed"]["online/shop"] > 0
        assert out["not_covered"] == [line for line in out["not_covered"] if "online" not in line]
        held = served(home, store, connection)
        assert held["00004"] == 0 and held[REDACTED] == 6 and held["none"] == 5
        assert "referred_by: 00004" not in invoke(
            home, "features", "show", "00001", "--dataset", "shop"
        )
        # a Redis that keeps nothing on disk has nothing to rewrite there: said so
        persisted = {f"redis@{connection}": "none to rewrite (it keeps no snapshot nor "
                     "append-only file)"} if store == "redis" else {}  # fmt: skip
        assert out["redis_files"] == persisted
        if store != "redis":  # the replaced text is not left in free pages or the log either
            db = home / "feast" / "shop" / "online.db"
            assert b"00004" not in b"".join(p.read_bytes() for p in db.parent.glob("online.db*"))

        # `datasets check` reads the store's text features: the 6 mentions counted there
        [found] = json.loads(invoke(home, "--json", "datasets", "check"))["datasets"]
        prefix = "feast/shop/redis." if store == "redis" else "feast/shop/online.lifecycle_shop_"
        online = {k: n for k, n in found["redacted_outside"].items() if k.startswith(prefix)}
        assert list(online.values()) == [6] and next(iter(online)).endswith(".referred_by")


def test_a_rerun_that_only_removes_what_an_erasure_left_is_logged_without_ids(
    tmp_path: Path,
) -> None:
    """A `forget` of an id erased before, run again to redact the mentions an older code
    left in the online store (here put back by hand: 6 rows of `referred_by` 00004), redacted
    them and wrote no log entry ("nothing recorded"): a privacy officer could not show what
    was done or when. It is logged now: the time, the counts per place and the erasure it
    completes, no id and no hash of one."""
    home = tmp_path / "ws"
    referred_shop(home, tmp_path)
    first = json.loads(invoke(home, "--json", "forget", "00004"))
    with sqlite3.connect(home / "feast" / "shop" / "online.db") as conn:  # as old code left it
        [table] = [t for (t,) in conn.execute("SELECT name FROM sqlite_master") if "profile" in t]
        put_back = conn.execute(f'UPDATE "{table}" SET referred_by = ? WHERE referred_by = ?',
                                ["00004", REDACTED])  # fmt: skip
        assert put_back.rowcount == 6

    again = json.loads(invoke(home, "--json", "forget", "00004"))
    assert again["users"] == 0 and again["redacted"] == {"online/shop": 6}
    assert again["completes"] == [{"dataset": None, "timestamp": first["timestamp"]}]
    log = home / "erasure_log.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 2 and entries[1]["redacted"] == {"online/shop": 6}
    assert entries[1]["completes"] == again["completes"] and entries[1]["user_hashes"] == []
    assert "00004" not in log.read_text()
    said = invoke(home, "forget", "00004")  # nothing left now: nothing logged
    assert "nothing left to erase: nothing recorded in the erasure log" in said
    assert len(log.read_text().splitlines()) == 2
    with sqlite3.connect(home / "feast" / "shop" / "online.db") as conn:
        conn.execute(f'UPDATE "{table}" SET referred_by = ? WHERE referred_by = ?',
                     ["00004", REDACTED])  # fmt: skip
    said = invoke(home, "forget", "00004")
    assert said.splitlines()[-1] == (
        f"what the forget of {first['timestamp']} (every dataset) left, removed now: recorded "
        f"in {log} (counts and times, no ids)"
    )
