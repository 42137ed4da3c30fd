"""Visitor ids: aliases (two ids, one visitor), look-back matches, and where visitors are."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select

from contract.visitors import VISITOR_ID_PATTERN, VisitorAlias, VisitorMatch
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import PassageRow, VisitorMatchRow

_VISITOR = re.compile(VISITOR_ID_PATTERN)
MAX_GROUP = 64  # more aliases than this for one visitor means something is wrong: stop there


def alias_group(conn: Connection, identity: str) -> list[str]:
    """``identity`` and every visitor id merged with it (through aliases, either way)."""
    if not _VISITOR.match(identity):
        return [identity]
    group, frontier = {identity}, {identity}
    while frontier and len(group) < MAX_GROUP:
        a = t.visitor_alias.c
        rows = conn.execute(
            select(a.alias, a.visitor_id).where(
                or_(a.alias.in_(frontier), a.visitor_id.in_(frontier))
            )
        ).all()
        found = {x for r in rows for x in (r.alias, r.visitor_id)} - group
        group |= found
        frontier = found
    return sorted(group)


def canonical_ids(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """For (alias, visitor_id) pairs: each id -> the id its group goes by (the winner at the
    end of the chain of aliases)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for alias, vid in pairs:
        parent.setdefault(alias, alias)
        parent.setdefault(vid, vid)
        ra, rv = root(alias), root(vid)
        if ra != rv:
            parent[ra] = rv
    return {x: root(x) for x in parent}


class VisitorStore(Repository):
    def add_alias(self, a: VisitorAlias) -> bool:
        """Record that ``a.alias`` is ``a.visitor_id``; False if already known."""
        with self.engine.begin() as conn:
            n = conn.execute(
                self._insert_ignore(t.visitor_alias, "alias").values(
                    alias=a.alias, visitor_id=a.visitor_id, gate=a.gate, created=now_utc()
                )
            ).rowcount
        return bool(n)

    def visitor_aliases(self) -> dict[str, str]:
        """Every aliased visitor id -> the id its visitor goes by."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.visitor_alias.c.alias, t.visitor_alias.c.visitor_id))
            return canonical_ids((r.alias, r.visitor_id) for r in rows)

    def identity_group(self, identity: str) -> list[str]:
        with self.engine.connect() as conn:
            return alias_group(conn, identity)

    def add_visitor_match(self, m: VisitorMatch) -> bool:
        """Store a look-back match (the best score per search, visitor and gate); False if the
        search is unknown or closed."""
        with self.engine.begin() as conn:
            active = conn.execute(
                select(t.searches.c.id).where(
                    t.searches.c.id == m.search_id, t.searches.c.state == "active"
                )
            ).first()
            if active is None:
                return False
            stmt = self._insert(t.visitor_matches).values(
                search_id=m.search_id, visitor_id=m.visitor_id, gate=m.gate, score=m.score,
                threshold=m.threshold, ts=m.ts,
            )  # fmt: skip
            greatest = func.max if self.dialect == "sqlite" else func.greatest
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["search_id", "visitor_id", "gate"],
                    set_={"score": greatest(t.visitor_matches.c.score, stmt.excluded.score)},
                )
            )
        return True

    def visitor_matches(self, search_id: str) -> list[VisitorMatchRow]:
        with self.engine.connect() as conn:
            return VisitorMatchRow.all(
                conn.execute(
                    select(t.visitor_matches)
                    .where(t.visitor_matches.c.search_id == search_id)
                    .order_by(t.visitor_matches.c.score.desc())
                )
            )

    def last_visitor_moves(self, since: datetime) -> list[PassageRow]:
        """Each visitor id's newest in or out passage since ``since``."""
        e = t.events.c
        moves = and_(e.identity_kind == "visitor", e.direction.in_(("in", "out")), e.ts >= since)
        latest = (
            select(e.identity, func.max(e.ts).label("ts"))
            .where(moves)
            .group_by(e.identity)
            .subquery()
        )
        cols = [t.events.c[name] for name in PassageRow.model_fields]
        q = (
            select(*cols)
            .where(moves)
            .join(latest, and_(e.identity == latest.c.identity, e.ts == latest.c.ts))
        )
        with self.engine.connect() as conn:
            return PassageRow.all(conn.execute(q))
