"""Retention: delete what is past its time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from server import tables as t
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
