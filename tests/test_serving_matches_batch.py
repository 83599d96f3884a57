"""One scoring path: the HTTP API (in process, and through the `lifecycle serve` command
operators run) answers exactly what batch scoring wrote for the same users and date."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from services import every_worker_settled, lifecycle_serve
from workspaces import NO_COMPILE, TrainedWorkspace

from lifecycle.settings import load_settings
from serving.batch import read_scores

NUMBERS = (
    "churn_probability",
    "conversion_probability",
    "ltv",
    "ltv_p10",
    "ltv_p50",
    "ltv_p90",
    "purchase_probability",
    "value_at_risk",
    "p_alive",
    "expected_purchases",
)
LABELS = ("risk_band", "lifecycle_stage")


def sample_users(workspace: TrainedWorkspace, count: int = 40) -> list[str]:
    """Users from the batch table: with and without churn and conversion scores."""
    table = read_scores(workspace.scores_path).frame
    with_churn = table[table["churn_probability"].notna()]["user_id"]
    with_conversion = table[table["conversion_probability"].notna()]["user_id"]
    without_churn = table[table["churn_probability"].isna()]["user_id"]
    picks = [with_churn.head(count // 2), with_conversion.head(count // 4), without_churn.head(4)]
    return list(dict.fromkeys(pd.concat(picks).astype(str)))


def assert_same_as_batch(
    workspace: TrainedWorkspace, answers: list[dict], atol: float = 0.0
) -> None:
    table = read_scores(workspace.scores_path).frame.set_index("user_id")
    served = pd.DataFrame(answers).set_index("user_id")
    assert (served["status"] == "scored").all(), served["status"].value_counts()
    expected = table.loc[served.index]
    for column in NUMBERS:
        got = served[column].astype(float).to_numpy()
        want = expected[column].astype(float).to_numpy()
        assert (np.isnan(got) == np.isnan(want)).all(), f"{column}: null for other users"
        np.testing.assert_allclose(got, want, 1e-9, atol, equal_nan=True, err_msg=column)
    for column in LABELS:
        assert served[column].fillna("").tolist() == expected[column].fillna("").tolist(), column


def test_api_scores_equal_the_batch_scores_table(trained_workspace: TrainedWorkspace) -> None:
    from serving.scorer import Scorer

    users = sample_users(trained_workspace)
    scorer = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    scorer.load()
    response = scorer.score(users)
    assert [u.user_id for u in response.users] == users
    assert_same_as_batch(trained_workspace, [u.model_dump() for u in response.users])


def test_serve_command_answers_over_http_as_batch_scoring(
    trained_workspace: TrainedWorkspace, trained_copy: Path, tmp_path: Path
) -> None:
    """`lifecycle serve` started for real: a real `bentoml serve` of the champions."""
    users = sample_users(trained_workspace)
    with lifecycle_serve(trained_copy, tmp_path / "server") as base:
        response = httpx.post(f"{base}/score", json={"user_ids": users}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_versions"] == {"churn": "1", "conversion": "1", "ltv": "1"}
        assert_same_as_batch(trained_workspace, body["users"])
        unknown = httpx.post(f"{base}/score", json={"user_ids": ["nobody"]}, timeout=60)
        assert unknown.status_code == 200, unknown.text  # once not 200 in a full run: say why
        assert unknown.json()["users"][0]["status"] == "unknown_user"
        # Its request metrics are its own: another BentoML server starting empties the
        # Prometheus directory of its home, which this one (same BENTOML_HOME) no longer shares.
        from bentoml.serving import ensure_prometheus_dir

        home = tmp_path / "server" / "bentoml"
        port = base.rsplit(":", 1)[1]
        assert list((home / "servers" / f"127.0.0.1-{port}" / "prometheus_multiproc_dir").iterdir())
        ensure_prometheus_dir(str(home / "prometheus_multiproc_dir"))  # another server's start
        metrics = httpx.get(f"{base}/metrics", timeout=60).text
        count = r'_request_duration_seconds_count\{endpoint="/score",http_response_code="200",'
        assert re.search(count + r"[^}]*\} 2\.0$", metrics, re.MULTILINE), metrics[-3000:]


@pytest.mark.slow
def test_serve_command_with_compiled_trees_answers_as_batch_scoring(
    trained_workspace: TrainedWorkspace, trained_copy: Path, tmp_path: Path
) -> None:
    """The operator's default, serving.compile_trees on, which the other real servers turn
    off for its CPU: each worker compiles the champions in the background into the
    workspace's cache, stays up through it, and then answers as batch scoring (LightGBM)."""
    from test_compiled import MAX_ABS_DIFF

    from lifecycle.compiled import OBJECT_SUFFIX

    users = sample_users(trained_workspace)
    cache = load_settings(home=trained_copy, environ={}).workspace.compiled_dir
    assert not list(cache.glob(f"*{OBJECT_SUFFIX}"))  # the server compiles them (review R2 #8)
    with lifecycle_serve(trained_copy, tmp_path / "server", compile_trees=True) as base:
        every_worker_settled(base, seconds=600)  # "compiling trees ..." no longer settling
        for task in ("churn", "conversion", "ltv"):
            assert list(cache.glob(f"demo-{task}-v1-*{OBJECT_SUFFIX}")), task
        response = httpx.post(f"{base}/score", json={"user_ids": users}, timeout=60)
        assert response.status_code == 200, response.text
        assert_same_as_batch(trained_workspace, response.json()["users"], atol=MAX_ABS_DIFF)


def test_outlook_apart_and_not_scored_read_alike_in_the_table_the_api_and_the_list(
    trained_workspace: TrainedWorkspace,
) -> None:
    """/score's ``outlook_apart`` and ``not_scored`` were /score's alone: the batch table and
    /at_risk's rows (``lifecycle at-risk``) had neither, so an operator read one user two
    ways. Now the table holds both, from the same functions, and a list row says what
    /score says of its user."""
    from serving.outlook_apart import outlook_apart
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    scorer.load()
    table = read_scores(trained_workspace.scores_path).frame.set_index("user_id")
    users = sample_users(trained_workspace)
    served = {u.user_id: u for u in scorer.score(users).users}
    assert any(u.not_scored for u in served.values())  # a repeat customer's conversion
    rows = table.loc[list(served)]
    assert [None if pd.isna(t) else t for t in rows["outlook_apart"]] == [
        u.outlook_apart for u in served.values()
    ]
    assert [json.loads(t) if isinstance(t, str) else None for t in rows["not_scored"]] == [
        u.not_scored for u in served.values()
    ]
    listed = scorer.at_risk(rank_by="ltv", limit=150).users
    answers = {u.user_id: u for u in scorer.score([r.user_id for r in listed]).users}
    assert any(r.not_scored for r in listed)
    for row in listed:
        said = answers[row.user_id]
        assert (row.outlook_apart, row.not_scored) == (said.outlook_apart, said.not_scored)
    # every row of the table: the column is /score's function of the row's two chances
    pairs = table[["p_alive", "purchase_probability"]].astype(float)
    expected = [outlook_apart(dict(zip(pairs.columns, p, strict=True))) for p in pairs.to_numpy()]
    assert [None if pd.isna(t) else t for t in table["outlook_apart"]] == [
        None if any(np.isnan(p)) else e for p, e in zip(pairs.to_numpy(), expected, strict=True)
    ]
