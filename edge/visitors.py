"""Pseudonymous visitor ids: the same unknown face gets the same id until it expires.

Held in memory only (never written to disk by the edge). The site's edges share the ids they
mint (edge/visitor_share.py): a visitor heard from another edge joins this gallery with the time
it has left, so an id follows its visitor from gate to gate and survives an edge restart.
Written by the frame loop (match or mint) and by the share's worker (heard): one lock.

Bounded: at most ``max_visitors`` in all and ``max_per_gate`` made known by any one gate (minted
here, or shared on that gate's topic), so a flood of templates from one gate cannot push out the
visitors of the others. When a bound is reached the visitors nearest their expiry go first
(a batch at a time: removing from the index costs the whole index), counted in ``evicted``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import faiss
import numpy as np
import numpy.typing as npt

from contract.visitors import VisitorTemplate

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
EVICT_LOG_EVERY_S = 60.0  # the least time between two warnings about evicted visitors
EXPIRE_EVERY_S = 1.0  # matching and hearing look for expired visitors at most this often


@dataclass
class Visitor:
    id: str
    template: F32
    first_seen: datetime  # UTC wall clock, as shared with the other edges
    last_seen: float  # monotonic
    expires: float  # monotonic
    minted_by: str  # minted here: this gate; heard: the gate whose topic shared it


@dataclass(frozen=True)
class Seen:
    """A visitor the frame loop just matched (``minted`` False) or minted here."""

    visitor_id: str
    template: F32
    first_seen: datetime
    minted_by: str
    minted: bool


@dataclass(frozen=True)
class Merged:
    """Two ids found to be one visitor: ``alias`` gives way to the older ``visitor_id``."""

    alias: str
    visitor_id: str


@dataclass(frozen=True)
class VisitorHit:
    """A visitor whose template scores ``score`` against a query."""

    visitor_id: str
    score: float


def _unit(template: npt.ArrayLike) -> F32:
    q = np.asarray(template, np.float32).reshape(1, -1)
    return q / max(float(np.linalg.norm(q)), 1e-6)


class VisitorGallery:
    """Unknown faces seen recently (here or at the site's other edges), searchable by cosine."""

    def __init__(
        self,
        dim: int,
        threshold: float,
        expiry_s: float,
        max_visitors: int,
        *,
        gate: str = "edge",
        max_per_gate: int | None = None,
    ) -> None:
        self.dim = dim
        self.threshold = threshold
        self.expiry_s = expiry_s
        self.max_visitors = max_visitors
        self.max_per_gate = min(max_per_gate or max_visitors, max_visitors)
        self.gate = gate
        self.evicted = 0
        self._evict_logged_at = -EVICT_LOG_EVERY_S
        self._per_gate: dict[str, int] = {}
        self._expired_at = -EXPIRE_EVERY_S
        self.on_seen: Callable[[Seen], None] | None = None  # set by whoever shares the ids
        self._visitors: dict[int, Visitor] = {}
        self._keys: dict[str, int] = {}  # visitor id -> index key
        self._aliases: dict[str, float] = {}  # ids merged into another -> until when (monotonic)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._next = 1
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._visitors)

    def __contains__(self, visitor_id: str) -> bool:
        return visitor_id in self._keys

    def expire(self, now: float) -> int:
        """Forget visitors whose time is up; returns how many."""
        with self._lock:
            return self._expire(now)

    def _expire_due(self, now: float) -> None:
        """Expire, at most once a second (a scan of every visitor: not once per template)."""
        if not 0 <= now - self._expired_at < EXPIRE_EVERY_S:
            self._expire(now)

    def _expire(self, now: float) -> int:
        self._expired_at = now
        gone = [k for k, v in self._visitors.items() if v.expires <= now]
        if gone:
            self._drop(gone)
        self._aliases = {a: t for a, t in self._aliases.items() if t > now}
        return len(gone)

    def _drop(self, keys: list[int]) -> None:
        self._index.remove_ids(np.asarray(keys, dtype=np.int64))
        for k in keys:
            v = self._visitors.pop(k)
            del self._keys[v.id]
            left = self._per_gate.get(v.minted_by, 0) - 1
            if left > 0:
                self._per_gate[v.minted_by] = left
            else:
                self._per_gate.pop(v.minted_by, None)

    def _make_room(self, gate: str) -> None:
        """Evict the visitors nearest their expiry when ``gate`` (or the whole gallery) is full;
        a batch (1/64 of the bound) at once, so a flood costs one index rebuild per batch."""
        if self._per_gate.get(gate, 0) >= self.max_per_gate:
            pool = [k for k, v in self._visitors.items() if v.minted_by == gate]
            bound, why = self.max_per_gate, f"gate {gate}'s"
        elif len(self._visitors) >= self.max_visitors:
            pool, bound, why = list(self._visitors), self.max_visitors, "all"
        else:
            return
        pool.sort(key=lambda k: self._visitors[k].expires)
        gone = pool[: max(1, bound // 64)]
        self._drop(gone)
        self.evicted += len(gone)
        now = time.monotonic()
        if now - self._evict_logged_at >= EVICT_LOG_EVERY_S:
            self._evict_logged_at = now
            log.warning("[%s] visitor gallery full (%s %d): %d visitors nearest expiry evicted, "
                        "%d so far", self.gate, why, bound, len(gone), self.evicted)  # fmt: skip

    def _nearest(self, q: F32) -> tuple[int, float] | None:
        if not self._index.ntotal:
            return None
        scores, ids = self._index.search(q, 1)
        return (int(ids[0, 0]), float(scores[0, 0])) if ids[0, 0] >= 0 else None

    def _add(self, v: Visitor) -> None:
        self._make_room(v.minted_by)
        key = self._next
        self._next += 1
        self._visitors[key] = v
        self._keys[v.id] = key
        self._per_gate[v.minted_by] = self._per_gate.get(v.minted_by, 0) + 1
        self._index.add_with_ids(v.template.reshape(1, -1), np.asarray([key], dtype=np.int64))

    def match_or_add(self, template: F32, now: float) -> tuple[str, float | None]:
        """The visitor id for this face (new if none is close enough) and the match score."""
        q = _unit(template)
        with self._lock:
            self._expire_due(now)
            near = self._nearest(q)
            if near is not None and near[1] >= self.threshold:
                v = self._visitors[near[0]]
                v.last_seen, v.expires = now, now + self.expiry_s
                seen, score = self._seen(v, minted=False), near[1]
            else:
                v = Visitor(
                    "v-" + secrets.token_hex(6), q[0].copy(), datetime.now(UTC), now,
                    now + self.expiry_s, self.gate,
                )  # fmt: skip
                self._add(v)
                seen, score = self._seen(v, minted=True), None
        if self.on_seen is not None:
            self.on_seen(seen)
        return seen.visitor_id, score

    @staticmethod
    def _seen(v: Visitor, minted: bool) -> Seen:
        return Seen(v.id, v.template.copy(), v.first_seen, v.minted_by, minted)

    def heard(
        self, t: VisitorTemplate, left_s: float | None, now: float, gate: str | None = None
    ) -> Merged | None:
        """A visitor shared by an edge of the site joins (or refreshes) this gallery for the
        ``left_s`` seconds its message has left. If it is a visitor known here under another id,
        the older id wins (first seen, then the id's text) and the merge is returned. ``gate``:
        the gate whose topic shared it (the ACL ties the topic to the publisher), which the
        visitor counts against; never the payload's ``minted_by`` when given."""
        sharer = gate or t.minted_by or "unknown"
        q = _unit(t.template)
        if q.shape[1] != self.dim:
            raise ValueError(f"visitor {t.visitor_id}: template of {q.shape[1]} values, "
                             f"this edge's model makes {self.dim}")  # fmt: skip
        expires = now + min(left_s if left_s is not None else self.expiry_s, self.expiry_s)
        with self._lock:
            self._expire_due(now)
            if t.visitor_id in self._aliases:
                return None  # an id already merged into an older one
            key = self._keys.get(t.visitor_id)
            if key is not None:
                v = self._visitors[key]
                v.expires = max(v.expires, expires)
                return None
            near = self._nearest(q)
            if near is None or near[1] < self.threshold:
                self._add(Visitor(t.visitor_id, q[0].copy(), t.first_seen, now, expires,
                                  sharer))  # fmt: skip
                return None
            local = self._visitors[near[0]]
            if (local.first_seen, local.id) <= (t.first_seen, t.visitor_id):
                self._aliases[t.visitor_id] = expires
                return Merged(alias=t.visitor_id, visitor_id=local.id)
            self._aliases[local.id] = max(local.expires, expires)
            merged = Merged(alias=local.id, visitor_id=t.visitor_id)
            self._drop([near[0]])
            self._add(Visitor(t.visitor_id, q[0].copy(), t.first_seen, local.last_seen,
                              max(local.expires, expires), sharer))  # fmt: skip
            return merged

    def shared_by(self, visitor_id: str) -> str | None:
        """The gate that minted this visitor here or whose topic made it known (None: unknown)."""
        with self._lock:
            key = self._keys.get(visitor_id)
            return None if key is None else self._visitors[key].minted_by

    def per_gate(self) -> dict[str, int]:
        """How many visitors each gate made known here."""
        with self._lock:
            return dict(self._per_gate)

    def forget(self, visitor_id: str) -> bool:
        """Drop a visitor whose shared template was withdrawn; True if it was here."""
        with self._lock:
            key = self._keys.get(visitor_id)
            if key is None:
                return False
            self._drop([key])
            return True

    def matches(self, template: npt.ArrayLike, threshold: float, k: int = 5) -> list[VisitorHit]:
        """Live visitors scoring at least ``threshold`` against ``template``, best first."""
        q = _unit(template)
        if q.shape[1] != self.dim:
            return []
        with self._lock:
            if not self._index.ntotal:
                return []
            scores, ids = self._index.search(q, min(k, self._index.ntotal))
            return [
                VisitorHit(self._visitors[int(i)].id, float(s))
                for s, i in zip(scores[0], ids[0], strict=True)
                if i >= 0 and s >= threshold
            ]
