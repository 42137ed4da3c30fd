"""The edge's side of "see a face": keeps each passage's best-frame crop in the ring, answers the
server's requests for one (MQTT 5 request/response), pushes a watchlist passage's crop at once.

File I/O and JPEG encoding run on one worker thread (which also purges the ring every
``purge_every_s``, so a quiet gate keeps no crop past its retention), never on paho's network
thread or in the frame loop. A request is answered only when it names one of this process's
cameras (a gate may run one edge process per camera, or one for all) and asks for the answer on
this gate's own response topic; a malformed request is ignored with a log line (the broker's ACL
lets only the server send requests at all).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from contract.faces import CORRELATION_MAX, FaceAnswer, FaceRequest, PassageFace
from contract.mqtt import Subscription
from contract.topics import Topics
from edge.evidence import KeptFace, jpeg
from edge.faces.ring import FaceRing

log = logging.getLogger(__name__)

PURGE_EVERY_S = 60.0  # how often the worker purges the ring when no crop is written
ANSWER_EXPIRY_S = 30  # an answer nobody took in this time is of no use: the broker drops it
Publish = Callable[[str, bytes, Properties], None]


class FaceResponder:
    """The crops of one process's cameras (one ring; event ids are unique): kept (``keep``),
    answered (``on_request``), pushed (watchlist)."""

    def __init__(
        self,
        ring: FaceRing,
        topics: Topics,
        site: str,
        gate: str,
        camera: str | Sequence[str],
        publish: Publish,
        push_watchlist: bool = True,
        purge_every_s: float = PURGE_EVERY_S,
    ) -> None:
        self.ring = ring
        self.topics = topics
        self.cameras = (camera,) if isinstance(camera, str) else tuple(camera)
        self.site, self.gate, self.camera = site, gate, self.cameras[0]
        self.publish = publish
        self.push_watchlist = push_watchlist
        self.name = f"{site}/{gate}/{'+'.join(self.cameras)}"
        self.malformed = 0
        self.answered = {"ok": 0, "not_found": 0, "expired": 0}
        self.pushed = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"faces-{gate}")
        self._stopping = threading.Event()
        self._timer = threading.Thread(target=self._purge_timer, args=(purge_every_s,),
                                       name=f"faces-purge-{gate}", daemon=True)  # fmt: skip
        self._timer.start()

    def subscriptions(self) -> list[Subscription]:
        return [Subscription(self.topics.faces_req(self.gate), self.on_request)]

    def stop(self) -> None:
        """Finish the writes and answers queued so far."""
        self._stopping.set()
        self._timer.join()
        self._pool.shutdown(wait=True)

    def _purge_timer(self, every_s: float) -> None:
        while not self._stopping.wait(every_s):
            try:
                self._pool.submit(self._purge)
            except RuntimeError:  # stopped meanwhile
                return

    def _purge(self) -> None:
        try:
            n = self.ring.purge()
        except OSError as e:
            log.error("[%s] purging the face ring failed: %s", self.name, e)
            return
        if n:
            log.info("[%s] %d face crops past retention purged", self.name, n)

    # -- keep ------------------------------------------------------------------------------

    def keep(
        self,
        event_id: str,
        face: KeptFace,
        ts: datetime,
        watchlist_person: str | None = None,
        camera: str | None = None,
    ) -> None:
        """A passage's best face into the ring (off this thread); pushed to the server too when
        it named a watchlist person (``camera``: the passage's, default the first)."""
        try:
            self._pool.submit(self._keep, event_id, face, ts, watchlist_person,
                              camera or self.camera)  # fmt: skip
        except RuntimeError:  # stopped: a track flushed after the responder
            log.warning("[%s] stopped: the face crop of passage %s not kept", self.name, event_id)

    def _keep(
        self, event_id: str, face: KeptFace, ts: datetime, watchlist_person: str | None,
        camera: str,
    ) -> None:  # fmt: skip
        try:
            data = jpeg(face.context)
            self.ring.put(event_id, data, ts.timestamp())
        except (OSError, ValueError) as e:  # a full disk: the passage stands, its crop is lost
            log.error("[%s] the face crop of passage %s could not be kept: %s", self.name,
                      event_id, e)  # fmt: skip
            return
        if watchlist_person is not None and self.push_watchlist:
            pushed = PassageFace(
                event_id=event_id, site=self.site, gate=self.gate, camera=camera, ts=ts,
                person_id=watchlist_person, jpeg_b64=base64.b64encode(data).decode(),
            )  # fmt: skip
            self.publish(self.topics.sightings(self.gate), pushed.to_json(), Properties(
                PacketTypes.PUBLISH))  # fmt: skip
            self.pushed += 1
            log.info("[%s] watchlist passage %s: its face crop pushed", self.name, event_id)

    # -- answer (paho's thread: parse, then hand over) -------------------------------------

    def on_request(self, msg: mqtt.MQTTMessage) -> None:
        props = msg.properties
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        correlation = getattr(props, "CorrelationData", None) if props else None
        own = self.topics.faces_res(self.gate)
        try:
            if response_topic != own:
                raise ValueError(f"its response topic is {response_topic!r}, not {own}")
            if not isinstance(correlation, bytes) or not 0 < len(correlation) <= CORRELATION_MAX:
                raise ValueError(f"it needs correlation data of 1-{CORRELATION_MAX} bytes")
            req = FaceRequest.model_validate_json(msg.payload)
        except (ValidationError, ValueError) as e:
            self.malformed += 1
            log.warning("[%s] malformed face request on %s ignored: %s", self.name, msg.topic,
                        str(e).splitlines()[0])  # fmt: skip
            return
        if req.camera not in self.cameras:
            return  # the gate's other edge process answers
        try:
            self._pool.submit(self._answer, req, own, correlation)
        except RuntimeError:  # stopping: the server's wait ends in its timeout
            log.info("[%s] stopping: face request for %s not answered", self.name, req.event_id)

    def _answer(self, req: FaceRequest, topic: str, correlation: bytes) -> None:
        data = self.ring.get(req.event_id)
        if data is not None:
            answer = FaceAnswer(event_id=req.event_id, camera=req.camera, status="ok",
                                jpeg_b64=base64.b64encode(data).decode())  # fmt: skip
        else:
            why = self.ring.why_missing(req.ts.astimezone(UTC).timestamp())
            answer = FaceAnswer(event_id=req.event_id, camera=req.camera, status=why)
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = correlation
        props.MessageExpiryInterval = ANSWER_EXPIRY_S
        self.publish(topic, answer.to_json(), props)
        self.answered[answer.status] += 1
        log.debug("[%s] face request for %s: %s", self.name, req.event_id, answer.status)
