"""The outbox: one row per alert and channel, delivered in id order per channel, each attempt
recorded. The database is the truth: a new sender on the same database resumes where the last
one stopped, and the rate limit counts the attempts recorded in the last minute."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import JsonValue
from sqlalchemy import and_, delete, func, insert, or_, select, update

from contract.events import Alert
from server import tables as t
from server.states import HIGH_PRIORITY, AlertRule, AlertState
from server.store.base import Repository
from server.store.records import Record, UtcDatetime

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"  # states


class OutboxItem(Record):
    id: int
    channel: str
    alert_id: int | None
    event: str
    delivery_id: str
    message: dict[str, JsonValue]
    state: str
    attempts: int
    next_at: UtcDatetime
    claimed_until: UtcDatetime | None
    created: UtcDatetime
    done: UtcDatetime | None
    last_error: str | None


class Attempt(Record):
    id: int
    outbox_id: int
    channel: str
    ts: UtcDatetime
    status_code: int | None
    errcode: int | None
    outcome: str
    error: str | None
    duration_ms: int


class OutboxStore(Repository):
    def enqueue(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue rows (channel, alert_id, event, delivery_id, message, created); a row whose
        (channel, alert, event) is already queued is skipped. Returns how many were new."""
        if not rows:
            return 0
        o = t.notify_outbox
        stmt = self._insert_ignore(o, "channel", "alert_id", "event").returning(o.c.id)
        n = 0
        with self.engine.begin() as conn:
            for r in rows:
                values = r | {"state": r.get("state", PENDING), "attempts": 0,
                              "next_at": r["created"]}  # fmt: skip
                n += conn.execute(stmt.values(values)).first() is not None
        return n

    def head(self, channel: str) -> OutboxItem | None:
        """The channel's oldest undelivered row: nothing after it goes first."""
        o = t.notify_outbox
        q = (
            select(o)
            .where(o.c.channel == channel, o.c.state == PENDING)
            .order_by(o.c.id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return OutboxItem.of(row) if row else None

    def claim(self, item_id: int, now: datetime, until: datetime) -> bool:
        """Take the row for one attempt, unless another sender holds it (several workers)."""
        o = t.notify_outbox
        with self.engine.begin() as conn:
            n = conn.execute(
                update(o)
                .where(
                    o.c.id == item_id,
                    o.c.state == PENDING,
                    or_(o.c.claimed_until.is_(None), o.c.claimed_until < now),
                )
                .values(claimed_until=until)
            ).rowcount
        return bool(n)

    def record(
        self,
        item: OutboxItem,
        attempt: dict[str, Any],
        state: str,
        next_at: datetime,
        error: str | None,
    ) -> None:
        """One attempt's result and the row's new state, in one transaction."""
        o = t.notify_outbox
        done = attempt["ts"] if state in (DELIVERED, FAILED) else None
        with self.engine.begin() as conn:
            conn.execute(insert(t.notify_attempts).values(outbox_id=item.id, **attempt))
            conn.execute(
                update(o)
                .where(o.c.id == item.id)
                .values(state=state, attempts=o.c.attempts + 1, next_at=next_at,
                        claimed_until=None, done=done, last_error=error)
            )  # fmt: skip

    def give_up(self, item: OutboxItem, now: datetime, reason: str) -> None:
        o = t.notify_outbox
        with self.engine.begin() as conn:
            conn.execute(
                update(o)
                .where(o.c.id == item.id)
                .values(state=FAILED, done=now, claimed_until=None, last_error=reason)
            )

    def fail_unknown(self, known: Sequence[str], now: datetime, reason: str) -> int:
        """Mark pending rows of channels not in ``known`` failed (a channel removed from the
        config): nothing sends them any more, and retention purges them. Returns how many."""
        o = t.notify_outbox
        with self.engine.begin() as conn:
            n = conn.execute(
                update(o)
                .where(o.c.state == PENDING, o.c.channel.not_in(list(known)))
                .values(state=FAILED, done=now, claimed_until=None, last_error=reason)
            ).rowcount
        return n or 0

    def attempts_since(self, channel: str, since: datetime) -> list[datetime]:
        """When the channel's attempts of the window were made, oldest first."""
        a = t.notify_attempts
        q = select(a.c.ts).where(a.c.channel == channel, a.c.ts > since).order_by(a.c.ts)
        with self.engine.connect() as conn:
            return [UtcTs.model_validate({"ts": r.ts}).ts for r in conn.execute(q)]

    def items(self, channel: str | None = None) -> list[OutboxItem]:
        o = t.notify_outbox
        q = select(o).order_by(o.c.id)
        if channel:
            q = q.where(o.c.channel == channel)
        with self.engine.connect() as conn:
            return OutboxItem.all(conn.execute(q))

    def attempts(self, channel: str | None = None) -> list[Attempt]:
        a = t.notify_attempts
        q = select(a).order_by(a.c.id)
        if channel:
            q = q.where(a.c.channel == channel)
        with self.engine.connect() as conn:
            return Attempt.all(conn.execute(q))

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per channel and state."""
        o = t.notify_outbox
        q = select(o.c.channel, o.c.state, func.count()).group_by(o.c.channel, o.c.state)
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for channel, state, n in conn.execute(q):
                out.setdefault(channel, {})[state] = int(n)
        return out

    def recent_open_alerts(self, since: datetime) -> list[Alert]:
        """Open alerts raised since ``since``, oldest first (the start's catch-up)."""
        a = t.alerts
        q = (
            select(a)
            .where(a.c.created >= since, a.c.state == AlertState.OPEN.value)
            .order_by(a.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            Alert(
                alert_id=r.id,
                rule=r.rule,
                person_id=r.person_id,
                created=UtcTs.model_validate({"ts": r.created}).ts,
                evidence=r.evidence,
                priority="high" if AlertRule(r.rule) in HIGH_PRIORITY else "normal",
            )
            for r in rows
        ]

    def purge(self, before: datetime) -> int:
        """Delivered and failed rows finished before ``before``, with their attempts (and a test
        message whose sender died while sending it)."""
        o, a = t.notify_outbox, t.notify_attempts
        old = or_(
            and_(o.c.state.in_([DELIVERED, FAILED]), o.c.done < before),
            and_(o.c.state == SENDING, o.c.created < before),
        )
        with self.engine.begin() as conn:
            conn.execute(delete(a).where(a.c.outbox_id.in_(select(o.c.id).where(old))))
            return conn.execute(delete(o).where(old)).rowcount or 0


class UtcTs(Record):
    ts: UtcDatetime


def window_start(now: datetime) -> datetime:
    return now - timedelta(seconds=60)
