"""Alerts (officer): list, acknowledge, close."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException

from server.api.deps import AuditEntry, Caller, IntId, Officer, StoreDep, audited
from server.api.schemas import AlertChange, AlertRecord
from server.states import AlertState, AuditAction
from server.store import Store

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("")
def alerts(
    store: StoreDep,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_ALERTS, "state")],
    state: AlertState | None = None,
) -> list[AlertRecord]:
    return store.alerts(state)


def _set_state(store: Store, alert_id: int, state: AlertState, user: Caller) -> AlertChange:
    if not store.set_alert_state(alert_id, state, user.name):
        raise HTTPException(404, f"no alert {alert_id}")
    return AlertChange(alert_id=alert_id, state=state, by=user.name)


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    alert_id: IntId,
    store: StoreDep,
    user: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.ALERT_ACKNOWLEDGE, "alert_id")],
) -> AlertChange:
    return _set_state(store, alert_id, AlertState.ACKNOWLEDGED, user)


@router.post("/{alert_id}/close")
def close(
    alert_id: IntId,
    store: StoreDep,
    user: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.ALERT_CLOSE, "alert_id")],
) -> AlertChange:
    return _set_state(store, alert_id, AlertState.CLOSED, user)
