"""Property-based fuzz of the scoring API from its own OpenAPI document (schemathesis).

A real ``bentoml serve`` of a small trained workspace on a free loopback port. Every
operation in ``/docs.json`` gets up to ``MAX_EXAMPLES`` generated requests (valid ones and,
through schemathesis's negative mode, invalid ones), each judged by every schemathesis check:
no 5xx, documented status codes, content types, headers and bodies (the service documents its
4xx/503 answers, see ``serving.openapi.document_errors``), invalid data refused, valid data
accepted, unsupported methods refused (405 with ``Allow``).

Bounded: 25 examples per operation by default, no per-example deadline, a time budget that
grows with it. ``FUZZ_EXAMPLES=200`` runs the issue's full budget (minutes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)
from services import SharedServer

REPO = Path(__file__).resolve().parents[1]
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
BUDGET_SECONDS = 60 * max(1, MAX_EXAMPLES // 25)
FUZZED: dict[str, int] = {}  # operation -> requests sent
STATUSES: dict[int, int] = {}  # status code -> answers


@pytest.fixture(scope="module")
def fuzz_server(shared_server: SharedServer) -> Iterator[str]:
    """The shared server: a trained, batch-scored copy (so /at_risk answers 200 as well)
    with the request limits fuzzed here; what it logged while fuzzed holds no traceback."""
    start = shared_server.log.stat().st_size
    yield shared_server.base
    with shared_server.log.open("rb") as log:
        log.seek(start)
        logged = log.read().decode(errors="replace")
    assert "Traceback" not in logged, logged[-3000:]


load_all_checks()
ALL_CHECKS = CHECKS.get_all()
# A body over serving.max_request_bytes is refused unread with 413 (documented): for invalid
# data (e.g. a 10,000-character user id) that is a rejection like 400.
# /score_features answers 422 (documented) to a row of well-typed features that contradict
# each other (days since the last order above days since the first): no JSON schema can say
# one property is at most another, so such a body is valid data the service refuses. Every
# other route still has to accept every valid body.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
            },
        },
        "operations": [
            {
                "include-path": "/score_features",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "422"]
                    },
                },
            }
        ],
    }
)


def fuzz_operation(
    operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode, stop_at: float
) -> None:
    label = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the budget stays bounded
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if time.monotonic() > stop_at and label in FUZZED:  # at least one request each
            return
        FUZZED[label] = FUZZED.get(label, 0) + 1
        response = case.call_and_validate(checks=ALL_CHECKS, timeout=30)
        STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1

    run()


def described(error: BaseException) -> str:
    """An error with its sub-exceptions (a flaky run keeps the first failure inside)."""
    return "\n".join([str(error), *(described(sub) for sub in getattr(error, "exceptions", ()))])


def test_api_answers_only_what_it_documents(fuzz_server: str) -> None:
    api = schemathesis.openapi.from_url(f"{fuzz_server}/docs.json", config=CONFIG)
    stop_at = time.monotonic() + BUDGET_SECONDS
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 5
    slots = [(operation, mode) for operation in operations for mode in schemathesis.GenerationMode]
    for done, (operation, mode) in enumerate(slots):
        # Each operation gets its share of the time left, so a busy machine still reaches the
        # last ones; what a quick one leaves goes to those after it.
        share = max(stop_at - time.monotonic(), 0.0) / (len(slots) - done)
        try:
            fuzz_operation(operation, mode, time.monotonic() + share)
        except Unsatisfiable:  # no input to make invalid (GET /livez and the like)
            continue
        except (
            Exception,
            BaseExceptionGroup,
        ) as error:  # one failing operation does not hide the others
            failures.append(f"{operation.label} ({mode.value}): {described(error)}"[:3000])
    total = sum(FUZZED.values())
    print(f"\nfuzzed {total} requests: {dict(sorted(FUZZED.items()))}")
    print(f"answers by status: {dict(sorted(STATUSES.items()))}")
    print(f"checks: {', '.join(check.__name__ for check in ALL_CHECKS)}")
    assert not failures, "\n\n".join(failures)
    posted = {label.split(" (")[0] for label in FUZZED}
    assert posted >= {
        f"POST {p}" for p in ("/score", "/score_features", "/at_risk", "/models", "/promote")
    }
    assert STATUSES.get(200, 0) > 0 and STATUSES.get(400, 0) > 0  # valid and invalid reached


def test_a_reason_of_space_alone_is_refused_as_every_regex_dialect_reads_the_schema() -> None:
    """A fuzz run sent `/promote` the reason "\\u0085", which the schema's pattern r"\\S" let
    through as ECMAScript reads it (U+0085 is no space there) and the server (Rust's and
    Python's regexes: a space) refused: "schema-valid request rejected". U+FEFF went the
    other way. The pattern names every dialect's spaces, so all read it alike."""
    import re
    from typing import Annotated

    from pydantic import StringConstraints, TypeAdapter, ValidationError

    from serving.service import NOT_ONLY_SPACE

    ecmascript = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
        chr(code) for code in range(0x2000, 0x200B)
    )
    python = "".join(chr(code) for code in range(0x3000 + 1) if chr(code).isspace())
    reason = TypeAdapter(Annotated[str, StringConstraints(pattern=NOT_ONLY_SPACE)])
    for space in sorted(set(ecmascript + python)):
        assert re.search(NOT_ONLY_SPACE, space * 3) is None, repr(space)
        with pytest.raises(ValidationError):
            reason.validate_python(space * 3)  # pydantic's own (Rust) regex, as the server
    assert reason.validate_python("\u0085rollback") and re.search(NOT_ONLY_SPACE, " x ")
    assert "\\s" not in NOT_ONLY_SPACE.lower()  # no shorthand whose meaning varies
