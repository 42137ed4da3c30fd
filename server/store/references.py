"""Each person's one reference photo: the enrollment face crop officers compare gate faces with."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, exists, select

from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Record, UtcDatetime


class ReferencePhoto(Record):
    """The stored JPEG of a person's face crop, with who stored it when."""

    person_id: str
    jpeg: bytes
    width: int
    height: int
    created: UtcDatetime
    created_by: str | None


class ReferenceStore(Repository):
    def put_reference(
        self, person_id: str, jpeg: bytes, width: int, height: int, by: str | None
    ) -> None:
        """Store (or replace) the person's reference photo."""
        values = {"jpeg": jpeg, "width": width, "height": height, "created": now_utc(),
                  "created_by": by}  # fmt: skip
        stmt = self._insert(t.reference_photos).values(person_id=person_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["person_id"], set_=values)
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def reference(self, person_id: str) -> ReferencePhoto | None:
        r = t.reference_photos.c
        with self.engine.connect() as conn:
            row = conn.execute(select(t.reference_photos).where(r.person_id == person_id)).first()
        return ReferencePhoto.of(row) if row else None

    def has_reference(self, person_id: str) -> bool:
        r = t.reference_photos.c
        with self.engine.connect() as conn:
            return bool(conn.execute(select(exists().where(r.person_id == person_id))).scalar())

    def person_templates(self, person_id: str, model_space_prefix: str) -> npt.NDArray[np.float32]:
        """The person's enrollment templates of this embedding space, one row each (what a
        reference photo is checked against; never a template learned at a gate)."""
        c = t.templates.c
        q = select(c.embedding).where(
            c.person_id == person_id,
            c.model_id.startswith(model_space_prefix),
            c.source == "enrollment",
        )
        with self.engine.connect() as conn:
            rows = [np.frombuffer(r.embedding, "<f4") for r in conn.execute(q)]
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)

    def delete_reference(self, person_id: str) -> bool:
        """Delete the person's reference photo; False when there was none. (A person's removal
        deletes it in the same transaction: RegistryStore.remove_person.)"""
        q = delete(t.reference_photos).where(t.reference_photos.c.person_id == person_id)
        with self.engine.begin() as conn:
            return bool(conn.execute(q).rowcount)
