"""The OpenAPI document as the service really answers: every error status with its shape.

BentoML documents 400/404/500 with ``detail`` as a string and nothing else; this rewrites
``/docs.json`` on its way out (``OpenApiErrors``) with the errors of ``serving.errors``,
per route, and the bearer scheme when auth is on; null is said as the declared OpenAPI 3.0
says it (``openapi_3_0_nulls``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.auth import ADMIN_PATHS, AUTH_SCOPE_KEY, OPEN_PATHS
from serving.errors import ERROR_SCHEMA, send_body

if TYPE_CHECKING:
    from lifecycle.settings import Settings

PATH_ERRORS = {  # answers only some routes give
    "/promote": {
        "404": "no such route, or the model has no such version (the error names those it has)",
        "409": "no challenger to promote, it is already the champion, or the promotion gate "
        'kept it back and "force" is not true (the error quotes the gate), or another '
        "lifecycle command is changing the workspace (the error names it)",
    },
    "/score_features": {
        "422": "a row's features contradict each other (days since the last order above days "
        "since the first order, days since the last activity above days since the last "
        "order, a window's count or amount above a longer window's, more active days than "
        "the window has, spend or refunds where the same window has no order or refund): "
        "detail names the row and field and what is expected"
    },
}
API_ERRORS = {
    "400": "a field is invalid, or the body is not valid JSON (detail says which)",
    "404": "no such route, or no batch scores yet (/at_risk)",
    "405": "another method than the route takes (Allow names it)",
    "413": "request body over serving.max_request_bytes",
    "415": "a body that is not application/json (multipart, form, text, ...) or is compressed",
    "500": "a server fault",
    "503": "not ready yet (models or feature store loading or failed), a feature store or "
    "registry gone, damaged or replaced on disk (the message names the command that fixes it), "
    "or reload failed",
}


def document_errors(spec: dict[str, Any], auth: bool) -> dict[str, Any]:
    """BentoML documents 400/404/500 with ``detail`` as a string and nothing else; document
    the errors this service really answers, with their real shape, and the token scheme."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if auth:
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token; /reload and /promote need an admin token",
        }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if method == "post" and "requestBody" in operation:
                state_request_body(operation["requestBody"])
            if method == "post":
                for code, text in {**API_ERRORS, **PATH_ERRORS.get(path, {})}.items():
                    responses[code] = {"description": text, "content": ref}
            elif path == "/readyz":
                responses["503"] = {"description": "not ready yet", "content": ref}
            if auth and path not in OPEN_PATHS:
                operation["security"] = [{"bearer": []}]
                responses["401"] = {"description": "missing or invalid API token", "content": ref}
                if path in ADMIN_PATHS:
                    responses["403"] = {"description": "not an admin token", "content": ref}
    return spec


def state_request_body(body: dict[str, Any]) -> None:
    """Say what the service accepts, as OpenAPI 3.0 says it: BentoML leaves out that a body
    with required fields is required (an empty body is refused there,
    ``serving.limits.EmptyBody``), and writes ``lt``/``gt`` as numbers (OpenAPI 3.1), which
    3.0 readers take as no bound at all (its ``X | None`` fields: ``openapi_3_0_nulls``)."""
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        body["required"] = bool(schema.get("required"))
        for field in schema.get("properties", {}).values():
            _exclusive_bounds(field)


NULL = {"type": "null"}


def openapi_3_0_nulls(node: Any) -> None:
    """Say null as OpenAPI 3.0 does, everywhere in the document (response schemas are inlined
    in the paths as well): pydantic writes ``X | None`` as 3.1's ``anyOf`` with
    ``{"type": "null"}``, which 3.0 readers (client generators, validators) reject or
    mis-type; 3.0 says ``nullable: true`` beside the type (an enum holding null too), or
    beside ``allOf: [{$ref}]``, as a bare ``$ref`` takes no siblings. A field whose default
    is null is said the same way: BentoML drops the null of the request bodies and of the
    answers it inlines in the paths (``gate_overridden`` was a string, answered null)."""
    if isinstance(node, list):
        for item in node:
            openapi_3_0_nulls(item)
    if not isinstance(node, dict):
        return
    options = node.get("anyOf")
    if isinstance(options, list) and NULL in options:
        others = [option for option in options if option != NULL]
        del node["anyOf"]
        if len(others) == 1:
            _merge_nullable(node, others[0])
        else:  # several types: 3.0.3 reads nullable beside a type only, so each says it too
            node |= {"anyOf": [_merge_nullable({}, option) for option in others]}
        node["nullable"] = True
    properties = node.get("properties")
    for field in properties.values() if isinstance(properties, dict) else []:
        if isinstance(field, dict) and field.get("default", ...) is None:  # so null is taken
            _merge_nullable(field, {"$ref": field.pop("$ref")} if "$ref" in field else {})
    for value in node.values():
        openapi_3_0_nulls(value)


