"""Asks a gate machine for a passage's crop: an MQTT 5 request (ResponseTopic, CorrelationData)
on ``.../gates/<gate>/faces/req``, the answer awaited on ``.../faces/res`` with a timeout.

Answers are kept in memory only (a bounded LRU with a time to live): a passage's crop is never
written to the server's disk. A timeout, or a gate that says it is offline, is "offline", and is
never cached: the next view asks again.

Each ask blocks its caller (a thread of the API's pool) for up to ``timeout_s``, so at most
``max_waiting`` asks wait at a time: one more is answered "busy" at once. Asks for the same
passage share one request (the second waits for the first's answer).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.faces import FaceAnswer, FaceRequest
from contract.topics import Topics

log = logging.getLogger(__name__)

Outcome = Literal["ok", "not_found", "expired", "offline", "busy"]
Publish = Callable[[str, bytes, Properties], None]


@dataclass(frozen=True)
class FaceResult:
    status: Outcome
    jpeg: bytes | None = None
    source: Literal["edge", "cache", "pushed", "status"] = "edge"


class TtlLru:
    """At most ``size`` entries, each for at most ``ttl_s`` (``clock`` seconds); least recently
    used out first. Thread-safe."""

    def __init__(self, size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.size, self.ttl_s, self.clock = size, ttl_s, clock
        self._d: OrderedDict[str, tuple[float, FaceResult]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._d)

    def get(self, key: str) -> FaceResult | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return None
            if self.clock() - hit[0] > self.ttl_s:
                del self._d[key]
                return None
            self._d.move_to_end(key)
            return hit[1]

    def put(self, key: str, value: FaceResult) -> None:
        if self.size <= 0 or self.ttl_s <= 0:
            return
        with self._lock:
            self._d[key] = (self.clock(), value)
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)


@dataclass(frozen=True)
class _Waiting:
    gate: str
    event_id: str
    future: Future[FaceAnswer]


class FaceRequester:
    """Requests out (``ask``, blocking up to ``timeout_s``), answers in (``on_answer``, paho's
    thread)."""

    def __init__(
        self,
        topics: Topics,
        publish: Publish,
        timeout_s: float,
        cache: TtlLru,
        max_waiting: int = 8,
    ) -> None:
        self.topics = topics
        self.publish = publish
        self.timeout_s = timeout_s
        self.cache = cache
        self.malformed = 0
        self.late = 0
        self.busy = 0  # asks answered "busy" (max_waiting asks were waiting)
        self.shared = 0  # asks that waited for another ask's request of the same passage
        self.slots = threading.BoundedSemaphore(max_waiting)
        self._waiting: dict[bytes, _Waiting] = {}
        self._pending: dict[str, Future[FaceResult]] = {}  # by event id: the request out
        self._lock = threading.Lock()

    def ask(self, gate: str, camera: str, event_id: str, ts: datetime) -> FaceResult:
        """The gate's answer, "offline" after ``timeout_s``, or "busy" at once when
        ``max_waiting`` asks are waiting already."""
        cached = self.cache.get(event_id)
        if cached is not None:
            return FaceResult(cached.status, cached.jpeg, "cache")
        if not self.slots.acquire(blocking=False):
            self.busy += 1
            log.warning("face request for %s refused: %s asks are waiting", event_id,
                        len(self._pending))  # fmt: skip
            return FaceResult("busy")
        try:
            with self._lock:
                pending = self._pending.get(event_id)
                first = pending is None
                if pending is None:
                    pending = self._pending[event_id] = Future()
                else:
                    self.shared += 1
            if not first:
                try:  # the first ask always ends within its timeout and sets the result
                    return pending.result(timeout=self.timeout_s + 5)
                except FutureTimeout:
                    return FaceResult("offline")
            try:
                result = self._request(gate, camera, event_id, ts)
            except BaseException as e:
                pending.set_exception(e)
                raise
            finally:
                with self._lock:
                    self._pending.pop(event_id, None)
            pending.set_result(result)
            return result
        finally:
            self.slots.release()

    def _request(self, gate: str, camera: str, event_id: str, ts: datetime) -> FaceResult:
        correlation = uuid.uuid4().bytes
        waiting = _Waiting(gate, event_id, Future())
        with self._lock:
            self._waiting[correlation] = waiting
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.topics.faces_res(gate)
        props.CorrelationData = correlation
        # Not queued for an edge that is away: it would answer nobody when it comes back.
        props.MessageExpiryInterval = max(1, math.ceil(self.timeout_s))
        req = FaceRequest(event_id=event_id, camera=camera, ts=ts)
        try:
            self.publish(self.topics.faces_req(gate), req.to_json(), props)
            answer = waiting.future.result(timeout=self.timeout_s)
        except FutureTimeout:
            log.info("gate %s/%s did not answer for the crop of %s within %.1f s", gate, camera,
                     event_id, self.timeout_s)  # fmt: skip
            return FaceResult("offline")
        finally:
            with self._lock:
                self._waiting.pop(correlation, None)
        result = FaceResult(answer.status, answer.jpeg() if answer.status == "ok" else None)
        self.cache.put(event_id, result)
        return result

    def on_answer(self, msg: mqtt.MQTTMessage) -> None:
        """An edge's answer (paho's thread): handed to whoever waits for it, else dropped."""
        props = msg.properties
        correlation = getattr(props, "CorrelationData", None) if props else None
        with self._lock:
            waiting = self._waiting.get(correlation) if isinstance(correlation, bytes) else None
        if waiting is None:
            self.late += 1  # answered after the timeout, or asked by another server worker
            log.debug("face answer on %s nobody waits for", msg.topic)
            return
        try:
            answer = FaceAnswer.model_validate_json(msg.payload)
            gate = self.topics.faces_gate_of(msg.topic)
            if gate != waiting.gate or answer.event_id != waiting.event_id:
                raise ValueError(f"answer for {answer.event_id} from {gate}, asked "
                                 f"{waiting.event_id} of {waiting.gate}")  # fmt: skip
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            self.malformed += 1
            log.warning("malformed face answer on %s ignored: %s", msg.topic,
                        str(e).splitlines()[0])  # fmt: skip
            return
        if not waiting.future.done():
            waiting.future.set_result(answer)
