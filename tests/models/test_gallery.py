"""Gallery: search semantics, add/remove, snapshot round trip, refusals."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.errors import GalleryError
from models.gallery import Gallery
from models.imageio import read_image
from tests.conftest import FACES, require_shared


def _augment(img: np.ndarray) -> list[np.ndarray]:
    """Real variations of a real photo: mirror, brightness, scale, slight blur."""
    return [
        img,
        cv2.flip(img, 1),
        cv2.convertScaleAbs(img, alpha=1.2, beta=10),
        cv2.convertScaleAbs(img, alpha=0.8, beta=-10),
        cv2.resize(img, None, fx=0.6, fy=0.6),
        cv2.GaussianBlur(img, (0, 0), 1.2),
    ]


@pytest.fixture(scope="module")
def enrolled(engine) -> dict[str, np.ndarray]:
    """Per person: templates from their first photo and its variations."""
    require_shared()
    out = {}
    for person in ("obama", "biden", "kit_harington", "rose_leslie", "bbt_amy", "bbt_sheldon"):
        img = read_image(FACES / person / "1.jpg")
        out[person] = np.stack([engine.analyze(v)[0].embedding for v in _augment(img)])
    return out


@pytest.fixture(scope="module")
def probes(engine) -> dict[str, np.ndarray]:
    require_shared()
    out = {}
    for person in ("obama", "biden", "kit_harington", "rose_leslie", "bbt_amy", "bbt_sheldon"):
        out[person] = engine.analyze(read_image(FACES / person / "2.jpg"))[0].embedding
    out["alex_lacamoire"] = engine.analyze(read_image(FACES / "alex_lacamoire/1.jpg"))[0].embedding
    return out


@pytest.fixture()
def gallery(engine, enrolled) -> Gallery:
    g = Gallery(engine.model_id, engine.dim)
    g.add_many([(p, "resident", e) for p, e in enrolled.items()])
    return g


def test_search_finds_each_person_from_another_photo(gallery: Gallery, probes, engine) -> None:
    names = [p for p in probes if p != "alex_lacamoire"]
    hits = gallery.search(np.stack([probes[p] for p in names]), k=3)
    for name, hit in zip(names, hits, strict=True):
        assert hit.best is not None and hit.best.person_id == name
        assert hit.best.score >= engine.threshold
        assert len({c.person_id for c in hit.candidates}) == 3  # best template per person
        assert hit.margin == pytest.approx(hit.candidates[0].score - hit.candidates[1].score)


def test_a_left_out_person_stays_below_the_threshold(gallery: Gallery, probes, engine) -> None:
    hit = gallery.search(probes["alex_lacamoire"], k=2)[0]
    assert hit.best is not None and hit.best.score < engine.threshold


def test_add_replace_and_remove_bump_the_version(gallery: Gallery, enrolled) -> None:
    v = gallery.version
    n_templates = gallery.template_count
    gallery.add_person("obama", "staff", enrolled["obama"][:2])  # replace: fewer templates
    assert gallery.version == v + 1
    assert gallery.template_count == n_templates - 4
    assert gallery.role_of("obama") == "staff"
    gallery.remove_person("biden")
    assert gallery.version == v + 2
    assert "biden" not in gallery
    hit = gallery.search(enrolled["biden"][0], k=5)[0]
    assert "biden" not in [c.person_id for c in hit.candidates]
    with pytest.raises(KeyError):
        gallery.remove_person("biden")


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 7), np.float32), np.full((1, 128), np.nan, np.float32)],
    ids=["wrong-dim", "nan"],
)
def test_bad_embeddings_are_refused(gallery: Gallery, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        gallery.add_person("x1", "resident", bad)


def test_bad_role_is_refused(gallery: Gallery, enrolled) -> None:
    with pytest.raises(ValueError, match="role"):
        gallery.add_person("x2", "mayor", enrolled["obama"])


def test_snapshot_round_trip(gallery: Gallery, tmp_path: Path, probes, engine) -> None:
    gallery.remove_person("rose_leslie")
    path = tmp_path / "any-name.gallery"
    header = gallery.save(path)
    assert header.template_count == gallery.template_count
    back = Gallery.load(path, expected_model_id=engine.model_id)
    assert back.version == gallery.version
    assert [p.id for p in back.persons()] == [p.id for p in gallery.persons()]
    q = np.stack(list(probes.values()))
    for a, b in zip(gallery.search(q, 3), back.search(q, 3), strict=True):
        assert [c.person_id for c in a.candidates] == [c.person_id for c in b.candidates]
        np.testing.assert_allclose(
            [c.score for c in a.candidates], [c.score for c in b.candidates], atol=1e-6
        )


def _rewrite_member(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[member + ".npy"] = data
    with zipfile.ZipFile(path, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)


def test_tampered_snapshot_is_refused(gallery: Gallery, tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    gallery.save(path)
    with np.load(path) as z:
        vecs = z["embeddings"].copy()
    vecs[0, 0] += 0.25  # one number changed, file otherwise perfect
    import io

    buf = io.BytesIO()
    np.save(buf, vecs)
    _rewrite_member(path, "embeddings", buf.getvalue())
    with pytest.raises(GalleryError, match="hash mismatch"):
        Gallery.load(path)


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda raw: raw[: len(raw) // 2], "corrupt"),
        (lambda raw: b"hello, not a gallery", "corrupt"),
        (lambda raw: b"", "corrupt"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_corrupt_snapshot_is_refused(gallery: Gallery, tmp_path: Path, damage, match) -> None:
    path = tmp_path / "g.npz"
    gallery.save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(GalleryError, match=match):
        Gallery.load(path)


def test_wrong_model_is_refused(gallery: Gallery, tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    gallery.save(path)
    other = "buffalo_l:arcface-0123456789ab-d512+scrfd-0123456789ab"
    with pytest.raises(GalleryError, match="rebuild the gallery with the current models"):
        Gallery.load(path, expected_model_id=other)


def test_missing_snapshot_is_a_gallery_error(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="cannot read"):
        Gallery.load(tmp_path / "nope.npz")


def test_approximate_index_above_the_threshold_agrees_with_flat(engine, enrolled, probes) -> None:
    """Past ``approx_above`` templates the gallery switches to IVF; answers stay the same."""
    entries = [(p, "resident", e) for p, e in enrolled.items()]
    flat = Gallery(engine.model_id, engine.dim, approx_above=10_000)
    flat.add_many(entries)
    approx = Gallery(engine.model_id, engine.dim, approx_above=20, nprobe=64)
    approx.add_many(entries)
    assert approx.is_approximate and not flat.is_approximate
    q = np.stack(list(probes.values()))
    for a, b in zip(flat.search(q, 1), approx.search(q, 1), strict=True):
        assert a.best.person_id == b.best.person_id
    approx.remove_person("obama")
    assert "obama" not in [h.best.person_id for h in approx.search(q, 1)]


@pytest.mark.parametrize("half", [False, True])
def test_an_empty_snapshot_loads_as_an_empty_gallery(tmp_path: Path, half: bool) -> None:
    """A site with nobody enrolled yet serves an empty snapshot; server and edge load it."""
    path = tmp_path / "empty.npz"
    Gallery("m", 128, version=3).save(path)
    g = Gallery.load(path, half=half)
    assert len(g) == 0 and g.version == 3 and g.size().persons == 0
    assert not g.search(np.ones((1, 128), np.float32), k=2)[0].candidates
