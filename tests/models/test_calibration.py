"""The open-set operating point: the threshold follows the gallery's persons and their templates,
the target FPIR and the population the gates serve (one curve each)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from contract.config import FaceConfig
from models.calibration import (
    CalibrationCurve,
    GallerySize,
    curve_path,
    fit_curve,
    load_curve,
    operating_point,
    save_curve,
)
from models.engine import CALIBRATED_THRESHOLD
from models.errors import ModelLoadError
from models.imageio import read_image
from tests.conftest import SHARED, person_of, photos

# The development sets the curves were fitted on (tests/conftest.py finds ../shared).
DEV = {"general": SHARED / "faces_wide_dev", "east_asian": SHARED / "faces_east_asian_dev"}
SIZES = [1, 10, 100, 267, 1_000, 5_000, 33_000, 1_000_000]


@pytest.fixture(scope="module", params=["east_asian", "general"])
def curve(request: pytest.FixtureRequest) -> CalibrationCurve:
    c = load_curve("sface", "none", population=request.param)
    assert c is not None, f"the sface pack ships a {request.param} curve in models/data/"
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
    # East-Asian impostor pairs pass 0.36 about twice as often: two people already need more.
    assert (curve.threshold_for(2, 0.003) == 0.36) == (curve.population == "general")


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
    assert "5,000 persons (5,000 templates" in q.why() and "0.003" in q.why()
    assert f"{curve.population} curve" in q.why() and q.curve == curve.label
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
    assert engine.calibration.population == "east_asian"  # a Chinese compound's default
    small, large = engine.operating_point(5, 0.003), engine.operating_point(33_000, 0.003)
    assert small.threshold < large.threshold and large.source == "calibration"
    assert large.population == "east_asian"
    assert engine.threshold == 0.36  # the one-to-one threshold is unchanged


@pytest.mark.parametrize("n", [100, 5_000, 33_000])
def test_east_asian_faces_need_a_higher_threshold_than_news_photos(engine, n: int) -> None:  # noqa: ANN001
    ea = engine.operating_point(n, 0.003, "east_asian")
    general = engine.operating_point(n, 0.003, "general")
    assert ea.threshold > general.threshold + 0.01
    assert "east_asian curve faces_east_asian_dev" in ea.why()
    assert "general curve faces_wide_dev" in general.why()
    assert ea.curve is not None and ea.curve.startswith("sface east_asian: faces_east_asian_dev (")


@pytest.mark.parametrize("population", ["east_asian", "general"])
@pytest.mark.parametrize("tta", ["none", "flip"])
def test_the_shipped_curves_load_and_say_whose_they_are(population: str, tta: str) -> None:
    c = load_curve("sface", tta, population=population)  # type: ignore[arg-type]
    assert c is not None and (c.population, c.tta, c.pack) == (population, tta, "sface")
    assert curve_path("sface", tta, population=population).name == (  # type: ignore[arg-type]
        f"calibration_sface{'_east_asian' if population == 'east_asian' else ''}"
        f"{'_flip' if tta == 'flip' else ''}.json"
    )
    assert c.tail.gpd_shape is not None and abs(c.tail.gpd_shape) < 0.1  # exponential-like
    pp = c.per_person
    assert pp is not None and pp.k[0] == 1 and max(pp.k) >= 4 and pp.far_levels
    assert all(0.5 < a <= 1 for a in pp.exponents)
    for row in pp.measured:  # k templates: more chances than one, at most k
        assert all(1 <= r <= k + 1e-9 for r, k in zip(row, pp.k, strict=True))


def test_a_curve_file_is_checked_on_load(tmp_path: Path) -> None:
    general = load_curve("sface", "none", population="general")
    assert general is not None
    # A file written before curves had a population (and per-person counting): general.
    old = general.model_dump(exclude={"population", "per_person"})
    (tmp_path / "calibration_sface.json").write_text(json.dumps(old))
    back = load_curve("sface", "none", tmp_path, population="general")
    assert back is not None and back.population == "general" and back.per_person is None
    # A general curve saved where the East-Asian one belongs is refused, not used.
    save_curve(general, curve_path("sface", "none", tmp_path, "east_asian"))
    with pytest.raises(ModelLoadError, match="expected sface/none/east_asian"):
        load_curve("sface", "none", tmp_path, population="east_asian")
    bad = general.model_dump() | {"population": "martian"}
    (tmp_path / "calibration_sface.json").write_text(json.dumps(bad))
    with pytest.raises(ModelLoadError, match="not a valid calibration curve"):
        load_curve("sface", "none", tmp_path, population="general")


def test_a_persons_templates_count_per_person(curve: CalibrationCurve) -> None:
    pp = curve.per_person
    assert pp is not None
    # Small galleries: the threshold sits where a person's templates are clearly correlated.
    n = 10
    one_with_three = GallerySize.of_counts([1] * n + [3])
    three_more = GallerySize.singles(n + 3)
    one_more = GallerySize.singles(n + 1)
    t3 = curve.threshold_for(one_with_three, 0.003)
    assert pp.exponent(curve.far(t3)) < 1
    assert curve.threshold_for(one_more, 0.003) < t3 < curve.threshold_for(three_more, 0.003)
    assert 1 < curve.effective_size(one_with_three, t3) - n < 3
    # The threshold keeps the target, counted per person, and is not needlessly high.
    fpir = curve.fpir(one_with_three, t3)
    assert fpir <= 0.003 * (1 + 1e-3) < curve.fpir(one_with_three, t3 - 0.002)
    # Persons with one template each count as before.
    singles = GallerySize.singles(5_000)
    assert curve.threshold_for(singles, 0.003) == curve.threshold_for(5_000, 0.003)


@pytest.mark.parametrize("n", [100, 1_000, 33_000])
def test_a_gallery_that_learns_raises_the_threshold_but_never_past_counting_templates(
    curve: CalibrationCurve, n: int
) -> None:
    ts = [curve.threshold_for(GallerySize.of_histogram({k: n}), 0.003) for k in (1, 2, 3, 8)]
    assert ts == sorted(ts) and ts[-1] > ts[0]
    # Between counting persons only and counting every template as a person of its own.
    for k, t in zip((1, 2, 3, 8), ts, strict=True):
        assert curve.threshold_for(n, 0.003) <= t <= curve.threshold_for(k * n, 0.003)


def test_the_engine_takes_a_gallerys_template_counts(engine) -> None:  # noqa: ANN001
    size = GallerySize.of_counts([1] * 5_700 + [3] * 42)
    p = engine.operating_point(size, 0.003)
    assert (p.persons, p.gallery_size) == (5_742, 5_826)
    assert p.threshold == engine.calibration.threshold_for(size, 0.003)
    assert p.why().startswith("target FPIR 0.003 at 5,742 persons (5,826 templates, counted ")
    assert "east_asian curve faces_east_asian_dev + distractors_dev) -> threshold 0.5" in p.why()


@pytest.mark.parametrize("population", ["general", "east_asian"])
def test_the_shipped_curve_matches_real_impostor_pairs(engine, population: str) -> None:  # noqa: ANN001
    dev = DEV[population]
    if not dev.is_dir():
        pytest.skip(f"development set {dev} not present")
    # First photo of 150 people of the development set: 11,175 pairs of different people.
    firsts = sorted(dev.glob("*/1.jpg"))[:150]
    e = []
    for p in firsts:
        faces = engine.analyze(read_image(p))
        e.append(max(faces, key=lambda f: f.area).embedding)
    sims = np.stack(e) @ np.stack(e).T
    imp = sims[np.triu_indices(len(e), 1)]
    c = load_curve("sface", "none", population=population)  # type: ignore[arg-type]
    assert c is not None and c.population == population
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
