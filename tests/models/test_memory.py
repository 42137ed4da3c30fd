"""Memory and speed work on the models: session options, alignment without scikit-image, several
frames detected at once, the float16 gallery check, the lean snapshot load and a bounded swap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models.align import ARCFACE_DST, align_face, similarity_transform
from models.detector import YuNetDetector
from models.gallery import Gallery
from models.imageio import read_image
from models.onnx_prepare import make_batch_dynamic
from models.runtime import DEFAULT_TUNING, SessionTuning, make_session, session_options
from tests.conftest import FACES, ROOT, SCENES, require_shared


def test_the_chosen_session_options_are_set() -> None:
    opts = session_options(2)
    assert opts.intra_op_num_threads == 2
    assert opts.inter_op_num_threads == 1
    assert opts.enable_cpu_mem_arena is True
    assert opts.enable_mem_pattern is False
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    other = session_options(1, SessionTuning(cpu_mem_arena=False, optimization="basic",
                                             prepacking=False))  # fmt: skip
    assert other.enable_cpu_mem_arena is False
    assert other.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert other.get_session_config_entry("session.disable_prepacking") == "1"


def test_the_engines_sessions_run_with_them(engine) -> None:
    for session in (engine.detector.session, engine.embedder.session):
        opts = session.get_session_options()
        assert opts.enable_mem_pattern is DEFAULT_TUNING.mem_pattern
        assert opts.intra_op_num_threads == engine.config.threads


def test_alignment_equals_scikit_images_transform() -> None:
    """The numpy Umeyama gives scikit-image's matrix to the bit: the crops are the same."""
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(0)
    for i in range(300):
        lm = ARCFACE_DST * rng.uniform(0.5, 5) + rng.uniform(0, 1000, 2) + rng.normal(0, 3, (5, 2))
        lm = (lm[:, ::-1] if i % 3 == 0 else lm).astype(np.float32)  # mirrored ones too
        ours = similarity_transform(lm, ARCFACE_DST)
        assert ours is not None
        theirs = SimilarityTransform.from_estimate(lm, ARCFACE_DST).params
        np.testing.assert_array_equal(ours, theirs)
    assert similarity_transform(np.ones((5, 2), np.float32), ARCFACE_DST) is None
    assert not align_face(np.zeros((50, 50, 3), np.uint8), np.ones((5, 2), np.float32)).any()


def test_the_edge_imports_neither_scipy_nor_the_server() -> None:
    code = "import sys, edge.app, edge.cli; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"scipy", "skimage", "fastapi", "starlette", "sqlalchemy", "server"}


def _images() -> list[np.ndarray]:
    require_shared()
    return [read_image(p) for p in (SCENES / "2.jpg", FACES / "obama/1.jpg", SCENES / "6.jpg")]


def _same(a, b) -> None:  # noqa: ANN001
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_detect_many_equals_detect_per_image(engine) -> None:
    images = _images()
    assert not engine.detector.takes_batch  # the prepared YuNet: one run per image
    for one, many in zip([engine.detect(im) for im in images], engine.detect_many(images),
                         strict=True):  # fmt: skip
        assert len(one) > 0
        _same(one, many)


def test_a_batch_dynamic_yunet_detects_several_frames_in_one_run(engine, tmp_path: Path) -> None:
    """make_batch_dynamic keeps YuNet's heads per image: one run of three images gives what
    three runs give (the pack keeps the fixed graph: a batch measured slower, README)."""
    path = tmp_path / "yunet_batch.onnx"
    onnx.save(make_batch_dynamic(onnx.load(str(engine.files.detector_path))), str(path))
    batched = YuNetDetector(path, session=make_session(path, 1))
    assert batched.takes_batch and not batched.fitted  # a batch shares one 640x640 letterbox
    square = YuNetDetector(path, session=make_session(engine.files.detector_path, 1))
    images = _images()
    for one, many in zip([square.detect(im) for im in images], batched.detect_many(images),
                         strict=True):  # fmt: skip
        _same(one, many)


def test_a_fitted_letterbox_finds_the_faces_the_square_one_finds(engine) -> None:
    """The engine's YuNet sees each frame in a letterbox of its own shape (640x384 for 720p:
    40% fewer pixels, README "Edge"); it finds the same faces as in the file's 640x640, boxes
    within a few pixels (padding near the frame's edge is all that differs)."""
    path = engine.files.detector_path
    square = YuNetDetector(path, session=make_session(path, 1))
    assert engine.detector.fitted and not square.fitted
    assert engine.detector.input_hw((720, 1280)) == (384, 640)
    assert engine.detector.input_hw((1080, 1920)) == (384, 640)
    assert engine.detector.input_hw((640, 480)) == (640, 480)
    for im in _images():
        a, b = square.detect(im), engine.detect(im)
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=3.0)
        np.testing.assert_allclose(a.scores, b.scores, atol=0.01)


def test_fp16_gallery_names_the_same_person_first_on_real_faces(engine) -> None:
    shared = require_shared()
    from scripts.check_fp16_gallery import embed_sets, rank1_fp16_vs_fp32

    embs, who = embed_sets(shared, ("faces",), engine)
    r = rank1_fp16_vs_fp32(embs, who)
    assert r["queries"] >= 150
    assert r["rank1_differs"] == 0
    assert r["max_score_diff"] < 1e-3
    assert r["min_top2_gap"] > 0


