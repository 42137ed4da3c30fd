"""The face CLI as a user runs it: real processes, real photos, the documented JSON shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FACES, SCENES, needs_shared, person_of, photos, require_shared

ROOT = Path(__file__).resolve().parents[1]


def gatewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@needs_shared
def test_embed_json_shape_and_a_bad_image_among_good_ones(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    good_a, good_b = str(FACES / "obama/1.jpg"), str(SCENES / "2.jpg")
    r = gatewatch("embed", good_a, str(bad), good_b, "--json")
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    assert [o["image"] for o in out] == [good_a, str(bad), good_b]
    assert out[0]["error"] is None and len(out[0]["faces"]) == 1
    assert "not an image" in out[1]["error"] and out[1]["faces"] == []
    face = out[0]["faces"][0]
    assert set(face) == {
        "box", "landmarks", "det_score", "quality", "quality_reasons", "embedding", "model"
    }  # fmt: skip
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5
    assert len(face["embedding"]) == 128 and face["model"].startswith("sface:")
    areas = [(f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]) for f in out[2]["faces"]]
    assert len(areas) == 2 and areas == sorted(areas, reverse=True)
    assert "broken.jpg" in r.stderr


@pytest.mark.parametrize(
    "a,b,same",
    [("obama/1.jpg", "obama/4.jpg", True), ("obama/1.jpg", "biden/1.jpg", False)],
)
@needs_shared
def test_verify(a: str, b: str, same: bool) -> None:
    r = gatewatch("verify", str(FACES / a), str(FACES / b), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["same"] is same
    assert (out["score"] >= out["threshold"]) is same
    text = gatewatch("verify", str(FACES / a), str(FACES / b))
    assert ("same person" if same else "different people") in text.stdout


@needs_shared
def test_verify_without_a_face_is_bad_input(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    r = gatewatch("verify", str(FACES / "obama/1.jpg"), str(blank))
    assert r.returncode == 2
    assert "no face found" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def gallery_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Gallery built from six shared people (alex_lacamoire, left out, is the unknown)."""
    require_shared()
    folder = tmp_path_factory.mktemp("people")
    for photo in photos():
        if person_of(photo) != "alex_lacamoire":
            (folder / person_of(photo)).mkdir(exist_ok=True)
            shutil.copy(photo, folder / person_of(photo) / photo.name)
    (folder / "roles.csv").write_text("person_id,role\nbiden,staff\nbbt_amy,courier\n")
    out = folder.parent / "compound.snapshot"
    r = gatewatch("gallery", "build", str(folder), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_gallery_build_reports_rejected_photos(gallery_file) -> None:
    out, report = gallery_file
    assert out.is_file()
    assert report["persons"] == 6
    rejected = {Path(r["photo"]).relative_to(Path(r["photo"]).parents[1]).as_posix(): r["reason"]
                for r in report["rejected"]}  # fmt: skip
    # biden/2.jpg: YuNet also finds a face in the painting behind him.
    assert rejected == {"biden/2.jpg": "2 faces; use a photo of one person"}
    assert report["templates"] == 13 - 1  # 13 photos, one rejected


@needs_shared
def test_gallery_build_refuses_a_bad_roles_file(tmp_path: Path) -> None:
    (tmp_path / "obama").mkdir()
    shutil.copy(FACES / "obama/1.jpg", tmp_path / "obama")
    (tmp_path / "roles.csv").write_text("person_id,role\nobama,president\n")
    r = gatewatch("gallery", "build", str(tmp_path), "--out", str(tmp_path / "g"))
    assert r.returncode == 2
    assert "roles.csv:2: role 'president'" in r.stderr


def test_identify_names_enrolled_people_and_not_the_left_out_one(gallery_file) -> None:
    gallery, _ = gallery_file
    images = [FACES / "obama/4.jpg", FACES / "bbt_amy/2.jpg", FACES / "alex_lacamoire/1.jpg"]
    r = gatewatch("identify", *map(str, images), "--gallery", str(gallery), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o["image"] for o in out] == list(map(str, images))
    faces = [o["faces"][0] for o in out]
    assert [(f["person_id"], f["role"], f["decision"]) for f in faces] == [
        ("obama", "resident", "known"),
        ("bbt_amy", "courier", "known"),
        (None, None, "unknown"),
    ]
    assert set(faces[0]) >= {"box", "person_id", "role", "score", "margin", "decision"}
    assert faces[0]["margin"] > 0


def test_identify_a_group_photo(gallery_file) -> None:
    gallery, _ = gallery_file
    r = gatewatch("identify", str(SCENES / "2.jpg"), "--gallery", str(gallery), "--json")
    assert r.returncode == 0, r.stderr
    named = {f["person_id"] for f in json.loads(r.stdout)[0]["faces"]}
    assert named == {"kit_harington", "rose_leslie"}


@needs_shared
def test_identify_refuses_a_corrupt_gallery(tmp_path: Path) -> None:
    bad = tmp_path / "g.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    r = gatewatch("identify", str(FACES / "obama/1.jpg"), "--gallery", str(bad))
    assert r.returncode == 2
    assert "corrupt" in r.stderr and "Traceback" not in r.stderr


@needs_shared
def test_a_bad_config_key_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "face.yaml"
    cfg.write_text("face:\n  quality:\n    max_yaw_deg: 400\n  colour: blue\n")
    r = gatewatch("verify", str(FACES / "obama/1.jpg"), str(FACES / "obama/2.jpg"), "--config",
                  str(cfg))  # fmt: skip
    assert r.returncode == 2
    assert "face: quality.max_yaw_deg" in r.stderr and "face: colour" in r.stderr


def test_models_list_and_prepare() -> None:
    r = gatewatch("models", "prepare", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["embedder"]["dequantize_folded"] == 29
    r = gatewatch("models", "list", "--json")
    rows = {row["pack"]: row for row in json.loads(r.stdout)}
    assert rows["sface"]["prepared"] is True
    assert "non-commercial" in rows["buffalo_l"]["licence"]


@pytest.mark.parametrize("flag,used", [(None, "general"), ("east_asian", "east_asian")])
def test_identify_uses_the_galleries_population_unless_told(
    gallery_file, tmp_path: Path, flag: str | None, used: str
) -> None:
    from models.gallery import Gallery

    gallery, _ = gallery_file
    g = Gallery.load(gallery)
    g.population = "general"  # as `gatewatch gallery build --population general` writes it
    g.save(tmp_path / "general.snapshot")
    extra = ["--population", flag] if flag else []
    r = gatewatch("identify", str(FACES / "obama/4.jpg"), "--gallery",
                  str(tmp_path / "general.snapshot"), *extra)  # fmt: skip
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("operating point: target FPIR 0.003 at 6 persons (12 templates")
    assert f"{used} curve" in first


@needs_shared
def test_gallery_build_writes_the_population(tmp_path: Path) -> None:
    (tmp_path / "obama").mkdir()
    shutil.copy(FACES / "obama/1.jpg", tmp_path / "obama")
    out = tmp_path / "g.snapshot"
    r = gatewatch("gallery", "build", str(tmp_path), "--out", str(out), "--population",
                  "east_asian", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["population"] == "east_asian"
    from models.gallery import Gallery

    assert Gallery.load(out).population == "east_asian"
    bad = gatewatch("gallery", "build", str(tmp_path), "--out", str(out), "--population", "x")
    assert bad.returncode == 2 and "--population" in bad.stderr
