"""`/at_risk`'s `where` as the API document describes it is accepted by the service it
describes: the field said `e.g. {"country": "Spain"}` and `{"country": ["Spain", "France"]}`,
online_retail's names, which a demo server (countries GB, US, DE, FR, IE) refuses with a
400. Its examples are the demo's now, online_retail's named as such; a served document, which
reads the latest scores, gives its own table's commonest value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lifecycle.settings import load_settings
from serving.answers import ListAnswers
from serving.openapi import document_list_values

EXAMPLE = re.compile(r'\{"[^{}]*\}')  # a JSON object of the description (a list inside)


def described_where() -> str:
    """The `where` field's description, as the service's input model declares it."""
    from serving.service import LifecycleScoring

    spec = LifecycleScoring.apis["at_risk"].input_spec
    return spec.model_fields["where"].description


def test_the_where_examples_the_api_describes_are_accepted(
    trained_copy: Path, online_retail_loaded: Any
) -> None:
    said = described_where()
    examples = [(m.start(), json.loads(m[0])) for m in EXAMPLE.finditer(said)]
    # online_retail's: named as its own; the others are the demo's
    theirs = [w for at, w in examples if "online_retail" in said[max(0, at - 30) : at]]
    demo = [w for at, w in examples if w not in theirs]
    assert len(demo) == 2 and any(isinstance(v, list) for w in demo for v in w.values())
    answers = ListAnswers(load_settings(home=trained_copy, environ={}), "demo")
    for where in demo:
        assert answers.at_risk(None, where=where, min_churn=0).users, where
    _, users = online_retail_loaded
    countries = set(users.frame["country"].dropna().astype(str))
    assert theirs == [{"country": "Spain"}] and "Spain" in countries
    assert not {"FR", "DE"} & countries  # why the demo's are no example of online_retail's


def test_a_served_document_gives_an_example_of_its_own_table(trained_copy: Path) -> None:
    """With scores, the document lists each attribute's values; its description and
    `example` name the first attribute's commonest value, which the list takes."""
    settings = load_settings(home=trained_copy, environ={})
    fields: dict[str, Any] = {
        name: {} for name in ("segment", "lifecycle_stage", "channel", "where", "rank_by")
    }
    body = {"content": {"application/json": {"schema": {"properties": fields}}}}
    spec = {"paths": {"/at_risk": {"post": {"requestBody": body}}}}
    document_list_values(spec, settings.workspace.latest_scores)
    where = fields["where"]
    example = where["example"]
    assert f"e.g. {json.dumps(example)}" in where["description"]
    assert list(example) == ["country"] and example["country"] in {"GB", "US", "DE", "FR", "IE"}
    answers = ListAnswers(settings, "demo")
    assert answers.at_risk(None, where=example, min_churn=0).users
