"""Typed rows of the server's tables, built by column name (frozen pydantic models)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from sqlalchemy import Result, Row

from contract.events import Direction, IdentityKind, RoleSource
from contract.roles import EnrolledRole, Role
from contract.topics import ID_PATTERN
from server.states import AlertRule, AlertState, SearchState, UserRole, Verdict, VisitOutcome


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time here is UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


def _or_none(v: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A stored value this version cannot read becomes None instead of failing the whole read."""
    try:
        return handler(v)
    except (ValueError, OverflowError):  # pydantic's ValidationError is a ValueError
        return None


OrNone = WrapValidator(_or_none)
Evidence = dict[str, str | float | int | None]
CareFlag = Literal["lives_alone", "disabled", "pregnant", "serious_illness"]
LegalBasis = Literal["consent", "contract", "legal_obligation", "vital_interest"]


class Record(BaseModel):
    """A row, read by column name."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    @classmethod
    def of(cls, row: Row) -> Self:
        return cls.model_validate(dict(row._mapping))

    @classmethod
    def all(cls, result: Result) -> list[Self]:
        """Every row of ``result`` (its column names read once)."""
        keys = list(result.keys())
        return [cls.model_validate(dict(zip(keys, r, strict=True))) for r in result]


class PassageRow(Record):
    """The columns of a passage that trajectories and the elder watch need."""

    event_id: str
    ts: UtcDatetime
    gate: str
    camera: str
    direction: Direction
    identity: str | None
    role: Role
    score: float | None
    search_id: str | None


class Event(Record):
    """A stored passage with every column."""

    id: int
    event_id: str
    seq: int
    gate: str
    camera: str
    direction: Direction
    ts: UtcDatetime
    track_id: int
    identity: str | None
    identity_kind: IdentityKind
    role: Role
    role_source: RoleSource
    score: float | None
    margin: float | None
    quality: float
    frames_used: int
    gallery_version: int
    model_id: str
    search_id: str | None
    received: UtcDatetime


class Visitor(Record):
    id: str
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    passages: int


class Gate(Record):
    gate: str
    camera: str
    name: str | None
    state: str | None
    camera_state: str | None
    status: Annotated[dict[str, JsonValue] | None, OrNone]
    last_status: Annotated[UtcDatetime | None, OrNone]
    clock_skew_s: Annotated[float | None, OrNone] = None
    state_since: Annotated[UtcDatetime | None, OrNone] = None
    # Filled in by the ingest (server/ingest/gatecheck.py), not stored: passages of this gate
    # refused over the last gates.refusal_window_s, and its problem (clock_skew, malformed, ...).
    refused_recent: int = 0
    problem: str | None = None


class DeadLetter(Record):
    """A message ingest set aside: the head of its payload (2 KB), why it was refused, and how
    often the same bytes came (``count``, first ``received``, ``last_seen``)."""

    id: int
    received: UtcDatetime
    kind: Literal["passage", "status", "message"]  # message: of another topic (oversized)
    topic: str
    error: str
    payload: bytes
    sha256: str
    size: int
    count: int
    last_seen: UtcDatetime


# Free text the databases can store: no NUL (PostgreSQL refuses it) and no other control
# characters but tab and line breaks.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class PersonEntry(BaseModel):
    """A person as the registry takes them in (the API's PUT body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    role: EnrolledRole
    birth_date: date | None = None
    building: str | None = Field(None, max_length=32, pattern=TEXT_PATTERN)
    unit: str | None = Field(None, max_length=32, pattern=TEXT_PATTERN)
    room: str | None = Field(None, max_length=32, pattern=TEXT_PATTERN)
    phone: str | None = Field(None, max_length=40, pattern=TEXT_PATTERN)
    company: str | None = Field(None, max_length=100, pattern=TEXT_PATTERN)
    care_flags: list[CareFlag] = []
    valid_until: date | None = None
    legal_basis: LegalBasis = "consent"


class Person(Record):
    id: str
    name: str
    role: EnrolledRole
    birth_date: date | None
    building: str | None
    unit: str | None
    room: str | None = None
    phone: str | None
    company: str | None
    care_flags: list[CareFlag]
    valid_until: date | None
    legal_basis: LegalBasis
    removed: bool
    created: UtcDatetime
    updated: UtcDatetime


class ListedPerson(Person):
    """A person with the number of face templates they have."""

    templates: int


class GalleryRecord(Record):
    version: int
    model_id: str
    sha256: str
    size: int
    path: str
    persons: int
    templates: int
    created: UtcDatetime


class User(Record):
    name: str
    role: UserRole
    created: UtcDatetime
    disabled: bool
    expires: UtcDatetime | None = None


class AuditRecord(Record):
    id: int
    ts: UtcDatetime
    user: str
    action: str
    target: str | None
    reason: str | None
    detail: dict[str, JsonValue] | None


class AlertRecord(Record):
    id: int
    rule: AlertRule
    person_id: str
    episode: str
    state: AlertState
    evidence: Evidence
    created: UtcDatetime
    updated: UtcDatetime
    updated_by: str | None
    count: int = 1  # occurrences merged into this alert (repeats within the window)
    last_ts: UtcDatetime  # when the latest occurrence was raised (``created`` for the first)


class AlertRepeat(Record):
    """One occurrence of a merged alert: its episode, when it was raised, its evidence."""

    alert_id: int
    episode: str
    ts: UtcDatetime
    evidence: Evidence


class AlertStep(Record):
    """One officer's step on an alert: acknowledged or closed, by whom, when, with a note."""

    alert_id: int
    ts: UtcDatetime
    user: str
    state: AlertState
    note: str | None


class NamedAlert(AlertRecord):
    """An alert with the registered person's name (None for visitors, searches by photo)."""

    person_name: str | None = None


class Search(Record):
    id: str
    person_id: str | None
    template: bytes | None = Field(exclude=True, repr=False)
    model_id: str | None
    reason: str
    state: SearchState
    raised_by: str
    created: UtcDatetime
    closed: UtcDatetime | None
    closed_by: str | None
    close_note: str | None = None


class Sighting(Record):
    id: int
    search_id: str
    event_id: str
    ts: UtcDatetime
    gate: str
    camera: str
    identity: str | None
    score: float | None


class Candidate(Record):
    """A sighting candidate an edge reported for a search, with the officer's verdict."""

    id: int = Field(exclude=True)
    candidate_id: str
    search_id: str
    gate: str
    camera: str
    ts: UtcDatetime
    track_id: int
    score: float
    frames_at_threshold: int
    frames_considered: int
    threshold: float
    event_id: str | None
    model_id: str
    verdict: Verdict | None
    verdict_by: str | None
    verdict_at: UtcDatetime | None
    received: UtcDatetime
    has_evidence: bool = False


class EvidenceRecord(Record):
    """A candidate's evidence pictures (JPEG bytes), kept ``search.evidence_retention_days``."""

    candidate_id: str
    aligned_jpeg: bytes = Field(repr=False)
    context_jpeg: bytes = Field(repr=False)
    stored: UtcDatetime


class VisitorMatchRow(Record):
    """A live visitor a template search matched at one gate (look back)."""

    search_id: str
    visitor_id: str
    gate: str
    score: float
    threshold: float
    ts: UtcDatetime


class HomeVisit(Record):
    """A home visit to a resident, with the resident's name and address for the lists."""

    id: int
    person_id: str
    visited_at: UtcDatetime
    visitor: str
    note: str | None
    outcome: VisitOutcome
    recorded_by: str
    created: UtcDatetime
    name: str = ""
    building: str | None = None
    unit: str | None = None
    room: str | None = None
