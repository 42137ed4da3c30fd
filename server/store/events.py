"""Passages: idempotent insert, visitors, listings and the per-identity reads of trajectories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from contract.events import Passage
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Event, PassageRow, Visitor
from server.store.visitors import alias_group

PASSAGE_COLS = tuple(t.events.c[name] for name in PassageRow.model_fields)
# The passage's fields that are columns (site and schema version are not stored).
STORED_FIELDS = frozenset(Passage.model_fields) & frozenset(t.events.c.keys())


class EventStore(Repository):
    def _add_events(self, conn: Connection, passages: Sequence[Passage]) -> list[Passage]:
        """Insert by event id, idempotently; returns the passages that were new."""
        if not passages:
            return []
        received = now_utc()
        rows = [p.model_dump(include=set(STORED_FIELDS)) | {"received": received} for p in passages]
        stmt = self._insert_ignore(t.events, "event_id").returning(t.events.c.event_id)
        new_ids = set(conn.execute(stmt, rows).scalars().all())
        # A batch may hold one passage twice (an edge re-sent it before its ack): new once.
        new = list({p.event_id: p for p in reversed(passages) if p.event_id in new_ids}.values())
        new.reverse()
        self._touch_visitors(conn, [p for p in new if p.identity_kind == "visitor"])
        return new

    def _touch_visitors(self, conn: Connection, seen: Sequence[Passage]) -> None:
        """Keep first/last seen and a passage count per visitor id."""
        if not seen:
            return
        by_id: dict[str, list[datetime]] = {}
        for p in seen:
            assert p.identity is not None
            by_id.setdefault(p.identity, []).append(p.ts)
        greatest = func.max if self.dialect == "sqlite" else func.greatest
        for vid, times in by_id.items():
            stmt = self._insert(t.visitors).values(
                id=vid, first_seen=min(times), last_seen=max(times), passages=len(times)
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "last_seen": greatest(t.visitors.c.last_seen, stmt.excluded.last_seen),
                    "passages": t.visitors.c.passages + stmt.excluded.passages,
                },
            )
            conn.execute(stmt)

    def visitor(self, visitor_id: str) -> Visitor | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.visitors).where(t.visitors.c.id == visitor_id)).first()
        return Visitor.of(r) if r else None

    def events(self, since: datetime, gate: str | None = None, limit: int = 500) -> list[Event]:
        """Passages since ``since`` (of one gate if named), newest first."""
        q = select(t.events).where(t.events.c.ts >= since)
        if gate:
            q = q.where(t.events.c.gate == gate)
        with self.engine.connect() as conn:
            return Event.all(conn.execute(q.order_by(t.events.c.ts.desc()).limit(limit)))

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def counts_by_role(self, since: datetime) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.events.c.role, func.count().label("n"))
                .where(t.events.c.ts >= since)
                .group_by(t.events.c.role)
            ).all()
        return {r.role: int(r.n) for r in rows}

    def passages(
        self, identity: str, since: datetime, until: datetime | None = None
    ) -> list[PassageRow]:
        """The identity's passages in [since, until), oldest first (index: identity, ts); a
        visitor's include those of the ids merged with it."""
        cond = [t.events.c.ts >= since]
        if until is not None:
            cond.append(t.events.c.ts < until)
        with self.engine.connect() as conn:
            cond.append(t.events.c.identity.in_(alias_group(conn, identity)))
            return PassageRow.all(
                conn.execute(
                    select(*PASSAGE_COLS).where(and_(*cond)).order_by(t.events.c.ts, t.events.c.id)
                )
            )

    def last_passage(self, identity: str, before: datetime | None = None) -> PassageRow | None:
        """The identity's newest passage (before ``before`` if given)."""
        with self.engine.connect() as conn:
            q = select(*PASSAGE_COLS).where(t.events.c.identity.in_(alias_group(conn, identity)))
            if before is not None:
                q = q.where(t.events.c.ts < before)
            r = conn.execute(
                q.order_by(t.events.c.ts.desc(), t.events.c.id.desc()).limit(1)
            ).first()
        return PassageRow.of(r) if r else None

    def last_passages(self, identities: Sequence[str]) -> dict[str, PassageRow]:
        """The newest passage of each identity, in one query."""
        if not identities:
            return {}
        latest = (
            select(t.events.c.identity, func.max(t.events.c.ts).label("ts"))
            .where(t.events.c.identity.in_(identities))
            .group_by(t.events.c.identity)
            .subquery()
        )
        q = select(*PASSAGE_COLS).join(
            latest, and_(t.events.c.identity == latest.c.identity, t.events.c.ts == latest.c.ts)
        )
        with self.engine.connect() as conn:
            rows = PassageRow.all(conn.execute(q))
        return {p.identity: p for p in rows if p.identity is not None}

    def out_passages_since(self, identities: Sequence[str], since: datetime) -> list[PassageRow]:
        if not identities:
            return []
        with self.engine.connect() as conn:
            return PassageRow.all(
                conn.execute(
                    select(*PASSAGE_COLS).where(
                        t.events.c.identity.in_(identities),
                        t.events.c.direction == "out",
                        t.events.c.ts >= since,
                    )
                )
            )
