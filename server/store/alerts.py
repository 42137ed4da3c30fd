"""Alerts: one per episode of a rule, then acknowledged and closed by officers.

Repeats merge: a new episode of the same rule and person while that person's alert of the rule
is still open and its latest occurrence is within the merge window is counted on that alert
(``count``, ``last_ts``, the latest evidence) instead of becoming a row of its own; each
occurrence of a merged alert is kept in ``alert_repeats``. An acknowledged, resolved or closed
alert takes no repeats: the next occurrence opens a new alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Select, func, insert, or_, select, update

from server import tables as t
from server.states import AlertRule, AlertState
from server.store.base import Repository, now_utc
from server.store.records import AlertRecord, AlertRepeat, AlertStep, Evidence, NamedAlert

REPEAT_WINDOW = timedelta(minutes=30)  # the default of alerts.repeat_window_min
BULK_MAX = 5000  # alerts one bulk acknowledgement may touch


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list: any of rule, state, person (id, or part of a name), time range
    (an alert is in it when its first occurrence is before ``until`` and its latest at or after
    ``since``), at most ``limit`` from ``offset``; ``upto_id``: none newer than this id;
    ``id``: that one alert only."""

    rule: AlertRule | None = None
    state: AlertState | None = None
    person: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500
    offset: int = 0
    upto_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class BulkAck:
    """What a bulk acknowledgement did: the ids acknowledged (oldest first), and how many open
    alerts it left because they had a new occurrence after the officer's list was made."""

    ids: list[int]
    skipped: int = 0


def _filtered(q: Select, f: AlertFilter) -> Select:
    a, p = t.alerts.c, t.persons.c
    if f.rule:
        q = q.where(a.rule == AlertRule(f.rule).value)
    if f.state:
        q = q.where(a.state == AlertState(f.state).value)
    if f.person:
        like = "%" + f.person.lower().replace("%", "").replace("_", "") + "%"
        q = q.where(or_(a.person_id == f.person, func.lower(p.name).like(like)))
    if f.since:  # in UTC, as stored (SQLite keeps no offset)
        q = q.where(a.last_ts >= f.since.astimezone(UTC))
    if f.until:
        q = q.where(a.created < f.until.astimezone(UTC))
    if f.upto_id is not None:
        q = q.where(a.id <= f.upto_id)
    if f.id is not None:
        q = q.where(a.id == f.id)
    return q


