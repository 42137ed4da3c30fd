"""Issue 9, items 1-4: ingest survives any single message, over a real broker, on both databases."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from contract.events import EdgeStatus
from server import tables as t
from server.store.records import PersonEntry
from tests.server.conftest import passage, server_config
from tests.server.test_ingest import AckWatcher, wait_until


@pytest.fixture()
def hardened(tmp_path: Path, broker, db_url: str):
    """A running ServerApp that calls storing 'stuck' after 1 s of failures."""
    from server.app import ServerApp

    site = "h" + secrets.token_hex(3)
    cfg = server_config(tmp_path, site, broker.port, db_url, ingest={"stuck_after_s": 1})
    app = ServerApp(cfg).start()
    wait_until(lambda: app.bus.connected, 10, "ingest connected")
    yield app
    app.stop()



def _raw(p, **fields) -> bytes:  # noqa: ANN001
    """The passage's JSON with some fields replaced, as a broken edge would send it."""
    return json.dumps({**json.loads(p.to_json()), **fields}).encode()


def _api(app):  # noqa: ANN001, ANN202
    from fastapi.testclient import TestClient

    from server.api import create_api

    token = app.store.add_user("viewer1", "viewer")
    return TestClient(create_api(app), headers={"Authorization": f"Bearer {token}"})


# -- 1: huge counters, permanent database errors -----------------------------------------------


def test_huge_counters_never_stop_ingest_for_other_gates(hardened, broker, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    acks = AckWatcher(broker.port, topics, "g1")
    big = passage(site, 2**31, identity="p-big")  # over a 32-bit column, within 64 bits
    big = big.model_copy(update={"track_id": 2**40, "gallery_version": 2**35})
    huge = passage(site, 5, identity="p-huge")
    pub.publish(topics.events("g1"), big.to_json(), qos=1)
    pub.publish(topics.events("g1"), _raw(huge, seq=10**20), qos=1)  # over 64 bits: refused
    others = [passage(site, i, identity=f"p{i}", gate="g2") for i in range(1, 21)]
    for p in others:
        pub.publish(topics.events("g2"), p.to_json(), qos=1)
    wait_until(lambda: hardened.store.count_events() == 21, 30, "g2's passages and the big one")
    wait_until(lambda: hardened.bus.stats.dead_letters == 1, 30, "the huge one set aside")
    assert hardened.bus.stats.malformed == 1
    assert hardened.store.last_passage("p-big") is not None
    (dead,) = hardened.store.dead_letters()
    assert dead.kind == "passage" and "seq" in dead.error
    assert dead.payload == _raw(huge, seq=10**20)
    wait_until(lambda: big.event_id in acks.ids, 30, "the big one acknowledged to its edge")
    acks.close()


def _refuse_identity(app, identity: str) -> None:  # noqa: ANN001
    """A database rule the contract knows nothing of: this identity can never be stored."""
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER no_{identity.replace('-', '_')} BEFORE INSERT ON events "
                f"WHEN NEW.identity = '{identity}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "ALTER TABLE events ADD CONSTRAINT no_poison "
                f"CHECK (identity IS DISTINCT FROM '{identity}')"
            )


