"""Visitors inside now (officer, audited): pseudonymous ids, since when, by which gate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from server.api.deps import AuditEntry, Officer, Reason, Server, audited
from server.api.schemas import VisitorInsideOut
from server.states import AuditAction

router = APIRouter(prefix="/api/visitors", tags=["visitors"])


@router.get("/inside")
def visitors_inside(
    app: Server,
    _u: Officer,
    reason: Reason,
    audit: Annotated[AuditEntry, audited(AuditAction.VISITORS_INSIDE)],
) -> list[VisitorInsideOut]:
    inside = [VisitorInsideOut.of(v) for v in app.visitors_inside()]
    audit.detail = {"visitors": len(inside)}
    return inside
