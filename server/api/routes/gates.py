"""The gates for the workbench (officer): each camera online or not and since when, its camera,
frame rate, outbox backlog, last passage and status, software and calibration. The public wall
shows only online or offline."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import Officer, Server
from server.wall.gates import GatesHealth, gates_health

router = APIRouter(prefix="/api", tags=["gates"])


@router.get("/gates/health")
def gates(app: Server, _u: Officer) -> GatesHealth:
    """Every camera that reported a status or a passage, with the server's link to them."""
    h = app.bus.health()
    c = app.cfg
    return gates_health(app.store, c.wall, c.gates, app.bus.refusals.report(), h.connected,
                        h.state == "ok")  # fmt: skip
