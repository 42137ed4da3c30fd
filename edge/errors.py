"""The edge's exception family."""


class EdgeError(Exception):
    """Base of the edge's errors."""


class SourceError(EdgeError):
    """A frame source cannot be opened or read."""


class OutboxFull(EdgeError):
    """The outbox holds its maximum of unacknowledged events; the new event is refused."""


class OutboxError(EdgeError):
    """The outbox's SQLite file failed (a corrupt page, a full disk, a read-only file)."""
