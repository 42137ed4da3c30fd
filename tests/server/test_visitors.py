"""Visitors on the server: aliases and look-back matches from the edges (over MQTT), visitors
inside now (API, audited), the night rule, the look-back answer; SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from contract.visitors import VisitorAlias, VisitorMatch
from server.i18n import text
from server.people.visitors import VisitorWatch, look_back, summary
from tests.mqtt_helpers import connect
from tests.server.conftest import auth, passage
from tests.server.test_ingest import wait_until

VA, VB, VC = "v-aaaaaaaaaaaa", "v-bbbbbbbbbbbb", "v-cccccccccccc"


def _publish(server, broker, topic: str, payload: bytes) -> None:  # noqa: ANN001
    pub = connect(broker.port, "edge-" + secrets.token_hex(3))
    pub.publish(topic, payload, qos=1).wait_for_publish(10)
    pub.loop_stop()
    pub.disconnect()


def _alias(server, broker, alias: str, vid: str, gate: str = "south", topic_gate=None) -> None:  # noqa: ANN001
    a = VisitorAlias(alias=alias, visitor_id=vid, gate=gate, ts=datetime.now(UTC))
    _publish(server, broker, server.topics.visitor_aliases(topic_gate or gate), a.to_json())


def test_an_alias_merges_two_ids_passages(server, broker) -> None:
    site, now = server.cfg.site, datetime.now(UTC)
    server.store.insert_events(
        [
            passage(site, 1, VB, "in", now - timedelta(hours=2), gate="south"),
            passage(site, 2, VA, "none", now - timedelta(hours=1), gate="lobby"),
            passage(site, 3, VC, "in", now - timedelta(minutes=30), gate="north"),
        ]
    )
    before = {v.visitor_id for v in server.visitors_inside()}
    assert before == {VB, VC}
    # A report on another gate's topic is refused; the right one is stored once.
    _alias(server, broker, VB, VA, gate="south", topic_gate="north")
    wait_until(lambda: server.bus.stats.malformed >= 1, 15, "the forged alias refused")
    _alias(server, broker, VB, VA)
    _alias(server, broker, VB, VA)
    wait_until(lambda: server.store.visitor_aliases(), 15, "the alias stored")
    assert server.store.visitor_aliases() == {VB: VA, VA: VA}
    inside = {v.visitor_id: v for v in server.visitors_inside()}
    assert set(inside) == {VA, VC}, "v-b is v-a: one visitor, known by the older id"
    assert inside[VA].gate == "south" and inside[VA].hours >= 1.9
    traj = server.trajectory(VA, now - timedelta(hours=3))
    assert [p.identity for p in traj.passages] == [VB, VA]
    assert [p.identity for p in server.trajectory(VB, now - timedelta(hours=3)).passages] == [
        VB,
        VA,
    ]
    server.store.insert_events([passage(site, 4, VA, "out", now, gate="north")])
    assert {v.visitor_id for v in server.visitors_inside()} == {VC}


def test_visitors_inside_api_is_for_officers_and_audited(client, server) -> None:
    site, now = server.cfg.site, datetime.now(UTC)
    server.store.insert_events(
        [
            passage(site, 1, VA, "in", now - timedelta(hours=3), gate="north"),
            passage(site, 2, VB, "in", now - timedelta(hours=2), gate="south"),
            passage(site, 3, VB, "out", now - timedelta(hours=1), gate="south"),
            passage(site, 4, "p-li", "in", now - timedelta(hours=1), gate="north"),
        ]
    )
    url = "/api/visitors/inside?reason=night%20round"
    assert client.get(url, headers=auth(server, "viewer")).status_code == 403
    assert client.get("/api/visitors/inside", headers=auth(server, "officer")).status_code == 422
    r = client.get(url, headers=auth(server, "officer"))
    assert r.status_code == 200
    body = r.json()
    assert [(v["visitor_id"], v["gate"], v["camera"]) for v in body] == [(VA, "north", "c1")]
    assert 2.9 <= body[0]["hours"] <= 3.1
    assert datetime.fromisoformat(body[0]["since"]) == now.replace(microsecond=0) - timedelta(
        hours=3, microseconds=-now.microsecond
    )
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()[0]
    assert (audit["action"], audit["user"], audit["reason"]) == (
        "visitors_inside",
        "officer1",
        "night round",
    )
    assert audit["detail"] == {"visitors": 1}


def test_a_visitor_inside_long_at_night_raises_one_alert_without_a_name(server) -> None:
    site = server.cfg.site
    # 23:30 local (UTC+8) is night; 14:00 local is not.
    night = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    day = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    server.store.insert_events(
        [
            passage(site, 1, VA, "in", night - timedelta(hours=5), gate="north"),
            passage(site, 2, VB, "in", night - timedelta(hours=1), gate="north"),
            passage(site, 3, VC, "in", day - timedelta(hours=9), gate="north"),
            passage(site, 4, VC, "out", day + timedelta(hours=1), gate="south"),
        ]
    )
    published = []
    watch = VisitorWatch(server.cfg.visitors, server.store, server.tz, published.append)
    assert watch.scan(day) == [], "inside long, but not at night"
    alerts = watch.scan(night)
    assert [(a.rule, a.person_id) for a in alerts] == [("visitor_inside_at_night", VA)]
    assert alerts[0].evidence["gate"] == "north" and alerts[0].evidence["hours"] == 5.0
    since = datetime.fromisoformat(str(alerts[0].evidence["since"]))  # UTC, machine-readable
    assert since.utcoffset() == timedelta(0)
    assert alerts[0].evidence["since_local"] == (since + timedelta(hours=8)).strftime(
        "%Y-%m-%d %H:%M"
    )
    assert published == alerts
    assert watch.scan(night + timedelta(minutes=5)) == [], "once per stay"


def test_look_back_answers_with_the_visitors_passages(client, server, broker) -> None:
    site, now = server.cfg.site, datetime.now(UTC)
    entered = now - timedelta(minutes=40)
    server.store.insert_events(
        [
            passage(site, 1, VB, "in", entered, gate="north"),
            passage(site, 2, VC, "in", now - timedelta(minutes=30), gate="south"),
            passage(site, 3, VC, "out", now - timedelta(minutes=10), gate="south"),
        ]
    )
    server.store.add_search("s-1", reason="lost child", raised_by="officer1", model_id="sface:x")
    for gate, vid, score in (("north", VB, 0.52), ("south", VB, 0.47), ("south", VC, 0.31)):
        m = VisitorMatch(search_id="s-1", visitor_id=vid, score=score, threshold=0.36,
                         gate=gate, ts=now)  # fmt: skip
        _publish(server, broker, server.topics.sightings(gate), m.to_json())
    wait_until(lambda: len(server.store.visitor_matches("s-1")) == 3, 15, "three matches")
    r = client.get("/api/searches/s-1", headers=auth(server, "officer"))
    assert r.status_code == 200
    got = r.json()["visitors"]
    local = (entered + timedelta(hours=8)).strftime("%H:%M")
    assert [(v["visitor_id"], v["confidence"], v["gates"], v["inside"]) for v in got] == [
        (VB, "high", ["north", "south"], True),
        (VC, "possible", ["south"], False),
    ]
    assert got[0]["score"] == 0.52
    # In the site's language (zh-CN by default) and local time, from the catalogue.
    assert got[0]["summary"] == text("zh-CN", "lookback.inside", time=local, gate="north")
    assert got[0]["summary"] == f"{local} 从 north 进入，未见离开"
    left = [(now - timedelta(minutes=m) + timedelta(hours=8)).strftime("%H:%M") for m in (30, 10)]
    assert got[1]["summary"] == text("zh-CN", "lookback.in_out", in_time=left[0], in_gate="south",
                                     out_time=left[1], out_gate="south")  # fmt: skip
    assert [p["direction"] for p in got[1]["passages"]] == ["in", "out"]


def test_look_back_for_a_closed_search_is_not_stored(server) -> None:
    server.store.add_search("s-2", reason="test", raised_by="officer1", model_id="sface:x")
    server.store.close_search("s-2", "officer1")
    m = VisitorMatch(search_id="s-2", visitor_id=VA, score=0.5, threshold=0.36, gate="north",
                     ts=datetime.now(UTC))  # fmt: skip
    assert not server.store.add_visitor_match(m)
    assert look_back(server.store, "s-2", datetime.now(UTC) - timedelta(hours=1), server.tz) == []


def test_summary_of_no_gate_passage() -> None:
    assert summary([], UTC) == text("zh-CN", "lookback.none")
    assert summary([], UTC, "en") == "no passage through a gate in the window"
