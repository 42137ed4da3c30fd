"""The wall screen's data (/api/wall): people not passages, the local day, names as the site
says, and who may read it. The page itself is tested in test_wall_page.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from server.wall.board import WallData, mask
from tests.server.conftest import auth, passage
from tests.server.wall_fixtures import (
    EXPECTED_IN,
    EXPECTED_INSIDE,
    EXPECTED_OUT,
    EXPECTED_PASSAGES,
    PERSONS,
    populate,
)


def _wall(client, server, role: str = "viewer") -> dict:  # noqa: ANN001
    r = client.get("/api/wall", headers=auth(server, role))
    assert r.status_code == 200, r.text
    return r.json()


def _roles(d: dict, keys=EXPECTED_INSIDE) -> dict:  # noqa: ANN001
    return {k: d[k] for k in keys}


def test_mask_keeps_first_and_last_character() -> None:
    assert mask("王秀华") == "王*华"
    assert mask("李明") == "李*"
    assert mask("欧阳秀华") == "欧**华"
    assert mask("王") == "*"


def test_wall_counts_people_not_passages(client, server, broker) -> None:
    edge = populate(server, broker)
    try:
        w = _wall(client, server)
    finally:
        edge.close()
    assert _roles(w["inside"]) == EXPECTED_INSIDE
    assert w["inside_total"] == sum(EXPECTED_INSIDE.values())
    assert _roles(w["people_in"]) == EXPECTED_IN
    assert _roles(w["people_out"]) == EXPECTED_OUT
    assert w["passages_today"] == EXPECTED_PASSAGES
    assert sum(w["hourly"]["today_in"]) + sum(w["hourly"]["today_out"]) == EXPECTED_PASSAGES
    assert w["elders"] == {"age_years": 70, "total": 2, "seen_24h": 1, "seen_48h": 1,
                           "not_seen_48h": 1}  # fmt: skip
    assert len(w["passages"]) == min(server.cfg.wall.passages, server.store.count_events())
    gates = {(g["gate"], g["camera"]): g for g in w["gates"]}
    assert gates[("hall", "lobby")]["last_passage"] is not None
    assert not gates[("north", "c1")]["online"], "no status yet: not online"


def test_wall_masks_names_and_never_shows_ids(client, server, broker) -> None:
    edge = populate(server, broker)
    edge.close()
    text = json.dumps(_wall(client, server), ensure_ascii=False)
    assert "王*华" in text and '"building": "7"' in text
    for p in PERSONS:
        assert p.name not in text, f"{p.name} shown in full on a masked wall"
        assert p.id not in text, f"person id {p.id} on the wall"
    assert "v-" not in text, "a visitor id on the wall"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_wall_names_roles_and_full(client, server, broker) -> None:
    edge = populate(server, broker)
    edge.close()
    wall = client.app.state.wall = WallData(server.store, server.cfg.model_copy(
        update={"wall": server.cfg.wall.model_copy(update={"names": "roles"})}))  # fmt: skip
    text = json.dumps(wall.build().model_dump(mode="json"), ensure_ascii=False)
    assert "王" not in text and "p-wang" not in text and '"building": "7"' not in text
    wall.cfg = server.cfg.model_copy(
        update={"wall": server.cfg.wall.model_copy(update={"names": "full"})}
    )
    text = json.dumps(_wall(client, server), ensure_ascii=False)
    assert "王秀华" in text and "p-wang" not in text


def test_wall_needs_a_user_and_audits_officers(client, server) -> None:
    assert client.get("/api/wall").status_code == 401
    assert client.get("/api/wall/stream").status_code == 401
    assert client.get("/api/wall/stream", headers=auth(server, "edge")).status_code == 403
    assert client.get("/api/wall", headers=auth(server, "edge")).status_code == 403
    assert client.get("/api/wall", headers=auth(server, "viewer")).status_code == 200
    assert client.get("/api/wall", headers=auth(server, "officer")).status_code == 200
    actions = [(a.user, a.action) for a in server.store.audit_log(datetime(2020, 1, 1, tzinfo=UTC))]
    assert ("officer1", "read_board") in actions
    assert ("viewer1", "read_board") not in actions


def test_today_starts_at_local_midnight(server) -> None:
    """Asia/Shanghai: 15:59 UTC is 23:59 of one day, 16:01 UTC 00:01 of the next."""
    site = server.cfg.site
    day = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # local midnight of Nov 3
    before, after = day - timedelta(minutes=1), day + timedelta(minutes=1)
    week = [  # the same weekday (local) one and two weeks before, at local 09:xx
        day - timedelta(days=7) + timedelta(hours=9, minutes=m) for m in (1, 2)
    ] + [day - timedelta(days=14) + timedelta(hours=9, minutes=m) for m in (1, 2, 3, 4)]
    server.store.insert_events(
        [passage(site, 1, "p-a", "in", before), passage(site, 2, "p-b", "in", after),
         passage(site, 3, "p-b", "out", after + timedelta(minutes=1))]
        + [passage(site, 10 + i, f"p-w{i}", "in", ts) for i, ts in enumerate(week)]
    )  # fmt: skip
    w = WallData(server.store, server.cfg).build(now=day + timedelta(minutes=30))
    assert str(w.day) == "2026-11-03"
    assert w.people_in["resident"] == 1 and w.people_out["resident"] == 1
    assert w.passages_today == 2
    assert w.hourly.today_in[0] == 1 and w.hourly.today_out[0] == 1
    assert sum(w.hourly.today_in) == 1, "23:59 the day before is not today"
    assert w.hourly.weeks == 2 and w.hourly.avg_in[9] == 3.0


def test_presence_moves_forward_only(server) -> None:
    """A late passage (an edge's outbox) changes the newest in / out, not where someone is."""
    site, now = server.cfg.site, datetime.now(UTC)
    server.store.insert_events([passage(site, 1, "p-a", "in", now)])
    server.store.insert_events([passage(site, 2, "p-a", "out", now - timedelta(minutes=5))])
    p = server.store.presence_of(["p-a", "p-nobody"])
    assert list(p) == ["p-a"]
    assert p["p-a"].inside and p["p-a"].ts == now
    assert p["p-a"].last_in == now and p["p-a"].last_out == now - timedelta(minutes=5)
    server.store.insert_events([passage(site, 3, "p-a", "out", now + timedelta(minutes=1))])
    assert not server.store.presence_of(["p-a"])["p-a"].inside
    assert server.store.presence_counts().get("resident", 0) == 0


def test_0007_backfills_presence_and_hours_from_events(db_url: str) -> None:
    from alembic import command

    from server.db import alembic_config, make_engine

    engine = make_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006_sightings")
    now = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    later = now + timedelta(minutes=1)
    rows = [passage("s", 1, "p-a", "in", now), passage("s", 2, "p-a", "out", later),
            passage("s", 3, "p-b", "in", now), passage("s", 4, None, "in", now)]  # fmt: skip
    from server import tables as t

    with engine.begin() as conn:
        stored = [p.model_dump(include=set(t.events.c.keys())) | {"received": now} for p in rows]
        conn.execute(t.events.insert(), stored)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    from server.store import Store

    store = Store(engine)
    p = store.presence_of(["p-a", "p-b"])
    assert not p["p-a"].inside and p["p-b"].inside and p["p-a"].last_in == now
    hours = store.hour_counts(now - timedelta(hours=1), now + timedelta(hours=1))
    hour = now.replace(minute=0)
    assert {(h.hour, h.role, h.direction, h.n) for h in hours} == {
        (hour, "resident", "in", 2),
        (hour, "visitor", "in", 1),
        (hour, "resident", "out", 1),
    }
