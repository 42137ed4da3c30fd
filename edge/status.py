"""The edge's retained status message and its periodic stats log line."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Literal

from contract.events import EdgeStatus
from edge.config import EdgeConfig
from edge.gallery_sync import GallerySync
from edge.link import EdgeLink
from edge.outbox import Outbox
from edge.source import Capture
from edge.stats import EdgeStats
from edge.worker import Worker

log = logging.getLogger(__name__)


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
        outbox: Outbox,
        stats: EdgeStats,
    ) -> None:
        super().__init__("status")
        self.cfg, self.name = cfg, name
        self.link, self.capture, self.gallery, self.outbox, self.stats = (
            link, capture, gallery, outbox, stats,
        )  # fmt: skip

    def status(self, state: Literal["online", "offline"] = "online") -> EdgeStatus:
        """The status as of now."""
        return EdgeStatus(
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=self.cfg.camera,
            state=state,
            camera_state=self.capture.state,
            fps=round(self.stats.fps(), 2),
            latency_ms=self.stats.latency_ms(),
            gallery_version=self.gallery.gallery.version,
            outbox_depth=self.outbox.depth(),
            dropped_frames=self.capture.dropped,
            refused_events=self.outbox.refused,
            refused_publishes=self.link.refused_publishes,
            ts=datetime.now(UTC),
        )

    def _run(self) -> None:
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        while not self._stop.wait(self.cfg.status_interval_s):
            st = self.status()
            self.link.publish_status(st)
            if time.monotonic() >= next_stats:
                next_stats += self.cfg.stats_interval_s
                log.info("[%s] stats: fps %.1f, camera %s, dropped %d, events %d, outbox %d, "
                         "refused %d, malformed msgs %d, latency %s", self.name, st.fps or 0,
                         st.camera_state, st.dropped_frames, self.stats.events, st.outbox_depth,
                         st.refused_events, self.link.malformed, st.latency_ms)  # fmt: skip
