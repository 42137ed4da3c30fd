"""Enrollment policy: one good face per photo, photos that agree, no silent duplicates, and a
warning when a new person looks too much like someone already enrolled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enroll.client import Api, EnrollError
from models.calibration import DEFAULT_TARGET_FPIR, OperatingPoint
from models.engine import FaceEngine
from models.enrollment import Rejection, person_templates
from models.gallery import Gallery

F32 = npt.NDArray[np.float32]

# How much higher than the enrolled pair's own score a new photo of one of two different people
# scores against the other's template: the 99th percentile on faces_wide_dev's 400 people (mean
# -0.06, spread 0.07; scripts/bench_accuracy.py). Two people closer than the operating threshold
# minus this gap are a look-alike pair: one of them may be named as the other at a gate.
LOOK_ALIKE_GAP = 0.08


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

    def describe(self, person_id: str) -> str:
        line = (
            f"{person_id}: nearest other enrolled person {self.person_id}, score {self.score:.3f} "
            f"(operating threshold {self.point.threshold:.3f} for "
            f"{self.point.gallery_size} templates)"
        )
        if self.look_alike:
            line += (
                f"; WARNING look-alike: closer than {self.point.threshold - LOOK_ALIKE_GAP:.3f}, "
                "the gates may not tell them apart. Enroll more photos of both "
                "(gatewatch enroll update --id ... photos)"
            )
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

    def templates(self, person_id: str, photos: list[Path]) -> tuple[F32, list[Rejection]]:
        embs, rejected = person_templates(self.engine, person_id, photos, largest=self.largest)
        if not embs:
            return np.zeros((0, self.engine.dim), np.float32), rejected
        return np.stack(embs).astype(np.float32), rejected

    def nearest_other(self, person_id: str, embs: F32) -> Nearest | None:
        """The enrolled person (not ``person_id``) most like these templates, if any."""
        g = self.gallery()
        if g is None:
            return None
        return nearest_other(g, self.engine, person_id, embs, self.target_fpir)

    def send(
        self, person: dict[str, Any], embs: F32, publish: bool = True, replace: bool = False
    ) -> dict[str, Any]:
        """Refuse a likely duplicate (unless forced); otherwise store person and templates."""
        pid = person["id"]
        if len(embs) == 0:
            raise EnrollError(f"{pid}: no usable photo; nothing enrolled")
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
                "replace": replace,
                "publish": publish,
            },
        )
