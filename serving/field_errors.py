"""A 400 of the request's fields says, in its ``error``, which fields and what is wrong.

BentoML answers a pydantic ``ValidationError`` (its own check of the body, and the routes'
``serving.errors.field_errors``) with ``{"error": "1 validation error for Input", "detail":
[...]}``: the sentence named the validator's model, and only ``detail`` the field. The
middleware writes the ``error`` from the details, as every other error answer has it:
``user_ids[0]: Input should be a valid string (ids are text: send them in quotes)``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from serving.errors import HeldAnswers

TITLE = re.compile(r"^\d+ validation errors? for \w+$")
SHOWN = 3  # problems the sentence names; ``detail`` holds every one
# pydantic's loc of a union's branch (list[str]: /at_risk's where)
UNION_MEMBERS = {"float", "int", "bool", "str", "none", "list[str]"}
# Fields that are text though they look like numbers: a number sent there, how to send it
QUOTED = {
    "user_ids": "ids are text: send them in quotes",
    "user_id": "ids are text: send them in quotes",
    "version": 'a version is text: send it in quotes, "2" or "v2"',
}
VALID = "Input should be a valid "
# A reason with a visible character. Not r"\S": regex dialects disagree on what is space
# (U+0085 is in Python's and Rust's, not ECMAScript's; U+FEFF in ECMAScript's only), so
# a client reading the schema took "\u0085" for a reason the server refused: any dialect's
# space, named
NOT_ONLY_SPACE = (
    r"[^ \t\n\r\f\v\x1c-\x1f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
    r"\u3000\ufeff]"
)
# a list field sent as another JSON value (`"tasks": null`, `"user_ids": "u1"`): what it takes
LISTS = {
    "tasks": 'a list of task names, as ["churn", "ltv"]; leave tasks out for every task',
    "user_ids": 'a list of ids, as ["u0000001"], even for one user',
}
VERSION_NUMBER = r"^[vV]?[0-9]{1,9}$"  # a registry version as `lifecycle models` shows it
# The largest whole number every JSON client reads exactly (JavaScript's numbers are doubles):
# a seed of 10**30 was taken and echoed, and a browser read the echo as 1e+30.
SAFE_INTEGER = 2**53 - 1
SAFE_RANGE = (
    f"Input should be a whole number from {-SAFE_INTEGER} to {SAFE_INTEGER} (2^53 - 1: "
    "larger numbers lose digits in JSON clients such as JavaScript)"
)
# pydantic's bound of a field as the range it is part of
BOUND_WORDS = {
    f"Input should be less than or equal to {SAFE_INTEGER}": SAFE_RANGE,
    f"Input should be greater than or equal to {-SAFE_INTEGER}": SAFE_RANGE,
}
MATCH = "String should match pattern "
# A pattern's meaning in words: a "reason" of spaces was told "should match pattern '[^ \t...'"
PATTERN_WORDS = {
    NOT_ONLY_SPACE: "Input should hold a visible character, not only spaces",
    VERSION_NUMBER: "Input should be a version number as `lifecycle models` shows it: 2 or v2",
}


def place(loc: list[Any]) -> str:
    """``["users", 0, "features", "x"]`` as ``users[0].features.x``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "body"


def problems(detail: list[dict[str, Any]]) -> list[str]:
    """One sentence per field: a union's branches as one (``Input should be a valid number,
    boolean or string``), an id or version sent as a number with how to send it, a list sent
    as another value with what it takes (:data:`LISTS`)."""
    said: dict[str, list[str]] = {}
    branches: dict[str, list[str]] = {}
    for item in detail:
        loc, msg = list(item.get("loc") or []), str(item.get("msg", ""))
        if len(loc) > 1 and loc[-1] in UNION_MEMBERS and msg.startswith(VALID):
            branches.setdefault(place(loc[:-1]), []).append(msg.removeprefix(VALID))
            said.setdefault(place(loc[:-1]), [])
        else:
            said.setdefault(place(loc), []).append(msg)
    out = []
    for where, msgs in said.items():
        kinds = branches.get(where, [])
        if kinds:
            listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
            msgs = [*msgs, f"{VALID}{listed}"]
        msgs = [PATTERN_WORDS.get(m.removeprefix(MATCH)[1:-1], BOUND_WORDS.get(m, m)) for m in msgs]
        msg = "; ".join(msgs)
        quoted = [QUOTED[n] for n in re.split(r"[.\[]", where) if n in QUOTED]
        if msg == f"{VALID}string" and quoted:
            msg += f" ({quoted[0]})"
        if msg in (f"{VALID}array", f"{VALID}list") and where in LISTS:
            msg += f" ({LISTS[where]})"
        out.append(f"{where}: {msg}")
    return out


def sentence(detail: list[dict[str, Any]]) -> str:
    """The ``error`` of a 400: the first problems, and how many more ``detail`` holds."""
    found = problems(detail)
    more = len(found) - SHOWN
    return "; ".join(found[:SHOWN]) + (f"; and {more} more (see detail)" if more > 0 else "")


class FieldErrors(HeldAnswers):
    """ASGI middleware: a 400 whose ``error`` is pydantic's title gets the sentence instead
    (only 400s are held back to be read; every other answer passes as it comes)."""

    def holds(self, start: dict[str, Any], scope: dict[str, Any]) -> bool:
        return bool(start.get("status") == 400)

    def rewrite(
        self, scope: dict[str, Any], start: dict[str, Any], body: bytes
    ) -> tuple[dict[str, Any], bytes]:
        return start, _rewritten(body)


def _rewritten(body: bytes) -> bytes:
    """The body with pydantic's title replaced by :func:`sentence` (other bodies as they are)."""
    try:
        data = json.loads(body)
    except ValueError:  # not JSON: as it came
        return body
    if not isinstance(data, dict) or not TITLE.match(str(data.get("error", ""))):
        return body
    data["error"] = sentence(data.get("detail") or [])
    return json.dumps(data).encode()
