#!/usr/bin/env python3
"""Does the embedder's edited graph (PRelu as Relus, models/onnx_prepare.py) give the same
embeddings as the file itself, on real faces, and how much faster is it, in the same run?

Usage: python scripts/check_fast_graph.py [--shared ../shared] [--sets faces ...] [--repeats 30]

Every photo of the shared sets is detected and aligned once (largest face); each aligned face is
embedded by two onnxruntime sessions of the same file: the file as it is (the peer) and the graph
``make_session`` runs. The first photo of every identity is enrolled in a float32 gallery of each
(about 1,060 persons); every photo is then a query. Printed: faces, the largest difference of an
embedding value and of a score, the rank-1 persons that differ, and per face the median time of
both sessions at batch 1 and 4, on 1 and 2 threads (ratio: file / edited).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.check_fp16_gallery import IMAGE_SUFFIXES, SETS  # noqa: E402


def aligned_faces(shared: Path, sets: list[str]) -> tuple[list[np.ndarray], list[str]]:
    from models.engine import FaceEngine
    from models.imageio import read_image

    engine = FaceEngine()
    crops, who = [], []
    for name in sets:
        for person in sorted(p for p in (shared / name).iterdir() if p.is_dir()):
            for photo in sorted(person.iterdir()):
                if photo.suffix.lower() in IMAGE_SUFFIXES:
                    faces = engine.analyze(read_image(photo), embed="none")
                    if faces:
                        crops.append(faces[0].aligned)
                        who.append(f"{name}/{person.name}")
    return crops, who


def embedders(threads: int):  # noqa: ANN201 (two SFaceEmbedders)
    """The project's embedder, and one on the file itself."""
    from contract.config import FaceConfig
    from models.embedder import SFaceEmbedder
    from models.packs import resolve_pack
    from models.runtime import session_options

    path = resolve_pack(FaceConfig()).embedder_path
    edited = SFaceEmbedder(path, threads)
    plain = SFaceEmbedder(path, threads)
    plain.session = ort.InferenceSession(
        str(path), session_options(threads), providers=["CPUExecutionProvider"]
    )
    return plain, edited


def rank1(embs: np.ndarray, who: list[str]) -> list:
    from models.gallery import Gallery

    first: dict[str, int] = {}
    for i, w in enumerate(who):
        first.setdefault(w, i)
    g = Gallery("sface:check-d128+x", embs.shape[1])
    g.add_many([(f"p{n}", "resident", embs[i : i + 1]) for n, i in enumerate(first.values())])
    return [h.candidates[0] for h in g.search(embs, k=1)]


def per_face_ms(emb, crops: list[np.ndarray], batch: int, repeats: int) -> float:  # noqa: ANN001
    times = []
    for r in range(repeats + 3):
        chunk = [crops[(r * batch + j) % len(crops)] for j in range(batch)]
        t = time.perf_counter()
        emb.embed(chunk)
        if r >= 3:  # the first runs size the arena
            times.append((time.perf_counter() - t) * 1e3 / batch)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    crops, who = aligned_faces(args.shared, args.sets)
    plain, edited = embedders(2)
    a, b = plain.embed(crops), edited.embed(crops)
    ra, rb = rank1(a, who), rank1(b, who)
    print(f"faces: {len(crops)}; largest embedding difference {np.abs(a - b).max():.2e}; "
          f"rank-1 differs {sum(x.person_id != y.person_id for x, y in zip(ra, rb, strict=True))};"
          f" largest rank-1 score difference "
          f"{max(abs(x.score - y.score) for x, y in zip(ra, rb, strict=True)):.2e}")  # fmt: skip
    print("| threads | batch | file ms / face | edited ms / face | file / edited |")
    print("|---|---|---|---|---|")
    for threads in (1, 2):
        plain, edited = embedders(threads)
        for batch in (1, 4):
            # Interleaved: both see the same machine.
            p, e = [], []
            for _ in range(3):
                p.append(per_face_ms(plain, crops, batch, args.repeats // 3))
                e.append(per_face_ms(edited, crops, batch, args.repeats // 3))
            mp, me = statistics.median(p), statistics.median(e)
            print(f"| {threads} | {batch} | {mp:.1f} | {me:.1f} | {mp / me:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
