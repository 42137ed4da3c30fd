"""Missing-person searches (officer): raise by person or photo, read, watch live, close; their
sighting candidates: list, view the evidence pictures (audited), confirm or reject."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Form, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import JsonValue

from server.api.alert_schemas import NoteIn
from server.api.deps import AuditEntry, Id, Officer, Server, StoreDep, audited
from server.api.schemas import Candidate, Search, SearchAnswer, SearchIn, VerdictIn
from server.api.stream import sse
from server.app import ServerApp
from server.search.service import SearchReport
from server.states import AuditAction, SearchState
from server.store.records import TEXT_PATTERN

router = APIRouter(prefix="/api/searches", tags=["searches"])


class ListedSearch(Search):
    person_name: str | None = None


def _name(app: ServerApp, person_id: str | None) -> str | None:
    p = app.store.get_person(person_id) if person_id else None
    return p.name if p else None


def _answer(app: ServerApp, report: SearchReport) -> SearchAnswer:
    """The answer, with the name of the person searched for (officers see names)."""
    return SearchAnswer.of(report, _name(app, report.search.person_id))


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
    return _answer(app, report)


@router.post("/photo", status_code=201, response_model_exclude_unset=True)
def raise_photo_search(
    app: Server,
    user: Officer,
    reason: Annotated[str, Form(min_length=2, max_length=500, pattern=TEXT_PATTERN)],
    photo: Annotated[UploadFile, File()],
    audit: Annotated[AuditEntry, audited(AuditAction.RAISE_SEARCH)],
) -> SearchAnswer:
    report = app.searches.raise_search(user.name, reason, photo=photo.file.read())
    audit.target, audit.reason = "photo", reason
    audit.detail = {"search_id": report.search.id}
    return _answer(app, report)


@router.get("")
def list_searches(
    store: StoreDep,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_SEARCHES, "state")],
    app: Server,
    state: SearchState | None = None,
) -> list[ListedSearch]:
    return [
        ListedSearch(**s.model_dump(), template=None, person_name=_name(app, s.person_id))
        for s in store.searches(state)
    ]


@router.get("/{sid}", response_model_exclude_unset=True)
def get_search(
    sid: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_SEARCH, "sid")],
) -> SearchAnswer:
    return _answer(app, app.searches.report(sid))


@router.post("/{sid}/close", response_model_exclude_unset=True)
def close_search(
    sid: Id,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.CLOSE_SEARCH, "sid")],
    body: Annotated[NoteIn | None, Body()] = None,
) -> SearchAnswer:
    """Close the search, with an optional note (JSON ``{"note": ...}``)."""
    note = body.note if body else None
    closed = app.searches.close(sid, user.name, note)
    # The sighting alerts the close resolved are part of the audited step.
    detail: dict[str, JsonValue] = {"note": note} if note else {}
    if closed.resolved:
        detail["resolved_alerts"] = [a.id for a in closed.resolved]
    audit.detail = detail or None
    return _answer(app, closed.report)


@router.get("/{sid}/stream")
async def search_stream(
    request: Request,
    sid: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.WATCH_SEARCH, "sid")],
) -> StreamingResponse:
    app.searches.get(sid)  # 404 before the stream opens
    return sse(request, app.hub, f"search:{sid}", lambda item: item)


@router.get("/{sid}/candidates")
def list_candidates(
    sid: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_SEARCH, "sid")],
) -> list[Candidate]:
    app.searches.get(sid)
    return app.store.candidates(sid)


@router.post("/{sid}/candidates/{cid}/verdict")
def judge_candidate(
    sid: Id,
    cid: Id,
    body: VerdictIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.JUDGE_CANDIDATE, "cid")],
) -> Candidate:
    """The officer confirms or rejects a candidate; who and when are stored with it."""
    audit.detail = {"search_id": sid, "verdict": body.verdict.value}
    return app.searches.judge(sid, cid, body.verdict, user.name)


@router.get("/{sid}/candidates/{cid}/evidence/{picture}")
def view_evidence(
    sid: Id,
    cid: Id,
    picture: Literal["aligned", "context"],
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.VIEW_EVIDENCE, "cid")],
) -> Response:
    """One evidence picture (JPEG); every view is audited."""
    audit.detail = {"search_id": sid, "picture": picture}
    ev = app.searches.evidence(sid, cid)
    jpeg = ev.aligned_jpeg if picture == "aligned" else ev.context_jpeg
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
