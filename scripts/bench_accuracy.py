#!/usr/bin/env python3
"""Verification and open-set identification accuracy on folders laid out like ../shared/faces.

Usage: python scripts/bench_accuracy.py --faces ../shared/faces --faces ../shared/faces_east_asian

Runs gatewatch's pipeline (YuNet + norm_crop + SFace) and, when it is installed, the
face_recognition library (dlib) as the peer on the same pairs in the same run.
Prints one table per data set; --json FILE also writes the numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

Embedder = Callable[[Path], np.ndarray | None]


@dataclass
class Result:
    system: str
    dataset: str
    images: int
    no_face: int
    ms_per_image: float
    auc: float
    tar_far_1e2: float
    thr_far_1e2: float
    tar_far_1e3: float
    thr_far_1e3: float
    rank1: float
    fnir_fpir_1e2: float
    op_threshold: float | None
    op_fpir: float | None
    op_fnir: float | None


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney U with average ranks for ties."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def threshold_at(impostor: np.ndarray, rate: float) -> float:
    """Smallest threshold t (accept when score > t) whose false-accept rate is at most ``rate``."""
    s = np.sort(impostor)[::-1]
    k = int(np.floor(rate * len(s)))
    return float(s[k]) if k < len(s) else float(s[-1])


def ours(threads: int, threshold: float | None) -> tuple[str, Embedder, float, float]:
    from contract.config import FaceConfig
    from models.engine import FaceEngine
    from models.imageio import read_image

    engine = FaceEngine(FaceConfig(threads=threads, match_threshold=threshold))

    def embed(path: Path) -> np.ndarray | None:
        faces = engine.analyze(read_image(path), embed="none")
        if not faces:
            return None
        best = max(faces, key=lambda f: f.area)
        return engine.embed_crops([best.aligned])[0]

    return "gatewatch (YuNet+SFace)", embed, engine.threshold, engine.config.margin_threshold


def dlib_peer() -> tuple[str, Embedder, float, float] | None:
    try:
        import face_recognition
    except ImportError:
        return None

    def embed(path: Path) -> np.ndarray | None:
        img = face_recognition.load_image_file(str(path))
        h, w = img.shape[:2]
        # Same scaling rule the data set's face counts were made with: longest side <= 1024.
        if max(h, w) > 1024:
            import cv2

            s = 1024 / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        locs = face_recognition.face_locations(img)
        if not locs:
            return None
        big = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return np.asarray(face_recognition.face_encodings(img, [big])[0], np.float32)

    # dlib compares by Euclidean distance (0.6 is its usual threshold); as a similarity: -distance.
    return "face_recognition (dlib)", embed, -0.6, 0.0


def similarity(system: str, a: np.ndarray, b: np.ndarray) -> float:
    if system.startswith("face_recognition"):
        return -float(np.linalg.norm(a - b))
    return float(a @ b)


def evaluate(name: str, embed: Embedder, op_thr: float, op_margin: float, folder: Path) -> Result:
    manifest = list(csv.DictReader((folder / "manifest.csv").read_text().splitlines()))
    pairs = list(csv.DictReader((folder / "pairs.csv").read_text().splitlines()))
    emb: dict[str, np.ndarray | None] = {}
    t0 = time.perf_counter()
    for row in manifest:
        emb[row["path"]] = embed(folder / row["path"])
    ms = (time.perf_counter() - t0) * 1000 / len(manifest)
    worst = -1e9  # a photo with no face found loses its pairs: scored as the worst possible
    scores, labels = [], []
    for p in pairs:
        a, b = emb.get(p["path_a"]), emb.get(p["path_b"])
        scores.append(similarity(name, a, b) if a is not None and b is not None else worst)
        labels.append(int(p["same"]))
    s, y = np.asarray(scores), np.asarray(labels)
    t2, t3 = threshold_at(s[y == 0], 1e-2), threshold_at(s[y == 0], 1e-3)

    # Open set: every third identity (sorted) is left out of the gallery entirely; the others
    # enroll their first photo and probe with the rest.
    by_id: dict[str, list[str]] = {}
    for row in manifest:
        by_id.setdefault(row["identity"], []).append(row["path"])
    ids = sorted(by_id)
    left_out = set(ids[::3])
    gallery_ids = [i for i in ids if i not in left_out and emb[by_id[i][0]] is not None]
    g = np.stack([emb[by_id[i][0]] for i in gallery_ids])
    mated, nonmated = [], []  # (best score, margin, correct?)
    for ident in ids:
        probes = by_id[ident] if ident in left_out else by_id[ident][1:]
        for path in probes:
            e = emb[path]
            if e is None:
                (nonmated if ident in left_out else mated).append((-1e9, 0.0, False))
                continue
            sims = np.array([similarity(name, e, x) for x in g])
            order = np.argsort(-sims)
            top, second = sims[order[0]], sims[order[1]] if len(order) > 1 else -1e9
            entry = (float(top), float(top - second), gallery_ids[order[0]] == ident)
            (nonmated if ident in left_out else mated).append(entry)
    rank1 = float(np.mean([c for _, _, c in mated]))
    nm_scores = np.array([s_ for s_, _, _ in nonmated], dtype=float)
    t_fpir = threshold_at(nm_scores, 1e-2)
    fnir = float(np.mean([not (c and s_ > t_fpir) for s_, _, c in mated]))
    op_fpir = float(np.mean([s_ >= op_thr and mg >= op_margin for s_, mg, _ in nonmated]))
    op_fnir = float(np.mean([not (c and s_ >= op_thr and mg >= op_margin) for s_, mg, c in mated]))
    return Result(
        system=name,
        dataset=folder.name,
        images=len(manifest),
        no_face=sum(v is None for v in emb.values()),
        ms_per_image=round(ms, 1),
        auc=round(roc_auc(s, y), 4),
        tar_far_1e2=round(float((s[y == 1] > t2).mean()), 4),
        thr_far_1e2=round(t2, 4),
        tar_far_1e3=round(float((s[y == 1] > t3).mean()), 4),
        thr_far_1e3=round(t3, 4),
        rank1=round(rank1, 4),
        fnir_fpir_1e2=round(fnir, 4),
        op_threshold=op_thr,
        op_fpir=round(op_fpir, 4),
        op_fnir=round(op_fnir, 4),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--faces", type=Path, action="append", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition even if present")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--match-threshold", type=float, help="operating point to report (default: ours)"
    )
    args = ap.parse_args()
    systems = [ours(args.threads, args.match_threshold)]
    peer = None if args.no_peer else dlib_peer()
    if peer is None and not args.no_peer:
        print("peer: face_recognition not installed (pip install dlib-bin face_recognition_models"
              " && pip install --no-deps face_recognition); running ours alone")  # fmt: skip
    if peer:
        systems.append(peer)
    results = [evaluate(*s, folder) for folder in args.faces for s in systems]
    cols = ["dataset", "system", "images", "no_face", "auc", "tar_far_1e2", "thr_far_1e2",
            "tar_far_1e3", "thr_far_1e3", "rank1", "fnir_fpir_1e2", "op_fpir", "op_fnir",
            "ms_per_image"]  # fmt: skip
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(asdict(r)[c]) for c in cols))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
