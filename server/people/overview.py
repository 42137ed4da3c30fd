"""The person page's data: who, where now, the last 48 hours as stays, alerts, visits, searches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from server.errors import NotFound
from server.people.trajectory import Trajectory, trace
from server.states import SearchState
from server.store import Store
from server.store.records import AlertRecord, HomeVisit, Person, Search
from server.watch.roster import age_on

WINDOW_H = 48


def no_such_person(person_id: str) -> NotFound:
    return NotFound.person(person_id)


@dataclass(frozen=True)
class Overview:
    person: Person
    age: int | None
    expired: bool  # valid_until (couriers, staff) is before the local today
    trajectory: Trajectory
    until: datetime
    alerts: list[AlertRecord]
    visits: list[HomeVisit]
    searches: list[Search]  # the person's active searches
    reference: bool  # a reference photo (the enrollment face crop) is stored


def overview(store: Store, tz: tzinfo, now: datetime, person_id: str) -> Overview:
    """Everything the person page shows; NotFound ("no such person: <id>") for a wrong id."""
    p = store.get_person(person_id)
    if p is None or p.removed:
        raise no_such_person(person_id)
    today = now.astimezone(tz).date()
    traj = trace(store, person_id, now - timedelta(hours=WINDOW_H))
    searches = [s for s in store.searches(SearchState.ACTIVE) if s.person_id == person_id]
    return Overview(
        person=p,
        age=age_on(p.birth_date, today),
        expired=p.valid_until is not None and p.valid_until < today,
        trajectory=traj,
        until=now,
        alerts=store.alerts_of(person_id),
        visits=store.visits(person_id=person_id, limit=50),
        searches=searches,
        reference=store.has_reference(person_id),
    )
