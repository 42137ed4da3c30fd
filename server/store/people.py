"""What the officer's workbench reads about people: find by name, open alerts, home visits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Text,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    true,
)

from server import tables as t
from server.states import AlertState, VisitOutcome
from server.store.base import Repository, now_utc
from server.store.records import AlertRecord, HomeVisit, Person, as_utc

OPEN_STATES = (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value)


class Brief(NamedTuple):
    """A watched resident as the roster and the due list read them (no model validation: the
    roster of 5,000 elders must answer in well under 300 ms)."""

    id: str
    name: str
    birth_date: date | None
    building: str | None
    unit: str | None
    room: str | None
    phone: str | None
    care_flags: list[str]


# The care flags come as their JSON text, decoded only when not empty (most rows: "[]").
BRIEF_COLS = (*(t.persons.c[f] for f in Brief._fields[:-1]),
              cast(t.persons.c.care_flags, Text).label("care_flags"))  # fmt: skip


def brief(r: Row) -> Brief:
    flags = r.care_flags
    return Brief(*r[:7], [] if flags in (None, "[]") else json.loads(flags))


class LastSeen(NamedTuple):
    ts: datetime
    gate: str
    camera: str
    direction: str


def watched_condition(born_before: date) -> ColumnElement[bool]:
    """Residents (not removed) born on or before ``born_before``, or with any care flag."""
    p = t.persons.c
    flagged = func.coalesce(cast(p.care_flags, Text), "[]") != "[]"
    return and_(
        p.removed.is_(False), p.role == "resident", or_(p.birth_date <= born_before, flagged)
    )


VISIT_COLS = (*t.home_visits.c, t.persons.c.name, t.persons.c.building, t.persons.c.unit,
              t.persons.c.room)  # fmt: skip


class PeopleStore(Repository):
    def watched_brief(self, born_before: date) -> list[Brief]:
        """The watched residents (see ``watched_condition``), in one query."""
        q = select(*BRIEF_COLS).where(watched_condition(born_before))
        with self.engine.connect() as conn:
            return [brief(r) for r in conn.execute(q)]

    def watched_last_seen(self, born_before: date) -> list[tuple[Brief, LastSeen | None]]:
        """The watched residents, each with the newest passage or internal sighting, in one
        query: one index seek per resident (identity, ts descending)."""
        with self.engine.connect() as conn:
            return [
                (brief(r), None if r.ts is None else LastSeen(as_utc(r.ts), *r[9:]))
                for r in conn.execute(self._watched_last_seen_query(born_before))
            ]

    def _watched_last_seen_query(self, born_before: date) -> Select:
        e, p = t.events.c, t.persons.c
        if self.dialect == "postgresql":  # LATERAL: PostgreSQL would hash the whole events table
            last = (
                select(e.ts, e.gate, e.camera, e.direction)
                .where(e.identity == p.id)
                .order_by(e.ts.desc())
                .limit(1)
                .lateral("last")
            )
            return (
                select(*BRIEF_COLS, *last.c)
                .select_from(t.persons.outerjoin(last, true()))
                .where(watched_condition(born_before))
            )
        newest = (  # SQLite: the newest event's id per resident, then that row by primary key
            select(e.id)
            .where(e.identity == p.id)
            .order_by(e.ts.desc())
            .limit(1)
            .correlate(t.persons)
            .scalar_subquery()
        )
        watched = (
            select(*BRIEF_COLS, newest.label("newest"))
            .where(watched_condition(born_before))
            .subquery()
        )
        q = select(*watched.c[: len(Brief._fields)], e.ts, e.gate, e.camera, e.direction)
        return q.select_from(watched.outerjoin(t.events, e.id == watched.c.newest))

    def find_persons(self, q: str, limit: int = 20) -> list[Person]:
        """Persons (not removed) whose name, building or id contains ``q``, names first."""
        p = t.persons.c
        needle = q.strip().lower()
        match = or_(
            func.lower(p.name).contains(needle, autoescape=True),
            func.lower(p.building).contains(needle, autoescape=True),
            func.lower(p.id) == needle,
        )
        name_hit = func.lower(p.name).contains(needle, autoescape=True)
        query = (
            select(t.persons)
            .where(p.removed.is_(False), match)
            .order_by(name_hit.desc(), p.name, p.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return Person.all(conn.execute(query))

    def open_alert_rules(self, person_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
        """The rules of each person's open (or acknowledged) alerts, oldest first."""
        a = t.alerts.c
        q = select(a.person_id, a.rule).where(a.state.in_(OPEN_STATES)).order_by(a.id)
        if person_ids is not None:
            q = q.where(a.person_id.in_(person_ids))
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                out.setdefault(r.person_id, []).append(r.rule)
        return out

    def alerts_of(self, person_id: str, limit: int = 100) -> list[AlertRecord]:
        """The person's alerts, newest first."""
        q = (
            select(t.alerts)
            .where(t.alerts.c.person_id == person_id)
            .order_by(t.alerts.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return AlertRecord.all(conn.execute(q))

    def add_visit(
        self,
        person_id: str,
        visited_at: datetime,
        visitor: str,
        outcome: VisitOutcome,
        note: str | None,
        recorded_by: str,
    ) -> HomeVisit:
        row = {
            "person_id": person_id,
            "visited_at": visited_at.astimezone(UTC),  # SQLite would keep the wall time
            "visitor": visitor,
            "note": note,
            "outcome": VisitOutcome(outcome).value,
            "recorded_by": recorded_by,
            "created": now_utc(),
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(t.home_visits).returning(t.home_visits.c.id), row).scalar()
        [visit] = self.visits(visit_id=int(new_id or 0))
        return visit

    def visits(
        self,
        person_id: str | None = None,
        since: datetime | None = None,
        visit_id: int | None = None,
        limit: int = 200,
    ) -> list[HomeVisit]:
        """Home visits (of one person, since a time), newest first, with name and address."""
        v = t.home_visits.c
        q = select(*VISIT_COLS).join(t.persons, t.persons.c.id == v.person_id)
        if person_id is not None:
            q = q.where(v.person_id == person_id)
        if since is not None:
            q = q.where(v.visited_at >= since)
        if visit_id is not None:
            q = q.where(v.id == visit_id)
        q = q.order_by(v.visited_at.desc(), v.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return HomeVisit.all(conn.execute(q))

    def last_visits(self, outcomes: Sequence[VisitOutcome] | None = None) -> dict[str, datetime]:
        """Each visited person's latest visit (of these outcomes if given)."""
        v = t.home_visits.c
        q = select(v.person_id, func.max(v.visited_at).label("at")).group_by(v.person_id)
        if outcomes is not None:
            q = q.where(v.outcome.in_([VisitOutcome(o).value for o in outcomes]))
        with self.engine.connect() as conn:
            return {r.person_id: as_utc(r.at) for r in conn.execute(q)}

    def purge_visits(self, before: datetime) -> int:
        """Delete visits older than ``before`` (the residents' retention)."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(t.home_visits).where(t.home_visits.c.visited_at < before)
            ).rowcount
