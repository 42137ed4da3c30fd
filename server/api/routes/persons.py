"""The person registry (admin; an officer may read one person, audited)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import func, or_, select

from server import tables as t
from server.api.deps import Admin, AuditEntry, Id, Officer, Reason, Server, StoreDep, audited
from server.api.schemas import ListedPerson, Person, PersonIn, PersonRemoved
from server.states import AuditAction

router = APIRouter(prefix="/api/persons", tags=["persons"])


@router.put("/{person_id}")
def put_person(
    person_id: Id,
    body: PersonIn,
    store: StoreDep,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.PUT_PERSON, "person_id")],
) -> Person:
    if body.id != person_id:
        raise HTTPException(400, "person id in the path and the body differ")
    store.upsert_person(body)
    person = store.get_person(person_id)
    assert person is not None
    return person


@router.get("")
def list_persons(
    store: StoreDep,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.LIST_PERSONS)],
) -> list[ListedPerson]:
    return store.list_persons()


class FoundPerson(BaseModel):
    id: str
    name: str
    role: str
    building: str | None
    unit: str | None
    age: int | None


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@router.get("/find")
def find_persons(
    store: StoreDep,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_PERSON, "q")],
    q: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[FoundPerson]:
    """Type-ahead (officer, audited): up to 20 persons whose name, id or building has ``q``."""
    p, like = t.persons, "%" + q.lower().replace("%", "").replace("_", "") + "%"
    stmt = (
        select(p.c.id, p.c.name, p.c.role, p.c.building, p.c.unit, p.c.birth_date)
        .where(p.c.removed.is_(False))
        .where(
            or_(func.lower(p.c.name).like(like), func.lower(p.c.id).like(like), p.c.building == q)
        )  # fmt: skip
        .order_by(p.c.name)
        .limit(20)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    today = date.today()
    return [FoundPerson(**r._asdict(), age=_age(r.birth_date, today)) for r in rows]


@router.get("/{person_id}")
def get_person(
    person_id: Id,
    store: StoreDep,
    _u: Officer,
    reason: Reason,
    _a: Annotated[AuditEntry, audited(AuditAction.READ_PERSON, "person_id")],
) -> Person:
    p = store.get_person(person_id)
    if p is None or p.removed:
        raise HTTPException(404, f"no person {person_id}")
    return p


@router.delete("/{person_id}")
def remove_person(
    person_id: Id,
    app: Server,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.REMOVE_PERSON, "person_id")],
) -> PersonRemoved:
    if not app.store.remove_person(person_id):
        raise HTTPException(404, f"no person {person_id}")
    return PersonRemoved(removed=person_id, gallery=app.publish_gallery())
