"""The person registry, their face templates and the gallery snapshots built from them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from contract.gallery import GalleryManifest
from server import tables as t
from server.learning.forget import forget_person
from server.store.base import Repository, now_utc
from server.store.records import GalleryRecord, ListedPerson, Person, PersonEntry

F32 = npt.NDArray[np.float32]
GALLERY_COLS = ("version", "model_id", "sha256", "size", "path", "persons", "templates")


class GalleryEntry(NamedTuple):
    """One person of the next gallery (the shape ``Gallery.add_many`` takes)."""

    person_id: str
    role: str
    embeddings: F32


class RegistryStore(Repository):
    def upsert_person(self, person: PersonEntry) -> None:
        """Insert or replace a person's details in one statement (ON CONFLICT (id) DO UPDATE)."""
        now = now_utc()
        values = person.model_dump()
        stmt = self._insert(t.persons).values(**values, removed=False, created=now, updated=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in (*values, "removed", "updated") if k != "id"},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def get_person(self, person_id: str) -> Person | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(t.persons).where(t.persons.c.id == person_id)).first()
        return Person.of(r) if r else None

    def list_persons(self, include_removed: bool = False) -> list[ListedPerson]:
        """Persons with the number of templates each has."""
        counts = (
            select(t.templates.c.person_id, func.count().label("templates"))
            .group_by(t.templates.c.person_id)
            .subquery()
        )
        q = (
            select(t.persons, func.coalesce(counts.c.templates, 0).label("templates"))
            .outerjoin(counts, counts.c.person_id == t.persons.c.id)
            .order_by(t.persons.c.id)
        )
        if not include_removed:
            q = q.where(t.persons.c.removed.is_(False))
        with self.engine.connect() as conn:
            return ListedPerson.all(conn.execute(q))

    def watched_persons(self, born_before: date) -> list[Person]:
        """Residents old enough, or with any care flag, not removed."""
        q = select(t.persons).where(t.persons.c.removed.is_(False), t.persons.c.role == "resident")
        with self.engine.connect() as conn:
            persons = Person.all(conn.execute(q))
        return [
            p
            for p in persons
            if (p.birth_date is not None and p.birth_date <= born_before) or p.care_flags
        ]

    def remove_person(self, person_id: str) -> bool:
        """Mark removed and delete the face templates (the person leaves the next gallery) and what
        the gallery that learns kept of them."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.persons)
                .where(t.persons.c.id == person_id)
                .values(removed=True, updated=now_utc())
            ).rowcount
            conn.execute(delete(t.templates).where(t.templates.c.person_id == person_id))
            forget_person(conn, person_id)  # gate captures, review items, reference photo
        return bool(n)

    def add_templates(
        self, person_id: str, embeddings: F32, model_id: str, qualities: Iterable[float | None]
    ) -> int:
        with self.engine.begin() as conn:
            return self._add_templates(conn, person_id, embeddings, model_id, qualities)

    def replace_templates(
        self, person_id: str, embeddings: F32, model_id: str, qualities: Iterable[float | None]
    ) -> int:
        """Replace the person's enrollment templates with these, in one transaction. Templates
        an officer confirmed from the gates stay; those learned automatically go, since they were
        admitted only for matching the old enrollment photos (the anchor)."""
        c = t.templates.c
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.templates).where(
                    c.person_id == person_id, c.source.in_(("enrollment", "gate_auto"))
                )
            )
            return self._add_templates(conn, person_id, embeddings, model_id, qualities)

    @staticmethod
    def _add_templates(
        conn: Connection,
        person_id: str,
        embeddings: F32,
        model_id: str,
        qualities: Iterable[float | None],
    ) -> int:
        now = now_utc()
        rows = [
            {
                "person_id": person_id,
                "embedding": np.asarray(e, "<f4").tobytes(),
                "dim": len(e),
                "model_id": model_id,
                "quality": q,
                "created": now,
            }
            for e, q in zip(embeddings, qualities, strict=True)
        ]
        conn.execute(insert(t.templates), rows)
        return len(rows)

    def template_count(self, person_id: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(t.templates.c.person_id == person_id)
                ).scalar_one()
            )

    def gallery_rows(self, model_space_prefix: str, today: date) -> list[GalleryEntry]:
        """Everyone who belongs in the next gallery, with their templates of this model."""
        q = (
            select(t.persons.c.id, t.persons.c.role, t.templates.c.embedding)
            .join(t.templates, t.templates.c.person_id == t.persons.c.id)
            .where(
                t.persons.c.removed.is_(False),
                or_(t.persons.c.valid_until.is_(None), t.persons.c.valid_until >= today),
                t.templates.c.model_id.startswith(model_space_prefix),
            )
            .order_by(t.persons.c.id, t.templates.c.id)
        )
        grouped: dict[str, tuple[str, list[bytes]]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                grouped.setdefault(r.id, (r.role, []))[1].append(r.embedding)
        return [
            GalleryEntry(pid, role, np.stack([np.frombuffer(b, "<f4") for b in embs]))
            for pid, (role, embs) in grouped.items()
        ]

    def next_gallery_version(self) -> int:
        with self.engine.connect() as conn:
            v = conn.execute(select(func.max(t.galleries.c.version))).scalar()
        return int(v or 0) + 1

    def record_gallery(self, manifest: GalleryManifest) -> None:
        row = manifest.model_dump(include=set(GALLERY_COLS))
        with self.engine.begin() as conn:
            conn.execute(insert(t.galleries).values(**row, created=now_utc()))

    def prune_galleries(self, keep: int = 2) -> list[str]:
        """Forget every snapshot but the newest ``keep`` (the current one and the one before it,
        which an edge may still be fetching); the paths of the files to delete."""
        g = t.galleries.c
        with self.engine.begin() as conn:
            kept = select(g.version).order_by(g.version.desc()).limit(keep).subquery()
            old = select(g.version, g.path).where(g.version.not_in(select(kept.c.version)))
            rows = conn.execute(old).all()
            if rows:
                conn.execute(
                    delete(t.galleries).where(g.version.in_([r.version for r in rows]))
                )
        return [r.path for r in rows]

    def gallery(self, version: int | None = None) -> GalleryRecord | None:
        """The snapshot ``version``, or the newest one."""
        q = select(t.galleries)
        q = (
            q.where(t.galleries.c.version == version)
            if version is not None
            else q.order_by(t.galleries.c.version.desc()).limit(1)
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return GalleryRecord.of(r) if r else None
