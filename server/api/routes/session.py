"""The dashboard's login: a token in the Authorization header buys an HttpOnly session cookie."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response

from server.api.auth import SESSION_COOKIE, Caller
from server.api.deps import Server, Viewer
from server.api.guard import credential
from server.states import AuditAction

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
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    app.store.audit(user.name, AuditAction.LOGIN, None, None)


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
