"""Stand-ins shared by the tests and the benchmarks (scripts/bench_*.py): a connected MQTT client,
an acknowledging store in place of the server's ingest, synthetic passages, a server config.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from contract.events import Ack, EdgeStatus, Passage
from contract.mqtt import MqttConfig, make_client, start_client
from contract.topics import Topics

if TYPE_CHECKING:
    from server.config import ServerConfig


# Bounds for what a real broker answers: generous, since a loaded machine (load average 4 on 2
# cores) can take seconds for what takes milliseconds when idle. Callers wait on the answer itself.
BROKER_ANSWER_S = 60.0


def connect(
    port: int, client_id: str, clean: bool = True, user: str | None = None, password: str = ""
) -> mqtt.Client:
    """A client of the project's factory on 127.0.0.1:port; returns once the broker has answered
    the CONNECT (accepted or refused), or after BROKER_ANSWER_S."""
    cfg = MqttConfig(
        port=port, username=user, session_expiry_s=3600, reconnect_min_s=0.2, reconnect_max_s=1
    )
    c = make_client(cfg, client_id, password=password)
    answered = threading.Event()
    # Callers may set their own on_connect afterwards; this one only sees the first answer.
    c.on_connect = lambda client, userdata, flags, rc, props: answered.set()
    start_client(c, cfg, persistent=not clean)
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


def wait_until(pred, timeout_s: float = 120, what: str = "condition") -> None:  # noqa: ANN001
    """Poll ``pred`` until it holds; fail naming ``what`` after a generous ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


class AckingStore:
    """Stands in for the server's ingest: stores passages by event id, acknowledges each commit."""

    def __init__(
        self,
        port: int,
        site: str,
        ack: bool = True,
        ack_delay_s: float = 0.0,
        user: str | None = None,
        password: str = "",
        client_id: str | None = None,
    ) -> None:
        self.topics = Topics(site)
        self.ack = ack
        self.ack_delay_s = ack_delay_s
        self.events: dict[str, Passage] = {}
        self.arrivals: list[Passage] = []  # every delivery, duplicates included
        self.status: dict[str, EdgeStatus] = {}
        self.status_log: list[EdgeStatus] = []
        self.acked: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = connect(
            port, client_id or f"store-{site}", clean=False, user=user, password=password
        )
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


def passage(
    site: str,
    seq: int,
    identity: str | None = None,
    direction: str = "in",
    ts: datetime | None = None,
    gate: str = "g1",
    kind: str | None = None,
    role: str | None = None,
    search_id: str | None = None,
) -> Passage:
    """A valid passage of a made-up track (no face behind it), for ingest and storage tests."""
    kind = kind or (
        "person"
        if identity and not identity.startswith("v-")
        else "visitor"
        if identity
        else "none"
    )
    return Passage(
        event_id=uuid.uuid4().hex,
        seq=seq,
        site=site,
        gate=gate,
        camera="c1",
        direction=direction,
        ts=ts or datetime.now(UTC),
        track_id=seq,
        identity=identity,
        identity_kind=kind,
        role=role or ("resident" if kind == "person" else "visitor"),
        role_source="gallery" if kind == "person" else "visitor-gallery",
        score=0.7,
        margin=0.3,
        quality=0.8,
        frames_used=3,
        gallery_version=1,
        model_id="sface:test",
        search_id=search_id,
    )


def server_config(
    tmp: Path, site: str, port: int, db_url: str | None = None, **kw: Any
) -> ServerConfig:
    """A server config for a test or a benchmark: data in ``tmp``, broker on ``port``."""
    from server.config import ServerConfig

    return ServerConfig.model_validate(
        {
            "site": site,
            "data_dir": str(tmp / "data"),
            "database_url": db_url,
            "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"server-{site}"},
            "ingest": {"batch_max": 100, "batch_wait_ms": 20, **kw.pop("ingest", {})},
            "elder": {"scan_interval_s": 3600, **kw.pop("elder", {})},
            "retention": {"purge_interval_s": 3600},
            **kw,
        }
    )
