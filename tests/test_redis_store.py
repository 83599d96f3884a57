"""The Feast Redis online store against a real ``redis-server`` on a loopback port:
selected by settings alone, materialized into, looked up, and equal to the offline store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from services import redis_workspace
from test_feature_store import assert_online_matches_offline

from features import contract as c
from features.redis_health import HELD_KEY, USERS_KEY
from features.store import latest_feature_rows, online_features, open_store, store_paths
from lifecycle import lineage
from lifecycle.cli import main
from lifecycle.settings import load_settings


@pytest.fixture(scope="module")
def redis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A demo workspace whose settings file selects a fresh redis-server, materialized into it."""
    home = tmp_path_factory.mktemp("redis_ws")
    with redis_workspace(home, tmp_path_factory.mktemp("redis"), users=1500, seed=3) as connection:
        yield home, connection


def test_settings_select_redis_and_materialize_fills_it(redis_home: tuple[Path, str]) -> None:
    import redis

    home, connection = redis_home
    settings = load_settings(home=home, environ={})
    store = open_store(settings)
    assert store.config.online_store.type == "redis"
    assert not store_paths(settings).online_db.exists()  # nothing went to SQLite
    host, port = connection.split(":")
    with redis.Redis(host=host, port=int(port)) as client:
        keys = client.dbsize()
        held = client.get(HELD_KEY.format(project=store.config.project))
        counted = client.hget(USERS_KEY, "demo")
    users = latest_feature_rows(store_paths(settings))[c.USER_ID].nunique()
    # one hash per user entity, every user materialized, the key saying what was, and the
    # hash counting them (a loss of some is then seen)
    assert keys == users + 2 and users == 1500 and int(counted) == users
    table = lineage.read(settings.workspace.feature_table("demo"))
    assert table is not None and json.loads(held)["feature_table"] == table["id"]


def test_online_offline_parity_on_redis(redis_home: tuple[Path, str]) -> None:
    assert_online_matches_offline(redis_home[0], "demo")


def test_unknown_user_is_not_found_in_redis(redis_home: tuple[Path, str]) -> None:
    store = open_store(load_settings(home=redis_home[0], environ={}))
    online = online_features(store, ["u0000001", "no-such-user", "u0000002"], "ltv_v1")
    assert online.found.tolist() == [True, False, True]
    assert online.frame.loc[1].drop(c.USER_ID).isna().all()
    assert online.frame.loc[0].drop(c.USER_ID).notna().any()


def test_features_show_reads_redis(redis_home: tuple[Path, str]) -> None:
    result = CliRunner().invoke(
        main, ["--home", str(redis_home[0]), "features", "show", "u0000002", "ghost"]
    )
    assert result.exit_code == 0, result.output
    assert "ghost  (not found in the online store)" in result.stdout
    assert "recency_days:" in result.stdout


def test_a_table_rebuilt_at_the_same_cutoffs_replaces_what_redis_held(
    redis_home: tuple[Path, str], tmp_path: Path
) -> None:
    """Feast's Redis write skips a row whose event time is not newer than the stored one: a
    late purchase appended (before the data's last event: the cutoffs stay) and the table
    built again was not written, while the store said it held the new table (online_retail:
    2 users' 24 features each still the old values, session 51). Every row now replaces it."""
    import pandas as pd

    from features.asof import AS_OF

    home, _ = redis_home
    settings = load_settings(home=home, environ={})
    user = "u0000001"
    before = online_features(open_store(settings), [user], "churn_v1").frame.iloc[0]
    as_of = latest_feature_rows(store_paths(settings)).set_index(c.USER_ID)[AS_OF]
    last = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")["event_time"].max()
    late = tmp_path / "late.csv"
    late.write_text(
        "user_id,event_time,event_type,amount,currency,order_id\n"
        f"{user},{(last - pd.Timedelta(hours=1)):%Y-%m-%d %H:%M:%S},purchase,999.5,,late-1\n"
    )
    for args in (["ingest", str(late), "--dataset", "demo", "--append"], ["features", "build"]):
        result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])
        assert result.exit_code == 0, result.output
    latest = latest_feature_rows(store_paths(settings)).set_index(c.USER_ID)
    assert latest[AS_OF].equals(as_of)  # the same cutoffs: no event time moved
    assert latest.loc[user, "revenue_total"] == before["revenue_total"] + 999.5
    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", "features", "materialize"])
    assert result.exit_code == 0, result.output
    after = online_features(open_store(settings), [user], "churn_v1").frame.iloc[0]
    assert after["revenue_total"] == latest.loc[user, "revenue_total"]
    assert_online_matches_offline(home, "demo")
