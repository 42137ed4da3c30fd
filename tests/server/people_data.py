"""A small compound for the workbench tests: residents aged 70+ and care-flag residents entered
through the admin API (Chinese names), their passages published over MQTT to the real ingest."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from contract.events import Passage
from server.config import ElderWatchConfig
from server.watch.elder import ElderWatch
from tests.mqtt_helpers import connect, wait_until
from tests.server.conftest import auth, passage


def born(years: int) -> str:
    today = datetime.now(UTC).date()
    return date(today.year - years, 1, 1).isoformat()  # the age is `years` all year


# id, name, role, age, building, unit, phone, flags (+ company, valid_until for the courier)
PEOPLE = [
    ("p-wang", "王秀英", "resident", 80, "3", "2", "13800000001", ["lives_alone"]),
    ("p-li", "李建国", "resident", 76, "3", "1", "13800000002", []),
    ("p-zhang", "张桂兰", "resident", 87, "7", "1", "13800000003", ["disabled", "lives_alone"]),
    ("p-zhao", "赵敏", "resident", 32, "5", "3", "13800000004", ["pregnant"]),
    ("p-chen", "陈德华", "resident", 74, "7", "2", "13800000005", ["serious_illness"]),
    ("p-liu", "刘洋", "resident", 36, "3", "2", "13800000006", []),
]
COURIER = {"id": "c-sun", "name": "孙师傅", "role": "courier", "company": "顺丰速运",
           "phone": "13900000009"}  # fmt: skip
ROSTER_ORDER = ["p-zhang", "p-wang", "p-chen", "p-zhao", "p-li"]  # by risk (see history())


def enrol(client, server) -> None:  # noqa: ANN001
    """Everyone through the admin API."""
    for pid, name, role, age, building, unit, phone, flags in PEOPLE:
        body = {"id": pid, "name": name, "role": role, "birth_date": born(age),
                "building": building, "unit": unit, "phone": phone,
                "care_flags": flags}  # fmt: skip
        r = client.put(f"/api/persons/{pid}", json=body, headers=auth(server, "admin"))
        assert r.status_code == 200, r.text
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    body = COURIER | {"valid_until": yesterday}
    r = client.put(f"/api/persons/{COURIER['id']}", json=body, headers=auth(server, "admin"))
    assert r.status_code == 200, r.text


def history(site: str, now: datetime) -> list[Passage]:
    """王 in, seen in the lobby, out 3 h ago (outside); 李 out, in, seen in the lobby 1 h ago;
    张 in 60 h ago (not seen since); 赵 out and in 1.5 h ago; 陈 never seen; the courier once."""
    h = lambda n: now - timedelta(hours=n)  # noqa: E731
    lobby = lambda p: p.model_copy(update={"camera": "hall"})  # noqa: E731
    return [
        passage(site, 1, "p-wang", "in", h(30), gate="south"),
        lobby(passage(site, 2, "p-wang", "none", h(20), gate="lobby-3")),
        passage(site, 3, "p-wang", "out", h(3), gate="north"),
        passage(site, 4, "p-li", "out", h(10), gate="north"),
        passage(site, 5, "p-li", "in", h(8), gate="north"),
        lobby(passage(site, 6, "p-li", "none", h(1), gate="lobby-3")),
        passage(site, 7, "p-zhang", "in", h(60), gate="south"),
        passage(site, 8, "p-zhao", "out", h(4), gate="north"),
        passage(site, 9, "p-zhao", "in", h(1.5), gate="north"),
        passage(site, 10, "c-sun", "in", h(2), gate="north", role="courier"),
        passage(site, 11, "p-liu", "out", h(5), gate="north"),
    ]


def ingest(server, broker, passages: list[Passage]) -> None:  # noqa: ANN001
    """Publish over MQTT and wait until the server has stored every one."""
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    before = server.bus.stats.inserted + server.bus.stats.duplicates
    for p in passages:
        pub.publish(server.topics.events(p.gate), p.to_json(), qos=1)
    want = before + len(passages)
    wait_until(lambda: server.bus.stats.inserted + server.bus.stats.duplicates >= want, 120,
               "ingest")  # fmt: skip
    pub.loop_stop()
    pub.disconnect()


def compound(client, server, broker) -> datetime:  # noqa: ANN001
    """Enrol, ingest the history, run the elder watch once; returns the 'now' used."""
    now = datetime.now(UTC)
    enrol(client, server)
    ingest(server, broker, history(server.cfg.site, now))
    # The site's rules, but no night window: which passages fall in the night depends on the
    # hour the test runs.
    cfg = ElderWatchConfig(night_start_h=3, night_end_h=3)
    ElderWatch(cfg, server.store, publish=server._publish_alert, tz=server.tz).scan(now)
    return now
