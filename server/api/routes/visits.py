"""Home visits (officer, audited): record one, list them, who is due a visit."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from contract.topics import ID_PATTERN
from server.api.deps import AuditEntry, Officer, Server, audited, parse_since
from server.api.people_schemas import DueEntry, DueList, HomeVisit, VisitIn
from server.people.overview import no_such_person
from server.states import AuditAction
from server.store import now_utc
from server.watch.visits import due_visits

router = APIRouter(prefix="/api/visits", tags=["visits"])
FUTURE_SLACK = timedelta(minutes=10)


@router.post("", status_code=201)
def record_visit(
    body: VisitIn,
    app: Server,
    user: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.RECORD_VISIT)],
) -> HomeVisit:
    """Record a home visit; ``visited_at`` without an offset is the site's local time."""
    p = app.store.get_person(body.person_id)
    if p is None or p.removed:
        raise no_such_person(body.person_id)
    now = now_utc()
    at = body.visited_at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=app.tz)
    if at > now + FUTURE_SLACK:
        raise HTTPException(400, "visited_at is in the future: give the time of the visit")
    visit = app.store.add_visit(p.id, at, body.visitor, body.outcome, body.note, user.name)
    audit.target, audit.detail = p.id, {"visit_id": visit.id, "outcome": body.outcome.value}
    return visit


@router.get("")
def list_visits(
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_VISITS, "person_id")],
    person_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[str, Query(max_length=64)] = "30d",
) -> list[HomeVisit]:
    """Visits since ``since`` (48h, 30d or an ISO time), of one person if named, newest first."""
    return app.store.visits(person_id=person_id, since=parse_since(since))


@router.get("/due")
def visits_due(
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.VISITS_DUE)],
    days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> DueList:
    """Care-flag residents not visited within ``days`` (default visits.due_days): never visited
    first, then the longest since the last visit."""
    n = days or app.cfg.visits.due_days
    audit.detail = {"days": n}
    due = due_visits(app.store, app.cfg.elder, app.tz, now_utc(), n)
    return DueList(days=n, rows=[DueEntry.of(d) for d in due])
