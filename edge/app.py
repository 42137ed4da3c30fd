"""The gate process: capture -> detect -> track -> quality -> embed -> match -> decide -> outbox,
for one camera or several (``cameras:``) sharing the models, the gallery, one MQTT connection and
one outbox.

Started in a visible order: outbox, models, gallery, MQTT link, gallery worker, status, captures;
the frame loop runs in the main thread; stopped in reverse, open tracks flushed into events first.
Each tick of the loop takes at most one frame per camera (round robin: a crowded camera cannot
starve another), detects each, embeds all their faces in one call, then decides per camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from contract.events import SearchOrder
from contract.topics import Topics
from edge.camera import CameraPipeline, GateParts, PendingFrame
from edge.config import EdgeConfig
from edge.decide import Judge, ThresholdRule
from edge.errors import OutboxError
from edge.faces.responder import FaceResponder
from edge.faces.ring import FaceRing
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.outbox import open_outbox
from edge.searches import SearchRegistry
from edge.source import Frame
from edge.stats import EdgeStats
from edge.status import StatusReporter
from edge.visitor_share import VisitorShare
from edge.visitors import VisitorGallery
from models.detector import Detections
from models.engine import FaceEngine

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1  # the longest the loop sleeps when no camera has a frame (stall checks)


def _visitor_gallery(cfg: EdgeConfig, engine: FaceEngine) -> VisitorGallery | None:
    if not cfg.visitors.enabled:
        return None
    v = cfg.visitors
    return VisitorGallery(
        engine.dim, v.threshold or engine.threshold, v.expiry_s, v.max_visitors, gate=cfg.gate,
        max_per_gate=v.max_per_gate,
    )  # fmt: skip


def _client_config(cfg: EdgeConfig) -> EdgeConfig:
    """The MQTT client id, unless the config names one: gatewatch-edge-<site>-<gate>-<camera>
    of its first camera (as before for one camera; unique for a second process at the gate,
    camera ids being unique)."""
    if cfg.cameras is None or len(cfg.cameras) == 1 or cfg.mqtt.client_id:
        return cfg
    first = cfg.cameras[0].camera
    mqtt = cfg.mqtt.model_copy(
        update={"client_id": f"gatewatch-edge-{cfg.site}-{cfg.gate}-{first}"}
    )
    return cfg.model_copy(update={"mqtt": mqtt})


class EdgeApp:
    """The gate process: shared parts once, one ``CameraPipeline`` per camera (``cameras``, in
    config order); ``run`` blocks until every source ends or ``stop``."""

    def __init__(self, cfg: EdgeConfig, engine: FaceEngine | None = None) -> None:
        self.cfg = cfg
        cams = cfg.camera_list()
        one = cams[0].camera if len(cams) == 1 else None
        self.name = f"{cfg.site}/{cfg.gate}" + (f"/{one}" if one else "")
        self.topics = Topics(cfg.site)
        self.stop_event = threading.Event()
        self._hard_stop = False  # a second signal: do not wait for acks before exiting
        # OutboxCorrupt, with the commands to save its events
        self.outbox = open_outbox(
            cfg.outbox.path, cfg.outbox.max_events, [c.camera for c in cfg.camera_list()]
        )
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
        self.judge = Judge(cfg.decision, self.engine.threshold, cfg.face.margin_threshold,
                           visitors, rule=self.thresholds)  # fmt: skip
        self.visitor_share = (
            VisitorShare(visitors, Topics(cfg.site), cfg.gate, model_id, cfg.search_threshold,
                         self.name)
            if visitors is not None and cfg.visitors.share
            else None
        )  # fmt: skip
        self.searches = SearchRegistry(model_id, self.name)
        self.faces = self._face_responder(cfg, [c.camera for c in cams])
        self.link = self._link(cfg, cams[0].camera)
        if self.visitor_share is not None:
            self.visitor_share.publish = self.link.publish
        parts = GateParts(cfg, self.engine, self.gallery_sync, self.thresholds, self.judge,
                          self.searches, self.outbox, self.link, self.faces,
                          on_queued=self._queued, settle=self.settle)  # fmt: skip
        self.cameras = [CameraPipeline(cam, parts) for cam in cams]
        self._by_camera = {c.cam.camera: c for c in self.cameras}
        self.reporter = StatusReporter(cfg, self.name, self.link, self.cameras,
                                       self.gallery_sync, thresholds=self.thresholds)  # fmt: skip
        self._turn = 0  # which camera goes first this tick (round robin)
        # One thread embeds a tick's faces while the frame loop goes on (tick's ``overlap``).
        self._embedder = ThreadPoolExecutor(1, thread_name_prefix="embed")
        # The other cameras' frames of a tick are detected here while the loop does the first.
        self._detector = ThreadPoolExecutor(max(1, len(cams) - 1), thread_name_prefix="detect")
        # Ticks whose faces are being embedded (or wait to be), oldest first: at most two.
        self._in_flight: deque[tuple[list[tuple[CameraPipeline, PendingFrame]], Future]] = deque()

    @property
    def stats(self) -> EdgeStats:
        """The first camera's statistics (one-camera callers); each camera has its own."""
        return self.cameras[0].stats

    def _link(self, cfg: EdgeConfig, first_camera: str) -> EdgeLink:
        """The MQTT link; its last will is the first camera's offline status."""
        extra = [*(self.visitor_share.subscriptions() if self.visitor_share else ()),
                 *(self.faces.subscriptions() if self.faces else ())]  # fmt: skip
        return EdgeLink(
            _client_config(cfg).mqtt,
            Topics(cfg.site),
            cfg.gate,
            first_camera,
            self.outbox,
            on_gallery=self.gallery_sync.submit,
            on_search=self._on_search,
            on_published=self._published,
            extra=extra,
        )

    def _face_responder(self, cfg: EdgeConfig, cameras: list[str]) -> FaceResponder | None:
        """The face ring and its responder (None when ``faces.enabled`` is off)."""
        if not cfg.faces.enabled:
            return None
        ring = FaceRing(cfg.faces_dir(), cfg.faces.days * 86400,
                        int(cfg.faces.max_mb * 1024 * 1024), self.name)  # fmt: skip
        return FaceResponder(
            ring, self.topics, cfg.site, cfg.gate, cameras,
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

    # -- passages and their latency (the one place for each) -------------------------------

    def _queued(self, cam: CameraPipeline, seq: int, captured: float) -> None:
        """A passage of ``cam`` is in the outbox as ``seq``: its stats time it to publish."""
        cam.stats.queued(seq, captured)

    def _published(self, camera: str, seq: int) -> None:
        """Event ``seq`` of ``camera`` left for the broker (the publisher's thread): its
        camera's latency (an event of an earlier run or a replay is not timed)."""
        cam = self._by_camera.get(camera)
        if cam is not None:
            cam.stats.published(seq)

    def store_unstored(self, force: bool = False) -> None:
        """Passages that wait in memory for the outbox file into it, when their retry is due."""
        if any([cam.store_unstored(force) for cam in self.cameras]):
            self.link.kick()

    # -- the frame loop --------------------------------------------------------------------

    def run(self) -> int:
        """Run until every source ends (files without loop) or ``stop``; returns an exit code."""
        if self.visitor_share is not None:
            self.visitor_share.start()
        self.link.start()
        self.gallery_sync.start()
        self.reporter.start()
        for cam in self.cameras:
            cam.start()
        try:
            self._frame_loop()
        finally:
            self._shutdown()
        return 0

    def _frame_loop(self) -> None:
        """Ticks until every camera's source has ended, or ``stop``."""
        ready = threading.Event()  # set by any camera's queue when a frame arrives
        for cam in self.cameras:
            cam.capture.frames.on_put = ready.set
        while not self.stop_event.is_set():
            self.store_unstored()
            ready.clear()
            if not self.tick(overlap=True):
                if all(cam.done for cam in self.cameras):
                    return
                ready.wait(IDLE_WAIT_S)

    def tick(self, overlap: bool = False) -> int:
        """At most one frame per camera, round robin: each detected, all their faces embedded
        in one call, then matched and decided per camera. Returns the frames taken.

        ``overlap`` (the frame loop): the faces are embedded in the embed thread while the loop
        goes on (onnxruntime and OpenCV leave the interpreter free). A tick's faces are chosen
        (``begin``) once every tick but the last has been matched and decided, never later: the
        last tick's faces are taken in at once if their embedding is done, else they wait in the
        embed thread's queue and are taken in before the next tick chooses its faces. A track's
        next face is due an embedding only ``1 / embeds_per_s`` later, so no face waits on its
        track's previous one: the same faces are embedded and the same passages written as one
        tick at a time (tests/edge/test_edge_multicam.py), and a camera that ends its tracks
        settles first. The embed thread, the edge's longest stage, need not idle on a tick
        without faces while the loop waits for the one before. Without ``overlap`` each tick is
        settled before it returns."""
        now = time.monotonic()
        n = len(self.cameras)
        order = [self.cameras[(self._turn + i) % n] for i in range(n)]
        self._turn = (self._turn + 1) % n
        taken = [(cam, f) for cam in order if (f := cam.take(now)) is not None]
        if not taken:
            self.settle()
            return 0
        detected = self._detect([f for _, f in taken])
        self.settle(keep=1)
        pending = [(cam, cam.begin(f, d)) for (cam, f), d in zip(taken, detected, strict=True)]
        self.settle(wait=False)
        crops = [f.crop for _, p in pending for f in p.faces]
        self._in_flight.append((pending, self._embedder.submit(self._embed, crops)))
        if not overlap:
            self.settle()
        return len(pending)

    def _detect(self, frames: list[Frame]) -> list[tuple[Detections, float]]:
        """Faces of each frame, and the ms each took: the first frame in this thread while the
        detect thread does the others (onnxruntime leaves the interpreter free)."""
        others = [self._detector.submit(self._detect_one, f) for f in frames[1:]]
        return [self._detect_one(frames[0]), *(o.result() for o in others)]

    def _detect_one(self, frame: Frame) -> tuple[Detections, float]:
        t0 = time.perf_counter()
        dets = self.engine.detect(frame.image)
        return dets, (time.perf_counter() - t0) * 1000

    def settle(self, keep: int = 0, wait: bool = True) -> None:
        """The ticks whose faces are being embedded, oldest first, but the newest ``keep``:
        wait for their embeddings (``wait``; else only those done), then match and decide per
        camera."""
        while len(self._in_flight) > keep:
            pending, embedding = self._in_flight[0]
            if not wait and not embedding.done():
                return
            self._in_flight.popleft()
            embeddings, embed_ms = embedding.result()
            start = 0
            for cam, p in pending:
                stop = start + len(p.faces)
                cam.complete(p, embeddings[start:stop], embed_ms)
                start = stop

    def _embed(self, crops: list[npt.NDArray[np.uint8]]) -> tuple[npt.NDArray[np.float32], float]:
        """Every face of a tick's frames in one engine call (none: no call), and its time."""
        if not crops:
            return np.zeros((0, self.engine.dim), np.float32), 0.0
        t0 = time.perf_counter()
        embeddings = self.engine.embed_crops(crops)
        return embeddings, (time.perf_counter() - t0) * 1000

    # -- lifecycle -------------------------------------------------------------------------

    def _shutdown(self) -> None:
        try:
            self.settle()  # the last ticks' faces
        except Exception:
            log.exception("[%s] the last frames' faces could not be matched", self.name)
        self._embedder.shutdown(wait=False)
        self._detector.shutdown(wait=False)
        for cam in self.cameras:
            cam.end(time.monotonic())
            cam.capture.stop(wait=False)
        for cam in self.cameras:  # all told first: a camera stuck opening costs one wait, not n
            cam.capture.stop()
        self.store_unstored(force=True)
        self._drain()
        self.stop_event.set()
        self.reporter.stop()
        self.gallery_sync.stop()
        if self.visitor_share is not None:
            self.visitor_share.stop()
        if self.faces is not None:
            self.faces.stop()  # crops written, watchlist crops handed to paho before it stops
        offline = self.reporter.statuses("offline")
        for st in offline[1:]:  # the first camera's goes last, with the clean disconnect
            self.link.publish_status(st)
        self.link.stop(offline[0])
        self.outbox.close()

    def _drain(self) -> None:
        """Give the server a moment to acknowledge what is still in the outbox."""
        deadline = time.monotonic() + self.cfg.outbox.drain_timeout_s
        while (self._left() or self._unstored()) and time.monotonic() < deadline:
            if self._hard_stop:
                break
            self.store_unstored()
            self.link.kick()
            time.sleep(0.1)
        left = self._left()
        if left:
            log.warning("[%s] %d events not yet acknowledged stay in the outbox %s for the next "
                        "start", self.name, left, self.cfg.outbox.path)  # fmt: skip
        if self._unstored():
            log.error("[%s] %d PASSAGES LOST: the outbox %s still cannot store them at exit",
                      self.name, self._unstored(), self.cfg.outbox.path)  # fmt: skip

    def _unstored(self) -> int:
        """Passages of every camera still waiting in memory for the outbox."""
        return sum(len(cam.passages.unstored) for cam in self.cameras)

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