def test_a_permanent_database_error_sets_one_message_aside(hardened, broker, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    _refuse_identity(hardened, "p-poison")
    acks = AckWatcher(broker.port, topics, "g1")
    batch = [passage(site, i, identity=f"p{i}") for i in range(1, 31)]
    batch[12] = passage(site, 13, identity="p-poison")
    for p in batch:
        pub.publish(topics.events("g1"), p.to_json(), qos=1)
    wait_until(lambda: hardened.store.count_events() == 29, 30, "the 29 good passages")
    wait_until(lambda: hardened.bus.stats.dead_letters == 1, 30, "the bad one set aside")
    (dead,) = hardened.store.dead_letters()
    assert dead.payload == batch[12].to_json() and "Integrity" in dead.error
    wait_until(lambda: len(set(acks.ids)) == 30, 30, "all 30 acknowledged")
    s = hardened.bus.stats
    assert (s.inserted, s.duplicates, s.dead_letters) == (29, 0, 1)
    acks.close()


# -- 2: no exception escapes a callback; health tells the truth --------------------------------


def test_a_failing_status_store_does_not_stop_passages_and_health_says_so(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    with hardened.engine.begin() as conn:
        conn.execute(text("DROP TABLE gates"))
    st = EdgeStatus(site=site, gate="g1", camera="c1", state="online", ts=datetime.now(UTC))
    pub.publish(topics.status("g1"), st.to_json(), qos=1)
    for i in range(1, 11):
        pub.publish(topics.events("g1"), passage(site, i, identity=f"p{i}").to_json(), qos=1)
    wait_until(lambda: hardened.store.count_events() == 10, 30, "passages still stored")
    assert hardened.bus.stats.status_errors == 1
    h = _api(hardened).get("/api/health").json()
    assert h["state"] == "degraded" and not h["ok"] and h["errors"] >= 1
    assert any("status" in r for r in h["reasons"]) and h["last_message_at"] is not None


def test_health_is_degraded_while_storing_fails_and_nothing_is_lost(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    api = _api(hardened)
    assert api.get("/api/health").json()["state"] == "ok"
    with hardened.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    sent = [passage(site, i, identity=f"p{i}") for i in range(1, 11)]
    for p in sent:
        pub.publish(topics.events("g1"), p.to_json(), qos=1)
    wait_until(lambda: api.get("/api/health").json()["state"] == "degraded", 30, "degraded")
    wait_until(lambda: api.get("/api/health").json()["pending"] == 10, 30, "backlog of 10")
    h = api.get("/api/health").json()
    assert h["failing_for_s"] >= 1 and not h["ok"]
    assert any("storing passages" in r for r in h["reasons"])
    metrics = api.get("/metrics").text
    assert "gatewatch_ingest_degraded 1" in metrics
    assert "gatewatch_ingest_pending" in metrics and hardened.bus.stats.db_errors >= 1
    with hardened.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    wait_until(lambda: hardened.store.count_events() == 10, 60, "all stored after the repair")
    wait_until(lambda: api.get("/api/health").json()["state"] == "ok", 30, "ok again")
    assert hardened.bus.stats.dead_letters == 0


# -- 3: future-dated passages, edge clocks ------------------------------------------------------


def test_a_passage_from_2099_is_refused_and_the_elder_watch_still_fires(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    gran = PersonEntry(
        id="p-gran", name="Gran", role="resident", birth_date=date(1938, 5, 5),
        care_flags=["lives_alone"],
    )  # fmt: skip
    hardened.store.upsert_person(gran)
    now = datetime.now(UTC)
    hardened.store.insert_events([passage(site, 1, "p-gran", "in", now - timedelta(hours=30))])
    future = passage(site, 2, "p-gran", "out", datetime(2099, 12, 31, 8, tzinfo=UTC))
    pub.publish(topics.events("g1"), future.to_json(), qos=1)
    pub.publish(topics.events("g1"), passage(site, 3, "p-other").to_json(), qos=1)
    wait_until(lambda: hardened.store.last_passage("p-other") is not None, 30, "the next one")
    assert hardened.store.last_passage("p-gran").ts < now
    rules = {(a.rule, a.person_id) for a in hardened.watch.scan(datetime.now(UTC))}
    assert ("no_passage_today", "p-gran") in rules
    wait_until(lambda: hardened.bus.stats.dead_letters == 1, 30, "the 2099 one set aside")
    assert hardened.bus.stats.future == 1
    (dead,) = hardened.store.dead_letters()
    assert "2099" in dead.error and dead.payload == future.to_json()


def test_an_edge_clock_off_is_reported_on_its_gate(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    st = EdgeStatus(site=site, gate="g1", camera="c1", state="online", ts=ahead)
    pub.publish(topics.status("g1"), st.to_json(), qos=1)
    api = _api(hardened)
    wait_until(lambda: api.get("/api/gates").json(), 30, "the gate row")
    (gate,) = api.get("/api/gates").json()
    assert 590 < gate["clock_skew_s"] < 610


# -- 4: status messages are not trusted blindly ------------------------------------------------


def test_a_status_must_agree_with_its_topic_and_have_a_sane_time(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    now = datetime.now(UTC)
    south = EdgeStatus(site=site, gate="south", camera="c1", state="online", ts=now)
    pub.publish(topics.status("south"), south.to_json(), qos=1)
    wait_until(lambda: len(hardened.store.gates()) == 1, 30, "south online")
    forged = south.model_copy(update={"state": "offline"})
    pub.publish(topics.status("north"), forged.to_json(), qos=1)  # north speaks for south
    ancient = json.loads(south.to_json()) | {"ts": "0001-01-01T00:00:00Z"}
    pub.publish(topics.status("south"), json.dumps(ancient).encode(), qos=1)
    east = EdgeStatus(site=site, gate="east", camera="c1", state="online", ts=now)
    pub.publish(topics.status("east"), east.to_json(), qos=1)  # handled after both
    wait_until(lambda: len(hardened.store.gates()) == 2, 30, "east online")
    states = [(g.gate, g.state, g.last_status) for g in hardened.store.gates()]
    assert states == [("east", "online", now), ("south", "online", now)]
    wait_until(lambda: hardened.bus.stats.dead_letters == 2, 30, "both set aside")
    assert hardened.bus.stats.malformed == 2
    errors = sorted(d.error for d in hardened.store.dead_letters())
    assert "on topic" in errors[0] and "outside" in errors[1]


def test_odd_stored_gate_values_never_make_the_board_fail(hardened, pub) -> None:
    site, topics = hardened.cfg.site, hardened.topics
    st = EdgeStatus(site=site, gate="g1", camera="c1", state="online", ts=datetime.now(UTC))
    pub.publish(topics.status("g1"), st.to_json(), qos=1)
    wait_until(lambda: len(hardened.store.gates()) == 1, 30, "the gate row")
    with hardened.engine.begin() as conn:  # as an older server version stored them
        conn.execute(
            update(t.gates).values(
                last_status=datetime(1, 1, 1, tzinfo=UTC), status=["not", "a", "dict"]
            )
        )
    api = _api(hardened)
    for route in ("/api/gates", "/api/board"):
        r = api.get(route)
        assert r.status_code == 200, (route, r.text)
    # Last heard of in the year 1: stale (gates.camera_stale_days), no longer listed.
    assert api.get("/api/gates").json() == []
    with hardened.engine.begin() as conn:
        conn.execute(update(t.gates).values(last_status=datetime.now(UTC)))
    (gate,) = api.get("/api/gates").json()
    assert gate["gate"] == "g1" and gate["state"] == "online"
