#!/usr/bin/env python3
"""Edge throughput, capture-to-publish latency and memory with 1 or 2 cameras, against plain YuNet.

Usage:
  python scripts/bench_edge.py --cameras 2 [--second walking|gate] [--seconds 30] [--repeats 3]
                               [--threads 1 2] [--busy N] [--modes lossless realtime]
  python scripts/bench_edge.py --cameras 1 [...]      (also today's per-video table; --no-per-video)

One edge process with N cameras (1 or 2) on real walking footage: camera 1 the shared 3-5-face
video scaled to 1280x720, camera 2 the same video shifted by half its length (--second walking) or
the generated two-face gate video (--second gate); a 33,000-person gallery; events through a real
Mosquitto to an acknowledging subscriber. Files loop; each run counts over a fixed window after a
warm-up. Two modes:

- lossless: every frame, as fast as it can: processed frames per second per camera and in total;
- realtime: each source paced at 15 fps (the videos re-encoded at 15 fps), target_fps 15: per
  camera fps, capture-to-publish p50/p95 of the window's events, frames dropped in the window,
  and the whole process's peak RSS (VmHWM).

Peer in the same run, right after each lossless run: N plain cv2.FaceDetectorYN loops (same YuNet
file, at the frame's size, decode + detect) in N processes at the same time over the same N
videos; their summed fps, and ours / peer in processed frames per second. The peers get all
cores between them (--peer-threads, default cores / N each). --busy N runs N `yes > /dev/null`
beside everything. The final markdown table is ready for the README (medians over --repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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

from scripts.bench_edge_parts import BusyLoops, edge_run, one_run, peer, peer_run  # noqa: E402

SITE, GATE = "bench", "g1"
REALTIME_FPS = 15.0
TWO_FACES = ["obama/4.jpg+kit_harington/2.jpg", "rose_leslie/2.jpg+alex_lacamoire/1.jpg",
             "bbt_amy/2.jpg+bbt_sheldon/2.jpg"]  # fmt: skip


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
        vids["3-5 faces (real)"] = write_720p(walking, work / "walking_720p.mp4", 25)
    return vids


def write_720p(src: Path, out: Path, fps: float, shift: float = 0.0) -> Path:
    """``src`` scaled to 1280x720 at ``fps`` (frames picked at their time in the scene, so people
    walk at their real speed), starting ``shift`` of the way through and wrapping round."""
    cap = cv2.VideoCapture(str(src))
    src_fps, n_src = cap.get(cv2.CAP_PROP_FPS) or 25.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    n_out = int(n_src * fps / src_fps)
    picks = [min(n_src - 1, round(k * src_fps / fps)) for k in range(n_out)]
    s = int(shift * n_out)
    picks = picks[s:] + picks[:s]
    w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    pos, img = -1, None  # index of the frame in ``img``
    for i in picks:
        if i < pos:  # wrapped round: from the start again
            cap.release()
            cap, pos = cv2.VideoCapture(str(src)), -1
        while pos < i:
            ok, img = cap.read()
            if not ok:
                raise SystemExit(f"{src}: frame {pos + 1} does not decode")
            pos += 1
        w.write(cv2.resize(img, (1280, 720), interpolation=cv2.INTER_AREA))
    w.release()
    cap.release()
    return out


def camera_videos(args: argparse.Namespace, work: Path) -> dict[str, list[Path]]:
    """Per mode, one video per camera: lossless at the footage's 25 fps, realtime at 15 fps."""
    if not args.walking.is_file():
        raise SystemExit(
            f"{args.walking} does not exist: give --walking (the shared 3-5-face video)"
        )
    vids: dict[str, list[Path]] = {"lossless": [], "realtime": []}
    for mode, fps in (("lossless", 25.0), ("realtime", REALTIME_FPS)):
        vids[mode].append(write_720p(args.walking, work / f"walking_{mode}.mp4", fps))
        if args.cameras < 2:
            continue
        if args.second == "walking":
            vids[mode].append(write_720p(args.walking, work / f"walking_half_{mode}.mp4", fps, 0.5))
        else:
            from gatewatch.gatevideo import make_video

            out = work / f"gate_two_faces_{mode}.mp4"
            make_video(args.faces, TWO_FACES, out, fps=fps, pass_s=2.0, gap_s=0.2)
            vids[mode].append(out)
    return vids


