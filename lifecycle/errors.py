"""The one base class for errors a user can act on: the CLI prints them without a traceback."""


class UserError(ValueError):
    """Bad input, settings or state; the message says what, where and what was expected."""
