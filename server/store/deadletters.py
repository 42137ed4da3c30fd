"""Messages ingest refused or could not store, set aside with the reason and the raw payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, insert, select

from server import tables as t
from server.store.base import Repository
from server.store.records import DeadLetter

ERROR_MAX = 2000  # characters of the error kept with a dead letter


@dataclass(frozen=True)
class Refused:
    """One message to set aside: where it came from, why, and its bytes as they arrived."""

    received: datetime
    kind: Literal["passage", "status", "message"]  # message: of another topic (oversized)
    topic: str
    error: str
    payload: bytes


class DeadLetterStore(Repository):
    def add_dead_letters(self, refused: Sequence[Refused]) -> None:
        """Store the refused messages in one transaction."""
        if not refused:
            return
        rows = [
            {
                "received": r.received,
                "kind": r.kind,
                "topic": r.topic[:300],
                "error": r.error[:ERROR_MAX],
                "payload": r.payload,
            }
            for r in refused
        ]
        with self.engine.begin() as conn:
            conn.execute(insert(t.dead_letters), rows)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        q = select(t.dead_letters).order_by(t.dead_letters.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return DeadLetter.all(conn.execute(q))

    def count_dead_letters(self) -> int:
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(t.dead_letters)
            return int(conn.execute(q).scalar_one())
