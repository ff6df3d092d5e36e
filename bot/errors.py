"""Domain errors. Each message is written for the person who caused it."""

from __future__ import annotations


class CxError(Exception):
    """Something the user asked for cannot be done; `str(exc)` says why."""


class NotAllowed(CxError):
    """The caller's role or relation to the case does not permit this."""


class NotFound(CxError):
    """No such case, member or team."""


class InvalidState(CxError):
    """The case is not in a state where this makes sense."""


class BadInput(CxError):
    """An argument is missing or malformed; the message names it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ConfigError(ValueError):
    """The workspace YAML or a setting is wrong; the message names the key or the variable."""
