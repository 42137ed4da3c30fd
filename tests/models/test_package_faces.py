"""The face layer on real faces that installed packages ship (no ../shared needed).

insightface's group photo ``t1.jpg`` (six people), its ``Tom_Hanks_54745.png`` and scikit-image's
``astronaut.png``, read from the installed packages at run time. These tests run on any machine
with ``pip install -e .``; the shared photos add the harder cases (tests/models/test_faces.py).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gatewatch.cast import (
    NO_PACKAGE_PHOTOS,
    Cast,
    CastError,
    default_cast,
    folder_cast,
    have_package_photos,
    members,
    package_photos,
)
from models.gallery import Gallery
from models.imageio import read_image

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = package_photos()
pytestmark = pytest.mark.skipif(not have_package_photos(), reason=NO_PACKAGE_PHOTOS)


def test_the_package_photos_are_installed() -> None:
    missing = [str(p) for p in PHOTOS.values() if not p.is_file()]
    assert missing == [], "insightface / scikit-image no longer ship these photos"


def test_the_group_photo_yields_six_faces_largest_first(engine) -> None:
    faces = engine.analyze(read_image(PHOTOS["t1"]))
    assert len(faces) == 6
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    for f in faces:
        x1, y1, x2, y2 = f.box
        assert ((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2)).all()
        assert ((f.landmarks[:, 1] > y1) & (f.landmarks[:, 1] < y2)).all()
        assert f.landmarks[:2, 1].max() < f.landmarks[2, 1] < f.landmarks[3:, 1].min()
        assert f.embedding is not None and abs(np.linalg.norm(f.embedding) - 1) < 1e-4
        assert f.quality.ok, f.quality.reasons


@pytest.fixture(scope="module")
def people(engine) -> dict[str, np.ndarray]:
    """One embedding per person: each face of t1.jpg, Tom Hanks, the astronaut."""
    out = {f"t1-{i}": f.embedding for i, f in enumerate(engine.analyze(read_image(PHOTOS["t1"])))}
    for name in ("tom_hanks", "astronaut"):
        out[name] = engine.analyze(read_image(PHOTOS[name]))[0].embedding
    return out


def test_eight_different_people_all_score_below_the_threshold(engine, people) -> None:
    # The closest pair (two faces of t1.jpg) scores 0.356 against the threshold 0.36.
    high = {
        f"{a}~{b}": round(float(people[a] @ people[b]), 3)
        for a, b in itertools.combinations(people, 2)
        if float(people[a] @ people[b]) >= engine.threshold
    }
    assert len(people) == 8
    assert high == {}


@pytest.mark.parametrize("name", ["astronaut", "tom_hanks"])
def test_the_same_face_relit_rescaled_mirrored_or_blurred_stays_above_the_threshold(
    engine, name: str
) -> None:
    img = read_image(PHOTOS[name])
    ref = engine.analyze(img)[0].embedding
    variants = {
        "mirrored": cv2.flip(img, 1),
        "brighter": cv2.convertScaleAbs(img, alpha=1.2, beta=10),
        "darker": cv2.convertScaleAbs(img, alpha=0.8, beta=-10),
        "larger": cv2.resize(img, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC),
        "blurred": cv2.GaussianBlur(img, (0, 0), 1.2),
    }
    low = {}
    for what, v in variants.items():
        faces = engine.analyze(v)
        score = float(faces[0].embedding @ ref) if faces else -1.0
        if score < engine.threshold:
            low[what] = round(score, 3)
    assert low == {}


def test_blur_and_size_lower_quality_with_reasons(engine) -> None:
    img = read_image(PHOTOS["astronaut"])
    sharp = engine.analyze(img)[0].quality
    blurred = engine.analyze(cv2.GaussianBlur(img, (0, 0), 6))[0].quality
    tiny = cv2.resize(img, None, fx=0.14, fy=0.14, interpolation=cv2.INTER_AREA)
    small = engine.analyze(cv2.copyMakeBorder(tiny, 100, 100, 100, 100, cv2.BORDER_CONSTANT))
    assert sharp.ok and sharp.score > 0.8
    assert blurred.sharpness < sharp.sharpness / 4
    assert blurred.score < sharp.score
    assert any(r.startswith("blurry:") for r in blurred.reasons)
    assert small, "the small face should still be detected"
    assert any(r.startswith("small_face:") for r in small[0].quality.reasons)


@pytest.fixture(scope="module")
def cast(engine, tmp_path_factory: pytest.TempPathFactory) -> Cast:
    return default_cast(engine, tmp_path_factory.mktemp("cast"))


def test_the_default_cast_is_six_different_people_with_separate_files(cast: Cast) -> None:
    parts = dict(members(cast))
    assert len({m.source for m in parts.values()}) == 6
    assert len(parts["elder"].enroll) == 2 and parts["visitor"].enroll == ()
    for part, m in parts.items():
        walk = cast.folder / m.walk
        assert walk.is_file() and all(p.is_file() for p in m.enroll), part
        assert walk not in m.enroll
        assert all(p.read_bytes() != walk.read_bytes() for p in m.enroll), part
    assert "SAME photo" in cast.note


def test_a_gallery_of_the_cast_names_each_walker_and_not_the_visitor(engine, cast: Cast) -> None:
    def emb(p: Path) -> np.ndarray:
        return engine.analyze(read_image(p))[0].embedding

    parts = dict(members(cast))
    enrolled = {part: m for part, m in parts.items() if part != "visitor"}
    g = Gallery(engine.model_id, engine.dim)
    g.add_many(
        [(part, "resident", np.stack([emb(p) for p in m.enroll])) for part, m in enrolled.items()]
    )
    for part, m in enrolled.items():
        hit = g.search(emb(cast.folder / m.walk), k=2)[0]
        assert hit.best is not None and hit.best.person_id == part
        assert hit.best.score >= engine.threshold and hit.margin > 0.3
    stranger = g.search(emb(cast.folder / parts["visitor"].walk), k=1)[0]
    assert stranger.best is not None and stranger.best.score < engine.threshold


def test_a_folder_with_too_few_people_is_refused_with_what_was_found(
    engine, tmp_path: Path
) -> None:
    for name in ("astronaut", "tom_hanks"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.png").write_bytes(PHOTOS[name].read_bytes())
    with pytest.raises(CastError, match=r"not enough distinct people.*found 2"):
        folder_cast(engine, tmp_path)
    with pytest.raises(CastError, match="no such folder"):
        folder_cast(engine, tmp_path / "nope")


def gatewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_verify_cli_on_package_photos(tmp_path: Path) -> None:
    brighter = tmp_path / "astronaut-brighter.jpg"
    img = read_image(PHOTOS["astronaut"])
    cv2.imwrite(str(brighter), cv2.convertScaleAbs(img, alpha=1.2, beta=10))
    for other, same in ((brighter, True), (PHOTOS["tom_hanks"], False)):
        r = gatewatch("verify", str(PHOTOS["astronaut"]), str(other), "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["same"] is same and (out["score"] >= out["threshold"]) is same