def make_gallery(faces: Path, persons: int, work: Path):  # noqa: ANN201 (a FaceEngine)
    """``persons`` synthetic people and three real ones, saved; returns the engine and the file."""
    from models.engine import FaceEngine
    from models.gallery import Gallery
    from models.imageio import read_image

    engine = FaceEngine()
    rng = np.random.default_rng(0)
    g = Gallery(engine.model_id, engine.dim)
    synth = rng.standard_normal((persons, engine.dim)).astype(np.float32)
    g.add_many([(f"s{i}", "resident", synth[i : i + 1]) for i in range(persons)])
    for p in ("obama", "kit_harington", "rose_leslie"):
        g.add_person(f"p-{p}", "resident", engine.analyze(read_image(faces / p / "1.jpg"))[0]
                     .embedding)  # fmt: skip
    gallery = work / "gallery.npz"
    g.save(gallery)
    print(f"gallery: {len(g)} persons")
    return engine, gallery


def edge_config(videos: list[Path], pace: str, threads: int, port: int, gallery: Path,
                work: Path, tag: str) -> dict:  # fmt: skip
    """One gate process with one camera per video (the one-camera form for one), files looped."""
    cams = [
        {"camera": f"cam{i + 1}", "direction": ("in", "out")[i % 2],
         "source": {"kind": "file", "location": str(v), "pace": pace, "loop": True}}
        for i, v in enumerate(videos)
    ]  # fmt: skip
    cfg = {
        "site": SITE, "gate": GATE, "gallery_path": str(gallery), "target_fps": REALTIME_FPS,
        "mqtt": {"port": port, "client_id": f"bench-{tag}"},
        "outbox": {"path": str(work / f"outbox-{tag}.sqlite")},
        "face": {"threads": threads}, "status_interval_s": 60,
    }  # fmt: skip
    if len(cams) == 1:
        cfg.update(cams[0])
    else:
        cfg["cameras"] = cams
    return cfg


