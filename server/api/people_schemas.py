"""Bodies of the officer's workbench API: roster, person finder, home visits, person overview."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from contract.roles import EnrolledRole
from contract.topics import ID_PATTERN
from server.api.schemas import StayOut, TrajectoryOut, WhereaboutsOut
from server.people.overview import Overview
from server.states import VisitOutcome
from server.store.records import TEXT_PATTERN, AlertRecord, CareFlag, HomeVisit, PassageRow, Search
from server.watch.visits import Due

__all__ = ["HomeVisit"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())


class PersonFound(_Out):
    """A person the finder matched (type-ahead)."""

    id: str
    name: str
    role: EnrolledRole
    building: str | None
    unit: str | None
    room: str | None = None
    age: int | None


class RosterEntry(_Out):
    id: str
    name: str
    age: int | None
    building: str | None
    unit: str | None
    room: str | None = None
    flags: list[CareFlag]
    last_seen: datetime | None
    gate: str | None
    camera: str | None
    direction: str | None
    inside: bool | None = Field(description="None: never seen by any camera.")
    hours: float | None = Field(description="Hours since last seen; None: never seen.")
    alerts: int = Field(description="Open (or acknowledged) alerts.")
    alert_rules: list[str]
    risk: int = Field(description="Rank by risk over the whole roster, 1 = most at risk.")


class Roster(_Out):
    at: datetime
    age_years: int
    total: int = Field(description="Watched residents before the filters.")
    rows: list[RosterEntry]


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Field(pattern=ID_PATTERN)
    visitor: str = Field(min_length=1, max_length=100, pattern=TEXT_PATTERN,
                         description="Who visited (free text).")  # fmt: skip
    outcome: VisitOutcome
    note: str | None = Field(None, max_length=2000, pattern=TEXT_PATTERN)
    visited_at: datetime | None = Field(
        None, description="When (default now); without an offset it is the site's local time."
    )


class DueEntry(_Out):
    id: str
    name: str
    age: int | None
    building: str | None
    unit: str | None
    room: str | None = None
    phone: str | None
    flags: list[CareFlag]
    last_visit: datetime | None
    days_since: float | None = Field(description="None: never visited.")
    not_home: datetime | None = Field(
        None, description="The latest visit that found nobody home, when after last_visit."
    )

    @classmethod
    def of(cls, d: Due) -> DueEntry:
        p = d.person
        days = None if d.days_since is None else round(d.days_since, 1)
        return cls(id=p.id, name=p.name, age=d.age, building=p.building, unit=p.unit,
                   room=p.room, phone=p.phone, flags=p.care_flags, last_visit=d.last_visit,
                   days_since=days, not_home=d.not_home)  # fmt: skip


class DueList(_Out):
    days: int
    rows: list[DueEntry]


class PersonCard(_Out):
    id: str
    name: str
    role: EnrolledRole
    age: int | None
    birth_date: date | None
    building: str | None
    unit: str | None
    room: str | None = None
    phone: str | None
    company: str | None
    care_flags: list[CareFlag]
    valid_until: date | None
    expired: bool = Field(description="valid_until is past (local date).")


class PersonOverview(_Out):
    person: PersonCard
    since: datetime
    until: datetime
    whereabouts: WhereaboutsOut
    stays: list[StayOut]
    passages: list[PassageRow]
    alerts: list[AlertRecord]
    visits: list[HomeVisit]
    searches: list[Search]
    reference: bool = Field(
        description="A reference photo is stored: GET /api/persons/{id}/reference (audited)."
    )

    @classmethod
    def of(cls, o: Overview) -> PersonOverview:
        p = o.person
        card = PersonCard(**p.model_dump(include=set(PersonCard.model_fields)), age=o.age,
                          expired=o.expired)  # fmt: skip
        t = TrajectoryOut.of(o.trajectory, o.until)
        return cls(person=card, since=t.since, until=o.until, whereabouts=t.whereabouts,
                   stays=t.stays, passages=t.passages, alerts=o.alerts, visits=o.visits,
                   searches=o.searches, reference=o.reference)  # fmt: skip
