"""A sighting candidate's evidence picture: small face JPEGs, for active searches only."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import numpy.typing as npt

from contract.events import EvidencePicture

CONTEXT_PX = 320  # side of the context crop around the head
JPEG_QUALITY = 80


def _jpeg_b64(image: npt.NDArray[np.uint8]) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return base64.b64encode(buf.tobytes()).decode()


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
