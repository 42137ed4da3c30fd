"""The gate process: capture -> detect -> track -> quality -> embed -> match -> decide -> outbox.

Started and stopped in a visible order: outbox, models, gallery, MQTT link, capture; the frame loop
in the main thread; stop in reverse, flushing open tracks into events first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import statistics
import threading
import time
import urllib.request
from collections import defaultdict, deque
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from contract.events import EdgeStatus, Passage, SearchOrder
from contract.gallery import GalleryManifest
from contract.topics import Topics
from edge.config import EdgeConfig, LineRule
from edge.decide import Decision, Judge
from edge.errors import OutboxFull
from edge.link import EdgeLink
from edge.outbox import Outbox
from edge.source import Capture, Frame
from edge.tracker import Sample, Track, Tracker
from edge.visitors import VisitorGallery
from models.align import align_face
from models.engine import FaceEngine, embedding_space
from models.errors import GalleryError
from models.fileio import write_atomic
from models.gallery import Gallery
from models.quality import assess_quality

log = logging.getLogger(__name__)


def fetch_snapshot(m: GalleryManifest, token: str | None = None, timeout_s: float = 30) -> bytes:
    """The snapshot a manifest points at (file path or http(s) URL), checked against it."""
    if m.path and (Path(m.path).is_file() or not m.url):
        raw = Path(m.path).read_bytes()  # an edge on the server's machine reads the file
    elif m.url:
        if m.url.scheme not in ("http", "https"):
            raise ValueError(f"gallery URL scheme {m.url.scheme!r} is not http(s)")
        req = urllib.request.Request(str(m.url))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read(m.size + 1)
    else:
        raise ValueError("manifest has neither path nor url")
    if len(raw) != m.size or hashlib.sha256(raw).hexdigest() != m.sha256:
        raise GalleryError("snapshot size or SHA-256 differs from the manifest")
    return raw


def passage_direction(
    direction: str, line: LineRule | None, track: Track, shape: tuple[int, ...]
) -> str | None:
    """in/out/none for a camera's configured direction; for 'both', from how far the track moved
    along the line rule's axis (None while it has not moved far enough to tell)."""
    if direction in ("in", "out", "none"):
        return direction
    assert line is not None  # EdgeConfig requires a line rule for 'both'
    axis = 1 if line.axis == "y" else 0
    travel = float(track.centre[axis] - track.first_centre[axis]) / shape[1 - axis]
    if abs(travel) < line.min_travel:
        return None
    increasing = travel > 0
    return "in" if increasing == (line.in_when == "increasing") else "out"


