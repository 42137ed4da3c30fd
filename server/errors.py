"""The server's exceptions: what the API answers with 404/400, and the officer CLI's API error."""

from __future__ import annotations


class ServerError(Exception):
    """Base of the server's own errors."""


class NotFound(ServerError, LookupError):
    """A person, search or alert that does not exist."""


class BadRequest(ServerError, ValueError):
    """The request cannot be served as asked; the message says why."""


class ApiError(ServerError):
    """The server answered with an error; exit code 2 with its detail."""
