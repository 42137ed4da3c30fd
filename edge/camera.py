"""One camera's pipeline inside the gate process: its capture, tracks, decisions and passages.

The gate process (edge/app.py) owns what the cameras share (models, gallery, searches, outbox,
MQTT link, face ring) and runs one frame loop; each tick it hands every camera at most one frame.
A frame goes through its camera in two halves around the tick's one batched embedding:
``begin`` (detect, track, align, quality gate) and ``complete`` (match, decide, passages).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from contract.events import Direction
from contract.topics import Topics
from edge.capture import CaptureWatch
from edge.config import CameraConfig, EdgeConfig
from edge.decide import Judge, ThresholdRule
from edge.decision import Decision
from edge.evidence import BestFaces
from edge.faces.responder import FaceResponder
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.outbox import Outbox
from edge.passages import PassageWriter, passage_direction
from edge.searches import SearchRegistry
from edge.sighting import SightingWatch, Where
from edge.source import Capture, Frame
from edge.stats import EdgeStats, StageTimer
from edge.tracker import Match, Sample, Track, Tracker
from models.align import align_face
from models.detector import Detections
from models.engine import FaceEngine
from models.gallery import Gallery
from models.quality import assess_quality

log = logging.getLogger(__name__)

PACE_SLACK = 0.25  # a frame this share of a period before it is due is taken

# (camera, seq, captured): a passage of this camera is in the outbox as ``seq``.
OnQueued = Callable[["CameraPipeline", int, float], None]


@dataclass(frozen=True)
class FaceToEmbed:
    """A tracked face that passed the quality gate, aligned for the embedder."""

    track: Track
    crop: npt.NDArray[np.uint8]
    quality: float


@dataclass(frozen=True)
class GateParts:
    """What the cameras of one gate process share (built once by the app)."""

    cfg: EdgeConfig
    engine: FaceEngine
    gallery_sync: GallerySync
    thresholds: ThresholdRule
    judge: Judge
    searches: SearchRegistry
    outbox: Outbox
    link: EdgeLink
    faces: FaceResponder | None
    on_queued: OnQueued
    # Match and decide the faces still being embedded (EdgeApp.settle): before tracks are ended.
    settle: Callable[[], None] = lambda: None


@dataclass
class PendingFrame:
    """A frame between ``begin`` and ``complete``: its faces wait for the tick's embedding."""

    frame: Frame
    faces: list[FaceToEmbed]
    ended: Sequence[Track]
    gallery: Gallery
    now: float
    timer: StageTimer = field(default_factory=StageTimer)


