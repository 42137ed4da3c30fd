"""The officer's workbench API: the elder roster (JSON, CSV), the person finder, home visits and
the due list, the person overview, and "no such person" for wrong ids."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.server.conftest import auth
from tests.server.people_data import ROSTER_ORDER, compound


def test_roster_ranks_by_risk_with_last_seen_filters_and_audit(client, server, broker) -> None:
    now = compound(client, server, broker)
    r = client.get("/api/elders", headers=auth(server, "officer"))
    assert r.status_code == 200, r.text
    data = r.json()
    rows = {x["id"]: x for x in data["rows"]}
    assert [x["id"] for x in data["rows"]] == ROSTER_ORDER, "young without flags, courier left out"
    assert [x["risk"] for x in data["rows"]] == [1, 2, 3, 4, 5]
    wang, li, zhang, chen = rows["p-wang"], rows["p-li"], rows["p-zhang"], rows["p-chen"]
    assert (wang["name"], wang["age"], wang["building"], wang["unit"]) == ("王秀英", 80, "3", "2")
    assert wang["inside"] is False and wang["gate"] == "north" and wang["direction"] == "out"
    assert 2.9 < wang["hours"] < 3.2
    assert li["inside"] is True and (li["gate"], li["camera"]) == ("lobby-3", "hall"), "internal"
    assert sorted(zhang["alert_rules"]) == ["no_passage_today", "not_seen"] and zhang["alerts"] == 2
    assert chen["last_seen"] is None and chen["inside"] is None and chen["hours"] is None
    assert datetime.fromisoformat(wang["last_seen"]) == now - timedelta(hours=3)
    assert data["total"] == 5 and data["age_years"] == 70

    def ids(query: str) -> list[str]:
        r = client.get(f"/api/elders?{query}", headers=auth(server, "officer"))
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["rows"]]

    assert ids("flag=lives_alone") == ["p-zhang", "p-wang"]
    assert ids("building=7") == ["p-zhang", "p-chen"]
    assert ids("q=%E7%8E%8B") == ["p-wang"]  # 王
    assert client.get("/api/elders?flag=nope", headers=auth(server, "officer")).status_code == 422
    assert client.get("/api/elders", headers=auth(server, "viewer")).status_code == 403
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    assert any(a["action"] == "read_roster" and a["detail"] == {"flag": "lives_alone"}
               for a in audit)  # fmt: skip


def test_roster_csv_has_a_bom_chinese_headers_and_local_times(client, server, broker) -> None:
    now = compound(client, server, broker)
    r = client.get("/api/elders.csv?building=3", headers=auth(server, "officer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["风险序", "人员", "年龄"]
    assert [x[1] for x in rows[1:]] == ["王秀英", "李建国"]
    wang = rows[1]
    local = (now - timedelta(hours=3)).astimezone(server.tz).strftime("%Y-%m-%d %H:%M")
    assert wang[5] == ""  # no room entered: older data stays readable
    assert wang[7] == "独居" and wang[8] == "在小区外" and wang[9] == local
    en = client.get("/api/elders.csv?lang=en", headers=auth(server, "officer")).content
    assert en.decode("utf-8-sig").startswith("Risk,")


def test_find_persons_for_officers(client, server, broker) -> None:
    compound(client, server, broker)
    r = client.get("/api/persons/find?q=%E5%BB%BA", headers=auth(server, "officer"))  # 建
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "id": "p-li",
            "name": "李建国",
            "role": "resident",
            "building": "3",
            "unit": "1",
            "room": None,
            "age": 76,
        }
    ]
    r = client.get("/api/persons/find?q=7", headers=auth(server, "officer"))
    assert {x["id"] for x in r.json()} == {"p-zhang", "p-chen"}, "by building"
    assert client.get("/api/persons/find?q=", headers=auth(server, "officer")).status_code == 422
    assert client.get("/api/persons/find?q=x", headers=auth(server, "viewer")).status_code == 403
    assert client.get("/api/persons/find?q=%25", headers=auth(server, "officer")).json() == []
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    assert any(a["action"] == "find_persons" and a["target"] == "7" for a in audit)


def test_visits_due_record_and_list(client, server, broker) -> None:
    compound(client, server, broker)
    officer = auth(server, "officer")
    due = client.get("/api/visits/due", headers=officer).json()
    assert due["days"] == server.cfg.visits.due_days
    assert {x["id"] for x in due["rows"]} == {"p-wang", "p-zhang", "p-zhao", "p-chen"}
    assert all(x["last_visit"] is None for x in due["rows"])
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    body = {"person_id": "p-zhang", "visitor": "社区网格员小刘", "outcome": "ok", "visited_at": old}
    assert client.post("/api/visits", json=body, headers=officer).status_code == 201
    local = (datetime.now(UTC) - timedelta(hours=2)).astimezone(server.tz)
    body = {"person_id": "p-wang", "visitor": "辅警小王", "outcome": "needs_help",
            "note": "腿脚不便，需要送菜"}  # fmt: skip
    body["visited_at"] = local.strftime("%Y-%m-%dT%H:%M")
    r = client.post("/api/visits", json=body, headers=officer)
    assert r.status_code == 201, r.text
    v = r.json()
    assert (v["name"], v["building"], v["recorded_by"]) == ("王秀英", "3", "officer1")
    got = datetime.fromisoformat(v["visited_at"])
    assert abs(got - local.replace(second=0, microsecond=0)) < timedelta(seconds=1), "site time"
    due = client.get("/api/visits/due", headers=officer).json()["rows"]
    assert [x["id"] for x in due][-1] == "p-zhang", "never visited first, then the longest since"
    assert "p-wang" not in {x["id"] for x in due}
    assert 39.9 < due[-1]["days_since"] < 40.1
    assert "p-zhang" not in {
        x["id"] for x in client.get("/api/visits/due?days=60", headers=officer).json()["rows"]
    }
    mine = client.get("/api/visits?person_id=p-wang", headers=officer).json()
    assert [(x["visitor"], x["outcome"], x["note"]) for x in mine] == [
        ("辅警小王", "needs_help", "腿脚不便，需要送菜")
    ]
    assert len(client.get("/api/visits?since=90d", headers=officer).json()) == 2


def test_visit_input_is_checked(client, server, broker) -> None:
    compound(client, server, broker)
    officer = auth(server, "officer")
    ok = {"person_id": "p-wang", "visitor": "辅警小王", "outcome": "ok"}
    r = client.post("/api/visits", json=ok | {"person_id": "p-nobody"}, headers=officer)
    assert r.status_code == 404 and r.json()["detail"] == "no such person: p-nobody"
    assert (
        client.post("/api/visits", json=ok | {"outcome": "fine"}, headers=officer).status_code
        == 422
    )
    assert client.post("/api/visits", json=ok | {"visitor": ""}, headers=officer).status_code == 422
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = client.post("/api/visits", json=ok | {"visited_at": future}, headers=officer)
    assert r.status_code == 400 and "future" in r.json()["detail"]
    assert client.post("/api/visits", json=ok, headers=auth(server, "viewer")).status_code == 403
    assert client.get("/api/visits", headers=officer).json() == [], "nothing was stored"


def test_visits_follow_the_residents_retention(client, server, broker) -> None:
    compound(client, server, broker)
    days = server.cfg.retention.resident_days
    server.store.add_visit("p-wang", datetime.now(UTC) - timedelta(days=days + 1), "x", "ok",
                           None, "officer1")  # fmt: skip
    server.store.add_visit("p-wang", datetime.now(UTC) - timedelta(days=1), "y", "ok", None,
                           "officer1")  # fmt: skip
    assert server.purge(datetime.now(UTC))["home_visits"] == 1
    assert [v.visitor for v in server.store.visits(person_id="p-wang")] == ["y"]


def test_person_overview_and_no_such_person(client, server, broker) -> None:
    compound(client, server, broker)
    officer = auth(server, "officer")
    r = client.get("/api/persons/p-wang/overview", headers=officer)
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["person"]["name"] == "王秀英" and o["person"]["age"] == 80
    assert o["person"]["care_flags"] == ["lives_alone"] and o["person"]["phone"] == "13800000001"
    assert [s["where"] for s in o["stays"]] == ["inside", "outside"]
    assert len(o["stays"][0]["internal"]) == 1
    assert [p["direction"] for p in o["passages"]] == ["in", "none", "out"]
    assert o["whereabouts"]["inside"] is False
    traj = client.get("/api/trajectory/p-wang?reason=check", headers=officer).json()
    assert traj["stays"] == o["stays"]
    courier = client.get("/api/persons/c-sun/overview", headers=officer).json()["person"]
    assert courier["company"] == "顺丰速运" and courier["expired"] is True
    zhang = client.get("/api/persons/p-zhang/overview", headers=officer).json()
    assert sorted(a["rule"] for a in zhang["alerts"]) == ["no_passage_today", "not_seen"]
    r = client.get("/api/persons/p-nobody/overview", headers=officer)
    assert r.status_code == 404 and r.json()["detail"] == "no such person: p-nobody"
    assert (
        client.get("/api/persons/p-wang/overview", headers=auth(server, "viewer")).status_code
        == 403
    )
    audit = client.get("/api/audit?since=1h", headers=auth(server, "admin")).json()
    assert any(a["action"] == "person_overview" and a["target"] == "p-wang" for a in audit)


def test_trajectory_of_a_wrong_id_is_404_and_visitors_still_work(client, server, broker) -> None:
    from tests.server.conftest import passage
    from tests.server.people_data import ingest

    compound(client, server, broker)
    officer = auth(server, "officer")
    r = client.get("/api/trajectory/p-nobody?reason=check", headers=officer)
    assert r.status_code == 404 and r.json()["detail"] == "no such person: p-nobody"
    r = client.get("/api/whereabouts/p-nobody?reason=check", headers=officer)
    assert r.status_code == 404 and r.json()["detail"] == "no such person: p-nobody"
    r = client.get("/api/trajectory/p-chen?reason=check", headers=officer)
    assert r.status_code == 200 and r.json()["passages"] == [], "known, never seen: not a 404"
    vid = "v-0123456789ab"
    ingest(server, broker, [passage(server.cfg.site, 50, vid, "in")])
    r = client.get(f"/api/trajectory/{vid}?reason=check", headers=officer)
    assert r.status_code == 200 and len(r.json()["passages"]) == 1
