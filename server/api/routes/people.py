"""The officer's view of people: the elder roster (JSON and CSV), the finder, the person page.

Declared before the registry's routes so that /api/persons/find is not read as a person id.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from server.api.deps import AuditEntry, Id, Officer, Server, audited
from server.api.people_schemas import PersonFound, PersonOverview, Roster
from server.api.routes.pages import LANG_COOKIE
from server.app import ServerApp
from server.i18n import choose
from server.people.overview import overview
from server.states import AuditAction
from server.store import now_utc
from server.store.records import TEXT_PATTERN, CareFlag
from server.watch.roster import RosterFilter, age_on, entry, roster, roster_csv

router = APIRouter(prefix="/api", tags=["people"])
Text = Annotated[str | None, Query(max_length=100, pattern=TEXT_PATTERN)]


def _filters(flag: CareFlag | None, building: str | None, q: str | None) -> RosterFilter:
    return RosterFilter(flag=flag, building=building or None, q=q or None)


def _audit_filters(audit: AuditEntry, only: RosterFilter) -> None:
    audit.detail = {k: v for k, v in vars(only).items() if v}


@router.get("/elders", response_model=Roster)
def elders(
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.READ_ROSTER)],
    flag: CareFlag | None = None,
    building: Text = None,
    q: Text = None,
) -> Response:
    """Every resident aged elder.age_years+ and every care-flag resident, most at risk first:
    open alerts, then out and not back, then longest unseen, then living alone."""
    only = _filters(flag, building, q)
    _audit_filters(audit, only)
    now = now_utc()
    everyone = roster(app.store, app.cfg.elder, app.tz, now, RosterFilter())
    rows = [r for r in everyone if only.keep(r.person)]
    # Built as plain JSON (the shape of Roster): validating 5,000 rows would cost more than the
    # roster's 300 ms budget.
    body = {"at": now.isoformat(), "age_years": app.cfg.elder.age_years, "total": len(everyone),
            "rows": [entry(r) for r in rows]}  # fmt: skip
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                    media_type="application/json")  # fmt: skip


@router.get("/elders.csv", response_class=Response)
def elders_csv(
    request: Request,
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.READ_ROSTER)],
    flag: CareFlag | None = None,
    building: Text = None,
    q: Text = None,
) -> Response:
    """The roster as CSV (UTF-8 with a BOM), in the page's language, local times."""
    only = _filters(flag, building, q)
    _audit_filters(audit, only)
    audit.detail = (audit.detail or {}) | {"format": "csv"}
    now = now_utc()
    rows = roster(app.store, app.cfg.elder, app.tz, now, only)
    lang = _lang(request, app)
    day = now.astimezone(app.tz).date().isoformat()
    return Response(
        roster_csv(rows, lang, app.tz),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="elders-{day}.csv"'},
    )


def _lang(request: Request, app: ServerApp) -> str:
    return choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                  app.cfg.locale)  # fmt: skip


@router.get("/persons/find")
def find_persons(
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.FIND_PERSONS, "q")],
    q: Annotated[str, Query(min_length=1, max_length=100, pattern=TEXT_PATTERN)],
) -> list[PersonFound]:
    """Up to 20 persons whose name or building contains ``q`` (or whose id is ``q``)."""
    today = now_utc().astimezone(app.tz).date()
    return [
        PersonFound(
            id=p.id,
            name=p.name,
            role=p.role,
            building=p.building,
            unit=p.unit,
            room=p.room,
            age=age_on(p.birth_date, today),
        )  # fmt: skip
        for p in app.store.find_persons(q, 20)
    ]


@router.get("/persons/{person_id}/overview")
def person_overview(
    person_id: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.PERSON_OVERVIEW, "person_id")],
) -> PersonOverview:
    """The person page: who, where now, the last 48 h as stays and passages, alerts, visits."""
    return PersonOverview.of(overview(app.store, app.tz, now_utc(), person_id))
