"""The gallery that learns at the gate, on the server, over a real Mosquitto with real faces:
review items in the band, returning visitors, confirm / reject / remove, the anchor guard, the
cap, one automatic template per person per day, retention and removal with the person.

The compound is every identity of ../shared/faces_east_asian_dev enrolled with its first photo
(629 residents: the points follow that size); captures are built from the other photos.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from models.gallery import Gallery
from scripts.standins import passage, server_config
from server.states import ReviewKind, ReviewState, TemplateSource
from tests.conftest import needs_shared
from tests.mqtt_helpers import wait_until
from tests.server.conftest import auth, start_subscribed
from tests.server.learning_data import Compound, Gate, Shot, build_compound, capture, enroll
from tests.server.test_sightings import _ingest

pytestmark = [needs_shared, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
DAY = timedelta(days=1)


@pytest.fixture()
def compound(engine, shared: Path) -> Compound:
    return build_compound(engine, shared / "faces_east_asian_dev")


@pytest.fixture()
def lserver(tmp_path: Path, broker, db_url: str, compound: Compound):  # noqa: ANN001, ANN201
    """A running server whose registry is the compound, with users."""
    from server.app import ServerApp

    site = "s" + secrets.token_hex(3)
    cfg = server_config(tmp_path, site, broker.port, db_url,
                        learning={"gallery_quiet_s": 0.2, "scan_interval_s": 3600})  # fmt: skip
    app = start_subscribed(ServerApp(cfg))
    app.tokens = {r: app.store.add_user(f"{r}1", r) for r in ("admin", "officer", "viewer", "edge")}
    enroll(app, compound)
    yield app
    app.stop()


@pytest.fixture()
def lclient(lserver):  # noqa: ANN001, ANN201
    from fastapi.testclient import TestClient

    from server.api import create_api

    with TestClient(create_api(lserver)) as c:
        yield c


@pytest.fixture()
def gate(lserver, broker):  # noqa: ANN001, ANN201
    g = Gate(lserver, broker)
    yield g
    g.close()


def _in_band(engine, c: Compound, pts) -> list[tuple[str, Shot]]:  # noqa: ANN001
    """(person, photo) whose honest score lies in the review band."""
    found = []
    for pid in c.ids:
        for s in c.others(engine, pid):
            if pts.review_floor <= c.honest(s.template, pid)[0] < pts.naming:
                found.append((pid, s))
    assert found, "no photo of the data scores in the review band"
    return found


def _offered(engine, c: Compound, pts, pid: str) -> list[Shot]:  # noqa: ANN001
    """The person's photos an edge would offer for learning (honest numbers, with room)."""
    honest = [(s, *c.honest(s.template, pid)) for s in c.others(engine, pid)]
    return [s for s, score, margin in honest if score >= pts.learn + 0.02 and margin >= 0.12]


def _learnable(engine, c: Compound, pts, n: int) -> tuple[str, list[Shot]]:  # noqa: ANN001
    """The person with the most photos an edge would offer for learning."""
    best: tuple[str, list[Shot]] = ("", [])
    for pid in c.ids:
        ok = _offered(engine, c, pts, pid)
        if len(ok) > len(best[1]):
            best = (pid, ok)
    assert len(best[1]) >= n, f"no person with {n} learnable photos"
    return best


def _gate_templates(server, pid: str) -> list:  # noqa: ANN001
    return [t for t in server.learning.store.person_templates(pid)
            if t.source != TemplateSource.ENROLLMENT]  # fmt: skip


def test_points_follow_the_registry(lserver, compound) -> None:
    pts = lserver.learning.points()
    assert pts.size.persons == len(compound.ids) >= 600
    assert pts.visitor_floor < pts.review_floor < pts.naming < pts.learn, pts
    assert 0.40 < pts.anchor < pts.learn


