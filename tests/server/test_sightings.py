"""Searches and outsiders on the server, over a real Mosquitto: sighting candidates with evidence,
confirm/reject, open-search reuse, the watchlist alert, and the alert that resolves itself."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

import cv2
import numpy as np
import pytest

from contract.events import Alert, SightingCandidate
from edge.evidence import context_crop, evidence_picture
from models.imageio import read_image
from server.config import SearchConfig
from server.localtime import local_text
from server.store.records import PersonEntry
from tests.conftest import FACES, needs_shared
from tests.mqtt_helpers import connect, subscribe, wait_until
from tests.server.conftest import auth, passage


def _ingest(server, broker, passages) -> None:  # noqa: ANN001
    before = server.bus.stats.inserted + server.bus.stats.duplicates
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    for p in passages:
        pub.publish(server.topics.events(p.gate), p.to_json(), qos=1)
    want = before + len(passages)
    wait_until(
        lambda: server.bus.stats.inserted + server.bus.stats.duplicates >= want, 120, "ingest"
    )
    pub.loop_stop()
    pub.disconnect()


def _alerts(server, broker) -> list[Alert]:  # noqa: ANN001
    """Alerts published on the site's alerts topic from now on (a live list)."""
    got: list[Alert] = []
    sub = connect(broker.port, "officer-tool-" + secrets.token_hex(3))
    sub.on_message = lambda c, u, m: got.append(Alert.model_validate_json(m.payload))
    subscribe(sub, server.topics.alerts())
    return got


def _elder(server, pid: str = "p-wang") -> str:  # noqa: ANN001
    server.store.upsert_person(
        PersonEntry(id=pid, name="Wang", role="resident", birth_date=date(1940, 3, 1))
    )
    return pid


def _candidate(server, sid: str, engine, frames: int = 3, with_evidence: bool = True):  # noqa: ANN001, ANN202
    img = read_image(FACES / "obama/1.jpg")
    face = engine.analyze(img, embed="none")[0]
    return SightingCandidate(
        candidate_id=uuid.uuid4().hex,
        search_id=sid,
        site=server.cfg.site,
        gate="east",
        camera="c1",
        ts=datetime.now(UTC),
        track_id=7,
        score=0.41,
        frames_at_threshold=frames,
        frames_considered=5,
        threshold=0.30,
        event_id=uuid.uuid4().hex,
        model_id="sface:test",
        evidence=(
            evidence_picture(face.aligned, context_crop(img, face.box)) if with_evidence else None
        ),
    )


def _send(server, broker, c: SightingCandidate) -> None:  # noqa: ANN001
    pub = connect(broker.port, "edge-" + secrets.token_hex(3))
    pub.publish(server.topics.sightings(c.gate), c.to_json(), qos=1)
    wait_until(lambda: server.store.candidate(c.candidate_id) is not None, 120, "the candidate")
    pub.loop_stop()
    pub.disconnect()


def _raise(client, server, pid: str) -> str:  # noqa: ANN001
    r = client.post(
        "/api/searches",
        json={"person_id": pid, "reason": "family reports missing"},
        headers=auth(server, "officer"),
    )
    assert r.status_code == 201, r.text
    return r.json()["search_id"]


@needs_shared
def test_a_candidate_with_evidence_is_stored_viewed_with_audit_and_judged(
    client, server, broker, engine
) -> None:
    sid = _raise(client, server, _elder(server))
    alerts = _alerts(server, broker)
    c = _candidate(server, sid, engine)
    _send(server, broker, c)
    officer = auth(server, "officer")
    ans = client.get(f"/api/searches/{sid}", headers=officer).json()
    assert ans["sightings"] == [], "a candidate never names a passage"
    [cand] = ans["candidates"]
    assert cand["candidate_id"] == c.candidate_id and cand["has_evidence"] is True
    assert (cand["frames_at_threshold"], cand["score"], cand["verdict"]) == (3, 0.41, None)
    wait_until(lambda: any(a.rule == "sighting" for a in alerts), 120, "the sighting alert")
    assert alerts[-1].evidence["candidate_id"] == c.candidate_id
    assert alerts[-1].evidence["ts_local"] == local_text(c.ts, server.tz)
    # The officer looks at both pictures; each view is audited.
    for picture, side in (("aligned", 112), ("context", 320)):
        r = client.get(f"/api/searches/{sid}/candidates/{c.candidate_id}/evidence/{picture}",
                       headers=officer)  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert max(img.shape[:2]) == side
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    views = [a for a in audit if a["action"] == "view_evidence"]
    assert [(a["user"], a["target"]) for a in views] == [("officer1", c.candidate_id)] * 2
    # Confirm, then change one's mind: the last verdict stands, with who and when.
    url = f"/api/searches/{sid}/candidates/{c.candidate_id}/verdict"
    r = client.post(url, json={"verdict": "confirmed"}, headers=officer)
    assert r.status_code == 200 and r.json()["verdict"] == "confirmed"
    assert r.json()["verdict_by"] == "officer1" and r.json()["verdict_at"]
    r = client.post(url, json={"verdict": "rejected"}, headers=auth(server, "admin"))
    assert (r.json()["verdict"], r.json()["verdict_by"]) == ("rejected", "admin1")
    assert client.post(url, json={"verdict": "maybe"}, headers=officer).status_code == 422
    assert client.post(url, json={"verdict": "confirmed"},
                       headers=auth(server, "viewer")).status_code == 403  # fmt: skip
    other = f"/api/searches/{sid}/candidates/{uuid.uuid4().hex}/verdict"
    assert client.post(other, json={"verdict": "confirmed"}, headers=officer).status_code == 404


