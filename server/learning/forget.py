"""Everything the gallery that learns keeps of a person, deleted with the person.

The registry only marks a person removed (their passages follow their own retention), so the
foreign keys' cascades never fire: the removal path calls this in its transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from server import tables as t


def forget_person(conn: Connection, person_id: str) -> None:
    """Delete the person's review items, rejections, captures (with faces), reference photo."""
    conn.execute(delete(t.review_items).where(t.review_items.c.person_id == person_id))
    conn.execute(delete(t.review_rejections).where(t.review_rejections.c.person_id == person_id))
    mine = select(t.captures.c.capture_id).where(t.captures.c.person_id == person_id)
    conn.execute(delete(t.review_items).where(t.review_items.c.capture_id.in_(mine)))
    conn.execute(delete(t.capture_faces).where(t.capture_faces.c.capture_id.in_(mine)))
    conn.execute(delete(t.captures).where(t.captures.c.person_id == person_id))
    conn.execute(delete(t.reference_photos).where(t.reference_photos.c.person_id == person_id))
