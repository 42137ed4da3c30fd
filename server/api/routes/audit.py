"""The audit log (admin)."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import Admin, StoreDep, parse_since
from server.api.schemas import AuditRecord

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
def audit_log(store: StoreDep, _u: Admin, since: str = "7d") -> list[AuditRecord]:
    return store.audit_log(parse_since(since))
