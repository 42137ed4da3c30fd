"""A person's face templates (admin): add or replace, then publish the gallery."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException

from server.api.deps import Admin, AuditEntry, Id, Server, audited
from server.api.schemas import TemplatesAdded, TemplatesIn
from server.states import AuditAction

router = APIRouter(prefix="/api/persons", tags=["templates"])


@router.post("/{person_id}/templates", status_code=201)
def add_templates(
    person_id: Id,
    body: TemplatesIn,
    app: Server,
    _u: Admin,
    audit: Annotated[AuditEntry, audited(AuditAction.ADD_TEMPLATES, "person_id")],
) -> TemplatesAdded:
    store, face = app.store, app.face
    if store.get_person(person_id) is None:
        raise HTTPException(404, f"no person {person_id}; PUT /api/persons/{person_id} first")
    from models.engine import embedding_space

    if embedding_space(body.model_id) != embedding_space(face.model_id):
        raise HTTPException(
            400, f"templates from model {body.model_id}; this server runs {face.model_id}"
        )
    e = np.asarray(body.embeddings, np.float32)
    if e.ndim != 2 or e.shape[1] != face.dim or not np.isfinite(e).all():
        raise HTTPException(400, f"embeddings must be finite vectors of {face.dim} numbers")
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
    q: list[float | None] = list(body.qualities) if body.qualities else [None] * len(e)
    add = store.replace_templates if body.replace else store.add_templates
    n = add(person_id, e, face.model_id, q)
    audit.detail = {"count": n}
    return TemplatesAdded(
        person_id=person_id,
        added=n,
        templates=store.template_count(person_id),
        gallery=app.publish_gallery() if body.publish else None,
    )