class CameraPipeline:
    """One camera: Capture, Tracker, PassageWriter (its repeat window), SightingWatch,
    CaptureWatch, BestFaces and its own ``stats``; the models and links are the gate's."""

    def __init__(self, cam: CameraConfig, parts: GateParts) -> None:
        cfg = parts.cfg
        self.cam, self.cfg, self.parts = cam, cfg, parts
        self.name = f"{cfg.site}/{cfg.gate}/{cam.camera}"
        self.topics = Topics(cfg.site)
        model_id = parts.engine.model_id
        self.tracker = Tracker(cfg.decision.iou_match, cfg.decision.max_missed_frames)
        where = Where(cfg.site, cfg.gate, cam.camera, model_id)
        self.sighting = SightingWatch(
            where, cfg.search_threshold, top_frames=cfg.decision.top_frames,
            evidence=cfg.search_evidence,
        )  # fmt: skip
        self.gate_captures = CaptureWatch(
            where, parts.judge, parts.thresholds,
            cfg.decision.learning(), enabled=cfg.decision.captures,
        )  # fmt: skip
        self.passages = PassageWriter(cfg, model_id, parts.outbox, self.name,
                                      cfg.outbox.max_unstored, camera=cam.camera)  # fmt: skip
        self.stats = EdgeStats()
        self.best_faces = BestFaces()  # per track, its best-quality face: the passage's crop
        self.capture = Capture(cam.source, self.name, cfg.frame_queue)
        self.shape: tuple[int, ...] | None = None  # of the last frame, for direction
        lossless = cam.source.pace == "lossless"
        self._min_period = 0.0 if lossless else 1.0 / cfg.target_fps
        self._due = -1e9  # capture time from which its next frame is due (target_fps)
        self._last_frame_at = time.monotonic()  # when its last frame came at all
        self.done = False  # its finite source ended and its tracks are closed

    # -- taking frames ---------------------------------------------------------------------

    def start(self) -> None:
        """Start its capture; the stall clock starts now."""
        self._last_frame_at = time.monotonic()
        self.capture.start()

    def take(self, now: float) -> Frame | None:
        """Its next frame for this tick, if one is waiting and due (at most ``target_fps``
        unless lossless); a camera without frames for ``stall_timeout_s`` is lost; a finished
        source ends its tracks once."""
        if self.done:
            return None
        frame = self.capture.get(timeout_s=0.0)
        if frame is None:
            if self.capture.finished and not len(self.capture.frames):
                self.parts.settle()
                self.end(now)
                self.done = True
            elif now - self._last_frame_at > self.cam.source.stall_timeout_s:
                self.stalled()
            return None
        self._last_frame_at = now
        # Ahead of target_fps: skipped, as a camera faster than needed. Judged by capture times
        # against a schedule of one frame per period, with a quarter period of slack: a camera
        # at exactly target_fps jitters and loses no frame for arriving early, and a 25 fps
        # camera gives 15 of its frames a second (anchoring on the last frame taken gave 12.5).
        period = self._min_period
        if frame.captured < self._due - PACE_SLACK * period:
            return None
        self._due = max(self._due + period, frame.captured)
        return frame

    def stalled(self) -> None:
        """No frame for too long: nobody can still be standing in view of a dead camera."""
        self.parts.settle()
        for t in self.tracker.flush():
            self.finish(t, t.first_captured)
        self.capture.mark_lost()

    def end(self, captured: float) -> None:
        """Close every open track (the source ended, the frame size changed, or stopping)."""
        for t in self.tracker.flush():
            self.finish(t, captured)

    # -- one frame, in two halves ----------------------------------------------------------

    def begin(self, frame: Frame, detected: tuple[Detections, float]) -> PendingFrame:
        """Track, align and gate quality the faces ``detected`` in ``frame`` (with the ms their
        detection took, in the frame loop or its detect thread); the faces then wait for the
        embedding."""
        if self.shape is not None and frame.image.shape != self.shape:
            log.info("[%s] frame size %s -> %s: open tracks end", self.name,
                     self.shape[:2], frame.image.shape[:2])  # fmt: skip
            self.parts.settle()
            self.end(frame.captured)
        self.shape = frame.image.shape
        pending = PendingFrame(frame, [], [], self.parts.gallery_sync.gallery, time.monotonic())
        dets, detect_ms = detected
        pending.timer.add("detect", detect_ms)
        update = self.tracker.update(dets, frame.video_s, frame.captured)
        pending.faces = self._faces_to_embed(frame, dets, update.matches)
        pending.ended = update.ended
        pending.timer.lap("align_quality")
        return pending

    def complete(
        self, p: PendingFrame, embeddings: npt.NDArray[np.float32], embed_ms: float
    ) -> None:
        """Match and decide with this frame's embeddings (``embed_ms``: the tick's batch)."""
        p.timer.add("embed", embed_ms)
        p.timer.skip()  # the other cameras' work since begin is not this frame's
        self._match_and_decide(p.frame, p.faces, embeddings, p.gallery, p.now)
        self._emit_held(p.frame)
        for track in p.ended:
            self.finish(track, p.frame.captured)
        p.timer.lap("match_decide")
        self.stats.frame_done(p.timer, at=p.now)

    def _faces_to_embed(
        self, frame: Frame, dets: Detections, matches: Sequence[Match]
    ) -> list[FaceToEmbed]:
        """Aligned faces of undecided tracks due an embedding, past the quality gate."""
        faces = []
        min_gap = 1.0 / self.cfg.decision.embeds_per_s
        for m in matches:
            track = m.track
            if track.decided or frame.video_s - track.last_embed_at < min_gap:
                continue
            landmarks = dets.landmarks[m.detection]
            crop = align_face(frame.image, landmarks)
            q = assess_quality(
                landmarks, crop, float(dets.scores[m.detection]), self.cfg.face.quality
            )
            track.best_quality = max(track.best_quality, q.score)
            if q.ok and self._may_vote(track, q.score):
                faces.append(FaceToEmbed(track, crop, q.score))
                track.last_embed_at = frame.video_s  # due again 1 / embeds_per_s from now
        return faces

    def _may_vote(self, track: Track, quality: float) -> bool:
        """Whether a face of this quality could be among the track's best ``top_frames``, the
        only frames the decision, the visitor template and the search scores use: once the track
        holds that many, a face no better than the worst of them is not embedded at all (the
        embedder is the edge's largest cost; on the 3-5-face footage this halves its work)."""
        d = self.cfg.decision
        top = d.top_frames
        # Rules that count frames beyond the voters (min_frames, learn_min_frames may be set
        # higher) need every good frame.
        if len(track.samples) < max(top, d.min_frames, d.learn_min_frames):
            return True
        worst_voter = sorted((s.quality for s in track.samples), reverse=True)[top - 1]
        return quality > worst_voter

    def _match_and_decide(
        self,
        frame: Frame,
        faces: list[FaceToEmbed],
        embeddings: npt.NDArray[np.float32],
        gallery: Gallery,
        now: float,
    ) -> None:
        """Each embedding joins its track (and is scored against the active searches); a track
        is reported as soon as the decision rule names it, searches or not."""
        orders = self.parts.searches.active()
        for face, emb in zip(faces, embeddings, strict=True):
            track = face.track
            if track.decided:  # (never while its faces are 1 / embeds_per_s apart)
                continue
            track.samples.append(Sample(emb, face.quality, frame.video_s))
            self.sighting.observe(track, emb, orders, gallery, frame.image, face.crop)
            self.gate_captures.observe(track, face.quality, frame.image, face.crop)
            if self.parts.faces is not None:
                self.best_faces.offer(track.id, face.quality, frame.image, track.box, face.crop)
            decision = self.parts.judge.decide(track, gallery, now, final=False)
            if decision is not None:
                self._decided(track, decision, frame)

    def _emit_held(self, frame: Frame) -> None:
        """Decisions held for want of a direction, for tracks that have now moved far enough."""
        for track in list(self.tracker.tracks.values()):
            if track.held is not None and not track.decided:
                self._decided(track, track.held, frame)

    def _decided(self, track: Track, decision: Decision, frame: Frame) -> None:
        direction = self._direction(track)
        if direction is None:  # a 'both' camera: wait until the person has moved far enough
            track.held = decision
            return
        self.emit(track, decision, direction, frame.captured)

    def _direction(self, track: Track) -> Direction | None:
        shape = self.shape or (720, 1280, 3)
        return passage_direction(self.cam.direction, self.cam.line, track, shape)

    # -- passages --------------------------------------------------------------------------

    def finish(self, track: Track, captured: float) -> None:
        """A track ended: its event now, if it had none and was a real person."""
        if (
            track.decided
            or track.hits < self.cfg.decision.min_track_frames
            or (not track.samples and track.hits < self.cfg.decision.min_faceless_track_frames)
        ):
            self.sighting.forget(track)
            self.gate_captures.forget(track)
            self.best_faces.pop(track.id)
            return
        decision = track.held or self.parts.judge.decide(
            track, self.parts.gallery_sync.gallery, time.monotonic(), final=True
        )
        if decision is None:
            self.best_faces.pop(track.id)
            return
        self.emit(track, decision, self._direction(track) or "none", captured)

    def emit(self, track: Track, decision: Decision, direction: Direction, captured: float) -> None:
        """The track's passage into the outbox (unless it repeats one), and on to the broker;
        then the sighting candidates it makes for active searches, and its gate capture."""
        track.decided = True
        link, sightings = self.parts.link, self.topics.sightings(self.cfg.gate)
        gallery, orders = self.parts.gallery_sync.gallery, self.parts.searches.active()
        found = self.sighting.matches(track, orders, gallery)
        decision = self.sighting.tag(decision, orders, found)
        repeats = self.passages.repeats.merged
        ev = self.passages.write(track, decision, direction, gallery.version, captured)
        if ev is not None:
            self.parts.on_queued(self, ev.seq, captured)
            link.kick()
        self._keep_face(track, decision, ev.event_id if ev else None)
        if self.passages.repeats.merged > repeats:  # a broken-up track: its passage is out already
            found = []
        for c in self.sighting.candidates(track, found, ev.event_id if ev else None):
            log.info("[%s] track %d: sighting candidate for search %s (%d/%d frames, best %.3f)",
                     self.name, track.id, c.search_id, c.frames_at_threshold,
                     c.frames_considered, c.score)  # fmt: skip
            link.publish(sightings, c.to_json())
        # A repeat, or a passage still waiting for the outbox, has no event id: no capture.
        kept = self.gate_captures.capture(track, decision, gallery, ev.event_id if ev else None)
        if kept is not None:
            link.publish(sightings, kept.to_json())

    def _keep_face(self, track: Track, decision: Decision, event_id: str | None) -> None:
        """The passage's best face into the ring (a repeat, or a passage still waiting for the
        outbox, has no event id: no crop); a watchlist passage's is pushed as well."""
        face = self.best_faces.pop(track.id)
        faces = self.parts.faces
        if faces is None or face is None or event_id is None:
            return
        watch = decision.role == "watchlist" and decision.identity_kind == "person"
        faces.keep(event_id, face, datetime.now(UTC), decision.identity if watch else None,
                   camera=self.cam.camera)  # fmt: skip

    def store_unstored(self, force: bool = False) -> bool:
        """Passages that wait in memory for the outbox file into it, when their retry is due;
        True if any was stored."""
        stored = self.passages.retry(time.monotonic(), force)
        for s in stored:
            if s.captured is not None:
                self.parts.on_queued(self, s.event.seq, s.captured)
        return bool(stored)
