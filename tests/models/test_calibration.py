"""The open-set operating point: the threshold follows the gallery's size and the target FPIR."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from contract.config import FaceConfig
from models.calibration import CalibrationCurve, fit_curve, load_curve, operating_point
from models.engine import CALIBRATED_THRESHOLD
from models.imageio import read_image
from tests.conftest import SHARED, person_of, photos

# The development set the curve was fitted on (tests/conftest.py finds ../shared).
DEV = SHARED / "faces_wide_dev"
SIZES = [1, 10, 100, 267, 1_000, 5_000, 33_000, 1_000_000]


@pytest.fixture(scope="module")
def curve() -> CalibrationCurve:
    c = load_curve("sface", "none")
    assert c is not None, "the sface pack ships models/data/calibration_sface.json"
    return c


@pytest.mark.parametrize("target", [0.001, 0.003, 0.01, 0.05])
def test_threshold_rises_with_the_gallery_and_keeps_the_target(
    curve: CalibrationCurve, target: float
) -> None:
    ts = [curve.threshold_for(n, target) for n in SIZES]
    assert ts == sorted(ts) and ts[-1] > ts[3] > ts[0]
    for n, t in zip(SIZES, ts, strict=True):
        assert t >= curve.floor
        # The expected share of strangers named stays within the target at every size.
        assert curve.fpir(n, t) <= target * (1 + 1e-3), (n, t, curve.fpir(n, t))
        if t > curve.floor + 1e-3:  # and the threshold is not needlessly high
            assert curve.fpir(n, t - 0.005) > target


@pytest.mark.parametrize("n", [100, 1_000, 33_000])
def test_a_stricter_target_gives_a_higher_threshold(curve: CalibrationCurve, n: int) -> None:
    ts = [curve.threshold_for(n, x) for x in (0.1, 0.01, 0.003, 0.001)]
    assert ts == sorted(ts) and len(set(ts)) == 4


def test_tiny_galleries_keep_the_one_to_one_threshold(curve: CalibrationCurve) -> None:
    assert curve.floor == CALIBRATED_THRESHOLD["sface"] == 0.36
    assert curve.threshold_for(1, 0.003) == 0.36
    assert curve.threshold_for(2, 0.003) == 0.36


def test_33000_residents_stay_within_the_target_by_the_extrapolated_tail(
    curve: CalibrationCurve,
) -> None:
    t = curve.threshold_for(33_000, 0.003)
    per_comparison = -math.expm1(math.log1p(-0.003) / 33_000)  # about 9e-8
    assert t > curve.tail.start  # far beyond what 640,000 pairs can count: the fitted tail
    assert curve.far(t) == pytest.approx(per_comparison, rel=1e-2)
    assert curve.far(t) == pytest.approx(
        curve.tail.share * math.exp(-(t - curve.tail.start) / curve.tail.scale), rel=1e-9
    )
    assert curve.fpir(33_000, t) <= 0.003 * (1 + 1e-3)
    assert 0.55 < t < 0.70


def test_the_tail_fit_recovers_a_known_exponential_tail() -> None:
    # A statistics check of the estimator, not faces: scores whose upper tail is exponential with
    # a known scale; the fitted curve must predict the true rate far beyond the counted range.
    q = np.linspace(0, 1, 400_001)[1:-1]
    scores = 0.3 - 0.05 * np.log1p(-q)  # exact quantiles of 0.3 + Exp(scale 0.05)
    c = fit_curve(scores, pack="x", tta="none", source="exponential quantiles", floor=-1.0)
    assert c.tail.scale == pytest.approx(0.05, rel=0.02)
    for t in (0.7, 0.9, 1.1):  # true FAR exp(-(t - 0.3)/0.05): 3e-4 ... 1e-7
        assert c.far(t) == pytest.approx(math.exp(-(t - 0.3) / 0.05), rel=0.1)


def test_a_configured_threshold_overrides_the_curve(curve: CalibrationCurve) -> None:
    p = operating_point(curve, gallery_size=5_000, target_fpir=0.003, configured=0.42, fixed=0.36)
    assert p.threshold == 0.42 and p.source == "configured" and "overrides" in p.why()
    assert p.expected_fpir is not None and p.expected_fpir > 0.003  # and says what it costs
    q = operating_point(curve, gallery_size=5_000, target_fpir=0.003, configured=None, fixed=0.36)
    assert q.source == "calibration" and q.threshold == curve.threshold_for(5_000, 0.003)
    assert "5000 templates" in q.why() and "0.003" in q.why()
    r = operating_point(None, gallery_size=5_000, target_fpir=0.003, configured=None, fixed=0.35)
    assert r.threshold == 0.35 and r.source == "fixed" and "not measured" in r.why()


def test_bad_targets_are_refused(curve: CalibrationCurve) -> None:
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="target_fpir"):
            curve.threshold_for(100, bad)
    with pytest.raises(ValueError, match="too few"):
        fit_curve(np.linspace(0, 1, 100), pack="x", tta="none", source="s", floor=0.0)


def test_engine_operating_point_uses_its_pack_curve(engine) -> None:  # noqa: ANN001
    assert engine.calibration is not None and engine.calibration.tta == "none"
    small, large = engine.operating_point(5, 0.003), engine.operating_point(33_000, 0.003)
    assert small.threshold < large.threshold and large.source == "calibration"
    assert engine.threshold == 0.36  # the one-to-one threshold is unchanged


@pytest.mark.skipif(not DEV.is_dir(), reason=f"development set {DEV} not present")
def test_the_shipped_curve_matches_real_impostor_pairs(engine) -> None:  # noqa: ANN001
    # First photo of 150 people of the development set: 11,175 pairs of different people.
    firsts = sorted(DEV.glob("*/1.jpg"))[:150]
    e = []
    for p in firsts:
        faces = engine.analyze(read_image(p))
        e.append(max(faces, key=lambda f: f.area).embedding)
    sims = np.stack(e) @ np.stack(e).T
    imp = sims[np.triu_indices(len(e), 1)]
    c = load_curve("sface", "none")
    assert c is not None
    for t in (0.25, 0.30):  # where 11,175 pairs count enough (FAR >= 1e-3)
        measured = float((imp >= t).mean())
        assert c.far(t) / 2 < measured < c.far(t) * 2, (t, measured, c.far(t))


def test_flip_tta_embeds_face_and_mirror_and_keeps_people_apart(engine, gatewatch_home) -> None:  # noqa: ANN001
    from models.engine import FaceEngine

    tta = FaceEngine(FaceConfig(flip_tta=True))
    assert tta.calibration is not None and tta.calibration.tta == "flip"
    embs = {}
    mirror_tta, mirror_plain = [], []
    for path in photos():
        img = read_image(path)
        f = max(tta.analyze(img), key=lambda x: x.area)
        plain = max(engine.analyze(img), key=lambda x: x.area)
        both = engine.embed_crops([plain.aligned, np.ascontiguousarray(plain.aligned[:, ::-1])])
        mean = both.sum(axis=0) / np.linalg.norm(both.sum(axis=0))
        assert float(f.embedding @ mean) > 0.999  # the mean of the face and its mirror
        # The mirrored photo: closer to the photo with TTA than without.
        flipped = np.ascontiguousarray(img[:, ::-1])
        g = max(tta.analyze(flipped), key=lambda x: x.area)
        h = max(engine.analyze(flipped), key=lambda x: x.area)
        mirror_tta.append(float(f.embedding @ g.embedding))
        mirror_plain.append(float(plain.embedding @ h.embedding))
        embs[path] = f.embedding
    assert np.mean(mirror_tta) > np.mean(mirror_plain) and min(mirror_tta) > 0.9
    for a, b in itertools.combinations(embs, 2):
        s = float(embs[a] @ embs[b])
        if person_of(a) == person_of(b):
            assert s >= tta.threshold, (a, b, s)
        else:
            assert s < tta.threshold, (a, b, s)
