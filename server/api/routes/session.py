"""The dashboard's login: a token in the Authorization header buys an HttpOnly session cookie."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from server.api.auth import SESSION_COOKIE, Caller
from server.api.deps import Server, Viewer
from server.api.guard import credential
from server.states import AuditAction, UserRole

router = APIRouter(prefix="/api", tags=["session"])


@router.post("/login", status_code=204)
def login(request: Request, response: Response, app: Server, user: Viewer) -> None:
    """Open a session for the caller, who must present a token (a session cannot renew itself:
    a stolen cookie dies with its 12 hours); browsers then send its cookie (EventSource too)."""
    if credential(request.scope).token is None:
        raise HTTPException(
            401,
            "log in with a token: send 'Authorization: Bearer <token>' "
            "(a session cookie cannot open a new session)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    hours = app.cfg.http.session_hours
    sid = app.store.open_session(user.name, timedelta(hours=hours))
    _cookie(request, response, sid, hours)
    app.store.audit(user.name, AuditAction.LOGIN, None, None)


def _cookie(request: Request, response: Response, sid: str, hours: float) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=max(1, int(hours * 3600)),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


class Renewed(BaseModel):
    """A viewer's session renewed: until when, and when to renew it next (seconds)."""

    expires: datetime
    renew_in_s: float


@router.post("/session/renew", responses={403: {"description": "not a viewer's session"}})
def renew(request: Request, response: Response, app: Server, user: Viewer) -> Renewed:
    """A kiosk (the wall, signed in with a viewer's token) keeps its session as long as that
    token is valid: it renews the session before it ends (``renew_in_s``, half its lifetime).
    Officers' and admins' sessions end after ``http.session_hours`` (a workbench left open)."""
    sid = credential(request.scope).session
    if sid is None or user.role != UserRole.VIEWER:
        raise HTTPException(403, "only a viewer's session (a kiosk) renews itself")
    hours = app.cfg.http.session_hours
    expires = app.store.renew_session(sid, timedelta(hours=hours))
    if expires is None:
        raise HTTPException(401, "the session has ended: sign in again")
    _cookie(request, response, sid, hours)
    return Renewed(expires=expires, renew_in_s=round(hours * 3600 / 2, 1))


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, app: Server, _u: Viewer) -> None:
    """End this browser's session."""
    sid = credential(request.scope).session
    if sid:
        app.store.close_session(sid)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(user: Viewer) -> Caller:
    """Who the caller is (the dashboard asks on load)."""
    return user
