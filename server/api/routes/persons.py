"""The person registry (admin; an officer may read one person, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException

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
    return PersonRemoved(removed=person_id, gallery=app.publish_gallery(keep=1))
