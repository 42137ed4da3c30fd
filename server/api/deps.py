"""What routes depend on: the server, its store, the caller and their role, the audit entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import JsonValue

from contract.topics import ID_PATTERN
from server.api.auth import Caller
from server.api.keyed import Refused
from server.app import ServerApp
from server.states import AuditAction, UserRole
from server.store import Store, now_utc
from server.store.records import TEXT_PATTERN


def get_server(request: Request) -> ServerApp:
    return request.app.state.server


def get_store(request: Request) -> Store:
    return request.app.state.server.store


Server = Annotated[ServerApp, Depends(get_server)]
# Declares bearer auth in the OpenAPI schema; the guard (server/api/guard.py) does the checking.
BEARER = HTTPBearer(auto_error=False, description="An API token; the dashboard uses a session.")
StoreDep = Annotated[Store, Depends(get_store)]


def current_user(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> Caller:
    """The caller the guard authenticated (a bearer token or the dashboard's session cookie)."""
    caller = request.scope.get("state", {}).get("caller")
    if caller is None:  # only on routes the guard leaves open, which do not ask for a caller
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'")
    return caller


def require(*roles: UserRole) -> Callable[..., Caller]:
    """A dependency that lets only these roles through (403 for the others, audited)."""

    def dep(
        request: Request, user: Annotated[Caller, Depends(current_user)], store: StoreDep
    ) -> Caller:
        if user.role not in roles:
            needs = "/".join(r.value for r in roles)
            detail: dict[str, JsonValue] = {"role": user.role.value, "needs": needs}
            store.audit(user.name, AuditAction.ACCESS_DENIED, request.url.path, None, detail)
            raise Refused(403, f"role {user.role.value} may not do this (needs {needs})",
                          "error.k.role_forbidden", role=user.role.value,
                          needs=[r.value for r in roles])  # fmt: skip
        return user

    return dep


Admin = Annotated[Caller, Depends(require(UserRole.ADMIN))]
Officer = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.OFFICER))]
Viewer = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.OFFICER, UserRole.VIEWER))]
EdgeOrAdmin = Annotated[Caller, Depends(require(UserRole.ADMIN, UserRole.EDGE))]
Reason = Annotated[
    str, Query(min_length=2, max_length=500, pattern=TEXT_PATTERN, description="why (audited)")
]
MAX_SINCE_DAYS = 3650
MAX_INT = 2**31 - 1  # the database's integer columns
Id = Annotated[str, Path(pattern=ID_PATTERN, description="an id: 1-64 of A-Z a-z 0-9 _ . -")]
IntId = Annotated[int, Path(ge=1, le=MAX_INT)]


def parse_since(since: str) -> datetime:
    """'48h', '7d', '30m' (at most ten years) or an ISO time."""
    units = {"m": 60, "h": 3600, "d": 86400}
    bad = f"since={since[:40]!r}: use 48h, 7d, 30m (up to {MAX_SINCE_DAYS} days) or an ISO time"
    try:
        if since and since[-1] in units:
            seconds = float(since[:-1]) * units[since[-1]]
            if not 0 <= seconds <= MAX_SINCE_DAYS * 86400:  # also refuses nan and inf
                raise HTTPException(400, bad)
            return now_utc() - timedelta(seconds=seconds)
        t = datetime.fromisoformat(since)
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as e:
        raise HTTPException(400, bad) from e


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
