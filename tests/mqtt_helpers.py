"""Test helpers for real MQTT: a Mosquitto broker on a free port, and an acknowledging store."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contract.events import Ack, EdgeStatus, Passage
from contract.topics import Topics
from gatewatch.broker import Broker, free_port, mosquitto_binary  # noqa: F401  (re-exported)

# Bounds for what a real broker answers: generous, since a loaded CI machine (load average 4 on
# 2 cores) can take seconds for what takes milliseconds when idle. Tests wait on the answer itself.
BROKER_ANSWER_S = 60.0


def wait_until(pred, timeout_s: float = 120, what: str = "condition") -> None:  # noqa: ANN001
    """Poll ``pred`` until it holds; fail naming ``what`` after a generous ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def connect(
    port: int, client_id: str, clean: bool = True, user: str | None = None, password: str = ""
) -> mqtt.Client:
    """A started client; returns once the broker has answered the CONNECT (accepted or refused)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0 if clean else 3600
    c.reconnect_delay_set(min_delay=0.2, max_delay=1)
    answered = threading.Event()
    # Callers may set their own on_connect afterwards; this one only sees the first answer.
    c.on_connect = lambda client, userdata, flags, rc, props: answered.set()
    c.connect_async("127.0.0.1", port, clean_start=clean, properties=props)
    c.loop_start()
    answered.wait(BROKER_ANSWER_S)
    return c


def subscribe(c: mqtt.Client, topics: str | list[tuple[str, int]], qos: int = 1) -> None:
    """Subscribe and wait for the broker's SUBACK: only then does a publish reach ``c``."""
    done = threading.Event()
    previous = c.on_subscribe
    c.on_subscribe = lambda client, userdata, mid, rcs, props: done.set()
    try:
        if isinstance(topics, str):
            c.subscribe(topics, qos=qos)
        else:
            c.subscribe(topics)
        if not done.wait(BROKER_ANSWER_S):
            raise AssertionError(f"no SUBACK for {topics} within {BROKER_ANSWER_S:g} s")
    finally:
        c.on_subscribe = previous


class AckingStore:
    """Stands in for the server's ingest: stores passages by event id, acknowledges each commit."""

    def __init__(self, port: int, site: str, ack: bool = True, ack_delay_s: float = 0.0) -> None:
        self.topics = Topics(site)
        self.ack = ack
        self.ack_delay_s = ack_delay_s
        self.events: dict[str, Passage] = {}
        self.arrivals: list[Passage] = []  # every delivery, duplicates included
        self.status: dict[str, EdgeStatus] = {}
        self.status_log: list[EdgeStatus] = []
        self.acked: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = connect(port, f"store-{site}", clean=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        # on_connect may already have run before the callback was set; wait for the SUBACK so
        # that nothing an edge publishes from now on can miss this store.
        subscribe(self.client, [(self.topics.all_events(), 1), (self.topics.all_status(), 1)])

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        client.subscribe([(self.topics.all_events(), 1), (self.topics.all_status(), 1)])

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        gate = self.topics.gate_of(msg.topic)
        if msg.topic.endswith("/status"):
            st = EdgeStatus.model_validate_json(msg.payload)
            with self.lock:
                self.status[gate] = st
                self.status_log.append(st)
            return
        p = Passage.model_validate_json(msg.payload)
        with self.lock:
            self.arrivals.append(p)
            self.events.setdefault(p.event_id, p)
        if self.ack:
            if self.ack_delay_s:
                time.sleep(self.ack_delay_s)
            with self.lock:
                self.acked[p.event_id] = self.acked.get(p.event_id, 0) + 1
            client.publish(self.topics.acks(gate), Ack(event_ids=[p.event_id]).to_json(), qos=1)

    def passages(self) -> list[Passage]:
        with self.lock:
            return sorted(self.events.values(), key=lambda p: p.seq)

    def wait_for(self, predicate, timeout_s: float = 60.0, what: str = "condition") -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self):
                    return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
