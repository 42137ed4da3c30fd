"""The edge's MQTT link: persistent session, outbox publishing in order, acks, orders in."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from contract.events import Ack, EdgeStatus, SearchOrder
from contract.gallery import GalleryManifest
from contract.mqtt import (
    MqttConfig,
    Subscription,
    Will,
    expiring,
    make_client,
    oversized,
    start_client,
)
from contract.topics import Topics
from edge.errors import OutboxError
from edge.outbox import Outbox, OutboxEvent

log = logging.getLogger(__name__)

# After the broker refuses an event (PUBACK reason code): first and largest wait before the
# unacknowledged events are published again, and the least time between two warnings.
REFUSED_RETRY_S = (1.0, 60.0)
REFUSED_LOG_EVERY_S = 60.0
OVERSIZED_LOG_EVERY_S = 60.0  # the least time between two warnings of oversized messages


class EdgeLink:
    """One paho client; events leave only from the outbox, and are deleted only on an ack."""

    def __init__(
        self,
        cfg: MqttConfig,
        topics: Topics,
        gate: str,
        camera: str,
        outbox: Outbox,
        on_gallery: Callable[[GalleryManifest], None],
        on_search: Callable[[str, SearchOrder | None], None],
        on_published: Callable[[str, int], None] = lambda camera, seq: None,
        extra: Sequence[Subscription] = (),
    ) -> None:
        self.cfg, self.topics, self.gate, self.camera = cfg, topics, gate, camera
        self.outbox = outbox
        self.on_gallery, self.on_search, self.on_published = on_gallery, on_search, on_published
        self.extra = list(extra)  # further topics and their handlers (the shared visitors)
        self.connected = False
        self.disconnects = 0  # connections lost (not counting stop)
        self.malformed = 0
        self.oversized = 0
        self._oversized_logged_at = -OVERSIZED_LOG_EVERY_S
        self.acked = 0
        self.published = 0
        self._sent_pos = 0  # outbox position of the last event published on this connection
        self._acks_to_retry: list[str] = []  # acks the outbox file could not delete yet
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.refused_publishes = 0
        self._inflight: dict[int, str | None] = {}  # paho mid -> "camera #seq" (None: no event)
        self._retry_s = REFUSED_RETRY_S[0]
        self._hold_until = 0.0  # after a refused event, nothing goes out before this (monotonic)
        self._resend = False  # after the hold, publish every unacknowledged event again
        self._refusal_logged_at = -REFUSED_LOG_EVERY_S
        client_id = cfg.client_id or f"gatewatch-edge-{topics.site}-{gate}-{camera}"
        offline = EdgeStatus(site=topics.site, gate=gate, camera=camera, state="offline")
        c = make_client(cfg, client_id, will=Will(topics.status(gate), offline.to_json()))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        self.client = c
        self._pump_thread = threading.Thread(target=self._pump, name=f"publish-{gate}", daemon=True)

    def start(self) -> None:
        start_client(self.client, self.cfg)
        self._pump_thread.start()

    def stop(self, status: EdgeStatus | None = None) -> None:
        """Say offline (retained), disconnect cleanly, stop the threads."""
        self._stop.set()
        self._wake.set()
        if self.connected and status is not None:
            info = self.client.publish(
                self.topics.status(self.gate), status.to_json(), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=3)
        self.client.disconnect()
        self.client.loop_stop()
        self._pump_thread.join(timeout=5)

    def kick(self) -> None:
        """New events are in the outbox."""
        self._wake.set()

    def publish(
        self,
        topic: str,
        payload: bytes,
        retain: bool = False,
        expiry_s: float | None = None,
        properties: Properties | None = None,
    ) -> None:
        """A message outside the outbox (QoS 1; paho queues it while the broker is away);
        ``properties``: MQTT 5 PUBLISH properties (they take the place of ``expiry_s``)."""
        props = properties or (expiring(expiry_s) if expiry_s is not None else None)
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        self._track(info, None)

    def publish_status(self, status: EdgeStatus) -> None:
        if self.connected:
            info = self.client.publish(
                self.topics.status(self.gate), status.to_json(), qos=1, retain=True
            )
            self._track(info, None)

    # -- paho callbacks (paho's network thread) -------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("[%s] broker refused the connection: %s", self.gate, reason_code)
            return
        log.info(
            "[%s] connected to %s:%d (session present: %s)",
            self.gate,
            self.cfg.host,
            self.cfg.port,
            flags.session_present,
        )
        client.subscribe(
            [
                (self.topics.acks(self.gate), 1),
                (self.topics.gallery(), 1),
                (self.topics.all_searches(), 1),
                *((s.topic_filter, 1) for s in self.extra),
            ]
        )
        with self._lock:
            self.connected = True
            self._sent_pos = 0  # everything unacknowledged goes out again, in order
            self._inflight.clear()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        with self._lock:
            was = self.connected
            self.connected = False
        if was and not self._stop.is_set():
            self.disconnects += 1
            log.warning(
                "[%s] lost the broker (%s); events stay in the outbox", self.gate, reason_code
            )

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        big = oversized(msg.topic, msg.payload)
        if big is not None:  # never parsed: only its size, digest and topic are logged
            self.oversized += 1
            self.malformed += 1
            now = time.monotonic()
            loud = now - self._oversized_logged_at >= OVERSIZED_LOG_EVERY_S
            if loud:
                self._oversized_logged_at = now
            (log.warning if loud else log.debug)(
                "[%s] message refused, %s (%d oversized so far)", self.gate, big.describe(),
                self.oversized,
            )  # fmt: skip
            return
        try:
            if msg.topic == self.topics.acks(self.gate):
                ack = Ack.model_validate_json(msg.payload)
                self._ack(ack.event_ids)
            elif msg.topic == self.topics.gallery():
                if msg.payload:
                    self.on_gallery(GalleryManifest.model_validate_json(msg.payload))
            elif (search_id := self.topics.search_id_of(msg.topic)) is not None:
                order = SearchOrder.model_validate_json(msg.payload) if msg.payload else None
                if order is not None and order.search_id != search_id:
                    raise ValueError(f"search id {order.search_id} does not match the topic")
                self.on_search(search_id, order)
            else:
                for s in self.extra:
                    if mqtt.topic_matches_sub(s.topic_filter, msg.topic):
                        s.handle(msg)
        except (ValidationError, ValueError) as e:
            self.malformed += 1
            log.warning("[%s] malformed message on %s refused: %s", self.gate, msg.topic, e)
        except Exception:  # a handler bug must not kill paho's network thread
            self.malformed += 1
            log.exception("[%s] message on %s could not be handled", self.gate, msg.topic)

    def _ack(self, event_ids: list[str]) -> None:
        """Delete acknowledged events; kept for the publisher to retry if the file fails."""
        try:
            self.acked += self.outbox.ack(event_ids)
        except OutboxError:  # logged by the outbox's health
            with self._lock:
                self._acks_to_retry.extend(event_ids)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        """The broker's PUBACK. A refused event stays in the outbox: publishing holds back with
        a growing wait, then every unacknowledged event goes out again in order."""
        now = time.monotonic()
        with self._lock:
            event = self._inflight.pop(mid, "")  # "": published before its mid was noted
            if not reason_code.is_failure:
                if event is not None:
                    self._retry_s = REFUSED_RETRY_S[0]
                    self._refusal_logged_at = -REFUSED_LOG_EVERY_S
                return
            self.refused_publishes += 1
            if event is not None and now >= self._hold_until:
                self._hold_until = now + self._retry_s
                self._retry_s = min(2 * self._retry_s, REFUSED_RETRY_S[1])
                self._resend = True
            loud = now - self._refusal_logged_at >= REFUSED_LOG_EVERY_S
            if loud:
                self._refusal_logged_at = now
            refused, retry_in = self.refused_publishes, max(0.0, self._hold_until - now)
        what = (
            "a status or visitor message"
            if event is None
            else f"event {event}"
            if event
            else f"message {mid}"
        )
        (log.warning if loud else log.debug)(
            "[%s] the broker refused %s: %s (reason code %d; %d refused so far); events stay "
            "in the outbox and go out again in %.0f s. Check the broker user and its ACL.",
            self.gate, what, reason_code.getName(), reason_code.value, refused, retry_in,
        )  # fmt: skip

    # -- publishing ------------------------------------------------------------------------

    def _track(self, info: mqtt.MQTTMessageInfo, event: str | None) -> None:
        """Note what a message id carries, for the PUBACK (unless that came already)."""
        with self._lock:
            self._inflight[info.mid] = event
            # Queued while disconnected (rc no_conn), it goes out on reconnect: nothing to ask.
            if info.rc == mqtt.MQTT_ERR_SUCCESS and info.is_published():
                self._inflight.pop(info.mid, None)

    def _may_publish(self) -> bool:
        """False while holding back after a refusal; when the hold ends, start from the top."""
        with self._lock:
            if time.monotonic() < self._hold_until:
                return False
            if self._resend:
                self._resend = False
                self._sent_pos = 0
            return True

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:
                retry, self._acks_to_retry = self._acks_to_retry, []
            if retry:
                self._ack(retry)
            while self.connected and not self._stop.is_set() and self._may_publish():
                with self._lock:
                    after = self._sent_pos
                try:
                    batch = self.outbox.pending(after_pos=after, limit=200)
                except OutboxError:  # logged by the outbox's health; try again in a while
                    self._stop.wait(5.0)
                    break
                if not batch or not self._send(batch, after):
                    break

    def _send(self, batch: list[OutboxEvent], after: int) -> bool:
        """Publish in outbox order (``after``: the position published last); False when the
        connection dropped or restarted meanwhile."""
        topic = self.topics.events(self.gate)
        for ev in batch:
            info = self.client.publish(topic, ev.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            self._track(info, f"{ev.camera} #{ev.seq}")
            with self._lock:
                # Reconnected meanwhile (start over from the top) or an event was refused.
                if self._sent_pos != after or self._resend:
                    return False
                self._sent_pos = after = ev.pos
            self.published += 1
            self.on_published(ev.camera, ev.seq)
        return True
