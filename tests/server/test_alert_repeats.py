"""Alerts at volume, on SQLite and PostgreSQL: repeats of one person and rule within the window
(since the latest repeat, explicit times) are one alert with a count and the latest time; a
repeat after the window, or after an acknowledgement, opens a new alert; a re-delivered episode
is not counted twice; the list pages with a total and filters; a bulk acknowledgement changes
only open alerts, is audited and says how many; a merged watchlist repeat is still published."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from server.states import AlertRule, AlertState
from server.store import Store
from server.store.records import PersonEntry
from tests.server.conftest import auth, passage

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
W = AlertRule.WATCHLIST_SEEN
MIN = timedelta(minutes=1)



def _ev(n: int, gate: str = "north") -> dict:
    return {"event_id": f"e{n}", "gate": gate, "ts": (T0 + n * MIN).isoformat()}


def test_repeats_merge_within_the_window_since_the_latest(store: Store) -> None:
    assert store.repeat_window == timedelta(minutes=30)
    a = store.raise_alert(W, "p-risk", "e0", _ev(0), now=T0)
    assert (a.count, a.last_ts, a.created) == (1, T0, T0)
    # 20 and 45 minutes after the first: each within 30 minutes of the latest, so one alert.
    b = store.raise_alert(W, "p-risk", "e20", _ev(20, "south"), now=T0 + 20 * MIN)
    c = store.raise_alert(W, "p-risk", "e45", _ev(45, "east"), now=T0 + 45 * MIN)
    assert b.id == c.id == a.id and c.count == 3
    assert (c.created, c.last_ts, c.evidence["gate"]) == (T0, T0 + 45 * MIN, "east")
    # A re-delivered occurrence (the first's or a merged one's episode) is not counted again.
    assert store.raise_alert(W, "p-risk", "e0", _ev(0), now=T0 + 46 * MIN) is None
    assert store.raise_alert(W, "p-risk", "e20", _ev(20), now=T0 + 46 * MIN) is None
    assert store.alert(a.id).count == 3
    reps = store.alert_repeats(a.id)
    assert [(r.episode, r.ts, r.evidence["gate"]) for r in reps] == [
        ("e0", T0, "north"),
        ("e20", T0 + 20 * MIN, "south"),
        ("e45", T0 + 45 * MIN, "east"),
    ]
    # Another person, another rule: alerts of their own.
    other = store.raise_alert(W, "p-other", "x1", _ev(46), now=T0 + 46 * MIN)
    night = store.raise_alert(AlertRule.OUT_AT_NIGHT, "p-risk", "n1", {}, now=T0 + 46 * MIN)
    assert len({a.id, other.id, night.id}) == 3 and other.count == night.count == 1
    # 31 minutes after the latest: a new alert.
    d = store.raise_alert(W, "p-risk", "e76", _ev(76), now=T0 + 76 * MIN)
    assert d.id != a.id and d.count == 1 and store.alert(a.id).count == 3
    assert store.alert_repeats(d.id) == []


def test_an_acknowledged_alert_takes_no_repeats(store: Store) -> None:
    a = store.raise_alert(W, "p-risk", "e0", _ev(0), now=T0)
    assert store.raise_alert(W, "p-risk", "e1", _ev(1), now=T0 + MIN).id == a.id
    assert store.set_alert_state(a.id, AlertState.ACKNOWLEDGED, "officer1")
    b = store.raise_alert(W, "p-risk", "e2", _ev(2), now=T0 + 2 * MIN)
    assert b.id != a.id and b.count == 1 and store.alert(a.id).count == 2
    c = store.raise_alert(W, "p-risk", "e3", _ev(3), now=T0 + 3 * MIN)
    assert c.id == b.id and c.count == 2, "the new open alert takes the next repeat"
    # A window of 0: every occurrence its own alert.
    z = store.raise_alert(W, "p-risk", "e4", _ev(4), now=T0 + 4 * MIN, window=timedelta(0))
    assert z.id not in (a.id, b.id) and z.count == 1


def _seed(server) -> dict[str, int]:  # noqa: ANN001
    """Three people's alerts at explicit times: p-risk's 40 repeats merge into one."""
    s = server.store
    s.upsert_person(PersonEntry(id="p-risk", name="刘某某", role="watchlist"))
    s.upsert_person(PersonEntry(id="p-wang", name="王秀英", role="resident"))
    now = datetime.now(UTC) - timedelta(hours=2)
    ids = {}
    for i in range(40):
        ids["risk"] = s.raise_alert(W, "p-risk", f"r{i}", _ev(i), now=now + i * 10 * timedelta(
            seconds=1)).id  # fmt: skip
    ids["wang"] = s.raise_alert(AlertRule.OUT_NOT_BACK, "p-wang", "o1", {"gate": "south"},
                                now=now + 20 * MIN).id  # fmt: skip
    for i in range(5):  # five visitors at night, yesterday
        ids[f"v{i}"] = s.raise_alert(AlertRule.VISITOR_INSIDE_AT_NIGHT, f"v-{i:012x}", f"n{i}",
                                     {"gate": "east"}, now=now - timedelta(days=1)).id  # fmt: skip
    return ids


def test_the_list_pages_and_filters_with_a_total(client, server) -> None:
    ids = _seed(server)
    officer = auth(server, "officer")

    def page(query: str) -> tuple[list[int], int]:
        r = client.get(f"/api/alerts?{query}", headers=officer)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()], int(r.headers["X-Total-Count"])

    listed, total = page("")
    assert total == 7 and listed[:2] == [ids["wang"], ids["risk"]], "the latest occurrence first"
    [risk] = [a for a in client.get("/api/alerts?person=p-risk", headers=officer).json()]
    assert risk["count"] == 40 and risk["person_name"] == "刘某某"
    assert datetime.fromisoformat(risk["last_ts"]) - datetime.fromisoformat(risk["created"]) \
        == timedelta(seconds=390)  # fmt: skip
    first, total = page("limit=3")
    second, _ = page("limit=3&offset=3")
    rest, _ = page("limit=3&offset=6")
    assert total == 7 and first + second + rest == listed and len(rest) == 1
    assert page("rule=visitor_inside_at_night")[1] == 5
    assert page("person=%E7%8E%8B") == ([ids["wang"]], 1), "part of the name"
    assert page("state=open&since=3h")[1] == 2, "yesterday's visitors are older"
    local = (datetime.now(UTC) - timedelta(hours=3)).astimezone(server.cfg.tz).isoformat()
    assert page("state=open&since=" + local.replace("+", "%2B"))[1] == 2, "an offset, not UTC"
    night = server.store.alert(ids["v0"]).created.astimezone(server.cfg.tz).date()  # local day
    assert page(f"from_day={night}&to_day={night}")[1] == 5, "the visitors' local day"
    assert page(f"to_day={night - timedelta(days=1)}")[1] == 0
    assert client.get("/api/alerts?limit=0", headers=officer).status_code == 422
    assert client.get("/api/alerts?from_day=yesterday", headers=officer).status_code == 422
    reps = client.get(f"/api/alerts/{ids['risk']}/repeats", headers=officer).json()
    assert len(reps) == 40 and reps[0]["episode"] == "r0"
    assert reps[0]["summary"][0]["key"] == "alerts.ev.watchlist_seen"
    assert client.get("/api/alerts/999999/repeats", headers=officer).status_code == 404


def test_bulk_acknowledge_only_open_ones_audited(client, server) -> None:
    from server.wall.board import WallData

    ids = _seed(server)
    officer, admin = auth(server, "officer"), auth(server, "admin")
    wall = WallData(server.store, server.cfg)
    assert wall.latest(max_age_s=600).alerts_open == 7
    server.store.set_alert_state(ids["v0"], AlertState.CLOSED, "officer1")
    assert wall.latest(max_age_s=600).alerts_open == 6, "the wall's cached answer is not reused"
    r = client.post("/api/alerts/acknowledge", headers=officer,
                    json={"ids": [ids["v0"], ids["v1"], ids["v2"]], "note": "已巡查"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"acknowledged": 2, "ids": sorted([ids["v1"], ids["v2"]]), "by": "officer1",
                        "skipped": 0}  # fmt: skip
    assert server.store.alert(ids["v0"]).state == AlertState.CLOSED, "closed stays closed"
    # Again: nothing left open among them.
    r = client.post("/api/alerts/acknowledge", headers=officer, json={"ids": [ids["v1"]]})
    assert r.json()["acknowledged"] == 0
    # Every open one the filters match, up to the newest the officer saw.
    r = client.get("/api/alerts?rule=visitor_inside_at_night&state=open&limit=1", headers=officer)
    assert r.headers["X-Total-Count"] == "2"
    newest = int(r.headers["X-Newest-Id"])
    late = server.store.raise_alert(AlertRule.VISITOR_INSIDE_AT_NIGHT, "v-00000000000f", "late",
                                    {"gate": "east"}).id  # fmt: skip
    r = client.post("/api/alerts/acknowledge", headers=officer, json={
        "matching": {"rule": "visitor_inside_at_night", "upto_id": newest}})  # fmt: skip
    assert r.json()["acknowledged"] == 2 and set(r.json()["ids"]) == {ids["v3"], ids["v4"]}
    assert server.store.alert(late).state == AlertState.OPEN, "arrived after the count: left"
    assert server.store.alert(ids["risk"]).state == AlertState.OPEN, "another rule: left"
    assert wall.latest(max_age_s=600).alerts_open == 3  # p-risk, p-wang and the late one
    hist = client.get("/api/alerts?rule=visitor_inside_at_night&state=acknowledged",
                      headers=officer).json()  # fmt: skip
    notes = {a["id"]: [(h["user"], h["note"]) for h in a["history"]] for a in hist}
    assert notes[ids["v1"]] == [("officer1", "已巡查")] and notes[ids["v3"]] == [("officer1", None)]
    audit = client.get("/api/audit?action=alert_acknowledge_bulk", headers=admin).json()
    assert len(audit) == 3
    detail = {a["id"]: a["detail"] for a in audit}
    counts = sorted(d["count"] for d in detail.values())
    assert counts == [0, 2, 2]
    assert any(d["matching"] == {"rule": "visitor_inside_at_night", "upto_id": newest}
               for d in detail.values())  # fmt: skip
    # Refused: both or neither of ids / matching, a viewer, a bad id.
    for body in ({}, {"ids": [1], "matching": {}}, {"ids": []}, {"ids": [0]}, {"ids": [1], "x": 1}):
        assert client.post("/api/alerts/acknowledge", headers=officer, json=body).status_code \
            == 422, body  # fmt: skip
    r = client.post("/api/alerts/acknowledge", headers=auth(server, "viewer"), json={"ids": [1]})
    assert r.status_code == 403


def test_a_repeat_merged_after_the_list_is_not_acknowledged_unseen(client, server) -> None:
    ids = _seed(server)
    officer = auth(server, "officer")
    r = client.get("/api/alerts?state=open&limit=1", headers=officer)
    listed_at, newest = r.headers["X-Listed-At"], int(r.headers["X-Newest-Id"])
    assert datetime.fromisoformat(listed_at).tzinfo is not None
    # A fresh watchlist hit merges into p-risk's old alert: same id, so upto_id lets it through.
    merged = server.store.raise_alert(W, "p-risk", "fresh", _ev(99), window=timedelta(hours=3))
    assert merged.id == ids["risk"] and merged.id <= newest
    r = client.post("/api/alerts/acknowledge", headers=officer, json={
        "matching": {"upto_id": newest}, "upto_ts": listed_at})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["skipped"] == 1 and r.json()["acknowledged"] == 6
    assert ids["risk"] not in r.json()["ids"]
    assert server.store.alert(ids["risk"]).state == AlertState.OPEN, "the new hit stays open"
    # The chosen ids from the same stale list: the same.
    r = client.post("/api/alerts/acknowledge", headers=officer,
                    json={"ids": [ids["risk"]], "upto_ts": listed_at})  # fmt: skip
    assert (r.json()["acknowledged"], r.json()["skipped"]) == (0, 1)
    [audit] = [a for a in server.store.audit_log(datetime.now(UTC) - timedelta(hours=1),
                                                 action="alert_acknowledge_bulk")
               if a.detail["ids"] == [] and a.detail["skipped"] == 1]  # fmt: skip
    assert audit.detail["upto_ts"] == listed_at
    # A list made after the repeat: acknowledged.
    r = client.get(f"/api/alerts?id={ids['risk']}", headers=officer)
    assert [a["id"] for a in r.json()] == [ids["risk"]] and r.headers["X-Total-Count"] == "1"
    r = client.post("/api/alerts/acknowledge", headers=officer,
                    json={"ids": [ids["risk"]], "upto_ts": r.headers["X-Listed-At"]})  # fmt: skip
    assert (r.json()["acknowledged"], r.json()["skipped"]) == (1, 0)
    assert client.get("/api/alerts?id=0", headers=officer).status_code == 422


def test_acknowledged_alerts_are_purged_with_repeats_and_history(store: Store) -> None:
    a = store.raise_alert(W, "p-risk", "e0", _ev(0), now=T0)
    store.raise_alert(W, "p-risk", "e1", _ev(1), now=T0 + MIN)
    store.set_alert_state(a.id, AlertState.ACKNOWLEDGED, "officer1", "已处理")
    kept = store.raise_alert(W, "p-other", "x0", _ev(2), now=T0)  # still open: kept
    days = {"closed_search_days": 30, "closed_alert_days": 30, "removed_person_days": 30,
            "dead_letter_days": 30}  # fmt: skip
    updated = store.alert(a.id).updated
    assert store.purge_closed(updated + timedelta(days=29), **days)["alerts"] == 0
    assert store.purge_closed(updated + timedelta(days=31), **days)["alerts"] == 1
    assert store.alert(a.id) is None and store.alert(kept.id) is not None
    assert store.alert_repeats(a.id) == [] and store.alert_history([a.id]) == []


def test_the_wall_drops_sighting_alerts_as_soon_as_the_search_closes(server) -> None:
    from server.wall.board import WallData

    s = server.store
    s.add_search("s-lost", reason="走失老人", raised_by="officer1", person_id=None)
    aid = s.add_alert(AlertRule.SIGHTING, "s-lost", "x1", {"search_id": "s-lost", "gate": "north"})
    wall = WallData(s, server.cfg)
    assert aid in [a.id for a in wall.latest(max_age_s=600).alerts]
    assert [a.id for a in s.close_search("s-lost", "officer1", "已找到")] == [aid]
    assert aid not in [a.id for a in wall.latest(max_age_s=600).alerts], "the cached answer"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_merged_watchlist_repeat_is_still_published_with_its_count(server, broker) -> None:
    from tests.mqtt_helpers import connect, subscribe, wait_until

    server.store.upsert_person(PersonEntry(id="p-risk", name="刘某某", role="watchlist"))
    got: list[dict] = []
    sub = connect(broker.port, "alerts-reader")
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    try:
        subscribe(sub, server.topics.alerts())
        from contract.events import Alert

        p1 = passage(server.cfg.site, 1, "p-risk", "in", gate="north", role="watchlist")
        p2 = passage(server.cfg.site, 2, "p-risk", "out", gate="north", role="watchlist")
        first = server.watchlist.seen([p1])
        wait_until(lambda: len(got) >= 1, 30, "the first alert published")
        again = server.watchlist.seen([p2])
        assert again and again[0].alert_id == first[0].alert_id
        wait_until(lambda: len(got) >= 2, 30, "the merged repeat published")
        old, new = (Alert.model_validate(g) for g in got[:2])  # today's readers still accept it
        assert "count" not in old.evidence and new.evidence["count"] == 2
        assert new.evidence["event_id"] == p2.event_id and new.alert_id == old.alert_id
        assert server.watchlist.seen([p2]) == [], "a re-delivered passage: not counted again"
        assert server.store.alert(old.alert_id).count == 2
    finally:
        sub.loop_stop()
        sub.disconnect()
