#!/usr/bin/env python3
"""Per-stage speed of the face pipeline at 1280x720, and gallery search at 33k and 1M persons.

Usage: python scripts/bench_speed.py [--faces ../shared/faces] [--video ../shared/video/...mp4]

Stages (median ms over the frames): detect, align, embed (one face), search (33k gallery), on 1 and
2 onnxruntime threads. Peer in the same run: OpenCV's cv2.FaceDetectorYN with the same YuNet file
on the same frames, at full frame size (how it is usually called) and at 640x360.
Gallery: synthetic templates stand in for enrolled people (index size only), drawn from Gaussians
fitted to real SFace embeddings of --faces; probes are noisy copies of templates with the real
genuine-pair cosine; recall is the share of probes whose top-1 person from the approximate index
equals the exact (flat) one. --isotropic adds structure-free unit vectors, the worst case.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import cv2
import numpy as np


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def frames_720p(faces_dir: Path, video: Path | None, limit: int) -> list[np.ndarray]:
    """Real photos fitted into 1280x720 frames (face about gate size), plus real video frames."""
    out = []
    rows = list(csv.DictReader((faces_dir / "manifest.csv").read_text().splitlines()))
    for row in rows:
        if row.get("domain") != "web":
            continue
        img = cv2.imread(str(faces_dir / row["path"]))
        h, w = img.shape[:2]
        s = min(1280 / w, 720 / h)
        small = cv2.resize(img, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        canvas = np.full((720, 1280, 3), 60, np.uint8)
        y, x = (720 - small.shape[0]) // 2, (1280 - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        out.append(canvas)
    if video and video.is_file():
        cap = cv2.VideoCapture(str(video))
        while len(out) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA))
    return out[:limit]


def bench_pipeline(frames: list[np.ndarray], threads: int, gallery) -> dict:
    from contract.config import FaceConfig
    from models.align import align_face
    from models.engine import FaceEngine

    engine = FaceEngine(FaceConfig(threads=threads))
    cv2.setNumThreads(threads)
    for f in frames[:3]:
        engine.analyze(f)  # warm-up
    det, ali, emb, sea, total = [], [], [], [], []
    for f in frames:
        t0 = time.perf_counter()
        d = engine.detect(f)
        t1 = time.perf_counter()
        if len(d) == 0:
            continue
        crop = align_face(f, d.landmarks[0])
        t2 = time.perf_counter()
        e = engine.embed_crops([crop])
        t3 = time.perf_counter()
        gallery.search(e, k=2)
        t4 = time.perf_counter()
        det.append(t1 - t0)
        ali.append(t2 - t1)
        emb.append(t3 - t2)
        sea.append(t4 - t3)
        total.append(t3 - t0)
    peer_full, peer_640 = [], []
    yn = cv2.FaceDetectorYN.create(str(engine.files.detector_path), "", (1280, 720), 0.6, 0.3)
    yn640 = cv2.FaceDetectorYN.create(str(engine.files.detector_path), "", (640, 360), 0.6, 0.3)
    for f in frames:
        t0 = time.perf_counter()
        yn.detect(f)
        t1 = time.perf_counter()
        yn640.detect(cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA))
        t2 = time.perf_counter()
        peer_full.append(t1 - t0)
        peer_640.append(t2 - t1)
    return {
        "threads": threads,
        "frames": len(total),
        "detect": median_ms(det),
        "align": median_ms(ali),
        "embed": median_ms(emb),
        "search_33k": median_ms(sea),
        "detect+align+embed": median_ms(total),
        "peer_FaceDetectorYN_1280x720": median_ms(peer_full),
        "peer_FaceDetectorYN_640x360": median_ms(peer_640),
    }


def synthetic_gallery(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Isotropic unit vectors: the worst case for any approximate index (no structure at all)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _sample(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 0, None) + 0.1 * max(float(w.mean()), 1e-9)  # floor: full rank
    z = rng.standard_normal((n, len(w)), dtype=np.float32)
    return (z * np.sqrt(w).astype(np.float32)) @ v.T.astype(np.float32)


class FaceLikeTemplates:
    """Templates drawn from Gaussians fitted to real SFace embeddings of a faces folder.

    Between-person covariance from per-identity means, within-person covariance from the
    residuals, scaled so that the median probe-to-own-template cosine is the real genuine pairs'
    10th percentile.
    """

    def __init__(self, faces_dir: Path) -> None:
        from models.engine import FaceEngine
        from models.imageio import read_image

        engine = FaceEngine()
        rows = list(csv.DictReader((faces_dir / "manifest.csv").read_text().splitlines()))
        embs, ids = [], []
        for row in rows:
            faces = engine.analyze(read_image(faces_dir / row["path"]))
            if faces:
                embs.append(max(faces, key=lambda f: f.area).embedding)
                ids.append(row["identity"])
        e, who = np.stack(embs), np.asarray(ids)
        self.mean = e.mean(axis=0)
        people = sorted(set(ids))
        means = np.stack([e[who == p].mean(axis=0) for p in people])
        self.between = np.cov((means - self.mean).T)
        resid = np.concatenate([e[who == p] - e[who == p].mean(axis=0) for p in people])
        self.within = np.cov(resid.T)
        genuine = [
            float(e[i] @ e[j])
            for i in range(len(e))
            for j in range(i + 1, len(e))
            if who[i] == who[j]
        ]
        # The 10th percentile, not the median: most genuine pairs here are near-identical photos.
        self.genuine_target = float(np.percentile(genuine, 10))

    def templates(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x = (self.mean + _sample(self.between, n, rng)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def probes(self, vecs: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(vecs), size=count, replace=False)
        noise = _sample(self.within, count, rng)
        lo, hi = 0.1, 20.0  # scale the noise until the median cosine matches the real one
        for _ in range(40):
            s = (lo + hi) / 2
            q = vecs[idx] + s * noise
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            med = float(np.median((q * vecs[idx]).sum(axis=1)))
            lo, hi = (s, hi) if med > self.genuine_target else (lo, s)
        return q.astype(np.float32), idx


def isotropic_probes(vecs: np.ndarray, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(vecs), size=count, replace=False)
    noise = rng.standard_normal((count, vecs.shape[1]), dtype=np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    q = 0.6 * vecs[idx] + 0.8 * noise  # cosine ~0.6 to its own template
    return q / np.linalg.norm(q, axis=1, keepdims=True), idx


def share_equal(a: list, b: list) -> float:
    return round(float(np.mean([x == y for x, y in zip(a, b, strict=True)])), 4)


def bench_gallery(
    label: str, vecs: np.ndarray, q: np.ndarray, truth: np.ndarray, nprobes: list[int]
) -> list[dict]:
    import faiss

    from models.gallery import Gallery

    n, dim = vecs.shape
    ids = [f"p{i}" for i in range(n)]
    t0 = time.perf_counter()
    g = Gallery("bench", dim)
    g.add_many([(ids[i], "resident", vecs[i : i + 1]) for i in range(n)])
    build_s = time.perf_counter() - t0
    flat = faiss.IndexFlatIP(dim)
    flat.add(vecs)
    _, flat_top = flat.search(q, 1)
    flat_ids = [ids[i] for i in flat_top[:, 0]]
    own = [ids[i] for i in truth]
    rows = []
    for nprobe in nprobes if g.is_approximate else [0]:
        if g.is_approximate:
            faiss.downcast_index(g._index).nprobe = nprobe
        lat, got = [], []
        for row in q:
            t = time.perf_counter()
            hit = g.search(row, k=2)[0]
            lat.append(time.perf_counter() - t)
            got.append(hit.best.person_id if hit.best else None)
        rows.append(
            {
                "templates": label,
                "persons": n,
                "index": "IVF" if g.is_approximate else "flat",
                "nprobe": nprobe or None,
                "build_s": round(build_s, 1),
                "search_median_ms": median_ms(lat),
                "search_p95_ms": round(float(np.percentile(lat, 95)) * 1000, 2),
                "recall_vs_flat": share_equal(got, flat_ids),
                "top1_is_own": share_equal(got, own),
            }
        )  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    ap.add_argument("--video", type=Path, default=Path("../shared/video/walking_toward_camera.mp4"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--million", type=int, default=1_000_000, help="size of the large gallery")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    ap.add_argument(
        "--isotropic", action="store_true", help="also the structure-free worst case at 1M"
    )
    args = ap.parse_args()

    frames = frames_720p(args.faces, args.video, args.frames)
    print(f"frames: {len(frames)} at 1280x720 (real photos and real video)")
    from models.gallery import Gallery

    g33 = Gallery("bench", 128)
    v33 = synthetic_gallery(33_000, 128)
    g33.add_many([(f"p{i}", "resident", v33[i : i + 1]) for i in range(33_000)])
    for threads in (1, 2):
        r = bench_pipeline(frames, threads, g33)
        print(" | ".join(f"{k} {v}" for k, v in r.items()))
    face_like = FaceLikeTemplates(args.faces)
    print(
        f"face-like templates: probe cosine to own template {face_like.genuine_target:.3f} "
        "(p10 of real genuine pairs)"
    )
    for n in (33_000, args.million):
        vecs = face_like.templates(n)
        q, truth = face_like.probes(vecs, 300)
        for row in bench_gallery("face-like", vecs, q, truth, args.nprobe):
            print(" | ".join(f"{k} {v}" for k, v in row.items()))
        del vecs
    if args.isotropic:
        vecs = synthetic_gallery(args.million, 128)
        q, truth = isotropic_probes(vecs, 300)
        for row in bench_gallery("isotropic", vecs, q, truth, args.nprobe):
            print(" | ".join(f"{k} {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
