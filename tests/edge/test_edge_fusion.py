"""decision.fusion: the vote (mean score per person over the best frames) or track-level fusion
(one quality-weighted mean template), on a track whose frames are different real photos."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import FUSED_FAR_RATIO, DecisionConfig
from edge.decide import Judge
from edge.tracker import Sample, Track
from models.gallery import Gallery
from models.imageio import read_image
from models.learning import fuse
from tests.conftest import FACES, needs_shared

WALK = ("obama/2.jpg", "obama/4.jpg", "bbt_amy/2.jpg")  # the last: a frame of someone else


def _emb(engine, photo: str) -> np.ndarray:  # noqa: ANN001
    return max(engine.analyze(read_image(FACES / photo)), key=lambda f: f.area).embedding


@needs_shared
@pytest.mark.parametrize("fusion", ["vote", "mean"])
def test_fusion_scores_the_quality_weighted_mean_template(engine, fusion: str) -> None:  # noqa: ANN001
    g = Gallery(engine.model_id, engine.dim)
    g.add_many([("p-obama", "resident", _emb(engine, "obama/1.jpg")[None]),
                ("p-amy", "staff", _emb(engine, "bbt_amy/1.jpg")[None])])  # fmt: skip
    e = np.stack([_emb(engine, p) for p in WALK])
    q = np.array([0.9, 0.8, 0.3], np.float32)
    t = Track(id=1, box=np.zeros(4, np.float32), first_seen=0, last_seen=1,
              first_centre=np.zeros(2, np.float32), centre=np.zeros(2, np.float32))  # fmt: skip
    t.samples = [Sample(x, float(w), 0.1 * i) for i, (x, w) in enumerate(zip(e, q, strict=True))]
    v = Judge(DecisionConfig(fusion=fusion), 0.5, 0.05, None).vote(t, g)
    per_person = {pid: e @ g.templates_of(pid)[0] for pid in ("p-obama", "p-amy")}
    assert v.person_id == "p-obama" and v.frames == 3
    if fusion == "vote":
        expected = float(per_person["p-obama"].mean())
        second = float(per_person["p-amy"].mean())
    else:
        f = fuse(e, q)
        expected = float(f @ g.templates_of("p-obama")[0])
        second = float(f @ g.templates_of("p-amy")[0])
        # The frames differ, so their mean template is shorter than 1: fusion scores higher.
        assert expected > float(per_person["p-obama"].mean())
    assert v.score == pytest.approx(expected, abs=1e-5)
    assert v.margin == pytest.approx(expected - second, abs=1e-5)


@pytest.mark.parametrize("fusion,divisor", [("vote", 1.0), ("mean", FUSED_FAR_RATIO)])
def test_fusion_asks_the_curve_for_smaller_shares(fusion: str, divisor: float) -> None:
    cfg = DecisionConfig(fusion=fusion)
    assert cfg.naming_fpir() == pytest.approx(cfg.target_fpir / divisor)
    policy = cfg.learning()
    assert policy.review_fpir == pytest.approx(cfg.review_fpir / divisor)
    assert policy.learn_fpir == pytest.approx(cfg.learn_fpir / divisor)
    assert policy.learn_min_frames == cfg.learn_min_frames
    assert policy.learn_margin == cfg.learn_margin
