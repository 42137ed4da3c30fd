"""The wall screen's data and live stream: a public screen, names as ``wall.names`` says.

Whoever signs the wall in (a viewer account, normally) sees the same thing: masked names and
buildings, roles only, or full names, never a person id. Officer and admin reads are audited as
the old board's were.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import Server, Viewer
from server.api.stream import KEEP_ALIVE_S, LiveItem, sse
from server.app import ServerApp
from server.states import AuditAction, UserRole
from server.store import now_utc
from server.wall.board import Wall, WallData, WallPassage, shown, wall_alert
from server.wall.gates import online as gate_online

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["wall"])
SEES_IDENTITIES = (UserRole.ADMIN, UserRole.OFFICER)
LABELS_WARN_EVERY_S = 60.0
_labels_warned = [-LABELS_WARN_EVERY_S]  # monotonic time of the last warning


def _labels_failed() -> None:
    """A rate-limited warning: the stream shows roles only while the database is away."""
    now = time.monotonic()
    if now - _labels_warned[0] >= LABELS_WARN_EVERY_S:
        _labels_warned[0] = now
        log.warning("wall stream: cannot read names, showing roles only", exc_info=True)


def wall_data(request: Request, app: Server) -> WallData:
    """The app's one WallData (it keeps the past weeks' hourly average per local day)."""
    state = request.app.state
    if getattr(state, "wall", None) is None:
        state.wall = WallData(app.store, app.cfg, app.bus.refusals.report)
    return state.wall


@router.get("/wall")
def wall(request: Request, app: Server, user: Viewer) -> Wall:
    """Inside now, today in / out by role, the hourly chart, the last passages, open alerts,
    elders seen and the gates: what the police room's wall screen shows."""
    if user.role in SEES_IDENTITIES:
        app.store.audit(user.name, AuditAction.READ_BOARD, "/api/wall", None)
    return wall_data(request, app).latest()


def health_item(app: ServerApp) -> LiveItem:
    """The server's health as the wall needs it: live (ingest works: connected to the broker,
    storing), and each camera online (None: unknown, the server cannot hear the gates)."""
    h = app.bus.health()
    now, w = now_utc(), app.cfg.wall
    try:
        gates = app.store.gates()
    except SQLAlchemyError:  # the database is away: nothing is live
        log.warning("wall health: cannot read the gates", exc_info=True)
        return {"topic": "health", "live": False, "broker": h.connected, "gates": []}
    known = h.connected
    return {
        "topic": "health",
        "live": h.state == "ok",
        "broker": h.connected,
        "now": now.isoformat(),
        "gates": [
            {"gate": g.gate, "camera": g.camera,
             "online": gate_online(g, now, w.gate_interval_s, w.gate_grace_s) if known else None}
            for g in gates
        ],  # fmt: skip
    }


@router.get("/wall/stream")
def wall_stream(request: Request, app: Server, user: Viewer) -> StreamingResponse:
    """Server-Sent Events: each passage and alert (a merged repeat with its count) as the wall
    shows it (masked), the ids of alerts acknowledged, closed or resolved, a nudge when a gate's
    status changes or a search sights someone, and every ``wall.health_every_s`` the server's
    health (``topic: health``). The stream ends when the caller's credential does."""
    if user.role in SEES_IDENTITIES:
        app.store.audit(user.name, AuditAction.WATCH_BOARD, "/api/wall/stream", None)
    names = app.cfg.wall.names

    def labels(identity: str | None) -> dict[str, tuple[str, str | None]]:
        """The person's name and building; roles only while the database is away (the
        stream goes on)."""
        if not identity or names == "roles":
            return {}
        try:
            return app.store.person_labels([identity])
        except SQLAlchemyError:
            _labels_failed()
            return {}

    def view(item: LiveItem) -> LiveItem | None:
        topic = item.get("topic")
        if topic == "passage":
            ident = item["identity"] if item.get("identity_kind") == "person" else None
            p = WallPassage(ts=item["ts"], gate=item["gate"], camera=item["camera"],
                            direction=item["direction"],
                            **shown(names, item["role"], ident, labels(ident)))  # fmt: skip
            return {"topic": "passage", **p.model_dump(mode="json", exclude_none=True)}
        if topic == "alert_state":  # acknowledged or closed: it leaves the wall at once
            return {"topic": "alert_state", "ids": item["ids"], "state": item["state"]}
        if topic == "alert" and item.get("state") == "resolved":
            return {"topic": "alert_state", "ids": [item["alert_id"]], "state": "resolved"}
        if topic == "alert":
            evidence = item.get("evidence") or {}
            count = evidence.get("count")
            a = wall_alert(names, item["alert_id"], item["rule"], item["person_id"], evidence,
                           datetime.fromisoformat(item["created"]), labels(item["person_id"]),
                           count if isinstance(count, int) else 1)  # fmt: skip
            return {"topic": "alert", **a.model_dump(mode="json", exclude_none=True)}
        if topic in ("gate", "sighting") or str(topic).startswith("search:"):
            return {"topic": "gate" if topic == "gate" else "sighting"}
        return None

    # A ping well within the wall's stale_after_s, so that a quiet hour does not look dead.
    every = min(KEEP_ALIVE_S, app.cfg.wall.stale_after_s / 3)
    return sse(request, app.hub, None, view, keep_alive_s=every, ping={"topic": "ping"},
               tick=lambda: health_item(app), tick_every_s=app.cfg.wall.health_every_s,
               view_blocks=True)  # fmt: skip
