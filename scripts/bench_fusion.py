#!/usr/bin/env python3
"""Track-level fusion against today's vote on still photos (issue 17 item 4), at a larger scale
than the gate videos allow: each "walk" is up to K different photos of one person.

Usage: python scripts/bench_fusion.py --faces ../shared/faces_east_asian_dev [--pad 5115]

The open-set split of bench_accuracy.py (rotation 0: every third identity is a stranger, the others
enroll their first photo; --pad one-photo people of --pad-with join the gallery). Mated walks:
enrolled people with 3+ photos, walking with up to K of their other photos; non-mated walks:
strangers with 2+ photos, up to K of theirs. Per walk, *vote*: each person's mean score over the
walk's photos (the edge's rule); *fusion*: the photos' embeddings averaged (weighted by the
quality score in the cache), L2-normalised, scored once. Both name the best person when the score
reaches the threshold with a margin of 0.05 over the runner-up. Printed: named right (mated) and
strangers named (non-mated) at the calibrated threshold for the gallery and at fixed thresholds,
each method's named-right at an equal share of strangers named, and the per-comparison false-accept
rate of fused stranger templates beside single photos' (the calibration curve is of single pairs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.learning import fuse  # noqa: E402
from scripts.openset import embed_ours  # noqa: E402

MARGIN = 0.05


def walks(faces: Path, cache: Path, k: int) -> dict:
    """Gallery rows (first photo of each enrolled person) and the mated / non-mated walks."""
    s = embed_ours(faces, cache)
    by_id = {i: [j for j in v if s.ok[j]] for i, v in s.by_identity().items()}
    ids = sorted(i for i, v in by_id.items() if v)
    strangers = set(ids[0::3])
    enrolled = [i for i in ids if i not in strangers]
    q = s.quality if s.quality is not None else np.ones(len(s.ids))
    mated = [(n, by_id[i][1 : 1 + k]) for n, i in enumerate(enrolled) if len(by_id[i]) >= 3]
    non = [(-1, by_id[i][:k]) for i in sorted(strangers) if len(by_id[i]) >= 2]
    return {
        "gallery": s.emb[[by_id[i][0] for i in enrolled]],
        "walks": [(who, s.emb[idx], q[idx]) for who, idx in mated + non],
        "single_strangers": s.emb[[j for i in sorted(strangers) for j in by_id[i]]],
    }


def per_person(method: str, e: np.ndarray, q: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Each gallery person's score for one walk (one template per person here)."""
    if method == "vote":
        return (e @ gallery.T).mean(axis=0)
    return gallery @ fuse(e, q)


def decide(scores: np.ndarray, threshold: float) -> int:
    top2 = np.argpartition(-scores, 1)[:2]
    a, b = sorted(top2, key=lambda j: -scores[j])
    return int(a) if scores[a] >= threshold and scores[a] - scores[b] >= MARGIN else -1


def table(data: dict, gallery: np.ndarray, thresholds: list[float]) -> dict:
    out: dict = {}
    for method in ("vote", "fusion"):
        per = [(who, per_person(method, e, q, gallery)) for who, e, q in data["walks"]]
        rows = []
        for t in thresholds:
            said = [(who, decide(sc, t)) for who, sc in per]
            m = [w for w in said if w[0] >= 0]
            n = [w for w in said if w[0] < 0]
            rows.append({"threshold": round(t, 4),
                         "named_right": round(sum(a == b for a, b in m) / len(m), 4),
                         "named_wrong": sum(b >= 0 and a != b for a, b in m),
                         "strangers_named": sum(b >= 0 for _, b in n), "strangers": len(n),
                         "mated": len(m)})  # fmt: skip
        out[method] = rows
        # Named right at an equal share of strangers named: the threshold that names k strangers.
        best_non = np.sort([sc.max() for who, sc in per if who < 0])[::-1]
        eq = {}
        for named in (0, 1, 2):
            t = float(best_non[named]) + 1e-6 if named < len(best_non) else -1.0
            said = [(who, decide(sc, t)) for who, sc in per if who >= 0]
            eq[f"{named} strangers named (t={t:.3f})"] = round(
                sum(a == b for a, b in said) / len(said), 4
            )
        out[f"{method}, equal strangers named"] = eq
    return out


def fused_far(data: dict, gallery: np.ndarray, thresholds: list[float]) -> dict:
    """Per-comparison FAR against the gallery: fused stranger walks vs single stranger photos."""
    fused = np.stack([fuse(e, q) for who, e, q in data["walks"] if who < 0])
    single = data["single_strangers"]
    out = {}
    for t in thresholds:
        f = float((fused @ gallery.T >= t).mean())
        s = float((single @ gallery.T >= t).mean())
        out[f"{t:.2f}"] = {"fused": f, "single": s, "ratio": round(f / s, 2) if s else None}
    n = len(gallery)
    return {"comparisons": [int(fused.shape[0] * n), int(single.shape[0] * n)], "far": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--walk-photos", type=int, default=3)
    ap.add_argument("--pad", type=int, default=0)
    ap.add_argument("--pad-with", type=Path, default=Path("../shared/distractors_dev"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--target-fpir", type=float, default=0.003)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from models.engine import FaceEngine

    data = walks(args.faces, args.cache, args.walk_photos)
    gallery = data["gallery"]
    if args.pad:
        d = embed_ours(args.pad_with, args.cache)
        ok = np.flatnonzero(d.ok)[: args.pad]
        gallery = np.concatenate([gallery, d.emb[ok]])
    t_edge = FaceEngine().operating_point(len(gallery), args.target_fpir).threshold
    thresholds = [t_edge, 0.40, 0.45, 0.50, 0.55, 0.60]
    res = {"faces": args.faces.name, "gallery": len(gallery), "padding": args.pad,
           "edge_threshold": t_edge, **table(data, gallery, thresholds),
           "fused_far": fused_far(data, gallery, [0.36, 0.40, 0.45, 0.50])}  # fmt: skip
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
