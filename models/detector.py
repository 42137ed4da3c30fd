"""Face detectors: YuNet (default, own pre/post-processing) and InsightFace's SCRFD."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from models.errors import ModelLoadError
from models.imageio import BGRImage
from models.runtime import DEFAULT_TUNING, SessionTuning, make_session

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, as parallel arrays in frame pixel coordinates."""

    xyxy: F32  # [n, 4] x1, y1, x2, y2
    scores: F32  # [n]
    landmarks: F32  # [n, 5, 2]: right eye, left eye, nose tip, right and left mouth corner

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0]
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be [n, 4], got {self.xyxy.shape}")
        if self.scores.shape != (n,):
            raise ValueError(f"scores must be [{n}], got {self.scores.shape}")
        if self.landmarks.shape != (n, 5, 2):
            raise ValueError(f"landmarks must be [{n}, 5, 2], got {self.landmarks.shape}")

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @property
    def areas(self) -> F32:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return (wh[:, 0] * wh[:, 1]).astype(np.float32)

    def take(self, idx: npt.ArrayLike) -> Detections:
        """The detections at ``idx``, in that order."""
        i = np.asarray(idx, dtype=np.intp)
        return Detections(self.xyxy[i], self.scores[i], self.landmarks[i])

    def largest_first(self, limit: int | None = None) -> Detections:
        """Sorted by box area, largest first, at most ``limit``."""
        order = np.argsort(-self.areas, kind="stable")
        return self.take(order[:limit] if limit else order)

    @staticmethod
    def empty() -> Detections:
        return Detections(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 5, 2), np.float32),
        )


class Detector(Protocol):
    """Anything that finds faces in a BGR image."""

    def detect(self, image: BGRImage) -> Detections: ...


def detect_each(detector: Detector, images: Sequence[BGRImage]) -> list[Detections]:
    """Faces of several images: the detector's own ``detect_many`` if it has one, else a loop."""
    many = getattr(detector, "detect_many", None)
    if many is not None:
        return list(many(images))
    return [detector.detect(im) for im in images]


class _Buffers(threading.local):
    """One thread's letterbox canvas and input blob, made once and reused for every frame."""

    def __init__(self) -> None:
        self.canvas: npt.NDArray[np.uint8] | None = None
        self.blob: F32 | None = None


