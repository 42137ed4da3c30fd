"""The edge's retained status message and its periodic stats log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Literal

from contract.events import EdgeStatus, OutboxTrouble
from edge.config import EdgeConfig
from edge.decide import ThresholdRule
from edge.errors import OutboxError
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.worker import Worker

if TYPE_CHECKING:
    from edge.camera import CameraPipeline

log = logging.getLogger(__name__)


def _software() -> str:
    try:
        return f"gatewatch {version('gatewatch')}"
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "gatewatch"


SOFTWARE = _software()


class StatusReporter(Worker):
    """Publishes one status per camera every ``status_interval_s`` and logs a stats line per
    camera every ``stats_interval_s``, in its own thread. A status carries its camera's state,
    frame rate, latency, drops and passages, and the gate process's shared values (outbox,
    gallery, threshold) the same in each."""

    def __init__(
        self,
        cfg: EdgeConfig,
        name: str,
        link: EdgeLink,
        cameras: Sequence[CameraPipeline],
        gallery: GallerySync,
        thresholds: ThresholdRule | None = None,
    ) -> None:
        super().__init__("status")
        self.thresholds = thresholds
        self.cfg, self.name = cfg, name
        self.link, self.cameras, self.gallery = link, list(cameras), gallery
        self.outbox = self.cameras[0].passages.outbox

    def status(
        self, state: Literal["online", "offline"] = "online", camera: CameraPipeline | None = None
    ) -> EdgeStatus:
        """The status of ``camera`` (default the first) as of now."""
        cam = camera or self.cameras[0]
        point = self.thresholds.current if self.thresholds else None
        return EdgeStatus(
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=cam.cam.camera,
            state=state,
            camera_state=cam.capture.state,
            fps=round(cam.stats.fps(), 2),
            latency_ms=cam.stats.latency_ms(),
            gallery_version=self.gallery.gallery.version,
            outbox_depth=self._depth(),
            dropped_frames=cam.capture.dropped,
            refused_events=self.outbox.refused,
            outbox_error=self._trouble(cam),
            lost_events=cam.passages.lost,
            refused_publishes=self.link.refused_publishes,
            match_threshold=point.threshold if point else None,
            match_threshold_why=point.why() if point else None,
            calibration=point.curve if point else None,
            gallery_templates=point.gallery_size if point else None,
            captures_sent=cam.gate_captures.total,
            status_interval_s=self.cfg.status_interval_s,
            software=SOFTWARE,
            ts=datetime.now(UTC),
        )

    def statuses(self, state: Literal["online", "offline"] = "online") -> list[EdgeStatus]:
        """Every camera's status, in config order."""
        return [self.status(state, cam) for cam in self.cameras]

    def _depth(self) -> int | None:
        try:
            return self.outbox.depth()
        except OutboxError:  # logged by the outbox's health
            return None

    def _trouble(self, cam: CameraPipeline) -> OutboxTrouble | None:
        failing = self.outbox.health.trouble()
        if failing is None:
            return None
        waiting = len(cam.passages.unstored)
        return OutboxTrouble(code=failing.code, since=failing.since, waiting=waiting)

    def _run(self) -> None:
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        while not self._stop.wait(self.cfg.status_interval_s):
            log_now = time.monotonic() >= next_stats
            if log_now:
                next_stats += self.cfg.stats_interval_s
            for cam in self.cameras:
                st = self.status(camera=cam)
                self.link.publish_status(st)
                if log_now:
                    self._log_stats(cam, st)

    def _log_stats(self, cam: CameraPipeline, st: EdgeStatus) -> None:
        log.info("[%s] stats: fps %.1f, camera %s, dropped %d, events %d, outbox %s, "
                 "refused %d, malformed msgs %d, captures %s, latency %s", cam.name,
                 st.fps or 0, st.camera_state, st.dropped_frames, cam.stats.events,
                 st.outbox_depth, st.refused_events, self.link.malformed,
                 cam.gate_captures.sent, st.latency_ms)  # fmt: skip
