"""Enrollment policy: one good face per photo, photos that agree, no silent duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enroll.client import Api, EnrollError
from models.engine import FaceEngine
from models.enrollment import Rejection, person_templates
from models.gallery import Gallery

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Duplicate:
    person_id: str
    score: float


class Enroller:
    """Makes templates from photos locally; sends person and templates (no photos) to the server."""

    def __init__(self, api: Api, engine: FaceEngine, force: bool = False, largest: bool = False):
        self.api = api
        self.engine = engine
        self.force = force
        self.largest = largest
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

    def duplicate_of(self, person_id: str, embs: F32) -> Duplicate | None:
        """An enrolled different person this face already matches, if any."""
        g = self.gallery()
        if g is None or len(g) == 0 or len(embs) == 0:
            return None
        mean = embs.mean(axis=0)
        for c in g.search(mean / max(float(np.linalg.norm(mean)), 1e-6), k=3)[0].candidates:
            if c.person_id != person_id and c.score >= self.engine.threshold:
                return Duplicate(c.person_id, c.score)
        return None

    def send(
        self, person: dict[str, Any], embs: F32, publish: bool = True, replace: bool = False
    ) -> dict[str, Any]:
        """Refuse a likely duplicate (unless forced); otherwise store person and templates."""
        pid = person["id"]
        if len(embs) == 0:
            raise EnrollError(f"{pid}: no usable photo; nothing enrolled")
        dup = self.duplicate_of(pid, embs)
        if dup and not self.force:
            raise EnrollError(
                f"{pid}: the face already matches enrolled person {dup.person_id} (score "
                f"{dup.score:.2f}); possible duplicate, not enrolled. Check, then use --force"
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