def _merge_nullable(schema: dict[str, Any], option: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (its own title, description, default kept) as ``option`` or null."""
    if "$ref" in option:
        schema["allOf"] = [option]
    else:
        for key, value in option.items():
            schema.setdefault(key, value)
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]  # an enum without null refuses null
    schema["nullable"] = True
    return schema


def _exclusive_bounds(schema: Any) -> None:
    if isinstance(schema, list):
        for item in schema:
            _exclusive_bounds(item)
    if not isinstance(schema, dict):
        return
    for exclusive, bound in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        value = schema.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[bound], schema[exclusive] = value, True
    for value in schema.values():
        _exclusive_bounds(value)


# /at_risk's request fields whose values come from the batch scores: field -> column
LIST_VALUES = {"segment": "segment", "lifecycle_stage": "lifecycle_stage", "channel": "channel"}
LIST_BOUNDS = {"min_ltv": "ltv", "min_churn": "churn_probability"}


def document_list_values(spec: dict[str, Any], scores: Path) -> None:
    """State what ``/at_risk`` takes from the latest batch scores, read when the document is
    asked for: the list refuses a segment, stage or channel the table does not hold (a typo
    is a 400 naming the known values, not an empty page), a rank or bound on a column it
    lacks, so the document lists exactly the values and columns there are."""
    import pyarrow.parquet as pq

    operation = spec.get("paths", {}).get("/at_risk", {}).get("post", {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    fields = content.get("schema", {}).get("properties", {})
    if not fields or not scores.is_file():
        return
    try:
        names = set(pq.read_schema(scores).names)
        table = pq.read_table(scores, columns=[c for c in LIST_VALUES.values() if c in names])
    except (OSError, ValueError):  # being replaced right now: the document stays generic
        return
    for field, column in LIST_VALUES.items():
        values = table[column].drop_null().unique().to_pylist() if column in names else []
        fields[field]["enum"] = [*sorted(str(v) for v in values), None]
    for field, column in LIST_BOUNDS.items():
        if column not in names:
            fields[field]["enum"] = [None]
    if "where" in fields:
        fields["where"] = _attribute_values(scores, names)
    ranks = fields.get("rank_by", {})
    if "enum" in ranks:  # as the list takes them: return_probability is of churn's column
        from serving.lists import usable_rankings

        usable = usable_rankings(names)
        ranks["enum"] = [choice for choice in ranks["enum"] if choice in usable]


WHERE_VALUES = 1000  # an attribute of more values is not offered to /at_risk's where
# /at_risk's where as its field describes it before a table is read: the demo's values (its
# countries are codes), which a demo server accepts; online_retail's are names ("Spain", which
# the field said, a demo server refused with a 400)
WHERE_EXAMPLES = ({"country": "FR"}, {"country": ["FR", "DE"]})
WHERE_SAID = (
    f"e.g. {json.dumps(WHERE_EXAMPLES[0])} (the demo's countries are codes; online_retail's "
    f'are names: {{"country": "Spain"}}), or any of a list: {json.dumps(WHERE_EXAMPLES[1])}'
)


def _attribute_values(scores: Path, names: set[str]) -> dict[str, Any]:
    """``where``'s schema: each user attribute of the latest batch scores with its values
    (one the table does not hold is a 400 naming the known ones), or null."""
    import pyarrow.parquet as pq

    from lifecycle.list_fields import user_attributes

    attributes = user_attributes(names)
    table = pq.read_table(scores, columns=attributes) if attributes else None
    properties = {}
    example: dict[str, Any] = {}  # the first attribute's commonest value: one the list takes
    for name in attributes:
        counts = table[name].drop_null().value_counts().to_pylist()
        values = sorted(str(count["values"]) for count in counts)
        if 0 < len(values) <= WHERE_VALUES:
            value = {"type": "string", "enum": values}
            properties[name] = {
                "anyOf": [value, {"type": "array", "items": value, "minItems": 1}],
                "description": f"only users whose {name} is this, or any of a list",
            }
            if not example:
                commonest = min(counts, key=lambda count: (-count["counts"], str(count["values"])))
                example = {name: str(commonest["values"])}
    said = f", e.g. {json.dumps(example)}" if example else ""
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "nullable": True,
        "description": f"only users whose attributes have these values{said} (a list: any "
        "of them); the attributes are not returned; null: all",
        **({"example": example} if example else {}),
    }


class ServedInputs:
    """The features the served models read, for the document of ``/score_features``: the
    scorer publishes them on every load and reload (one per process, like the models)."""

    def __init__(self) -> None:
        self.numeric: list[str] = []
        self.categories: dict[str, list[str]] = {}

    def publish(self, bundles: Any) -> None:
        """From the loaded task bundles (``lifecycle.bundle``): numeric names, categories."""
        categories: dict[str, list[str]] = {}
        numeric: set[str] = set()
        for bundle in bundles:
            categories.update({k: list(v) for k, v in bundle.categories.items()})
            numeric.update(n for n in bundle.feature_names if n not in bundle.categories)
        self.numeric, self.categories = sorted(numeric), categories


SERVED_INPUTS = ServedInputs()


def document_feature_inputs(spec: dict[str, Any]) -> None:
    """``FeatureRow.features`` as the service checks it: only the served models' features,
    numbers for numeric ones (never negative for engineered ones), a known category for the
    others, null for unknown; nothing else (BentoML documents any object)."""
    from features.asof import words_only
    from lifecycle.champion_inputs import WORDS_ONLY_WHY
    from serving.schemas import largest, never_negative, whole_number

    row = spec.get("components", {}).get("schemas", {}).get("FeatureRow", {})
    features = row.get("properties", {}).get("features")
    if features is None or not (SERVED_INPUTS.numeric or SERVED_INPUTS.categories):
        return
    properties: dict[str, Any] = {}
    for name in SERVED_INPUTS.numeric:
        properties[name] = {
            "type": "number",
            "nullable": True,
            "description": "a numeric model input in its own unit (days, counts, money in the "
            "dataset's currency, ratios); null: unknown",
        }
        if words_only(name):  # read for the reasons' words, never required
            properties[name]["description"] = f"{WORDS_ONLY_WHY}; optional, never required"
        if never_negative(name):
            properties[name]["minimum"] = 0
        if whole_number(name):
            properties[name]["multipleOf"] = 1
        if largest(name) is not None:
            properties[name]["maximum"] = largest(name)
    for name, known in SERVED_INPUTS.categories.items():
        properties[name] = {
            "type": "string",
            "nullable": True,
            "enum": [*known, None],
            "description": "a categorical model input, one of the known values; null: unknown",
        }
    features.pop("additionalProperties", None)
    features.update(type="object", properties=properties, additionalProperties=False)


def document_known_fields(spec: dict[str, Any]) -> None:
    """Every route refuses a field it does not take (``serving.service.refuse_unknown_fields``):
    its body takes nothing else."""
    for path in spec.get("paths", {}).values():
        operation = path.get("post", {})
        for media in operation.get("requestBody", {}).get("content", {}).values():
            if "properties" in media.get("schema", {}):
                media["schema"]["additionalProperties"] = False


def document_user_limit(spec: dict[str, Any], limit: int) -> None:
    """The users one call may ask for (``serving.max_users_per_request``): more are a 400."""
    for path, field in (("/score", "user_ids"), ("/score_features", "users")):
        operation = spec.get("paths", {}).get(path, {}).get("post", {})
        for media in operation.get("requestBody", {}).get("content", {}).values():
            items = media.get("schema", {}).get("properties", {}).get(field)
            if items is not None:
                items["maxItems"] = limit


def document_request_models(spec: dict[str, Any]) -> None:
    """Each route's body once, under one name: BentoML also writes it among the components
    (``score__Input``, referenced nowhere) without what this document adds (the users limit,
    unknown fields refused, /at_risk's values and exclusive bound), while every route's own
    is titled ``Input``; a client generated from the document had both, the component's
    taking what the service refuses. The component is now the route's body as documented,
    and the body bears its name."""
    schemas = spec.get("components", {}).get("schemas", {})
    for path, item in spec.get("paths", {}).items():
        name = f"{path.strip('/')}__Input"
        content = item.get("post", {}).get("requestBody", {}).get("content", {})
        body = content.get("application/json", {}).get("schema", {})
        if name in schemas and "properties" in body:
            body["title"] = name
            schemas[name] = json.loads(json.dumps(body))


API_DESCRIPTION = (
    "Churn, conversion and LTV scores of every user, with reasons, from the champion models "
    "and the Feast online store; the operators' at-risk list from the batch scores. Every "
    "answer says what it was computed from: as_of (the features' date), model_versions, "
    "horizon_days (each score's window), currency and amounts (money, or purchases or items "
    "counted for a log without money). Reference: docs/serving.md."
)
# BentoML's own component schemas (task status, its error shapes), unused by this service.
BENTOML_SCHEMAS = ("TaskStatusResponse", "InvalidArgument", "NotFound", "InternalServerError")


def document_context(spec: dict[str, Any], settings: Settings) -> None:
    """The document's header (title, the package's version) and what the settings fix at
    service start: every ``risk_band`` states the configured thresholds, in words and as
    ``x-thresholds`` (``serving.high_risk``, ``serving.medium_risk``)."""
    from lifecycle.lineage import code_version

    high, medium = settings.serving.high_risk, settings.serving.medium_risk
    spec["info"] = {  # BentoML's is its own README, version "None"
        "title": "Lifecycle",
        "version": code_version().split("+")[0],  # the package's release
        "description": API_DESCRIPTION,
    }
    schemas = spec.get("components", {}).get("schemas", {})
    text = json.dumps(spec["paths"])
    for name in BENTOML_SCHEMAS:  # answers this service never gives: its errors are Error
        if f'"#/components/schemas/{name}"' not in text:
            schemas.pop(name, None)
    band = {
        "description": f"churn risk band: high when churn_probability >= {high}, medium when "
        f">= {medium}, low below (settings serving.high_risk, serving.medium_risk)",
        "x-thresholds": {"high": high, "medium": medium},
    }
    _describe_bands(spec, band)
    ready = spec.get("paths", {}).get("/readyz", {}).get("get", {})
    if "200" in ready.get("responses", {}):
        ready["responses"]["200"]["description"] = (
            'ready: {"status": "ready", "worker": n, "dataset": served, "warnings": [...]}; '
            "worker is the number (1 to the workers started) of the worker that answered, not "
            "its process id (each is ready for itself), dataset the one "
            "served, a warning names what to fix (batch scores not written by the served "
            "champions: run `lifecycle score-all --dataset <served>`; a champion trained on "
            "data the dataset no longer holds: train its task, or promote the version of this "
            "data it names, where one exists)"
        )


def _describe_bands(node: Any, band: dict[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _describe_bands(item, band)
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get("risk_band"), dict):
        properties["risk_band"].update(band)
    for value in node.values():
        _describe_bands(value, band)


class OpenApiErrors:
    """ASGI middleware: rewrites ``/docs.json`` on its way out with :func:`document_errors`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The service's settings, read once, on the first document."""
        if self._settings is None:
            from lifecycle.settings import load_settings

            self._settings = load_settings()
        return self._settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").endswith("/docs.json"):
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await finish()

        async def finish() -> None:
            body = b"".join(chunks)
            if start.get("status") == 200:
                try:
                    spec = document_errors(json.loads(body), bool(scope.get(AUTH_SCOPE_KEY)))
                    document_list_values(spec, self.settings.workspace.latest_scores)
                    document_feature_inputs(spec)
                    document_known_fields(spec)
                    document_user_limit(spec, self.settings.serving.max_users_per_request)
                    document_context(spec, self.settings)
                    openapi_3_0_nulls(spec)  # null as 3.0 says it, whoever wrote it
                    document_request_models(spec)  # last: copies the bodies as documented
                    body = json.dumps(spec).encode()
                except ValueError:
                    pass
            await send_body(send, start, body)

        await self.app(scope, receive, capture)
