"""API users (admin): add, list, revoke, rotate a token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException

from server.api.deps import Admin, AuditEntry, Id, Server, StoreDep, audited
from server.api.schemas import NewUser, UserIn, UserOut, UserRevoked
from server.states import AuditAction
from server.store import now_utc
from server.store.users import UserExists

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", status_code=201, responses={409: {"description": "the name is taken"}})
def add_user(
    body: UserIn,
    app: Server,
    _u: Admin,
    audit: Annotated[AuditEntry, audited(AuditAction.ADD_USER)],
) -> NewUser:
    expires = now_utc() + timedelta(days=body.expires_days or app.cfg.http.token_days)
    try:
        token = app.store.add_user(body.name, body.role, expires=expires)
    except UserExists as e:
        raise HTTPException(409, f"{e}; revoke it or rotate its token instead") from e
    audit.target, audit.detail = body.name, {"role": body.role.value}
    return NewUser(name=body.name, role=body.role, token=token, expires=expires)


@router.get("")
def list_users(
    store: StoreDep,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_USERS)],
) -> list[UserOut]:
    return [UserOut.model_validate(u.model_dump()) for u in store.users()]


@router.delete("/{name}")
def revoke_user(
    name: Id,
    store: StoreDep,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.REVOKE_USER, "name")],
) -> UserRevoked:
    if not store.revoke_user(name):
        raise HTTPException(404, f"no user {name}")
    return UserRevoked(revoked=name)


@router.post("/{name}/token")
def rotate_token(
    name: Id,
    app: Server,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.ROTATE_TOKEN, "name")],
) -> NewUser:
    expires = now_utc() + timedelta(days=app.cfg.http.token_days)
    token = app.store.rotate_token(name, expires)
    user = next((u for u in app.store.users() if u.name == name), None)
    if token is None or user is None:
        raise HTTPException(404, f"no user {name}")
    return NewUser(name=name, role=user.role, token=token, expires=expires)
