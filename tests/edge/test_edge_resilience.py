"""Events are never lost: broker outages, a killed edge, a dead camera."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from edge.outbox import Outbox
from tests.edge.conftest import ENROLLED, build_gallery, start_edge, write_config
from tests.mqtt_helpers import wait_until


@pytest.fixture()
def gallery(tmp_path: Path, engine) -> Path:
    return build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)


def _realtime(video: Path) -> dict:
    return {"kind": "file", "location": str(video), "pace": "realtime"}


def test_broker_outage_loses_nothing_and_keeps_order(
    tmp_path: Path, broker, store_factory, gate_video: Path, gallery: Path
) -> None:
    site = "outage"
    store = store_factory(site)
    cfg = write_config(tmp_path, site, broker.port, _realtime(gate_video), gallery)
    edge = start_edge(cfg, tmp_path / "edge.log")
    try:
        store.wait_for(lambda s: len(s.events) >= 1, 120, "a first event")
        broker.stop()
        log = tmp_path / "edge.log"
        wait_until(lambda: "lost the broker" in log.read_text(), 120, "the edge to see the outage")
        time.sleep(5)  # the outage lasts: passages keep happening while the broker is away
        broker.start()
        assert edge.wait(timeout=120) == 0
    finally:
        if edge.poll() is None:
            edge.kill()
    log = (tmp_path / "edge.log").read_text()
    assert "lost the broker" in log
    events = store.passages()
    assert [p.seq for p in events] == list(range(1, 7)), log[-3000:]
    first_seen: list[int] = []
    for p in store.arrivals:
        if p.seq not in first_seen:
            first_seen.append(p.seq)
    assert first_seen == sorted(first_seen), "events must arrive in sequence order"
    assert Outbox(tmp_path / "outbox.sqlite", 10, ["c1"]).depth() == 0


def test_sigkill_mid_burst_then_restart_loses_no_event(
    tmp_path: Path, broker, store_factory, gate_video: Path, gallery: Path
) -> None:
    site = "killed"
    store = store_factory(site, ack=False)  # the server is slow: nothing acknowledged yet
    cfg = write_config(tmp_path, site, broker.port, _realtime(gate_video), gallery)
    edge = start_edge(cfg, tmp_path / "edge1.log")
    store.wait_for(lambda s: len(s.events) >= 3, 120, "three events")
    os.kill(edge.pid, signal.SIGKILL)
    edge.wait(timeout=60)
    # The broker sees the socket die and publishes the edge's last will.
    store.wait_for(lambda s: s.status.get("g1") is not None and s.status["g1"].state == "offline",
                   120, "the last will: offline")  # fmt: skip
    unacked = Outbox(tmp_path / "outbox.sqlite", 10, ["c1"])
    before = unacked.depth()
    unacked.close()
    assert before >= 3, "the killed edge's events must still be in its outbox"
    store.ack = True
    edge = start_edge(cfg, tmp_path / "edge2.log")  # replays the video: more passages follow
    assert edge.wait(timeout=120) == 0, (tmp_path / "edge2.log").read_text()[-3000:]
    events = store.passages()
    seqs = [p.seq for p in events]
    assert seqs == list(range(1, len(seqs) + 1)), "every sequence number exactly once, no gap"
    assert len(seqs) >= before + 6
    assert Outbox(tmp_path / "outbox.sqlite", 10, ["c1"]).depth() == 0


def test_a_lost_camera_is_reported_and_reopened(
    tmp_path: Path, broker, store_factory, gate_video: Path, gallery: Path
) -> None:
    site = "camloss"
    store = store_factory(site)
    late = tmp_path / "camera.mp4"  # not there yet: the camera is unplugged
    source = {"kind": "file", "location": str(late), "pace": "realtime",
              "reopen_backoff_s": [0.2, 0.5]}  # fmt: skip
    cfg = write_config(tmp_path, site, broker.port, source, gallery)
    edge = start_edge(cfg, tmp_path / "edge.log")
    try:
        store.wait_for(
            lambda s: "g1" in s.status and s.status["g1"].camera_state == "camera_lost",
            120, "status camera_lost",
        )  # fmt: skip
        shutil.copy(gate_video, late)
        store.wait_for(
            lambda s: s.status.get("g1") is not None and s.status["g1"].camera_state == "ok",
            120, "status ok after reopening",
        )  # fmt: skip
        store.wait_for(lambda s: len(s.events) >= 1, 120, "an event from the reopened camera")
        edge.send_signal(signal.SIGTERM)
        assert edge.wait(timeout=60) == 0
    finally:
        if edge.poll() is None:
            edge.kill()
    assert "retrying" in (tmp_path / "edge.log").read_text()


def test_outbox_cap_refuses_loudly_and_sequence_survives_reopen(tmp_path: Path) -> None:
    from edge.errors import OutboxFull

    box = Outbox(tmp_path / "o.sqlite", max_events=10, cameras=["c1"])
    made = [box.add(lambda seq, eid: f"{seq}:{eid}".encode(), "c1") for _ in range(10)]
    assert [e.seq for e in made] == list(range(1, 11))
    with pytest.raises(OutboxFull, match="max 10"):
        box.add(lambda seq, eid: b"x", "c1")
    assert box.refused == 1
    assert box.ack([made[0].event_id, made[1].event_id, "0" * 32]) == 2
    box.close()
    again = Outbox(tmp_path / "o.sqlite", max_events=10, cameras=["c1"])
    assert [e.seq for e in again.pending()] == list(range(3, 11))
    assert again.add(lambda seq, eid: b"y", "c1").seq == 11
