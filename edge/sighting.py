"""Search hits become sighting candidates, never names: scores per track, evidence, the rule.

A passage's identity comes from the decision rule alone (edge/decide.py). While searches are
active, each track's faces are also scored against every search's target; when the passage is
decided, a search whose target scored at or above its threshold on at least ``min_frames`` of the
track's best ``top_frames`` frames gets a ``SightingCandidate`` with those numbers and, where
evidence is on, the aligned crop and a context crop of the best-scoring frame.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from contract.events import EvidencePicture, SearchOrder, SightingCandidate
from edge.decision import Decision
from edge.evidence import BestFaces
from edge.tracker import Track
from models.gallery import Gallery

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Where:
    """Where the candidates are reported from."""

    site: str
    gate: str
    camera: str
    model_id: str


@dataclass(frozen=True)
class Match:
    """How a track's voting frames scored against one search's target."""

    search_id: str
    best: float
    at_threshold: int
    considered: int
    threshold: float


def targets(order: SearchOrder, gallery: Gallery, dim: int) -> F32 | None:
    """The unit vectors a search looks for ([n, dim]), or None when this edge cannot score it."""
    if order.person_id is not None:
        return gallery.templates_of(order.person_id) if order.person_id in gallery else None
    t = np.asarray(order.template, np.float32).reshape(1, -1)
    if t.shape[1] != dim:
        return None
    return t / max(float(np.linalg.norm(t)), 1e-6)


class SightingWatch:
    """Scores tracks against the active searches and turns qualifying ones into candidates."""

    def __init__(
        self,
        where: Where,
        threshold: float,
        top_frames: int = 5,
        min_frames: int = 2,
        evidence: bool = True,
    ) -> None:
        if min_frames < 2:
            raise ValueError(f"a candidate needs more than one frame, min_frames={min_frames}")
        self.where = where
        self.threshold = threshold
        self.top_frames = top_frames
        self.min_frames = min_frames
        self.evidence = evidence
        self._best = BestFaces()  # per track, its best-scoring face against any search

    def limit(self, order: SearchOrder) -> float:
        return order.threshold if order.threshold is not None else self.threshold

    def observe(
        self,
        track: Track,
        embedding: F32,
        orders: dict[str, SearchOrder],
        gallery: Gallery,
        image: U8,
        aligned: U8,
    ) -> None:
        """Keep this face as the track's evidence if it is its best match to a search so far."""
        if not self.evidence or not orders:
            return
        scores = [
            float((t @ embedding).max())
            for o in orders.values()
            if (t := targets(o, gallery, embedding.shape[0])) is not None
        ]
        if not scores or max(scores) < min(self.limit(o) for o in orders.values()):
            return
        self._best.offer(track.id, max(scores), image, track.box, aligned)

    def matches(
        self, track: Track, orders: dict[str, SearchOrder], gallery: Gallery
    ) -> list[Match]:
        """The searches this track qualifies for: ``min_frames`` of its best frames at threshold."""
        if not orders or len(track.samples) < self.min_frames:
            return []
        best = sorted(track.samples, key=lambda s: -s.quality)[: self.top_frames]
        e = np.stack([s.embedding for s in best])
        out = []
        for sid, order in orders.items():
            t = targets(order, gallery, e.shape[1])
            if t is None:
                continue
            per_frame = (e @ t.T).max(axis=1)
            limit = self.limit(order)
            n = int((per_frame >= limit).sum())
            if n >= self.min_frames:
                out.append(Match(sid, float(per_frame.max()), n, len(best), limit))
        return out

    def tag(
        self, decision: Decision, orders: dict[str, SearchOrder], found: list[Match]
    ) -> Decision:
        """The search id a passage carries: the search for the person it is decided as, or a
        photo search it qualified for. Never a change of who the passage says it is."""
        for sid, order in orders.items():
            if order.person_id is not None and decision.identity == order.person_id:
                return replace(decision, search_id=sid)
        photo = [m for m in found if orders[m.search_id].person_id is None]
        if photo:
            return replace(decision, search_id=max(photo, key=lambda m: m.best).search_id)
        return decision

    def candidates(
        self, track: Track, found: list[Match], event_id: str | None
    ) -> list[SightingCandidate]:
        """One candidate per qualifying search, with the evidence picture if kept."""
        face = self._best.pop(track.id)
        picture: EvidencePicture | None = None
        if face is not None and found:
            picture = face.picture()
        now = datetime.now(UTC)
        return [
            SightingCandidate(
                candidate_id=uuid.uuid4().hex,
                search_id=m.search_id,
                site=self.where.site,
                gate=self.where.gate,
                camera=self.where.camera,
                ts=now,
                track_id=track.id,
                score=round(max(-1.0, min(1.0, m.best)), 4),
                frames_at_threshold=m.at_threshold,
                frames_considered=m.considered,
                threshold=m.threshold,
                event_id=event_id,
                model_id=self.where.model_id,
                evidence=picture,
            )
            for m in found
        ]

    def forget(self, track: Track) -> None:
        self._best.pop(track.id)
