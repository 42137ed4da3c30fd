"""The server's exceptions: what the API answers with 404/400, and the officer CLI's API error."""

from __future__ import annotations


class ServerError(Exception):
    """Base of the server's own errors; ``key`` and ``values`` name its catalogue text (the
    pages show it in their language, server/api/keyed.py)."""

    def __init__(self, *args: object, key: str | None = None, **values: object) -> None:
        super().__init__(*args)
        self.key = key
        self.values = values


class NotFound(ServerError, LookupError):
    """A person, search or alert that does not exist."""

    @classmethod
    def person(cls, person_id: str) -> NotFound:
        """ "no such person: <id>", with its catalogue key."""
        return cls(f"no such person: {person_id}", key="error.k.no_such_person", id=person_id)


class BadRequest(ServerError, ValueError):
    """The request cannot be served as asked; the message says why."""


class ApiError(ServerError):
    """The server answered with an error; exit code 2 with its detail."""
