"""The audit log (admin): filter by user, action and time; paged back by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import MAX_INT, Admin, StoreDep, parse_since
from server.api.schemas import AuditRecord
from server.states import AuditAction
from server.store.records import TEXT_PATTERN

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
def audit_log(
    store: StoreDep,
    _u: Admin,
    since: Annotated[str, Query(max_length=64)] = "7d",
    until: Annotated[str | None, Query(max_length=64)] = None,
    user: Annotated[str | None, Query(max_length=64, pattern=TEXT_PATTERN)] = None,
    action: AuditAction | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AuditRecord]:
    """Newest first; the next page: ``before_id`` = the last row's id."""
    return store.audit_log(
        parse_since(since),
        limit,
        user=user or None,
        action=action.value if action else None,
        until=parse_since(until) if until else None,
        before_id=before_id,
    )
