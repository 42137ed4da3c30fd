"""The face ring (size cap, age purge, damaged files) and the face responder over a real broker:
the server's requester asks, the edge's responder answers (or says why not)."""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.faces.ring import FaceRing
from server.faces.requester import FaceRequester, TtlLru
from tests.face_gate import FaceGate, real_face
from tests.mqtt_helpers import connect, subscribe, wait_until

DAY = 86400.0


def jpeg(n: int, fill: bytes = b"x") -> bytes:
    """A JPEG-shaped blob of n bytes (start and end markers; the ring checks no more)."""
    return b"\xff\xd8\xff" + fill * (n - 5) + b"\xff\xd9"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ids(n: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(n)]


def test_the_ring_keeps_under_its_size_cap_oldest_first(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    ring = FaceRing(tmp_path, 7 * DAY, 10_000, "t", clock)
    events = ids(5)
    for i, e in enumerate(events):
        ring.put(e, jpeg(3000), clock.t - 100 + i)
    assert ring.total_bytes <= 10_000 and len(ring) == 3
    assert [e in ring for e in events] == [False, False, True, True, True]
    assert sorted(p.stem for p in tmp_path.glob("*.jpg")) == sorted(events[2:])
    assert ring.get(events[4]) == jpeg(3000)
    assert ring.get(events[0]) is None
    # Purged for size, though young: its passage is older than what the ring keeps.
    assert ring.why_missing(clock.t - 100) == "expired"
    assert ring.why_missing(clock.t - 1) == "not_found"
    # A restart indexes what is on disk, oldest first (the files' times are the passages').
    again = FaceRing(tmp_path, 7 * DAY, 6_000, "t", clock)
    assert [e in again for e in events[2:]] == [False, True, True]


def test_the_ring_purges_by_age_on_an_injected_clock(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    ring = FaceRing(tmp_path, 7 * DAY, 10**9, "t", clock)
    old, young = ids(2)
    ring.put(old, jpeg(100), clock.t - 6 * DAY)
    ring.put(young, jpeg(100), clock.t - 1 * DAY)
    assert ring.purge() == 0 and len(ring) == 2
    clock.t += 1.5 * DAY
    assert ring.purge() == 1
    assert old not in ring and young in ring and not (tmp_path / f"{old}.jpg").exists()
    assert ring.why_missing(clock.t - 8 * DAY) == "expired"
    assert ring.why_missing(clock.t - 2 * DAY) == "not_found"
    # A passage stored late but already past retention never stays.
    late = uuid.uuid4().hex
    ring.put(late, jpeg(100), clock.t - 8 * DAY)
    assert late not in ring and not (tmp_path / f"{late}.jpg").exists()


def test_an_expired_crop_is_never_served_and_a_late_passage_is_purged_in_time(
    tmp_path: Path,
) -> None:
    clock = Clock(1_000_000.0)
    ring = FaceRing(tmp_path, 7 * DAY, 10**9, "t", clock)
    oldest, young, late = ids(3)
    ring.put(oldest, jpeg(100), clock.t - 3 * DAY)
    ring.put(young, jpeg(100), clock.t - 1 * DAY)
    ring.put(late, jpeg(100), clock.t - 2 * DAY)  # written after a younger passage
    clock.t += 5.5 * DAY  # oldest and late now past 7 days, young not
    assert ring.purge() == 2, "the late passage is purged though a younger one was written first"
    assert oldest not in ring and late not in ring and young in ring
    assert not (tmp_path / f"{late}.jpg").exists()
    # A quiet gate (no purge runs): a crop past 7 days is still never served, and is deleted.
    stale = uuid.uuid4().hex
    ring.put(stale, jpeg(100), clock.t - 6.9 * DAY)
    clock.t += 0.2 * DAY
    assert ring.get(stale) is None and ring.why_missing(clock.t - 7.1 * DAY) == "expired"
    assert stale not in ring and not (tmp_path / f"{stale}.jpg").exists()
    assert ring.get(young) == jpeg(100)


def test_the_responder_purges_a_quiet_ring_on_its_timer(tmp_path: Path) -> None:
    from contract.topics import Topics
    from edge.faces.responder import FaceResponder

    clock = Clock(time.time())
    ring = FaceRing(tmp_path, 7 * DAY, 10**9, "t", clock)
    old = uuid.uuid4().hex
    ring.put(old, jpeg(100), clock.t - 6 * DAY)
    responder = FaceResponder(ring, Topics("s1"), "s1", "north", "c1",
                              publish=lambda t, p, props: None, purge_every_s=0.02)  # fmt: skip
    try:
        clock.t += 1.5 * DAY  # nothing is written: only the timer can purge
        wait_until(lambda: old not in ring, 30, "the timer's purge")
        assert not (tmp_path / f"{old}.jpg").exists() and ring.purged == 1
    finally:
        responder.stop()


def test_a_damaged_crop_is_skipped_with_a_clear_log(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    good, cut, junk = ids(3)
    now = time.time()
    (tmp_path / f"{good}.jpg").write_bytes(jpeg(500))
    (tmp_path / f"{cut}.jpg").write_bytes(jpeg(500)[:200])  # a write cut short
    (tmp_path / f"{junk}.jpg").write_bytes(b"not a picture at all")
    (tmp_path / f".{good}.tmp").write_bytes(b"half")  # a crash mid-write
    (tmp_path / "notes.txt").write_text("an operator's file")
    for p in tmp_path.iterdir():
        os.utime(p, (now - 60, now - 60))
    with caplog.at_level(logging.INFO, logger="edge.faces.ring"):
        ring = FaceRing(tmp_path, 7 * DAY, 10**9, "north")
    assert len(ring) == 1 and good in ring and ring.corrupt == 2
    damaged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(damaged) == 2 and all("damaged" in m and "not a whole JPEG" in m for m in damaged)
    assert any(cut in m for m in damaged) and any(junk in m for m in damaged)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{good}.jpg", "notes.txt"])
    # Damaged later, on disk: the read says so, and the ring forgets it.
    (tmp_path / f"{good}.jpg").write_bytes(b"\xff\xd8\xff garbage")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="edge.faces.ring"):
        assert ring.get(good) is None
    assert "damaged" in caplog.text and good not in ring
    with pytest.raises(ValueError, match="not a JPEG"):
        ring.put(uuid.uuid4().hex, b"GIF89a....", now)


# -- the responder, through a real broker ------------------------------------------------------


class Server:
    """The server's requester on a plain client of its own (answers in, requests out)."""

    def __init__(self, port: int, site: str, gate: FaceGate, timeout_s: float = 5.0) -> None:
        self.client = connect(port, "srv-" + secrets.token_hex(3))
        self.requester = FaceRequester(
            gate.topics,
            lambda t, p, props: self.client.publish(t, p, qos=1, properties=props),
            timeout_s, TtlLru(0, 0),
        )  # fmt: skip
        self.client.on_message = lambda c, u, msg: self.requester.on_answer(msg)
        subscribe(self.client, [(gate.topics.all_faces_res(), 1)])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture()
def gate(tmp_path: Path, broker):  # noqa: ANN001
    g = FaceGate(tmp_path, "s" + secrets.token_hex(3), broker.port)
    yield g
    g.stop()


@pytest.fixture()
def asker(broker, gate):  # noqa: ANN001
    s = Server(broker.port, gate.site, gate)
    yield s
    s.close()


def test_the_responder_answers_a_crop_not_found_and_expired(gate, asker) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    face = real_face()
    eid = gate.send("p-1", face=face)
    got = asker.requester.ask("north", "c1", eid, now)
    assert got.status == "ok" and got.jpeg == gate.ring.get(eid)
    assert got.jpeg is not None and got.jpeg.startswith(b"\xff\xd8\xff")
    unknown = asker.requester.ask("north", "c1", uuid.uuid4().hex, now)
    assert (unknown.status, unknown.jpeg) == ("not_found", None)
    old = asker.requester.ask("north", "c1", uuid.uuid4().hex, now - timedelta(days=8))
    assert old.status == "expired"
    assert gate.responder.answered == {"ok": 1, "not_found": 1, "expired": 1}


def test_a_malformed_request_is_ignored_with_a_log_line(gate, asker, caplog) -> None:  # noqa: ANN001
    topic, res = gate.topics.faces_req("north"), gate.topics.faces_res("north")

    def props(response_topic: str | None, correlation: bytes | None) -> Properties:
        p = Properties(PacketTypes.PUBLISH)
        if response_topic:
            p.ResponseTopic = response_topic
        if correlation:
            p.CorrelationData = correlation
        return p

    good = b'{"event_id": "' + uuid.uuid4().hex.encode() + b'", "camera": "c1", "ts": "' + (
        datetime.now(UTC).isoformat().encode()) + b'"}'  # fmt: skip
    bad = [
        (b"{not json", props(res, b"k1")),
        (b'{"event_id": "../../etc/passwd", "camera": "c1", "ts": "2026-01-01T00:00:00Z"}',
         props(res, b"k2")),
        (good, props(gate.topics.faces_res("south"), b"k3")),  # answer elsewhere: no
        (good, props(res, None)),  # no correlation data
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="edge.faces.responder"):
        for payload, p in bad:
            asker.client.publish(topic, payload, qos=1, properties=p)
        wait_until(lambda: gate.responder.malformed == 4, 60, "four malformed requests")
    lines = [r.getMessage() for r in caplog.records if "malformed face request" in r.getMessage()]
    assert len(lines) == 4, lines
    assert any("response topic" in m for m in lines) and any("correlation" in m for m in lines)
    # Still answering; a request for the gate's other camera is left to that camera's edge.
    assert asker.requester.ask("north", "c1", uuid.uuid4().hex, datetime.now(UTC)).status == (
        "not_found")  # fmt: skip
    asker.requester.timeout_s = 0.5
    assert asker.requester.ask("north", "c2", uuid.uuid4().hex, datetime.now(UTC)).status == (
        "offline")  # fmt: skip
    assert sum(gate.responder.answered.values()) == 1
