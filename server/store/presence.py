"""Presence: where each identity is now and passages per hour, kept at ingest for the wall.

Both move with the passages as they are stored (in the same transaction): an identity's place
only moves forward in time (a late passage from an edge's outbox changes its last in / out but
not where it is); an internal camera's passage (direction "none") means inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import Connection, Insert, and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from contract.events import Passage
from server import tables as t
from server.store.base import Repository
from server.store.records import Record, UtcDatetime, as_utc

INSIDE = ("in", "none")  # the directions that leave a person inside
_FORWARD = ("kind", "role", "direction", "gate", "camera")


class Presence(Record):
    identity: str
    kind: str
    role: str
    direction: str
    ts: UtcDatetime
    gate: str
    camera: str
    last_in: UtcDatetime | None
    last_out: UtcDatetime | None

    @property
    def inside(self) -> bool:
        return self.direction in INSIDE


@dataclass(frozen=True)
class HourCount:
    hour: datetime  # UTC, the start of the hour
    role: str
    direction: str
    n: int


def _newest(rows: Sequence[Passage]) -> dict[str, dict]:
    """One presence row per identity from a batch: its newest passage, newest in and out."""
    out: dict[str, dict] = {}
    for p in rows:
        if p.identity is None:
            continue
        r = out.get(p.identity)
        if r is None:
            r = out[p.identity] = {"identity": p.identity, "ts": p.ts, "last_in": None,
                                   "last_out": None} | _place(p)  # fmt: skip
        elif p.ts >= r["ts"]:
            r.update(_place(p), ts=p.ts)
        key = {"in": "last_in", "out": "last_out"}.get(p.direction)
        if key and (r[key] is None or p.ts > r[key]):
            r[key] = p.ts
    return out


def _place(p: Passage) -> dict:
    return {"kind": p.identity_kind, "role": p.role, "direction": p.direction, "gate": p.gate,
            "camera": p.camera}  # fmt: skip


@cache
def _upserts(dialect: str) -> tuple[Insert, Insert, Insert]:
    """The three upserts of ingest, built once per dialect (building them costs more than
    running them)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    ins = insert(t.presence)
    ex, pr = ins.excluded, t.presence.c
    later = ex.ts > pr.ts
    sets = {c: case((later, ex[c]), else_=pr[c]) for c in (*_FORWARD, "ts")}
    sets |= {c: case((or_(pr[c].is_(None), ex[c] > pr[c]), ex[c]), else_=pr[c])
             for c in ("last_in", "last_out")}  # fmt: skip
    presence = ins.on_conflict_do_update(index_elements=["identity"], set_=sets)
    ins = insert(t.hourly_counts)
    hours = ins.on_conflict_do_update(
        index_elements=["hour", "role", "direction"],
        set_={"n": t.hourly_counts.c.n + ins.excluded.n},
    )
    ins = insert(t.camera_passages)
    g = t.camera_passages.c
    cameras = ins.on_conflict_do_update(
        index_elements=["gate", "camera"],
        set_={"last_passage": ins.excluded.last_passage},
        where=g.last_passage < ins.excluded.last_passage,
    )
    return presence, hours, cameras


