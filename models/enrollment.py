"""A person's enrollment templates from their photos: one good face each, consistent together.

Library code shared by the face CLI (``gatewatch gallery build``) and the enrollment desk
(``enroll/policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.engine import FaceEngine
from models.errors import ImageError
from models.imageio import read_image


@dataclass(frozen=True)
class Rejection:
    """A photo left out of a person's templates, and why."""

    person_id: str
    photo: str
    reason: str


def person_templates(
    engine: FaceEngine, person_id: str, photos: list[Path], largest: bool = False
) -> tuple[list[np.ndarray], list[Rejection]]:
    """Templates from a person's photos: one good face each (or the largest, if ``largest``),
    consistent with each other."""
    embs: list[tuple[Path, np.ndarray]] = []
    rejected = []
    for photo in photos:
        try:
            faces = engine.analyze(read_image(photo), embed="passing")
        except ImageError as e:
            rejected.append(Rejection(person_id, str(photo), f"unreadable: {e}"))
            continue
        if not faces:
            rejected.append(Rejection(person_id, str(photo), "no face found"))
        elif len(faces) > 1 and not largest:
            rejected.append(
                Rejection(person_id, str(photo), f"{len(faces)} faces; use a photo of one person")
            )
        elif not (faces := sorted(faces, key=lambda f: -f.area))[0].quality.ok:
            rejected.append(
                Rejection(
                    person_id, str(photo), "low quality: " + "; ".join(faces[0].quality.reasons)
                )
            )
        else:
            assert faces[0].embedding is not None
            embs.append((photo, faces[0].embedding))
    if len(embs) >= 2:
        mat = np.stack([emb for _, emb in embs])
        keep = []
        for i, (photo, emb) in enumerate(embs):
            others = np.delete(mat, i, axis=0).mean(axis=0)
            others /= max(float(np.linalg.norm(others)), 1e-6)
            s = float(emb @ others)
            if s >= engine.threshold:
                keep.append(emb)
            else:
                rejected.append(
                    Rejection(
                        person_id,
                        str(photo),
                        f"does not match the person's other photos (score {s:.2f} < "
                        f"{engine.threshold:.2f})",
                    )
                )
        return keep, rejected
    return [emb for _, emb in embs], rejected
