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


class Stopped(KeyboardInterrupt):
    """A stop asked by a signal other than Ctrl-C (a scheduler's SIGTERM), met as Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# A command stopped mid-way exits 128 + the signal's number (130 Ctrl-C, 143 SIGTERM).
STOP_EXIT_BASE = 128


# SIGTERM's number once received within :func:`sigterm_stops` (cleared as a block starts)
_STOP_ASKED: list[int] = []


def stop_signal(error: BaseException) -> int:
    """The signal a stop asked for (:func:`interrupted`): SIGTERM's :class:`Stopped`,
    else Ctrl-C's SIGINT."""
    import signal

    return int(getattr(error, "signum", _STOP_ASKED[-1] if _STOP_ASKED else signal.SIGINT))


def stop_words(signum: int) -> tuple[str, int]:
    """How a command stopped by ``signum`` says it ('stopped (SIGTERM)'), and its exit status."""
    import signal

    return f"stopped ({signal.Signals(signum).name})", STOP_EXIT_BASE + signum


def interrupted(error: BaseException) -> bool:
    """Whether ``error`` is a stop asked for: Ctrl-C (or :class:`Stopped`), or DuckDB's answer
    to SIGINT (or to ``interrupt()``) mid-query."""
    mid_query = type(error).__name__ == "InterruptException" or (
        isinstance(error, RuntimeError) and str(error) == "Query interrupted"
    )
    return isinstance(error, KeyboardInterrupt) or mid_query


def stopped_by(error: BaseException) -> bool:
    """Whether ``error`` ends a command as its stop: an interrupt (:func:`interrupted`), or
    any error raised after SIGTERM came within :func:`sigterm_stops` (:func:`stop_asked`)."""
    return interrupted(error) or stop_asked()


def stop_asked() -> bool:
    """Whether SIGTERM came within :func:`sigterm_stops`: an error raised since is the stop's
    even when a library made it its own (pydantic-core, building a schema as MLflow was
    imported, raised SchemaError '... Stopped: 15': refresh ended in a traceback, no JSON)."""
    return bool(_STOP_ASKED)


@contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within the block, SIGTERM (a scheduler's stop) raises :class:`Stopped` as Ctrl-C raises
    KeyboardInterrupt, so the command ends as it would on Ctrl-C (outside the main thread,
    where no handler can be set, nothing changes)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        _STOP_ASKED.append(signum)
        raise Stopped(signum)

    _STOP_ASKED.clear()
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
