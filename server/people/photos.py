"""Uploaded photos: checked from their header before any pixel is decoded, decoded one at a time.

A 0.9 MB PNG can claim 30000x30000 pixels (5 GB once decoded), and a JPEG can carry megabytes
of trailing bytes; both are refused before decoding. Decodes run under a semaphore so two large
photos never occupy memory at once.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from server.errors import BadRequest

log = logging.getLogger(__name__)

FORMATS = ("JPEG", "PNG", "WEBP")
PNG_END = b"IEND\xaeB`\x82"


class PhotoTooLarge(BadRequest):
    """More pixels than the server decodes (the API answers 413)."""


class PhotoDecoder:
    """Decodes an uploaded JPEG/PNG/WebP after checking its size, ``workers`` at a time."""

    def __init__(self, max_pixels: int, workers: int = 1) -> None:
        self.max_pixels = max_pixels
        self._slots = threading.BoundedSemaphore(workers)

    def decode(self, data: bytes) -> npt.NDArray[np.uint8]:
        """The photo as a BGR image; BadRequest / PhotoTooLarge with the reason otherwise.

        Call inside ``slot()``.
        """
        fmt = self.check(data)
        import cv2

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise BadRequest(f"the {fmt} upload could not be decoded (truncated or corrupt)")
        return img

    def check(self, data: bytes) -> str:
        """The format, after the header's dimensions and the file's end were checked."""
        from PIL import Image, UnidentifiedImageError

        limit = f"the limit is {self.max_pixels / 1e6:.0f} megapixels"
        try:
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                fmt, (w, h) = im.format or "?", im.size
        except Image.DecompressionBombError as e:  # Pillow's own, far higher, limit
            raise PhotoTooLarge(
                f"the photo claims {e.args[0].split('(')[1].split(')')[0]}; {limit}"
            ) from e
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise BadRequest("the upload is not an image (JPEG, PNG or WebP expected)") from e
        if fmt not in FORMATS:
            raise BadRequest(f"the upload is a {fmt} image; JPEG, PNG or WebP expected")
        if w * h > self.max_pixels:
            raise PhotoTooLarge(
                f"the photo is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); {limit}"
            )
        if not _ends_cleanly(fmt, data):
            raise BadRequest(f"the {fmt} upload has bytes after the end of the image")
        return fmt

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the decode slots (decode and what follows on the image run inside)."""
        with self._slots:
            yield


def _ends_cleanly(fmt: str, data: bytes) -> bool:
    """No bytes after the image's own end (JPEG EOI, PNG IEND, the RIFF size of WebP)."""
    if fmt == "JPEG":
        return data.endswith(b"\xff\xd9")
    if fmt == "PNG":
        return data.endswith(PNG_END)
    return int.from_bytes(data[4:8], "little") + 8 == len(data)
