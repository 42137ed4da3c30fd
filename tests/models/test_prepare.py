"""Preparing the default pack: blocked DequantizeLinear folded exactly, files cached and checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.errors import ModelNotFound
from models.onnx_prepare import dequantize, fold_weight_dequantize
from models.packs import (
    PREPARED_RECORD,
    SFACE_PREPARED,
    prepare_sface,
    read_prepared_record,
    sha256_file,
)


def test_dequantize_per_tensor() -> None:
    x = np.array([-3, 0, 5], np.int8)
    y = dequantize(x, np.array(0.5, np.float32), np.array(1, np.int8))
    assert y.tolist() == [-2.0, -0.5, 2.0]


def test_dequantize_per_axis() -> None:
    x = np.array([[1, 2], [3, 4]], np.int8)
    y = dequantize(x, np.array([1.0, 10.0], np.float32), np.array([0, 1], np.int8), axis=0)
    assert y.tolist() == [[1.0, 2.0], [20.0, 30.0]]


def test_dequantize_blocked_with_a_short_last_block() -> None:
    x = np.arange(10, dtype=np.int8).reshape(2, 5)
    scale = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)  # blocks of 3 along axis 1: 3 + 2
    zp = np.array([[0, 1], [0, 0]], np.int8)
    y = dequantize(x, scale, zp, axis=1, block_size=3)
    expected = [[0, 1, 2, (3 - 1) * 2, (4 - 1) * 2], [15, 18, 21, 32, 36]]
    assert y.tolist() == expected


def test_dequantize_refuses_a_scale_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        dequantize(np.zeros((2, 6), np.int8), np.ones((2, 3), np.float32), None, 1, 4)


def test_folding_matches_onnxruntime_on_a_graph_it_can_run() -> None:
    """A per-axis DequantizeLinear onnxruntime does support: folded and original agree exactly."""
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 127, size=(4, 3), dtype=np.int8)
    scale = rng.uniform(0.01, 0.1, size=(4,)).astype(np.float32)
    zp = rng.integers(-5, 5, size=(4,), dtype=np.int8)
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0),
            helper.make_node("MatMul", ["x", "w_t"], ["y"]),
            helper.make_node("Transpose", ["w"], ["w_t"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w_q"), (scale, "w_s"), (zp, "w_z"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    folded, count = fold_weight_dequantize(model)
    assert count == 1
    assert all(n.op_type != "DequantizeLinear" for n in folded.graph.node)
    x = rng.normal(size=(1, 3)).astype(np.float32)

    def run(m: onnx.ModelProto) -> np.ndarray:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]

    np.testing.assert_array_equal(run(model), run(folded))


def test_prepared_files_are_plain_float_graphs(gatewatch_home: Path) -> None:
    cache = gatewatch_home / "models"
    record = read_prepared_record(cache)
    assert record is not None
    for role in ("detector", "embedder"):
        path = cache / SFACE_PREPARED[role]
        assert sha256_file(path) == record[role]["sha256"]
        m = onnx.load(str(path))
        assert not [n for n in m.graph.node if n.op_type == "DequantizeLinear"]
        assert [i.name for i in m.graph.input] == (["input"] if role == "detector" else ["data"])
    assert record["detector"]["dequantize_folded"] == 64
    assert record["embedder"]["dequantize_folded"] == 29


def test_embedder_batch_is_dynamic_and_equals_single_runs(engine) -> None:
    from gatewatch.cast import NO_PACKAGE_PHOTOS, have_package_photos, package_photos
    from models.imageio import read_image

    if not have_package_photos():
        pytest.skip(NO_PACKAGE_PHOTOS)
    crops = [  # three real faces that installed packages ship: this runs without ../shared
        engine.analyze(read_image(p), embed="none")[0].aligned for p in package_photos().values()
    ]
    batch = engine.embed_crops(crops)
    singles = np.concatenate([engine.embed_crops([c]) for c in crops])
    assert batch.shape == (3, 128)
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_a_damaged_cache_is_prepared_again(tmp_path: Path) -> None:
    record = prepare_sface(tmp_path)
    target = tmp_path / record["embedder"]["file"]
    target.write_bytes(b"not a model")
    assert read_prepared_record(tmp_path) is None
    again = prepare_sface(tmp_path)
    assert sha256_file(target) == again["embedder"]["sha256"] == record["embedder"]["sha256"]
    assert (tmp_path / PREPARED_RECORD).is_file()


def test_unprepared_pack_without_prepare_says_what_to_run(tmp_path: Path, monkeypatch) -> None:
    from contract.config import FaceConfig
    from models.packs import resolve_pack

    monkeypatch.setenv("GATEWATCH_HOME", str(tmp_path))
    with pytest.raises(ModelNotFound, match="gatewatch models prepare"):
        resolve_pack(FaceConfig(), prepare=False)


def test_missing_insightface_pack_names_the_files(tmp_path: Path) -> None:
    from contract.config import FaceConfig
    from models.packs import resolve_pack

    with pytest.raises(ModelNotFound, match="det_10g.onnx and w600k_r50.onnx"):
        resolve_pack(FaceConfig(pack="buffalo_l", pack_dir=tmp_path))