class PresenceStore(Repository):
    def _touch_presence(self, conn: Connection, new: Sequence[Passage]) -> None:
        """Move each identity's presence, the hourly counts and the cameras' last passage."""
        presence, hours, cameras = _upserts(self.dialect)
        rows = list(_newest(new).values())
        if rows:
            conn.execute(presence, rows)
        counts: dict[tuple[datetime, str, str], int] = {}
        last: dict[tuple[str, str], datetime] = {}
        for p in new:
            key = (p.ts.replace(minute=0, second=0, microsecond=0), p.role, p.direction)
            counts[key] = counts.get(key, 0) + 1
            last[(p.gate, p.camera)] = max(p.ts, last.get((p.gate, p.camera), p.ts))
        if counts:
            conn.execute(hours, [{"hour": h, "role": r, "direction": d, "n": n}
                                 for (h, r, d), n in counts.items()])  # fmt: skip
            conn.execute(cameras, [{"gate": g, "camera": c, "last_passage": ts}
                                   for (g, c), ts in last.items()])  # fmt: skip

    def presence_of(self, identities: Sequence[str]) -> dict[str, Presence]:
        """Where each of these identities is now (those never seen are absent)."""
        if not identities:
            return {}
        with self.engine.connect() as conn:
            rows = Presence.all(
                conn.execute(select(t.presence).where(t.presence.c.identity.in_(identities)))
            )
        return {r.identity: r for r in rows}

    def presence_counts(self, fresh_since: datetime | None = None) -> dict[str, int]:
        """Identities inside now, by role (visitors by raw id, aliases not merged). Roles other
        than resident count only when seen since ``fresh_since`` (if given): a courier whose
        way out the cameras missed is not inside for ever."""
        pr = t.presence.c
        cond = [pr.direction.in_(INSIDE)]
        if fresh_since is not None:
            cond.append(or_(pr.role == "resident", pr.ts >= fresh_since))
        q = select(pr.role, func.count()).where(and_(*cond)).group_by(pr.role)
        with self.engine.connect() as conn:
            return {role: int(n) for role, n in conn.execute(q)}

    def presence_summary(self, fresh_since: datetime, today: datetime) -> dict[str, dict]:
        """In one pass over presence, by role: identities inside now ("inside"; roles other than
        resident only when seen since ``fresh_since``; visitors by their newest move in or out
        since then), and with a passage in / out since ``today`` ("in", "out"). Visitors by raw
        id: the caller merges aliases (see visitor_moves)."""
        pr = t.presence.c
        visitor_inside = and_(
            pr.last_in >= fresh_since, or_(pr.last_out.is_(None), pr.last_out < pr.last_in)
        )
        other_inside = and_(
            pr.direction.in_(INSIDE), or_(pr.role == "resident", pr.ts >= fresh_since)
        )
        inside = case((pr.kind == "visitor", visitor_inside), else_=other_inside)
        q = select(
            pr.role,
            func.sum(case((inside, 1), else_=0)),
            func.sum(case((pr.last_in >= today, 1), else_=0)),
            func.sum(case((pr.last_out >= today, 1), else_=0)),
        ).group_by(pr.role)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return {r: {"inside": int(n or 0), "in": int(i or 0), "out": int(o or 0)}
                for r, n, i, o in rows}  # fmt: skip

    def visitor_moves(
        self, since: datetime, ids: Sequence[str]
    ) -> list[tuple[str, datetime | None, datetime | None]]:
        """(visitor id, newest in, newest out) of these visitor ids; times before ``since``
        are None (as if not seen)."""
        if not ids:
            return []
        pr = t.presence.c
        q = select(pr.identity, pr.last_in, pr.last_out).where(
            pr.kind == "visitor", pr.identity.in_(set(ids))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()

        def within(ts: datetime | None) -> datetime | None:
            return None if ts is None or as_utc(ts) < since else as_utc(ts)

        return [(r.identity, within(r.last_in), within(r.last_out)) for r in rows]

    def hour_counts(self, since: datetime, until: datetime) -> list[HourCount]:
        """Passages per UTC hour, role and direction in [since, until)."""
        h = t.hourly_counts.c
        q = select(h.hour, h.role, h.direction, h.n).where(h.hour >= since, h.hour < until)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [HourCount(as_utc(r.hour), r.role, r.direction, int(r.n)) for r in rows]

    def elders_seen(
        self, born_before_or_on: date, seen: Sequence[datetime]
    ) -> tuple[int, list[int]]:
        """Residents (not removed) born on or before the date: how many, and how many of them
        were seen (any camera) since each of ``seen``."""
        p, pr = t.persons.c, t.presence.c
        cols = [func.count()] + [func.sum(case((pr.ts >= s, 1), else_=0)) for s in seen]
        q = (
            select(*cols)
            .select_from(t.persons.outerjoin(t.presence, pr.identity == p.id))
            .where(p.role == "resident", p.removed.is_(False), p.birth_date <= born_before_or_on)
        )
        with self.engine.connect() as conn:
            total, *counts = conn.execute(q).one()
        return int(total), [int(c or 0) for c in counts]

    def camera_passages(self) -> dict[tuple[str, str], datetime]:
        """(gate, camera) -> the newest passage it reported."""
        c = t.camera_passages.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.gate, c.camera, c.last_passage)).all()
        return {(r.gate, r.camera): as_utc(r.last_passage) for r in rows}

    def person_labels(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Name and building of each of these enrolled persons (unknown ids are absent)."""
        if not ids:
            return {}
        p = t.persons.c
        q = select(p.id, p.name, p.building).where(p.id.in_(set(ids)))
        with self.engine.connect() as conn:
            return {r.id: (r.name, r.building) for r in conn.execute(q)}
