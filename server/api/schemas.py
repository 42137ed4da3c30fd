"""Request and response bodies of the API. FastAPI encodes the datetimes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.gallery import GalleryManifest, Population
from contract.topics import ID_PATTERN
from server.people.trajectory import Trajectory, Whereabouts
from server.people.visitors import Confidence, VisitorInside
from server.search.service import SearchReport
from server.states import AlertState, SearchState, UserRole, Verdict
from server.store.records import (
    TEXT_PATTERN,
    AlertRecord,
    AuditRecord,
    Candidate,
    Event,
    GalleryRecord,
    Gate,
    ListedPerson,
    PassageRow,
    Person,
    PersonEntry,
    Search,
    Sighting,
)

__all__ = [
    "AlertRecord",
    "AuditRecord",
    "Event",
    "GalleryManifest",
    "GalleryRecord",
    "Gate",
    "ListedPerson",
    "Person",
    "PersonIn",
    "Search",
]

PersonIn = PersonEntry


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())


# -- requests ---------------------------------------------------------------------------------


class TemplatesIn(_In):
    model_id: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    embeddings: list[list[float]] = Field(min_length=1, max_length=50)
    qualities: list[float] | None = None
    replace: bool = False
    publish: bool = Field(True, description="Rebuild and announce the gallery now (bulk: false).")


class SearchIn(_In):
    person_id: str = Field(pattern=ID_PATTERN)
    reason: str = Field(min_length=2, max_length=500, pattern=TEXT_PATTERN)


class VerdictIn(_In):
    verdict: Verdict


class UserIn(_In):
    name: str = Field(pattern=ID_PATTERN)
    role: UserRole
    expires_days: float | None = Field(
        None, gt=0, le=3650, description="Token lifetime; default the server's http.token_days."
    )


# -- responses --------------------------------------------------------------------------------


class Health(_Out):
    ok: bool = Field(description="False when the ingest is degraded (see reasons).")
    state: Literal["ok", "degraded"]
    mqtt_connected: bool
    last_message_at: datetime | None = Field(description="When the subscriber last handled one.")
    pending: int = Field(description="Messages received, not yet stored and acknowledged.")
    failing_for_s: float = Field(description="How long storing has been failing (0: it works).")
    errors: int = Field(description="Database and callback errors since start.")
    reasons: list[str]
    gates: list[GateProblem] = Field(
        default_factory=list, description="Gates whose passages are mostly refused now."
    )


class GateProblem(_Out):
    """A gate whose passages are mostly refused (server/ingest/gatecheck.py)."""

    gate: str
    problem: str = Field(description="clock_skew, malformed, oversized or database")
    refused_recent: int
    stored_recent: int


class NewUser(_Out):
    name: str
    role: UserRole
    token: str = Field(description="Shown once; only its digest is stored.")
    expires: datetime | None = None


class UserOut(_Out):
    name: str
    role: UserRole
    created: datetime
    disabled: bool
    expires: datetime | None


class UserRevoked(_Out):
    revoked: str


class PersonRemoved(_Out):
    removed: str
    gallery: GalleryManifest


class TemplatesAdded(_Out):
    person_id: str
    added: int
    templates: int = Field(description="How many templates the person has now.")
    gallery: GalleryManifest | None


class ReferenceStored(_Out):
    person_id: str
    width: int
    height: int
    score: float = Field(description="Best score of the photo's face against the templates.")


class AlertChange(_Out):
    alert_id: int
    state: AlertState
    by: str


class BoardPassage(_Out):
    """A passage on the board; ``identity`` is left out for viewers."""

    ts: datetime
    gate: str
    camera: str
    direction: str
    role: str
    identity: str | None = None


class Site(_Out):
    """The site settings a client needs (``/api/site``)."""

    site: str
    locale: str
    timezone: str
    wall_names: Literal["masked", "roles", "full"]
    population: Population = Field(description="Whose calibration curve the gates use.")
    names: dict[str, Any] = Field(
        default_factory=dict,
        description="Display names: {site, gates: {gate id: {name, cameras: {camera id: name}}}}.",
    )


class Board(_Out):
    counts_today: dict[str, int]
    passages: list[BoardPassage]
    gates: list[Gate]
    open_alerts: int


class WhereaboutsOut(_Out):
    last_seen: datetime | None
    gate: str | None
    camera: str | None
    inside: bool | None
    since: datetime | None
    for_hours: float | None

    @classmethod
    def of(cls, w: Whereabouts, now: datetime) -> WhereaboutsOut:
        hours = round((now - w.since).total_seconds() / 3600, 2) if w.since else None
        return cls(**asdict(w), for_hours=hours)


class StayOut(_Out):
    where: str
    since: datetime
    until: datetime | None
    entered_by: str
    internal: list[PassageRow] = Field(
        default=[], description="Internal cameras that saw the person during this stay."
    )
    earlier: bool = Field(
        default=False, description="Began before the window: since is the window's start."
    )


class TrajectoryOut(_Out):
    identity: str
    since: datetime
    passages: list[PassageRow]
    stays: list[StayOut]
    whereabouts: WhereaboutsOut

    @classmethod
    def of(cls, t: Trajectory, now: datetime) -> TrajectoryOut:
        return cls(
            identity=t.identity,
            since=t.since,
            passages=t.passages,
            stays=[StayOut(**asdict(s)) for s in t.stays],
            whereabouts=WhereaboutsOut.of(t.whereabouts, now),
        )


class SearchAnswer(_Out):
    """A search, its sightings and, for a person search, where they were in the last 48 h.

    Served with ``exclude_unset``: the person fields appear only for a person search, ``note``
    only when the person was not seen.
    """

    search_id: str
    state: SearchState
    person_id: str | None
    reason: str
    raised_by: str
    sightings: list[Sighting]
    candidates: list[Candidate] = []
    last_internal: PassageRow | None = Field(
        None, description="The last building camera that saw the person after last_return."
    )
    last_return: PassageRow | None = Field(
        None, description="The person's last passage in through a gate in the last 48 h."
    )
    trajectory_48h: TrajectoryOut | None = None
    whereabouts: WhereaboutsOut | None = None
    believed_inside: bool | None = None
    seen_last_48h: bool | None = None
    note: str | None = None
    visitors: list[VisitorLookBackOut] | None = None  # photo search: matched live visitors
    created: datetime | None = None
    closed: datetime | None = None
    closed_by: str | None = None
    close_note: str | None = None
    person_name: str | None = None

    @classmethod
    def of(cls, r: SearchReport, person_name: str | None = None) -> SearchAnswer:
        s = r.search
        fields: dict[str, object] = {
            "person_name": person_name,
            "search_id": s.id,
            "state": s.state,
            "person_id": s.person_id,
            "reason": s.reason,
            "raised_by": s.raised_by,
            "sightings": r.sightings,
            "candidates": r.candidates,
            "created": s.created,
            "closed": s.closed,
            "closed_by": s.closed_by,
            "close_note": s.close_note,
        }
        if r.trajectory is not None:
            traj = TrajectoryOut.of(r.trajectory, r.at)
            fields |= {
                "trajectory_48h": traj,
                "whereabouts": traj.whereabouts,
                "believed_inside": traj.whereabouts.inside,
                "seen_last_48h": bool(traj.passages),
                "last_internal": r.last_internal,
                "last_return": r.last_return,
            }
            if not traj.passages:
                fields["note"] = "not seen by any camera of the compound in the last 48 h"
        else:
            fields["visitors"] = [VisitorLookBackOut(**asdict(v)) for v in r.visitors]
        return cls.model_validate(fields)


class VisitorLookBackOut(_Out):
    """A live visitor the edges matched to a photo search, with its passages in the last 48 h."""

    visitor_id: str
    score: float
    confidence: Confidence
    gates: list[str]
    passages: list[PassageRow]
    inside: bool
    summary: str


class VisitorInsideOut(_Out):
    """A visitor in without a later out."""

    visitor_id: str
    since: datetime
    gate: str
    camera: str
    hours: float
    event_id: str  # the passage in: its face crop (GET /api/passages/{event_id}/face)

    @classmethod
    def of(cls, v: VisitorInside) -> VisitorInsideOut:
        return cls(visitor_id=v.visitor_id, since=v.since, gate=v.gate, camera=v.camera,
                   hours=v.hours, event_id=v.event_id)  # fmt: skip
