"""The graphs onnxruntime runs: SFace's PRelus rewritten as Relus and per-channel scalings
(models/onnx_prepare.py ``prelu_as_relus``), kept once in the model cache (models/runtime.py
``runnable_graph``); the same embeddings as the file itself, and the model id stays the file's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.embedder import SFaceEmbedder
from models.errors import ModelLoadError
from models.imageio import read_image
from models.onnx_prepare import prelu_as_relus
from models.packs import models_cache_dir, sha256_file
from models.runtime import make_session, runnable_graph, session_options
from tests.conftest import FACES, require_shared


def _prelu_model(slope: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 4, 5])
    s = numpy_helper.from_array(slope.astype(np.float32), "slope")
    node = helper.make_node("PRelu", ["x", "slope"], ["y"])
    return helper.make_model(
        helper.make_graph([node], "g", [x], [y], [s]), opset_imports=[helper.make_opsetid("", 13)]
    )


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def test_prelu_as_relus_gives_prelus_numbers() -> None:
    """Slopes below 0 and above 1 too (SFace has both), at every sign of the input."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (2, 3, 4, 5)).astype(np.float32)
    x[0, 0, 0, :2] = 0.0
    for slope in (np.array([[[0.25]], [[-0.8]], [[1.12]]]), np.array([[[[0.1]], [[0.0]], [[2]]]])):
        model = _prelu_model(slope)
        want = _run(model, x)
        np.testing.assert_array_equal(
            want, np.where(x > 0, x, slope.astype(np.float32).reshape(1, 3, 1, 1) * x)
        )
        assert prelu_as_relus(model) == 1
        assert "PRelu" not in {n.op_type for n in model.graph.node}
        onnx.checker.check_model(model)
        np.testing.assert_allclose(_run(model, x), want, rtol=0, atol=1e-6)


def test_a_prelu_that_is_not_per_channel_is_left_alone() -> None:
    model = _prelu_model(np.full((3, 4, 5), 0.2))  # one slope per element: not [C, 1, 1]
    assert prelu_as_relus(model) == 0
    assert [n.op_type for n in model.graph.node] == ["PRelu"]


def test_the_embedder_runs_the_edited_graph_with_the_files_numbers(engine) -> None:  # noqa: ANN001
    """On real faces: the same embeddings as a session on the file itself (to 1e-5), the edited
    graph is kept in the model cache without a PRelu, and the model id is the file's digest."""
    require_shared()
    path = engine.files.embedder_path
    kept = runnable_graph(path)
    assert isinstance(kept, Path) and kept.parent == models_cache_dir() / "run"
    assert "PRelu" not in {n.op_type for n in onnx.load(str(kept)).graph.node}
    assert "PRelu" in {n.op_type for n in onnx.load(str(path)).graph.node}
    assert sha256_file(path)[:12] in engine.model_id
    crops = [
        engine.analyze(read_image(p), embed="none")[0].aligned
        for p in sorted(FACES.glob("*/1.jpg"))[:8]
    ]
    plain = SFaceEmbedder(path, threads=1)
    plain.session = ort.InferenceSession(str(path), session_options(1),
                                         providers=["CPUExecutionProvider"])  # fmt: skip
    np.testing.assert_allclose(engine.embedder.embed(crops), plain.embed(crops), rtol=0, atol=1e-5)


def test_a_damaged_kept_graph_is_made_again(engine) -> None:  # noqa: ANN001
    path = engine.files.embedder_path
    kept = runnable_graph(path)
    assert isinstance(kept, Path)
    kept.write_bytes(b"not a graph")
    session = make_session(path, 1)
    assert kept.stat().st_size > 1_000_000
    assert session.get_inputs()[0].shape[1:] == [3, 112, 112]


def test_an_unwritable_cache_loads_the_edited_graph_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _prelu_model(np.array([[[0.25]], [[-0.8]], [[1.12]]]))
    src = tmp_path / "m.onnx"
    onnx.save(model, str(src))
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").write_text("a file where the cache folder should be")
    monkeypatch.setenv("GATEWATCH_HOME", str(home))
    graph = runnable_graph(src)
    assert isinstance(graph, bytes)
    assert make_session(src, 1).get_inputs()[0].name == "x"


def test_a_graph_that_is_not_onnx_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        make_session(bad, 1)
