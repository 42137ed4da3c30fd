"""Alerts (officer): list with filters (names, readable evidence, history), acknowledge, close
with a note."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query

from server.api.alert_schemas import AlertOut, NoteIn
from server.api.deps import AuditEntry, Caller, IntId, Officer, StoreDep, audited, parse_since
from server.api.schemas import AlertChange
from server.states import AlertRule, AlertState, AuditAction
from server.store import Store
from server.store.alerts import AlertFilter

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Note = Annotated[NoteIn | None, Body()]


@router.get("")
def alerts(
    store: StoreDep,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.LIST_ALERTS, "state")],
    state: AlertState | None = None,
    rule: AlertRule | None = None,
    person: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> list[AlertOut]:
    """Alerts newest first; ``since``/``until`` as 48h, 7d or an ISO time; ``person`` an id or
    part of a name."""
    f = AlertFilter(rule, state, person or None, since and parse_since(since),
                    until and parse_since(until), limit)  # fmt: skip
    if person:
        audit.detail = {"person": person}
    found = store.named_alerts(f)
    steps = defaultdict(list)
    for s in store.alert_history([a.id for a in found]):
        steps[s.alert_id].append(s)
    return [AlertOut.of(a, steps[a.id]) for a in found]


def _set_state(
    store: Store,
    alert_id: int,
    state: AlertState,
    user: Caller,
    body: NoteIn | None,
    audit: AuditEntry,
) -> AlertChange:
    note = body.note if body else None
    if note:
        audit.detail = {"note": note}
    if not store.set_alert_state(alert_id, state, user.name, note):
        raise HTTPException(404, f"no alert {alert_id}")
    return AlertChange(alert_id=alert_id, state=state, by=user.name)


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    alert_id: IntId,
    store: StoreDep,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.ALERT_ACKNOWLEDGE, "alert_id")],
    body: Note = None,
) -> AlertChange:
    return _set_state(store, alert_id, AlertState.ACKNOWLEDGED, user, body, audit)


@router.post("/{alert_id}/close")
def close(
    alert_id: IntId,
    store: StoreDep,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.ALERT_CLOSE, "alert_id")],
    body: Note = None,
) -> AlertChange:
    return _set_state(store, alert_id, AlertState.CLOSED, user, body, audit)
