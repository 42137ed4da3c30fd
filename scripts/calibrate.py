#!/usr/bin/env python3
"""Fit the open-set calibration curves shipped with the model pack (models/data/*.json).

Usage: python scripts/calibrate.py --population east_asian   (faces_east_asian_dev + distractors)
       python scripts/calibrate.py --population general      (faces_wide_dev)
       python scripts/calibrate.py --population general --faces DEV --pack buffalo_l --pack-dir D

Impostor pairs are every pair of photos of different people in the development set; for the
East-Asian curve also every pair of an East-Asian adult of ``--distractors`` (starface portraits,
UTKFace rows "Asian" aged 18 or more; each its own person, minus the starface portraits of people
of faces_east_asian_dev) with the set's photos and with each other. The curve is the measured
false-accept rate per comparison with an exponential tail beyond the top 0.1 % (models/
calibration.py states the method); a generalised Pareto fitted to the same excesses is reported
beside it. The set's people with several photos measure how a person's k templates count
(PerPersonCount). One curve per test-time augmentation mode: for the shipped sface pack into
models/data/, for an operator-supplied pack into its own pack_dir, where the engine finds it.
Never run this on tests/data: those photos test the product, they do not tune it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.config import FaceConfig  # noqa: E402
from models.calibration import (  # noqa: E402
    CURVE_DIR,
    curve_path,
    fit_curve,
    save_curve,
)
from models.engine import CALIBRATED_THRESHOLD  # noqa: E402
from models.perperson import GallerySize, PerPersonCount, fit_exponent  # noqa: E402
from scripts.openset import (  # noqa: E402
    SAME_AS_EAST_ASIAN_DEV,
    EmbeddingSet,
    distractors,
    embed_ours,
    impostor_scores,
    template_count_effect,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV = {"east_asian": SHARED / "faces_east_asian_dev", "general": SHARED / "faces_wide_dev"}
FAR_LEVELS = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5]
# The exponent is fitted at the deepest level where every k has this many hits (the effective
# count rises towards k deeper in the tail: the deepest level that counts is the safest).
MIN_HITS = 100


def east_asian_adults(folder: Path, d: EmbeddingSet) -> np.ndarray:
    """Rows of the distractor set that are East-Asian adults not in faces_east_asian_dev."""
    rows = distractors(folder)
    return np.asarray(
        [
            r.index
            for r in rows
            if r.east_asian and r.adult and d.ok[r.index]
            and r.identity not in SAME_AS_EAST_ASIAN_DEV
        ],
        dtype=np.int64,
    )  # fmt: skip


def impostors(s: EmbeddingSet, extra: np.ndarray) -> np.ndarray:
    """Every cross-identity pair of ``s``, plus ``extra`` (each its own person) with ``s``'s
    photos and with each other."""
    imp = [impostor_scores(s)]
    if len(extra):
        e = s.emb[s.ok]
        imp.append(s.sims(extra, e).ravel().astype(np.float64))
        dd = s.sims(extra, extra)
        imp.append(dd[np.triu_indices(len(extra), 1)].astype(np.float64))
    return np.concatenate(imp)


def gpd(imp: np.ndarray, tail_share: float) -> tuple[float, float, int]:
    """Generalised Pareto shape and mean excess of the scores above the top ``tail_share``."""
    from scipy.stats import genpareto

    u = float(np.quantile(imp, 1 - tail_share))
    ex = imp[imp > u] - u
    shape, _, _ = genpareto.fit(ex, floc=0)
    return float(shape), float(ex.mean()), len(ex)


def per_person(s: EmbeddingSet, strangers: np.ndarray) -> PerPersonCount:
    """k templates against one, at each tail depth; a fitted per depth on the k with enough hits."""
    ks = [k for k in range(2, 9) if sum(len(r) >= k for r in s.by_identity().values()) >= 10]
    persons, ratio, hits = template_count_effect(s, strangers, ks, FAR_LEVELS)
    levels, exponents, rows, hit_rows = [], [], [], []
    for li, f in enumerate(FAR_LEVELS):
        use = [j for j, h in enumerate(hits[li]) if h >= MIN_HITS]
        print(f"  k templates vs one, single-template FAR {f:g}: "
              + ", ".join(f"k={k}: {r:.2f} ({h} hits)"
                          for k, r, h in zip(ks, ratio[li], hits[li], strict=True)))  # fmt: skip
        if len(use) < 2:
            continue
        a = fit_exponent([ks[j] for j in use], [ratio[li][j] for j in use],
                         [persons[j] for j in use])  # fmt: skip
        print(f"    a = {a:.3f} (k ** a) from k = {', '.join(str(ks[j]) for j in use)}")
        levels.append(f)
        exponents.append(round(a, 4))
        rows.append((1.0, *(round(r, 3) for r in ratio[li])))
        hit_rows.append((0, *hits[li]))
    return PerPersonCount(
        method=(
            "persons with at least k photos, up to 10 random k-subsets each, against every "
            "other person's photo (and the distractors): FAR of the best of k templates over the "
            f"mean single-template FAR at each level; a by weighted least squares on log k over "
            f"the k with >= {MIN_HITS} hits"
        ),
        far_levels=tuple(levels),
        exponents=tuple(exponents),
        k=(1, *ks),
        persons=(sum(1 for r in s.by_identity().values() if r), *persons),
        measured=tuple(rows),
        hits=tuple(hit_rows),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--population", choices=["east_asian", "general"], required=True)
    ap.add_argument("--faces", type=Path, help="development set (not tests/data); default: "
                    "faces_east_asian_dev or faces_wide_dev")  # fmt: skip
    ap.add_argument("--distractors", type=Path, default=SHARED / "distractors_dev",
                    help="East-Asian curve: distractor set with ethnicity and age ('none': "
                    "leave out)")  # fmt: skip
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--pack", default="sface")
    ap.add_argument("--pack-dir", type=Path, help="an operator-supplied InsightFace pack")
    args = ap.parse_args()
    faces = args.faces or DEV[args.population]
    face = FaceConfig(pack=args.pack, pack_dir=args.pack_dir)
    for folder in (faces, args.distractors):
        if "tests" in folder.resolve().parts:
            raise SystemExit(f"{folder}: test data must not tune the product")
    args.cache.mkdir(parents=True, exist_ok=True)
    s = embed_ours(faces, args.cache, face=face)
    source = f"{faces.name} ({len(set(s.ids))} identities, {int(s.ok.sum())} photos)"
    d, pick = None, np.zeros(0, np.int64)
    if args.population == "east_asian" and args.distractors.name != "none":
        d = embed_ours(args.distractors, args.cache, face=face)
        pick = east_asian_adults(args.distractors, d)
        source += f" + {args.distractors.name} ({len(pick)} East-Asian adults)"
    out_dir = CURVE_DIR if args.pack_dir is None else args.pack_dir
    for tta, emb in (("none", s), ("flip", s.with_flip_tta())):
        extra = np.zeros((0, s.emb.shape[1]), np.float32)
        if d is not None:
            extra = (d if tta == "none" else d.with_flip_tta()).emb[pick]
        imp = impostors(emb, extra)
        shape, excess, n_tail = gpd(imp, 1e-3)
        print(f"{args.population}/{tta}: {len(imp)} impostor pairs; top 0.1 % ({n_tail} scores): "
              f"GPD shape {shape:+.3f}, mean excess {excess:.4f}")  # fmt: skip
        if d is not None:
            alone = impostor_scores(emb)
            s0, e0, n0 = gpd(alone, 1e-3)
            print(f"  without the distractors: {len(alone)} pairs, GPD shape {s0:+.3f}, "
                  f"mean excess {e0:.4f} ({n0} scores)")  # fmt: skip
        curve = fit_curve(imp, pack=args.pack, tta=tta, source=source, population=args.population,
                          floor=CALIBRATED_THRESHOLD[args.pack], gpd_shape=round(shape, 4),
                          per_person=per_person(emb, extra))  # fmt: skip
        path = curve_path(args.pack, tta, out_dir, args.population)
        save_curve(curve, path)
        print(f"{path}: tail from {curve.tail.start:.4f} (share {curve.tail.share:.2g}, scale "
              f"{curve.tail.scale:.4f}); thresholds at FPIR 0.003: "
              + ", ".join(f"N={n}: {curve.threshold_for(GallerySize.singles(n), 0.003):.3f}"
                          for n in (10, 100, 1000, 5000, 33000)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
