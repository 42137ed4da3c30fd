"""The dashboard's login: a token in the Authorization header buys an HttpOnly session cookie."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from server.api.auth import SESSION_COOKIE, Caller
from server.api.deps import Server, Viewer
from server.api.guard import credential
from server.api.keyed import Refused
from server.states import AuditAction, UserRole
from server.store import now_utc

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
    token is valid, and at most ``http.kiosk_days`` after its sign-in: it renews the session
    before it ends (``renew_in_s``, half its lifetime).
    Officers' and admins' sessions end after ``http.session_hours`` (a workbench left open)."""
    sid = credential(request.scope).session
    if sid is None or user.role != UserRole.VIEWER:
        raise Refused(403, "only a viewer's session (a kiosk) renews itself", "session.not_viewer")
    h = app.cfg.http
    now = now_utc()
    expires = app.store.renew_session(sid, timedelta(hours=h.session_hours),
                                      timedelta(days=h.kiosk_days), now)  # fmt: skip
    if expires is None:
        raise HTTPException(401, "the session has ended: sign in again")
    left_s = (expires - now).total_seconds()
    _cookie(request, response, sid, left_s / 3600)
    # At its cap (http.kiosk_days, the token's end) it ends then: ask again only after that.
    full = left_s >= h.session_hours * 3600 - 1
    return Renewed(expires=expires, renew_in_s=round(left_s / 2 if full else left_s + 5, 1))


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
