"""The gate process: capture -> detect -> track -> quality -> embed -> match -> decide -> outbox.

Started in a visible order: outbox, models, gallery, MQTT link, gallery worker, status, capture;
the frame loop runs in the main thread; stopped in reverse, open tracks flushed into events first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from contract.events import Direction, SearchOrder
from contract.topics import Topics
from edge.capture import CaptureWatch
from edge.config import EdgeConfig
from edge.decide import Judge, ThresholdRule
from edge.decision import Decision
from edge.errors import OutboxError
from edge.evidence import BestFaces
from edge.faces.responder import FaceResponder
from edge.faces.ring import FaceRing
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.outbox import open_outbox
from edge.passages import PassageWriter, passage_direction
from edge.searches import SearchRegistry
from edge.sighting import SightingWatch, Where
from edge.source import Capture, Frame
from edge.stats import EdgeStats, StageTimer
from edge.status import StatusReporter
from edge.tracker import Match, Sample, Track, Tracker
from edge.visitor_share import VisitorShare
from edge.visitors import VisitorGallery
from models.align import align_face
from models.detector import Detections
from models.engine import FaceEngine
from models.gallery import Gallery
from models.quality import assess_quality

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceToEmbed:
    """A tracked face that passed the quality gate, aligned for the embedder."""

    track: Track
    crop: npt.NDArray[np.uint8]
    quality: float


def _visitor_gallery(cfg: EdgeConfig, engine: FaceEngine) -> VisitorGallery | None:
    if not cfg.visitors.enabled:
        return None
    v = cfg.visitors
    return VisitorGallery(
        engine.dim, v.threshold or engine.threshold, v.expiry_s, v.max_visitors, gate=cfg.gate,
        max_per_gate=v.max_per_gate,
    )  # fmt: skip


class EdgeApp:
    """One camera's pipeline and its links; ``run`` blocks until the source ends or ``stop``."""

    def __init__(self, cfg: EdgeConfig, engine: FaceEngine | None = None) -> None:
        self.cfg = cfg
        self.name = f"{cfg.site}/{cfg.gate}/{cfg.camera}"
        self.topics = Topics(cfg.site)
        self.stop_event = threading.Event()
        self._hard_stop = False  # a second signal: do not wait for acks before exiting
        self._shape: tuple[int, ...] = (720, 1280, 3)  # of the last frame, for direction
        # OutboxCorrupt, with the commands to save its events
        self.outbox = open_outbox(cfg.outbox.path, cfg.outbox.max_events, [cfg.camera])
        self.engine = engine or FaceEngine(cfg.face)
        model_id = self.engine.model_id
        self.gallery_sync = GallerySync(
            cfg.gallery_path, model_id, self.engine.dim, cfg.gallery_token(), self.name
        )
        visitors = _visitor_gallery(cfg, self.engine)
        self.thresholds = ThresholdRule(
            self.engine, cfg.decision.naming_fpir(), self.name, cfg.decision.population
        )
        self.thresholds.follow(self.gallery_sync.gallery)  # logged and reported from the start
        self.judge = Judge(
            cfg.decision,
            self.engine.threshold,
            cfg.face.margin_threshold,
            visitors,
            rule=self.thresholds,
        )
        self.visitor_share = (
            VisitorShare(visitors, Topics(cfg.site), cfg.gate, model_id, cfg.search_threshold,
                         self.name)
            if visitors is not None and cfg.visitors.share
            else None
        )  # fmt: skip
        self.tracker = Tracker(cfg.decision.iou_match, cfg.decision.max_missed_frames)
        self.searches = SearchRegistry(model_id, self.name)
        where = Where(cfg.site, cfg.gate, cfg.camera, model_id)
        self.sighting = SightingWatch(
            where,
            cfg.search_threshold,
            top_frames=cfg.decision.top_frames,
            evidence=cfg.search_evidence,
        )
        self.gate_captures = CaptureWatch(
            where, self.judge, self.thresholds,
            cfg.decision.learning(), enabled=cfg.decision.captures,
        )  # fmt: skip
        self.passages = PassageWriter(
            cfg, model_id, self.outbox, self.name, cfg.outbox.max_unstored
        )
        self.stats = EdgeStats()
        self.best_faces = BestFaces()  # per track, its best-quality face: the passage's crop
        self.faces = self._face_responder(cfg)
        extra = [*(self.visitor_share.subscriptions() if self.visitor_share else ()),
                 *(self.faces.subscriptions() if self.faces else ())]  # fmt: skip
        self.link = EdgeLink(
            cfg.mqtt,
            Topics(cfg.site),
            cfg.gate,
            cfg.camera,
            self.outbox,
            on_gallery=self.gallery_sync.submit,
            on_search=self._on_search,
            on_published=lambda camera, seq: self.stats.published(seq),
            extra=extra,
        )
        if self.visitor_share is not None:
            self.visitor_share.publish = self.link.publish
        self.capture = Capture(cfg.source, self.name)
        self.reporter = StatusReporter(
            cfg, self.name, self.link, self.capture, self.gallery_sync, self.passages, self.stats,
            thresholds=self.thresholds, gate_captures=self.gate_captures,
        )  # fmt: skip

    def _face_responder(self, cfg: EdgeConfig) -> FaceResponder | None:
        """The face ring and its responder (None when ``faces.enabled`` is off)."""
        if not cfg.faces.enabled:
            return None
        ring = FaceRing(cfg.faces_dir(), cfg.faces.days * 86400,
                        int(cfg.faces.max_mb * 1024 * 1024), self.name)  # fmt: skip
        return FaceResponder(
            ring, self.topics, cfg.site, cfg.gate, cfg.camera,
            publish=lambda topic, payload, props: self.link.publish(topic, payload,
                                                                    properties=props),
            push_watchlist=cfg.faces.push_watchlist,
        )  # fmt: skip

    def _on_search(self, search_id: str, order: SearchOrder | None) -> None:
        """A search order (paho's thread): in force from the next frame; a template search also
        looks back over the live visitors."""
        self.searches.update(search_id, order)
        if order is not None and self.visitor_share and search_id in self.searches.active():
            self.visitor_share.look_back(search_id, order)

    # -- the frame loop --------------------------------------------------------------------

    def process(self, frame: Frame) -> None:
        """One frame through the pipeline."""
        now = time.monotonic()
        gallery = self.gallery_sync.gallery  # read once: a new gallery lands between frames
        timer = StageTimer()
        dets = self.engine.detect(frame.image)
        timer.lap("detect")
        update = self.tracker.update(dets, frame.video_s, frame.captured)
        faces = self._faces_to_embed(frame, dets, update.matches)
        timer.lap("align_quality")
        embeddings = self._embed(faces)
        timer.lap("embed")
        self._match_and_decide(frame, faces, embeddings, gallery, now)
        self._emit_held(frame)
        for track in update.ended:
            self.finish(track, frame.image.shape, frame.captured)
        timer.lap("match_decide")
        self.stats.frame_done(timer, at=now)

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
            if q.ok:
                faces.append(FaceToEmbed(track, crop, q.score))
        return faces

    def _embed(self, faces: list[FaceToEmbed]) -> npt.NDArray[np.float32]:
        if not faces:
            return np.zeros((0, self.engine.dim), np.float32)
        return self.engine.embed_crops([f.crop for f in faces])

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
        orders = self.searches.active()
        for face, emb in zip(faces, embeddings, strict=True):
            track = face.track
            track.samples.append(Sample(emb, face.quality, frame.video_s))
            track.last_embed_at = frame.video_s
            self.sighting.observe(track, emb, orders, gallery, frame.image, face.crop)
            self.gate_captures.observe(track, face.quality, frame.image, face.crop)
            if self.faces is not None:
                self.best_faces.offer(track.id, face.quality, frame.image, track.box, face.crop)
            decision = self.judge.decide(track, gallery, now, final=False)
            if decision is not None:
                self._decided(track, decision, frame)

    def _emit_held(self, frame: Frame) -> None:
        """Decisions held for want of a direction, for tracks that have now moved far enough."""
        for track in list(self.tracker.tracks.values()):
            if track.held is not None and not track.decided:
                self._decided(track, track.held, frame)

    def _decided(self, track: Track, decision: Decision, frame: Frame) -> None:
        direction = self._direction(track, frame.image.shape)
        if direction is None:  # a 'both' camera: wait until the person has moved far enough
            track.held = decision
            return
        self.emit(track, decision, direction, frame.captured)

    def _direction(self, track: Track, shape: tuple[int, ...]) -> Direction | None:
        return passage_direction(self.cfg.direction, self.cfg.line, track, shape)

    def finish(self, track: Track, shape: tuple[int, ...], captured: float) -> None:
        """A track ended: its event now, if it had none and was a real person."""
        if track.decided or track.hits < self.cfg.decision.min_track_frames or (
            not track.samples and track.hits < self.cfg.decision.min_faceless_track_frames
        ):
            self.sighting.forget(track)
            self.gate_captures.forget(track)
            self.best_faces.pop(track.id)
            return
        decision = track.held or self.judge.decide(
            track, self.gallery_sync.gallery, time.monotonic(), final=True
        )
        if decision is None:
            self.best_faces.pop(track.id)
            return
        self.emit(track, decision, self._direction(track, shape) or "none", captured)

    def emit(self, track: Track, decision: Decision, direction: Direction, captured: float) -> None:
        """The track's passage into the outbox (unless it repeats one), and on to the broker;
        then the sighting candidates it makes for active searches, and its gate capture."""
        track.decided = True
        gallery, orders = self.gallery_sync.gallery, self.searches.active()
        found = self.sighting.matches(track, orders, gallery)
        decision = self.sighting.tag(decision, orders, found)
        repeats = self.passages.repeats.merged
        ev = self.passages.write(track, decision, direction, gallery.version, captured)
        if ev is not None:
            self.stats.queued(ev.seq, captured)
            self.link.kick()
        self._keep_face(track, decision, ev.event_id if ev else None)
        if self.passages.repeats.merged > repeats:  # a broken-up track: its passage is out already
            found = []
        for c in self.sighting.candidates(track, found, ev.event_id if ev else None):
            log.info("[%s] track %d: sighting candidate for search %s (%d/%d frames, best %.3f)",
                     self.name, track.id, c.search_id, c.frames_at_threshold,
                     c.frames_considered, c.score)  # fmt: skip
            self.link.publish(self.topics.sightings(self.cfg.gate), c.to_json())
        # A repeat, or a passage still waiting for the outbox, has no event id: no capture.
        kept = self.gate_captures.capture(track, decision, gallery, ev.event_id if ev else None)
        if kept is not None:
            self.link.publish(self.topics.sightings(self.cfg.gate), kept.to_json())

    def _keep_face(self, track: Track, decision: Decision, event_id: str | None) -> None:
        """The passage's best face into the ring (a repeat, or a passage still waiting for the
        outbox, has no event id: no crop); a watchlist passage's is pushed as well."""
        face = self.best_faces.pop(track.id)
        if self.faces is None or face is None or event_id is None:
            return
        watch = decision.role == "watchlist" and decision.identity_kind == "person"
        self.faces.keep(event_id, face, datetime.now(UTC), decision.identity if watch else None)

    def store_unstored(self, force: bool = False) -> None:
        """Passages that wait in memory for the outbox file into it, when their retry is due."""
        stored = self.passages.retry(time.monotonic(), force)
        for s in stored:
            if s.captured is not None:
                self.stats.queued(s.event.seq, s.captured)
        if stored:
            self.link.kick()

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the source ends (files without loop) or ``stop``; returns an exit code."""
        if self.visitor_share is not None:
            self.visitor_share.start()
        self.link.start()
        self.gallery_sync.start()
        self.reporter.start()
        self.capture.start()
        try:
            self._frame_loop()
        finally:
            self._shutdown()
        return 0

    def _frame_loop(self) -> None:
        """Frames from the capture into ``process``, at most ``target_fps`` unless lossless."""
        min_period = 0.0 if self.cfg.source.pace == "lossless" else 1.0 / self.cfg.target_fps
        last = 0.0
        last_frame_at = time.monotonic()
        while not self.stop_event.is_set():
            self.store_unstored()
            frame = self.capture.get(timeout_s=0.5)
            now = time.monotonic()
            if frame is None:
                if self.capture.finished:
                    return
                if now - last_frame_at > self.cfg.source.stall_timeout_s:
                    self._camera_stalled()
                continue
            last_frame_at = now
            if now - last < min_period:
                continue
            last = now
            self._shape = frame.image.shape
            self.process(frame)

    def _camera_stalled(self) -> None:
        # Nobody can still be standing in view of a dead camera: close its tracks.
        for t in self.tracker.flush():
            self.finish(t, self._shape, t.first_captured)
        self.capture.mark_lost()

    def _shutdown(self) -> None:
        for t in self.tracker.flush():
            self.finish(t, self._shape, time.monotonic())
        self.capture.stop()
        self.store_unstored(force=True)
        self._drain()
        self.stop_event.set()
        self.reporter.stop()
        self.gallery_sync.stop()
        if self.visitor_share is not None:
            self.visitor_share.stop()
        if self.faces is not None:
            self.faces.stop()  # crops written, watchlist crops handed to paho before it stops
        self.link.stop(self.reporter.status("offline"))
        self.outbox.close()

    def _drain(self) -> None:
        """Give the server a moment to acknowledge what is still in the outbox."""
        deadline = time.monotonic() + self.cfg.outbox.drain_timeout_s
        while (self._left() or self.passages.unstored) and time.monotonic() < deadline:
            if self._hard_stop:
                break
            self.store_unstored()
            self.link.kick()
            time.sleep(0.1)
        left = self._left()
        if left:
            log.warning("[%s] %d events not yet acknowledged stay in the outbox %s for the next "
                        "start", self.name, left, self.cfg.outbox.path)  # fmt: skip
        if self.passages.unstored:
            log.error("[%s] %d PASSAGES LOST: the outbox %s still cannot store them at exit",
                      self.name, len(self.passages.unstored), self.cfg.outbox.path)  # fmt: skip

    def _left(self) -> int:
        """Events in the outbox (1 when it cannot even count them: keep waiting)."""
        try:
            return self.outbox.depth()
        except OutboxError:
            return 1

    def stop(self, hard: bool = False) -> None:
        """Stop after the current frame; ``hard``: do not wait for acknowledgements."""
        self._hard_stop = hard
        self.stop_event.set()
