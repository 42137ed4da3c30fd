"""A small compound for the wall's tests, made through the real ingest: persons enrolled in the
registry, passages published over MQTT by a stand-in edge, one visitor known by two ids."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

from contract.visitors import VisitorAlias
from scripts.standins import passage
from server.localtime import local_midnight
from server.store.records import PersonEntry
from tests.mqtt_helpers import connect, wait_until

PERSONS = [
    PersonEntry(id="p-wang", name="王秀华", role="resident", birth_date=date(1941, 3, 2),
                building="7", unit="2"),
    PersonEntry(id="p-li", name="李建国", role="resident", birth_date=date(1978, 6, 1),
                building="12"),
    PersonEntry(id="p-zhao", name="赵桂兰", role="resident", birth_date=date(1946, 1, 9),
                building="3"),
    PersonEntry(id="p-chen", name="陈志强", role="resident", birth_date=date(1990, 5, 5),
                building="5"),
    PersonEntry(id="p-sun", name="孙师傅", role="courier", company="顺丰"),
    PersonEntry(id="p-zhou", name="周保安", role="staff"),
    PersonEntry(id="p-risk", name="刘某某", role="watchlist"),
]  # fmt: skip
VA, VB, VC = "v-aaaaaaaaaaaa", "v-bbbbbbbbbbbb", "v-cccccccccccc"

# What the compound looks like after populate() (today, local day):
EXPECTED_INSIDE = {"resident": 1, "visitor": 2, "courier": 1, "staff": 1}
EXPECTED_IN = {"resident": 2, "visitor": 2, "courier": 1, "staff": 0}
EXPECTED_OUT = {"resident": 2, "visitor": 0, "courier": 0, "staff": 0}
EXPECTED_PASSAGES = 9  # in + out passages today (the internal camera's sighting is not one)


class Edge:
    """A stand-in edge publishing passages over MQTT, with its own sequence numbers."""

    def __init__(self, server, broker) -> None:  # noqa: ANN001
        self.server = server
        self.pub = connect(broker.port, "wall-edge-" + secrets.token_hex(3))
        self.seq = 0

    def send(self, *args, camera: str = "c1", **kw) -> None:  # noqa: ANN002, ANN003
        self.seq += 1
        p = passage(self.server.cfg.site, self.seq, *args, **kw)
        if camera != "c1":
            p = p.model_copy(update={"camera": camera})
        self.pub.publish(self.server.topics.events(p.gate), p.to_json(), qos=1)

    def close(self) -> None:
        self.pub.loop_stop()
        self.pub.disconnect()


def populate(server, broker) -> Edge:  # noqa: ANN001
    """Enroll PERSONS and publish today's passages (a few seconds ago, in order)."""
    for p in PERSONS:
        server.store.upsert_person(p)
    now = datetime.now(UTC)
    midnight = local_midnight(now, server.cfg.tz)
    start = max(now - timedelta(minutes=30), midnight + timedelta(seconds=1))
    step = (now - start) / 20
    edge = Edge(server, broker)
    moves = [
        ("p-wang", "in", "north", "resident"), ("p-wang", "out", "north", "resident"),
        ("p-li", "in", "south", "resident"), ("p-li", "out", "south", "resident"),
        ("p-wang", "in", "south", "resident"), ("p-sun", "in", "north", "courier"),
        (VA, "in", "north", None), (VB, "in", "south", None), (VC, "in", "north", None),
    ]  # fmt: skip
    yesterday = local_midnight(now, server.cfg.tz) - timedelta(hours=2)
    edge.send("p-chen", "out", yesterday, gate="north", role="resident")
    for i, (who, d, gate, role) in enumerate(moves):
        edge.send(who, d, start + i * step, gate=gate, role=role)
    edge.send("p-zhou", "none", start + 10 * step, gate="hall", role="staff", camera="lobby")
    server.store.add_alias(VisitorAlias(alias=VB, visitor_id=VA, gate="south", ts=now))
    wait_until(lambda: server.store.count_events() == len(moves) + 2, 60, "passages stored")
    return edge


def gate_status(server, edge: Edge, gate: str, camera: str, online: bool, **kw) -> None:  # noqa: ANN001, ANN003
    """Publish a camera's status as its edge does (retained)."""
    from contract.events import EdgeStatus

    state = "online" if online else "offline"
    st = EdgeStatus(
        site=server.cfg.site, gate=gate, camera=camera, state=state, ts=datetime.now(UTC), **kw
    )
    edge.pub.publish(server.topics.status(gate), st.to_json(), qos=1, retain=True)


def dress(server, edge: Edge) -> None:  # noqa: ANN001
    """Gates reporting (one dead), an elder alert and a watchlist passage: a wall to look at."""
    from server.states import AlertRule

    gate_status(server, edge, "north", "c1", True, fps=14.8, outbox_depth=0,
                camera_state="ok")  # fmt: skip
    gate_status(server, edge, "south", "c1", False)
    gate_status(server, edge, "hall", "lobby", True, fps=9.6, outbox_depth=3, camera_state="ok")
    since = (datetime.now(UTC) - timedelta(hours=50)).isoformat()
    server.store.add_alert(AlertRule.NOT_SEEN, "p-zhao", f"since:{since}",
                           {"last_seen": since, "gate": "south", "hours": 50.0})  # fmt: skip
    history(server)
    wait_until(lambda: len(server.store.gates()) >= 3 and all(
        g.state for g in server.store.gates()), 60, "gate statuses stored")  # fmt: skip


def history(server) -> None:  # noqa: ANN001
    """The same weekday of the 4 weeks before, a morning and an evening rush (stored directly:
    history, as an import would bring it), for the chart's average; faces nobody enrolled, so
    that no one's presence changes."""
    import random

    rnd = random.Random(4)
    now = datetime.now(UTC)
    rows, seq = [], 10_000
    for week in range(1, 5):
        day = local_midnight(now, server.cfg.tz, 7 * week)
        for hour in range(24):
            busy = 14 if hour in (7, 8, 17, 18) else 6 if 6 <= hour <= 21 else 1
            for _ in range(rnd.randint(busy, busy * 2)):
                seq += 1
                ts = day + timedelta(hours=hour, minutes=rnd.randint(0, 59))
                d = "out" if (hour < 12) == (rnd.random() < 0.7) else "in"
                rows.append(passage(server.cfg.site, seq, None, d, ts, gate="north"))
    server.store.insert_events(rows)