def _child(argv: list[str]) -> dict:
    """Run this script with ``argv`` in a fresh process; its last stdout line as JSON."""
    r = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        tail = "\n".join(r.stderr.strip().splitlines()[-25:])
        raise SystemExit(f"{' '.join(argv[:2])} failed (exit {r.returncode}):\n{tail}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_edge(cfg: dict, args: argparse.Namespace, work: Path, tag: str) -> dict:
    """The edge on ``cfg`` in a fresh process, measured over the window (bench_edge_parts)."""
    spec = work / f"spec-{tag}.json"
    spec.write_text(json.dumps({"config": cfg, "seconds": args.seconds, "warmup_s": args.warmup}))
    return _child(["--edge-run", str(spec)])


def run_peers(videos: list[Path], threads: int, model: Path, seconds: float) -> list[dict]:
    """One peer process per video, all at once over the same window."""
    start_at = time.time() + 3.0  # all loaded and warmed up by then
    argv = [str(threads), str(model), str(seconds), str(start_at)]
    procs = [
        subprocess.Popen([sys.executable, __file__, "--peer-run", str(v), *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for v in videos
    ]  # fmt: skip
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"peer failed (exit {p.returncode}): {stderr[-2000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def measure(args: argparse.Namespace, vids: dict[str, list[Path]], threads: int, port: int,
            gallery: Path, model: Path, work: Path) -> dict[str, list]:  # fmt: skip
    """--repeats rounds of: the edge lossless, the peers right after, the edge in realtime."""
    runs: dict[str, list] = {"lossless": [], "peer": [], "realtime": []}
    for r in range(args.repeats):
        tag = f"{args.cameras}c-{threads}t-b{args.busy}-{r}"
        if "lossless" in args.modes:
            cfg = edge_config(vids["lossless"], "lossless", threads, port, gallery, work, f"l{tag}")
            res = run_edge(cfg, args, work, f"lossless-{tag}")
            runs["lossless"].append(res)
            peers = run_peers(vids["lossless"], args.peer_threads, model, args.seconds)
            runs["peer"].append(peers)
            print(f"  [{tag}] lossless: {' + '.join(str(c['fps']) for c in res['cameras'])} fps "
                  f"(total {res['fps_total']}), peak RSS {res['peak_rss_mb']} MB, load "
                  f"{res['load_1min']}; peer: {' + '.join(str(p['fps']) for p in peers)} fps",
                  flush=True)  # fmt: skip
        if "realtime" in args.modes:
            cfg = edge_config(vids["realtime"], "realtime", threads, port, gallery, work, f"r{tag}")
            res = run_edge(cfg, args, work, f"realtime-{tag}")
            runs["realtime"].append(res)
            cams = "; ".join(
                f"{c['camera']} {c['fps']} fps, p50/p95 {c['latency_p50_ms']}/"
                f"{c['latency_p95_ms']} ms ({c['latency_n']} events), dropped {c['dropped']} "
                f"(captured {c['captured']}, processed {c['frames']})"
                for c in res["cameras"]
            )
            print(f"  [{tag}] realtime: {cams}; peak RSS {res['peak_rss_mb']} MB, "
                  f"load {res['load_1min']}", flush=True)  # fmt: skip
    return runs


COLUMNS = ["cameras", "camera 2", "busy loops", "load (1 min)", "threads",
           "lossless fps per camera", "lossless fps total", "peer fps", "ours / peer",
           "realtime fps per camera", "capture→publish p50 / p95 ms", "dropped", "events in window",
           "peak RSS MB"]  # fmt: skip


def _med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 1) if xs else None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _per_camera(runs: list[dict], key: str, sep: str) -> str:
    n = len(runs[0]["cameras"])
    return sep.join(_fmt(_med([r["cameras"][i][key] for r in runs])) for i in range(n))


def _dropped(runs: list[dict]) -> str:
    """Frames dropped in the window, per camera (the most of any repeat); frames captured but
    neither processed nor dropped (beyond what can be in flight) are shown as skipped."""
    out = []
    for i in range(len(runs[0]["cameras"])):
        cams = [r["cameras"][i] for r in runs]
        dropped = max(c["dropped"] for c in cams)
        skipped = max((c["captured"] or 0) - c["frames"] - c["dropped"] for c in cams)
        out.append(f"{dropped}" + (f" (+{skipped} skipped)" if skipped > 3 else ""))
    return " / ".join(out)


def summarise(args: argparse.Namespace, threads: int, runs: dict[str, list]) -> dict[str, str]:
    """One README row: medians over the repeats (dropped: the most; RSS: the peak)."""
    second = {"walking": "walking, shifted", "gate": "gate video, 2 faces"}[args.second]
    row = {"cameras": str(args.cameras), "camera 2": second if args.cameras > 1 else "-",
           "busy loops": str(args.busy), "threads": str(threads)}  # fmt: skip
    edge_runs = runs["lossless"] + runs["realtime"]
    row["load (1 min)"] = _fmt(_med([r["load_1min"] for r in edge_runs]))
    if loss := runs["lossless"]:
        sums = [sum(p["fps"] for p in ps) for ps in runs["peer"]]
        ratios = [r["fps_total"] / s for r, s in zip(loss, sums, strict=True) if s > 0]
        row["lossless fps per camera"] = _per_camera(loss, "fps", " + ")
        row["lossless fps total"] = _fmt(_med([r["fps_total"] for r in loss]))
        row["peer fps"] = f"{_fmt(_med(sums))} ({len(runs['peer'][0])} × {args.peer_threads} thr)"
        row["ours / peer"] = f"{statistics.median(ratios):.2f}×" if ratios else "-"
    if rt := runs["realtime"]:
        n = len(rt[0]["cameras"])
        row["realtime fps per camera"] = _per_camera(rt, "fps", " / ")
        row["capture→publish p50 / p95 ms"] = "; ".join(
            f"{_fmt(_med([r['cameras'][i]['latency_p50_ms'] for r in rt]))} / "
            f"{_fmt(_med([r['cameras'][i]['latency_p95_ms'] for r in rt]))}" for i in range(n)
        )  # fmt: skip
        row["dropped"] = _dropped(rt)
        row["events in window"] = _per_camera(rt, "latency_n", " / ")
    rss = [r["peak_rss_mb"] for r in edge_runs]
    row["peak RSS MB"] = _fmt(max(rss)) if rss else "-"
    return row


def print_table(rows: list[dict[str, str]]) -> None:
    print("\n| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(row.get(c, "-") for c in COLUMNS) + " |")


def per_video_table(args: argparse.Namespace, faces: Path, port: int, gallery: Path,
                    model: Path, work: Path) -> None:  # fmt: skip
    """Today's one-camera table: each video once through, lossless, beside the peer."""
    vids = make_inputs(faces, args.walking, work)
    print("\nvideo | threads | edge fps | detect ms | embed ms | frame ms | events | "
          "capture->publish p50 / p95 ms | peak RSS MB | peer YN fps | peer detect ms")  # fmt: skip
    for label, video in vids.items():
        for threads in args.threads:
            res = _child(["--one", str(video), str(threads), str(port), str(gallery), str(work)])
            pr = peer(video, threads, model)
            print(f"{label} | {threads} | {res['fps']} | {res['detect_ms']} | "
                  f"{res['embed_ms']} | {res['frame_ms']} | {res['events']} | "
                  f"{res['latency_p50_ms']} / {res['latency_p95_ms']} | {res['peak_rss_mb']} | "
                  f"{pr['fps']} | {pr['detect_ms']}", flush=True)  # fmt: skip


def parse_args() -> argparse.Namespace:
    from contract.config import FaceConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, choices=(1, 2), default=2)
    ap.add_argument(
        "--second",
        choices=("walking", "gate"),
        default="walking",
        help="camera 2: the walking video shifted by half, or the gate video",
    )
    ap.add_argument(
        "--modes", nargs="+", choices=("lossless", "realtime"), default=["lossless", "realtime"]
    )
    ap.add_argument("--seconds", type=float, default=30.0, help="measured window of each run")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[FaceConfig().threads],
        help="onnxruntime threads of the edge (face.threads); one row each",
    )
    ap.add_argument(
        "--peer-threads",
        type=int,
        default=None,
        help="OpenCV threads per peer process (default: cores / cameras)",
    )
    ap.add_argument("--busy", type=int, default=0, help="busy loops (yes > /dev/null) beside")
    ap.add_argument(
        "--no-per-video", action="store_true", help="with --cameras 1: skip today's per-video table"
    )
    ap.add_argument("--faces", type=Path, default=ROOT.parent / "shared/faces")
    ap.add_argument(
        "--walking", type=Path, default=ROOT.parent / "shared/video/walking_toward_camera.mp4"
    )
    ap.add_argument("--persons", type=int, default=33_000)
    ap.add_argument("--json", type=Path, help="also write every run's numbers here")
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--edge-run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--peer-run", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_threads is None:
        args.peer_threads = max(1, (os.cpu_count() or 2) // args.cameras)
    return args  # fmt: skip


def child_main(args: argparse.Namespace) -> bool:
    """The hidden child modes: print one JSON line and say so."""
    if args.one:
        video, threads, port, gallery, work = args.one
        print(json.dumps(one_run(Path(video), int(threads), int(port), Path(gallery), Path(work))))
    elif args.edge_run:
        spec = json.loads(args.edge_run.read_text())
        print(json.dumps(edge_run(spec["config"], spec["seconds"], spec["warmup_s"])))
    elif args.peer_run:
        video, threads, model, seconds, start_at = args.peer_run
        print(json.dumps(peer_run(Path(video), int(threads), Path(model), float(seconds),
                                  float(start_at))))  # fmt: skip
    else:
        return False
    return True


def _commit() -> str:
    r = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                       capture_output=True, text=True)  # fmt: skip
    return r.stdout.strip() or "?"