class EdgeApp:
    """One camera's pipeline and its links; ``run`` blocks until the source ends or ``stop``."""

    def __init__(self, cfg: EdgeConfig, engine: FaceEngine | None = None) -> None:
        self.cfg = cfg
        self.name = f"{cfg.site}/{cfg.gate}/{cfg.camera}"
        self.topics = Topics(cfg.site)
        self.stop_event = threading.Event()
        self._hard_stop = False  # a second signal: do not wait for acks before exiting
        self.outbox = Outbox(cfg.outbox.path, cfg.outbox.max_events)
        self.engine = engine or FaceEngine(cfg.face)
        self.gallery = self._load_gallery()
        visitors = None
        if cfg.visitors.enabled:
            visitors = VisitorGallery(
                self.engine.dim,
                cfg.visitors.threshold or self.engine.threshold,
                cfg.visitors.expiry_s,
                cfg.visitors.max_visitors,
            )
        self.judge = Judge(
            cfg.decision,
            self.engine.threshold,
            cfg.face.margin_threshold,
            cfg.search_threshold,
            visitors,
        )
        self.tracker = Tracker(cfg.decision.iou_match, cfg.decision.max_missed_frames)
        self.searches: dict[str, SearchOrder] = {}
        self._searches_lock = threading.Lock()
        self._gallery_jobs: queue.Queue[GalleryManifest] = queue.Queue()
        self.gallery_refused = 0
        self.events = 0
        self.merged = 0
        self._last_passage: dict[str, float] = {}  # identity -> scene time of its last event
        self.frames = 0
        self._captured_at: dict[int, float] = {}
        self._stage_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=500))
        self._frame_times: deque[float] = deque(maxlen=200)
        self.link = EdgeLink(
            cfg.mqtt,
            self.topics,
            cfg.gate,
            cfg.camera,
            self.outbox,
            on_gallery=self._gallery_jobs.put,
            on_search=self._on_search,
            on_published=self._on_published,
        )
        self.capture = Capture(cfg.source, self.name)

    # -- gallery ---------------------------------------------------------------------------

    def _load_gallery(self) -> Gallery:
        path = self.cfg.gallery_path
        if path.is_file():
            try:
                g = Gallery.load(path, expected_model_id=self.engine.model_id)
                log.info("[%s] gallery v%d: %d persons", self.name, g.version, len(g))
                return g
            except GalleryError as e:
                log.error("[%s] %s; starting with an empty gallery until a good one arrives",
                          self.name, e)  # fmt: skip
        else:
            log.warning("[%s] no gallery at %s yet: everyone is a visitor until one arrives",
                        self.name, path)  # fmt: skip
        return Gallery(self.engine.model_id, self.engine.dim)

    def _gallery_worker(self) -> None:
        while not self.stop_event.is_set():
            try:
                manifest = self._gallery_jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.apply_manifest(manifest)
            except (GalleryError, OSError, ValueError) as e:  # URLError is an OSError
                self.gallery_refused += 1
                log.error("[%s] gallery v%d refused, keeping v%d: %s",
                          self.name, manifest.version, self.gallery.version, e)  # fmt: skip

    def apply_manifest(self, m: GalleryManifest) -> None:
        """Fetch, verify and swap in a gallery; anything wrong raises and the old one stays."""
        if m.version == self.gallery.version and m.model_id == self.gallery.model_id:
            return
        if embedding_space(m.model_id) != embedding_space(self.engine.model_id):
            raise GalleryError(
                f"manifest is for model {m.model_id}, this edge runs {self.engine.model_id}"
            )
        raw = fetch_snapshot(m, os.environ.get("GATEWATCH_EDGE_TOKEN"))
        g = Gallery.from_bytes(raw, f"gallery v{m.version}", self.engine.model_id)
        write_atomic(self.cfg.gallery_path, raw)
        self.gallery = g  # one reference swap: the frame loop reads it once per frame
        log.info("[%s] gallery v%d in use: %d persons", self.name, g.version, len(g))

    # -- searches --------------------------------------------------------------------------

    def _on_search(self, search_id: str, order: SearchOrder | None) -> None:
        with self._searches_lock:
            if order is None:
                if self.searches.pop(search_id, None) is not None:
                    log.info("[%s] search %s ended", self.name, search_id)
                return
            if order.template is not None and (
                order.model_id is None
                or embedding_space(order.model_id) != embedding_space(self.engine.model_id)
            ):
                log.error("[%s] search %s refused: template from model %s, this edge runs %s",
                          self.name, search_id, order.model_id, self.engine.model_id)  # fmt: skip
                return
            self.searches[search_id] = order
            log.info("[%s] search %s active", self.name, search_id)

    # -- events ----------------------------------------------------------------------------

    def _direction(self, track: Track, shape: tuple[int, ...]) -> str | None:
        return passage_direction(self.cfg.direction, self.cfg.line, track, shape)

    def emit(self, track: Track, decision: Decision, direction: str, captured: float) -> None:
        track.decided = True
        if decision.identity is not None and decision.search_id is None:
            last = self._last_passage.get(decision.identity)
            self._last_passage[decision.identity] = track.last_seen
            if last is not None and track.last_seen - last < self.cfg.decision.repeat_window_s:
                self.merged += 1
                log.debug("[%s] track %d is %s again: same passage", self.name, track.id,
                          decision.identity)  # fmt: skip
                return
        quality = max((s.quality for s in track.samples), default=track.best_quality)

        def payload(seq: int, event_id: str) -> bytes:
            return Passage(
                event_id=event_id,
                seq=seq,
                site=self.cfg.site,
                gate=self.cfg.gate,
                camera=self.cfg.camera,
                direction=direction,  # type: ignore[arg-type]
                ts=datetime.now(UTC),
                track_id=track.id,
                identity=decision.identity,
                identity_kind=decision.identity_kind,
                role=decision.role,  # type: ignore[arg-type]
                role_source=decision.role_source,
                score=None
                if decision.score is None
                else round(max(-1.0, min(1.0, decision.score)), 4),
                margin=None if decision.margin is None else round(max(0.0, decision.margin), 4),
                quality=round(min(max(quality, 0.0), 1.0), 4),
                frames_used=max(1, decision.frames_used),
                gallery_version=self.gallery.version,
                model_id=self.engine.model_id,
                search_id=decision.search_id,
            ).to_json()

        try:
            ev = self.outbox.add(payload)
        except OutboxFull as e:
            log.error("[%s] %s", self.name, e)
            return
        self.events += 1
        self._captured_at[ev.seq] = captured
        log.info("[%s] passage #%d track %d %s %s %s%s", self.name, ev.seq, track.id, direction,
                 decision.role, decision.identity or "-",
                 f" search {decision.search_id}" if decision.search_id else "")  # fmt: skip
        self.link.kick()

    def _on_published(self, seq: int) -> None:
        captured = self._captured_at.pop(seq, None)
        if captured is not None:
            self._stage_ms["capture_to_publish"].append((time.monotonic() - captured) * 1000)

    # -- the frame loop --------------------------------------------------------------------

    def process(self, frame: Frame) -> None:
        """One frame through the pipeline."""
        img = frame.image
        now = time.monotonic()
        gallery = self.gallery
        t0 = time.perf_counter()
        dets = self.engine.detect(img)
        t1 = time.perf_counter()
        pairs, ended = self.tracker.update(dets, frame.video_s, frame.captured)
        crops, owners, qualities = [], [], []
        min_gap = 1.0 / self.cfg.decision.embeds_per_s
        for track, di in pairs:
            if track.decided or frame.video_s - track.last_embed_at < min_gap:
                continue
            crop = align_face(img, dets.landmarks[di])
            q = assess_quality(
                dets.landmarks[di], crop, float(dets.scores[di]), self.cfg.face.quality
            )
            track.best_quality = max(track.best_quality, q.score)
            if not q.ok:
                continue
            crops.append(crop)
            owners.append(track)
            qualities.append(q.score)
        t2 = time.perf_counter()
        embs = self.engine.embed_crops(crops) if crops else np.zeros((0, self.engine.dim))
        t3 = time.perf_counter()
        with self._searches_lock:
            orders = dict(self.searches)
        for track, emb, q in zip(owners, embs, qualities, strict=True):
            track.samples.append(Sample(emb, q, frame.video_s))
            track.last_embed_at = frame.video_s
            hit = self.judge.search_hit(emb, orders, gallery) if orders else None
            if hit is not None:
                self._decided(
                    track, self.judge.for_search(track, hit, gallery, now), img.shape, frame
                )
                continue
            decision = self.judge.decide(track, gallery, now, final=False)
            if decision is not None:
                self._decided(track, decision, img.shape, frame)
        for track in list(self.tracker.tracks.values()):
            if isinstance(track.held, Decision) and not track.decided:
                self._decided(track, track.held, img.shape, frame)
        for track in ended:
            self.finish(track, img.shape, frame.captured)
        t4 = time.perf_counter()
        for stage, ms in (("detect", t1 - t0), ("align_quality", t2 - t1), ("embed", t3 - t2),
                          ("match_decide", t4 - t3), ("frame", t4 - t0)):  # fmt: skip
            self._stage_ms[stage].append(ms * 1000)
        self.frames += 1
        self._frame_times.append(now)

    def _decided(
        self, track: Track, decision: Decision, shape: tuple[int, ...], frame: Frame
    ) -> None:
        direction = self._direction(track, shape)
        if direction is None:  # a 'both' camera: wait until the person has moved far enough
            track.held = decision
            return
        self.emit(track, decision, direction, frame.captured)

    def finish(self, track: Track, shape: tuple[int, ...], captured: float) -> None:
        """A track ended: its event now, if it had none and was a real person."""
        if track.decided or track.hits < self.cfg.decision.min_track_frames:
            return
        if not track.samples and track.hits < self.cfg.decision.min_faceless_track_frames:
            return
        held = track.held if isinstance(track.held, Decision) else None
        decision = held or self.judge.decide(track, self.gallery, time.monotonic(), final=True)
        if decision is None:
            return
        direction = self._direction(track, shape) or "none"
        self.emit(track, decision, direction, captured)

    # -- status ----------------------------------------------------------------------------

    def status(self, state: str = "online") -> EdgeStatus:
        fps = 0.0
        if len(self._frame_times) >= 2:
            span = self._frame_times[-1] - self._frame_times[0]
            fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
        return EdgeStatus(
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=self.cfg.camera,
            state=state,  # type: ignore[arg-type]
            camera_state=self.capture.state,
            fps=round(fps, 2),
            latency_ms={k: round(statistics.median(v), 2) for k, v in self._stage_ms.items() if v},
            gallery_version=self.gallery.version,
            outbox_depth=self.outbox.depth(),
            dropped_frames=self.capture.dropped,
            refused_events=self.outbox.refused,
            refused_publishes=self.link.refused_publishes,
            ts=datetime.now(UTC),
        )

    def _status_loop(self) -> None:
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        while not self.stop_event.wait(self.cfg.status_interval_s):
            st = self.status()
            self.link.publish_status(st)
            if time.monotonic() >= next_stats:
                next_stats += self.cfg.stats_interval_s
                log.info("[%s] stats: fps %.1f, camera %s, dropped %d, events %d, outbox %d, "
                         "refused %d, malformed msgs %d, latency %s", self.name, st.fps or 0,
                         st.camera_state, st.dropped_frames, self.events, st.outbox_depth,
                         st.refused_events, self.link.malformed, st.latency_ms)  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> int:
        """Run until the source ends (files without loop) or ``stop``; returns an exit code."""
        self.link.start()
        workers = [
            threading.Thread(target=self._gallery_worker, name="gallery", daemon=True),
            threading.Thread(target=self._status_loop, name="status", daemon=True),
        ]
        for w in workers:
            w.start()
        self.capture.start()
        lossless = self.cfg.source.pace == "lossless"
        min_period = 0.0 if lossless else 1.0 / self.cfg.target_fps
        last = 0.0
        last_frame_at = time.monotonic()
        shape: tuple[int, ...] = (720, 1280, 3)
        try:
            while not self.stop_event.is_set():
                frame = self.capture.get(timeout_s=0.5)
                now = time.monotonic()
                if frame is None:
                    if self.capture.finished:
                        break
                    if now - last_frame_at > self.cfg.source.stall_timeout_s:
                        # Nobody can still be standing in view of a dead camera: close tracks.
                        for t in self.tracker.flush():
                            self.finish(t, shape, t.first_captured)
                        self.capture.state = "camera_lost"
                    continue
                last_frame_at = now
                if now - last < min_period:
                    continue
                last = now
                shape = frame.image.shape
                self.process(frame)
        finally:
            for t in self.tracker.flush():
                self.finish(t, shape, time.monotonic())
            self.capture.stop()
            self._drain()
            self.stop_event.set()
            self.link.stop(self.status("offline"))
            for w in workers:
                w.join(timeout=2)
            self.outbox.close()
        return 0

    def _drain(self) -> None:
        """Give the server a moment to acknowledge what is still in the outbox."""
        deadline = time.monotonic() + self.cfg.outbox.drain_timeout_s
        while self.outbox.depth() and time.monotonic() < deadline and not self._hard_stop:
            self.link.kick()
            time.sleep(0.1)
        left = self.outbox.depth()
        if left:
            log.warning("[%s] %d events not yet acknowledged stay in the outbox %s for the next "
                        "start", self.name, left, self.cfg.outbox.path)  # fmt: skip

    def stop(self, hard: bool = False) -> None:
        self._hard_stop = hard
        self.stop_event.set()
