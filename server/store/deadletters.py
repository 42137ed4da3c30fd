"""Messages ingest refused or could not store, set aside with the reason and the payload's head.

A dead letter keeps the first ``PREFIX_BYTES`` of the message with the SHA-256 and size of the
whole (enough to see what went wrong; a 100 MB message costs 2 KB), the same payload again
counts up instead of adding a row, and the table holds at most ``max_rows`` (oldest out). They are
purged with the visitors' passages (retention.visitor_days): a refused passage may be anyone's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, select

from server import tables as t
from server.store.base import Repository
from server.store.records import DeadLetter

ERROR_MAX = 2000  # characters of the error kept with a dead letter
PREFIX_BYTES = 2048  # bytes of the payload kept
DEFAULT_MAX_ROWS = 10_000


@dataclass(frozen=True)
class Refused:
    """One message to set aside: where it came from, why, and its bytes as they arrived.

    ``payload`` may already be a cut prefix of a message too large to read whole (the bus's size
    check); ``size`` is then the message's real size and ``sha256`` may be given for it."""

    received: datetime
    kind: Literal["passage", "status", "message"]  # message: of another topic (oversized)
    topic: str
    error: str
    payload: bytes
    size: int | None = None
    sha256: str | None = None


class DeadLetterStore(Repository):
    dead_letter_max_rows = DEFAULT_MAX_ROWS

    def add_dead_letters(self, refused: Sequence[Refused]) -> None:
        """Store the refused messages in one transaction: new payloads as rows, repeats as
        counts; then the oldest rows beyond ``dead_letter_max_rows`` go."""
        if not refused:
            return
        rows: dict[str, dict] = {}
        for r in refused:
            sha = r.sha256 or hashlib.sha256(r.payload).hexdigest()
            if sha in rows:
                rows[sha]["count"] += 1
                rows[sha]["last_seen"] = max(rows[sha]["last_seen"], r.received)
                continue
            rows[sha] = {
                "received": r.received,
                "kind": r.kind,
                "topic": r.topic[:300],
                "error": r.error[:ERROR_MAX],
                "payload": r.payload[:PREFIX_BYTES],
                "sha256": sha,
                "size": r.size if r.size is not None else len(r.payload),
                "count": 1,
                "last_seen": r.received,
            }
        stmt = self._insert(t.dead_letters).values(list(rows.values()))
        c = t.dead_letters.c
        stmt = stmt.on_conflict_do_update(
            index_elements=["sha256"],
            set_={
                "count": c.count + stmt.excluded["count"],
                "last_seen": func.max(c.last_seen, stmt.excluded["last_seen"])
                if self.dialect == "sqlite"
                else func.greatest(c.last_seen, stmt.excluded["last_seen"]),
            },
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
            self._cap_dead_letters(conn)

    def _cap_dead_letters(self, conn) -> int:  # noqa: ANN001
        """Delete the rows beyond the cap, least recently seen first."""
        c = t.dead_letters.c
        n = conn.execute(select(func.count()).select_from(t.dead_letters)).scalar_one()
        if n <= self.dead_letter_max_rows:
            return 0
        oldest = select(c.id).order_by(c.last_seen, c.id).limit(n - self.dead_letter_max_rows)
        return conn.execute(delete(t.dead_letters).where(c.id.in_(oldest))).rowcount

    def purge_dead_letters(self, before: datetime) -> int:
        """Delete the dead letters last seen before ``before``."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(t.dead_letters).where(t.dead_letters.c.last_seen < before)
            ).rowcount

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recently seen dead letters first."""
        c = t.dead_letters.c
        q = select(t.dead_letters).order_by(c.last_seen.desc(), c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return DeadLetter.all(conn.execute(q))

    def count_dead_letters(self) -> int:
        """Rows (distinct payloads) in the dead-letter table."""
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(t.dead_letters)
            return int(conn.execute(q).scalar_one())
