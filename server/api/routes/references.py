"""A person's reference photo (the enrollment face crop): stored by an admin, shown to officers
only, every view audited; removed with the person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from server.api.deps import Admin, AuditEntry, Id, Officer, Server, audited
from server.api.schemas import ReferenceStored
from server.app import ServerApp
from server.people.reference import NotJpeg
from server.states import AuditAction

router = APIRouter(prefix="/api/persons", tags=["persons"])
JPEG = "image/jpeg"


async def jpeg_body(request: Request) -> bytes:
    """The raw body of an ``image/jpeg`` request (the guard has capped its size)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != JPEG:
        raise NotJpeg(f"send the reference photo as {JPEG} (got {ctype or 'no content type'})")
    return await request.body()


def _enrolled(app: ServerApp, person_id: str) -> None:
    p = app.store.get_person(person_id)
    if p is None or p.removed:
        raise HTTPException(404, f"no such person: {person_id}")


@router.put(
    "/{person_id}/reference",
    openapi_extra={"requestBody": {"content": {JPEG: {"schema": {"type": "string",
                                                                 "format": "binary"}}}}},
)  # fmt: skip
def put_reference(
    person_id: Id,
    app: Server,
    user: Admin,
    data: Annotated[bytes, Depends(jpeg_body)],
    audit: Annotated[AuditEntry, audited(AuditAction.PUT_REFERENCE, "person_id")],
) -> ReferenceStored:
    """Store the person's face crop (JPEG: one face, matching their templates) as their
    reference photo, replacing any earlier one."""
    _enrolled(app, person_id)
    ref = app.references.put(person_id, data, user.name)
    audit.detail = {"width": ref.width, "height": ref.height, "score": round(ref.score, 3)}
    return ReferenceStored(
        person_id=person_id, width=ref.width, height=ref.height, score=round(ref.score, 3)
    )


@router.get(
    "/{person_id}/reference",
    response_class=Response,
    responses={200: {"content": {JPEG: {}}, "description": "the face crop (JPEG)"}},
)
def view_reference(
    person_id: Id,
    app: Server,
    _u: Officer,
    _a: Annotated[AuditEntry, audited(AuditAction.VIEW_REFERENCE, "person_id")],
) -> Response:
    """The person's reference photo; every view is audited."""
    _enrolled(app, person_id)
    ref = app.store.reference(person_id)
    if ref is None:
        raise HTTPException(404, f"{person_id} has no reference photo")
    return Response(ref.jpeg, media_type=JPEG, headers={"Cache-Control": "no-store"})


@router.delete("/{person_id}/reference", status_code=204)
def delete_reference(
    person_id: Id,
    app: Server,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.DELETE_REFERENCE, "person_id")],
) -> Response:
    if not app.store.delete_reference(person_id):
        raise HTTPException(404, f"{person_id} has no reference photo")
    return Response(status_code=204)
