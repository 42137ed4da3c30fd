"""The HTTP API and the dashboard. A guard authenticates every route but /api/health and the
static files before any body is read; officer reads are audited."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from server.api.auth import Authenticator, FailureLimiter
from server.api.docs import add_docs
from server.api.failures import install as install_failure_answers
from server.api.guard import BodyLimits, Guard, OpenPaths
from server.api.keyed import body, http_errors
from server.api.routes import (
    alerts,
    audit,
    board,
    events,
    faces,
    gallery,
    gates,
    health,
    notify,
    pages,
    people,
    persons,
    references,
    review,
    searches,
    session,
    templates,
    trajectories,
    users,
    visitors,
    visits,
    wall,
)
from server.api.stream import Streams
from server.app import ServerApp
from server.errors import BadRequest, NotFound
from server.people.photos import PhotoTooLarge
from server.people.reference import NotAReference, NotJpeg

STATIC = Path(__file__).resolve().parent.parent / "static"
# people before persons: /api/persons/find is not a person id.
ROUTERS = (health, session, pages, users, people, persons, references, templates, review,
           gallery, board, events, trajectories, alerts, searches, visitors, visits, audit,
           wall, notify, gates, faces)  # fmt: skip
UPLOAD_PATHS = ("/api/searches/photo",)


def create_api(app: ServerApp) -> FastAPI:
    """The FastAPI application serving ``app``, behind its guard."""
    api = FastAPI(title="gatewatch server", version="1", docs_url=None, redoc_url=None)
    api.state.server = app
    api.state.streams = Streams(app.hub)  # ended when the server shuts down (api/serving.py)
    api.add_exception_handler(NotFound, _status(404))
    api.add_exception_handler(PhotoTooLarge, _status(413))
    api.add_exception_handler(NotJpeg, _status(415))
    api.add_exception_handler(NotAReference, _status(422))
    api.add_exception_handler(BadRequest, _status(400))
    install_failure_answers(api)  # NaN/Infinity in a body: 422; database down or full: 503
    api.add_exception_handler(HTTPException, http_errors)
    for module in ROUTERS:
        api.include_router(module.router)
    api.include_router(pages.site_router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_docs(api)  # Swagger UI from an installed package, not a CDN

    h = app.cfg.http
    limits = BodyLimits(h.max_body_bytes, {p: h.max_upload_bytes for p in UPLOAD_PATHS})
    auth = Authenticator(app.store, FailureLimiter(h.auth_failures, h.auth_window_s))
    shells = OpenPaths(frozenset(pages.PAGES), pages.PAGE_PREFIXES)
    origins = frozenset({_origin(h.public_url)} if h.public_url else ())
    api.add_middleware(Guard, auth=auth, limits=limits, shells=shells, origins=origins)
    return api


def _status(code: int):  # noqa: ANN202
    async def handler(_request: Request, e: Exception) -> JSONResponse:
        return JSONResponse(body(str(e), e), status_code=code)

    return handler


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower case (the form a browser's Origin header takes)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()
