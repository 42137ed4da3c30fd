#!/usr/bin/env python3
"""Edge throughput and capture-to-publish latency on 720p gate video, against a plain YuNet loop.

Usage: python scripts/bench_edge.py [--faces ../shared/faces] [--walking ../shared/video/...]

For 1 and 2 threads, on generated 720p gate videos with one and two faces per frame and on the
real walking footage scaled to 720p (3-5 faces): frames processed per second by the whole edge
(every frame, lossless), median stage times, capture-to-publish latency of the events (median,
p95) through a real Mosquitto with an acknowledging subscriber, and the edge's resident memory
with a 33,000-person gallery. Peer in the same run: a plain loop of OpenCV's cv2.FaceDetectorYN
(same YuNet file) over the same frames, detection only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set
            return int(line.split()[1]) / 1024
    return float("nan")


def make_inputs(faces: Path, walking: Path | None, work: Path) -> dict[str, Path]:
    from gatewatch.gatevideo import make_video

    vids = {}
    one = work / "one_face.mp4"
    make_video(faces, ["obama/4.jpg", "kit_harington/2.jpg", "alex_lacamoire/1.jpg",
                       "bbt_sheldon/2.jpg"], one, pass_s=2.0, gap_s=0.2)  # fmt: skip
    vids["1 face"] = one
    two = work / "two_faces.mp4"
    make_video(faces, ["obama/4.jpg+kit_harington/2.jpg", "rose_leslie/2.jpg+alex_lacamoire/1.jpg",
                       "bbt_amy/2.jpg+bbt_sheldon/2.jpg"], two, pass_s=2.0, gap_s=0.2)  # fmt: skip
    vids["2 faces"] = two
    if walking and walking.is_file():
        out = work / "walking_720p.mp4"
        cap = cv2.VideoCapture(str(walking))
        w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 720))
        while True:
            ok, f = cap.read()
            if not ok:
                break
            w.write(cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA))
        w.release()
        vids["3-5 faces (real)"] = out
    return vids


def one_run(video: Path, threads: int, port: int, gallery: Path, work: Path) -> dict:
    """Runs inside a fresh process: the edge on one video, measured."""
    from contract.config import FaceConfig
    from edge.app import EdgeApp
    from edge.config import EdgeConfig

    cfg = EdgeConfig.model_validate(
        {
            "site": "bench", "gate": "g1", "camera": "c1", "direction": "in",
            "source": {"kind": "file", "location": str(video), "pace": "lossless"},
            "gallery_path": str(gallery),
            "mqtt": {"port": port, "client_id": f"bench-{threads}-{video.stem}"},
            "outbox": {"path": str(work / f"outbox-{threads}-{video.stem}.sqlite")},
            "face": FaceConfig(threads=threads).model_dump(),
            "status_interval_s": 60,
        }
    )  # fmt: skip
    app = EdgeApp(cfg)
    t0 = time.perf_counter()
    app.run()
    wall = time.perf_counter() - t0
    lat = app.stats.samples_ms("capture_to_publish")
    return {
        "frames": app.stats.frames,
        "fps": round(app.stats.frames / wall, 1),
        "detect_ms": round(statistics.median(app.stats.samples_ms("detect")), 1),
        "embed_ms": round(statistics.median(app.stats.samples_ms("embed")), 1),
        "frame_ms": round(statistics.median(app.stats.samples_ms("frame")), 1),
        "events": app.stats.events,
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
        "gallery_persons": len(app.gallery_sync.gallery),
        "peak_rss_mb": round(rss_mb(), 0),
    }


def peer(video: Path, threads: int, model: Path) -> dict:
    cv2.setNumThreads(threads)
    cap = cv2.VideoCapture(str(video))
    yn = None
    n, t_det = 0, []
    t0 = time.perf_counter()
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if yn is None:
            yn = cv2.FaceDetectorYN.create(str(model), "", (f.shape[1], f.shape[0]), 0.6, 0.3)
        t = time.perf_counter()
        yn.detect(f)
        t_det.append((time.perf_counter() - t) * 1000)
        n += 1
    wall = time.perf_counter() - t0
    return {"fps": round(n / wall, 1), "detect_ms": round(statistics.median(t_det), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=ROOT.parent / "shared/faces")
    ap.add_argument("--walking", type=Path,
                    default=ROOT.parent / "shared/video/walking_toward_camera.mp4")  # fmt: skip
    ap.add_argument("--persons", type=int, default=33_000)
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        video, threads, port, gallery, work = args.one
        print(json.dumps(one_run(Path(video), int(threads), int(port), Path(gallery), Path(work))))
        return 0

    from gatewatch.broker import Broker
    from models.engine import FaceEngine
    from models.gallery import Gallery
    from models.imageio import read_image
    from scripts.standins import AckingStore

    work = Path(tempfile.mkdtemp(prefix="bench_edge_"))
    vids = make_inputs(args.faces, args.walking, work)
    engine = FaceEngine()
    rng = np.random.default_rng(0)
    g = Gallery(engine.model_id, engine.dim)
    synth = rng.standard_normal((args.persons, engine.dim)).astype(np.float32)
    g.add_many([(f"s{i}", "resident", synth[i : i + 1]) for i in range(args.persons)])
    for p in ("obama", "kit_harington", "rose_leslie"):
        g.add_person(f"p-{p}", "resident", engine.analyze(read_image(args.faces / p / "1.jpg"))[0]
                     .embedding)  # fmt: skip
    gallery = work / "gallery.npz"
    g.save(gallery)
    broker = Broker(work / "mosquitto").start()
    store = AckingStore(broker.port, "bench")
    print(f"gallery: {len(g)} persons; broker on port {broker.port}")
    print("video | threads | edge fps | detect ms | embed ms | frame ms | events | "
          "capture->publish p50 / p95 ms | peak RSS MB | peer YN fps | peer detect ms")  # fmt: skip
    try:
        for label, video in vids.items():
            for threads in (1, 2):
                r = subprocess.run(
                    [sys.executable, __file__, "--one", str(video), str(threads),
                     str(broker.port), str(gallery), str(work)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                res = json.loads(r.stdout.strip().splitlines()[-1])
                pr = peer(video, threads, engine.files.detector_path)
                print(f"{label} | {threads} | {res['fps']} | {res['detect_ms']} | "
                      f"{res['embed_ms']} | {res['frame_ms']} | {res['events']} | "
                      f"{res['latency_p50_ms']} / {res['latency_p95_ms']} | {res['peak_rss_mb']} | "
                      f"{pr['fps']} | {pr['detect_ms']}")  # fmt: skip
    finally:
        store.close()
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
