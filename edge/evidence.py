"""Face pictures: small JPEGs of a track's aligned crop and its context. They leave the gate for
active searches' sighting candidates, gate captures (edge/capture.py) and watchlist passages
only; every passage's context crop stays in the face ring on this machine (edge/faces/)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from contract.events import EvidencePicture

CONTEXT_PX = 320  # side of the context crop around the head
JPEG_QUALITY = 80


def jpeg(image: npt.NDArray[np.uint8]) -> bytes:
    """``image`` (BGR) as JPEG bytes at JPEG_QUALITY."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return buf.tobytes()


def _jpeg_b64(image: npt.NDArray[np.uint8]) -> str:
    return base64.b64encode(jpeg(image)).decode()


def context_crop(
    image: npt.NDArray[np.uint8], box: npt.NDArray[np.float32], side_px: int = CONTEXT_PX
) -> npt.NDArray[np.uint8]:
    """A square of about 2.5 face widths around the face box, scaled to ``side_px``."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * 1.25
    h, w = image.shape[:2]
    left, top = int(max(0, cx - half)), int(max(0, cy - half))
    right, bottom = int(min(w, cx + half)), int(min(h, cy + half))
    if right <= left or bottom <= top:
        raise ValueError(f"face box {box[:4].tolist()} lies outside the {w}x{h} frame")
    crop = image[top:bottom, left:right]
    scale = side_px / max(crop.shape[:2])
    out = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.asarray(out, np.uint8)


def evidence_picture(
    aligned: npt.NDArray[np.uint8], context: npt.NDArray[np.uint8]
) -> EvidencePicture:
    """The aligned face crop and the context crop (``context_crop``), as base64 JPEGs."""
    return EvidencePicture(aligned_jpeg_b64=_jpeg_b64(aligned), context_jpeg_b64=_jpeg_b64(context))


@dataclass(frozen=True)
class KeptFace:
    """A track's best face so far by some score, kept for a picture that may be sent."""

    score: float
    aligned: npt.NDArray[np.uint8]
    context: npt.NDArray[np.uint8]

    def picture(self) -> EvidencePicture:
        return evidence_picture(self.aligned, self.context)


class BestFaces:
    """Per track id, the face with the highest score offered so far (sighting evidence: the best
    match to a search; gate captures: the best quality). Tracks must be popped or forgotten."""

    def __init__(self) -> None:
        self._kept: dict[int, KeptFace] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def offer(
        self,
        track_id: int,
        score: float,
        image: npt.NDArray[np.uint8],
        box: npt.NDArray[np.float32],
        aligned: npt.NDArray[np.uint8],
    ) -> None:
        """Keep this face (a copy of the crop, and its context in ``image``) if it beats the
        track's kept one."""
        kept = self._kept.get(track_id)
        if kept is None or score > kept.score:
            self._kept[track_id] = KeptFace(score, aligned.copy(), context_crop(image, box))

    def pop(self, track_id: int) -> KeptFace | None:
        return self._kept.pop(track_id, None)
