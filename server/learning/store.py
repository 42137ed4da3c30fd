"""The learning tables: gate captures and their faces, review items, rejections, gate templates
(with provenance) and the reference photos officers compare against (read only here)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from contract.events import GateCapture
from models.perperson import GallerySize
from server import tables as t
from server.learning.records import (
    CaptureRow,
    Rejection,
    ReviewRow,
    TemplateRow,
    VisitorCapture,
    vector,
)
from server.states import GATE_SOURCES, ReviewKind, ReviewState, TemplateSource
from server.store.base import Repository, now_utc
from server.store.records import as_utc

T, C, R = t.templates.c, t.captures.c, t.review_items.c


class LearningStore(Repository):
    # -- captures ----------------------------------------------------------------------------

    def add_capture(self, c: GateCapture, outcome: str) -> bool:
        """Store a capture and its faces by capture id; False when it was stored before."""
        now = now_utc()
        row = c.model_dump(exclude={"schema_version", "site", "kind", "face", "template"})
        row |= {"template": np.asarray(c.template, "<f4").tobytes(), "dim": len(c.template),
                "outcome": outcome, "received": now}  # fmt: skip
        with self.engine.begin() as conn:
            n = conn.execute(self._insert_ignore(t.captures, "capture_id").values(**row)).rowcount
            if not n:
                return False
            if c.purpose != "review":
                return True  # a learn capture's face is never shown to anyone: not kept
            conn.execute(
                insert(t.capture_faces).values(
                    capture_id=c.capture_id,
                    aligned_jpeg=base64.b64decode(c.face.aligned_jpeg_b64),
                    context_jpeg=base64.b64decode(c.face.context_jpeg_b64),
                    stored=now,
                )
            )
        return True

    def drop_faces(self, capture_id: str) -> None:
        """Delete a capture's pictures (no review item will show them)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.capture_faces).where(t.capture_faces.c.capture_id == capture_id))

    def set_outcome(self, capture_id: str, outcome: str) -> None:
        with self.engine.begin() as conn:
            q = update(t.captures).where(C.capture_id == capture_id).values(outcome=outcome)
            conn.execute(q)

    def capture(self, capture_id: str) -> CaptureRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.captures).where(C.capture_id == capture_id)).first()
        return CaptureRow.of(r) if r else None

    def capture_face(self, capture_id: str, picture: str) -> bytes | None:
        f = t.capture_faces.c
        col = f.aligned_jpeg if picture == "aligned" else f.context_jpeg
        with self.engine.connect() as conn:
            return conn.execute(
                select(col).where(t.capture_faces.c.capture_id == capture_id)
            ).scalar()

    def learned_between(self, person_id: str, start: datetime, end: datetime) -> int:
        """Captures of the person learned automatically and received in [start, end) (the
        server's clock: a gate's back-dated captures cannot spread over several days)."""
        q = select(func.count()).where(
            C.person_id == person_id, C.outcome == "learned", C.received >= start, C.received < end
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def visitor_captures(self, since: datetime) -> list[VisitorCapture]:
        """Review captures since ``since`` of passages named as visitors (ids ``v-...``)."""
        q = select(C.capture_id, C.identity, C.person_id, C.score).where(
            C.purpose == "review", C.ts >= since, C.identity.like("v-%")
        )
        with self.engine.connect() as conn:
            return [VisitorCapture(r.capture_id, r.identity, r.person_id, r.score)
                    for r in conn.execute(q)]  # fmt: skip

    def visitor_passage_times(
        self, visitor_ids: Iterable[str], since: datetime
    ) -> dict[str, list[datetime]]:
        """When each visitor id passed a camera since ``since``."""
        ids = sorted(set(visitor_ids))
        out: dict[str, list[datetime]] = {v: [] for v in ids}
        if not ids:
            return out
        q = select(t.events.c.identity, t.events.c.ts).where(
            t.events.c.identity.in_(ids), t.events.c.ts >= since
        )
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                out[r.identity].append(as_utc(r.ts))
        return out

    # -- templates ---------------------------------------------------------------------------

    def person_templates(self, person_id: str) -> list[TemplateRow]:
        q = select(t.templates).where(T.person_id == person_id).order_by(T.id)
        with self.engine.connect() as conn:
            return TemplateRow.all(conn.execute(q))

    def gallery_size(self) -> GallerySize:
        """Persons not removed and their template counts: the size the edges' gallery has
        (about), counted per person as the edges count it."""
        q = (
            select(func.count())
            .select_from(t.templates.join(t.persons, t.persons.c.id == T.person_id))
            .where(t.persons.c.removed.is_(False))
            .group_by(T.person_id)
        )
        with self.engine.connect() as conn:
            return GallerySize.of_counts(int(n) for n in conn.execute(q).scalars())

    @staticmethod
    def _add_gate_template(
        conn: Connection, c: CaptureRow, source: TemplateSource, cap: int, by: str | None
    ) -> int:
        """Add the capture's template; the person's oldest gate templates go first when at cap."""
        gate_ids = conn.execute(
            select(T.id)
            .where(T.person_id == c.person_id, T.source.in_([s.value for s in GATE_SOURCES]))
            .order_by(T.created, T.id)
        ).scalars().all()
        drop = list(gate_ids[: max(0, len(gate_ids) - cap + 1)])
        if drop:
            conn.execute(delete(t.templates).where(T.id.in_(drop)))
        return int(
            conn.execute(
                insert(t.templates).values(
                    person_id=c.person_id, embedding=c.template, dim=c.dim, model_id=c.model_id,
                    quality=None, created=now_utc(), source=source.value, gate=c.gate,
                    camera=c.camera, captured_at=c.ts, confirmed_by=by, capture_id=c.capture_id,
                )  # fmt: skip
            ).inserted_primary_key[0]
        )

    def learn(self, c: CaptureRow, cap: int) -> int:
        """Add an automatically learned template and record the capture's outcome, at once."""
        with self.engine.begin() as conn:
            tid = self._add_gate_template(conn, c, TemplateSource.GATE_AUTO, cap, None)
            conn.execute(
                update(t.captures).where(C.capture_id == c.capture_id).values(outcome="learned")
            )
        return tid

    def remove_template(
        self, person_id: str, template_id: int, by: str | None = None
    ) -> TemplateRow | None:
        """Delete one template; a gate template removed by someone is remembered as a rejection
        (the same face is not learned or asked about again)."""
        q = select(t.templates).where(T.id == template_id, T.person_id == person_id)
        with self.engine.begin() as conn:
            r = conn.execute(q).first()
            if r is None:
                return None
            conn.execute(delete(t.templates).where(T.id == template_id))
            if by is not None and r.source != TemplateSource.ENROLLMENT.value:
                conn.execute(
                    insert(t.review_rejections).values(
                        person_id=person_id, visitor_id=None, template=r.embedding, dim=r.dim,
                        created=now_utc(), rejected_by=by,
                    )  # fmt: skip
                )
        return TemplateRow.of(r)

    def reference_photo(self, person_id: str) -> bytes | None:
        """The person's reference photo (JPEG), if the desk uploaded one."""
        q = select(t.reference_photos.c.jpeg).where(t.reference_photos.c.person_id == person_id)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    # -- review items ------------------------------------------------------------------------

    def rejections(self, person_id: str) -> list[Rejection]:
        rj = t.review_rejections.c
        q = select(rj.person_id, rj.visitor_id, rj.template).where(rj.person_id == person_id)
        with self.engine.connect() as conn:
            return [Rejection(r.person_id, r.visitor_id, vector(r.template))
                    for r in conn.execute(q)]  # fmt: skip

    def open_item(self, person_id: str, visitor_id: str | None) -> int | None:
        """The open item for this person and visitor id (any open item of the person when the
        capture carries no visitor id)."""
        q = select(R.id).where(R.person_id == person_id, R.state == ReviewState.OPEN.value)
        if visitor_id is not None:
            q = q.where(R.visitor_id == visitor_id)
        with self.engine.connect() as conn:
            return conn.execute(q.order_by(R.id).limit(1)).scalar()

    def confirmed_pair(self, person_id: str, visitor_id: str) -> bool:
        """An officer confirmed this visitor id as this person already."""
        q = select(R.id).where(
            R.person_id == person_id,
            R.visitor_id == visitor_id,
            R.state == ReviewState.CONFIRMED.value,
        )
        with self.engine.connect() as conn:
            return conn.execute(q.limit(1)).first() is not None

    def add_item(self, kind: ReviewKind, c: CaptureRow, visitor_id: str | None) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(t.review_items).values(
                        kind=kind.value, person_id=c.person_id, capture_id=c.capture_id,
                        visitor_id=visitor_id, score=c.score, state=ReviewState.OPEN.value,
                        created=now_utc(),
                    )  # fmt: skip
                ).inserted_primary_key[0]
            )

    def upgrade_item(self, item_id: int, kind: ReviewKind, c: CaptureRow) -> None:
        """An open item becomes ``kind`` and shows ``c`` (a better capture of the same pair)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.review_items)
                .where(R.id == item_id)
                .values(kind=kind.value, capture_id=c.capture_id, score=c.score)
            )

    def _items_query(self):  # noqa: ANN202
        p, f, ref = t.persons.c, t.capture_faces.c, t.reference_photos.c
        has_face = select(f.capture_id).where(f.capture_id == R.capture_id).exists()
        has_ref = select(ref.person_id).where(ref.person_id == R.person_id).exists()
        return (
            select(
                *t.review_items.c, p.name.label("person_name"), p.building, p.unit,
                C.gate, C.camera, C.ts, has_face.label("has_face"), has_ref.label("has_reference"),
            )  # fmt: skip
            .join(t.persons, p.id == R.person_id)
            .join(t.captures, C.capture_id == R.capture_id)
        )

    def items(self, state: ReviewState | None, limit: int) -> list[ReviewRow]:
        """Review items, oldest first when open (a queue), newest first otherwise."""
        q = self._items_query()
        if state is not None:
            q = q.where(R.state == state.value)
        q = q.order_by(R.id if state is ReviewState.OPEN else R.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return ReviewRow.all(conn.execute(q))

    def open_count(self) -> int:
        q = select(func.count()).where(R.state == ReviewState.OPEN.value)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def item(self, item_id: int) -> ReviewRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(self._items_query().where(R.id == item_id)).first()
        return ReviewRow.of(r) if r else None

    def confirm(self, item_id: int, c: CaptureRow, by: str, cap: int) -> int | None:
        """The officer's yes: the capture becomes a template; None when no longer open."""
        with self.engine.begin() as conn:
            if not self._close(conn, item_id, ReviewState.CONFIRMED, by):
                return None
            tid = self._add_gate_template(conn, c, TemplateSource.GATE_CONFIRMED, cap, by)
            conn.execute(update(t.review_items).where(R.id == item_id).values(template_id=tid))
        return tid

    def reject(self, item_id: int, c: CaptureRow, visitor_id: str | None, by: str) -> bool:
        """The officer's no: the pair (and the face's template) is remembered."""
        with self.engine.begin() as conn:
            if not self._close(conn, item_id, ReviewState.REJECTED, by):
                return False
            conn.execute(
                insert(t.review_rejections).values(
                    person_id=c.person_id, visitor_id=visitor_id, template=c.template, dim=c.dim,
                    created=now_utc(), rejected_by=by,
                )  # fmt: skip
            )
        return True

    @staticmethod
    def _close(conn: Connection, item_id: int, state: ReviewState, by: str) -> bool:
        return bool(
            conn.execute(
                update(t.review_items)
                .where(R.id == item_id, R.state == ReviewState.OPEN.value)
                .values(state=state.value, decided_by=by, decided_at=now_utc())
            ).rowcount
        )

    # -- retention ---------------------------------------------------------------------------

    def purge(
        self, now: datetime, capture_days: float, review_days: float, rejection_days: float
    ) -> dict[str, int]:
        """Captures no item needs after ``capture_days``; items (decided or not) with their
        captures after ``review_days``; rejections after ``rejection_days``."""
        item_cut = now - timedelta(days=review_days)
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.review_items).where(R.created < item_cut)).rowcount
            needed = select(R.capture_id)
            stale = select(C.capture_id).where(
                C.received < now - timedelta(days=capture_days), C.capture_id.not_in(needed)
            )
            faces = conn.execute(
                delete(t.capture_faces).where(t.capture_faces.c.capture_id.in_(stale))
            ).rowcount
            caps = conn.execute(delete(t.captures).where(C.capture_id.in_(stale))).rowcount
            rj = conn.execute(
                delete(t.review_rejections).where(
                    t.review_rejections.c.created < now - timedelta(days=rejection_days)
                )
            ).rowcount
        return {"review_items": gone, "captures": caps, "capture_faces": faces, "rejections": rj}
