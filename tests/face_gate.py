"""A gate for the face tests: the edge's own code (outbox, MQTT link, face ring and responder)
over a real broker, without the camera pipeline. Its passages go out through the outbox as the
edge sends them, and each keeps a crop cut from a real photo with the edge's context crop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from contract.events import EdgeStatus
from contract.mqtt import MqttConfig
from contract.topics import Topics
from edge.evidence import KeptFace, context_crop
from edge.faces.responder import FaceResponder
from edge.faces.ring import FaceRing
from edge.link import EdgeLink
from edge.outbox import Outbox
from scripts.standins import passage
from tests.conftest import FACES, require_shared
from tests.mqtt_helpers import wait_until


def real_face(photo: str = "obama/1.jpg") -> KeptFace:
    """A face from a shared photo (the box where a portrait's face is), cut as the edge cuts
    its context crop."""
    require_shared()
    img = cv2.imread(str(FACES / photo))
    assert img is not None, FACES / photo
    h, w = img.shape[:2]
    side, cx, cy = min(h, w) * 0.3, w / 2, h * 0.36  # where a portrait's face mostly is
    box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)
    aligned = cv2.resize(img, (112, 112))
    return KeptFace(1.0, aligned, context_crop(img, box))


class FaceGate:
    """One camera's edge parts: passages into the outbox (published by the link), crops kept in
    the ring, requests answered; ``stop`` says offline as the edge does on a clean stop."""

    def __init__(self, tmp: Path, site: str, port: int, gate: str = "north", camera: str = "c1"):
        self.site, self.gate, self.camera = site, gate, camera
        self.topics = Topics(site)
        self.outbox = Outbox(tmp / f"outbox-{gate}.sqlite", 10_000, [camera])
        self.ring = FaceRing(tmp / f"faces-{gate}", 7 * 86400, 50 * 1024 * 1024, gate)
        self.link: EdgeLink | None = None
        self.responder = FaceResponder(
            self.ring, self.topics, site, gate, camera,
            publish=lambda t, p, props: self.link.publish(t, p, properties=props),
        )  # fmt: skip
        cfg = MqttConfig(port=port, client_id=f"edge-{site}-{gate}", reconnect_min_s=0.2,
                         reconnect_max_s=1)  # fmt: skip
        self.link = EdgeLink(
            cfg, self.topics, gate, camera, self.outbox,
            on_gallery=lambda m: None, on_search=lambda sid, order: None,
            extra=self.responder.subscriptions(),
        )  # fmt: skip
        subscribed = threading.Event()
        self.link.client.on_subscribe = lambda *a: subscribed.set()
        self.link.start()
        assert subscribed.wait(60), "the gate did not subscribe within 60 s"

    def send(
        self,
        identity: str | None,
        direction: str = "in",
        role: str | None = None,
        ts: datetime | None = None,
        face: KeptFace | None = None,
    ) -> str:
        """A passage through the outbox, its crop kept (pushed too for a watchlist person);
        returns its event id once the crop is in the ring."""
        base = passage(self.site, 1, identity, direction, ts or datetime.now(UTC),
                       gate=self.gate, role=role)  # fmt: skip
        ev = self.outbox.add(
            lambda seq, event_id: base.model_copy(
                update={"seq": seq, "event_id": event_id, "camera": self.camera}
            ).to_json(),
            self.camera,
        )
        self.link.kick()
        if face is not None:
            watch = base.role == "watchlist" and base.identity_kind == "person"
            self.responder.keep(ev.event_id, face, base.ts, identity if watch else None)
            wait_until(lambda: ev.event_id in self.ring, 60, "the crop in the ring")
        return ev.event_id

    def stop(self) -> None:
        self.responder.stop()
        offline = EdgeStatus(site=self.site, gate=self.gate, camera=self.camera, state="offline")
        self.link.stop(offline)
        self.outbox.close()
