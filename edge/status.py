"""The edge's retained status message and its periodic stats log line."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from contract.events import EdgeStatus, OutboxTrouble
from edge.capture import CaptureWatch
from edge.config import EdgeConfig
from edge.decide import ThresholdRule
from edge.errors import OutboxError
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.passages import PassageWriter
from edge.source import Capture
from edge.stats import EdgeStats
from edge.worker import Worker

log = logging.getLogger(__name__)


def _software() -> str:
    try:
        return f"gatewatch {version('gatewatch')}"
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "gatewatch"


SOFTWARE = _software()


class StatusReporter(Worker):
    """Publishes the status every ``status_interval_s`` and logs a stats line every
    ``stats_interval_s``, in its own thread."""

    def __init__(
        self,
        cfg: EdgeConfig,
        name: str,
        link: EdgeLink,
        capture: Capture,
        gallery: GallerySync,
        passages: PassageWriter,
        stats: EdgeStats,
        thresholds: ThresholdRule | None = None,
        gate_captures: CaptureWatch | None = None,
    ) -> None:
        super().__init__("status")
        self.thresholds = thresholds
        self.gate_captures = gate_captures
        self.cfg, self.name = cfg, name
        self.link, self.capture, self.gallery, self.passages, self.stats = (
            link, capture, gallery, passages, stats,
        )  # fmt: skip
        self.outbox = passages.outbox

    def status(self, state: Literal["online", "offline"] = "online") -> EdgeStatus:
        """The status as of now."""
        point = self.thresholds.current if self.thresholds else None
        return EdgeStatus(
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=self.cfg.camera,
            state=state,
            camera_state=self.capture.state,
            fps=round(self.stats.fps(), 2),
            latency_ms=self.stats.latency_ms(),
            gallery_version=self.gallery.gallery.version,
            outbox_depth=self._depth(),
            dropped_frames=self.capture.dropped,
            refused_events=self.outbox.refused,
            outbox_error=self._trouble(),
            lost_events=self.passages.lost,
            refused_publishes=self.link.refused_publishes,
            match_threshold=point.threshold if point else None,
            match_threshold_why=point.why() if point else None,
            calibration=point.curve if point else None,
            gallery_templates=point.gallery_size if point else None,
            captures_sent=self.gate_captures.total if self.gate_captures else None,
            status_interval_s=self.cfg.status_interval_s,
            software=SOFTWARE,
            ts=datetime.now(UTC),
        )

    def _depth(self) -> int | None:
        try:
            return self.outbox.depth()
        except OutboxError:  # logged by the outbox's health
            return None

    def _trouble(self) -> OutboxTrouble | None:
        failing = self.outbox.health.trouble()
        if failing is None:
            return None
        waiting = len(self.passages.unstored)
        return OutboxTrouble(code=failing.code, since=failing.since, waiting=waiting)

    def _run(self) -> None:
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        while not self._stop.wait(self.cfg.status_interval_s):
            st = self.status()
            self.link.publish_status(st)
            if time.monotonic() >= next_stats:
                next_stats += self.cfg.stats_interval_s
                log.info("[%s] stats: fps %.1f, camera %s, dropped %d, events %d, outbox %s, "
                         "refused %d, malformed msgs %d, captures %s, latency %s", self.name,
                         st.fps or 0, st.camera_state, st.dropped_frames, self.stats.events,
                         st.outbox_depth, st.refused_events, self.link.malformed,
                         self.gate_captures.sent if self.gate_captures else "-",
                         st.latency_ms)  # fmt: skip