def test_a_loaded_snapshot_equals_the_gallery_saved(tmp_path: Path) -> None:
    """The one-step load gives the same persons, templates and answers as the gallery built
    person by person, replaced and removed persons included."""
    rng = np.random.default_rng(3)
    g = Gallery("sface:x-d16+y", 16)
    g.add_many([(f"p{i}", "resident", rng.standard_normal((1 + i % 3, 16))) for i in range(40)])
    g.add_person("p3", "staff", rng.standard_normal((4, 16)))  # replaced: rows at the end
    g.remove_person("p7")
    g.save(tmp_path / "g.npz")
    back = Gallery.load(tmp_path / "g.npz")
    assert [p.id for p in back.persons()] == [p.id for p in g.persons()]
    assert back.role_of("p3") == "staff" and "p7" not in back
    for p in g.persons():
        np.testing.assert_allclose(back.templates_of(p.id), g.templates_of(p.id), atol=1e-6)
    q = rng.standard_normal((10, 16))
    for a, b in zip(back.search(q), g.search(q), strict=True):
        assert [c.person_id for c in a.candidates] == [c.person_id for c in b.candidates]
        assert [c.score for c in a.candidates] == pytest.approx([c.score for c in b.candidates])


def test_a_gallery_swap_returns_the_old_ones_memory(tmp_path: Path) -> None:
    """20,000 persons: holding two galleries during a swap peaks below three, and once the old
    one is dropped resident memory is back near one gallery's."""
    rng = np.random.default_rng(0)
    g = Gallery("sface:x-d128+y", 128)
    vecs = rng.standard_normal((20_000, 128)).astype(np.float32)
    g.add_many([(f"s{i}", "resident", vecs[i : i + 1]) for i in range(len(vecs))])
    g.save(tmp_path / "a.npz")
    g.version += 1
    g.save(tmp_path / "b.npz")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/bench_memory.py"), "--part", "gallery",
         "--snapshot", str(tmp_path / "a.npz"), "--snapshot2", str(tmp_path / "b.npz"), "--half"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["persons"] == 20_000
    assert r["swap_peak"] < 3 * r["load"]
    assert r["after_swap_trimmed"] < r["load"] + 10


def test_a_half_gallery_keeps_float16_and_answers_like_the_float32_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    g = Gallery("sface:x-d32+y", 32)
    g.add_many([(f"p{i}", "resident", rng.standard_normal((1 + i % 2, 32))) for i in range(300)])
    g.save(tmp_path / "g.npz")
    half = Gallery.load(tmp_path / "g.npz", half=True)
    assert half._vectors.dtype == np.float16
    assert half.templates_of("p1").dtype == np.float32
    half.add_person("late", "staff", rng.standard_normal((2, 32)))  # stays float16
    assert half._vectors.dtype == np.float16
    g.add_person("late", "staff", half.templates_of("late"))
    q = rng.standard_normal((200, 32))
    for a, b in zip(half.search(q, k=1), g.search(q, k=1), strict=True):
        assert a.best.person_id == b.best.person_id
        assert abs(a.best.score - b.best.score) < 2e-3
    own = half.search(half.templates_of("p1"), k=1)[0].best  # a template against itself
    assert own.person_id == "p1" and 0.999 < own.score <= 1.0


def test_a_swap_goes_through_a_new_file_and_a_bad_one_leaves_the_last_good(tmp_path: Path) -> None:
    """GallerySync writes a fetched snapshot beside the last good one, loads it from there and
    renames it into place; a snapshot that fails its checks is deleted and changes nothing."""
    import hashlib

    from contract.gallery import GalleryManifest
    from edge.gallery_sync import GallerySync
    from models.errors import GalleryError

    rng = np.random.default_rng(2)
    model_id = "sface:x-d16+y"
    live = tmp_path / "gallery.npz"
    g = Gallery(model_id, 16)
    g.add_many([(f"p{i}", "resident", rng.standard_normal((1, 16))) for i in range(20)])
    g.save(live)
    g.add_person("new", "resident", rng.standard_normal((1, 16)))
    g.save(tmp_path / "v2.npz")
    sync = GallerySync(live, model_id, 16, None, "test")
    assert sync.gallery.half and len(sync.gallery) == 20

    def manifest(path: Path, version: int) -> GalleryManifest:
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        return GalleryManifest(
            version=version, model_id=model_id, size=len(raw), path=str(path), sha256=digest,
            persons=0, templates=0,
        )  # fmt: skip

    sync.apply(manifest(tmp_path / "v2.npz", g.version))
    assert len(sync.gallery) == 21 and sync.gallery.half
    assert live.read_bytes() == (tmp_path / "v2.npz").read_bytes()
    assert not (tmp_path / "gallery.npz.new").exists()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a snapshot" * 100)
    with pytest.raises(GalleryError):
        sync.apply(manifest(bad, g.version + 1))
    assert len(sync.gallery) == 21
    assert live.read_bytes() == (tmp_path / "v2.npz").read_bytes()
    assert not (tmp_path / "gallery.npz.new").exists()
