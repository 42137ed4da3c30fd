"""API users (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from server.api.deps import Admin, AuditEntry, StoreDep, audited
from server.api.schemas import NewUser, UserIn
from server.states import AuditAction

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", status_code=201)
def add_user(
    body: UserIn,
    store: StoreDep,
    _u: Admin,
    audit: Annotated[AuditEntry, audited(AuditAction.ADD_USER)],
) -> NewUser:
    token = store.add_user(body.name, body.role)
    audit.target, audit.detail = body.name, {"role": body.role.value}
    return NewUser(name=body.name, role=body.role, token=token)
