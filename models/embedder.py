"""Face embedders: SFace (default, 128-d) and InsightFace ArcFace packs (512-d)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.errors import ModelLoadError
from models.imageio import BGRImage
from models.runtime import DEFAULT_TUNING, SessionTuning, make_session

F32 = npt.NDArray[np.float32]
MIN_NORM = 1e-6


def l2_normalize(x: F32) -> F32:
    """Rows scaled to unit length; a row of (near) zero norm stays zero rather than exploding."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out = np.zeros_like(x)
    ok = norms[..., 0] > MIN_NORM
    out[ok] = x[ok] / norms[ok]
    return out


class Embedder(Protocol):
    """Turns aligned 112x112 BGR crops into L2-normalised embeddings."""

    dim: int

    def embed(self, crops: list[BGRImage]) -> F32: ...


class SFaceEmbedder:
    """SFace 2021dec on onnxruntime, batched.

    The graph subtracts 127.5 and scales by 1/128 itself, so it takes raw 0..255 pixels; like
    OpenCV's ``FaceRecognizerSF`` (``blobFromImage(..., swapRB=true)``) it is fed RGB. The test
    ``test_sface_input_convention`` shows RGB separates people better than BGR on real photos.
    """

    # Faces per onnxruntime run. Per face, 4 at once is as fast as 8 (and 20% faster than one
    # by one), but the arena holds the largest batch's activations for good: 37 MB at 4, 81 MB
    # at 8 (scripts/bench_memory.py); more faces run as several batches of 4.
    MAX_BATCH = 4

    def __init__(
        self,
        path: Path,
        threads: int = 2,
        max_batch: int = MAX_BATCH,
        tuning: SessionTuning = DEFAULT_TUNING,
    ) -> None:
        self.session = make_session(path, threads, tuning)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        if list(inp.shape[1:]) != [3, 112, 112]:
            raise ModelLoadError(f"{path}: expected input [n, 3, 112, 112], got {inp.shape}")
        self.dim = int(self.session.get_outputs()[0].shape[1])
        self.max_batch = max_batch
        self.swap_rb = True

    def embed(self, crops: list[BGRImage]) -> F32:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        batch = np.stack(crops).astype(np.float32)
        if self.swap_rb:
            batch = batch[..., ::-1]
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        outs = [
            self.session.run(None, {self.input_name: batch[i : i + self.max_batch]})[0]
            for i in range(0, len(batch), self.max_batch)
        ]
        return l2_normalize(np.concatenate(outs).astype(np.float32))


class ArcFaceEmbedder:
    """An InsightFace ArcFace recogniser (operator-supplied) through ``insightface.model_zoo``."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        self.model = ArcFaceONNX(model_file=str(path), session=make_session(path, threads))
        self.dim = int(self.model.session.get_outputs()[0].shape[1])

    def embed(self, crops: list[BGRImage]) -> F32:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(np.asarray(self.model.get_feat(crops), dtype=np.float32))
