"""Security of the gallery that learns: a look-alike stranger who passes every day for a week is
never learned into anyone's gallery without an officer's confirmation.

The stranger is the closest real stranger in ../shared/faces_east_asian_dev to an enrolled
person: of every pair of different identities (first photos), the one scoring highest; one of
the two is enrolled with everyone else (628 residents), the other never is. He walks every day
for seven days with his photos in turn. Each day his gate sends what an honest edge would (a
review capture when his score for the resident lies in the review band) and what a faulty or
tampered edge might (a learn capture naming the resident with an inflated score, margin and
frames). Nothing is ever learned; his review item is rejected once and never asked again.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from scripts.standins import server_config
from server.states import ReviewState, TemplateSource
from tests.conftest import needs_shared
from tests.server.conftest import start_subscribed
from tests.server.learning_data import Compound, Gate, build_compound, capture, enroll

pytestmark = [needs_shared, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _closest_pair(c: Compound) -> tuple[str, str, float]:
    m = c.matrix
    s = m @ m.T
    np.fill_diagonal(s, -1)
    i, j = np.unravel_index(int(s.argmax()), s.shape)
    return c.ids[i], c.ids[j], float(s[i, j])


@pytest.fixture()
def stranger_and_server(tmp_path: Path, broker, db_url: str, engine, shared: Path):  # noqa: ANN001, ANN201
    from server.app import ServerApp

    full = build_compound(engine, shared / "faces_east_asian_dev")
    a, b, score = _closest_pair(full)
    # the stranger is the one of the pair with more photos to walk with
    stranger, resident = sorted((a, b), key=lambda p: -len(full.others(engine, p)))
    ids = [p for p in full.ids if p != stranger]
    c = Compound(full.root, ids, {p: full.enrolled[p] for p in ids}, full.model_id)
    site = "s" + secrets.token_hex(3)
    cfg = server_config(tmp_path, site, broker.port, db_url,
                        learning={"gallery_quiet_s": 0.2, "scan_interval_s": 3600})  # fmt: skip
    app = start_subscribed(ServerApp(cfg))
    enroll(app, c)
    yield app, c, full, stranger, resident, score
    app.stop()


def test_a_look_alike_walking_every_day_for_a_week_is_never_learned(
    stranger_and_server, broker, engine
) -> None:
    server, c, full, stranger, resident, pair_score = stranger_and_server
    pts = server.learning.points()
    walks = [full.enrolled[stranger], *full.others(engine, stranger)]
    assert len(walks) >= 2, "the stranger needs photos to walk with"
    print(f"look-alike: {stranger} for {resident} (first photos {pair_score:.3f}); points {pts}")
    assert pair_score > pts.anchor, "a real look-alike: he would pass the anchor on its own"
    gate = Gate(server, broker)
    start = datetime.now(UTC) - timedelta(days=7)
    outcomes: dict[str, list[str]] = {"learn": [], "review": []}
    try:
        for day, s in zip(range(7), itertools.cycle(walks), strict=False):
            ts = start + timedelta(days=day, hours=9)
            vid = f"v-{day:012x}"  # visitor ids expire: a new one most days
            honest, _ = c.honest(s.template, resident)
            if honest >= pts.review_floor:
                review = capture(server, c, s, resident, "review", identity=vid, ts=ts)
                outcomes["review"].append(gate.send(review) or "")
            tampered = capture(server, c, s, resident, "learn", ts=ts + timedelta(minutes=1),
                               score=0.95, margin=0.5, frames=9)  # fmt: skip
            outcomes["learn"].append(gate.send(tampered) or "")
            for item in server.learning.store.items(ReviewState.OPEN, 50):
                server.learning.judge(item.id, "reject", "officer1")  # the officer says no
    finally:
        gate.close()
    print("outcomes:", outcomes)
    assert len(outcomes["learn"]) == 7
    assert set(outcomes["learn"]) <= {"weak", "not_verified", "anchor_failed",
                                      "rejected_before"}, outcomes  # fmt: skip
    assert outcomes["review"].count("review_item") <= 1, "asked once, then never again"
    learned = [t for pid in (resident, *c.ids[:50])
               for t in server.learning.store.person_templates(pid)
               if t.source != TemplateSource.ENROLLMENT]  # fmt: skip
    assert learned == []
    assert server.learning.store.gallery_size().templates == len(c.ids), "no template added"
