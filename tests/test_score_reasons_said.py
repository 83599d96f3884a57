"""A /score answer's reasons over HTTP: null where they were not computed, a list where they
were ([] only where no feature raised the user's churn risk), as docs/serving.md says.

Session 48, online_retail as a product service calls it: ``"reasons": "none"`` answered a
known customer ``reasons: []`` (read as "nothing raises this customer's risk") and a
stranger the cold start's computed reasons; ``"tasks": ["ltv"]`` answered ``[]`` where the
docs say null, beside a null ``churn_probability``."""

from __future__ import annotations

from typing import Any

from services import SharedServer, known_user_ids


def _reasons(server: SharedServer, http: Any, body: dict[str, Any]) -> list[Any]:
    response = http.post(f"{server.base}/score", json=body)
    assert response.status_code == 200, response.text
    return [user["reasons"] for user in response.json()["users"]]


def test_reasons_are_null_where_not_computed(shared_server: SharedServer, http: Any) -> None:
    known = known_user_ids(shared_server.workspace.home, 5)
    asked = [*known, "someone-new"]
    computed = _reasons(shared_server, http, {"user_ids": asked, "reasons": "fresh"})
    assert all(isinstance(reasons, list) for reasons in computed)
    assert any(computed), computed  # some user has a reason: the list is no empty default
    left_out = _reasons(shared_server, http, {"user_ids": asked, "reasons": "none"})
    assert left_out == [None] * len(asked)
    no_churn = _reasons(shared_server, http, {"user_ids": asked, "tasks": ["ltv"]})
    assert no_churn == [None] * len(asked)