def main() -> int:
    args = parse_args()
    if child_main(args):
        return 0
    from gatewatch.broker import Broker
    from scripts.standins import AckingStore

    # A plain kill also stops the busy loops and the broker (the finally blocks below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="bench_edge_"))
    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (1 min) at start; "
        f"{args.busy} busy loops; window {args.seconds:g} s x {args.repeats}; code {_commit()}; "
        f"work {work}"
    )
    vids = camera_videos(args, work)
    engine, gallery = make_gallery(args.faces, args.persons, work)
    model = engine.files.detector_path
    del engine
    broker = Broker(work / "mosquitto").start()
    store = AckingStore(broker.port, SITE)
    rows, raw = [], {}
    try:
        with BusyLoops(args.busy):
            if args.cameras == 1 and not args.no_per_video:
                per_video_table(args, args.faces, broker.port, gallery, model, work)
            for threads in args.threads:
                print(f"\n{args.cameras} camera(s), {threads} thread(s):", flush=True)
                runs = measure(args, vids, threads, broker.port, gallery, model, work)
                raw[f"threads={threads}"] = runs
                rows.append(summarise(args, threads, runs))
    finally:
        store.close()
        broker.stop()
    print_table(rows)
    print(
        f"\nload {os.getloadavg()[0]:.2f} (1 min) at the end; events acknowledged by the "
        f"stand-in store: {len(store.events)}"
    )
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args), "runs": raw}, default=str, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
