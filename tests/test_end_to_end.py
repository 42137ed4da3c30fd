"""End to end: broker, server, three edges and the enrollment CLI as separate processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatewatch.cast import NO_PACKAGE_PHOTOS, have_package_photos
from gatewatch.demo import PEOPLE, Demo

pytestmark = pytest.mark.skipif(not have_package_photos(), reason=NO_PACKAGE_PHOTOS)


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory: pytest.TempPathFactory, gatewatch_home: Path):
    # The default cast: faces that installed packages ship, so this runs without ../shared.
    demo = Demo(tmp_path_factory.mktemp("e2e"), None, check=True)
    try:
        summary = demo.run()
        yield demo, summary
    finally:
        demo.stop_all()


def test_every_expected_passage_role_alert_and_sighting(finished_demo) -> None:
    _, summary = finished_demo
    assert summary["problems"] == []
    # Visitors: the never-enrolled one in and out (one id across gates), the newcomer before he
    # is enrolled. Residents: one more (changed on purpose) for the elder at the internal camera
    # at building 7's entrance (issue 10 §5).
    assert summary["by_role"] == {"resident": 6, "courier": 1, "watchlist": 1, "visitor": 3}


def test_the_visitor_leaves_under_the_id_it_came_in_with(finished_demo) -> None:
    demo, _ = finished_demo
    visitors = [p for p in demo.passages if p["role"] == "visitor"]
    ins = {p["identity"] for p in visitors if p["direction"] == "in"}
    outs = [p["identity"] for p in visitors if p["direction"] == "out"]
    assert len(outs) == 1 and outs[0] in ins, "one visitor id from the in-gate to the out-gate"


def test_the_store_holds_each_passage_once_and_the_sighting(finished_demo) -> None:
    from server.db import make_engine
    from server.store import Store

    demo, summary = finished_demo
    store = Store(make_engine(f"sqlite:///{demo.work / 'server' / 'gatewatch.db'}"))
    assert store.count_events() == summary["events"] == len(demo.passages)
    sightings = store.sightings(summary["search_id"])
    # The decision rule names the elder at building 7's internal camera, then at the out-gate.
    assert [(s.identity, s.gate) for s in sightings] == [
        ("p-elder", "building-7"),
        ("p-elder", "out-gate"),
    ]
    candidates = store.candidates(summary["search_id"])
    assert candidates and all(c.frames_at_threshold >= 2 for c in candidates)
    assert any(c.has_evidence for c in candidates)
    for gate in ("in-gate", "out-gate"):
        seqs = sorted(p["seq"] for p in demo.passages if p["gate"] == gate)
        assert seqs == list(range(1, len(seqs) + 1)), f"{gate}: gapless sequence"


def test_the_gallery_update_reached_both_edges(finished_demo) -> None:
    demo, _ = finished_demo
    for gate in ("in", "out"):
        log = (demo.work / f"edge-{gate}.log").read_text()
        assert "gallery v5 in use" in log, f"edge-{gate} never took the newcomer's gallery"
    named_later = [p for p in demo.passages if p["identity"] == PEOPLE["newcomer"].id]
    assert {p["gate"] for p in named_later} == {"in-gate", "out-gate"}
    # v5 holds the newcomer; later versions may add templates the gates learned (learn captures)
    assert all(p["gallery_version"] >= 5 for p in named_later), named_later
    first_pass = [p for p in demo.passages if p["gate"] == "in-gate"][5]
    assert first_pass["identity_kind"] == "visitor", "before enrollment the newcomer is a visitor"