def _up32(x: float) -> int:
    """``x`` rounded up to a multiple of 32 (YuNet's largest stride)."""
    return max(32, -(-round(x) // 32) * 32)


class YuNetDetector:
    """YuNet 2023mar on onnxruntime: letterbox, decode the stride 8/16/32 heads, NMS."""

    STRIDES = (8, 16, 32)
    # A small photo is not blown up past 2x: a face filling the whole 640 input is larger than
    # anything YuNet was trained on and is missed (seen on 150x150 crops at 4x and above).
    MAX_UPSCALE = 2.0

    def __init__(
        self,
        path: Path,
        threads: int = 2,
        score_threshold: float = 0.6,
        nms_iou: float = 0.3,
        max_faces: int = 32,
        input_px: int = 640,
        tuning: SessionTuning = DEFAULT_TUNING,
        session: ort.InferenceSession | None = None,
    ) -> None:
        # The file fixes 640x640; its graph does not care (free_image_size): each frame gets a
        # letterbox of its own shape, long side input_px, the other rounded up to 32.
        if session is None:
            session = make_session(path, threads, tuning, free_hw=True)
        self.session = session
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        _, _, h, w = inp.shape
        self.fitted = not isinstance(h, int) or not isinstance(w, int)
        if not self.fitted and (int(h), int(w)) != (input_px, input_px):
            raise ModelLoadError(
                f"{path}: YuNet's graph takes {w}x{h} only, not det_input_px {input_px}"
            )
        self.input_px = input_px
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_faces = max_faces
        self.output_names = [o.name for o in self.session.get_outputs()]
        # Grid cell origins per input shape and stride, in the order the heads emit them.
        self._grids: dict[tuple[int, int], dict[int, F32]] = {}
        self._buffers = _Buffers()

    def input_hw(self, image_hw: tuple[int, ...]) -> tuple[int, int]:
        """The letterbox for an image of ``image_hw``: input_px square for a graph that fixes
        it, else long side input_px and the other side rounded up to a multiple of 32."""
        if not self.fitted:
            return self.input_px, self.input_px
        h, w = image_hw[:2]
        scale = min(self.input_px / w, self.input_px / h, self.MAX_UPSCALE)
        return _up32(h * scale), _up32(w * scale)

    def _grid(self, hw: tuple[int, int]) -> dict[int, F32]:
        if hw not in self._grids:
            grids = {}
            for s in self.STRIDES:
                yy, xx = np.mgrid[0 : hw[0] // s, 0 : hw[1] // s]
                grids[s] = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)
            self._grids[hw] = grids
        return self._grids[hw]

    @property
    def takes_batch(self) -> bool:
        """Whether the graph's batch dimension is free (a prepared graph with a fixed 1 is not)."""
        return not isinstance(self.session.get_inputs()[0].shape[0], int)

    def _blob(self, n: int, hw: tuple[int, int]) -> F32:
        """This thread's [n, 3, h, w] input array, remade when the letterbox shape changes or a
        larger batch comes (one camera: once; cameras of different shapes: at each switch)."""
        buf = self._buffers
        if buf.canvas is None or buf.canvas.shape[:2] != hw:
            buf.canvas = np.zeros((*hw, 3), np.uint8)
            buf.blob = None
        if buf.blob is None or len(buf.blob) < n:
            buf.blob = np.zeros((n, 3, *hw), np.float32)
        return buf.blob[:n]

    def _letterbox(self, image: BGRImage, out: F32) -> float:
        """``image`` scaled into this thread's canvas (top left, zeros around), written into
        ``out`` ([3, h, w]); returns the scale. No new input array per frame."""
        canvas = self._buffers.canvas
        assert canvas is not None  # made by _blob
        h_in, w_in = canvas.shape[:2]
        h, w = image.shape[:2]
        scale = min(w_in / w, h_in / h, self.MAX_UPSCALE)
        nw, nh = min(w_in, max(1, round(w * scale))), min(h_in, max(1, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        cv2.resize(image, (nw, nh), dst=canvas[:nh, :nw], interpolation=interp)
        canvas[nh:] = 0
        canvas[:nh, nw:] = 0
        # YuNet takes BGR in 0..255, NCHW, no normalisation (as OpenCV's FaceDetectorYN feeds it).
        np.copyto(out, canvas.transpose(2, 0, 1))
        return scale

    def detect(self, image: BGRImage) -> Detections:
        return self.detect_many([image])[0]

    def detect_many(self, images: Sequence[BGRImage]) -> list[Detections]:
        """Faces of several images (say one frame per camera): one run when the graph takes a
        batch, else one run per image into the same buffer. The prepared YuNet takes one image:
        a batch of two measured slower than two runs (README "Memory")."""
        if not self.takes_batch:
            found = []
            for image in images:
                hw = self.input_hw(image.shape)
                blob = self._blob(1, hw)
                scale = self._letterbox(image, blob[0])
                found.append(self._decode(self.session.run(None, {self.input_name: blob}), 0,
                                          scale, image.shape[:2], hw))  # fmt: skip
            return found
        hw = max((self.input_hw(im.shape) for im in images), key=lambda x: x[0] * x[1])
        blob = self._blob(len(images), hw)
        scales = [self._letterbox(im, blob[i]) for i, im in enumerate(images)]
        outs = self.session.run(None, {self.input_name: blob})
        return [self._decode(outs, i, scales[i], im.shape[:2], hw) for i, im in enumerate(images)]

    def _decode(
        self, raw: list[F32], i: int, scale: float, hw: tuple[int, ...], in_hw: tuple[int, int]
    ) -> Detections:
        """Image ``i`` of the heads' output: boxes and landmarks in its pixels, after NMS."""
        outs = dict(zip(self.output_names, raw, strict=True))
        boxes, scores, kps = [], [], []
        grids = self._grid(in_hw)
        for s in self.STRIDES:
            cls = outs[f"cls_{s}"][i, :, 0]
            obj = outs[f"obj_{s}"][i, :, 0]
            # Same score as OpenCV's FaceDetectorYN: geometric mean of class and objectness.
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = score >= self.score_threshold
            if not keep.any():
                continue
            grid = grids[s][keep]
            bb = outs[f"bbox_{s}"][i][keep]
            kp = outs[f"kps_{s}"][i][keep].reshape(-1, 5, 2)
            centre = (grid + bb[:, :2]) * s
            wh = np.exp(bb[:, 2:]) * s
            boxes.append(np.concatenate([centre - wh / 2, centre + wh / 2], axis=1))
            kps.append((kp + grid[:, None, :]) * s)
            scores.append(score[keep])
        if not boxes:
            return Detections.empty()
        xyxy = np.concatenate(boxes) / scale
        sc = np.concatenate(scores).astype(np.float32)
        lm = np.concatenate(kps) / scale
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), sc.tolist(), self.score_threshold, self.nms_iou)
        keep_idx = np.asarray(kept, dtype=np.intp).reshape(-1)
        h, w = hw[0], hw[1]
        xyxy = xyxy[keep_idx]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        dets = Detections(xyxy.astype(np.float32), sc[keep_idx], lm[keep_idx].astype(np.float32))
        return dets.largest_first(self.max_faces)


class SCRFDDetector:
    """InsightFace's SCRFD (operator-supplied weights) through ``insightface.model_zoo``."""

    def __init__(
        self,
        path: Path,
        threads: int = 2,
        score_threshold: float = 0.5,
        nms_iou: float = 0.4,
        max_faces: int = 32,
        input_px: int = 640,
    ) -> None:
        from insightface.model_zoo.scrfd import SCRFD

        session = make_session(path, threads)
        self.model = SCRFD(model_file=str(path), session=session)
        self.model.prepare(
            -1, det_thresh=score_threshold, nms_thresh=nms_iou, input_size=(input_px, input_px)
        )
        self.max_faces = max_faces
        if tuple(self.model.input_size) != (input_px, input_px):  # a graph with a fixed input
            raise ModelLoadError(
                f"{path}: this SCRFD graph takes {self.model.input_size} only, not det_input_px "
                f"{input_px}; leave det_input_px out or use a graph with a dynamic input"
            )
        if not self.model.use_kps:
            raise ModelLoadError(
                f"{path}: this SCRFD model has no 5-point landmarks (use a *_bnkps/*_kps model)"
            )

    def detect(self, image: BGRImage) -> Detections:
        det, kpss = self.model.detect(image, max_num=self.max_faces)
        if det.shape[0] == 0 or kpss is None:
            return Detections.empty()
        return Detections(
            det[:, :4].astype(np.float32),
            det[:, 4].astype(np.float32),
            kpss.astype(np.float32),
        ).largest_first(self.max_faces)
