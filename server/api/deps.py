"""What routes depend on: the server, its store, the caller and their role, the audit entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, JsonValue

from server.app import ServerApp
from server.states import AuditAction, UserRole
from server.store import Store, now_utc


def get_server(request: Request) -> ServerApp:
    return request.app.state.server


def get_store(request: Request) -> Store:
    return request.app.state.server.store


Server = Annotated[ServerApp, Depends(get_server)]
StoreDep = Annotated[Store, Depends(get_store)]


class Caller(BaseModel):
    """The user a request's token belongs to."""

    name: str
    role: UserRole


def current_user(
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Caller:
    # ?token= exists only because a browser's EventSource cannot send headers.
    raw = authorization[7:] if authorization and authorization.startswith("Bearer ") else token
    if not raw:
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'")
    u = store.user_by_token(raw)
    if u is None:
        raise HTTPException(401, "unknown or disabled token")
    return Caller(name=u.name, role=u.role)


def require(*roles: UserRole) -> Callable[[Caller], Caller]:
    """A dependency that lets only these roles through (403 for the others)."""

    def dep(user: Annotated[Caller, Depends(current_user)]) -> Caller:
        if user.role not in roles:
            needs = "/".join(r.value for r in roles)
            raise HTTPException(403, f"role {user.role.value} may not do this (needs {needs})")
        return user

    return dep


Admin = Annotated[Caller, Depends(require(UserRole.ADMIN))]
Officer = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.OFFICER))]
Viewer = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.OFFICER, UserRole.VIEWER))]
EdgeOrAdmin = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.EDGE))]
Reason = Annotated[str, Query(min_length=3, max_length=500, description="why (audited)")]


def parse_since(since: str) -> datetime:
    """'48h', '7d', '30m' or an ISO time."""
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        if since and since[-1] in units:
            return now_utc() - timedelta(seconds=float(since[:-1]) * units[since[-1]])
        t = datetime.fromisoformat(since)
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    except ValueError as e:
        raise HTTPException(400, f"since={since!r}: use 48h, 7d, 30m or an ISO time") from e


@dataclass
class AuditEntry:
    """One audit row in the making; a route may name the target or add detail it alone knows."""

    target: str | None
    reason: str | None
    detail: dict[str, JsonValue] | None = None


def audited(action: AuditAction, target: str | None = None) -> Any:  # noqa: ANN401
    """Write one audit row for ``action`` when the route returns without an error.

    ``target`` names the path or query parameter that is the target; the reason is the request's
    ``reason`` query parameter (routes that require one declare ``Reason``).
    """

    def dep(
        request: Request, user: Annotated[Caller, Depends(current_user)], store: StoreDep
    ) -> Iterator[AuditEntry]:
        params = {**request.query_params, **request.path_params}
        entry = AuditEntry(
            target=params.get(target) if target else None, reason=params.get("reason")
        )
        yield entry
        store.audit(user.name, action, entry.target, entry.reason, entry.detail)

    return Depends(dep, scope="function")
