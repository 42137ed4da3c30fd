"""A person's reference photo: the enrollment face crop officers compare gate faces with.

Checked before it is stored: a JPEG of bounded size (decoded through the photo decoder's checks),
exactly one face, a crop of that face (not a whole photo: the server keeps no more of a person
than the face), and the same person as their enrolled templates. Stored re-encoded (no metadata
survives) at most STORED_PX a side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from server.errors import BadRequest
from server.people.photos import PhotoDecoder
from server.store import Store

if TYPE_CHECKING:
    from models.engine import FaceEngine

MAX_PIXELS = 1024 * 1024  # a face crop is about 240 px a side; a megapixel is plenty
STORED_PX = 256
MIN_FACE_SHARE = 0.3  # the face's box spans at least this share of the crop's width
JPEG_QUALITY = 90


class NotJpeg(BadRequest):
    """The upload is not a JPEG (the API answers 415)."""


class NotAReference(BadRequest):
    """A readable image that is not this person's face crop (the API answers 422)."""


@dataclass(frozen=True)
class Reference:
    """A checked reference photo, ready to store, and how well it matched the templates."""

    jpeg: bytes
    width: int
    height: int
    score: float


class ReferencePhotos:
    """Checks and stores reference photos (one per person)."""

    def __init__(self, store: Store, face: Callable[[], FaceEngine]) -> None:
        self.store = store
        self._face = face
        self.decoder = PhotoDecoder(MAX_PIXELS)

    def put(self, person_id: str, data: bytes, by: str) -> Reference:
        """Check ``data`` (see the module) and store it as the person's reference photo."""
        ref = self.check(person_id, data)
        self.store.put_reference(person_id, ref.jpeg, ref.width, ref.height, by)
        return ref

    def check(self, person_id: str, data: bytes) -> Reference:
        if self.decoder.check(data) != "JPEG":
            raise NotJpeg("the reference photo must be a JPEG (image/jpeg)")
        with self.decoder.slot():
            img = self.decoder.decode(data)
            face = self._face()
            faces = face.analyze(img, embed="all")
            if len(faces) != 1:
                raise NotAReference(
                    f"the reference photo must show exactly one face; found {len(faces)}"
                )
            f = faces[0]
            h, w = img.shape[:2]
            share = float(f.box[2] - f.box[0]) / w
            if share < MIN_FACE_SHARE:
                raise NotAReference(
                    f"the reference photo must be a crop of the face, not a whole photo: the face "
                    f"spans {share:.0%} of its width (at least {MIN_FACE_SHARE:.0%} expected)"
                )
            assert f.embedding is not None
            score = self._match(person_id, face, f.embedding)
            return Reference(*_encode(img), score=score)

    def _match(self, person_id: str, face: FaceEngine, embedding: np.ndarray) -> float:
        """The best score against the person's templates; refused below the 1:1 threshold."""
        from models.engine import embedding_space

        templates = self.store.person_templates(person_id, embedding_space(face.model_id))
        if len(templates) == 0:
            raise NotAReference(
                f"{person_id} has no face templates of this server's model to check the "
                "reference photo against; add templates first"
            )
        score = float((templates @ embedding).max())
        if score < face.threshold:
            raise NotAReference(
                f"the reference photo does not show {person_id}: best score {score:.2f} against "
                f"the person's templates, below {face.threshold:.2f}"
            )
        return score


def _encode(img: np.ndarray) -> tuple[bytes, int, int]:
    """JPEG bytes (re-encoded: no metadata), at most STORED_PX a side, and the size."""
    import cv2

    h, w = img.shape[:2]
    scale = STORED_PX / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BadRequest("the reference photo could not be re-encoded")
    return buf.tobytes(), img.shape[1], img.shape[0]
