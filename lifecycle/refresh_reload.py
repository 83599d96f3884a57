"""The reload step of `lifecycle refresh`: a running service of the refreshed dataset is told
to load what the refresh changed (``--reload-url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def check_reload_url(url: str | None) -> str | None:
    """``--reload-url`` as an http(s) URL with a host (and a port that is one), refused in one
    line before anything runs: a typo was only found by the reload, after the training."""
    from urllib.parse import urlsplit

    if url is None:
        return None
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # 'http://[::1', a port that is no number
        usable = False
    if not usable:
        raise UserError(
            f"{url!r} is not the service's http:// or https:// address (e.g. http://127.0.0.1:3000)"
        )
    return url


def reload_service(settings: Settings, url: str, served_before: dict[str, str]) -> dict[str, Any]:
    """POST /reload, when the service serves this refresh's dataset (its /readyz says which);
    previous versions and changed tasks are those of this refresh (before its training
    promoted anything), not the worker's, which may have followed already."""
    import httpx

    headers = {}
    token = settings.serving.admin_token
    if token is not None and token.get_secret_value():
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    try:
        ready = httpx.get(f"{url.rstrip('/')}/readyz", timeout=30)
        _require_same_dataset(settings.dataset, url, _json(ready))
        response = httpx.post(f"{url.rstrip('/')}/reload", headers=headers, timeout=120)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise UserError(f"reload of the service at {url} failed: {error}") from None
    if response.status_code != 200:
        raise UserError(
            f"reload of the service at {url} answered {response.status_code}: {response.text[:200]}"
        )
    answer = _json(response)
    if answer is None:  # another server at that address
        raise UserError(
            f"reload of the service at {url} answered 200 without the service's JSON "
            f"({response.text[:80]!r}): is --reload-url the lifecycle service's address?"
        )
    _require_same_dataset(settings.dataset, url, answer)  # another started there meanwhile
    now = answer.get("model_versions", {})
    return {
        **answer,
        "previous_versions": served_before,
        "changed": sorted(
            t for t in set(now) | set(served_before) if now.get(t) != served_before.get(t)
        ),
    }


def _json(response: Any) -> dict[str, Any] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _require_same_dataset(dataset: str, url: str, answer: dict[str, Any] | None) -> None:
    """Refuse a service of another dataset: its reload would say that dataset's champions
    were this refresh's (a service that does not name its dataset is taken at its word)."""
    served = (answer or {}).get("dataset")
    if served and served != dataset:
        raise UserError(
            f"the service at {url} serves dataset {served}, not {dataset}: not reloaded; give "
            f"--reload-url the address of the service of dataset {dataset} (started with "
            f"`lifecycle serve --dataset {dataset}`)"
        )


def served_now(settings: Settings, mlflow_client: Any) -> dict[str, str]:
    """Task -> what the registry's champions answer with, as /score names it: a conversion
    the churn champion answers is ``1 - churn vN`` (``serving.scoring.answering_versions``),
    so that its own promotion is no change to a reload."""
    from lifecycle import registry
    from serving.scoring import churn_answers

    champions = registry.champion_versions(mlflow_client, settings.dataset)
    return champions | churn_answers(settings, settings.dataset, champions)
