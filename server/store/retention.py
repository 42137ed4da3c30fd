"""Retention: delete what is past its time.

Every table that holds personal data has a rule here or in its own module's purge (the
README's retention table lists them): passages and presence, visitors and their aliases and
matches, the audit log (``purge``); closed searches with their templates, candidates, sightings
and matches, resolved and closed alerts, removed persons, dead letters, expired sessions
(``purge_closed``); evidence pictures (SearchStore.purge_evidence); the gallery that learns
(server/learning/); gallery snapshots (RegistryStore.prune_galleries). On SQLite
(secure_delete on, server/db.py) ``wipe_traces`` then moves the WAL into the file and empties it,
so deleted rows leave no copy in either.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from server import tables as t
from server.states import AlertState, SearchState
from server.store.base import Repository


class RetentionStore(Repository):
    def purge(
        self, now: datetime, visitor_days: float, resident_days: float, audit_days: float
    ) -> dict[str, int]:
        """Delete what is past its retention, in one transaction; rows deleted per kind."""
        visitor_cut = now - timedelta(days=visitor_days)
        with self.engine.begin() as conn:
            v = conn.execute(
                delete(t.events).where(
                    t.events.c.identity_kind != "person", t.events.c.ts < visitor_cut
                )
            ).rowcount
            r = conn.execute(
                delete(t.events).where(
                    t.events.c.identity_kind == "person",
                    t.events.c.ts < now - timedelta(days=resident_days),
                )
            ).rowcount
            vt = conn.execute(
                delete(t.visitors).where(t.visitors.c.last_seen < visitor_cut)
            ).rowcount
            conn.execute(delete(t.visitor_alias).where(t.visitor_alias.c.created < visitor_cut))
            conn.execute(delete(t.visitor_matches).where(t.visitor_matches.c.ts < visitor_cut))
            p = t.presence.c  # where someone is goes with their passages
            conn.execute(delete(t.presence).where(p.kind != "person", p.ts < visitor_cut))
            conn.execute(
                delete(t.presence).where(
                    p.kind == "person", p.ts < now - timedelta(days=resident_days)
                )
            )
            a = conn.execute(
                delete(t.audit).where(t.audit.c.ts < now - timedelta(days=audit_days))
            ).rowcount
        return {"visitor_events": v, "visitors": vt, "person_events": r, "audit": a}

    def purge_closed(
        self,
        now: datetime,
        *,
        closed_search_days: float,
        closed_alert_days: float,
        removed_person_days: float,
        dead_letter_days: float,
    ) -> dict[str, int]:
        """Delete what ended long enough ago, in one transaction; rows deleted per kind.

        A closed search's photo template goes at the first purge after closing; the search with
        its candidates (and their pictures), sightings and look-back matches after
        ``closed_search_days``. An acknowledged (the usual end), resolved or closed alert with its
        history and merged occurrences goes ``closed_alert_days`` after its last change; a removed
        person's row (name, phone...) ``removed_person_days`` after the removal, with anything
        still pointing at it; dead letters ``dead_letter_days`` after they were last seen;
        sessions when they expire."""
        a, p = t.alerts.c, t.persons.c
        with self.engine.begin() as conn:
            templates, ids, candidates, sightings = _purge_searches(
                conn, now - timedelta(days=closed_search_days)
            )
            ended = select(a.id).where(
                a.state.in_((AlertState.ACKNOWLEDGED.value, AlertState.RESOLVED.value,
                             AlertState.CLOSED.value)),  # fmt: skip
                a.updated < now - timedelta(days=closed_alert_days),
            )
            for table in (t.alert_history, t.alert_repeats):
                conn.execute(delete(table).where(table.c.alert_id.in_(ended)))
            alerts = conn.execute(delete(t.alerts).where(a.id.in_(ended))).rowcount
            gone = [
                r.id
                for r in conn.execute(
                    select(p.id).where(
                        p.removed.is_(True), p.updated < now - timedelta(days=removed_person_days)
                    )
                )
            ]
            if gone:
                for table in (t.templates, t.reference_photos, t.review_items,
                              t.review_rejections, t.home_visits, t.passage_faces):  # fmt: skip
                    conn.execute(delete(table).where(table.c.person_id.in_(gone)))
                conn.execute(delete(t.persons).where(p.id.in_(gone)))
            dead = conn.execute(
                delete(t.dead_letters).where(
                    t.dead_letters.c.last_seen < now - timedelta(days=dead_letter_days)
                )
            ).rowcount
            conn.execute(delete(t.sessions).where(t.sessions.c.expires <= now))
        return {
            "search_templates": templates,
            "searches": len(ids),
            "candidates": candidates,
            "sightings": sightings,
            "alerts": alerts,
            "removed_persons": len(gone),
            "dead_letters": dead,
        }

    def wipe_traces(self) -> None:
        """SQLite: copy the WAL into the database file and truncate it, so that rows deleted
        (zeroed by secure_delete) leave no older copy in the WAL. PostgreSQL: nothing (its
        VACUUM reuses the space; see the README)."""
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _purge_searches(conn: Connection, before: datetime) -> tuple[int, list[str], int, int]:
    """Closed searches' photo templates at once; searches closed before ``before`` with their
    candidates (and pictures), sightings and look-back matches. (templates, ids, candidates,
    sightings)"""
    s = t.searches.c
    closed = SearchState.CLOSED.value
    templates = conn.execute(
        update(t.searches).where(s.state == closed, s.template.is_not(None)).values(template=None)
    ).rowcount
    ids = [r.id for r in conn.execute(select(s.id).where(s.state == closed, s.closed < before))]
    if not ids:
        return templates, ids, 0, 0
    cands = select(t.candidates.c.candidate_id).where(t.candidates.c.search_id.in_(ids))
    conn.execute(delete(t.candidate_evidence).where(t.candidate_evidence.c.candidate_id.in_(cands)))
    c, si = t.candidates.c, t.sightings.c
    candidates = conn.execute(delete(t.candidates).where(c.search_id.in_(ids))).rowcount
    sightings = conn.execute(delete(t.sightings).where(si.search_id.in_(ids))).rowcount
    conn.execute(delete(t.visitor_matches).where(t.visitor_matches.c.search_id.in_(ids)))
    conn.execute(delete(t.searches).where(s.id.in_(ids)))
    return templates, ids, candidates, sightings
