"""The visitor gallery with heard visitors: one id across edges, the older id wins, expiry, and
the look-back match, on real faces (tests/data/faces through the real models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contract.visitors import VisitorTemplate
from edge.visitors import Merged, Seen, VisitorGallery
from models.imageio import read_image
from tests.conftest import FACES, require_shared

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def faces(engine) -> dict[str, np.ndarray]:
    """Unit embeddings of real photos by 'person/n'."""
    require_shared()
    names = ["bbt_sheldon/1", "bbt_sheldon/2", "obama/1", "obama/2", "alex_lacamoire/1"]
    out = {}
    for n in names:
        emb = engine.analyze(read_image(FACES / f"{n}.jpg"))[0].embedding
        out[n] = emb / np.linalg.norm(emb)
    return out


def gallery(engine, gate: str, expiry_s: float = 3600) -> VisitorGallery:
    return VisitorGallery(engine.dim, engine.threshold, expiry_s, 100, gate=gate)


def shared(vid: str, emb: np.ndarray, first_seen: datetime, gate: str = "north") -> VisitorTemplate:
    return VisitorTemplate(
        visitor_id=vid,
        model_id="sface:test",
        template=[float(x) for x in emb],
        first_seen=first_seen,
        last_seen=first_seen,
        minted_by=gate,
    )


def test_a_visitor_heard_from_another_edge_keeps_its_id_here(engine, faces) -> None:
    north, south = gallery(engine, "north"), gallery(engine, "south")
    seen: list[Seen] = []
    north.on_seen = seen.append
    vid, score = north.match_or_add(faces["bbt_sheldon/1"], now=0.0)
    assert score is None and [s.minted for s in seen] == [True] and seen[0].minted_by == "north"
    s = seen[0]
    t = shared(vid, s.template, s.first_seen)
    assert south.heard(t, left_s=3600, now=0.0) is None
    assert vid in south
    again, score = south.match_or_add(faces["bbt_sheldon/2"], now=10.0)
    assert again == vid and score is not None and score >= engine.threshold
    other, _ = south.match_or_add(faces["obama/1"], now=11.0)
    assert other != vid, "another face gets its own id"


@pytest.mark.parametrize(
    ("local_first", "heard_first", "winner"),
    [
        (T0, T0 + timedelta(seconds=2), "local"),  # the local id is older: it stays
        (T0 + timedelta(seconds=2), T0, "heard"),  # the heard id is older: adopted here
    ],
)
def test_two_ids_for_one_visitor_the_older_wins(
    engine, faces, local_first: datetime, heard_first: datetime, winner: str
) -> None:
    g = gallery(engine, "south")
    local = "v-bbbbbbbbbbbb"
    g.heard(shared(local, faces["bbt_sheldon/1"], local_first, "south"), 3600, now=0.0)
    heard = "v-aaaaaaaaaaaa"
    merged = g.heard(shared(heard, faces["bbt_sheldon/2"], heard_first), 3600, now=1.0)
    keep, alias = (local, heard) if winner == "local" else (heard, local)
    assert merged == Merged(alias=alias, visitor_id=keep)
    assert keep in g and alias not in g and len(g) == 1
    assert g.match_or_add(faces["bbt_sheldon/1"], now=2.0)[0] == keep
    # The loser's template heard again (a late refresh) does not bring it back.
    assert g.heard(shared(alias, faces["bbt_sheldon/2"], T0), 3600, now=3.0) is None
    assert alias not in g


def test_same_first_seen_the_smaller_id_wins(engine, faces) -> None:
    g = gallery(engine, "south")
    g.heard(shared("v-bbbbbbbbbbbb", faces["bbt_sheldon/1"], T0), 3600, now=0.0)
    merged = g.heard(shared("v-aaaaaaaaaaaa", faces["bbt_sheldon/2"], T0), 3600, now=0.0)
    assert merged == Merged(alias="v-bbbbbbbbbbbb", visitor_id="v-aaaaaaaaaaaa")


def test_a_heard_visitor_expires_when_its_message_would(engine, faces) -> None:
    g = gallery(engine, "south", expiry_s=3600)
    g.heard(shared("v-aaaaaaaaaaaa", faces["bbt_sheldon/1"], T0), left_s=30, now=100.0)
    assert g.expire(now=129.0) == 0 and "v-aaaaaaaaaaaa" in g
    assert g.expire(now=130.5) == 1 and len(g) == 0
    vid, score = g.match_or_add(faces["bbt_sheldon/2"], now=131.0)
    assert vid != "v-aaaaaaaaaaaa" and score is None, "an expired visitor is a new one"


def test_a_withdrawn_visitor_is_forgotten(engine, faces) -> None:
    g = gallery(engine, "south")
    g.heard(shared("v-aaaaaaaaaaaa", faces["obama/1"], T0), 3600, now=0.0)
    assert g.forget("v-aaaaaaaaaaaa") and not g.forget("v-aaaaaaaaaaaa") and len(g) == 0


def test_look_back_matches_the_live_visitors_above_the_threshold(engine, faces) -> None:
    g = gallery(engine, "north")
    sheldon, _ = g.match_or_add(faces["bbt_sheldon/1"], now=0.0)
    g.match_or_add(faces["obama/1"], now=0.0)
    g.match_or_add(faces["alex_lacamoire/1"], now=0.0)
    hits = g.matches(faces["bbt_sheldon/2"], threshold=0.30)
    assert [h.visitor_id for h in hits] == [sheldon]
    assert hits[0].score >= 0.30
    assert g.matches(faces["bbt_sheldon/2"], threshold=0.99) == []


def test_one_gate_cannot_push_out_the_others_visitors() -> None:
    """Issue 19 item 2: at most max_per_gate visitors from one gate; that gate's nearest expiry
    go first, in batches; the other gates' and this edge's own stay."""
    rng = np.random.default_rng(9)

    def vec() -> np.ndarray:
        v = rng.standard_normal(128).astype(np.float32)
        return v / np.linalg.norm(v)

    g = VisitorGallery(128, 0.9, 3600, max_visitors=1000, gate="south", max_per_gate=128)
    own, _ = g.match_or_add(vec(), now=0.0)
    east = shared("v-eeeeeeeeeeee", vec(), T0, gate="east")
    assert g.heard(east, 3600, now=0.0, gate="east") is None
    for i in range(1000):
        t = shared(f"v-{i:012x}", vec(), T0, gate="south")  # minted_by in the body: ignored
        g.heard(t, left_s=100 + i, now=1.0, gate="north")
    assert g.per_gate() == {"south": 1, "east": 1, "north": g.per_gate()["north"]}
    assert 100 <= g.per_gate()["north"] <= 128 and g.evicted >= 1000 - 128
    assert own in g and "v-eeeeeeeeeeee" in g and g.shared_by("v-eeeeeeeeeeee") == "east"
    assert f"v-{999:012x}" in g and f"v-{0:012x}" not in g, "the nearest expiry went first"
    assert g.shared_by(f"v-{999:012x}") == "north"
