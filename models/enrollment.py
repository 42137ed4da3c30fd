"""A person's enrollment templates from their photos: one good face each, consistent together.

Library code shared by the face CLI (``gatewatch gallery build``) and the enrollment desk
(``enroll/policy.py``, which also keeps each kept face's photo for the reference crop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.engine import Face, FaceEngine
from models.errors import ImageError
from models.imageio import BGRImage, read_image

F32 = npt.NDArray[np.float32]
# The reference photo the server keeps per person: the face, squared with some margin, this many
# pixels a side (enough for an officer to compare faces, too small to be a portrait).
REFERENCE_PX = 240
REFERENCE_MARGIN = 1.6  # side of the square over the longer side of the detected face box


@dataclass(frozen=True)
class Rejection:
    """A photo left out of a person's templates, and why."""

    person_id: str
    photo: str
    reason: str


@dataclass(frozen=True, eq=False)  # compared by identity: it holds arrays
class Shot:
    """One kept face of a person's enrollment: where it came from, its image and the face."""

    source: str  # the photo's path, or the capture prompt it answered
    image: BGRImage
    face: Face

    @property
    def embedding(self) -> F32:
        assert self.face.embedding is not None, "a shot's face is always embedded"
        return self.face.embedding

    @property
    def quality(self) -> float:
        return self.face.quality.score

    def reference_crop(self) -> BGRImage:
        """The face squared with a margin, REFERENCE_PX a side (border replicated off-image)."""
        return face_crop(self.image, self.face.box)


def face_crop(image: BGRImage, box: F32, side_px: int = REFERENCE_PX) -> BGRImage:
    """The square around ``box`` (x1, y1, x2, y2), REFERENCE_MARGIN times its longer side."""
    x1, y1, x2, y2 = (float(v) for v in box)
    half = REFERENCE_MARGIN * max(x2 - x1, y2 - y1, 1.0) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a, b, c, d = (round(v) for v in (cx - half, cy - half, cx + half, cy + half))
    h, w = image.shape[:2]
    pad = max(0, -a, -b, c - w, d - h)
    src = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    crop = src[b + pad : d + pad, a + pad : c + pad]
    interp = cv2.INTER_AREA if crop.shape[0] > side_px else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (side_px, side_px), interpolation=interp))


def one_good_face(engine: FaceEngine, image: BGRImage, largest: bool = False) -> Face | str:
    """The image's one face of good quality (embedded), or the reason there is none."""
    faces = engine.analyze(image, embed="passing")
    if not faces:
        return "no face found"
    if len(faces) > 1 and not largest:
        return f"{len(faces)} faces; use a photo of one person"
    face = max(faces, key=lambda f: f.area)
    if not face.quality.ok or face.embedding is None:
        return "low quality: " + "; ".join(face.quality.reasons)
    return face


def agreeing(
    engine: FaceEngine, person_id: str, shots: list[Shot]
) -> tuple[list[Shot], list[Rejection]]:
    """The shots that match the mean of the person's other shots at the one-to-one threshold."""
    if len(shots) < 2:
        return shots, []
    mat = np.stack([s.embedding for s in shots])
    keep, rejected = [], []
    for i, shot in enumerate(shots):
        others = np.delete(mat, i, axis=0).mean(axis=0)
        others /= max(float(np.linalg.norm(others)), 1e-6)
        s = float(shot.embedding @ others)
        if s >= engine.threshold:
            keep.append(shot)
        else:
            reason = (
                f"does not match the person's other photos (score {s:.2f} < {engine.threshold:.2f})"
            )
            rejected.append(Rejection(person_id, shot.source, reason))
    return keep, rejected


def person_shots(
    engine: FaceEngine, person_id: str, photos: list[Path], largest: bool = False
) -> tuple[list[Shot], list[Rejection]]:
    """A person's photos as shots: one good face each (or the largest, if ``largest``),
    consistent with each other; every photo left out is a Rejection with its reason."""
    shots: list[Shot] = []
    rejected = []
    for photo in photos:
        try:
            image = read_image(photo)
        except ImageError as e:
            rejected.append(Rejection(person_id, str(photo), f"unreadable: {e}"))
            continue
        face = one_good_face(engine, image, largest)
        if isinstance(face, str):
            rejected.append(Rejection(person_id, str(photo), face))
        else:
            shots.append(Shot(str(photo), image, face))
    kept, disagreeing = agreeing(engine, person_id, shots)
    return kept, rejected + disagreeing


def person_templates(
    engine: FaceEngine, person_id: str, photos: list[Path], largest: bool = False
) -> tuple[list[np.ndarray], list[Rejection]]:
    """Templates from a person's photos (see ``person_shots``)."""
    shots, rejected = person_shots(engine, person_id, photos, largest)
    return [s.embedding for s in shots], rejected
