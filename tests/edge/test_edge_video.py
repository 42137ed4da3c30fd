"""The gate process on a generated gate video, end to end over a real broker."""

from __future__ import annotations

import json
from pathlib import Path

from contract.faces import PassageFace
from edge.faces.ring import looks_like_jpeg
from tests.edge.conftest import ENROLLED, build_gallery, start_edge, write_config
from tests.mqtt_helpers import connect, subscribe, wait_until


def test_one_event_per_passage_with_ids_roles_and_visitors(
    tmp_path: Path, broker, store_factory, gate_video: Path, engine
) -> None:
    site = "videotest"
    store = store_factory(site)
    # Rose is on the watchlist here: her passage's face crop is pushed at once (issue 18).
    people = {**ENROLLED, "p-rose": ("watchlist", ENROLLED["p-rose"][1])}
    gallery = build_gallery(engine, tmp_path / "gallery.npz", people)
    pushed: list[PassageFace] = []
    watcher = connect(broker.port, f"faces-{site}")
    watcher.on_message = lambda c, u, msg: (
        json.loads(msg.payload).get("kind") == "passage_face"
        and pushed.append(PassageFace.model_validate_json(msg.payload))
    )
    subscribe(watcher, [(store.topics.all_sightings(), 1)])
    cfg = write_config(
        tmp_path, site, broker.port,
        {"kind": "file", "location": str(gate_video), "pace": "lossless"}, gallery,
    )  # fmt: skip
    edge = start_edge(cfg, tmp_path / "edge.log")
    assert edge.wait(timeout=180) == 0, (tmp_path / "edge.log").read_text()[-3000:]
    log = (tmp_path / "edge.log").read_text()
    # The store takes deliveries in its own thread: wait for what the edge published before it
    # stopped (its last word, the retained "offline", comes after every passage).
    store.wait_for(lambda s: "g1" in s.status and s.status["g1"].state == "offline", 120,
                   "the edge's offline status")  # fmt: skip
    store.wait_for(lambda s: len(s.events) >= 6, 120, "six passages")
    events = store.passages()
    got = [(p.identity if p.identity_kind == "person" else p.identity_kind, p.role) for p in events]
    assert len(events) == 6, (got, log[-3000:])
    assert [p.seq for p in events] == list(range(1, 7))
    named = {p.identity: p.role for p in events if p.identity_kind == "person"}
    assert named == {"p-obama": "resident", "p-kit": "resident", "p-rose": "watchlist"}, got
    visitors = [p for p in events if p.identity_kind == "visitor"]
    assert len(visitors) == 3, got
    assert all(p.role == "visitor" and p.role_source == "visitor-gallery" for p in visitors)
    sheldon_1, alex, sheldon_2 = visitors
    assert sheldon_1.identity == sheldon_2.identity, "same unknown face must keep its visitor id"
    assert alex.identity != sheldon_1.identity
    for p in events:
        assert p.direction == "in" and p.site == site and p.gate == "g1"
        assert p.frames_used >= 1 and p.model_id == engine.model_id
    assert store.status["g1"].state == "offline"  # said on a clean stop
    # Each passage's best-frame crop stays on this machine, in the face ring (issue 18).
    ring = tmp_path / "faces"
    crops = {f.stem: f.read_bytes() for f in ring.glob("*.jpg")}
    assert set(crops) == {p.event_id for p in events}, log[-3000:]
    assert all(looks_like_jpeg(c) for c in crops.values())
    # Only the watchlist passage's crop left the gate, pushed before the edge said offline.
    wait_until(lambda: pushed, 60, "the watchlist passage's crop")
    watcher.loop_stop()
    watcher.disconnect()
    [rose] = [p for p in events if p.identity == "p-rose"]
    assert [(f.event_id, f.person_id, f.gate) for f in pushed] == [(rose.event_id, "p-rose", "g1")]
    assert pushed[0].jpeg() == crops[rose.event_id]
