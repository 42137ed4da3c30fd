#!/usr/bin/env python3
"""Where the edge process's memory goes, and what onnxruntime's session options cost and give.

Usage: python scripts/bench_memory.py [--options] [--persons 33000] [--reps 15]

Every part runs in a fresh process (resident memory is VmRSS / VmHWM of /proc/self/status):
imports (Python, numpy, OpenCV, onnxruntime, faiss, paho, pydantic, then what ``edge.app`` adds),
the YuNet and SFace sessions (load, then detection on 720p frames of the shared walking video and
embedding of 1..8 faces: the arena's growth), the gallery (a synthetic 33,000-person snapshot:
load, then a swap to a second snapshot while the first is held, as GallerySync does), OpenCV
decoding 720p and 1080p video, YuNet on two frames in one run (a batch-dynamic graph made in
memory) against two runs, and all of it in one process (two 720p videos, 100 ticks, a swap).
``--options``: memory and speed per session setting (detect ms at 720p, embed ms for 1/4/8
faces), each in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WALKING = ROOT.parent / "shared/video/walking_toward_camera.mp4"


def mem() -> tuple[float, float]:
    """(resident now, peak resident) of this process, MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            fields[line[:5]] = int(line.split()[1]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def ms(f: Callable[[], object], reps: int) -> float:
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def frames_720p(n: int = 8) -> list:
    import cv2

    cap = cv2.VideoCapture(str(WALKING))
    out = []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA))
    return out


def part_imports(_: argparse.Namespace) -> dict:
    rows = {"python": mem()[0]}
    for name in ("numpy", "cv2", "onnxruntime", "faiss", "paho.mqtt.client", "pydantic",
                 "edge.app"):  # fmt: skip
        before = mem()[0]
        __import__(name)
        rows[name] = round(mem()[0] - before, 1)
    heavy = ("scipy", "skimage", "fastapi", "starlette", "sqlalchemy", "uvicorn", "httpx", "PIL",
             "insightface", "sklearn", "matplotlib")  # fmt: skip
    rows["heavy_modules"] = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    rows["total"] = round(mem()[0], 1)
    return rows


def part_models(args: argparse.Namespace) -> dict:
    import edge.app  # noqa: F401  (the edge's imports first: only the models are measured)
    from contract.config import FaceConfig
    from models.detector import YuNetDetector
    from models.embedder import SFaceEmbedder
    from models.packs import resolve_pack
    from models.runtime import SessionTuning

    files = resolve_pack(FaceConfig())
    tuning = SessionTuning(**json.loads(args.tuning))
    frames = frames_720p()
    base = mem()[0]
    det = YuNetDetector(files.detector_path, threads=args.threads, tuning=tuning)
    r = {"yunet_load": mem()[0] - base}
    crops = []
    for f in frames:
        dets = det.detect(f)
        from models.align import align_face

        crops += [align_face(f, dets.landmarks[i]) for i in range(len(dets))]
    crops = (crops * 8)[:8]
    i = iter(range(10**9))
    r["detect_ms"] = ms(lambda: det.detect(frames[next(i) % len(frames)]), args.reps)
    r["yunet_runs"] = mem()[0] - base - r["yunet_load"]
    before = mem()[0]
    emb = SFaceEmbedder(files.embedder_path, threads=args.threads, tuning=tuning,
                        max_batch=args.max_batch)  # fmt: skip
    r["sface_load"] = mem()[0] - before
    before = mem()[0]
    for n in range(1, 9):
        emb.embed(crops[:n])
    for n in (1, 4, 8):
        r[f"embed{n}_ms"] = ms(lambda n=n: emb.embed(crops[:n]), args.reps)
    r["sface_runs"] = mem()[0] - before
    r["models_total"] = mem()[0] - base
    r["peak_over_imports"] = mem()[1] - base
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}


def part_gallery(args: argparse.Namespace) -> dict:
    from edge.gallery_sync import return_freed_heap
    from models.gallery import Gallery

    base = mem()[0]
    g = Gallery.load(args.snapshot, half=args.half)
    r = {"persons": len(g), "load": mem()[0] - base, "load_peak": mem()[1] - base}
    g2 = Gallery.load(args.snapshot2, half=args.half)  # the old one still in use, as GallerySync
    r["swap_peak"] = mem()[1] - base
    r["both_held"] = mem()[0] - base
    g = g2
    del g2
    r["after_swap"] = mem()[0] - base
    return_freed_heap()
    r["after_swap_trimmed"] = mem()[0] - base
    assert len(g) == r["persons"]
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}


def part_decode(args: argparse.Namespace) -> dict:
    import cv2

    r = {}
    for label, path in (("720p", args.video720), ("1080p", str(WALKING))):
        base = mem()[0]
        cap = cv2.VideoCapture(path)
        n = 0
        while n < 50:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
        r[label] = round(mem()[0] - base, 1)
        cap.release()
        del frame
    return r


def part_batch(args: argparse.Namespace) -> dict:
    import onnx

    from contract.config import FaceConfig
    from models.detector import YuNetDetector
    from models.onnx_prepare import make_batch_dynamic
    from models.packs import resolve_pack
    from models.runtime import make_session

    path = resolve_pack(FaceConfig()).detector_path
    frames = frames_720p(2)
    r = {}
    for label in ("fixed", "dynamic"):
        if label == "dynamic":
            model = make_batch_dynamic(onnx.load(str(path)))
            dyn = Path(tempfile.mkdtemp()) / "yunet_batch.onnx"
            onnx.save(model, str(dyn))
            det = YuNetDetector(dyn, session=make_session(dyn, args.threads))
        else:
            det = YuNetDetector(path, threads=args.threads)
        before = mem()[0]
        r[f"{label}_two_frames_ms"] = ms(lambda d=det: d.detect_many(frames), args.reps)
        r[f"{label}_memory"] = round(mem()[0] - before, 1)
    return r


