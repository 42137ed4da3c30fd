"""Issue 19, items 13-15: what one gate may do to the server's gate table, and what health and the
wall say about a gate whose passages are refused; over a real broker, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from contract.events import INT32_MAX, EdgeStatus, SightingCandidate
from server.ingest.gatecheck import GateLimits, GateRefusals
from server.wall.board import WallData
from tests.server.conftest import passage
from tests.server.test_ingest import wait_until


def _status(site: str, gate: str, camera: str, ts: datetime | None = None) -> bytes:
    return EdgeStatus(site=site, gate=gate, camera=camera, state="online",
                      ts=ts or datetime.now(UTC)).to_json()  # fmt: skip


def _api(app) -> TestClient:  # noqa: ANN001
    from server.api import create_api

    return TestClient(create_api(app), headers={"Authorization": f"Bearer {app.tokens['admin']}"})


# -- 13 ----------------------------------------------------------------------------------------


def test_a_candidates_track_id_fits_the_servers_32_bit_column() -> None:
    fields = {"candidate_id": "a" * 32, "search_id": "s-1", "site": "c", "gate": "g",
              "camera": "c1", "ts": datetime.now(UTC), "score": 0.5, "frames_at_threshold": 2,
              "frames_considered": 3, "threshold": 0.3, "model_id": "sface"}  # fmt: skip
    assert SightingCandidate(track_id=INT32_MAX, **fields).track_id == 2**31 - 1
    with pytest.raises(ValidationError, match="track_id"):
        SightingCandidate(track_id=2**31, **fields)


# -- 14 ----------------------------------------------------------------------------------------


def test_a_gate_has_at_most_its_cameras_and_stale_ones_leave(server, pub) -> None:  # noqa: ANN001
    site, topics = server.cfg.site, server.topics
    assert server.cfg.gates.max_cameras == 8
    old = datetime.now(UTC) - timedelta(days=8)
    server.store.record_status(EdgeStatus.model_validate_json(_status(site, "east", "e1", old)))
    assert [g.gate for g in server.store.gates()] == ["east"]
    api = _api(server)
    assert api.get("/api/gates").json() == [], "a camera not heard of for 8 days is not shown"
    assert api.get("/api/gates/health").json()["gates"] == [], "nor on the /gates page"
    for i in range(10):
        pub.publish(topics.status("north"), _status(site, "north", f"cam{i}"), qos=1)
    wait_until(lambda: server.bus.stats.dead_letters == 2, 30, "two cameras set aside")
    rows = api.get("/api/gates").json()
    assert [r["camera"] for r in rows] == [f"cam{i}" for i in range(8)]
    assert all("max_cameras" in d.error and d.kind == "status"
               for d in server.store.dead_letters())  # fmt: skip
    assert "east" not in {g.gate for g in server.store.gates()}, "the stale row was dropped"
    # A camera the gate has already may report again.
    pub.publish(topics.status("north"), _status(site, "north", "cam0"), qos=1)
    pub.publish(topics.status("north"), _status(site, "north", "cam9"), qos=1)
    wait_until(lambda: server.bus.stats.dead_letters == 3, 30, "cam9 refused again")
    # The wall: passages of cameras no status announced add at most up to the gate's cap.
    now = datetime.now(UTC)
    made_up = [passage(site, i, gate="south", ts=now).model_copy(update={"camera": f"x{i}"})
               for i in range(1, 13)]  # fmt: skip
    server.store.insert_events(made_up)
    wall = WallData(server.store, server.cfg).gates()
    by_gate = {g: [w.camera for w in wall if w.gate == g] for g in ("north", "south")}
    assert len(by_gate["north"]) == 8 and len(by_gate["south"]) == 8
    page = api.get("/api/gates/health").json()["gates"]
    assert [(r["gate"], r["camera"]) for r in page] == [(w.gate, w.camera) for w in wall], (
        "the /gates page shows the wall's cameras"
    )


# -- 15 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_health_and_the_wall_say_which_gate_is_refused(server, pub) -> None:  # noqa: ANN001
    site, topics = server.cfg.site, server.topics
    api = _api(server)
    for gate in ("g1", "g2"):
        pub.publish(topics.status(gate), _status(site, gate, f"{gate}-in"), qos=1)
    wait_until(lambda: len(server.store.gates()) == 2, 30, "both gates' status")
    assert api.get("/api/health").json()["state"] == "ok"
    ahead = datetime.now(UTC) + timedelta(minutes=6)  # g1's clock is 6 minutes fast
    for i in range(1, 6):
        pub.publish(topics.events("g1"), passage(site, i, gate="g1", ts=ahead).to_json(), qos=1)
        pub.publish(topics.events("g2"), passage(site, i, gate="g2").to_json(), qos=1)
    wait_until(lambda: server.bus.stats.dead_letters == 5, 30, "g1's five set aside")
    wait_until(lambda: server.store.count_events() == 5, 30, "g2's five stored")
    h = api.get("/api/health").json()
    assert h["state"] == "degraded" and not h["ok"]
    assert [r for r in h["reasons"] if "g1" in r] == [
        "gate g1: refusing: clock skew (5 of 5 passages refused in the last 10 min)"
    ]
    assert h["gates"] == [{"gate": "g1", "problem": "clock_skew", "refused_recent": 5,
                           "stored_recent": 0}]  # fmt: skip
    rows = {r["gate"]: r for r in api.get("/api/gates").json()}
    assert (rows["g1"]["problem"], rows["g1"]["refused_recent"]) == ("clock_skew", 5)
    assert (rows["g2"]["problem"], rows["g2"]["refused_recent"]) == (None, 0)
    wall = {g["gate"]: g for g in api.get("/api/wall").json()["gates"]}
    assert (wall["g1"]["problem"], wall["g1"]["refused_recent"]) == ("clock_skew", 5)
    assert wall["g2"]["problem"] is None
    page = {g["gate"]: g for g in api.get("/api/gates/health").json()["gates"]}
    assert (page["g1"]["problem"], page["g1"]["refused_recent"]) == ("clock_skew", 5)
    assert (page["g2"]["problem"], page["g2"]["refused_recent"]) == (None, 0)
    assert "gatewatch_gates_refusing 1" in api.get("/metrics").text


def test_a_gate_is_a_problem_while_most_of_its_passages_are_refused_within_the_window() -> None:
    now = [0.0]
    r = GateRefusals(GateLimits(refusal_window_s=600, refusal_min=3), clock=lambda: now[0])
    r.refused("g1", "clock_skew")
    r.refused("g1", "clock_skew")
    assert r.problems() == []  # two are not yet a problem
    r.refused("g1", "malformed")
    r.refused("g1", "clock_skew")
    (p,) = r.problems()
    assert (p.gate, p.problem, p.refused_recent) == ("g1", "clock_skew", 4)
    r.stored("g1", 5)  # more stored than refused: a stray bad passage, not a broken gate
    assert r.problems() == [] and r.report()["g1"].refused_recent == 4
    now[0] = 601.0
    assert r.report() == {}, "the window has passed"
    r.refused(None, "malformed")  # a topic of no gate: nothing to say about a gate
    assert r.report() == {}