@needs_shared
def test_evidence_has_its_own_retention_and_can_be_switched_off(
    client, server, broker, engine
) -> None:
    sid = _raise(client, server, _elder(server))
    kept = _candidate(server, sid, engine)
    _send(server, broker, kept)
    now = datetime.now(UTC)
    assert server.searches.purge_evidence(now + timedelta(days=29)) == 0
    assert server.searches.purge_evidence(now + timedelta(days=31)) == 1
    cand = server.store.candidate(kept.candidate_id)
    assert cand is not None and cand.has_evidence is False, "the candidate stays, its picture goes"
    url = f"/api/searches/{sid}/candidates/{kept.candidate_id}/evidence/aligned"
    assert client.get(url, headers=auth(server, "officer")).status_code == 404
    server.searches.cfg = SearchConfig(evidence=False)
    off = _candidate(server, sid, engine)
    _send(server, broker, off)
    assert server.store.candidate(off.candidate_id).has_evidence is False
    assert server.store.evidence(off.candidate_id) is None


@needs_shared
def test_candidates_of_closed_or_unknown_searches_are_dropped(
    client, server, broker, engine
) -> None:
    sid = _raise(client, server, _elder(server))
    client.post(f"/api/searches/{sid}/close", headers=auth(server, "officer"))
    late = _candidate(server, sid, engine)
    marker = _candidate(server, _raise(client, server, _elder(server, "p-li")), engine)
    pub = connect(broker.port, "edge-" + secrets.token_hex(3))
    for c in (late, marker):  # in order on one connection: once the marker is in, late was seen
        pub.publish(server.topics.sightings(c.gate), c.to_json(), qos=1)
    wait_until(lambda: server.store.candidate(marker.candidate_id), 120, "the marker candidate")
    pub.loop_stop()
    assert server.store.candidate(late.candidate_id) is None
    assert server.store.candidates(sid) == []


def test_a_second_search_for_the_same_person_returns_the_open_one(client, server) -> None:
    pid = _elder(server)
    first = _raise(client, server, pid)
    assert _raise(client, server, pid) == first
    assert [s.id for s in server.store.searches()] == [first]
    client.post(f"/api/searches/{first}/close", headers=auth(server, "officer"))
    assert _raise(client, server, pid) != first, "a closed search is not reused"


