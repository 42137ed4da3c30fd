"""Searches for a person and the sightings that answer them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from contract.events import Passage
from server import tables as t
from server.states import SearchState
from server.store.base import Repository, now_utc
from server.store.records import Search, Sighting


@dataclass(frozen=True)
class SightingHit:
    """A sighting just stored, with the person its search looks for (None: a photo search)."""

    sighting: Sighting
    searched_person: str | None


class SearchStore(Repository):
    def add_search(
        self,
        search_id: str,
        *,
        reason: str,
        raised_by: str,
        person_id: str | None = None,
        model_id: str | None = None,
        template: bytes | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.searches).values(
                    id=search_id,
                    person_id=person_id,
                    model_id=model_id,
                    template=template,
                    reason=reason,
                    raised_by=raised_by,
                    state=SearchState.ACTIVE.value,
                    created=now_utc(),
                )
            )

    def search(self, search_id: str) -> Search | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.searches).where(t.searches.c.id == search_id)).first()
        return Search.of(r) if r else None

    def searches(self, state: SearchState | None = None) -> list[Search]:
        """Searches (in one state if given), newest first."""
        q = select(t.searches).order_by(t.searches.c.created.desc())
        if state:
            q = q.where(t.searches.c.state == SearchState(state).value)
        with self.engine.connect() as conn:
            return Search.all(conn.execute(q))

    def close_search(self, search_id: str, user: str) -> bool:
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.searches)
                .where(t.searches.c.id == search_id, t.searches.c.state == SearchState.ACTIVE)
                .values(state=SearchState.CLOSED.value, closed=now_utc(), closed_by=user)
            ).rowcount
        return bool(n)

    def sightings(self, search_id: str) -> list[Sighting]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.sightings)
                .where(t.sightings.c.search_id == search_id)
                .order_by(t.sightings.c.ts)
            )
            return Sighting.all(rows)

    def _add_sightings(self, conn: Connection, new: Sequence[Passage]) -> list[SightingHit]:
        """Store the new passages that answer an active search; returns those stored."""
        answering = [p for p in new if p.search_id]
        if not answering:
            return []
        active = {
            r.id: r.person_id
            for r in conn.execute(
                select(t.searches.c.id, t.searches.c.person_id).where(
                    t.searches.c.id.in_({p.search_id for p in answering}),
                    t.searches.c.state == SearchState.ACTIVE.value,
                )
            )
        }
        rows = [
            p.model_dump(
                include={"search_id", "event_id", "ts", "gate", "camera", "identity", "score"}
            )
            for p in answering
            if p.search_id in active
        ]
        if not rows:
            return []
        stmt = self._insert_ignore(t.sightings, "event_id").returning(*t.sightings.c)
        stored = Sighting.all(conn.execute(stmt, rows))
        return [SightingHit(s, active[s.search_id]) for s in stored]
