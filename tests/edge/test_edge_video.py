"""The gate process on a generated gate video, end to end over a real broker."""

from __future__ import annotations

from pathlib import Path

from tests.edge.conftest import ENROLLED, build_gallery, start_edge, write_config


def test_one_event_per_passage_with_ids_roles_and_visitors(
    tmp_path: Path, broker, store_factory, gate_video: Path, engine
) -> None:
    site = "videotest"
    store = store_factory(site)
    gallery = build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
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
    assert named == {"p-obama": "resident", "p-kit": "resident", "p-rose": "courier"}, got
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