def test_a_near_miss_becomes_one_review_item_and_the_api_shows_it(
    lserver, lclient, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    pid, s = _in_band(engine, compound, pts)[0]
    cap = capture(lserver, compound, s, pid, "review", identity="v-aaaaaaaaaaaa")
    assert gate.send(cap) == "review_item"
    # the same capture again (QoS 1 redelivery): stored once, no second item
    gate.pub.publish(lserver.topics.sightings("north"), cap.to_json(), qos=1)
    again = capture(lserver, compound, s, pid, "review", identity="v-aaaaaaaaaaaa")
    assert gate.send(again) == "open_item", "one open item per person and visitor id"
    officer = auth(lserver, "officer")
    body = lclient.get("/api/review?state=open", headers=officer).json()
    assert body["open"] == 1
    [item] = body["items"]
    assert (item["person_id"], item["person_name"], item["kind"], item["visitor_id"]) == (
        pid, compound.name(pid), "near_miss", "v-aaaaaaaaaaaa")  # fmt: skip
    assert item["score"] == cap.score and item["gate"] == "north" and item["camera"] == "cam1"
    assert item["has_face"] is True and item["has_reference"] is False
    assert item["ts_local"] == cap.ts.astimezone(lserver.tz).strftime("%Y-%m-%d %H:%M")
    r = lclient.get(f"/api/review/{item['id']}/face/aligned", headers=officer)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    r = lclient.get(f"/api/review/{item['id']}/face/reference", headers=officer)
    assert r.status_code == 404 and "no reference photo" in r.json()["detail"]
    assert lclient.get("/api/review", headers=auth(lserver, "viewer")).status_code == 403
    audit = lclient.get("/api/audit?since=1h", headers=auth(lserver, "admin")).json()
    assert {"list_review", "view_review_face"} <= {a["action"] for a in audit}


def test_a_capture_on_another_gates_topic_dated_ahead_or_below_the_floor_is_not_an_item(
    lserver, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    pid, s = _in_band(engine, compound, pts)[0]
    cap = capture(lserver, compound, s, pid, "review", identity="v-bbbbbbbbbbbb")
    before = lserver.bus.stats.malformed
    gate.pub.publish(lserver.topics.sightings("south"), cap.to_json(), qos=1)
    wait_until(lambda: lserver.bus.stats.malformed > before, 60, "the refusal")
    assert lserver.learning.store.capture(cap.capture_id) is None
    ahead = capture(lserver, compound, s, pid, "review", identity="v-bbbbbbbbbbbb",
                    ts=datetime.now(UTC) + DAY)  # fmt: skip
    gate.pub.publish(lserver.topics.sightings("north"), ahead.to_json(), qos=1)
    wait_until(lambda: lserver.bus.stats.malformed > before + 1, 60, "the refusal")
    assert lserver.learning.store.capture(ahead.capture_id) is None
    kept = capture(lserver, compound, s, pid, "review", identity="v-bbbbbbbbbbbb",
                   score=(pts.visitor_floor + pts.review_floor) / 2)  # fmt: skip
    assert gate.send(kept) == "kept"  # asked about only if the visitor keeps coming back
    low = capture(lserver, compound, s, pid, "review", identity="v-bbbbbbbbbbbc",
                  score=pts.visitor_floor - 0.02)  # fmt: skip
    assert gate.send(low) == "below_floor"
    assert lserver.learning.store.open_count() == 0


def test_confirm_adds_a_template_with_provenance_and_the_gallery_carries_it(
    lserver, lclient, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    pid, s = _in_band(engine, compound, pts)[0]
    cap = capture(lserver, compound, s, pid, "review", identity="v-cccccccccccc")
    assert gate.send(cap) == "review_item"
    [item] = lserver.learning.store.items(ReviewState.OPEN, 10)
    v0 = lclient.post("/api/gallery/publish", headers=auth(lserver, "admin")).json()["version"]
    r = lclient.post(f"/api/review/{item.id}/verdict", json={"verdict": "confirm"},
                     headers=auth(lserver, "officer"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["decided_by"]) == ("confirmed", "officer1")
    tid = r.json()["template_id"]
    again = lclient.post(f"/api/review/{item.id}/verdict", json={"verdict": "reject"},
                         headers=auth(lserver, "officer"))  # fmt: skip
    assert again.status_code == 409
    got = lclient.get(f"/api/persons/{pid}/templates", headers=auth(lserver, "officer")).json()
    assert [(x["source"], x["gate"], x["camera"], x["confirmed_by"]) for x in got] == [
        ("enrollment", None, None, None),
        ("gate_confirmed", "north", "cam1", "officer1"),
    ]
    assert got[1]["id"] == tid
    assert datetime.fromisoformat(got[1]["captured_at"]) == cap.ts
    # one new gallery version, served to edges, holding the gate's face as the person's template
    wait_until(lambda: lserver.store.gallery().version > v0, 60, "a new gallery version")
    v = lserver.store.gallery().version
    r = lclient.get(f"/api/gallery/{v}", headers=auth(lserver, "edge"))
    assert r.status_code == 200
    g = Gallery.from_bytes(r.content, "the served snapshot")
    mine = g.templates_of(pid)
    assert len(mine) == 2 and np.abs(mine @ s.template).max() > 0.999


def test_reject_then_the_same_visitor_or_face_is_never_asked_again(
    lserver, lclient, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    pid, s = _in_band(engine, compound, pts)[0]
    assert gate.send(capture(lserver, compound, s, pid, "review", identity="v-dddddddddddd")) == (
        "review_item")  # fmt: skip
    [item] = lserver.learning.store.items(ReviewState.OPEN, 10)
    r = lclient.post("/api/review/verdicts", json={"verdicts": [
        {"id": item.id, "verdict": "reject"}, {"id": 999999, "verdict": "confirm"}]},
        headers=auth(lserver, "officer"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 1 and r.json()["confirmed"] == 0
    assert [x["error"] is None for x in r.json()["results"]] == [True, False]
    # the same visitor id tomorrow, and the same face under a new visitor id: no item
    same_vid = capture(lserver, compound, s, pid, "review", identity="v-dddddddddddd")
    assert gate.send(same_vid) == "rejected_before"
    new_vid = capture(lserver, compound, s, pid, "review", identity="v-eeeeeeeeeeee")
    assert gate.send(new_vid) == "rejected_before"
    assert lserver.learning.store.open_count() == 0
    assert _gate_templates(lserver, pid) == []


def test_a_returning_visitor_becomes_one_item_after_three_local_days(
    lserver, lclient, gate, compound, engine, broker
) -> None:
    pts = lserver.learning.points()
    band = _in_band(engine, compound, pts)
    pid, s = band[0]
    other_pid, other = next((p, x) for p, x in band if p != pid)
    now = datetime.now(UTC)
    site, vid, vid2 = lserver.cfg.site, "v-111111111111", "v-222222222222"
    days = [now - 2 * DAY, now - DAY, now]
    _ingest(lserver, broker, [passage(site, i + 1, vid, "in", ts, gate="north")
                              for i, ts in enumerate(days)]
            + [passage(site, 10 + i, vid2, "in", ts, gate="north")
               for i, ts in enumerate(days[1:])])  # fmt: skip
    caps = [capture(lserver, compound, s, pid, "review", identity=vid, ts=ts) for ts in days]
    caps = [c.model_copy(update={"score": round(c.score - 0.01 * i, 4)}) for i, c in
            enumerate(caps)]  # fmt: skip
    outcomes = [gate.send(c) for c in caps]
    assert outcomes == ["review_item", "open_item", "open_item"]
    two = capture(lserver, compound, other, other_pid, "review", identity=vid2, ts=now)
    assert gate.send(two) == "review_item"
    touched = lserver.learning.scan(now)
    assert len(touched) == 1, "only the visitor seen on 3 days"
    items = {i.visitor_id: i for i in lserver.learning.store.items(ReviewState.OPEN, 10)}
    assert items[vid].kind == ReviewKind.RETURNING_VISITOR and items[vid].person_id == pid
    assert items[vid].capture_id == caps[0].capture_id, "the best capture"
    assert items[vid2].kind == ReviewKind.NEAR_MISS
    listed = lclient.get("/api/review", headers=auth(lserver, "officer")).json()["items"]
    assert {x["visitor_id"]: x["days"] for x in listed} == {vid: 3, vid2: 2}
    assert lserver.learning.scan(now) == [], "nothing new on the next scan"
    lserver.learning.judge(items[vid].id, "reject", "officer1")
    assert lserver.learning.scan(now) == [], "rejected: never asked again"


def test_an_officer_removes_gate_templates_only_and_the_gallery_moves(
    lserver, lclient, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    pid, shots = _learnable(engine, compound, pts, 1)
    assert gate.send(capture(lserver, compound, shots[0], pid, "learn")) == "learned"
    [learned] = _gate_templates(lserver, pid)
    assert (learned.source, learned.gate, learned.confirmed_by) == ("gate_auto", "north", None)
    [enrolled] = [t for t in lserver.learning.store.person_templates(pid)
                  if t.source == TemplateSource.ENROLLMENT]  # fmt: skip
    officer, admin = auth(lserver, "officer"), auth(lserver, "admin")
    r = lclient.delete(f"/api/persons/{pid}/templates/{enrolled.id}", headers=officer)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    v_before = lserver.store.gallery().version if lserver.store.gallery() else 0
    r = lclient.delete(f"/api/persons/{pid}/templates/{learned.id}", headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["removed"]["source"] == "gate_auto"
    assert r.json()["gallery"]["version"] > v_before
    assert _gate_templates(lserver, pid) == []
    assert lclient.delete(f"/api/persons/{pid}/templates/{learned.id}",
                          headers=officer).status_code == 404  # fmt: skip
    assert lclient.delete(f"/api/persons/{pid}/templates/{enrolled.id}",
                          headers=admin).status_code == 200  # fmt: skip
    audit = lclient.get("/api/audit?since=1h", headers=admin).json()
    assert [a["user"] for a in audit if a["action"] == "remove_template"] == ["admin1", "officer1"]


def test_the_anchor_guard_and_an_edge_that_overclaims(lserver, gate, compound, engine) -> None:
    """Another real person offered as X: with an inflated score it fails the server's own
    score; after an officer wrongly confirmed that person's face as X (so the claim verifies
    against X's gallery), it fails the anchor: learned templates never anchor."""
    pts = lserver.learning.points()
    other, shots = _learnable(engine, compound, pts, 2)
    scores = compound.scores(shots[0].template)
    x = min((p for p in compound.ids if p != other), key=lambda p: abs(scores[p] - 0.2))
    lie = capture(lserver, compound, shots[0], x, "learn", score=0.93, margin=0.4)
    assert gate.send(lie) == "not_verified"
    wrong = capture(lserver, compound, shots[0], x, "review", identity="v-999999999999",
                    score=pts.review_floor + 0.01)  # fmt: skip
    assert gate.send(wrong) == "review_item"
    [item] = lserver.learning.store.items(ReviewState.OPEN, 10)
    lserver.learning.judge(item.id, "confirm", "officer1")  # the officer's mistake
    s1 = max(shots[1:], key=lambda x: float(x.template @ shots[0].template))
    score = float(max(s1.template @ t.vector for t in lserver.learning.store.person_templates(x)))
    assert score >= pts.learn, "the claim verifies against the wrongly confirmed template"
    claim = capture(lserver, compound, s1, x, "learn", score=score, margin=0.3)
    assert gate.send(claim) == "anchor_failed"
    assert [t.source for t in _gate_templates(lserver, x)] == ["gate_confirmed"]


def _a_day_passes(server, pid: str) -> None:  # noqa: ANN001
    """Move the person's captures' server receipt times one day back (as if a day passed)."""
    from sqlalchemy import select, update

    from server import tables as t

    c = t.captures.c
    with server.engine.begin() as conn:
        rows = conn.execute(select(c.capture_id, c.received).where(c.person_id == pid)).all()
        for cid, received in rows:
            conn.execute(update(t.captures).where(c.capture_id == cid)
                         .values(received=received - DAY))  # fmt: skip


def test_one_automatic_template_per_person_per_local_day(lserver, gate, compound, engine) -> None:
    pts = lserver.learning.points()
    pid, shots = _learnable(engine, compound, pts, 3)
    now = datetime.now(UTC)
    # the gate's clock says two different days: the server counts by its own receipt time
    dated = [now - 2 * DAY, now - DAY]
    outcomes = [gate.send(capture(lserver, compound, s, pid, "learn", ts=ts))
                for s, ts in zip(shots, dated, strict=False)]  # fmt: skip
    assert outcomes == ["learned", "capped_today"], "back-dating does not spread them over days"
    _a_day_passes(lserver, pid)
    tomorrow = capture(lserver, compound, shots[2], pid, "learn", ts=now)
    assert gate.send(tomorrow) == "learned"
    _a_day_passes(lserver, pid)
    again = capture(lserver, compound, shots[2], pid, "learn", ts=now)
    assert gate.send(again) == "already_held", "the same face again adds nothing"
    assert len(_gate_templates(lserver, pid)) == 2


def test_a_removed_or_rejected_face_is_never_learned(lserver, lclient, gate, compound,
                                                     engine) -> None:  # fmt: skip
    pts = lserver.learning.points()
    pid, shots = _learnable(engine, compound, pts, 2)
    assert gate.send(capture(lserver, compound, shots[0], pid, "learn")) == "learned"
    [tpl] = _gate_templates(lserver, pid)
    r = lclient.delete(f"/api/persons/{pid}/templates/{tpl.id}", headers=auth(lserver, "officer"))
    assert r.status_code == 200, r.text
    _a_day_passes(lserver, pid)
    back = capture(lserver, compound, shots[0], pid, "learn")
    assert gate.send(back) == "rejected_before", "an officer removed this face: never again"
    assert _gate_templates(lserver, pid) == []


def test_a_template_of_the_wrong_length_is_refused(lserver, gate, compound, engine) -> None:
    pts = lserver.learning.points()
    pid, shots = _learnable(engine, compound, pts, 1)
    good = capture(lserver, compound, shots[0], pid, "learn")
    half = np.asarray(good.template[: len(good.template) // 2])
    bad = good.model_copy(update={"template": (half / np.linalg.norm(half)).tolist()})
    assert gate.send(bad) == "wrong_model"
    assert _gate_templates(lserver, pid) == []


def test_the_oldest_gate_template_is_replaced_at_the_cap(lserver, gate, compound,
                                                          engine) -> None:  # fmt: skip
    pts = lserver.learning.points()
    pid, shots = _learnable(engine, compound, pts, 3)
    cap = 2  # three distinct faces of one person over three days, at a cap of two
    lserver.learning.cfg = lserver.learning.cfg.model_copy(update={"max_gate_templates": cap})
    start = datetime.now(UTC) - 10 * DAY
    for day in range(3):  # one learned per day, three days running
        ts = start + day * DAY
        assert gate.send(capture(lserver, compound, shots[day], pid, "learn", ts=ts)) == "learned"
        _a_day_passes(lserver, pid)
    kept = _gate_templates(lserver, pid)
    assert len(kept) == cap
    assert [t.captured_at for t in kept] == [start + d * DAY for d in range(1, 3)], "oldest out"
    assert [t.source for t in lserver.learning.store.person_templates(pid)].count(
        "enrollment") == 1, "the enrollment template is never replaced"  # fmt: skip


def test_retention_and_removal_with_the_person(lserver, lclient, gate, compound, engine) -> None:
    pts = lserver.learning.points()
    band = _in_band(engine, compound, pts)
    (pid, s), (pid2, s2) = band[0], next((p, x) for p, x in band if p != band[0][0])
    kept = capture(lserver, compound, s, pid, "review", identity="v-333333333333")
    assert gate.send(kept) == "review_item"
    low = capture(lserver, compound, s2, pid2, "review", identity="v-444444444444",
                  score=pts.visitor_floor - 0.02)  # fmt: skip
    assert gate.send(low) == "below_floor"
    assert lserver.learning.store.capture_face(low.capture_id, "aligned") is None, "face not kept"
    now = datetime.now(UTC)
    n = lserver.purge(now + timedelta(days=8))
    assert (n["learning_captures"], n["learning_capture_faces"]) == (1, 0)
    assert lserver.learning.store.capture(kept.capture_id) is not None, "an open item needs it"
    n = lserver.purge(now + timedelta(days=31))
    assert (n["learning_review_items"], n["learning_captures"]) == (1, 1)
    # removal of a person takes their items, rejections and captures with them
    again = capture(lserver, compound, s, pid, "review", identity="v-555555555555")
    assert gate.send(again) == "review_item"
    r = lclient.delete(f"/api/persons/{pid}", headers=auth(lserver, "admin"))
    assert r.status_code == 200
    assert lserver.learning.store.capture(again.capture_id) is None
    assert lserver.learning.store.open_count() == 0
    assert lclient.get(f"/api/persons/{pid}/templates",
                       headers=auth(lserver, "officer")).status_code == 404  # fmt: skip


def test_a_burst_of_learned_templates_is_one_gallery_version(
    lserver, gate, compound, engine
) -> None:
    pts = lserver.learning.points()
    lserver.learning.gallery.quiet_s = 3.0  # the burst below arrives well within it
    people = []
    for pid in compound.ids:
        ok = _offered(engine, compound, pts, pid)
        if ok:
            people.append((pid, ok[0]))
        if len(people) == 4:
            break
    v0 = lserver.publish_gallery().version
    caps = [capture(lserver, compound, s, pid, "learn") for pid, s in people]
    for c in caps:  # one after the other, without waiting: a morning's rush at the gates
        gate.pub.publish(lserver.topics.sightings(c.gate), c.to_json(), qos=1)
    store = lserver.learning.store

    def learned() -> bool:
        rows = [store.capture(c.capture_id) for c in caps]
        return all(r is not None and r.outcome == "learned" for r in rows)

    wait_until(learned, 120, "all four learned")
    wait_until(lambda: lserver.store.gallery().version > v0, 120, "the new version")
    wait_until(lambda: not lserver.learning.gallery.pending, 120, "nothing pending")
    assert lserver.store.gallery().version == v0 + 1, "four templates, one gallery version"
    assert lserver.store.gallery().templates == len(compound.ids) + 4
