"""Gate captures for the gallery that learns (issue 17): which passages carry a face, and what.

Two kinds of passage only, on the learning policy's calibrated points (models/learning.py):

- **review**: not named (a visitor, or no identity), but the best enrolled person's vote scored at
  or above the review floor: a near miss an officer may confirm ("是否为 王秀华？").
- **learn**: named, at or above the learning point, from enough frames, with a clear margin:
  the server may add it to the person after its own guards (the anchor, one a day, the cap).

A capture carries the track's fused template (its voting frames' embeddings, quality-weighted,
L2-normalised) and the best-quality frame's aligned crop and context crop as small JPEGs. A
stranger below the floor sends nothing; ``decision.captures: false`` sends nothing at all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from contract.events import CapturePurpose, GateCapture
from edge.decide import Judge, ThresholdRule, Vote
from edge.decision import Decision
from edge.evidence import BestFaces
from edge.sighting import Where
from edge.tracker import Track
from models.gallery import Gallery
from models.learning import LearningPolicy, fuse

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CapturePoints:
    """The scores in force for a gallery: naming threshold, review floor (near misses), visitor
    floor (visitors kept for the returning-visitor rule), learning point."""

    threshold: float
    review_floor: float
    visitor_floor: float
    learn_point: float


def _clip(x: float, lo: float, hi: float) -> float:
    return round(max(lo, min(hi, x)), 4)


class CaptureWatch:
    """Keeps each track's best-quality face while it is undecided; when its passage is out,
    says whether it is a review or learn capture and builds the ``GateCapture``."""

    def __init__(
        self,
        where: Where,
        judge: Judge,
        thresholds: ThresholdRule,
        policy: LearningPolicy,
        enabled: bool = True,
    ) -> None:
        self.where = where
        self.judge = judge
        self.thresholds = thresholds
        self.policy = policy
        self.enabled = enabled
        self.sent: dict[CapturePurpose, int] = {"review": 0, "learn": 0}
        self._faces = BestFaces()  # per track, its best-quality face so far

    def observe(self, track: Track, quality: float, image: U8, aligned: U8) -> None:
        """An embedded face of an undecided track: kept if it is the track's best so far."""
        if self.enabled:
            self._faces.offer(track.id, quality, image, track.box, aligned)

    def forget(self, track: Track) -> None:
        self._faces.pop(track.id)

    def points(self, gallery: Gallery) -> CapturePoints:
        """The naming threshold for ``gallery`` and the policy's points around it."""
        op = self.thresholds.follow(gallery)
        # The curve of the population the threshold follows; the gallery counted per person.
        curve = self.thresholds.engine.curve(self.thresholds.population_for(gallery))
        t, n = op.threshold, gallery.size()
        return CapturePoints(
            t,
            self.policy.review_floor(curve, n, t),
            self.policy.visitor_floor(curve, n, t),
            self.policy.learn_point(curve, n, t),
        )

    def purpose(
        self, decision: Decision, vote: Vote, points: CapturePoints
    ) -> CapturePurpose | None:
        """review, learn or None (most passages) for a passage and its track's vote."""
        if vote.person_id is None:
            return None
        if decision.identity_kind == "person":
            if decision.identity == vote.person_id and self.policy.may_learn(
                vote.score, vote.margin, vote.frames, points.learn_point
            ):
                return "learn"
            return None
        if vote.score >= points.review_floor:
            return "review"  # a near miss
        visitor = decision.identity_kind == "visitor"
        return "review" if visitor and vote.score >= points.visitor_floor else None

    def capture(
        self, track: Track, decision: Decision, gallery: Gallery, event_id: str | None
    ) -> GateCapture | None:
        """The capture this passage carries, if any (never without its passage's event id)."""
        face = self._faces.pop(track.id)
        if not self.enabled or face is None or event_id is None or not track.samples:
            return None
        vote = self.judge.vote(track, gallery)
        points = self.points(gallery)
        purpose = self.purpose(decision, vote, points)
        if purpose is None or vote.person_id is None:
            return None
        best = self.judge.voters(track)
        template = fuse([s.embedding for s in best], [s.quality for s in best])
        self.sent[purpose] += 1
        log.info("[%s/%s/%s] track %d: %s capture for %s (score %.3f, margin %.3f, %d frames; "
                 "threshold %.3f, review floor %.3f, learning point %.3f)", self.where.site,
                 self.where.gate, self.where.camera, track.id, purpose, vote.person_id,
                 vote.score, vote.margin, vote.frames, points.threshold, points.review_floor,
                 points.learn_point)  # fmt: skip
        return GateCapture(
            capture_id=uuid.uuid4().hex,
            event_id=event_id,
            site=self.where.site,
            gate=self.where.gate,
            camera=self.where.camera,
            ts=datetime.now(UTC),
            purpose=purpose,
            person_id=vote.person_id,
            identity=decision.identity,
            score=_clip(vote.score, -1, 1),
            margin=_clip(vote.margin, 0, 2),
            frames=vote.frames,
            threshold=_clip(points.threshold, -1, 1),
            review_floor=_clip(points.review_floor, -1, 1),
            gallery_version=gallery.version,
            model_id=self.where.model_id,
            template=[round(float(x), 6) for x in template],
            face=face.picture(),
        )

    @property
    def total(self) -> int:
        return sum(self.sent.values())