def part_process(args: argparse.Namespace) -> dict:
    """Everything of a two-camera edge in one process, without MQTT and the outbox: the engine,
    the float16 gallery, two 720p videos decoded, each tick both frames detected and all their
    faces embedded in one call and searched; a gallery swap halfway."""
    import cv2

    from edge.gallery_sync import return_freed_heap
    from models.align import align_face
    from models.engine import FaceEngine
    from models.gallery import Gallery

    engine = FaceEngine()
    gallery = Gallery.load(args.snapshot, half=True)
    return_freed_heap()
    caps = [cv2.VideoCapture(args.video720) for _ in range(2)]
    ticks = 0
    while ticks < args.ticks:
        frames = [c.read()[1] for c in caps]
        if any(f is None for f in frames):
            break
        found = engine.detect_many(frames)
        crops = [align_face(f, d.landmarks[i]) for f, d in zip(frames, found, strict=True)
                 for i in range(len(d))]  # fmt: skip
        if crops:
            gallery.search(engine.embed_crops(crops))
        ticks += 1
        if ticks == args.ticks // 2:
            gallery = Gallery.load(args.snapshot2, half=True)  # the old one held until here
            return_freed_heap()
    now, peak = mem()
    return {"ticks": ticks, "persons": len(gallery), "rss": round(now, 1), "peak": round(peak, 1)}


PARTS = {
    "imports": part_imports,
    "models": part_models,
    "gallery": part_gallery,
    "decode": part_decode,
    "batch": part_batch,
    "process": part_process,
}


def child(part: str, args: argparse.Namespace, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--threads", str(args.threads),
           "--reps", str(args.reps), *extra]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_snapshots(persons: int, work: Path) -> tuple[Path, Path]:
    import numpy as np

    from models.engine import FaceEngine
    from models.gallery import Gallery

    engine = FaceEngine()
    rng = np.random.default_rng(0)
    g = Gallery(engine.model_id, engine.dim)
    synth = rng.standard_normal((persons, engine.dim)).astype(np.float32)
    g.add_many([(f"s{i}", "resident", synth[i : i + 1]) for i in range(persons)])
    a, b = work / "a.npz", work / "b.npz"
    g.save(a)
    g.version += 1
    g.save(b)
    return a, b


def make_720p(work: Path) -> Path:
    from scripts.bench_edge import write_720p

    return write_720p(WALKING, work / "walking_720p.mp4", 25)


OPTION_VARIANTS = {
    "chosen (arena, no mem pattern, all opts, prepacked)": {},
    "before (mem pattern on)": {"mem_pattern": True},
    "arena off": {"cpu_mem_arena": False},
    "arena off, mem pattern on": {"cpu_mem_arena": False, "mem_pattern": True},
    "optimization extended": {"optimization": "extended"},
    "optimization basic": {"optimization": "basic"},
    "optimization disable": {"optimization": "disable"},
    "prepacking off": {"prepacking": False},
}
MODEL_COLS = ("yunet_load", "yunet_runs", "sface_load", "sface_runs", "models_total",
              "peak_over_imports", "detect_ms", "embed1_ms", "embed4_ms", "embed8_ms")  # fmt: skip


def options_table(args: argparse.Namespace) -> None:
    print(f"load: {os.getloadavg()[0]:.1f}; threads {args.threads}; MB and ms (medians of "
          f"{args.reps})")  # fmt: skip
    print("setting | max batch | " + " | ".join(MODEL_COLS))
    runs = [(label, t, 4) for label, t in OPTION_VARIANTS.items()]
    runs.append(("chosen, embedder batch 8", {}, 8))
    runs.append(("before (mem pattern on), embedder batch 32", {"mem_pattern": True}, 32))
    for label, tuning, batch in runs:
        r = child("models", args, "--tuning", json.dumps(tuning), "--max-batch", str(batch))
        print(f"{label} | {batch} | " + " | ".join(str(r[c]) for c in MODEL_COLS))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--options", action="store_true", help="the session-option table only")
    ap.add_argument("--persons", type=int, default=33_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    ap.add_argument("--tuning", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--max-batch", type=int, default=4, help=argparse.SUPPRESS)
    ap.add_argument("--snapshot", help=argparse.SUPPRESS)
    ap.add_argument("--snapshot2", help=argparse.SUPPRESS)
    ap.add_argument("--video720", help=argparse.SUPPRESS)
    ap.add_argument("--half", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ticks", type=int, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return 0
    if args.options:
        options_table(args)
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    a, b = make_snapshots(args.persons, work)
    video = make_720p(work)
    print(f"load: {os.getloadavg()[0]:.1f}; threads {args.threads}; resident MB")
    snaps = ("--snapshot", str(a), "--snapshot2", str(b))
    for label, part, extra in (("imports", "imports", ()), ("models", "models", ()),
                               ("gallery float32", "gallery", snaps),
                               ("gallery float16 (edge)", "gallery", (*snaps, "--half")),
                               ("decode", "decode", ("--video720", str(video))),
                               ("batch", "batch", ()),
                               ("two cameras, one process", "process",
                                (*snaps, "--video720", str(video)))):  # fmt: skip
        print(f"{label}: {json.dumps(child(part, args, *extra))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
