#!/usr/bin/env python3
"""Does a float16 flat gallery name the same person first as the float32 one, on real faces?

Usage: python scripts/check_fp16_gallery.py [--shared ../shared] [--sets faces ...]

Each photo of the shared sets is embedded with the project's FaceEngine (largest face). The first
photo of every identity is enrolled (all sets in one gallery: about 1,060 persons); every photo is
then a query, against the project's Gallery as the server keeps it (float32, faiss's exact
inner-product index) and as the edge keeps it (``half=True``: float16 templates, faiss's
IndexScalarQuantizer QT_fp16; queries stay float32). Printed: queries compared, rank-1 persons
that differ, the largest score difference, and the smallest gap between the first two persons.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

F32 = npt.NDArray[np.float32]
SETS = ("faces", "faces_east_asian_dev", "faces_wide_dev")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def embed_sets(shared: Path, sets: tuple[str, ...], engine=None) -> tuple[F32, list[str]]:  # noqa: ANN001
    """One embedding per photo with a face (its largest), and the photo's identity."""
    from models.engine import FaceEngine
    from models.imageio import read_image

    engine = engine or FaceEngine()
    embs, who = [], []
    for name in sets:
        for person in sorted(p for p in (shared / name).iterdir() if p.is_dir()):
            for photo in sorted(person.iterdir()):
                if photo.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                faces = engine.analyze(read_image(photo))
                if faces and faces[0].embedding is not None:
                    embs.append(faces[0].embedding)
                    who.append(f"{name}/{person.name}")
    return np.asarray(embs, np.float32), who


def rank1_fp16_vs_fp32(embs: F32, who: list[str]) -> dict[str, float]:
    """Enroll each identity's first photo, query with every photo, compare both galleries."""
    from models.gallery import Gallery

    first: dict[str, int] = {}
    for i, w in enumerate(who):
        first.setdefault(w, i)
    persons = [(f"p{n}", "resident", embs[i : i + 1]) for n, i in enumerate(first.values())]
    exact = Gallery("sface:check-d128+x", embs.shape[1])
    half = Gallery("sface:check-d128+x", embs.shape[1], half=True)
    exact.add_many(persons)
    half.add_many(persons)
    h32, h16 = exact.search(embs, k=2), half.search(embs, k=2)
    top32 = [h.candidates[0] for h in h32]
    top16 = [h.candidates[0] for h in h16]
    return {
        "queries": len(embs),
        "persons": len(exact),
        "rank1_differs": sum(a.person_id != b.person_id for a, b in zip(top32, top16, strict=True)),
        "max_score_diff": max(abs(a.score - b.score) for a, b in zip(top32, top16, strict=True)),
        "min_top2_gap": min(h.margin for h in h32),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    args = ap.parse_args()
    embs, who = embed_sets(args.shared, tuple(args.sets))
    print(rank1_fp16_vs_fp32(embs, who))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
