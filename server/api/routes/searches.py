"""Missing-person searches (officer): raise by person or photo, read, watch live, close."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse

from server.api.deps import AuditEntry, Id, Officer, Server, StoreDep, audited
from server.api.schemas import Search, SearchAnswer, SearchIn
from server.api.stream import sse
from server.states import AuditAction, SearchState
from server.store.records import TEXT_PATTERN

router = APIRouter(prefix="/api/searches", tags=["searches"])


# response_model_exclude_unset: the person fields of an answer appear only for a person search.
@router.post("", status_code=201, response_model_exclude_unset=True)
def raise_search(
    body: SearchIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.RAISE_SEARCH)],
) -> SearchAnswer:
    report = app.searches.raise_search(user.name, body.reason, person_id=body.person_id)
    audit.target, audit.reason = body.person_id, body.reason
    audit.detail = {"search_id": report.search.id}
    return SearchAnswer.of(report)


@router.post("/photo", status_code=201, response_model_exclude_unset=True)
def raise_photo_search(
    app: Server,
    user: Officer,
    reason: Annotated[str, Form(min_length=3, max_length=500, pattern=TEXT_PATTERN)],
    photo: Annotated[UploadFile, File()],
    audit: Annotated[AuditEntry, audited(AuditAction.RAISE_SEARCH)],
) -> SearchAnswer:
    report = app.searches.raise_search(user.name, reason, photo=photo.file.read())
    audit.target, audit.reason = "photo", reason
    audit.detail = {"search_id": report.search.id}
    return SearchAnswer.of(report)


@router.get("")
def list_searches(
    store: StoreDep,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_SEARCHES, "state")],
    state: SearchState | None = None,
) -> list[Search]:
    return store.searches(state)


@router.get("/{sid}", response_model_exclude_unset=True)
def get_search(
    sid: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_SEARCH, "sid")],
) -> SearchAnswer:
    return SearchAnswer.of(app.searches.report(sid))


@router.post("/{sid}/close", response_model_exclude_unset=True)
def close_search(
    sid: Id,
    app: Server,
    user: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.CLOSE_SEARCH, "sid")],
) -> SearchAnswer:
    return SearchAnswer.of(app.searches.close(sid, user.name))


@router.get("/{sid}/stream")
async def search_stream(
    sid: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.WATCH_SEARCH, "sid")],
) -> StreamingResponse:
    app.searches.get(sid)  # 404 before the stream opens
    return sse(app.hub, f"search:{sid}", lambda item: item)
