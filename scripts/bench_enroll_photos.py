#!/usr/bin/env python3
"""How much more than one photo at the desk is worth: people enrolled with 1, 2, 3 ... photos.

  python scripts/bench_enroll_photos.py --people ../shared/faces_east_asian_dev \
      --pad ../shared/distractors_dev --cache /tmp/gatewatch_bench_cache

Everyone in ``--people`` with more than ``--max-photos`` photos is a resident: enrolled with their
first k photos (k = 1 .. max), probed with their other photos (the same probes for every k).
Everyone in ``--people`` with a single photo is a stranger. ``--pad`` people (one photo each) are
enrolled too, so the gallery has the size and the threshold of a real compound's. The threshold is
the gallery's operating point (templates, target FPIR) as the edge computes it; a person's score
is their best template (as the gallery searches), named when it reaches the threshold and beats
the runner-up person by the margin. Prints, per k: templates, threshold, residents' probes named
right / named wrong / not named, strangers named (per person: any template of anyone).
Folders in the shared sets' layout (``<identity>/<n>.jpg`` + ``manifest.csv``).

``--poses``: how the capture prompts' yaw ranges (enroll/capture.py) sort the ``--people`` photos
(largest face, landmark yaw): straight, turned left, turned right, in between, or failing the
quality gate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contract.config import FaceConfig
from scripts.openset import EmbeddingSet, embed_ours

F32 = npt.NDArray[np.float32]


def best_per_person(probes: F32, templates: F32, owner: npt.NDArray[np.int64]) -> F32:
    """[P, persons] best template score per person (templates sorted by owner)."""
    s = probes @ templates.T
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return np.maximum.reduceat(s, starts, axis=1)


def photos_by_person(s: EmbeddingSet) -> dict[str, list[int]]:
    """Each identity's photos with a face, in the manifest's order."""
    return {p: [i for i in rows if s.ok[i]] for p, rows in s.by_identity().items()}


def run(
    people: EmbeddingSet, pad: EmbeddingSet, max_photos: int, target: float, margin: float
) -> None:
    from models.engine import FaceEngine

    engine = FaceEngine(FaceConfig())
    by = photos_by_person(people)
    residents = sorted(p for p, rows in by.items() if len(rows) > max_photos)
    strangers = [rows[0] for p, rows in sorted(by.items()) if len(people.by_identity()[p]) == 1
                 and rows]  # fmt: skip
    padding = [rows[0] for _, rows in sorted(photos_by_person(pad).items()) if rows]
    probes = [(n, i) for n, p in enumerate(residents) for i in by[p][max_photos:]]
    probe_emb = people.emb[[i for _, i in probes]]
    truth = np.asarray([n for n, _ in probes])
    stranger_emb = people.emb[strangers]
    print(f"{len(residents)} residents with more than {max_photos} photos ({len(probes)} probes), "
          f"{len(padding)} padding people, {len(strangers)} strangers")  # fmt: skip
    for k in range(1, max_photos + 1):
        rows = [(n, i) for n, p in enumerate(residents) for i in by[p][:k]]
        owner = np.asarray([n for n, _ in rows] + list(range(len(residents),
                           len(residents) + len(padding))))  # fmt: skip
        templates = np.concatenate([people.emb[[i for _, i in rows]], pad.emb[padding]])
        point = engine.operating_point(len(templates), target)
        thr = point.threshold
        res = []
        for emb in (probe_emb, stranger_emb):
            sc = best_per_person(emb, templates, owner)
            top2 = -np.sort(-sc, axis=1)[:, :2]
            named = (top2[:, 0] >= thr) & (top2[:, 0] - top2[:, 1] >= margin)
            res.append((sc.argmax(axis=1), named))
        (best, named), (_, s_named) = res
        right = named & (best == truth)
        wrong = named & (best != truth)
        others = (
            f"strangers named {s_named.mean():.4f} ({s_named.sum()}/{len(strangers)})"
            if strangers
            else "no single-photo people: no strangers"
        )
        print(
            f"k={k}: {len(templates)} templates, threshold {thr:.3f}; residents named right "
            f"{right.mean():.3f} ({right.sum()}/{len(probes)}), named wrong {wrong.sum()}, "
            f"not named {(~named).sum()}; {others}"
        )


def poses(folder: Path) -> None:
    """Share of the folder's photos each capture prompt would take (see --poses)."""
    from collections import Counter

    from enroll.capture import prompts
    from models.engine import FaceEngine
    from models.imageio import read_image
    from scripts.openset import manifest_rows

    engine = FaceEngine(FaceConfig())
    rules = prompts(engine.config.quality.max_yaw_deg)
    seen: Counter[str] = Counter()
    for row in manifest_rows(folder):
        faces = engine.analyze(read_image(folder / row["path"]), embed="none")
        if not faces:
            seen["no face"] += 1
            continue
        q = max(faces, key=lambda f: f.area).quality
        fits = [p.key for p in rules if p.misfit(q.yaw_deg) is None]
        seen["low quality" if not q.ok else fits[0] if fits else "in between"] += 1
    n = sum(seen.values())
    print(f"{folder.name}: {n} photos; " + ", ".join(
        f"{k} {v / n:.3f} ({v})" for k, v in seen.most_common()))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=Path, default=Path("../shared/faces_east_asian_dev"))
    ap.add_argument("--pad", type=Path, default=Path("../shared/distractors_dev"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--max-photos", type=int, default=3, help="k runs from 1 to this")
    ap.add_argument("--target-fpir", type=float, default=0.003)
    ap.add_argument("--margin", type=float, default=0.05)
    ap.add_argument("--poses", action="store_true", help="the prompts' yaw ranges on --people")
    a = ap.parse_args()
    if a.poses:
        poses(a.people)
        return 0
    a.cache.mkdir(parents=True, exist_ok=True)
    people, pad = embed_ours(a.people, a.cache), embed_ours(a.pad, a.cache)
    run(people, pad, a.max_photos, a.target_fpir, a.margin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
