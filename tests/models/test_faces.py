"""The face layer on real photos: detection, landmarks, embeddings, quality."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.errors import ImageError
from models.imageio import check_image, read_image
from tests.conftest import FACES, SCENES, SHARED, needs_shared, person_of, photos

ALL = photos()


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
@needs_shared
def test_a_portrait_yields_a_face_with_five_landmarks_inside_the_box(engine, path: Path) -> None:
    faces = engine.analyze(read_image(path))
    assert faces, f"{path}: no face"
    f = faces[0]
    x1, y1, x2, y2 = f.box
    assert f.landmarks.shape == (5, 2)
    assert ((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2)).all()
    assert ((f.landmarks[:, 1] > y1) & (f.landmarks[:, 1] < y2)).all()
    # Eyes above the nose above the mouth corners.
    assert f.landmarks[:2, 1].max() < f.landmarks[2, 1] < f.landmarks[3:, 1].min()
    assert f.embedding is not None and f.embedding.shape == (128,)
    assert abs(np.linalg.norm(f.embedding) - 1) < 1e-4
    assert f.aligned.shape == (112, 112, 3)
    assert f.quality.ok, f.quality.reasons


@pytest.mark.parametrize("scene,count", [("2.jpg", 2), ("6.jpg", 6)])
@needs_shared
def test_a_group_photo_finds_every_face(engine, scene: str, count: int) -> None:
    dets = engine.detect(read_image(SCENES / scene))
    assert len(dets) == count
    areas = dets.areas
    assert (np.diff(areas) <= 0).all(), "faces must come largest first"


def test_no_face_in_an_empty_picture(engine) -> None:
    assert engine.analyze(np.full((480, 640, 3), 127, np.uint8)) == []


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@needs_shared
def test_boxes_agree_with_opencvs_own_yunet(engine) -> None:
    """Same model through cv2.FaceDetectorYN: every face found by both, boxes overlapping."""
    img = read_image(SCENES / "6.jpg")
    h, w = img.shape[:2]
    peer = cv2.FaceDetectorYN.create(str(engine.files.detector_path), "", (w, h), 0.6, 0.3)
    _, theirs = peer.detect(img)
    ours = engine.detect(img).xyxy
    theirs_xyxy = np.concatenate([theirs[:, :2], theirs[:, :2] + theirs[:, 2:4]], axis=1)
    assert len(ours) == len(theirs_xyxy)
    for box in ours:
        assert max(_iou(box, t) for t in theirs_xyxy) > 0.75


GENUINE = [(a, b) for a, b in itertools.combinations(ALL, 2) if person_of(a) == person_of(b)]
IMPOSTOR = [(a, b) for a, b in itertools.combinations(ALL, 2) if person_of(a) != person_of(b)]


@pytest.fixture(scope="module")
def embeddings(engine) -> dict[Path, np.ndarray]:
    return {p: engine.analyze(read_image(p))[0].embedding for p in ALL}


@needs_shared
def test_same_person_scores_above_the_threshold_on_every_core_pair(engine, embeddings) -> None:
    low = {
        f"{a.parent.name}/{a.name}~{b.name}": round(float(embeddings[a] @ embeddings[b]), 3)
        for a, b in GENUINE
        if float(embeddings[a] @ embeddings[b]) < engine.threshold
    }
    assert len(GENUINE) >= 8
    assert low == {}


@needs_shared
def test_different_people_score_below_the_threshold_on_every_core_pair(engine, embeddings) -> None:
    high = {
        f"{a.parent.name}/{a.name}~{b.parent.name}/{b.name}": round(
            float(embeddings[a] @ embeddings[b]), 3
        )
        for a, b in IMPOSTOR
        if float(embeddings[a] @ embeddings[b]) >= engine.threshold
    }
    assert len(IMPOSTOR) >= 80
    assert high == {}


@needs_shared
def test_sface_input_convention(engine, embeddings) -> None:
    """SFace wants RGB (as OpenCV's FaceRecognizerSF feeds it): RGB separates people better."""
    colour = [p for p in ALL if not p.parent.name.startswith("bbt_")]
    crops = {p: engine.analyze(read_image(p), embed="none")[0].aligned for p in colour}

    def separation(swap_rb: bool) -> float:
        engine.embedder.swap_rb = swap_rb
        try:
            e = {p: engine.embed_crops([c])[0] for p, c in crops.items()}
        finally:
            engine.embedder.swap_rb = True
        gen = [e[a] @ e[b] for a, b in itertools.combinations(colour, 2) if a.parent == b.parent]
        imp = [e[a] @ e[b] for a, b in itertools.combinations(colour, 2) if a.parent != b.parent]
        return float(np.mean(gen) - np.mean(imp))

    assert separation(True) > separation(False)


def test_embedder_guards_a_zero_norm() -> None:
    from models.embedder import l2_normalize

    out = l2_normalize(np.array([[0.0, 0.0], [3.0, 4.0]], np.float32))
    np.testing.assert_allclose(out, [[0.0, 0.0], [0.6, 0.8]], atol=1e-6)
    assert np.isfinite(out).all()


@needs_shared
def test_blur_and_size_lower_quality_with_reasons(engine) -> None:
    img = read_image(FACES / "obama/1.jpg")
    sharp = engine.analyze(img)[0].quality
    blurred = engine.analyze(cv2.GaussianBlur(img, (0, 0), 6))[0].quality
    tiny = cv2.resize(img, None, fx=0.06, fy=0.06, interpolation=cv2.INTER_AREA)
    small = engine.analyze(cv2.copyMakeBorder(tiny, 100, 100, 100, 100, cv2.BORDER_CONSTANT))
    assert sharp.ok and sharp.score > 0.8
    assert blurred.sharpness < sharp.sharpness / 4
    assert blurred.score < sharp.score
    assert any(r.startswith("blurry:") for r in blurred.reasons)
    assert small, "the small face should still be detected"
    assert any(r.startswith("small_face:") for r in small[0].quality.reasons)


def test_pose_estimate_reads_a_turned_head() -> None:
    from models.quality import estimate_pose

    frontal = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
    yaw, pitch = estimate_pose(frontal)
    assert abs(yaw) < 3 and abs(pitch) < 3
    turned = frontal.copy()
    turned[2, 0] += 15  # nose far off the midline: head turned
    assert abs(estimate_pose(turned)[0]) > 30
    rolled = frontal @ np.array([[0.9, -0.44], [0.44, 0.9]])  # roll alone is not yaw
    assert abs(estimate_pose(rolled)[0]) < 3


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        ("not an array", "numpy array"),
    ],
)
def test_bad_arrays_raise_image_error(bad, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        check_image(bad)


def test_unreadable_file_raises_image_error(tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"\xff\xd8 this is not really a jpeg")
    with pytest.raises(ImageError, match="not an image"):
        read_image(f)
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.jpg")


SCRFD = SHARED / "models" / "scrfd" / "scrfd_500m_bnkps.onnx"


@pytest.mark.skipif(not SCRFD.is_file(), reason="../shared/models/scrfd not on this machine")
@pytest.mark.skipif(
    importlib.util.find_spec("insightface") is None,
    reason="insightface not installed (a dependency: pip install -e .)",
)
def test_scrfd_detector_through_insightface(gatewatch_home) -> None:
    from contract.config import FaceConfig
    from models.engine import FaceEngine

    eng = FaceEngine(FaceConfig(detector="scrfd", detector_file=SCRFD, det_score_threshold=0.5))
    assert eng.files.detector_kind == "scrfd"
    faces = eng.analyze(read_image(SCENES / "6.jpg"))
    assert len(faces) == 6
    assert eng.model_id.split("+")[1].startswith("scrfd-")
    a = eng.analyze(read_image(FACES / "obama/1.jpg"))[0].embedding
    b = eng.analyze(read_image(FACES / "obama/2.jpg"))[0].embedding
    assert float(a @ b) > eng.threshold


def test_every_model_kind_a_pack_names_has_a_loader(gatewatch_home) -> None:
    from contract.config import FaceConfig
    from models.detector import YuNetDetector
    from models.embedder import SFaceEmbedder
    from models.engine import DETECTORS, EMBEDDERS, FaceEngine, _loader
    from models.errors import ModelLoadError

    eng = FaceEngine(FaceConfig())
    assert isinstance(eng.detector, YuNetDetector) and isinstance(eng.embedder, SFaceEmbedder)
    assert {"yunet", "scrfd"} == set(DETECTORS) and {"sface", "arcface"} == set(EMBEDDERS)
    with pytest.raises(ModelLoadError, match="no detector of kind 'retina'; known: yunet, scrfd"):
        _loader(DETECTORS, "retina", "detector")


@pytest.mark.parametrize(
    ("face", "ok"),
    [
        ({"det_input_px": 640}, True),
        ({"det_input_px": 480}, False),  # YuNet's graph is fixed
        ({"detector": "yunet", "det_input_px": 320}, False),
        ({"detector": "scrfd", "detector_file": "/x/scrfd.onnx", "det_input_px": 320}, True),
    ],
)
def test_det_input_px_is_refused_where_the_detector_cannot_use_it(face: dict, ok: bool) -> None:
    from pydantic import ValidationError

    from contract.config import FaceConfig

    if ok:
        assert FaceConfig.model_validate(face).det_input_px == face["det_input_px"]
    else:
        with pytest.raises(ValidationError, match="YuNet's graph takes 640 only"):
            FaceConfig.model_validate(face)
