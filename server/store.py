"""All reads and writes of the server's database; the server is its only writer."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from contract.events import EdgeStatus, Passage
from server import tables as t

F32 = npt.NDArray[np.float32]


def utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time here is UTC."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


PASSAGE_COLS = (
    t.events.c.event_id,
    t.events.c.ts,
    t.events.c.gate,
    t.events.c.camera,
    t.events.c.direction,
    t.events.c.identity,
    t.events.c.role,
    t.events.c.score,
    t.events.c.search_id,
)


@dataclass(frozen=True)
class PassageRow:
    event_id: str
    ts: datetime
    gate: str
    camera: str
    direction: str
    identity: str | None
    role: str
    score: float | None
    search_id: str | None

    @staticmethod
    def of(r: Sequence[Any]) -> PassageRow:
        """From a row selected with PASSAGE_COLS."""
        return PassageRow(r[0], utc(r[1]), *r[2:])  # type: ignore[arg-type]


class Store:
    """Thin typed functions over SQLAlchemy Core; each call is its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _insert(self, table: t.Table):  # noqa: ANN202
        """The dialect's INSERT, which knows ON CONFLICT, for SQLite and PostgreSQL alike."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def _insert_ignore(self, table: t.Table, *keys: str):  # noqa: ANN202
        """INSERT ... ON CONFLICT (keys) DO NOTHING."""
        return self._insert(table).on_conflict_do_nothing(index_elements=list(keys))

    # -- events ----------------------------------------------------------------------------

    def insert_events(self, passages: Sequence[Passage]) -> list[Passage]:
        """Insert by event id, idempotently; returns the passages that were new."""
        if not passages:
            return []
        received = now_utc()
        rows = [
            {
                "event_id": p.event_id,
                "seq": p.seq,
                "gate": p.gate,
                "camera": p.camera,
                "direction": p.direction,
                "ts": p.ts,
                "track_id": p.track_id,
                "identity": p.identity,
                "identity_kind": p.identity_kind,
                "role": p.role,
                "role_source": p.role_source,
                "score": p.score,
                "margin": p.margin,
                "quality": p.quality,
                "frames_used": p.frames_used,
                "gallery_version": p.gallery_version,
                "model_id": p.model_id,
                "search_id": p.search_id,
                "received": received,
            }
            for p in passages
        ]
        stmt = self._insert_ignore(t.events, "event_id").returning(t.events.c.event_id)
        with self.engine.begin() as conn:
            new_ids = set(conn.execute(stmt, rows).scalars().all())
            new = [p for p in passages if p.event_id in new_ids]
            self._touch_visitors(conn, [p for p in new if p.identity_kind == "visitor"])
            sightings = [p for p in new if p.search_id]
            if sightings:
                active = set(
                    conn.execute(
                        select(t.searches.c.id).where(
                            t.searches.c.id.in_({p.search_id for p in sightings}),
                            t.searches.c.state == "active",
                        )
                    ).scalars()
                )
                rows_s = [
                    {
                        "search_id": p.search_id,
                        "event_id": p.event_id,
                        "ts": p.ts,
                        "gate": p.gate,
                        "camera": p.camera,
                        "identity": p.identity,
                        "score": p.score,
                    }
                    for p in sightings
                    if p.search_id in active
                ]
                if rows_s:
                    conn.execute(self._insert_ignore(t.sightings, "event_id"), rows_s)
        return new

    def _touch_visitors(self, conn, seen: Sequence[Passage]) -> None:  # noqa: ANN001
        """Keep first/last seen and a passage count per visitor id."""
        if not seen:
            return
        by_id: dict[str, list[datetime]] = {}
        for p in seen:
            assert p.identity is not None
            by_id.setdefault(p.identity, []).append(p.ts)
        ins = self._insert(t.visitors)
        for vid, times in by_id.items():
            stmt = ins.values(
                id=vid, first_seen=min(times), last_seen=max(times), passages=len(times)
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "last_seen": func.max(t.visitors.c.last_seen, stmt.excluded.last_seen)
                    if self.dialect == "sqlite"
                    else func.greatest(t.visitors.c.last_seen, stmt.excluded.last_seen),
                    "passages": t.visitors.c.passages + stmt.excluded.passages,
                },
            )
            conn.execute(stmt)

    def visitor(self, visitor_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = (
                conn.execute(select(t.visitors).where(t.visitors.c.id == visitor_id))
                .mappings()
                .first()
            )
            return dict(r) if r else None

    def events(
        self, since: datetime, gate: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        q = select(t.events).where(t.events.c.ts >= since)
        if gate:
            q = q.where(t.events.c.gate == gate)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.events.c.ts.desc()).limit(limit)).mappings().all()
        return [dict(r) | {"ts": utc(r["ts"]), "received": utc(r["received"])} for r in rows]

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def recent_events(self, since: datetime, limit: int = 200) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t.events)
                    .where(t.events.c.ts >= since)
                    .order_by(t.events.c.ts.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [dict(r) | {"ts": utc(r["ts"]), "received": utc(r["received"])} for r in rows]

    def counts_by_role(self, since: datetime) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.events.c.role, func.count())
                .where(t.events.c.ts >= since)
                .group_by(t.events.c.role)
            ).all()
        return {r: int(n) for r, n in rows}

    def passages(
        self, identity: str, since: datetime, until: datetime | None = None
    ) -> list[PassageRow]:
        """The identity's passages in [since, until), oldest first (index: identity, ts)."""
        cond = [t.events.c.identity == identity, t.events.c.ts >= since]
        if until is not None:
            cond.append(t.events.c.ts < until)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*PASSAGE_COLS).where(and_(*cond)).order_by(t.events.c.ts, t.events.c.id)
            ).all()
        return [PassageRow.of(r) for r in rows]

    def last_passage(self, identity: str) -> PassageRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(*PASSAGE_COLS)
                .where(t.events.c.identity == identity)
                .order_by(t.events.c.ts.desc(), t.events.c.id.desc())
                .limit(1)
            ).first()
        return PassageRow.of(r) if r else None

    # -- gates -----------------------------------------------------------------------------

    def record_status(self, st: EdgeStatus) -> None:
        row = {
            "gate": st.gate,
            "camera": st.camera,
            "state": st.state,
            "camera_state": st.camera_state,
            "status": st.model_dump(mode="json"),
            "last_status": st.ts or now_utc(),
        }
        ins = self._insert(t.gates).values(row)
        ins = ins.on_conflict_do_update(
            index_elements=["gate", "camera"],
            set_={k: ins.excluded[k] for k in ("state", "camera_state", "status", "last_status")},
        )
        with self.engine.begin() as conn:
            conn.execute(ins)

    def gates(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.gates).order_by(t.gates.c.gate, t.gates.c.camera)
            ).mappings()
            return [dict(r) | {"last_status": utc(r["last_status"])} for r in rows]

    # -- persons and templates -------------------------------------------------------------

    def upsert_person(self, person: dict[str, Any]) -> None:
        now = now_utc()
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(t.persons.c.id).where(t.persons.c.id == person["id"])
            ).first()
            if exists:
                conn.execute(
                    update(t.persons)
                    .where(t.persons.c.id == person["id"])
                    .values(**person, updated=now, removed=False)
                )
            else:
                conn.execute(insert(t.persons).values(**person, created=now, updated=now))

    def get_person(self, person_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = (
                conn.execute(select(t.persons).where(t.persons.c.id == person_id))
                .mappings()
                .first()
            )
            return dict(r) if r else None

    def list_persons(self, include_removed: bool = False) -> list[dict[str, Any]]:
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
            return [dict(r) for r in conn.execute(q).mappings()]

    def remove_person(self, person_id: str) -> bool:
        """Mark removed and delete the face templates (the person leaves the next gallery)."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.persons)
                .where(t.persons.c.id == person_id)
                .values(removed=True, updated=now_utc())
            ).rowcount
            conn.execute(delete(t.templates).where(t.templates.c.person_id == person_id))
        return bool(n)

    def add_templates(
        self, person_id: str, embeddings: F32, model_id: str, qualities: Iterable[float | None]
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
        with self.engine.begin() as conn:
            conn.execute(insert(t.templates), rows)
        return len(rows)

    def replace_templates(
        self, person_id: str, embeddings: F32, model_id: str, qualities: Iterable[float | None]
    ) -> int:
        with self.engine.begin() as conn:
            conn.execute(delete(t.templates).where(t.templates.c.person_id == person_id))
        return self.add_templates(person_id, embeddings, model_id, qualities)

    def gallery_rows(self, model_space_prefix: str, today: date) -> list[tuple[str, str, F32]]:
        """(person id, role, templates) of everyone who belongs in the next gallery."""
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
            for pid, role, emb in conn.execute(q):
                grouped.setdefault(pid, (role, []))[1].append(emb)
        return [
            (pid, role, np.stack([np.frombuffer(b, "<f4") for b in embs]))
            for pid, (role, embs) in grouped.items()
        ]

    # -- galleries -------------------------------------------------------------------------

    def next_gallery_version(self) -> int:
        with self.engine.connect() as conn:
            v = conn.execute(select(func.max(t.galleries.c.version))).scalar()
        return int(v or 0) + 1

    def record_gallery(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.galleries).values(**row, created=now_utc()))

    def gallery(self, version: int | None = None) -> dict[str, Any] | None:
        q = select(t.galleries)
        q = (
            q.where(t.galleries.c.version == version)
            if version
            else q.order_by(t.galleries.c.version.desc()).limit(1)
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).mappings().first()
            return dict(r) if r else None

    # -- users and audit -------------------------------------------------------------------

    def add_user(self, name: str, role: str, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.users).values(
                    name=name,
                    role=role,
                    token_sha256=token_digest(token),
                    created=now_utc(),
                    disabled=False,
                )
            )
        return token

    def user_by_token(self, token: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = (
                conn.execute(
                    select(t.users).where(
                        t.users.c.token_sha256 == token_digest(token), t.users.c.disabled.is_(False)
                    )
                )
                .mappings()
                .first()
            )
            return dict(r) if r else None

    def has_users(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(t.users.c.name).limit(1)).first() is not None

    def audit(
        self,
        user: str,
        action: str,
        target: str | None,
        reason: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.audit).values(
                    ts=now_utc(),
                    user=user,
                    action=action,
                    target=target,
                    reason=reason,
                    detail=detail,
                )
            )

    def audit_log(self, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.audit)
                .where(t.audit.c.ts >= since)
                .order_by(t.audit.c.id.desc())
                .limit(limit)
            ).mappings()
            return [dict(r) | {"ts": utc(r["ts"])} for r in rows]

    # -- alerts ----------------------------------------------------------------------------

    def add_alert(
        self, rule: str, person_id: str, episode: str, evidence: dict[str, Any]
    ) -> int | None:
        """A new alert, or None when this episode of this rule already has one."""
        now = now_utc()
        stmt = self._insert_ignore(t.alerts, "rule", "person_id", "episode").returning(
            t.alerts.c.id
        )
        with self.engine.begin() as conn:
            r = conn.execute(
                stmt,
                {
                    "rule": rule,
                    "person_id": person_id,
                    "episode": episode,
                    "state": "open",
                    "evidence": evidence,
                    "created": now,
                    "updated": now,
                },
            ).first()
        return int(r[0]) if r else None

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        q = select(t.alerts).order_by(t.alerts.c.id.desc())
        if state:
            q = q.where(t.alerts.c.state == state)
        with self.engine.connect() as conn:
            return [
                dict(r) | {"created": utc(r["created"]), "updated": utc(r["updated"])}
                for r in conn.execute(q).mappings()
            ]

    def set_alert_state(self, alert_id: int, state: str, user: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.alerts)
                    .where(t.alerts.c.id == alert_id)
                    .values(state=state, updated=now_utc(), updated_by=user)
                ).rowcount
            )

    # -- searches --------------------------------------------------------------------------

    def add_search(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.searches).values(**row, state="active", created=now_utc()))

    def search(self, search_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = (
                conn.execute(select(t.searches).where(t.searches.c.id == search_id))
                .mappings()
                .first()
            )
            return dict(r) if r else None

    def searches(self, state: str | None = None) -> list[dict[str, Any]]:
        q = select(t.searches).order_by(t.searches.c.created.desc())
        if state:
            q = q.where(t.searches.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def close_search(self, search_id: str, user: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.searches)
                    .where(t.searches.c.id == search_id, t.searches.c.state == "active")
                    .values(state="closed", closed=now_utc(), closed_by=user)
                ).rowcount
            )

    def sightings(self, search_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.sightings)
                .where(t.sightings.c.search_id == search_id)
                .order_by(t.sightings.c.ts)
            ).mappings()
            return [dict(r) | {"ts": utc(r["ts"])} for r in rows]

    # -- watch and retention ---------------------------------------------------------------

    def watched_persons(self, born_before: date) -> list[dict[str, Any]]:
        """Residents old enough, or with any care flag, not removed."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t.persons).where(
                        t.persons.c.removed.is_(False), t.persons.c.role == "resident"
                    )
                )
                .mappings()
                .all()
            )
        return [
            dict(r)
            for r in rows
            if (r["birth_date"] is not None and r["birth_date"] <= born_before) or r["care_flags"]
        ]

    def last_passages(self, identities: Sequence[str]) -> dict[str, PassageRow]:
        """The newest passage of each identity, in one query."""
        if not identities:
            return {}
        latest = (
            select(t.events.c.identity, func.max(t.events.c.ts).label("ts"))
            .where(t.events.c.identity.in_(identities))
            .group_by(t.events.c.identity)
            .subquery()
        )
        q = select(*PASSAGE_COLS).join(
            latest, and_(t.events.c.identity == latest.c.identity, t.events.c.ts == latest.c.ts)
        )
        with self.engine.connect() as conn:
            return {r[5]: PassageRow.of(r) for r in conn.execute(q)}

    def out_passages_since(self, identities: Sequence[str], since: datetime) -> list[PassageRow]:
        if not identities:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*PASSAGE_COLS).where(
                    t.events.c.identity.in_(identities),
                    t.events.c.direction == "out",
                    t.events.c.ts >= since,
                )
            ).all()
        return [PassageRow.of(r) for r in rows]

    def purge(
        self, now: datetime, visitor_days: float, resident_days: float, audit_days: float
    ) -> dict[str, int]:
        """Delete what is past its retention; returns the rows deleted per kind."""
        with self.engine.begin() as conn:
            v = conn.execute(
                delete(t.events).where(
                    t.events.c.identity_kind != "person",
                    t.events.c.ts < now - timedelta(days=visitor_days),
                )
            ).rowcount
            r = conn.execute(
                delete(t.events).where(
                    t.events.c.identity_kind == "person",
                    t.events.c.ts < now - timedelta(days=resident_days),
                )
            ).rowcount
            vt = conn.execute(
                delete(t.visitors).where(
                    t.visitors.c.last_seen < now - timedelta(days=visitor_days)
                )
            ).rowcount
            a = conn.execute(
                delete(t.audit).where(t.audit.c.ts < now - timedelta(days=audit_days))
            ).rowcount
        return {"visitor_events": v, "visitors": vt, "person_events": r, "audit": a}
