"""Issue 10 §1 done-when: active searches never change who a passage says a person is.

A gate video of held-out-style faces (shared faces, enrolled with one photo, walking with another)
runs through a real edge twice over a real broker: without searches, then with searches active
for a third of the enrolled people.
"""

from __future__ import annotations

from pathlib import Path

from contract.events import Passage, SearchOrder
from scripts.search_trial import build_gallery, cast, run_edge
from tests.conftest import SHARED, needs_shared

N_ENROLLED, N_UNKNOWN = 9, 3


def _who(p: Passage) -> str:
    return p.identity if p.identity_kind == "person" and p.identity else p.identity_kind


@needs_shared
def test_searches_for_a_third_of_the_enrolled_rename_no_one(tmp_path: Path, broker, engine) -> None:
    from gatewatch.gatevideo import make_video

    faces = SHARED / "faces"
    walkers = cast(faces, N_ENROLLED, N_UNKNOWN)
    video = tmp_path / "gate.mp4"
    make_video(faces, [w.walk for w in walkers], video, pass_s=2.0, gap_s=0.6, lead_s=3.0)
    gallery = build_gallery(engine, faces, walkers, tmp_path / "gallery.npz")
    enrolled = [w.person_id for w in walkers if w.person_id]
    searched = enrolled[::3]
    orders = [SearchOrder(search_id=f"s-{i}", person_id=pid) for i, pid in enumerate(searched)]
    sid_of = {o.person_id: o.search_id for o in orders}

    plain = run_edge(tmp_path / "plain", broker.port, "plain", video, gallery, [])
    active = run_edge(tmp_path / "active", broker.port, "active", video, gallery, orders)

    assert [_who(p) for p in active.passages] == [_who(p) for p in plain.passages], active.log[
        -3000:
    ]
    assert all(p.search_id is None for p in plain.passages)
    named = {p.identity for p in active.passages if p.identity_kind == "person"}
    for pid in searched:
        if pid not in named:
            continue  # the decision rule did not name them (same without searches): no search id
        carried = [p.search_id for p in active.passages if p.identity == pid]
        assert carried and all(s == sid_of[pid] for s in carried), (pid, carried)
    for p in active.passages:
        if p.identity not in sid_of:
            assert p.search_id is None, f"{_who(p)} carries {p.search_id}"
    assert set(searched) & named, "at least one searched person must be named to test anything"
    # The searched people who walked give candidates with evidence; report how many others did.
    by_search = {c.search_id for c in active.candidates}
    assert {sid_of[pid] for pid in searched if pid in named} <= by_search
    assert all(c.evidence is not None and c.frames_at_threshold >= 2 for c in active.candidates)
    assert all(c.event_id for c in active.candidates)
