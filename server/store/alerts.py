"""Alerts: one per episode of a rule, then acknowledged and closed by officers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from server import tables as t
from server.states import AlertRule, AlertState
from server.store.base import Repository, now_utc
from server.store.records import AlertRecord, Evidence


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

    def set_alert_state(self, alert_id: int, state: AlertState, user: str) -> bool:
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert_id)
                .values(state=AlertState(state).value, updated=now_utc(), updated_by=user)
            ).rowcount
        return bool(n)

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
