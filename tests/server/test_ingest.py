"""Ingest over a real broker: idempotent, acknowledged after commit, never stopped by bad input."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.events import Ack
from contract.topics import Topics
from tests.mqtt_helpers import connect
from tests.server.conftest import passage, server_config

ROOT = Path(__file__).resolve().parents[2]


def wait_until(pred, timeout_s: float = 30, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class AckWatcher:
    def __init__(self, port: int, topics: Topics, gate: str = "g1") -> None:
        self.ids: list[str] = []
        self.c = connect(port, "ackwatch-" + secrets.token_hex(3))
        self.c.on_message = lambda c, u, m: self.ids.extend(
            Ack.model_validate_json(m.payload).event_ids
        )
        self.c.subscribe(topics.acks(gate), qos=1)
        time.sleep(0.2)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_duplicates_are_stored_once_and_everything_is_acknowledged(server, broker) -> None:
    topics = server.topics
    acks = AckWatcher(broker.port, topics)
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    events = [passage(server.cfg.site, i + 1, identity=f"p{i % 7}") for i in range(50)]
    for p in events + events[:10] + events[:3]:  # redelivered, as an edge does after reconnects
        pub.publish(topics.events("g1"), p.to_json(), qos=1)
    wait_until(lambda: server.bus.stats.received == 63, 30, "63 deliveries")
    wait_until(lambda: server.store.count_events() == 50, 30, "50 stored")
    wait_until(lambda: len(acks.ids) >= 63, 30, "acks for every delivery")
    assert server.bus.stats.duplicates == 13
    assert set(acks.ids) == {p.event_id for p in events}
    pub.loop_stop()
    acks.close()


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)


def _mutations(site: str):  # noqa: ANN202
    """Almost-valid passages with one field made absurd, plus raw garbage."""
    base = json.loads(passage(site, 1, identity="p1").to_json())
    fields = st.sampled_from(sorted(base))
    absurd = st.one_of(
        JSONISH,
        st.just(-1),
        st.just(10**12),
        st.just("1900-01-01T00:00:00Z"),
        st.just("x" * 500),
        st.just(None),
    )
    mutated = st.builds(lambda k, v: json.dumps({**base, k: v}).encode(), fields, absurd)
    return st.one_of(
        mutated, st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode())
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_malformed_payloads_never_stop_ingest(server, broker) -> None:
    topics = server.topics
    pub = connect(broker.port, "fuzz-" + secrets.token_hex(3))
    sent = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(payload=_mutations(server.cfg.site))
    def publish_one(payload: bytes) -> None:
        sent.append(payload)
        pub.publish(topics.events("g1"), payload, qos=1)

    publish_one()
    good = passage(server.cfg.site, 2, identity="p-still-fine")
    pub.publish(topics.events("g1"), good.to_json(), qos=1)
    wait_until(lambda: server.bus.stats.received >= len(sent) + 1, 60, "every payload received")
    wait_until(lambda: server.store.last_passage("p-still-fine") is not None, 30, "the good one")
    assert len(sent) >= 200
    # Some mutations are still valid passages (same event id: stored once, then duplicates).
    st_ = server.bus.stats
    assert st_.malformed + st_.inserted + st_.duplicates == len(sent) + 1
    assert server.bus.stats.malformed > len(sent) // 2
    pub.loop_stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_two_workers_on_a_shared_subscription_store_each_event_once(
    tmp_path: Path, broker, db_url: str
) -> None:
    from server.app import ServerApp

    site = "shared" + secrets.token_hex(2)
    cfg = server_config(tmp_path, site, broker.port, db_url, ingest={"shared_group": "workers"})
    a = ServerApp(cfg, bus_client_id=f"{site}-w1").start()
    b = ServerApp(cfg, bus_client_id=f"{site}-w2").start()
    try:
        wait_until(lambda: a.bus.connected and b.bus.connected, 10, "both workers connected")
        time.sleep(0.3)
        pub = connect(broker.port, "pub-" + secrets.token_hex(3))
        events = [passage(site, i + 1, identity=f"p{i}") for i in range(300)]
        for p in events:
            pub.publish(Topics(site).events("g1"), p.to_json(), qos=1)
        wait_until(lambda: a.store.count_events() == 300, 60, "300 stored")
        time.sleep(0.5)
        assert a.store.count_events() == 300
        assert a.bus.stats.inserted + b.bus.stats.inserted == 300
        assert a.bus.stats.inserted > 0 and b.bus.stats.inserted > 0, "both workers took a share"
        pub.loop_stop()
    finally:
        a.stop()
        b.stop()


def test_server_killed_during_ingest_loses_nothing(tmp_path: Path, broker) -> None:
    site = "kill" + secrets.token_hex(2)
    cfg_path = tmp_path / "server.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "site": site,
                "data_dir": str(tmp_path / "data"),
                "mqtt": {"port": broker.port, "client_id": f"server-{site}"},
                "http": {"port": 0},
                "ingest": {"batch_max": 50, "batch_wait_ms": 20},
            }
        )
    )

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "gatewatch", "server", "--config", str(cfg_path)],
            cwd=ROOT,
            stdout=open(tmp_path / "server.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    srv = start()
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    events = [passage(site, i + 1, identity=f"p{i % 20}") for i in range(1500)]
    from server.db import make_engine
    from server.store import Store

    db = Store(make_engine(f"sqlite:///{tmp_path / 'data' / 'gatewatch.db'}"))
    wait_until(lambda: (tmp_path / "data" / "gatewatch.db").exists(), 30, "the database")
    time.sleep(1.0)  # the server's session exists on the broker

    def publish_all() -> None:
        for p in events:
            pub.publish(Topics(site).events("g1"), p.to_json(), qos=1)
            time.sleep(0.002)

    t = threading.Thread(target=publish_all)
    t.start()
    wait_until(lambda: db.count_events() >= 200, 60, "ingest under way")
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait()
    killed_at = db.count_events()
    t.join()
    srv = start()  # the persistent session hands over what arrived meanwhile
    try:
        wait_until(lambda: db.count_events() == 1500, 90, "all 1500 stored after the restart")
        time.sleep(1.0)
        assert db.count_events() == 1500
        assert killed_at < 1500
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
        pub.loop_stop()
