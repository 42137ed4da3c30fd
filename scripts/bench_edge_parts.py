"""The measured parts of scripts/bench_edge.py, each run in a fresh process: the edge with one or
more cameras for a fixed window (``edge_run``), one plain YuNet loop (``peer_run``), and today's
per-video run and peer (``one_run``, ``peer``). Also the busy loops beside a run.

The child modes of bench_edge.py print their result as one JSON line; the parent reads it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

WAIT_FIRST_FRAME_S = 120.0  # a loaded machine can take long to load the models and open files


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class CameraCount:
    """One camera's counters at one moment."""

    at: float
    frames: int
    captured: int | None
    dropped: int
    events: int
    latencies: int  # capture-to-publish samples held so far


def _count(cam: Any) -> CameraCount:  # noqa: ANN401 (an edge CameraPipeline, or today's EdgeApp)
    return CameraCount(
        time.monotonic(),
        cam.stats.frames,
        getattr(cam.capture, "captured", None),
        cam.capture.dropped,
        cam.stats.events,
        len(cam.stats.samples_ms("capture_to_publish")),
    )


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _camera_result(cam: Any, start: CameraCount, end: CameraCount, latencies: list[float]) -> dict:  # noqa: ANN401
    """What one camera did between ``start`` and ``end`` (the measured window)."""
    span = end.at - start.at
    frames = end.frames - start.frames
    captured = (
        end.captured - start.captured
        if end.captured is not None and start.captured is not None
        else None
    )
    # Samples of the window only: those added since the start (the deque keeps the last 500).
    new = latencies[start.latencies :] if len(latencies) < 500 else latencies
    return {
        "camera": cam.name,
        "fps": round(frames / span, 2) if span > 0 else 0.0,
        "frames": frames,
        "captured": captured,
        "dropped": end.dropped - start.dropped,
        "dropped_total": end.dropped,
        "events": end.events - start.events,
        "latency_n": len(new),
        "latency_p50_ms": _percentile(new, 50),
        "latency_p95_ms": _percentile(new, 95),
        "detect_ms": _median(cam.stats.samples_ms("detect")),
        "embed_ms": _median(cam.stats.samples_ms("embed")),
        "frame_ms": _median(cam.stats.samples_ms("frame")),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def edge_run(config: dict, seconds: float, warmup_s: float) -> dict:
    """The edge on ``config`` (sources looped): once every camera has processed a frame, wait
    ``warmup_s``, then count for ``seconds``, then stop. Per camera: processed frames per second,
    dropped frames and capture-to-publish latency of the window; the whole process's peak RSS."""
    from edge.app import EdgeApp
    from edge.config import EdgeConfig

    app = EdgeApp(EdgeConfig.model_validate(config))
    cams = list(getattr(app, "cameras", None) or [app])  # today's EdgeApp is its one camera
    window: dict[str, Any] = {}

    def measure() -> None:
        deadline = time.monotonic() + WAIT_FIRST_FRAME_S
        while not all(c.stats.frames for c in cams) and time.monotonic() < deadline:
            if app.stop_event.wait(0.05):
                return
        if app.stop_event.wait(warmup_s):
            return
        window["start"] = [_count(c) for c in cams]
        window["load_1min"] = os.getloadavg()[0]
        if app.stop_event.wait(seconds):
            return
        window["end"] = [_count(c) for c in cams]
        window["latencies"] = [c.stats.samples_ms("capture_to_publish") for c in cams]
        window["load_1min"] = round((window["load_1min"] + os.getloadavg()[0]) / 2, 2)
        app.stop()

    timer = threading.Thread(target=measure, name="bench-window", daemon=True)
    timer.start()
    app.run()
    if "end" not in window:
        raise SystemExit("the edge stopped before the measured window ended (see its log above)")
    per_cam = [
        _camera_result(c, s, e, lat)
        for c, s, e, lat in zip(
            cams, window["start"], window["end"], window["latencies"], strict=True
        )
    ]
    return {
        "cameras": per_cam,
        "fps_total": round(sum(c["fps"] for c in per_cam), 2),
        "gallery_persons": len(app.gallery_sync.gallery),
        "peak_rss_mb": round(peak_rss_mb()),
        "load_1min": window["load_1min"],
    }


def one_run(video: Path, threads: int, port: int, gallery: Path, work: Path) -> dict:
    """Today's one-camera run (--cameras 1, per video): the edge on one video, once through."""
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
    stats = (getattr(app, "cameras", None) or [app])[0].stats
    lat = stats.samples_ms("capture_to_publish")
    return {
        "frames": stats.frames,
        "fps": round(stats.frames / wall, 1),
        "detect_ms": round(statistics.median(stats.samples_ms("detect")), 1),
        "embed_ms": round(statistics.median(stats.samples_ms("embed")), 1),
        "frame_ms": round(statistics.median(stats.samples_ms("frame")), 1),
        "events": stats.events,
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
        "gallery_persons": len(app.gallery_sync.gallery),
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }


def peer(video: Path, threads: int, model: Path) -> dict:
    """Today's peer of the per-video table: a plain YuNet loop over ``video`` once through."""
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


def peer_run(video: Path, threads: int, model: Path, seconds: float, start_at: float) -> dict:
    """A plain loop of OpenCV's cv2.FaceDetectorYN (YuNet at the frame's own size) over ``video``,
    looped: decode, detect, repeat. Counts from the wall-clock ``start_at`` for ``seconds`` (so
    several peers started together measure the same window)."""
    cv2.setNumThreads(threads)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SystemExit(f"peer: cannot open {video}")

    def read() -> np.ndarray:
        ok, f = cap.read()
        if not ok:  # the end of the file: again from the start
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, f = cap.read()
            if not ok:
                raise SystemExit(f"peer: {video} has no frame")
        return f

    f = read()
    yn = cv2.FaceDetectorYN.create(str(model), "", (f.shape[1], f.shape[0]), 0.6, 0.3)
    yn.detect(f)  # warm-up, outside the window
    time.sleep(max(0.0, start_at - time.time()))
    n, t_det = 0, []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        f = read()
        t = time.perf_counter()
        yn.detect(f)
        t_det.append((time.perf_counter() - t) * 1000)
        n += 1
    wall = time.perf_counter() - t0
    return {"fps": round(n / wall, 2), "frames": n, "detect_ms": _median(t_det)}


class BusyLoops:
    """``n`` processes spinning a core each (``yes > /dev/null``) beside a run; stopped by their
    own handles on exit."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoops:
        for _ in range(self.n):
            self.procs.append(subprocess.Popen(["yes"], stdout=subprocess.DEVNULL))  # noqa: S607
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=10)
        self.procs.clear()