def test_a_watchlist_passage_raises_a_high_priority_alert_at_once(client, server, broker) -> None:
    alerts = _alerts(server, broker)
    seen = passage(server.cfg.site, 1, "p-risk", "in", gate="north", role="watchlist")
    _ingest(server, broker, [seen, passage(server.cfg.site, 2, "p-res", "in", gate="north")])
    wait_until(lambda: alerts, 120, "the watchlist alert")
    [a] = alerts
    assert (a.rule, a.person_id, a.priority) == ("watchlist_seen", "p-risk", "high")
    assert a.state == "open"
    assert a.evidence["gate"] == "north" and a.evidence["score"] == 0.7
    assert a.evidence["ts"] == seen.ts.isoformat() and a.evidence["event_id"] == seen.event_id
    assert a.evidence["ts_local"] == (seen.ts + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    stored = client.get("/api/alerts", headers=auth(server, "officer")).json()
    assert [(s["rule"], s["person_id"]) for s in stored] == [("watchlist_seen", "p-risk")]


@pytest.mark.parametrize("back_by", ["in", "none"])
def test_out_not_back_resolves_itself_when_the_elder_comes_back(
    client, server, broker, back_by: str
) -> None:
    pid = _elder(server)
    site = server.cfg.site
    out = passage(site, 1, pid, "out", datetime.now(UTC) - timedelta(hours=7), gate="north")
    _ingest(server, broker, [out])
    # 7 h ago may fall in the night window (out_at_night too): only out_not_back resolves.
    [raised] = [a for a in server.watch.scan(datetime.now(UTC)) if a.rule == "out_not_back"]
    alerts = _alerts(server, broker)
    back = passage(site, 2, pid, back_by, gate="south" if back_by == "in" else "lobby-7")
    _ingest(server, broker, [back])
    wait_until(lambda: alerts, 120, "the resolved alert")
    [a] = alerts
    assert (a.alert_id, a.rule, a.state) == (raised.alert_id, "out_not_back", "resolved")
    assert a.evidence["return_event_id"] == back.event_id
    assert a.evidence["went_out"] == out.ts.isoformat()
    [stored] = [s for s in server.store.alerts() if s.rule == "out_not_back"]
    assert stored.state == "resolved" and stored.evidence["return_gate"] == back.gate
    assert stored.evidence["returned_local"] == local_text(back.ts, server.tz)
    assert server.watch.scan(datetime.now(UTC)) == [], "no new episode once back"


def test_scan_resolves_an_alert_whose_return_came_in_another_way(server, broker) -> None:
    pid = _elder(server)
    site = server.cfg.site
    out = passage(site, 1, pid, "out", datetime.now(UTC) - timedelta(hours=7))
    _ingest(server, broker, [out])
    raised = server.watch.scan(datetime.now(UTC))
    assert "out_not_back" in [a.rule for a in raised]  # out_at_night too when 7 h ago was night
    server.store.insert_events([passage(site, 2, pid, "in")])  # e.g. imported, no ingest hook
    server.watch.scan(datetime.now(UTC))
    states = {a.rule: a.state for a in server.store.alerts()}
    assert states["out_not_back"] == "resolved"


def test_internal_sightings_in_the_trajectory_and_the_search_answer(client, server, broker) -> None:
    pid = _elder(server)
    site, now = server.cfg.site, datetime.now(UTC)
    _ingest(server, broker, [
        passage(site, 1, pid, "in", now - timedelta(hours=5), gate="north"),
        passage(site, 2, pid, "none", now - timedelta(hours=4), gate="building-7"),
        passage(site, 3, pid, "none", now - timedelta(hours=2), gate="path-3"),
    ])  # fmt: skip
    ans = client.post("/api/searches", json={"person_id": pid, "reason": "missing"},
                      headers=auth(server, "officer")).json()  # fmt: skip
    assert ans["believed_inside"] is True
    assert ans["last_internal"]["gate"] == "path-3"
    [stay] = ans["trajectory_48h"]["stays"]
    assert [p["gate"] for p in stay["internal"]] == ["building-7", "path-3"]


@needs_shared
def test_a_courier_whose_validity_ended_passes_as_a_visitor(tmp_path, engine) -> None:
    """The registry leaves the expired courier out of the gallery; the edge's decision rule then
    sees an unknown face and gives it a visitor id, while the valid courier is named."""
    from edge.config import DecisionConfig
    from edge.decide import Judge
    from edge.tracker import Sample, Track
    from edge.visitors import VisitorGallery
    from models.gallery import Gallery
    from server.db import make_engine, migrate
    from server.gallery import build_snapshot
    from server.store import Store

    db = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    migrate(db)
    store = Store(db)
    today = datetime.now(UTC).date()
    couriers = {"c-kit": ("kit_harington", today + timedelta(days=30)),
                "c-rose": ("rose_leslie", today - timedelta(days=1))}  # fmt: skip
    for pid, (who, valid_until) in couriers.items():
        store.upsert_person(PersonEntry(id=pid, name=who, role="courier", valid_until=valid_until))
        e = engine.analyze(read_image(FACES / f"{who}/1.jpg"))[0].embedding
        store.add_templates(pid, e[None, :], engine.model_id, [None])
    m = build_snapshot(store, engine.model_id, engine.dim, tmp_path, "http://x", today)
    gallery = Gallery.load(tmp_path / f"gallery-v{m.version}.npz")
    visitors = VisitorGallery(engine.dim, engine.threshold, expiry_s=3600, max_visitors=10)
    judge = Judge(DecisionConfig(), engine.threshold, 0.05, visitors)

    def walk(who: str) -> Track:
        img = read_image(FACES / f"{who}/2.jpg")
        t = Track(id=1, box=np.zeros(4, np.float32), first_seen=0.0, last_seen=0.0,
                  first_centre=np.zeros(2, np.float32), centre=np.zeros(2, np.float32))  # fmt: skip
        for i, frame in enumerate((img, cv2.flip(img, 1), img)):
            t.samples.append(Sample(engine.analyze(frame)[0].embedding, 0.9, float(i)))
        return t

    valid = judge.decide(walk("kit_harington"), gallery, now=0.0, final=True)
    assert valid is not None and (valid.identity, valid.role) == ("c-kit", "courier")
    expired = judge.decide(walk("rose_leslie"), gallery, now=0.0, final=True)
    assert expired is not None and expired.identity_kind == "visitor"
    assert expired.role == "visitor" and expired.identity != "c-rose"
    db.dispose()


@needs_shared
def test_a_candidate_and_its_passage_raise_one_sighting_alert(
    client, server, broker, engine
) -> None:
    pid = _elder(server)
    sid = _raise(client, server, pid)
    c = _candidate(server, sid, engine)
    _send(server, broker, c)
    seen = passage(server.cfg.site, 1, pid, "in", gate="east", search_id=sid)
    _ingest(server, broker, [seen.model_copy(update={"event_id": c.event_id})])
    sightings = [a for a in server.store.alerts() if a.rule == "sighting"]
    assert [a.episode for a in sightings] == [c.event_id]
