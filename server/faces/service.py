"""A passage's face for an officer: the pushed crop of a watchlist passage when the server keeps
one, else the gate machine's (asked on demand, cached in memory only)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import Engine

from contract.faces import PassageFace
from contract.mqtt import Subscription
from contract.topics import Topics
from server.errors import NotFound
from server.faces.config import FacesConfig
from server.faces.requester import FaceRequester, FaceResult, Publish, TtlLru
from server.faces.store import FaceStore, PassageWhere
from server.store.base import now_utc
from server.wall.gates import EDGE_INTERVAL_S, overdue_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageFaceView:
    where: PassageWhere
    result: FaceResult


class PassageFaces:
    def __init__(
        self,
        cfg: FacesConfig,
        engine: Engine,
        topics: Topics,
        publish: Publish,
        gate_interval_s: float = EDGE_INTERVAL_S,
        gate_grace_s: float = 5.0,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.cfg = cfg
        self.store = FaceStore(engine)
        self.topics = topics
        # The wall's rule for a gate that fell silent (wall.gate_interval_s, wall.gate_grace_s).
        self.gate_interval_s, self.gate_grace_s = gate_interval_s, gate_grace_s
        self.clock = clock
        cache = TtlLru(cfg.cache_items, cfg.cache_ttl_s)
        self.requester = FaceRequester(topics, publish, cfg.timeout_s, cache, cfg.max_waiting)

    def subscriptions(self) -> Sequence[Subscription]:
        return [Subscription(self.topics.all_faces_res(), self.requester.on_answer)]

    def face(self, event_id: str) -> PassageFaceView:
        """The crop of a stored passage (NotFound for a passage the server does not hold)."""
        where = self.store.passage_where(event_id)
        if where is None:
            raise NotFound(f"no passage {event_id}")
        pushed = self.store.pushed_face(event_id)
        if pushed is not None:
            return PassageFaceView(where, FaceResult("ok", pushed, "pushed"))
        cached = self.requester.cache.get(event_id)
        if cached is not None:
            return PassageFaceView(where, FaceResult(cached.status, cached.jpeg, "cache"))
        if self.gate_away(where.gate, where.camera):
            return PassageFaceView(where, FaceResult("offline", source="status"))
        return PassageFaceView(
            where, self.requester.ask(where.gate, where.camera, event_id, where.ts)
        )

    def gate_away(self, gate: str, camera: str) -> bool:
        """The camera's edge said offline (or its will did), or its status is overdue as the
        wall counts it: asking it would only wait out the timeout. A camera never heard of is
        asked (its status may not have come yet)."""
        g = self.store.gate(gate, camera)
        if g is None:
            return False
        due = overdue_at(g, self.gate_interval_s, self.gate_grace_s)
        return g.state == "offline" or (due is not None and self.clock() > due)

    def on_pushed(self, msg: mqtt.MQTTMessage) -> None:
        """A watchlist passage's crop from its edge (the bus's thread); ValueError if malformed."""
        face = PassageFace.model_validate_json(msg.payload)
        if self.topics.gate_of(msg.topic) != face.gate or face.site != self.topics.site:
            raise ValueError(f"face of {face.site}/{face.gate} on topic {msg.topic}")
        if not self.cfg.watchlist:
            return
        if self.store.add_pushed_face(face):
            log.info("watchlist passage %s at %s/%s: its face crop kept", face.event_id,
                     face.gate, face.camera)  # fmt: skip

    def purge(self, now: datetime) -> int:
        """Delete the pushed crops past ``faces.watchlist_days``."""
        return self.store.purge_pushed_faces(now - timedelta(days=self.cfg.watchlist_days))
