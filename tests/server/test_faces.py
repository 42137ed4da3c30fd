"""GET /api/passages/{event_id}/face: the crop asked of the real edge code over the real broker,
every view audited, officers only, answers cached in memory only; watchlist crops pushed and
kept with their own retention; an offline gate said so."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from contract.events import EdgeStatus
from contract.mqtt import PAYLOAD_LIMITS
from server import tables as t
from server.states import AlertRule
from tests.face_gate import FaceGate, real_face
from tests.mqtt_helpers import connect, wait_until
from tests.server.conftest import auth, passage
from tests.server.people_data import ingest

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def audit_rows(client, server, action: str) -> list[dict]:  # noqa: ANN001
    rows = client.get(f"/api/audit?since=1h&action={action}", headers=auth(server, "admin"))
    assert rows.status_code == 200, rows.text
    return rows.json()


def stored(server, event_id: str) -> None:  # noqa: ANN001
    wait_until(lambda: server.faces.store.passage_where(event_id) is not None, 60, "ingest")


def files_holding(root: Path, data: bytes, skip: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and skip not in p.parents
            and data in p.read_bytes()]  # fmt: skip


def test_a_passage_face_from_its_gate_audited_for_officers_and_never_stored(
    client, server, broker, tmp_path: Path
) -> None:
    gate = FaceGate(tmp_path / "gate", server.cfg.site, broker.port)
    try:
        eid = gate.send("p-1", face=real_face())
        bare = gate.send("p-2")  # a passage without a usable face: no crop
        old = gate.send("p-3", ts=datetime.now(UTC) - timedelta(days=8))
        later = gate.send("p-4", face=real_face("biden/2.jpg"))
        for e in (eid, bare, old, later):
            stored(server, e)
        officer, viewer = auth(server, "officer"), auth(server, "viewer")
        r = client.get(f"/api/passages/{eid}/face", headers=officer)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg" and r.content == gate.ring.get(eid)
        assert r.headers["cache-control"] == "no-store"
        # A viewer may not see identities, so not faces either (refused, and audited).
        r = client.get(f"/api/passages/{eid}/face", headers=viewer)
        assert r.status_code == 403
        denied = audit_rows(client, server, "access_denied")
        assert any(a["target"] == f"/api/passages/{eid}/face" for a in denied)
        r = client.get(f"/api/passages/{bare}/face", headers=officer)
        assert r.status_code == 404 and r.json()["detail"]["reason"] == "faces.none"
        r = client.get(f"/api/passages/{old}/face", headers=officer)
        assert r.status_code == 410 and r.json()["detail"]["reason"] == "faces.expired"
        r = client.get(f"/api/passages/{uuid.uuid4().hex}/face", headers=officer)
        assert r.status_code == 404  # no such passage
        assert client.get("/api/passages/not-an-id/face", headers=officer).status_code == 422
    finally:
        gate.stop()
    # The gate is gone: the answer it gave is still in memory, a new one is not to be had.
    r = client.get(f"/api/passages/{eid}/face", headers=auth(server, "officer"))
    assert r.status_code == 200 and r.content.startswith(b"\xff\xd8\xff")
    t0 = time.monotonic()
    r = client.get(f"/api/passages/{later}/face", headers=auth(server, "officer"))
    assert r.status_code == 504 and r.json()["detail"]["reason"] == "faces.offline"
    assert time.monotonic() - t0 < server.cfg.faces.timeout_s, "said offline: no wait"
    views = audit_rows(client, server, "view_passage_face")
    by_target = [(v["target"], v["detail"]["answer"], v["detail"]["source"]) for v in views]
    assert sorted(by_target) == sorted([
        (eid, "ok", "edge"), (bare, "not_found", "edge"), (old, "expired", "edge"),
        (eid, "ok", "cache"), (later, "offline", "status"),
    ])  # fmt: skip
    assert all(v["user"] == "officer1" and v["detail"]["gate"] == "north" for v in views)
    # Nothing of the crops on the server's disk: not in the database, not in any file.
    with server.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.passage_faces)).scalar() == 0
    ok_bytes = client.get(f"/api/passages/{eid}/face", headers=auth(server, "officer")).content
    assert files_holding(tmp_path, ok_bytes[200:600], tmp_path / "gate") == []


def test_a_gate_that_does_not_answer_is_offline_after_the_timeout(client, server, broker) -> None:
    server.faces.requester.timeout_s = 0.5
    p = passage(server.cfg.site, 1, "p-9", gate="west")  # no edge at west, no status either
    ingest(server, broker, [p])
    t0 = time.monotonic()
    r = client.get(f"/api/passages/{p.event_id}/face", headers=auth(server, "officer"))
    assert r.status_code == 504 and r.json()["detail"]["reason"] == "faces.offline"
    assert time.monotonic() - t0 >= 0.5


def test_a_watchlist_crop_is_pushed_kept_and_purged(client, server, broker, tmp_path) -> None:
    r = client.put("/api/persons/p-risk", json={"id": "p-risk", "name": "刘某某",
                   "role": "watchlist"}, headers=auth(server, "admin"))  # fmt: skip
    assert r.status_code == 200, r.text
    gate = FaceGate(tmp_path / "gate", server.cfg.site, broker.port)
    try:
        eid = gate.send("p-risk", role="watchlist", face=real_face("biden/2.jpg"))
        crop = gate.ring.get(eid)
        wait_until(lambda: server.faces.store.pushed_face(eid) is not None, 60, "the push")
        wait_until(lambda: server.store.open_alerts(AlertRule.WATCHLIST_SEEN), 60, "the alert")
    finally:
        gate.stop()
    [alert] = server.store.open_alerts(AlertRule.WATCHLIST_SEEN)
    assert alert.evidence["event_id"] == eid
    r = client.get(f"/api/passages/{eid}/face", headers=auth(server, "officer"))
    assert r.status_code == 200 and r.content == crop, "the kept crop, the gate offline"
    assert server.purge(datetime.now(UTC) + timedelta(days=29))["watchlist_faces"] == 0
    assert server.purge(datetime.now(UTC) + timedelta(days=31))["watchlist_faces"] == 1
    assert server.faces.store.pushed_face(eid) is None


def test_a_gate_whose_status_is_overdue_is_offline_at_once(
    client, server, broker, tmp_path  # noqa: ANN001
) -> None:
    gate = FaceGate(tmp_path / "gate", server.cfg.site, broker.port, gate="east")
    try:
        eid = gate.send("p-5", face=real_face())
        stored(server, eid)
        gate.link.publish_status(EdgeStatus(site=gate.site, gate="east", camera="c1",
                                            state="online"))  # fmt: skip
        wait_until(lambda: server.faces.store.gate_state("east", "c1") == "online", 60, "status")
        # Its status said online, but none came for a minute: the wall counts it offline, and
        # so does the face request (no wait for a gate that is away).
        server.faces.clock = lambda: datetime.now(UTC) + timedelta(minutes=1)
        t0 = time.monotonic()
        r = client.get(f"/api/passages/{eid}/face", headers=auth(server, "officer"))
        assert r.status_code == 504 and r.json()["detail"]["reason"] == "faces.offline"
        assert time.monotonic() - t0 < server.cfg.faces.timeout_s, "said offline: no wait"
        server.faces.clock = lambda: datetime.now(UTC)
        r = client.get(f"/api/passages/{eid}/face", headers=auth(server, "officer"))
        assert r.status_code == 200 and r.content == gate.ring.get(eid)
    finally:
        gate.stop()


def test_asks_for_one_crop_share_a_request_and_too_many_are_busy(client, server, broker) -> None:  # noqa: ANN001
    req = server.faces.requester
    req.timeout_s, req.slots = 1.0, threading.BoundedSemaphore(2)
    sent: list[str] = []
    publish = req.publish
    req.publish = lambda topic, payload, props: (sent.append(topic), publish(topic, payload,
                                                                             props))  # fmt: skip
    p1, p2 = (passage(server.cfg.site, i, f"p-{i}", gate="west") for i in (11, 12))
    ingest(server, broker, [p1, p2])  # no edge at west, no status: asked, never answered
    with ThreadPoolExecutor(2) as pool:
        asks = [pool.submit(server.faces.face, p1.event_id) for _ in range(2)]
        wait_until(lambda: req.shared == 1, 30, "the second ask waiting on the first's request")
        t0 = time.monotonic()
        r = client.get(f"/api/passages/{p2.event_id}/face", headers=auth(server, "officer"))
        assert r.status_code == 503 and r.json()["detail"]["reason"] == "faces.busy"
        assert time.monotonic() - t0 < 1.0, "busy at once"
        assert [a.result().result.status for a in asks] == ["offline", "offline"]
    assert len(sent) == 1 and req.busy == 1
    views = audit_rows(client, server, "view_passage_face")
    assert [(v["target"], v["detail"]["answer"]) for v in views] == [(p2.event_id, "busy")]


def test_an_oversized_face_answer_is_set_aside_unparsed(client, server, broker) -> None:  # noqa: ANN001
    req = server.faces.requester
    req.timeout_s = 2.0
    asked: list[bytes] = []
    publish = req.publish
    req.publish = lambda topic, payload, props: (asked.append(props.CorrelationData),
                                                 publish(topic, payload, props))  # fmt: skip
    p = passage(server.cfg.site, 13, "p-13", gate="west")
    ingest(server, broker, [p])
    with ThreadPoolExecutor(1) as pool:
        ask = pool.submit(server.faces.face, p.event_id)
        wait_until(lambda: asked, 30, "the request")
        big = (b'{"event_id": "' + p.event_id.encode() + b'", "camera": "c1", "status": "ok", '
               b'"jpeg_b64": "' + b"A" * PAYLOAD_LIMITS["faces/res"] + b'"}')  # fmt: skip
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = asked[0]
        other = connect(broker.port, "west-" + uuid.uuid4().hex[:6])
        try:
            other.publish(server.topics.faces_res("west"), big, qos=1, properties=props)
            wait_until(lambda: server.bus.stats.oversized == 1, 30, "the answer set aside")
        finally:
            other.loop_stop()
            other.disconnect()
        assert ask.result().result.status == "offline"
    assert req.malformed == 0 and req.late == 0, "never parsed, never handed over"
    (dead,) = server.store.dead_letters()
    assert dead.kind == "message" and len(dead.payload) <= 256 and str(len(big)) in dead.error
