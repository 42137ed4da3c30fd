"""The HTTP API and the dashboard. Token auth everywhere but /api/health; officer reads audited."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from contract.roles import EnrolledRole
from contract.topics import ID_PATTERN
from server.app import BadRequest, NotFound, ServerApp
from server.store import now_utc

UserRole = Literal["admin", "officer", "viewer", "edge"]
STATIC = Path(__file__).parent / "static"


class User(BaseModel):
    name: str
    role: UserRole


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    role: EnrolledRole
    birth_date: date | None = None
    building: str | None = Field(None, max_length=32)
    unit: str | None = Field(None, max_length=32)
    phone: str | None = Field(None, max_length=40)
    company: str | None = Field(None, max_length=100)
    care_flags: list[Literal["lives_alone", "disabled", "pregnant", "serious_illness"]] = []
    valid_until: date | None = None
    legal_basis: Literal["consent", "contract", "legal_obligation", "vital_interest"] = "consent"


class TemplatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    embeddings: list[list[float]] = Field(min_length=1, max_length=50)
    qualities: list[float] | None = None
    replace: bool = False
    publish: bool = Field(True, description="Rebuild and announce the gallery now (bulk: false).")


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=ID_PATTERN)
    reason: str = Field(min_length=3, max_length=500)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ID_PATTERN)
    role: UserRole


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


def current_user(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> User:
    # ?token= exists only because a browser's EventSource cannot send headers.
    raw = authorization[7:] if authorization and authorization.startswith("Bearer ") else token
    if not raw:
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'")
    u = request.app.state.server.store.user_by_token(raw)
    if u is None:
        raise HTTPException(401, "unknown or disabled token")
    return User(name=u["name"], role=u["role"])


def require(*roles: str):  # noqa: ANN201
    def dep(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise HTTPException(403, f"role {user.role} may not do this (needs {'/'.join(roles)})")
        return user

    return dep


Admin = Annotated[User, Depends(require("admin"))]
Officer = Annotated[User, Depends(require("admin", "officer"))]
Viewer = Annotated[User, Depends(require("admin", "officer", "viewer"))]
EdgeOrAdmin = Annotated[User, Depends(require("admin", "edge"))]
Reason = Annotated[str, Query(min_length=3, max_length=500, description="why (audited)")]


def create_api(app: ServerApp) -> FastAPI:
    api = FastAPI(title="gatewatch server", version="1")
    api.state.server = app
    store = app.store

    @api.exception_handler(NotFound)
    async def _nf(_req, e: NotFound):  # noqa: ANN001, ANN202
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": str(e)}, status_code=404)

    @api.exception_handler(BadRequest)
    async def _br(_req, e: BadRequest):  # noqa: ANN001, ANN202
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": str(e)}, status_code=400)

    # -- health, metrics -------------------------------------------------------------------

    @api.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "mqtt_connected": app.bus.connected}

    @api.get("/metrics", response_class=PlainTextResponse)
    def metrics(_u: Viewer) -> str:
        s = app.bus.stats
        lines = [
            "# TYPE gatewatch_ingest_received_total counter",
            f"gatewatch_ingest_received_total {s.received}",
            f"gatewatch_ingest_inserted_total {s.inserted}",
            f"gatewatch_ingest_duplicates_total {s.duplicates}",
            f"gatewatch_ingest_malformed_total {s.malformed}",
            f"gatewatch_ingest_db_errors_total {s.db_errors}",
            f"gatewatch_ingest_batches_total {s.batches}",
            f"gatewatch_mqtt_connected {int(app.bus.connected)}",
            f"gatewatch_events_stored {store.count_events()}",
        ]
        return "\n".join(lines) + "\n"

    # -- users, persons, templates (admin) ---------------------------------------------------

    @api.post("/api/users", status_code=201)
    def add_user(body: UserIn, user: Admin) -> dict[str, str]:
        token = store.add_user(body.name, body.role)
        store.audit(user.name, "add_user", body.name, None, {"role": body.role})
        return {"name": body.name, "role": body.role, "token": token}

    @api.put("/api/persons/{person_id}")
    def put_person(person_id: str, body: PersonIn, user: Admin) -> dict[str, Any]:
        if body.id != person_id:
            raise HTTPException(400, "person id in the path and the body differ")
        store.upsert_person(body.model_dump())
        store.audit(user.name, "put_person", person_id, None, None)
        return _person_out(store.get_person(person_id))

    @api.get("/api/persons")
    def list_persons(user: Admin) -> list[dict[str, Any]]:
        return [_person_out(p) for p in store.list_persons()]

    @api.get("/api/persons/{person_id}")
    def get_person(person_id: str, user: Officer, reason: Reason) -> dict[str, Any]:
        p = store.get_person(person_id)
        if p is None or p["removed"]:
            raise HTTPException(404, f"no person {person_id}")
        store.audit(user.name, "read_person", person_id, reason)
        return _person_out(p)

    @api.delete("/api/persons/{person_id}")
    def remove_person(person_id: str, user: Admin) -> dict[str, Any]:
        if not store.remove_person(person_id):
            raise HTTPException(404, f"no person {person_id}")
        store.audit(user.name, "remove_person", person_id, None)
        return {"removed": person_id, "gallery": app.publish_gallery()}

    @api.post("/api/persons/{person_id}/templates", status_code=201)
    def add_templates(person_id: str, body: TemplatesIn, user: Admin) -> dict[str, Any]:
        if store.get_person(person_id) is None:
            raise HTTPException(404, f"no person {person_id}; PUT /api/persons/{person_id} first")
        from models.engine import embedding_space

        if embedding_space(body.model_id) != embedding_space(app.face.model_id):
            raise HTTPException(
                400, f"templates from model {body.model_id}; this server runs {app.face.model_id}"
            )
        e = np.asarray(body.embeddings, np.float32)
        if e.ndim != 2 or e.shape[1] != app.face.dim or not np.isfinite(e).all():
            raise HTTPException(400, f"embeddings must be finite vectors of {app.face.dim} numbers")
        e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
        q = body.qualities or [None] * len(e)
        fn = store.replace_templates if body.replace else store.add_templates
        n = fn(person_id, e, app.face.model_id, q)
        store.audit(user.name, "add_templates", person_id, None, {"count": n})
        return {
            "person_id": person_id,
            "added": n,
            "gallery": app.publish_gallery() if body.publish else None,
        }

    @api.get("/api/gallery")
    def gallery_manifest(_u: EdgeOrAdmin) -> dict[str, Any]:
        g = store.gallery()
        if g is None:
            raise HTTPException(404, "no gallery published yet")
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in g.items()}

    @api.get("/api/gallery/{version}")
    def gallery_file(version: int, _u: EdgeOrAdmin) -> FileResponse:
        g = store.gallery(version)
        if g is None or not Path(g["path"]).is_file():
            raise HTTPException(404, f"no gallery v{version}")
        return FileResponse(g["path"], media_type="application/octet-stream")

    @api.post("/api/gallery/publish")
    def publish_gallery(user: Admin) -> dict[str, Any]:
        store.audit(user.name, "publish_gallery", None, None)
        return app.publish_gallery()

    # -- gates, events, live board -----------------------------------------------------------

    @api.get("/api/gates")
    def gates(_u: Viewer) -> list[dict[str, Any]]:
        return [
            g | {"last_status": g["last_status"].isoformat() if g["last_status"] else None}
            for g in store.gates()
        ]

    @api.get("/api/board")
    def board(user: Viewer) -> dict[str, Any]:
        midnight = now_utc().replace(hour=0, minute=0, second=0, microsecond=0)
        events = store.recent_events(now_utc() - timedelta(hours=24), limit=50)
        return {
            "counts_today": store.counts_by_role(midnight),
            "passages": [_board_item(e, user) for e in events],
            "gates": gates(user),
            "open_alerts": len(store.alerts("open")),
        }

    @api.get("/api/board/stream")
    async def board_stream(user: Viewer) -> StreamingResponse:
        return _sse(app, None, lambda item: _board_live(item, user))

    @api.get("/api/events")
    def list_events(
        user: Officer,
        reason: Reason,
        since: str = "1h",
        gate: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        store.audit(user.name, "events", gate, reason, {"since": since})
        return [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in e.items()}
            for e in store.events(parse_since(since), gate, limit)
        ]

    # -- trajectories (officer, audited) ----------------------------------------------------------

    @api.get("/api/trajectory/{identity}")
    def trajectory(identity: str, user: Officer, reason: Reason, since: str = "48h") -> dict:
        store.audit(user.name, "trajectory", identity, reason, {"since": since})
        return app.trajectory(identity, parse_since(since))

    @api.get("/api/whereabouts/{identity}")
    def whereabouts(identity: str, user: Officer, reason: Reason) -> dict:
        store.audit(user.name, "whereabouts", identity, reason)
        return app.whereabouts(identity)

    # -- alerts ----------------------------------------------------------------------------

    @api.get("/api/alerts")
    def alerts(_u: Officer, state: Literal["open", "acknowledged", "closed"] | None = None) -> list:
        return [
            a | {"created": a["created"].isoformat(), "updated": a["updated"].isoformat()}
            for a in store.alerts(state)
        ]

    @api.post("/api/alerts/{alert_id}/{action}")
    def alert_action(alert_id: int, action: Literal["acknowledge", "close"], user: Officer) -> dict:
        state = "acknowledged" if action == "acknowledge" else "closed"
        if not store.set_alert_state(alert_id, state, user.name):
            raise HTTPException(404, f"no alert {alert_id}")
        store.audit(user.name, f"alert_{action}", str(alert_id), None)
        return {"alert_id": alert_id, "state": state, "by": user.name}

    # -- searches --------------------------------------------------------------------------

    @api.post("/api/searches", status_code=201)
    def raise_search(body: SearchIn, user: Officer) -> dict:
        out = app.raise_search(user.name, body.reason, person_id=body.person_id)
        store.audit(
            user.name, "raise_search", body.person_id, body.reason, {"search_id": out["search_id"]}
        )
        return out

    @api.post("/api/searches/photo", status_code=201)
    def raise_photo_search(
        user: Officer,
        reason: Annotated[str, Form(min_length=3)],
        photo: Annotated[UploadFile, File()],
    ) -> dict:
        out = app.raise_search(user.name, reason, photo=photo.file.read())
        store.audit(user.name, "raise_search", "photo", reason, {"search_id": out["search_id"]})
        return out

    @api.get("/api/searches")
    def list_searches(_u: Officer, state: Literal["active", "closed"] | None = None) -> list:
        return [
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in s.items()
                if k != "template"
            }
            for s in store.searches(state)
        ]

    @api.get("/api/searches/{sid}")
    def get_search(sid: str, user: Officer) -> dict:
        store.audit(user.name, "read_search", sid, None)
        return app.search_answer(sid)

    @api.post("/api/searches/{sid}/close")
    def close_search(sid: str, user: Officer) -> dict:
        store.audit(user.name, "close_search", sid, None)
        return app.close_search(sid, user.name)

    @api.get("/api/searches/{sid}/stream")
    async def search_stream(sid: str, user: Officer) -> StreamingResponse:
        if store.search(sid) is None:
            raise HTTPException(404, f"no search {sid}")
        store.audit(user.name, "watch_search", sid, None)
        return _sse(app, f"search:{sid}", lambda item: item)

    # -- audit -----------------------------------------------------------------------------

    @api.get("/api/audit")
    def audit_log(_u: Admin, since: str = "7d") -> list:
        return [a | {"ts": a["ts"].isoformat()} for a in store.audit_log(parse_since(since))]

    # -- dashboard -------------------------------------------------------------------------

    @api.get("/", response_class=HTMLResponse)
    def dashboard() -> str:
        return (STATIC / "board.html").read_text()

    return api


def _person_out(p: dict[str, Any] | None) -> dict[str, Any]:
    assert p is not None
    return {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in p.items()}


def _board_item(e: dict[str, Any], user: User) -> dict[str, Any]:
    """A passage on the board; a viewer sees role and gate, not who."""
    item = {
        "ts": e["ts"].isoformat(),
        "gate": e["gate"],
        "camera": e["camera"],
        "direction": e["direction"],
        "role": e["role"],
    }
    if user.role in ("admin", "officer"):
        item["identity"] = e["identity"]
    return item


def _board_live(item: dict[str, Any], user: User) -> dict[str, Any] | None:
    if item["topic"] == "passage":
        return {"topic": "passage"} | _board_item(
            {**item, "ts": datetime.fromisoformat(item["ts"])}, user
        )
    if item["topic"] in ("gate", "alert"):
        return item if user.role in ("admin", "officer") or item["topic"] == "gate" else None
    return None


def _sse(app: ServerApp, topic: str | None, view) -> StreamingResponse:  # noqa: ANN001
    async def gen():  # noqa: ANN202
        key, q = app.hub.subscribe(topic)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                shown = view(item)
                if shown is not None:
                    yield f"data: {json.dumps(shown, default=str)}\n\n"
        finally:
            app.hub.unsubscribe(key)

    return StreamingResponse(
        gen(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
