"""Alerts (officer): list with filters and pages (names, readable evidence, the count of merged
repeats, history), a merged alert's occurrences, acknowledge (one, or several at once), close
with a note. Every change goes to the live hub at once, so that every wall and alerts page
drops or updates the alert without waiting for a refresh."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response

from server.api.alert_schemas import (
    FIRST_DAY,
    LAST_DAY,
    AlertOut,
    AlertRepeatOut,
    BulkAckIn,
    BulkAckOut,
    NoteIn,
    day_start,
)
from server.api.deps import (
    AuditEntry,
    Caller,
    IntId,
    Officer,
    Server,
    StoreDep,
    audited,
    parse_since,
)
from server.api.schemas import AlertChange
from server.live import Hub
from server.states import AlertRule, AlertState, AuditAction
from server.store import Store
from server.store.alerts import AlertFilter
from server.store.base import now_utc
from server.store.records import TEXT_PATTERN
from server.watch.alert_text import summary

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Note = Annotated[NoteIn | None, Body()]
MAX_ID = 2**31 - 1


def alert_filter(
    app: Server,
    state: AlertState | None = None,
    rule: AlertRule | None = None,
    person: Annotated[str | None, Query(max_length=64, pattern=TEXT_PATTERN)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    from_day: Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
    to_day: Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
    upto_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,  # noqa: A002 (the link's name)
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AlertFilter:
    """The list's filters: ``since``/``until`` as 48h, 7d or an ISO time, ``from_day``/``to_day``
    local days (both included), ``person`` an id or part of a name, ``id`` one alert (a pushed
    message's link)."""
    tz = app.cfg.tz
    lows = [t for t in (since and parse_since(since), from_day and day_start(from_day, tz)) if t]
    highs = [t for t in (until and parse_since(until),
                         to_day and day_start(to_day + timedelta(days=1), tz)) if t]  # fmt: skip
    return AlertFilter(rule, state, person or None, max(lows) if lows else None,
                       min(highs) if highs else None, limit, offset, upto_id, id)  # fmt: skip


Filter = Annotated[AlertFilter, Depends(alert_filter)]


def changed(hub: Hub, ids: list[int], state: AlertState) -> None:
    """Tell every open wall and alerts page that these alerts changed state."""
    if ids:
        hub.publish("alert_state", {"ids": ids, "state": state.value})


@router.get("")
def alerts(
    store: StoreDep,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.LIST_ALERTS, "state")],
    f: Filter,
    response: Response,
) -> list[AlertOut]:
    """Alerts, the latest occurrence first, ``limit`` from ``offset``; the headers say how many
    match the filters in all (``X-Total-Count``), the newest one's id (``X-Newest-Id``, the
    ``upto_id`` of a bulk acknowledgement of them) and the server's time before it looked
    (``X-Listed-At``, the acknowledgement's ``upto_ts``: what occurred later was not seen)."""
    listed_at = now_utc()
    if f.person:
        audit.detail = {"person": f.person}
    found = store.named_alerts(f)
    total, newest = store.count_alerts(f)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Newest-Id"] = str(newest)
    response.headers["X-Listed-At"] = listed_at.isoformat()
    steps = defaultdict(list)
    for s in store.alert_history([a.id for a in found]):
        steps[s.alert_id].append(s)
    return [AlertOut.of(a, steps[a.id]) for a in found]


@router.get("/{alert_id}/repeats")
def repeats(
    alert_id: IntId,
    store: StoreDep,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_ALERTS, "alert_id")],
) -> list[AlertRepeatOut]:
    """Every occurrence of a merged alert, oldest first (empty for a single one)."""
    a = store.alert(alert_id)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return [AlertRepeatOut(**r.model_dump(exclude={"alert_id"}),
                           summary=summary(a.rule.value, r.evidence))
            for r in store.alert_repeats(alert_id)]  # fmt: skip


@router.post("/acknowledge")
def acknowledge_many(
    body: BulkAckIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.ALERT_ACKNOWLEDGE_BULK)],
) -> BulkAckOut:
    """Acknowledge the chosen open alerts, or every open alert matching the filters; the
    number acknowledged (alerts already acknowledged or closed are left as they are) and the
    number ``skipped``: open, but with an occurrence after ``upto_ts`` (not yet seen)."""
    f = body.matching.to_filter(app.cfg.tz) if body.matching else None
    r = app.store.acknowledge_alerts(f, body.ids, user.name, body.note, body.upto_ts)
    done = r.ids
    if body.ids and len(body.ids) == 1:  # the row's own button: the alert is the target
        audit.target = str(body.ids[0])
    audit.detail = {"count": len(done), "ids": done, "note": body.note, "skipped": r.skipped,
                    "upto_ts": body.upto_ts.isoformat() if body.upto_ts else None,
                    "matching": body.matching.model_dump(mode="json", exclude_none=True)
                    if body.matching else None}  # fmt: skip
    changed(app.hub, done, AlertState.ACKNOWLEDGED)
    return BulkAckOut(acknowledged=len(done), ids=done, by=user.name, skipped=r.skipped)


def _set_state(
    app: Server,
    alert_id: int,
    state: AlertState,
    user: Caller,
    body: NoteIn | None,
    audit: AuditEntry,
) -> AlertChange:
    store: Store = app.store
    note = body.note if body else None
    if note:
        audit.detail = {"note": note}
    if not store.set_alert_state(alert_id, state, user.name, note):
        raise HTTPException(404, f"no alert {alert_id}")
    changed(app.hub, [alert_id], state)
    return AlertChange(alert_id=alert_id, state=state, by=user.name)


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    alert_id: IntId,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.ALERT_ACKNOWLEDGE, "alert_id")],
    body: Note = None,
) -> AlertChange:
    return _set_state(app, alert_id, AlertState.ACKNOWLEDGED, user, body, audit)


@router.post("/{alert_id}/close")
def close(
    alert_id: IntId,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.ALERT_CLOSE, "alert_id")],
    body: Note = None,
) -> AlertChange:
    return _set_state(app, alert_id, AlertState.CLOSED, user, body, audit)
