"""`lifecycle datasets check` with a Redis online store that cannot be reached: the check
stopped at the first Redis error (exit 1, nothing else of the dataset checked)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from services import redis_server
from test_erasure_text import invoke, referred_shop

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
