"""Per-track decisions: who a track is, from several good frames, never from one."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contract.gallery import Population
from contract.roles import Role
from edge.config import DecisionConfig, PopulationSetting
from edge.decision import Decision, as_role
from edge.tracker import Sample, Track
from edge.visitors import VisitorGallery
from models.calibration import DEFAULT_POPULATION, OperatingPoint
from models.engine import FaceEngine
from models.gallery import Gallery
from models.learning import fuse

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]


class ThresholdRule:
    """The naming threshold for the gallery in use: from the pack's calibration curve for the
    population the gates serve (``population``; auto: the gallery header's, else East-Asian), the
    gallery's persons and their template counts and the target FPIR (or the configured
    match_threshold), recomputed and logged with its reason whenever the gallery changes."""

    def __init__(
        self,
        engine: FaceEngine,
        target_fpir: float,
        name: str,
        population: PopulationSetting = "auto",
    ) -> None:
        self.engine = engine
        self.target_fpir = target_fpir
        self.name = name
        self.population = population
        self.current: OperatingPoint | None = None
        self._key: tuple[int, int, int, str | None] | None = None

    def population_for(self, gallery: Gallery) -> Population:
        """The population whose curve applies to ``gallery``."""
        if self.population != "auto":
            return self.population
        return gallery.population or DEFAULT_POPULATION

    def follow(self, gallery: Gallery) -> OperatingPoint:
        """The operating point for ``gallery`` (cheap when it has not changed)."""
        key = (id(gallery), gallery.version, gallery.template_count, gallery.population)
        if self.current is None or key != self._key:
            pop = self.population_for(gallery)
            self.current = self.engine.operating_point(gallery.size(), self.target_fpir, pop)
            self._key = key
            log.info("[%s] gallery v%d, %d persons: %s", self.name, gallery.version, len(gallery),
                     self.current.why())  # fmt: skip
        return self.current


@dataclass(frozen=True)
class Vote:
    """The gallery's answer for a track: best person by mean score over the voting frames, or
    by the score of their fused template (``decision.fusion``)."""

    person_id: str | None
    role: Role | None
    score: float
    margin: float
    frames: int


class Judge:
    """Applies the decision rule: mean score over the best frames >= threshold, margin over the
    runner-up >= margin threshold, from at least ``min_frames`` good frames."""

    def __init__(
        self,
        cfg: DecisionConfig,
        threshold: float,
        margin_threshold: float,
        visitors: VisitorGallery | None,
        rule: ThresholdRule | None = None,
    ) -> None:
        self.cfg = cfg
        self.threshold = threshold  # used when no rule follows the gallery
        self.rule = rule
        self.margin_threshold = margin_threshold
        self.visitors = visitors

    def voters(self, track: Track) -> list[Sample]:
        """The track's best-quality samples, the ones that vote (at most ``top_frames``)."""
        return sorted(track.samples, key=lambda s: -s.quality)[: self.cfg.top_frames]

    def _voters(self, track: Track) -> F32:
        return np.stack([s.embedding for s in self.voters(track)])

    def vote(self, track: Track, gallery: Gallery) -> Vote:
        if self.cfg.fusion == "mean" and len(gallery):
            return self._fused_vote(track, gallery)
        e = self._voters(track)
        if len(gallery) == 0:
            return Vote(person_id=None, role=None, score=0.0, margin=0.0, frames=len(e))
        hits = gallery.search(e, k=5)
        # A person missing from one frame's top 5 scored at most that frame's 5th score there.
        floor = np.array([h.candidates[-1].score if h.candidates else 0.0 for h in hits])
        per_frame: dict[str, npt.NDArray[np.float64]] = {}
        for i, hit in enumerate(hits):
            for c in hit.candidates:
                per_frame.setdefault(c.person_id, floor.copy())[i] = c.score
        means = {pid: float(s.mean()) for pid, s in per_frame.items()}
        ranked = sorted(means.items(), key=lambda kv: -kv[1])
        best_id, best = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        return Vote(
            person_id=best_id,
            role=as_role(gallery.role_of(best_id)),
            score=best,
            margin=best - second,
            frames=len(e),
        )

    def _fused_vote(self, track: Track, gallery: Gallery) -> Vote:
        """Track-level fusion: the best frames' quality-weighted mean template, scored once."""
        best = self.voters(track)
        template = fuse([s.embedding for s in best], [s.quality for s in best])
        found = gallery.search(template[None], k=2)[0].candidates
        second = found[1].score if len(found) > 1 else 0.0
        return Vote(
            person_id=found[0].person_id,
            role=as_role(found[0].role),
            score=found[0].score,
            margin=found[0].score - second,
            frames=len(best),
        )

    def decide(self, track: Track, gallery: Gallery, now: float, final: bool) -> Decision | None:
        """A decision once the rule holds; at the track's end, a visitor (or no identity)."""
        n = len(track.samples)
        if n >= self.cfg.min_frames or (final and n):
            v = self.vote(track, gallery)
            threshold = self.rule.follow(gallery).threshold if self.rule else self.threshold
            if v.person_id and v.score >= threshold and v.margin >= self.margin_threshold:
                return Decision(
                    identity=v.person_id,
                    identity_kind="person",
                    role=v.role or "resident",
                    role_source="gallery",
                    score=v.score,
                    margin=v.margin,
                    frames_used=v.frames,
                )
        if not final:
            return None
        return self.unknown(track, now)

    def unknown(self, track: Track, now: float) -> Decision:
        if track.samples and self.visitors is not None:
            template = self._voters(track).mean(axis=0)
            vid, score = self.visitors.match_or_add(template, now)
            return Decision(
                identity=vid,
                identity_kind="visitor",
                role="visitor",
                role_source="visitor-gallery",
                score=score,
                margin=None,
                frames_used=len(track.samples),
            )
        return Decision(
            identity=None,
            identity_kind="none",
            role="visitor",
            role_source="appearance",
            score=None,
            margin=None,
            frames_used=max(1, len(track.samples)),
        )