def _utc(ts: datetime) -> datetime:
    """A stored time in UTC (SQLite gives it back without its offset)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _named(*cols) -> Select:  # noqa: ANN002
    a, p = t.alerts, t.persons
    return select(*cols).select_from(a.outerjoin(p, p.c.id == a.c.person_id))


class AlertStore(Repository):
    # Set from ServerConfig.alerts by the app; a test may set it (or pass ``window``).
    repeat_window: timedelta = REPEAT_WINDOW
    # Counts this process's changes to alerts, so that a cached view (the wall's) knows it is old.
    alerts_version: int = 0

    def add_alert(
        self, rule: AlertRule, person_id: str, episode: str, evidence: Evidence
    ) -> int | None:
        """The id of the alert this occurrence was stored as (new or merged into), or None
        when this episode of this rule was stored before."""
        r = self.raise_alert(rule, person_id, episode, evidence)
        return None if r is None else r.id

    def raise_alert(
        self,
        rule: AlertRule,
        person_id: str,
        episode: str,
        evidence: Evidence,
        now: datetime | None = None,
        window: timedelta | None = None,
    ) -> AlertRecord | None:
        """Store an occurrence at ``now``: a new alert (``count`` 1), or counted on the
        person's open alert of ``rule`` whose latest occurrence is within ``window`` of ``now``
        (``count`` > 1); None when this episode was stored before (a re-delivery)."""
        now = (now or now_utc()).astimezone(UTC)
        window = self.repeat_window if window is None else window
        rule_v = AlertRule(rule).value
        a = t.alerts
        with self.engine.begin() as conn:
            if self._known_episode(conn, rule_v, person_id, episode):
                return None
            into = None
            if window > timedelta(0):
                into = conn.execute(
                    select(a)
                    .where(a.c.rule == rule_v, a.c.person_id == person_id,
                           a.c.state == AlertState.OPEN.value, a.c.last_ts >= now - window)
                    .order_by(a.c.id.desc())
                    .limit(1)
                ).first()  # fmt: skip
            if into is not None:
                return self._merge(conn, AlertRecord.of(into), episode, evidence, now)
            stmt = self._insert_ignore(a, "rule", "person_id", "episode").returning(a.c.id)
            new_id = conn.execute(stmt, {
                "rule": rule_v, "person_id": person_id, "episode": episode,
                "state": AlertState.OPEN.value, "evidence": evidence, "created": now,
                "updated": now, "count": 1, "last_ts": now,
            }).scalar()  # fmt: skip
            self.alerts_version += 1
            return None if new_id is None else self._alert(conn, int(new_id))

    def _merge(
        self, conn: Connection, into: AlertRecord, episode: str, evidence: Evidence, now: datetime
    ) -> AlertRecord | None:
        """Count an occurrence on ``into``: its latest time and evidence, each occurrence kept."""
        a, rep = t.alerts, t.alert_repeats
        rows = [{"alert_id": into.id, "episode": episode, "ts": now, "evidence": evidence}]
        if into.count == 1:  # the first occurrence joins the list of repeats
            rows.insert(0, {"alert_id": into.id, "episode": into.episode, "ts": into.created,
                            "evidence": into.evidence})  # fmt: skip
        conn.execute(insert(rep), rows)
        conn.execute(
            update(a)
            .where(a.c.id == into.id)
            .values(count=a.c.count + 1, last_ts=max(into.last_ts, now), evidence=evidence)
        )
        self.alerts_version += 1
        return self._alert(conn, into.id)

    @staticmethod
    def _known_episode(conn: Connection, rule: str, person_id: str, episode: str) -> bool:
        a, rep = t.alerts.c, t.alert_repeats
        own = select(a.id).where(a.rule == rule, a.person_id == person_id, a.episode == episode)
        merged = (
            select(rep.c.alert_id)
            .select_from(rep.join(t.alerts, t.alerts.c.id == rep.c.alert_id))
            .where(a.rule == rule, a.person_id == person_id, rep.c.episode == episode)
        )
        return bool(conn.execute(own.limit(1)).first() or conn.execute(merged.limit(1)).first())

    @staticmethod
    def _alert(conn: Connection, alert_id: int) -> AlertRecord | None:
        row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return AlertRecord.of(row) if row else None

    def alert(self, alert_id: int) -> AlertRecord | None:
        with self.engine.connect() as conn:
            return self._alert(conn, alert_id)

    def alert_repeats(self, alert_id: int) -> list[AlertRepeat]:
        """Every occurrence of a merged alert, oldest first (empty for a single one)."""
        rep = t.alert_repeats
        q = select(rep).where(rep.c.alert_id == alert_id).order_by(rep.c.ts, rep.c.episode)
        with self.engine.connect() as conn:
            return AlertRepeat.all(conn.execute(q))

    def alerts(self, state: AlertState | None = None) -> list[AlertRecord]:
        """Alerts (in one state if given), newest first."""
        q = select(t.alerts).order_by(t.alerts.c.id.desc())
        if state:
            q = q.where(t.alerts.c.state == AlertState(state).value)
        with self.engine.connect() as conn:
            return AlertRecord.all(conn.execute(q))

    def named_alerts(self, f: AlertFilter) -> list[NamedAlert]:
        """Alerts matching ``f``, the latest occurrence first, each with its person's name when
        registered."""
        a = t.alerts
        q = _filtered(_named(*a.c, t.persons.c.name.label("person_name")), f)
        q = q.order_by(a.c.last_ts.desc(), a.c.id.desc()).limit(f.limit).offset(f.offset)
        with self.engine.connect() as conn:
            return NamedAlert.all(conn.execute(q))

    def count_alerts(self, f: AlertFilter) -> tuple[int, int]:
        """How many alerts match ``f`` (its limit and offset aside), and the newest one's id
        (0 for none): a bulk acknowledgement of what was counted goes no further."""
        q = _filtered(_named(func.count(), func.max(t.alerts.c.id)), f)
        with self.engine.connect() as conn:
            n, newest = conn.execute(q).one()
        return int(n or 0), int(newest or 0)

    def acknowledge_alerts(
        self,
        f: AlertFilter | None,
        ids: Sequence[int] | None,
        user: str,
        note: str | None = None,
        upto_ts: datetime | None = None,
    ) -> BulkAck:
        """Acknowledge the open alerts among ``ids`` and/or matching ``f`` (at most BULK_MAX),
        each step in its history. With ``upto_ts`` (when the officer's list was made) an alert
        whose latest occurrence is later is left open and counted as skipped: a repeat merged
        into it since was not seen."""
        a = t.alerts
        q = _filtered(_named(a.c.id, a.c.last_ts), f or AlertFilter()).where(
            a.c.state == AlertState.OPEN.value
        )
        if ids is not None:
            q = q.where(a.c.id.in_(set(ids)))
        now = now_utc()
        upto = upto_ts.astimezone(UTC) if upto_ts is not None else None
        with self.engine.begin() as conn:
            found = conn.execute(q.order_by(a.c.id).limit(BULK_MAX)).all()
            chosen = [int(r.id) for r in found if upto is None or _utc(r.last_ts) <= upto]
            skipped = len(found) - len(chosen)
            if not chosen:
                return BulkAck([], skipped)
            stmt = update(a).where(a.c.id.in_(chosen), a.c.state == AlertState.OPEN.value)
            if upto is not None:  # a repeat merged meanwhile keeps it open
                stmt = stmt.where(a.c.last_ts <= upto)
            done = sorted(int(i) for i in conn.execute(
                stmt.values(state=AlertState.ACKNOWLEDGED.value, updated=now, updated_by=user)
                .returning(a.c.id)
            ).scalars())  # fmt: skip
            if done:
                conn.execute(insert(t.alert_history), [
                    {"alert_id": i, "ts": now, "user": user,
                     "state": AlertState.ACKNOWLEDGED.value, "note": note or None}
                    for i in done
                ])  # fmt: skip
        self.alerts_version += 1
        return BulkAck(done, skipped)

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
        self.alerts_version += 1
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
        self.alerts_version += 1
        return AlertRecord.of(r) if r else None
