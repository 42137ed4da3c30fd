"""Issue 19 items 5, 7, 16: old gallery snapshots, dead letters and retention, outages, secure
delete — on SQLite and PostgreSQL where the store is concerned."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, insert, select, text

from server import tables as t
from server.states import AlertRule, AlertState
from server.store import Refused, now_utc
from server.store.records import PersonEntry
from tests.mqtt_helpers import connect, wait_until
from tests.server.conftest import auth

# -- 5: old gallery snapshots are deleted and refused ---------------------------------------------


def test_only_the_newest_two_gallery_snapshots_are_kept_and_served(client, server) -> None:
    dim = server.face.dim
    for pid in ("p-del", "p-keep"):
        server.store.upsert_person(PersonEntry(id=pid, name=pid, role="resident"))
        e = np.random.default_rng(1).standard_normal((2, dim)).astype(np.float32)
        server.store.add_templates(pid, e / np.linalg.norm(e, axis=1)[:, None],
                                   server.face.model_id, [None, None])  # fmt: skip
    v1 = server.publish_gallery()
    assert v1.persons == 2
    admin, edge = auth(server, "admin"), auth(server, "edge")
    assert client.delete("/api/persons/p-del", headers=admin).status_code == 200  # publishes v2
    # A removal keeps only the snapshot without them: no served file holds p-del any more.
    assert client.get(f"/api/gallery/{v1.version}", headers=edge).status_code == 410
    v3 = server.publish_gallery()
    assert v3.version == v1.version + 2 and v3.persons == 1
    r = client.get(f"/api/gallery/{v1.version}", headers=edge)
    assert r.status_code == 410, r.text
    assert r.json()["detail"] == (
        f"gallery v{v1.version} was deleted: only the newest snapshots are kept; "
        f"fetch v{v3.version} (GET /api/gallery)"
    )
    assert not Path(v1.path).exists(), "the file holding the removed person is gone"
    files = sorted(p.name for p in Path(v3.path).parent.iterdir())
    assert files == [f"gallery-v{v1.version + 1}.npz", f"gallery-v{v3.version}.npz"]
    for v in (v1.version + 1, v3.version):  # the current one and the one before it
        assert client.get(f"/api/gallery/{v}", headers=edge).status_code == 200
    assert client.get(f"/api/gallery/{v3.version + 1}", headers=edge).status_code == 404
    with server.engine.connect() as c:
        kept = [r.version for r in c.execute(select(t.galleries.c.version))]
    assert sorted(kept) == [v1.version + 1, v3.version]


# -- 7: dead letters: a prefix, a hash, a count, a cap, a retention --------------------------------


def test_repeated_bad_passages_are_one_capped_dead_letter(server, broker) -> None:
    pub = connect(broker.port, "bad-" + secrets.token_hex(3))
    topic = server.topics.events("g1")
    bad = b'{"not": "a passage", "pad": "' + b"x" * 10_000 + b'"}'
    try:
        for _ in range(300):
            pub.publish(topic, bad, qos=1)
        wait_until(lambda: server.bus.stats.dead_letters >= 300, 60, "300 bad passages set aside")
    finally:
        pub.loop_stop()
        pub.disconnect()
    (dead,) = server.store.dead_letters()
    assert dead.count == 300 and dead.size == len(bad) and len(dead.payload) == 2048
    assert dead.payload == bad[:2048] and dead.last_seen >= dead.received
    import hashlib

    assert dead.sha256 == hashlib.sha256(bad).hexdigest()


def test_dead_letters_are_capped_and_purged_with_the_visitors_retention(server) -> None:
    server.store.dead_letter_max_rows = 100
    now = now_utc()

    def refused(i: int, ts: datetime) -> Refused:
        return Refused(ts, "passage", "s/events/g1", "bad", f"payload {i} ".encode() * 1000)

    server.store.add_dead_letters([refused(i, now - timedelta(days=8)) for i in range(50)])
    server.store.add_dead_letters([refused(i, now + timedelta(seconds=i)) for i in range(50, 200)])
    assert server.store.count_dead_letters() == 100, "the oldest went beyond the cap"
    server.store.add_dead_letters([refused(100, now + timedelta(days=1))])  # again: counted
    server.store.add_dead_letters([refused(300, now + timedelta(days=2))])
    kept = {d.payload[:12]: d.count for d in server.store.dead_letters(limit=1000)}
    assert len(kept) == 100 and kept[b"payload 100 "] == 2 and kept[b"payload 300 "] == 1
    assert b"payload 101 " not in kept, "the least recently seen went"
    server.store.add_dead_letters([refused(1000, now - timedelta(days=8))])  # a stale straggler
    server.purge(now)
    left = server.store.dead_letters(limit=1000)
    assert all(d.last_seen > now - timedelta(days=7) for d in left), "purged after visitor_days"
    server.purge(now + timedelta(days=10))
    assert server.store.count_dead_letters() == 0


def test_closed_searches_ended_alerts_and_removed_persons_are_purged(server) -> None:
    store, now = server.store, now_utc()
    store.add_search("s-old", reason="lost", raised_by="officer1", model_id="m", template=b"T" * 64)
    store.add_search("s-live", reason="lost", raised_by="officer1", model_id="m", template=b"L")
    with server.engine.begin() as c:
        c.execute(insert(t.candidates).values(
            candidate_id="c1", search_id="s-old", gate="g1", camera="c", ts=now, track_id=1,
            score=0.9, frames_at_threshold=3, frames_considered=5, threshold=0.5, model_id="m",
            received=now))  # fmt: skip
        c.execute(insert(t.candidate_evidence).values(
            candidate_id="c1", aligned_jpeg=b"a", context_jpeg=b"b", stored=now))  # fmt: skip
        c.execute(insert(t.sightings).values(
            search_id="s-old", event_id="e1", ts=now, gate="g1", camera="c"))  # fmt: skip
    store.close_search("s-old", "officer1")
    ended = store.add_alert(AlertRule.NOT_SEEN, "p-1", "ep1", {})
    still_open = store.add_alert(AlertRule.NOT_SEEN, "p-2", "ep1", {})
    store.set_alert_state(ended, AlertState.CLOSED, "officer1", "found")
    store.upsert_person(PersonEntry(id="p-gone", name="王五", role="resident", phone="139"))
    store.remove_person("p-gone")

    server.purge(now)  # the closed search's photo template goes at once
    with server.engine.connect() as c:
        tpl = dict(c.execute(select(t.searches.c.id, t.searches.c.template)).all())
    assert tpl == {"s-old": None, "s-live": b"L"}
    server.purge(now + timedelta(days=181))
    with server.engine.connect() as c:
        def ids(col):  # noqa: ANN001, ANN202
            return sorted(c.execute(select(col)).scalars())

        assert ids(t.searches.c.id) == ["s-live"]
        assert ids(t.candidates.c.id) == [] and ids(t.candidate_evidence.c.candidate_id) == []
        assert ids(t.sightings.c.id) == []
        assert ids(t.alerts.c.id) == [still_open]
        assert ids(t.alert_history.c.id) == []
        assert ids(t.persons.c.id) == []


# -- 16: outages answer 503, purged evidence leaves no trace ---------------------------------------


def _no_connections(server, allow: bool) -> None:  # noqa: ANN001
    import sqlalchemy as sa

    from tests.server.conftest import PG_ADMIN

    name = server.engine.url.database
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'))
        if not allow:
            kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            c.execute(text(kill + " AND pid <> pg_backend_pid()"), {"n": name})
    admin.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_refusing_connections_answers_503(client, server) -> None:
    server.engine.dispose()
    _no_connections(server, allow=False)
    try:
        for headers in (auth(server, "viewer"), {"Authorization": "Bearer wrong"}):
            r = client.get("/api/me", headers=headers)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "10"
            assert "the database is unavailable" in r.json()["detail"]
    finally:
        _no_connections(server, allow=True)
    assert client.get("/api/me", headers=auth(server, "viewer")).status_code == 200


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_full_sqlite_disk_answers_503(client, server) -> None:
    engine = server.engine
    with engine.begin() as c:
        pages = c.exec_driver_sql("PRAGMA page_count").scalar_one()

    @event.listens_for(engine, "connect")
    def _full(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()
    officer, seen = auth(server, "officer"), []
    for _ in range(60):  # audited reads write a row each until no page is left
        r = client.get("/api/alerts?reason=" + "x" * 400, headers=officer)
        seen.append(r.status_code)
        if r.status_code == 503:
            break
    assert seen[-1] == 503 and set(seen) <= {200, 503}, seen
    assert r.headers["retry-after"] == "10" and "disk is full" in r.json()["detail"]
    assert client.get("/api/me", headers=officer).status_code == 200, "reads still work"
    event.remove(engine, "connect", _full)
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_purged_evidence_leaves_no_bytes_in_the_sqlite_file_or_wal(server) -> None:
    marker = b"EVIDENCE-" + secrets.token_hex(16).encode()
    old = datetime.now(UTC) - timedelta(days=40)
    server.store.add_search("s-e", reason="lost", raised_by="officer1", model_id="m")
    with server.engine.begin() as c:
        c.execute(insert(t.candidates).values(
            candidate_id="c-e", search_id="s-e", gate="g1", camera="c", ts=old, track_id=1,
            score=0.9, frames_at_threshold=3, frames_considered=5, threshold=0.5, model_id="m",
            received=old))  # fmt: skip
        c.execute(insert(t.candidate_evidence).values(
            candidate_id="c-e", aligned_jpeg=marker * 200, context_jpeg=marker, stored=old))
    with server.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db = Path(server.engine.url.database)
    assert marker in db.read_bytes(), "the evidence is in the file before the purge"
    server.purge(datetime.now(UTC))
    assert server.store.evidence("c-e") is None
    for f in (db, db.with_name(db.name + "-wal")):
        if f.exists():
            assert marker not in f.read_bytes(), f"{f.name} still holds the purged evidence"
