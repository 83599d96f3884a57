"""The scoring API's contract without a running service: the list fields have a place in
the API's rows, and the service builds into a bento offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_at_risk_rows_carry_every_field_of_the_cli_list() -> None:
    """A list field without a place in the API's row would be refused, not silently dropped."""
    from typing import get_args

    from serving.list_fields import list_fields, rank_by_choices
    from serving.schemas import AtRiskUser, RankBy

    assert set(list_fields()) <= set(AtRiskUser.model_fields)
    assert get_args(RankBy) == rank_by_choices()


@pytest.mark.skipif(
    os.environ.get("LIFECYCLE_SKIP_BENTO_BUILD") == "1", reason="bento build skipped"
)
def test_bentoml_build_succeeds_offline(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(REPO)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    built = list((tmp_path / "bentos" / "lifecycle-scoring").glob("*/src/serving/service.py"))
    assert built, "the bento should contain the service source"
