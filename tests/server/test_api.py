"""The officer API: roles, trajectories with audit, searches end to end, alerts, galleries."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from contract.gallery import GalleryManifest
from models.imageio import read_image
from server.store.records import PersonEntry
from tests.conftest import FACES, needs_shared
from tests.mqtt_helpers import connect, subscribe, wait_until
from tests.server.conftest import auth, passage

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_health_is_open_and_everything_else_needs_a_token(client, server) -> None:
    assert client.get("/api/health").status_code == 200
    r = client.get("/api/alerts")
    assert r.status_code == 401 and "missing token" in r.json()["detail"]
    assert client.get("/api/alerts", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize(
    "role,method,path,body,status",
    [
        ("viewer", "post", "/api/searches", {"person_id": "p1", "reason": "missing"}, 403),
        ("viewer", "get", "/api/trajectory/p1?reason=check", None, 403),
        ("viewer", "get", "/api/board", None, 200),
        ("edge", "get", "/api/board", None, 403),
        ("officer", "get", "/api/persons", None, 403),
        ("officer", "get", "/api/audit", None, 403),
        ("admin", "get", "/api/audit", None, 200),
    ],
)
def test_role_checks(client, server, role, method, path, body, status) -> None:
    r = getattr(client, method)(
        path, headers=auth(server, role), **({"json": body} if body else {})
    )
    assert r.status_code == status, r.text


def _ingest(server, broker, passages) -> None:  # noqa: ANN001
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    for p in passages:
        pub.publish(server.topics.events(p.gate), p.to_json(), qos=1)
    want = len(passages)
    wait_until(
        lambda: server.bus.stats.inserted + server.bus.stats.duplicates >= want, 120, "ingest"
    )
    pub.loop_stop()
    pub.disconnect()


def test_trajectory_stays_whereabouts_and_audit(client, server, broker) -> None:
    site = server.cfg.site
    now = datetime.now(UTC)
    hist = [
        passage(site, 1, "p-li", "out", now - timedelta(hours=30), gate="north"),
        passage(site, 2, "p-li", "in", now - timedelta(hours=26), gate="south"),
        passage(site, 3, "p-li", "none", now - timedelta(hours=20), gate="lobby-7"),
        passage(site, 4, "p-li", "out", now - timedelta(hours=3), gate="north"),
        passage(site, 5, "p-other", "in", now - timedelta(hours=2)),
    ]
    _ingest(server, broker, hist)
    r = client.get("/api/trajectory/p-li?since=48h", headers=auth(server, "officer"))
    assert r.status_code == 422, "a reason is required"
    r = client.get(
        "/api/trajectory/p-li?since=48h&reason=daughter%20called", headers=auth(server, "officer")
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert [p["direction"] for p in t["passages"]] == ["out", "in", "none", "out"]
    assert [(s["where"], s["entered_by"]) for s in t["stays"]] == [
        ("outside", "north/c1"),
        ("inside", "south/c1"),
        ("outside", "north/c1"),
    ]
    w = t["whereabouts"]
    assert w["inside"] is False and w["gate"] == "north" and 2.9 < w["for_hours"] < 3.1
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    assert {
        "user": "officer1",
        "action": "trajectory",
        "target": "p-li",
        "reason": "daughter called",
    }.items() <= audit[0].items()


def test_search_round_trip(client, server, broker) -> None:
    site = server.cfg.site
    server.store.upsert_person(
        PersonEntry(
            id="p-wang", name="Wang", role="resident", birth_date=date(1940, 3, 1), care_flags=[]
        )
    )
    _ingest(
        server, broker, [passage(site, 1, "p-wang", "out", datetime.now(UTC) - timedelta(hours=5))]
    )
    r = client.post(
        "/api/searches",
        json={"person_id": "p-wang", "reason": "family reports missing"},
        headers=auth(server, "officer"),
    )
    assert r.status_code == 201, r.text
    ans = r.json()
    sid = ans["search_id"]
    assert ans["believed_inside"] is False and ans["seen_last_48h"] is True
    assert ans["whereabouts"]["gate"] == "g1"
    # The order is retained on the broker for every edge.
    got: list[bytes] = []
    sub = connect(broker.port, "edge-like-" + secrets.token_hex(3))
    sub.on_message = lambda c, u, m: got.append(m.payload)
    subscribe(sub, server.topics.search(sid))
    wait_until(lambda: got, 120, "the retained search order")
    assert json.loads(got[0])["person_id"] == "p-wang"
    # The officer's live stream gets the sighting an edge reports.
    lines: list[str] = []

    def read_stream() -> None:
        with client.stream(
            "GET", f"/api/searches/{sid}/stream", headers=auth(server, "officer")
        ) as s:
            for line in s.iter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    return

    reader = threading.Thread(target=read_stream, daemon=True)
    reader.start()
    wait_until(lambda: lines, 120, "the stream to open")
    seen = passage(site, 2, "p-wang", "in", gate="east", search_id=sid)
    _ingest(server, broker, [seen])
    wait_until(lambda: any(x.startswith("data:") for x in lines), 120, "the sighting streamed")
    reader.join(timeout=120)
    data = json.loads(next(x for x in lines if x.startswith("data:"))[5:])
    assert data["event_id"] == seen.event_id and data["gate"] == "east"
    assert [
        s["event_id"]
        for s in client.get(f"/api/searches/{sid}", headers=auth(server, "officer")).json()[
            "sightings"
        ]
    ] == [seen.event_id]
    # Its sighting alert: the UTC time for machines, the compound's local time (UTC+8) to read.
    [alert] = server.store.alerts()
    assert alert.rule == "sighting" and alert.evidence["ts"] == seen.ts.isoformat()
    assert alert.evidence["ts_local"] == (seen.ts + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    # Closing clears the retained order.
    assert (
        client.post(f"/api/searches/{sid}/close", headers=auth(server, "officer")).json()["state"]
        == "closed"
    )
    wait_until(lambda: got and got[-1] == b"", 120, "the order cleared")
    got.clear()
    late = connect(broker.port, "late-edge-" + secrets.token_hex(3))
    # A retained order would come right after the SUBACK; a marker published afterwards on the same
    # connection comes after it: once the marker is back, nothing retained is still on its way.
    marker, markers = f"test/marker-{secrets.token_hex(4)}", []
    late.on_message = lambda c, u, m: (markers if m.topic == marker else got).append(m.payload)
    subscribe(late, [(server.topics.search(sid), 1), (marker, 1)])
    late.publish(marker, b"marker", qos=1)
    wait_until(lambda: markers, 120, "the marker")
    assert got == [], "no retained order left for an edge that connects later"
    for c in (sub, late):
        c.loop_stop()


def test_a_search_for_someone_not_seen_says_so(client, server) -> None:
    server.store.upsert_person(
        PersonEntry(id="p-zhao", name="Zhao", role="resident", care_flags=[])
    )
    r = client.post(
        "/api/searches",
        json={"person_id": "p-zhao", "reason": "missing since Monday"},
        headers=auth(server, "officer"),
    )
    assert r.json()["note"] == "not seen by any camera of the compound in the last 48 h"
    r = client.post(
        "/api/searches",
        json={"person_id": "p-nobody", "reason": "missing"},
        headers=auth(server, "officer"),
    )
    assert r.status_code == 404


@needs_shared
def test_a_photo_search_computes_the_template(client, server) -> None:
    photo = (FACES / "rose_leslie/1.jpg").read_bytes()
    r = client.post(
        "/api/searches/photo",
        data={"reason": "lost tourist"},
        files={"photo": ("rose.jpg", photo, "image/jpeg")},
        headers=auth(server, "officer"),
    )
    assert r.status_code == 201, r.text
    s = server.store.search(r.json()["search_id"])
    assert s.model_id == server.face.model_id and len(s.template) == 128 * 4
    r = client.post(
        "/api/searches/photo",
        data={"reason": "lost"},
        headers=auth(server, "officer"),
        files={"photo": ("x.jpg", b"not an image", "image/jpeg")},
    )
    assert r.status_code == 400 and "not an image" in r.json()["detail"]


@needs_shared
def test_gallery_follows_the_registry(client, server, broker, engine) -> None:
    manifests: list[GalleryManifest] = []
    sub = connect(broker.port, "gal-" + secrets.token_hex(3))
    sub.on_message = lambda c, u, m: manifests.append(
        GalleryManifest.model_validate_json(m.payload)
    )
    subscribe(sub, server.topics.gallery())  # each manifest, not only the last retained one
    admin = auth(server, "admin")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    people = {
        "p-obama": ("obama/1.jpg", None),
        "p-kit": ("kit_harington/1.jpg", None),
        "p-courier": ("rose_leslie/1.jpg", yesterday),
    }
    for pid, (photo, valid_until) in people.items():
        r = client.put(
            f"/api/persons/{pid}",
            headers=admin,
            json={
                "id": pid,
                "name": pid.upper(),
                "role": "courier" if "courier" in pid else "resident",
                "valid_until": valid_until,
            },
        )
        assert r.status_code == 200, r.text
        emb = engine.analyze(read_image(FACES / photo))[0].embedding
        r = client.post(
            f"/api/persons/{pid}/templates",
            headers=admin,
            json={"model_id": engine.model_id, "embeddings": [emb.tolist()]},
        )
        assert r.status_code == 201, r.text
    wait_until(lambda: len(manifests) >= 3, 120, "a manifest per change")
    m = manifests[-1]
    assert m.persons == 2, "the courier whose validity ended is not in the gallery"
    r = client.get(f"/api/gallery/{m.version}", headers=auth(server, "edge"))
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == m.sha256
    assert (
        client.get(f"/api/gallery/{m.version}", headers=auth(server, "viewer")).status_code == 403
    )
    assert client.delete("/api/persons/p-kit", headers=admin).status_code == 200
    wait_until(lambda: manifests[-1].version > m.version, 120, "a manifest after the removal")
    from models.gallery import Gallery

    g = Gallery.from_bytes(
        client.get(f"/api/gallery/{manifests[-1].version}", headers=auth(server, "edge")).content,
        "v",
    )
    assert [p.id for p in g.persons()] == ["p-obama"]
    bad = client.post(
        "/api/persons/p-obama/templates",
        headers=admin,
        json={"model_id": "buffalo_l:arcface-x-d512+scrfd-x", "embeddings": [[0.1] * 512]},
    )
    assert bad.status_code == 400
    sub.loop_stop()


def test_retention_purges_old_rows_and_keeps_recent_ones(server, broker) -> None:
    site = server.cfg.site
    now = datetime.now(UTC)
    old_visitor = passage(site, 1, "v-aaaaaaaaaaaa", "in", now - timedelta(days=8))
    new_visitor = passage(site, 2, "v-bbbbbbbbbbbb", "in", now - timedelta(days=6))
    old_resident = passage(site, 3, "p-1", "in", now - timedelta(days=181))
    new_resident = passage(site, 4, "p-1", "out", now - timedelta(days=170))
    _ingest(server, broker, [old_visitor, new_visitor, old_resident, new_resident])
    server.store.audit("officer1", "trajectory", "p-1", "old")
    n = server.purge(now)
    assert n["visitor_events"] == 1 and n["person_events"] == 1 and n["visitors"] == 1
    left = {e.event_id for e in server.store.events(now - timedelta(days=400), limit=100)}
    assert left == {new_visitor.event_id, new_resident.event_id}
    assert server.store.visitor("v-aaaaaaaaaaaa") is None, "the visitor's record went too"
    assert server.store.visitor("v-bbbbbbbbbbbb").passages == 1
    assert server.purge(now) == {
        "visitor_events": 0, "visitors": 0, "person_events": 0, "audit": 0, "home_visits": 0,
        "learning_review_items": 0, "learning_captures": 0, "learning_capture_faces": 0,
        "learning_rejections": 0, "notify_outbox": 0, "watchlist_faces": 0,
    }  # fmt: skip


def test_events_listing_is_audited(client, server, broker) -> None:
    _ingest(server, broker, [passage(server.cfg.site, 1, "p-9", gate="west")])
    r = client.get(
        "/api/events?since=1h&gate=west&reason=incident%2042", headers=auth(server, "officer")
    )
    assert r.status_code == 200 and [e["identity"] for e in r.json()] == ["p-9"]
    assert (
        client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()[0]["reason"]
        == "incident 42"
    )


def test_metrics_in_prometheus_text(client, server) -> None:
    r = client.get("/metrics", headers=auth(server, "viewer"))
    assert r.status_code == 200 and "gatewatch_ingest_received_total" in r.text


def test_a_failed_request_writes_no_audit_row(client, server) -> None:
    officer = auth(server, "officer")
    assert client.get("/api/searches/s-nope", headers=officer).status_code == 404
    assert client.get("/api/events?since=soon&reason=check", headers=officer).status_code == 400
    assert client.get("/api/events?since=1h&reason=check", headers=officer).status_code == 200
    rows = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    assert [(a["action"], a["reason"], a["detail"]) for a in rows] == [
        ("events", "check", {"since": "1h"})
    ]
