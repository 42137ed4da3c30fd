"""Searches for a person and the sightings that answer them."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from contract.events import Passage, SightingCandidate
from server import tables as t
from server.states import AlertRule, AlertState, SearchState, Verdict
from server.store.base import Repository, now_utc
from server.store.records import AlertRecord, Candidate, EvidenceRecord, Search, Sighting


@dataclass(frozen=True)
class SightingHit:
    """A sighting just stored, with the person its search looks for (None: a photo search)."""

    sighting: Sighting
    searched_person: str | None


class SearchStore(Repository):
    alerts_version: int = 0  # the AlertStore's (server/store/alerts.py): bumped on a change

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

    def close_search(
        self, search_id: str, user: str, note: str | None = None
    ) -> list[AlertRecord] | None:
        """Close an active search and, in the same transaction, resolve its open (or
        acknowledged) sighting alerts: the person was found or the search given up, so the
        alerts no longer ask for anything. Returns the alerts resolved; None when the search was
        not active."""
        now = now_utc()
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.searches)
                .where(t.searches.c.id == search_id, t.searches.c.state == SearchState.ACTIVE)
                .values(
                    state=SearchState.CLOSED.value,
                    closed=now,
                    closed_by=user,
                    close_note=note or None,
                )  # fmt: skip
            ).rowcount
            if not n:
                return None
            resolved = self._resolve_sighting_alerts(conn, search_id, user, note, now)
        if resolved:
            self.alerts_version += 1  # after the commit: the wall's cached answer is old
        return resolved

    def _resolve_sighting_alerts(
        self, conn: Connection, search_id: str, user: str, note: str | None, now: datetime
    ) -> list[AlertRecord]:
        a = t.alerts
        open_ones = conn.execute(
            select(a.c.id, a.c.evidence).where(
                a.c.rule == AlertRule.SIGHTING.value,
                a.c.state.in_([AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value]),
            )
        ).all()
        # The search id lives in the evidence (JSON): filtered here rather than in SQL, the same
        # on SQLite and PostgreSQL; open sighting alerts are few.
        ids = [r.id for r in open_ones if (r.evidence or {}).get("search_id") == search_id]
        for alert_id in ids:
            conn.execute(
                update(a)
                .where(a.c.id == alert_id)
                .values(state=AlertState.RESOLVED.value, updated=now, updated_by=user)
            )
            conn.execute(
                insert(t.alert_history).values(
                    alert_id=alert_id, ts=now, user=user, state=AlertState.RESOLVED.value,
                    note=note or None,
                )
            )  # fmt: skip
        return AlertRecord.all(conn.execute(select(a).where(a.c.id.in_(ids)).order_by(a.c.id)))

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

    def open_search_for(self, person_id: str) -> Search | None:
        """The person's active search (the oldest, should there be more), if any."""
        q = (
            select(t.searches)
            .where(
                t.searches.c.person_id == person_id,
                t.searches.c.state == SearchState.ACTIVE.value,
            )
            .order_by(t.searches.c.created)
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return Search.of(r) if r else None

    def add_candidate(self, c: SightingCandidate, keep_evidence: bool) -> Candidate | None:
        """Store a candidate of an active search (its evidence too if ``keep_evidence``); None
        for a duplicate or a search that is not active."""
        now = now_utc()
        row = c.model_dump(exclude={"schema_version", "site", "evidence"}) | {"received": now}
        with self.engine.begin() as conn:
            active = conn.execute(
                select(t.searches.c.id).where(
                    t.searches.c.id == c.search_id, t.searches.c.state == SearchState.ACTIVE.value
                )
            ).first()
            if active is None:
                return None
            stmt = self._insert_ignore(t.candidates, "candidate_id").returning(*t.candidates.c)
            stored = conn.execute(stmt, row).first()
            if stored is None:
                return None
            keep = keep_evidence and c.evidence is not None
            if keep and c.evidence is not None:
                conn.execute(
                    insert(t.candidate_evidence).values(
                        candidate_id=c.candidate_id,
                        aligned_jpeg=base64.b64decode(c.evidence.aligned_jpeg_b64),
                        context_jpeg=base64.b64decode(c.evidence.context_jpeg_b64),
                        stored=now,
                    )
                )
        return Candidate.model_validate(dict(stored._mapping) | {"has_evidence": keep})

    def _candidates_query(self):  # noqa: ANN202
        has = (
            select(t.candidate_evidence.c.candidate_id)
            .where(t.candidate_evidence.c.candidate_id == t.candidates.c.candidate_id)
            .exists()
        )
        return select(*t.candidates.c, has.label("has_evidence"))

    def candidates(self, search_id: str) -> list[Candidate]:
        """A search's candidates, oldest first, each saying whether its evidence is still kept."""
        q = (
            self._candidates_query()
            .where(t.candidates.c.search_id == search_id)
            .order_by(t.candidates.c.ts)
        )
        with self.engine.connect() as conn:
            return Candidate.all(conn.execute(q))

    def candidate(self, candidate_id: str) -> Candidate | None:
        q = self._candidates_query().where(t.candidates.c.candidate_id == candidate_id)
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return Candidate.of(r) if r else None

    def evidence(self, candidate_id: str) -> EvidenceRecord | None:
        q = select(t.candidate_evidence).where(t.candidate_evidence.c.candidate_id == candidate_id)
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return EvidenceRecord.of(r) if r else None

    def judge_candidate(self, candidate_id: str, verdict: Verdict, user: str) -> bool:
        """Store an officer's verdict (a later one replaces it), with who and when."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.candidates)
                .where(t.candidates.c.candidate_id == candidate_id)
                .values(verdict=Verdict(verdict).value, verdict_by=user, verdict_at=now_utc())
            ).rowcount
        return bool(n)

    def purge_evidence(self, before: datetime) -> int:
        """Delete evidence pictures stored before ``before``; the candidates stay."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(t.candidate_evidence).where(t.candidate_evidence.c.stored < before)
            ).rowcount
