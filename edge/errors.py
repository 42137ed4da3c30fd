"""The edge's exception family."""

from __future__ import annotations

import sqlite3

from contract.events import OutboxErrorCode


class EdgeError(Exception):
    """Base of the edge's errors."""


class SourceError(EdgeError):
    """A frame source cannot be opened or read."""


class OutboxFull(EdgeError):
    """The outbox holds its maximum of unacknowledged events; the new event is refused."""


class OutboxError(EdgeError):
    """The outbox's SQLite file failed (a corrupt page, a full disk, a read-only file)."""

    def __init__(self, message: str, code: OutboxErrorCode = "sqlite_error") -> None:
        super().__init__(message)
        self.code: OutboxErrorCode = code


class OutboxCorrupt(OutboxError):
    """The outbox file fails SQLite's integrity check: the edge refuses to start on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "corrupt")


_CODES: dict[str, OutboxErrorCode] = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_CORRUPT": "corrupt",
    "SQLITE_NOTADB": "corrupt",
    "SQLITE_READONLY": "read_only",
    "SQLITE_IOERR": "io_error",
    "SQLITE_CANTOPEN": "io_error",
}


def outbox_error_code(e: sqlite3.Error) -> OutboxErrorCode:
    """A short code for the status from SQLite's error name (extended names by their prefix)."""
    name = getattr(e, "sqlite_errorname", "") or ""
    for prefix, code in _CODES.items():
        if name == prefix or name.startswith(prefix + "_"):
            return code
    return "sqlite_error"
