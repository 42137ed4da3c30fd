"""Alerts: one per episode of a rule, then acknowledged and closed by officers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, or_, select, update

from server import tables as t
from server.states import AlertRule, AlertState
from server.store.base import Repository, now_utc
from server.store.records import AlertRecord, AlertStep, Evidence, NamedAlert


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list: any of rule, state, person (id, or part of a name), time range."""

    rule: AlertRule | None = None
    state: AlertState | None = None
    person: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500


class AlertStore(Repository):
    def add_alert(
        self, rule: AlertRule, person_id: str, episode: str, evidence: Evidence
    ) -> int | None:
        """A new alert, or None when this episode of this rule already has one."""
        now = now_utc()
        stmt = self._insert_ignore(t.alerts, "rule", "person_id", "episode").returning(
            t.alerts.c.id
        )
        row = {
            "rule": AlertRule(rule).value,
            "person_id": person_id,
            "episode": episode,
            "state": AlertState.OPEN.value,
            "evidence": evidence,
            "created": now,
            "updated": now,
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(stmt, row).scalar()
        return None if new_id is None else int(new_id)

    def alerts(self, state: AlertState | None = None) -> list[AlertRecord]:
        """Alerts (in one state if given), newest first."""
        q = select(t.alerts).order_by(t.alerts.c.id.desc())
        if state:
            q = q.where(t.alerts.c.state == AlertState(state).value)
        with self.engine.connect() as conn:
            return AlertRecord.all(conn.execute(q))

    def named_alerts(self, f: AlertFilter) -> list[NamedAlert]:
        """Alerts matching ``f``, newest first, each with its person's name when registered."""
        a, p = t.alerts, t.persons
        q = (
            select(*a.c, p.c.name.label("person_name"))
            .select_from(a.outerjoin(p, p.c.id == a.c.person_id))
            .order_by(a.c.id.desc())
            .limit(f.limit)
        )
        if f.rule:
            q = q.where(a.c.rule == AlertRule(f.rule).value)
        if f.state:
            q = q.where(a.c.state == AlertState(f.state).value)
        if f.person:
            like = "%" + f.person.lower().replace("%", "").replace("_", "") + "%"
            q = q.where(or_(a.c.person_id == f.person, func.lower(p.c.name).like(like)))
        if f.since:
            q = q.where(a.c.created >= f.since)
        if f.until:
            q = q.where(a.c.created < f.until)
        with self.engine.connect() as conn:
            return NamedAlert.all(conn.execute(q))

    def set_alert_state(
        self, alert_id: int, state: AlertState, user: str, note: str | None = None
    ) -> bool:
        """Move the alert to ``state``; the step (who, when, note) goes to its history."""
        now = now_utc()
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(state=AlertState(state).value, updated=now, updated_by=user)
            ).rowcount
            if n:
                conn.execute(
                    insert(t.alert_history).values(
                        alert_id=alert_id, ts=now, user=user, state=AlertState(state).value,
                        note=note or None,
                    )
                )  # fmt: skip
        return bool(n)

    def alert_history(self, alert_ids: Sequence[int]) -> list[AlertStep]:
        """The officers' steps on these alerts, oldest first."""
        if not alert_ids:
            return []
        h = t.alert_history
        q = select(h).where(h.c.alert_id.in_(set(alert_ids))).order_by(h.c.id)
        with self.engine.connect() as conn:
            return AlertStep.all(conn.execute(q))

    def open_alerts(
        self, rule: AlertRule, person_ids: Sequence[str] | None = None
    ) -> list[AlertRecord]:
        """The not yet closed alerts of ``rule`` (for these persons if given), oldest first."""
        if person_ids is not None and not person_ids:
            return []
        q = (
            select(t.alerts)
            .where(
                t.alerts.c.rule == AlertRule(rule).value,
                t.alerts.c.state.in_([AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value]),
            )
            .order_by(t.alerts.c.id)
        )
        if person_ids is not None:
            q = q.where(t.alerts.c.person_id.in_(set(person_ids)))
        with self.engine.connect() as conn:
            return AlertRecord.all(conn.execute(q))

    def resolve_alert(self, alert_id: int, evidence: Evidence) -> AlertRecord | None:
        """Mark an alert resolved by itself, its evidence extended; None if already closed."""
        with self.engine.begin() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
            if row is None or row.state in (AlertState.CLOSED, AlertState.RESOLVED):
                return None
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(
                    state=AlertState.RESOLVED.value,
                    evidence=dict(row.evidence) | evidence,
                    updated=now_utc(),
                    updated_by="system",
                )
            )
            r = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return AlertRecord.of(r) if r else None
