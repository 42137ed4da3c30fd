"""The database side of server/faces/: the passage asked about, the pushed watchlist crops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from contract.faces import PassageFace
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Gate, as_utc


@dataclass(frozen=True)
class PassageWhere:
    """Where and when a stored passage was, and who it named."""

    event_id: str
    gate: str
    camera: str
    ts: datetime
    identity: str | None
    role: str


class FaceStore(Repository):
    def passage_where(self, event_id: str) -> PassageWhere | None:
        e = t.events.c
        q = select(e.event_id, e.gate, e.camera, e.ts, e.identity, e.role).where(
            e.event_id == event_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return PassageWhere(row.event_id, row.gate, row.camera, as_utc(row.ts), row.identity,
                            row.role)  # fmt: skip

    def gate_state(self, gate: str, camera: str) -> str | None:
        """online / offline as the camera's edge last said (its will says offline), or None."""
        g = t.gates.c
        q = select(g.state).where(g.gate == gate, g.camera == camera)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def gate(self, gate: str, camera: str) -> Gate | None:
        """The camera's row (its last status and when it came), or None."""
        q = select(t.gates).where(t.gates.c.gate == gate, t.gates.c.camera == camera)
        with self.engine.connect() as conn:
            rows = Gate.all(conn.execute(q))
        return rows[0] if rows else None

    def add_pushed_face(self, face: PassageFace) -> bool:
        """Keep a watchlist passage's crop; False if it is held already."""
        row = {"event_id": face.event_id, "gate": face.gate, "camera": face.camera,
               "person_id": face.person_id, "ts": face.ts, "jpeg": face.jpeg(),
               "stored": now_utc()}  # fmt: skip
        with self.engine.begin() as conn:
            n = conn.execute(self._insert_ignore(t.passage_faces, "event_id"), row).rowcount
        return bool(n)

    def pushed_face(self, event_id: str) -> bytes | None:
        q = select(t.passage_faces.c.jpeg).where(t.passage_faces.c.event_id == event_id)
        with self.engine.connect() as conn:
            data = conn.execute(q).scalar()
        return bytes(data) if data is not None else None

    def purge_pushed_faces(self, before: datetime) -> int:
        """Delete the pushed crops stored before ``before``."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(t.passage_faces).where(t.passage_faces.c.stored < before)
            ).rowcount
