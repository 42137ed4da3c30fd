"""onnxruntime sessions, made one way for every model."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from models.errors import ModelLoadError, ModelNotFound


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU inference session with ``threads`` intra-op threads; errors name the file."""
    if not path.is_file():
        raise ModelNotFound(f"{path}: model file not found")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # Spinning worker threads steal the second core from capture, faiss and OpenCV on a 2-core
    # gate machine; measured slower with spinning on (README: "Speed").
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{path}: onnxruntime cannot load it: {e}") from e
