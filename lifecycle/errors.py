"""The one base class for errors a user can act on: the CLI prints them without a traceback,
and the options of the command running, which those messages may suggest."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class UserError(ValueError):
    """Bad input, settings or state; the message says what, where and what was expected."""


# The options of the command running (None: no command, as in a library call): a message
# that suggests an option names it only when the user can give it there (`import` has no
# --time-format, `refresh` no --map).
_COMMAND_OPTIONS: ContextVar[frozenset[str] | None] = ContextVar("command_options", default=None)


@contextmanager
def command_options(options: Iterable[str] | None) -> Iterator[None]:
    """Messages made inside name the options of a command with ``options`` (None: any)."""
    token = _COMMAND_OPTIONS.set(None if options is None else frozenset(options))
    try:
        yield
    finally:
        _COMMAND_OPTIONS.reset(token)


def offered(*options: str) -> list[str]:
    """Of ``options``, those the running command has (all of them outside a command)."""
    known = _COMMAND_OPTIONS.get()
    return [option for option in options if known is None or option in known]
