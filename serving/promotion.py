"""``POST /promote``: a version made champion over HTTP, as ``lifecycle promote`` makes it.

The registry's one promotion path (``lifecycle.registry.promote``: the gate, ``force`` and the
reason on the version, the champions log), under the workspace lock, then the reload; the
answer says what the CLI's lines say: a version already champion, one that answers nothing
served (conversion answered as 1 - churn on a log of purchases).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lifecycle.tasks import CHURN, CONVERSION
from serving.errors import ApiError
from serving.schemas import PromoteResponse

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from serving.scorer import Scorer

logger = logging.getLogger("lifecycle.serving")


def promote(
    scorer: Scorer,
    task: str,
    reason: str,
    force: bool = False,
    version: str | None = None,
    accept_definition_change: bool = False,
) -> PromoteResponse:
    """Make ``version`` of the task's model (None: its challenger) the champion, then reload;
    404 for a version the model does not have, 409 when there is no challenger, the gate kept
    the version back and ``force`` is not set, its label definition differs from the
    champion's and ``accept_definition_change`` is not set, or another command (`train`,
    `forget`) holds the workspace lock, as the CLI's; 503 naming the tracking server when it
    does not answer."""
    from lifecycle.challenger import challenger_version
    from lifecycle.errors import UserError
    from lifecycle.registry import UnknownVersion
    from lifecycle.registry import promote as promote_version
    from lifecycle.tracking_http import unreachable
    from lifecycle.workspace_lock import WorkspaceBusy, changing
    from serving.one_event import no_served_change

    settings, recorded = scorer.settings, f"{reason} (POST /promote)"
    before = _answered(scorer).get(task)  # the gate's refusal says promoting it is moot
    try:  # a PromotionError, or the workspace lock's refusal
        with changing(settings.workspace.home, "POST /promote"):
            if version is None:
                version = challenger_version(settings, task, scorer.dataset)
            done = promote_version(
                settings,
                task,
                version,
                recorded,
                scorer.dataset,
                accept_definition_change=accept_definition_change,
                gated_only=not force,
                override='"force": true',
                accept_override='"accept_definition_change": true',
                overrides_joined=", ",
                moot=no_served_change(task, before) if before else None,
            )
    except UnknownVersion as error:
        raise ApiError(404, str(error), ("version",)) from None
    except WorkspaceBusy as busy:  # its folder and pid are the server's, kept in its log
        logger.warning("POST /promote refused: %s", busy)
        raise ApiError(409, busy_answer(busy.command, busy.argv)) from None
    except UserError as error:
        raise ApiError(409, str(error)) from None
    except Exception as error:  # the tracking server away: named, as `lifecycle promote` does
        named = unreachable(settings, error)
        if named is None:
            raise
        moved = getattr(named, "__notes__", [])  # the writes had begun: said so
        said = "; ".join([str(named), *moved]) if moved else f"nothing was done: {named}"
        raise ApiError(503, said) from None
    logger.info(
        "promoted %s v%s to champion (was %s) over HTTP",
        done["model"],
        done["champion"],
        done["previous"],
    )
    try:
        reloaded = scorer.reload()
    except Exception as error:  # the alias moved; the old models keep serving
        raise ApiError(
            503,
            f"{done['model']} champion is now v{done['champion']} (was "
            f"{done['previous']}), but the reload failed and the previous models still "
            f"serve: {error}; retry POST /reload",
        ) from None
    from features.erasure_models import predates_erasure

    # a rollback to the champion moves nothing
    notes = [already_champion(done["champion"])] if done["previous"] == done["champion"] else []
    # as `lifecycle promote` warns: the promotion stands, the note says what it learned from
    erased = predates_erasure(settings, scorer.dataset, task, done["champion"])
    notes += promotion_notes(task, done, erased, _answered(scorer))  # of the reloaded set
    return PromoteResponse(
        task=task,  # type: ignore[arg-type]
        model=done["model"],
        champion=done["champion"],
        previous=done["previous"],
        reason=f"manual: {done['reason']}",  # with a definition change accepted, it says so
        gate_overridden=done["gate_overridden"],
        note="; ".join(notes) or None,
        reload=reloaded,
    )


def busy_answer(command: str | None, argv: Sequence[str] = ()) -> str:
    """The 409 of a promotion while another command changes the server's workspace: what is
    in progress and when to retry, without the server's paths and process ids. A holder
    serving this service (``argv``, its command line) is another POST /promote."""
    from serving.launch import SERVICE

    if SERVICE in argv:
        return (
            "another POST /promote to this service is moving a champion; nothing was done: "
            "retry when it has answered (a promotion takes seconds)"
        )
    running = f"`lifecycle {command}`" if command else "another lifecycle command"
    return (
        f"{running} is changing the models and data on the server; nothing was done: retry "
        "POST /promote when it has finished (a training or refresh takes minutes)"
    )


def already_champion(version: str) -> str:
    """Said of a promotion of the version already champion."""
    return f"v{version} is already the champion; the reason is recorded on it"


def promotion_notes(
    task: str, done: Mapping[str, Any], erased: str | None, answered: Mapping[str, str]
) -> list[str]:
    """What a promotion (``done``: ``lifecycle.registry.promote``'s answer) says beyond its
    headline, as `lifecycle promote`'s lines and POST /promote's note: the erasure its
    version predates (``erased``), that it answers nothing served where the churn champion
    answers the task, and that conversion moved with churn. ``answered``: task -> ``1 -
    churn vN`` (``serving.scoring.answered_by``) after the promotion."""
    from serving.one_event import answers_nothing, changes_with

    notes = [erased] if erased else []
    if (by := answered.get(task)) is not None:
        notes.append(f"v{done['champion']} {answers_nothing(task, by)}, while that holds")
    moved = done["previous"] != done["champion"]  # 1 - churn: conversion moved with churn
    if task == CHURN.name and moved and CONVERSION.name in answered:
        notes.append(changes_with(CONVERSION.name, answered[CONVERSION.name]))
    return notes


def _answered(scorer: Scorer) -> dict[str, str]:
    """:func:`serving.scoring.answered_by` of the champions the scorer serves."""
    from serving.scoring import answered_by

    served = scorer.state
    if served is None:
        return {}
    return answered_by(served.champions.versions, served.champions.kinds)
