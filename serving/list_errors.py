"""A list that cannot be made as asked: the error, said as the CLI's options say it, with
the parts a caller needs to say it as its own fields (the HTTP API's /at_risk)."""

from __future__ import annotations

import json

from lifecycle.errors import UserError


class ListError(UserError):
    """A list cannot be made as asked; the message names the option and the known values.

    ``field`` is the parameter at fault, by its name in this module (a :class:`Filters`
    field or a keyword of the list function), so a caller maps it to its own option or
    request field without reading the message; so is ``suggested`` (parameter, value, why),
    the one to give instead, said after ``said`` as the CLI's option here. ``given`` is the
    value refused and ``attribute`` the user attribute of a ``where`` (``said`` begins
    ``--stage asleep: `` or ``--where country=Mars: ``), so a caller says them its own way.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        suggested: tuple[str, str, str] | None = None,
        given: str | float | None = None,
        attribute: str | None = None,
    ) -> None:
        hint = (
            ""
            if suggested is None
            else f" ({suggested[2]}: {option_of(suggested[0])} {suggested[1]})"
        )
        super().__init__(message + hint)
        self.field = field
        self.said = message
        self.suggested = suggested
        self.given = given
        self.attribute = attribute

    def shown(self) -> str | None:
        """The value refused as ``said`` shows it after the option (``country=Mars``)."""
        if self.given is None:
            return None
        value = self.given if isinstance(self.given, str) else f"{self.given:g}"
        return value if self.attribute is None else f"{self.attribute}={value}"

    def problem(self) -> str:
        """``said`` after the option and the value refused (``unknown; this scores table
        has ...``): what a caller naming its own field and value says after them."""
        option, shown = option_of(self.field or ""), self.shown()
        leads = [f"{option} {shown}: "] if shown is not None else []
        for lead in (*leads, f"{option}: ", f"{option} "):
            if self.said.startswith(lead):
                return self.said[len(lead) :]
        return self.said

    def in_json(self) -> str | None:
        """The value refused as a JSON request writes it (``"Mars"``, ``-5``)."""
        if self.given is None:
            return None
        return json.dumps(self.given) if isinstance(self.given, str) else f"{self.given:g}"


def option_of(name: str) -> str:
    """The CLI option of a list parameter, as error messages name it."""
    return "--" + name.replace("_", "-")
