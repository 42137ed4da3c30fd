"""The HTTP API and the dashboard. Token auth everywhere but /api/health; officer reads audited."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from server.api.routes import (
    alerts,
    audit,
    board,
    events,
    gallery,
    health,
    persons,
    searches,
    templates,
    trajectories,
    users,
    visitors,
)
from server.app import ServerApp
from server.errors import BadRequest, NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
ROUTERS = (health, users, persons, templates, gallery, board, events, trajectories, alerts,
           searches, visitors, audit)  # fmt: skip


def create_api(app: ServerApp) -> FastAPI:
    """The FastAPI application serving ``app``."""
    api = FastAPI(title="gatewatch server", version="1")
    api.state.server = app
    api.add_exception_handler(NotFound, _status(404))
    api.add_exception_handler(BadRequest, _status(400))
    for module in ROUTERS:
        api.include_router(module.router)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return (STATIC / "board.html").read_text()

    return api


def _status(code: int):  # noqa: ANN202
    async def handler(_request: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=code)

    return handler
