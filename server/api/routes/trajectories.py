"""A person's trajectory and whereabouts (officer, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.api.deps import AuditEntry, Id, Officer, Reason, Server, audited, parse_since
from server.api.schemas import TrajectoryOut, WhereaboutsOut
from server.app import ServerApp
from server.people.overview import no_such_person
from server.states import AuditAction
from server.store import now_utc

router = APIRouter(prefix="/api", tags=["trajectories"])


@router.get("/trajectory/{identity}")
def trajectory(
    identity: Id,
    app: Server,
    _u: Officer,
    reason: Reason,
    audit: Annotated[AuditEntry, audited(AuditAction.TRAJECTORY, "identity")],
    since: Annotated[str, Query(max_length=64)] = "48h",
) -> TrajectoryOut:
    audit.detail = {"since": since}
    start = parse_since(since)
    _known(app, identity)
    return TrajectoryOut.of(app.trajectory(identity, start), now_utc())


def _known(app: ServerApp, identity: str) -> None:
    """404 "no such person: <id>" unless ``identity`` is an enrolled person or a visitor id some
    camera saw (its own passages or a merged id's)."""
    if app.store.get_person(identity) is not None or app.store.visitor(identity) is not None:
        return
    if app.store.last_passage(identity) is None:
        raise no_such_person(identity)


@router.get("/whereabouts/{identity}")
def whereabouts(
    identity: Id,
    app: Server,
    _u: Officer,
    reason: Reason,
    _a: Annotated[AuditEntry, audited(AuditAction.WHEREABOUTS, "identity")],
) -> WhereaboutsOut:
    _known(app, identity)
    return WhereaboutsOut.of(app.whereabouts(identity), now_utc())
