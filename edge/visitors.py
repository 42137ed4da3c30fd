"""Pseudonymous visitor ids: the same unknown face gets the same id until it expires.

Held in memory only, so visitor templates are never written to disk (a restart forgets them).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@dataclass
class Visitor:
    id: str
    template: F32
    last_seen: float
    expires: float


class VisitorGallery:
    """Unknown faces seen recently, searchable by cosine similarity."""

    def __init__(self, dim: int, threshold: float, expiry_s: float, max_visitors: int) -> None:
        self.dim = dim
        self.threshold = threshold
        self.expiry_s = expiry_s
        self.max_visitors = max_visitors
        self._visitors: dict[int, Visitor] = {}
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._next = 1

    def __len__(self) -> int:
        return len(self._visitors)

    def expire(self, now: float) -> int:
        """Forget visitors whose time is up; returns how many."""
        gone = [k for k, v in self._visitors.items() if v.expires <= now]
        if gone:
            self._index.remove_ids(np.asarray(gone, dtype=np.int64))
            for k in gone:
                del self._visitors[k]
        return len(gone)

    def match_or_add(self, template: F32, now: float) -> tuple[str, float | None]:
        """The visitor id for this face (new if none is close enough) and the match score."""
        self.expire(now)
        q = np.asarray(template, np.float32).reshape(1, -1)
        q = q / max(float(np.linalg.norm(q)), 1e-6)
        if self._index.ntotal:
            scores, ids = self._index.search(q, 1)
            if ids[0, 0] >= 0 and scores[0, 0] >= self.threshold:
                v = self._visitors[int(ids[0, 0])]
                v.last_seen = now
                v.expires = now + self.expiry_s
                return v.id, float(scores[0, 0])
        if len(self._visitors) >= self.max_visitors:
            oldest = min(self._visitors, key=lambda k: self._visitors[k].last_seen)
            self._index.remove_ids(np.asarray([oldest], dtype=np.int64))
            del self._visitors[oldest]
        key = self._next
        self._next += 1
        vid = "v-" + secrets.token_hex(6)
        self._visitors[key] = Visitor(vid, q[0].copy(), now, now + self.expiry_s)
        self._index.add_with_ids(q, np.asarray([key], dtype=np.int64))
        return vid, None
