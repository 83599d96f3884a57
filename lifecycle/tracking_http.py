"""MLflow's HTTP requests to a tracking server: bounded retries and timeout (a training's
writes get more), and a failed request said in one line naming ``tracking.uri``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from lifecycle.registry import RegistryError
    from lifecycle.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

# MLflow reads these at each request; a value lifecycle did not set is the user's own.
HTTP_VARIABLES = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
# What lifecycle set them to (JSON), so that its child processes tell them from the user's.
SET_BY_LIFECYCLE = "_LIFECYCLE_MLFLOW_HTTP"
_writing = 0  # open :func:`writing` blocks: a client made inside one keeps their retries
_silent = False  # a training's request got no answer: its later requests try once


def http_requests(settings: Settings) -> None:
    """Bound MLflow's HTTP retries and timeout (read by MLflow at each request) by the
    ``tracking`` settings: its defaults waited minutes on a tracking server that was down.
    A variable the user set (``MLFLOW_HTTP_REQUEST_TIMEOUT=300`` for a slow proxy) is kept."""
    import json
    import os

    ours = _set_by_lifecycle()
    tracking = settings.tracking
    retries = 0 if _silent else tracking.write_retries if _writing else tracking.request_retries
    for variable, value in zip(
        HTTP_VARIABLES, (retries, tracking.request_timeout_seconds), strict=True
    ):
        if os.environ.get(variable, ours.get(variable)) == ours.get(variable):
            os.environ[variable] = ours[variable] = str(value)
    os.environ[SET_BY_LIFECYCLE] = json.dumps(ours)


def _set_by_lifecycle() -> dict[str, str]:
    """The MLflow variables lifecycle set, and to what (``SET_BY_LIFECYCLE``)."""
    import json
    import os

    try:
        return dict(json.loads(os.environ.get(SET_BY_LIFECYCLE, "{}")))
    except (ValueError, TypeError):
        return {}


@contextmanager
def writing(settings: Settings) -> Iterator[None]:
    """A training's runs, models, tags and aliases written with ``tracking.write_retries``;
    the variables are then exactly as before (the process's: one training at a time)."""
    import os

    global _writing, _silent
    before = {v: os.environ.get(v) for v in (*HTTP_VARIABLES, SET_BY_LIFECYCLE)}
    _writing += 1
    try:
        http_requests(settings)
        yield
    finally:
        _writing -= 1
        _silent = _silent and _writing > 0
        for variable, value in before.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def went_silent(error: BaseException) -> None:
    """Called where a training meets an error before it cleans up: when it is a request
    the tracking server never answered (its retries spent), the training's later requests
    (MLflow ending the run as failed, the staged champions withheld) try once. Each retried
    as long again: a train whose server stopped mid-fit failed after 3 min 5 s, three
    requests of ~62 s. A retry count the user set (MLFLOW_HTTP_REQUEST_MAX_RETRIES) is kept."""
    import json
    import os

    global _silent
    if not _writing or not isinstance(error, Exception) or not no_answer(error):
        return
    _silent = True
    ours = _set_by_lifecycle()
    variable = HTTP_VARIABLES[0]
    if variable in ours and os.environ.get(variable) == ours[variable]:
        os.environ[variable] = ours[variable] = "0"
        os.environ[SET_BY_LIFECYCLE] = json.dumps(ours)


def training_writes(
    train: Callable[Concatenate[Settings, P], R],
) -> Callable[Concatenate[Settings, P], R]:
    """``train`` (a training's entry: settings first) within :func:`writing`: its runs,
    models, gate tags and alias moves, all of them, get ``tracking.write_retries``."""
    import functools

    @functools.wraps(train)
    def writes(settings: Settings, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with writing(settings):
            return train(settings, *args, **kwargs)

    return writes


def failed_request(error: Exception) -> bool:
    """Whether ``error`` is MLflow's HTTP request to the tracking server that failed: no
    answer, an answer that is no MLflow error (a proxy's 401 or 502), or a refusal in
    MLflow's own words (:func:`refused`); not "no such model"."""
    return _no_mlflow_answer(error) or refused(error) is not None


def server_failed(error: Exception) -> bool:
    """Whether MLflow's ``error`` is the tracking server's failure, not its "no such model or
    version": :func:`failed_request`, or an HTTP 5xx (its database failing)."""
    status = getattr(error, "get_http_status_code", lambda: 0)()
    return failed_request(error) or status >= 500


def _no_mlflow_answer(error: Exception) -> bool:
    """MLflow's failed request without an MLflow error body: no answer, or a proxy's page."""
    text = str(error)
    return "API request to" in text and " failed with " in text


REFUSING = frozenset({401, 403})  # a tracking server refusing the user its credentials name


def refused(error: Exception) -> str | None:
    """The tracking server's refusal in MLflow's error JSON (``RestException``: MLflow auth's
    or a gateway's ``PERMISSION_DENIED`` 403, ``UNAUTHENTICATED`` 401) as "HTTP 403
    PERMISSION_DENIED: its message", or in MLflow auth's plain text (:func:`_plain_refusal`);
    None for any other error ("no such model" included)."""
    import sys

    # an error of MLflow's only where MLflow was imported: no import on another error's path
    rest = getattr(sys.modules.get("mlflow.exceptions"), "RestException", None)
    if rest is None or not isinstance(error, rest):
        return _plain_refusal(error)
    status = error.get_http_status_code()
    if status not in REFUSING:
        return None
    said = " ".join(str(error.json.get("message") or "").split())[:200]
    code = str(error.json.get("error_code") or status)
    return f"HTTP {status} {code}" + (f": {said}" if said else "")


def _plain_refusal(error: Exception) -> str | None:
    """MLflow's own auth (``mlflow server --app-name basic-auth``) refuses in plain text: 403
    "Permission denied", 401 "You are not authenticated. Please see ..." (its first sentence
    kept). A 401 or 403 page (HTML: a proxy's) stays an HTTP error to check with any proxy."""
    text = str(error)
    status = _status(text) if _no_mlflow_answer(error) else None
    if status is None or int(status) not in REFUSING or "Response body: " not in text:
        return None
    body = " ".join(text.split("Response body: ", 1)[1].strip(" '").split())
    if "<" in body:
        return None
    said = body.split(". ", 1)[0].rstrip(".")[:200]
    return f"HTTP {status}" + (f": {said}" if said else "")


def _request_of(error: BaseException) -> tuple[str, str] | None:
    """The method and path of MLflow's request ``error`` answers (from the frame of MLflow's
    ``verify_rest_response``, which the error's message does not name); None if not found."""
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code.co_name == "verify_rest_response":
            response = frame.f_locals.get("response")
            request = getattr(response, "request", None)
            method, path = getattr(request, "method", None), getattr(request, "path_url", None)
            if isinstance(method, str) and isinstance(path, str):
                return method, path.split("?", 1)[0]
        trace = trace.tb_next
    return None


def _status(text: str) -> str | None:
    """The HTTP status a failed request's message names (None: no answer came)."""
    found = re.search(r"failed with error code (\d{3})|too many (\d{3}) error responses", text)
    return (found.group(1) or found.group(2)) if found else None


def no_answer(error: Exception) -> bool:
    """Whether ``error`` is MLflow's request the tracking server never answered: refused,
    timed out, retries spent (not an HTTP error status, a proxy's 502)."""
    return _no_mlflow_answer(error) and _status(str(error)) is None


def unreachable(settings: Settings, error: Exception) -> RegistryError | None:
    """A one-line error naming the tracking server when ``error`` is MLflow's failed HTTP
    request to it: no answer (refused, timed out, retries spent) or an HTTP error status;
    None for any other error. The error's notes (what a training undid) are kept."""
    from lifecycle.registry import RegistryError, tracking_uri

    if not failed_request(error):
        return None
    text = str(error)
    where = f"the tracking server at {tracking_uri(settings)} (tracking.uri)"
    status = _status(text)
    if (refusal := refused(error)) is not None:
        named = RegistryError(f"{where} {_refusal_line(error, refusal)}")
    elif status is not None:
        body = text.split("Response body: ", 1)[1] if "Response body: " in text else ""
        body = " ".join(re.sub(r"<[^>]*>", " ", body).strip(" '").split())  # a proxy's page
        said = f" ({body[:120]})" if body else ""
        named = RegistryError(
            f"{where} answered HTTP {status}{said}; check its "
            "address, its credentials (MLFLOW_TRACKING_TOKEN, or "
            "MLFLOW_TRACKING_USERNAME and _PASSWORD) and any proxy in front of it, then run the command again"
        )
    elif (late := re.search(r"Read timed out\. \(read timeout=([\d.]+)\)", text)) is not None:
        named = RegistryError(_slow_line(where, error, float(late.group(1))))
    else:
        cause = text.split(" failed with ", 1)[1].split(". To increase", 1)[0]
        cause = re.sub(r"\(Caused by .*", "", cause).strip()[:200]
        named = RegistryError(
            f"{where} did not answer ({cause}); start it or fix tracking.uri, then run the "
            "command again"
        )
    for note in getattr(error, "__notes__", []):
        named.add_note(note)
    return named


def _timeout_setting() -> str:
    """The setting that bounds a tracking server's answer to one request: the user's own
    MLFLOW_HTTP_REQUEST_TIMEOUT when set, else ``tracking.request_timeout_seconds``."""
    import os

    variable = HTTP_VARIABLES[1]
    users = os.environ.get(variable)
    if users is not None and users != _set_by_lifecycle().get(variable):
        return variable
    return "tracking.request_timeout_seconds"


def _slow_line(where: str, error: Exception, seconds: float) -> str:
    """A server that took the request and did not answer it within its timeout (each try):
    alive but slow, or stuck; said as 'did not answer (...); start it', it named no timeout
    and no setting (a server answering in 2 s, the timeout 1 s)."""
    url = re.search(r"API request to (\S+) failed", str(error))
    path = re.sub(r"^https?://[^/]+", "", url.group(1)) if url else ""
    asked = f"{path}: " if path else ""
    return (
        f"{where} did not answer within {seconds:g} s ({asked}read timed out, each try); "
        f"for a server that answers slower, raise {_timeout_setting()}; a stuck one, restart; "
        "then run the command again"
    )


def _refusal_line(error: Exception, refusal: str) -> str:
    """What the tracking server refused: the login (401: no credentials, or theirs wrong) or
    a write, a read (403: the request named when MLflow's frames tell it) of the user the
    credentials name, its own code and message, and which credentials to set."""
    import os

    request = _request_of(error)
    asked = f"{request[0]} {request[1]}: " if request else ""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if refusal.split()[1].rstrip(":") == "401":
        if user:
            whose, wrong = f" of user '{user}'", "the user or its password is wrong"
        elif token:
            whose, wrong = " with MLFLOW_TRACKING_TOKEN", "the token is wrong or has expired"
        else:
            whose, wrong = "", "no credentials were given"
        return (
            f"refused the login{whose} ({asked}{refusal}): {wrong}; set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) to those of a user allowed "
            "to read and write there, then run the command again"
        )
    what = "the request" if request is None else "the read" if request[0] == "GET" else "the write"
    by = f" by user '{user}'" if user else ""
    return f"refused {what}{by} ({asked}{refusal}); {AS_ALLOWED}"


AS_ALLOWED = (
    "run the command again as a user allowed to read and write there "
    "(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)"
)
NEW_VERSION = "POST /api/2.0/mlflow/model-versions/create"  # a training's registration


def foreseen_refusal(settings: Settings, user: str, why: str, task: str) -> RegistryError:
    """The refusal of a training's model version that MLflow's auth told before the fit, in
    the words of one it answered (:func:`_refusal_line`): it came after the fit."""
    from lifecycle.registry import RegistryError, tracking_uri

    return RegistryError(
        f"the tracking server at {tracking_uri(settings)} (tracking.uri) refuses the write by "
        f"user '{user}' ({NEW_VERSION}: {why}); {AS_ALLOWED}; nothing was logged: no run of "
        f"{task}, no model version"
    )


def registry_error(settings: Settings, error: Exception) -> Exception:
    """``error``, or when it is a tracking server's silence or HTTP error, :func:`unreachable`'s
    line."""
    return unreachable(settings, error) or error


_answered: dict[str, float] = {}  # tracking server -> when it last answered a probe (monotonic)
ANSWERED_LATELY_SECONDS = 60.0  # a server that answered this recently is not asked again


def check_answers(settings: Settings) -> None:
    """Refuse at once a tracking server that takes connections and never answers (a hung
    server): MLflow's first request waited ``request_timeout_seconds`` a try (`train churn`
    and `models` failed after 46 s, a training's writes up to 92 s). GET /health (MLflow
    servers answer it) within ``answer_timeout_seconds``; any answer, an HTTP error too, or
    a failure other than a timeout (refused: MLflow's retries carry a restart) leaves the
    request to MLflow and its retries. A request timeout
    the user set (``MLFLOW_HTTP_REQUEST_TIMEOUT=300`` for a slow proxy) is the probe's too."""
    import contextlib
    import os
    import time

    import requests

    from lifecycle.registry import RegistryError, tracking_uri

    uri = tracking_uri(settings)
    now = time.monotonic()
    bounded_by = "tracking.answer_timeout_seconds"  # the setting its timeout is, said
    if not uri.startswith(("http://", "https://")) or now - _answered.get(uri, -1e9) < (
        ANSWERED_LATELY_SECONDS
    ):
        return
    tracking, variable = settings.tracking, HTTP_VARIABLES[1]
    seconds: float = min(tracking.answer_timeout_seconds, tracking.request_timeout_seconds)
    if tracking.request_timeout_seconds < tracking.answer_timeout_seconds:
        bounded_by = "tracking.request_timeout_seconds"  # raising the other changed nothing
    users = os.environ.get(variable)
    if users is not None and users != _set_by_lifecycle().get(variable):
        with contextlib.suppress(ValueError):  # MLflow's own requests say what is wrong
            seconds, bounded_by = float(users), variable
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=seconds).close()
    except requests.Timeout as error:
        how = (
            "no connection"
            if isinstance(error, requests.ConnectTimeout)
            else "it took the connection and sent nothing back"
        )
        raise RegistryError(
            f"the tracking server at {uri} (tracking.uri) did not answer within {seconds:g} s "
            f"({how}: GET /health timed out); check that the server is running and not stuck "
            "(restart it) or fix tracking.uri, then run the command again; for a server that "
            f"answers slower, raise {bounded_by}"
        ) from None
    except requests.RequestException:
        return
    _answered[uri] = time.monotonic()
