"""Enrollment policy: one good face per photo, photos that agree, no silent duplicates, and a
warning when a new person looks too much like someone already enrolled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enroll.client import Api, EnrollError
from enroll.words import Words
from models.calibration import DEFAULT_TARGET_FPIR, OperatingPoint
from models.engine import FaceEngine
from models.enrollment import Rejection, Shot, person_shots
from models.gallery import Gallery

F32 = npt.NDArray[np.float32]

# How much higher than the enrolled pair's own score a new photo of one of two different people
# scores against the other's template: the 99th percentile on faces_wide_dev's 400 people (mean
# -0.06, spread 0.07; scripts/bench_accuracy.py). Two people closer than the operating threshold
# minus this gap are a look-alike pair: one of them may be named as the other at a gate.
LOOK_ALIKE_GAP = 0.08
# Enrollment templates per person: the best photos up to this many (more add little and each one
# is another chance for a stranger to pass; the gates' own captures add more, see learning).
MAX_TEMPLATES = 5
REFERENCE_JPEG_QUALITY = 90


def best_shots(
    person_id: str, shots: list[Shot], cap: int = MAX_TEMPLATES
) -> tuple[list[Shot], list[Rejection]]:
    """The ``cap`` best-quality shots; the others rejected, saying why."""
    ranked = sorted(shots, key=lambda s: -s.quality)
    kept, extra = ranked[:cap], ranked[cap:]
    if not extra:
        return shots, []
    floor = min(s.quality for s in kept)
    return kept, [
        Rejection(
            person_id,
            s.source,
            f"not used: the best {cap} photos are kept (quality {s.quality:.2f} < {floor:.2f})",
        )
        for s in extra
    ]


def embeddings(shots: list[Shot]) -> F32:
    """The shots' templates, one row each."""
    if not shots:
        return np.zeros((0, 0), np.float32)
    return np.stack([s.embedding for s in shots]).astype(np.float32)


@dataclass(frozen=True)
class Nearest:
    """The enrolled person most like a new one, judged against the gates' operating point."""

    person_id: str
    score: float
    point: OperatingPoint

    @property
    def duplicate(self) -> bool:
        """At or above the operating threshold: the gate would name one as the other."""
        return self.score >= self.point.threshold

    @property
    def look_alike(self) -> bool:
        """Below it, but closer than the operating point can reliably separate."""
        return not self.duplicate and self.score >= self.point.threshold - LOOK_ALIKE_GAP

    def describe(self, person_id: str, w: Words | None = None) -> str:
        """The line the desk reads, in ``w``'s language (English without one)."""
        w = w or Words("en")
        line = w("nearest", id=person_id, other=self.person_id, score=f"{self.score:.3f}",
                 threshold=f"{self.point.threshold:.3f}", n=self.point.gallery_size)  # fmt: skip
        if self.look_alike:
            line += w("look_alike", below=f"{self.point.threshold - LOOK_ALIKE_GAP:.3f}")
        return line


def nearest_other(
    gallery: Gallery, engine: FaceEngine, person_id: str, embs: F32, target_fpir: float
) -> Nearest | None:
    """The closest enrolled person other than ``person_id`` to the mean of ``embs``."""
    if len(gallery) == 0 or len(embs) == 0:
        return None
    mean = embs.mean(axis=0)
    hit = gallery.search(mean / max(float(np.linalg.norm(mean)), 1e-6), k=3)[0]
    others = [c for c in hit.candidates if c.person_id != person_id]
    if not others:
        return None
    # The gallery the gates will hold once this person is in (its persons and their templates,
    # counted per person) sets the threshold, on the curve of the site's population (in the
    # gallery's header; East-Asian without one).
    size = gallery.size().plus(len(embs))
    point = engine.operating_point(size, target_fpir, gallery.population)
    return Nearest(others[0].person_id, others[0].score, point)


class Enroller:
    """Makes templates from photos locally; sends person and templates (no photos) to the server."""

    def __init__(
        self,
        api: Api,
        engine: FaceEngine,
        force: bool = False,
        largest: bool = False,
        target_fpir: float = DEFAULT_TARGET_FPIR,
    ):
        self.api = api
        self.engine = engine
        self.force = force
        self.largest = largest
        self.target_fpir = target_fpir
        self._gallery: Gallery | None = None
        self._gallery_loaded = False

    def gallery(self) -> Gallery | None:
        """The server's current gallery (fetched once per run), for the duplicate check."""
        if not self._gallery_loaded:
            self._gallery_loaded = True
            m = self.api.call("GET", "/api/gallery")
            if m is not None:
                raw = self.api.call("GET", f"/api/gallery/{m['version']}", raw=True)
                self._gallery = Gallery.from_bytes(
                    raw, f"gallery v{m['version']}", self.engine.model_id
                )
        return self._gallery

    def shots(self, person_id: str, photos: list[Path]) -> tuple[list[Shot], list[Rejection]]:
        """The person's good, consistent photos (the best MAX_TEMPLATES), and those left out."""
        shots, rejected = person_shots(self.engine, person_id, photos, largest=self.largest)
        kept, extra = best_shots(person_id, shots)
        return kept, rejected + extra

    def nearest_other(self, person_id: str, embs: F32) -> Nearest | None:
        """The enrolled person (not ``person_id``) most like these templates, if any."""
        g = self.gallery()
        if g is None:
            return None
        return nearest_other(g, self.engine, person_id, embs, self.target_fpir)

    def send(
        self, person: dict[str, Any], shots: list[Shot], publish: bool = True, replace: bool = False
    ) -> dict[str, Any]:
        """Refuse a likely duplicate (unless forced); otherwise store person and templates.

        The answer's ``templates`` is how many the person now has.
        """
        pid = person["id"]
        if not shots:
            raise EnrollError(f"{pid}: no usable photo; nothing enrolled")
        embs = embeddings(shots)
        near = self.nearest_other(pid, embs)
        if near and near.duplicate and not self.force:
            raise EnrollError(
                f"{pid}: the face already matches enrolled person {near.person_id} (score "
                f"{near.score:.2f} >= operating threshold {near.point.threshold:.2f}); possible "
                "duplicate, or a look-alike the gates would confuse: not enrolled. Check, then "
                "use --force"
            )
        self.api.call("PUT", f"/api/persons/{pid}", person)
        return self.api.call(
            "POST",
            f"/api/persons/{pid}/templates",
            {
                "model_id": self.engine.model_id,
                "embeddings": embs.tolist(),
                "qualities": [s.quality for s in shots],
                "replace": replace,
                "publish": publish,
            },
        )

    def send_reference(self, person_id: str, shots: list[Shot]) -> str | None:
        """Upload the best shot's face crop (never the whole photo) as the person's reference
        photo; None when stored, else the server's reason (the enrollment itself stands)."""
        import cv2

        best = max(shots, key=lambda s: s.quality)
        ok, jpeg = cv2.imencode(
            ".jpg", best.reference_crop(), [cv2.IMWRITE_JPEG_QUALITY, REFERENCE_JPEG_QUALITY]
        )
        if not ok:
            return "the face crop could not be encoded as JPEG"
        try:
            self.api.put_jpeg(f"/api/persons/{person_id}/reference", jpeg.tobytes())
        except EnrollError as e:
            return str(e)
        return None
