"""Reading and checking images: the only place that turns files into BGR arrays."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.errors import ImageError

BGRImage = npt.NDArray[np.uint8]
# File suffixes taken for photos wherever a folder is scanned (face CLI, enroll import, an edge's
# folder source): what read_image's OpenCV decodes.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm", ".tif", ".tiff"}
)


def read_image(path: str | Path) -> BGRImage:
    """Read an image file as 8-bit BGR; grayscale and alpha are converted."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(p, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{path}: file is empty")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"{path}: not an image OpenCV can decode (JPEG, PNG, BMP, WebP, ...)")
    return check_image(img, str(path))


def check_image(img: object, what: str = "image") -> BGRImage:
    """Return ``img`` as a contiguous HxWx3 uint8 BGR array, or raise ImageError saying why not."""
    if not isinstance(img, np.ndarray):
        raise ImageError(f"{what}: expected a numpy array, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise ImageError(f"{what}: expected dtype uint8, got {img.dtype}")
    if img.size == 0:
        raise ImageError(f"{what}: image is empty (shape {img.shape})")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ImageError(f"{what}: expected HxW, HxWx3 or HxWx4, got shape {img.shape}")
    return np.ascontiguousarray(img)
