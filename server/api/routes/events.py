"""Stored passages (officer, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from contract.topics import ID_PATTERN
from server.api.deps import AuditEntry, Officer, Reason, StoreDep, audited, parse_since
from server.api.schemas import Event
from server.states import AuditAction

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get("")
def list_events(
    store: StoreDep,
    _u: Officer,
    reason: Reason,
    audit: Annotated[AuditEntry, audited(AuditAction.EVENTS, "gate")],
    since: Annotated[str, Query(max_length=64)] = "1h",
    gate: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[Event]:
    audit.detail = {"since": since}
    return store.events(parse_since(since), gate, limit)
