"""The review queue of the gallery that learns at the gate (officer, audited), and a person's
templates with their provenance (an officer may remove gate templates, an admin any)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from server.api.auth import Caller
from server.api.deps import AuditEntry, Id, IntId, Officer, Server, audited
from server.api.review_schemas import (
    BulkResult,
    BulkVerdictsIn,
    BulkVerdictsOut,
    ReviewItemOut,
    ReviewList,
    TemplateOut,
    TemplateRemoved,
    VerdictIn,
)
from server.app import ServerApp
from server.errors import NotFound
from server.learning.service import Decided
from server.states import AuditAction, ReviewState, ReviewVerdict, UserRole

router = APIRouter(prefix="/api", tags=["review"])


@router.get("/review")
def list_review(
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.LIST_REVIEW)],
    state: ReviewState | Literal["all"] = ReviewState.OPEN,
    limit: Annotated[int, Query(ge=1, le=200)] = 12,
) -> ReviewList:
    """Review items (open ones oldest first: a queue) with the person's name and building."""
    only = None if state == "all" else ReviewState(state)
    rows = app.learning.listing(only, limit)
    audit.detail = {"state": str(state), "items": len(rows)}
    return ReviewList(
        open=app.learning.store.open_count(),
        items=[ReviewItemOut.of(r, days, app.tz) for r, days in rows],
    )


@router.get("/review/{item_id}/face/{picture}")
def review_face(
    item_id: IntId,
    picture: Literal["aligned", "context", "reference"],
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.VIEW_REVIEW_FACE, "item_id")],
) -> Response:
    """The gate's face (aligned crop or context) or the person's reference photo (JPEG)."""
    it = app.learning.item(item_id)
    audit.detail = {"picture": picture, "person_id": it.person_id}
    if picture == "reference":
        jpeg = app.learning.store.reference_photo(it.person_id)
        missing = f"{it.person_id} has no reference photo"
    else:
        jpeg = app.learning.store.capture_face(it.capture_id, picture)
        missing = f"the face of review item {item_id} is no longer kept"
    if jpeg is None:
        raise HTTPException(404, missing)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _judge(app: ServerApp, item_id: int, verdict: ReviewVerdict, user: Caller) -> ReviewItemOut:
    try:
        it = app.learning.judge(item_id, verdict, user.name)
    except Decided as e:
        raise HTTPException(409, str(e)) from e
    return ReviewItemOut.of(it, None, app.tz)


@router.post("/review/{item_id}/verdict")
def judge_review(
    item_id: IntId,
    body: VerdictIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.JUDGE_REVIEW, "item_id")],
) -> ReviewItemOut:
    """Confirm (the gate's face becomes a template of the person; the gallery moves) or reject
    (the pair is never asked again)."""
    out = _judge(app, item_id, body.verdict, user)
    audit.detail = {"verdict": body.verdict.value, "person_id": out.person_id,
                    "template_id": out.template_id}  # fmt: skip
    return out


@router.post("/review/verdicts")
def judge_many(
    body: BulkVerdictsIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.JUDGE_REVIEW)],
) -> BulkVerdictsOut:
    """Several verdicts at once (one screen of items); each item answers for itself."""
    results = []
    for v in body.verdicts:
        try:
            it = app.learning.judge(v.id, v.verdict, user.name)
            results.append(BulkResult(id=v.id, state=it.state, error=None))
        except (NotFound, Decided) as e:
            row = app.learning.store.item(v.id)
            results.append(BulkResult(id=v.id, state=row.state if row else None, error=str(e)))
    done = [r for r in results if r.error is None]
    out = BulkVerdictsOut(
        results=results,
        confirmed=sum(r.state == ReviewState.CONFIRMED for r in done),
        rejected=sum(r.state == ReviewState.REJECTED for r in done),
    )
    audit.detail = {
        "confirmed": [r.id for r in done if r.state == ReviewState.CONFIRMED],
        "rejected": [r.id for r in done if r.state == ReviewState.REJECTED],
    }
    return out


@router.get("/persons/{person_id}/templates")
def person_templates(
    person_id: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_TEMPLATES, "person_id")],
) -> list[TemplateOut]:
    """The person's templates with where each came from (enrollment, gate confirmed, gate
    learned automatically), oldest first."""
    return [TemplateOut.of(t) for t in app.learning.templates(person_id)]


@router.delete("/persons/{person_id}/templates/{template_id}")
def remove_template(
    request: Request,
    person_id: Id,
    template_id: IntId,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.REMOVE_TEMPLATE, "person_id")],
) -> TemplateRemoved:
    """Remove one template (an officer: gate templates; an admin: any); the gallery moves now."""
    try:
        gone = app.learning.remove_template(
            person_id, template_id, user.role == UserRole.ADMIN, by=user.name
        )
    except PermissionError as e:
        detail = {"role": user.role.value, "template_id": template_id}
        app.store.audit(user.name, AuditAction.ACCESS_DENIED, request.url.path, None, detail)
        raise HTTPException(403, str(e)) from e
    audit.detail = {"template_id": template_id, "source": gone.source.value}
    return TemplateRemoved(
        person_id=person_id, removed=TemplateOut.of(gone), gallery=app.learning.gallery.now()
    )
