"""Log filtering of the scoring service: a caller's bad input is one line, not a traceback."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from lifecycle.words import counted

FIELD_ERRORS = ("field error", "field errors")
HTTP_LOGGER = "bentoml._internal.server.http_app"  # where BentoML logs a failed request
SERVICE_LOGGER = "lifecycle.serving"  # the service's own lines (auth, promotions, reloads)


class QuietBadInput(logging.Filter):
    """BentoML logs a full traceback for every 400; a caller's bad input deserves one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            record.msg, record.args = (
                f"{record.getMessage()}: 400, {counted(error.error_count(), FIELD_ERRORS)}",
                (),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def show_service_info() -> None:
    """The service's INFO lines reach the server's log: at start, whether API token auth is
    on and why; a champion promoted over HTTP, an alias moved or followed, the registry
    check after start stopped by the server's stop. BentoML's server logging sets the root
    logger to WARNING, which ``lifecycle.serving`` inherited, so none was shown (session 59).
    A few lines an event, none a request. Kept as set where BentoML was asked for another
    level (``--quiet``: ERROR, ``--debug``: DEBUG) or the logger has its own."""
    log = logging.getLogger(SERVICE_LOGGER)
    if log.level == logging.NOTSET and logging.getLogger().level == logging.WARNING:
        log.setLevel(logging.INFO)


def quiet_bad_input() -> None:
    """Install :class:`QuietBadInput` on BentoML's HTTP log, once per process."""
    http_log = logging.getLogger(HTTP_LOGGER)
    if not any(isinstance(f, QuietBadInput) for f in http_log.filters):
        http_log.addFilter(QuietBadInput())
