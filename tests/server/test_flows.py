"""What the officers' workflows tripped on, through the API on a real broker and SQLite: closing a
search resolves its sighting alerts (audited), a closed search takes no verdicts, the last
building camera is the one after the last return, a stay begun before the 48 h window is a stay,
a visit that found nobody home keeps the person due, and the room is an address field."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contract.events import SightingCandidate
from tests.mqtt_helpers import wait_until
from tests.server.conftest import auth, passage
from tests.server.people_data import compound, ingest

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _candidate(server, sid: str, event_id: str, hours_ago: float) -> SightingCandidate:  # noqa: ANN001
    return SightingCandidate(
        candidate_id=uuid.uuid4().hex, search_id=sid, site=server.cfg.site, gate="east",
        camera="c1", ts=datetime.now(UTC) - timedelta(hours=hours_ago), track_id=7, score=0.41,
        frames_at_threshold=3, frames_considered=5, threshold=0.30, event_id=event_id,
        model_id="sface:test",
    )  # fmt: skip


def _raise(client, server, pid: str) -> str:  # noqa: ANN001
    r = client.post("/api/searches", json={"person_id": pid, "reason": "家属报告走失"},
                    headers=auth(server, "officer"))  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["search_id"]


@SQLITE
def test_closing_a_search_resolves_its_sighting_alerts_and_is_audited(
    client, server, broker, monkeypatch  # noqa: ANN001
):
    # Two sighting alerts of one search (not one merged repeat): one acknowledged, one open.
    monkeypatch.setattr(server.store, "repeat_window", timedelta(0))
    compound(client, server, broker)
    sid = _raise(client, server, "p-wang")
    other = _raise(client, server, "p-li")
    site = server.cfg.site
    seen = passage(site, 20, "p-wang", "in", gate="east", search_id=sid)
    ingest(server, broker, [seen, passage(site, 21, "p-li", "in", gate="east", search_id=other)])
    server.searches.take_candidate(_candidate(server, sid, uuid.uuid4().hex, 0.5))
    mine = [a for a in server.store.alerts() if a.rule == "sighting"
            and a.evidence["search_id"] == sid]  # fmt: skip
    assert len(mine) == 2 and {a.state for a in mine} == {"open"}
    ack = client.post(f"/api/alerts/{mine[0].id}/acknowledge", headers=auth(server, "officer"))
    assert ack.status_code == 200, ack.text

    def on_wall() -> list[str]:
        wall = client.get("/api/wall", headers=auth(server, "viewer")).json()
        return [a["rule"] for a in wall["alerts"]]

    assert on_wall().count("sighting") == 2  # 王's open one and 李's (the acknowledged: not)
    r = client.post(f"/api/searches/{sid}/close", json={"note": "已在 7 号楼找到"},
                    headers=auth(server, "officer"))  # fmt: skip
    assert r.status_code == 200 and r.json()["state"] == "closed", r.text
    states = {a.id: a.state for a in server.store.alerts() if a.rule == "sighting"}
    assert {states[a.id] for a in mine} == {"resolved"}
    # (the wall's answer may be up to a second old)
    wait_until(lambda: on_wall().count("sighting") == 1, 30, "only 李's sighting on the wall")
    others = [a for a in server.store.alerts() if a.evidence.get("search_id") == other]
    assert [a.state for a in others] == ["open"], "another search's alert stays open"
    steps = server.store.alert_history([a.id for a in mine])
    assert {(s.alert_id, s.state, s.user, s.note) for s in steps if s.state == "resolved"} == {
        (a.id, "resolved", "officer1", "已在 7 号楼找到") for a in mine
    }
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    [closed] = [a for a in audit if a["action"] == "close_search"]
    assert closed["target"] == sid
    assert closed["detail"] == {"note": "已在 7 号楼找到",
                                "resolved_alerts": sorted(a.id for a in mine)}  # fmt: skip
    # The roster no longer counts them: the found elder is not first for an alert any more.
    wang = next(r for r in client.get("/api/elders", headers=auth(server, "officer")).json()["rows"]
                if r["id"] == "p-wang")  # fmt: skip
    assert "sighting" not in wang["alert_rules"]
    # A closed search takes no more verdicts.
    [c] = server.store.candidates(sid)
    v = client.post(f"/api/searches/{sid}/candidates/{c.candidate_id}/verdict",
                    json={"verdict": "rejected"}, headers=auth(server, "officer"))  # fmt: skip
    assert v.status_code == 400 and "closed" in v.json()["detail"]
    assert server.store.candidate(c.candidate_id).verdict is None
    again = client.post(f"/api/searches/{sid}/close", headers=auth(server, "officer"))
    assert again.status_code == 200 and again.json()["closed_by"] == "officer1"


@SQLITE
def test_last_building_camera_is_the_one_after_the_last_return(client, server, broker):
    compound(client, server, broker)  # 王: in 30 h ago, lobby 20 h ago, out 3 h ago
    site, now = server.cfg.site, datetime.now(UTC)
    back = passage(site, 30, "p-wang", "in", now - timedelta(hours=2))
    ingest(server, broker, [back])
    sid = _raise(client, server, "p-wang")
    a = client.get(f"/api/searches/{sid}", headers=auth(server, "officer")).json()
    assert a["last_return"]["event_id"] == back.event_id
    assert a["last_internal"] is None, "the lobby 20 h ago was a stay before the return"
    lobby = passage(site, 31, "p-wang", "none", now - timedelta(hours=1), gate="lobby-3")
    ingest(server, broker, [lobby])
    a = client.get(f"/api/searches/{sid}", headers=auth(server, "officer")).json()
    assert a["last_internal"]["event_id"] == lobby.event_id
    # Out since (李 went out 10 h ago and came back 8 h ago, lobby 1 h ago): the lobby counts.
    b = client.get(f"/api/searches/{_raise(client, server, 'p-li')}",
                   headers=auth(server, "officer")).json()  # fmt: skip
    assert b["last_internal"]["gate"] == "lobby-3"


@SQLITE
def test_a_stay_begun_before_the_window_is_drawn_from_its_start(client, server, broker):
    now = compound(client, server, broker)  # 张 in 60 h ago, nothing since
    o = client.get("/api/persons/p-zhang/overview", headers=auth(server, "officer")).json()
    assert o["passages"] == []
    [stay] = o["stays"]
    assert (stay["where"], stay["since"], stay["until"], stay["earlier"]) == (
        "inside", o["since"], None, True
    )  # fmt: skip
    assert stay["entered_by"] == "south/c1"
    assert o["whereabouts"]["inside"] is True and o["whereabouts"]["for_hours"] >= 59.9
    # 王 (in 30 h ago, out 3 h ago) and nothing before the window: no earlier stay.
    w = client.get("/api/persons/p-wang/overview", headers=auth(server, "officer")).json()
    assert [s["earlier"] for s in w["stays"]] == [False, False]
    # 李 went out 10 h ago after an in 50 h ago: the window opens inside.
    ingest(server, broker, [passage(server.cfg.site, 40, "p-li", "in", now - timedelta(hours=50))])
    li = client.get("/api/persons/p-li/overview", headers=auth(server, "officer")).json()
    assert [(s["where"], s["earlier"]) for s in li["stays"]] == [
        ("inside", True), ("outside", False), ("inside", False)
    ]  # fmt: skip


@SQLITE
def test_a_visit_that_found_nobody_home_keeps_the_person_due(client, server, broker):
    compound(client, server, broker)

    def due() -> list[str]:
        rows = client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
        return [r["id"] for r in rows]

    assert "p-wang" in due() and "p-zhang" in due()
    for pid, outcome in (("p-wang", "not_home"), ("p-zhang", "ok")):
        r = client.post(
            "/api/visits",
            json={"person_id": pid, "visitor": "officer1", "outcome": outcome},
            headers=auth(server, "officer"),
        )
        assert r.status_code == 201, r.text
    assert "p-wang" in due(), "nobody opened the door: still due"
    rows = client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
    wang = next(r for r in rows if r["id"] == "p-wang")
    assert wang["last_visit"] is None and wang["not_home"] is not None, "the try is shown"
    assert "p-zhang" not in due()
    r = client.post(
        "/api/visits",
        json={"person_id": "p-wang", "visitor": "officer1", "outcome": "needs_help"},
        headers=auth(server, "officer"),
    )
    assert r.status_code == 201 and "p-wang" not in due()


@SQLITE
def test_the_room_is_an_address_field_and_older_rows_stay_readable(client, server, broker):
    compound(client, server, broker)
    body = {
        "id": "p-room",
        "name": "刘建国",
        "role": "resident",
        "birth_date": "1945-05-05",
        "building": "3",
        "unit": "2",
        "room": "701",
        "care_flags": ["lives_alone"],
    }
    assert client.put("/api/persons/p-room", json=body,
                      headers=auth(server, "admin")).status_code == 200  # fmt: skip
    bad = client.put("/api/persons/p-room", json=body | {"room": "7" * 40},
                     headers=auth(server, "admin"))  # fmt: skip
    assert bad.status_code == 422
    o = client.get("/api/persons/p-room/overview", headers=auth(server, "officer")).json()
    assert (o["person"]["building"], o["person"]["unit"], o["person"]["room"]) == ("3", "2", "701")
    [found] = client.get("/api/persons/find?q=p-room", headers=auth(server, "officer")).json()
    assert found["room"] == "701"
    rows = client.get("/api/elders", headers=auth(server, "officer")).json()["rows"]
    assert {r["id"]: r["room"] for r in rows}["p-room"] == "701"
    assert {r["id"]: r["room"] for r in rows}["p-wang"] is None
    due = client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
    assert {r["id"]: r["room"] for r in due}["p-room"] == "701"
    sheet = client.get("/api/elders.csv?building=3", headers=auth(server, "officer"))
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[0][3:6] == ["楼栋", "单元", "房号"]
    assert [r[3:6] for r in rows[1:] if r[1] == "刘建国"] == [["3", "2", "701"]]


def test_the_enrollment_csv_takes_a_room_column() -> None:
    from enroll.cli import _row_person

    row = {"name": "刘建国", "role": "resident", "building": "3", "unit": "2", "room": "701"}
    p = _row_person("p-room", row)
    assert (p["building"], p["unit"], p["room"]) == ("3", "2", "701")
    assert "room" not in _row_person("p-old", row | {"room": ""})
