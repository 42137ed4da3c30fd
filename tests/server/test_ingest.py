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
from tests.mqtt_helpers import connect, subscribe, wait_until
from tests.server.conftest import passage, server_config, start_subscribed

ROOT = Path(__file__).resolve().parents[2]


class AckWatcher:
    def __init__(self, port: int, topics: Topics, gate: str = "g1") -> None:
        self.ids: list[str] = []
        self.c = connect(port, "ackwatch-" + secrets.token_hex(3))
        self.c.on_message = lambda c, u, m: self.ids.extend(
            Ack.model_validate_json(m.payload).event_ids
        )
        subscribe(self.c, topics.acks(gate))

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
    wait_until(lambda: server.bus.stats.received == 63, 120, "63 deliveries")
    wait_until(lambda: server.store.count_events() == 50, 120, "50 stored")
    wait_until(lambda: len(acks.ids) >= 63, 120, "acks for every delivery")
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
    wait_until(lambda: server.bus.stats.received >= len(sent) + 1, 120, "every payload received")
    wait_until(lambda: server.store.last_passage("p-still-fine") is not None, 120, "the good one")
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
    # Both subscribed (SUBACK) before the first publish, or the broker gives one worker all.
    a = start_subscribed(ServerApp(cfg, bus_client_id=f"{site}-w1"))
    b = start_subscribed(ServerApp(cfg, bus_client_id=f"{site}-w2"))
    try:
        wait_until(lambda: a.bus.connected and b.bus.connected, 120, "both workers connected")
        pub = connect(broker.port, "pub-" + secrets.token_hex(3))
        events = [passage(site, i + 1, identity=f"p{i}") for i in range(300)]
        for p in events:
            pub.publish(Topics(site).events("g1"), p.to_json(), qos=1)
        wait_until(lambda: a.store.count_events() == 300, 120, "300 stored")
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
    import sqlalchemy as sa

    from server.db import make_engine
    from server.store import Store

    db = Store(make_engine(f"sqlite:///{tmp_path / 'data' / 'gatewatch.db'}"))
    wait_until(lambda: (tmp_path / "data" / "gatewatch.db").exists(), 120, "the database")

    def stored() -> int:
        try:
            return db.count_events()
        except sa.exc.OperationalError:  # the server is still creating its tables
            return 0

    # The first passage alone: once it is stored, the server's session and subscription exist
    # on the broker (a fixed pause here failed on a loaded machine).
    topic = Topics(site).events("g1")
    deadline = time.monotonic() + 120
    while stored() == 0:  # resent until stored: ingest is idempotent by event id
        assert time.monotonic() < deadline, "the server never stored the first passage"
        pub.publish(topic, events[0].to_json(), qos=1)
        time.sleep(1.0)
    killed = threading.Event()

    def publish_all() -> None:
        for i, p in enumerate(events[1:], start=1):
            if i == 1000:  # the rest only once the server is dead, however fast ingest ran
                killed.wait(300)
            pub.publish(topic, p.to_json(), qos=1)
            time.sleep(0.002)

    t = threading.Thread(target=publish_all)
    t.start()
    wait_until(lambda: db.count_events() >= 200, 120, "ingest under way")
    os.kill(srv.pid, signal.SIGKILL)
    srv.wait()
    killed_at = db.count_events()
    killed.set()
    t.join()
    srv = start()  # the persistent session hands over what arrived meanwhile
    try:
        wait_until(lambda: db.count_events() == 1500, 300, "all 1500 stored after the restart")
        time.sleep(1.0)
        assert db.count_events() == 1500
        assert killed_at < 1500
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=60)
        pub.loop_stop()
