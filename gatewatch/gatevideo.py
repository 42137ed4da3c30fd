#!/usr/bin/env python3
"""Write a gate-camera video from real photos: people walk toward the camera, one or two at a time.

Usage (also as scripts/make_gate_video.py):
  python -m gatewatch.gatevideo --faces ../shared/faces --out gate.mp4 \
      --pass obama/4.jpg --pass kit_harington/2.jpg+rose_leslie/2.jpg --pass alex_lacamoire/1.jpg

Each --pass is one passage; '+' puts two people in it side by side; '>' changes one person's
photo along the walk (``a/2.jpg>a/3.jpg>a/4.jpg``: each photo for a third of the walk, as pose and
expression change at a real gate). The head (the detected face and its surroundings) of each
photo is cut out and moved from the back of the scene (small) to the front (large) and out of the
bottom of the frame, as at a gate. A sidecar ``<out>.json`` lists the passages with their frame
ranges, so tests and benchmarks know what to expect.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class PassageSpec:
    index: int
    photos: list[str]  # per person: a photo, or photos joined by '>' (one per walk segment)
    people: list[str]
    start_frame: int
    end_frame: int


def segment(cuts: list[np.ndarray], t: float) -> np.ndarray:
    """The photo a walker shows at ``t`` (0..1) of the walk: each for an equal share."""
    return cuts[min(int(t * len(cuts)), len(cuts) - 1)]


def background(w: int, h: int, seed: int) -> np.ndarray:
    """A plain gate scene: sky-to-pavement gradient, two gate posts, a little texture."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    top, bottom = np.array([190, 170, 150], np.float32), np.array([90, 95, 100], np.float32)
    img = (top * (1 - y[..., None]) + bottom * y[..., None]) * np.ones((h, w, 1), np.float32)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for x in (int(w * 0.08), int(w * 0.86)):
        cv2.rectangle(img, (x, int(h * 0.15)), (x + int(w * 0.06), h), (70, 70, 80), -1)
    cv2.rectangle(img, (0, int(h * 0.12)), (w, int(h * 0.15)), (60, 60, 70), -1)
    return img


def head_cutout(path: Path, engine) -> np.ndarray:  # noqa: ANN001
    """The face of a photo with a margin around it (head and a little shoulder)."""
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"{path}: cannot read")
    dets = engine.detect(img)
    if len(dets) == 0:
        raise SystemExit(f"{path}: no face found")
    x1, y1, x2, y2 = dets.xyxy[0]
    cx, cy, s = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
    half = 0.95 * s
    h, w = img.shape[:2]
    a, b = int(max(0, cx - half)), int(max(0, cy - half * 1.05))
    c, d = int(min(w, cx + half)), int(min(h, cy + half * 1.15))
    crop = img[b:d, a:c]
    if min(crop.shape[:2]) < 24:
        raise SystemExit(f"{path}: face too small to walk through a gate video")
    return crop


def paste(frame: np.ndarray, cut: np.ndarray, cx: float, cy: float, width: float) -> None:
    """Paste ``cut`` scaled to ``width`` centred at (cx, cy), with a soft oval edge."""
    scale = width / cut.shape[1]
    cw, ch = max(2, int(cut.shape[1] * scale)), max(2, int(cut.shape[0] * scale))
    small = cv2.resize(
        cut, (cw, ch), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    mask = np.zeros((ch, cw), np.float32)
    cv2.ellipse(mask, (cw // 2, ch // 2), (int(cw * 0.48), int(ch * 0.49)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, cw * 0.03))[..., None]
    x0, y0 = int(cx - cw / 2), int(cy - ch / 2)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + cw), min(frame.shape[0], y0 + ch)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sx0, sy0 = fx0 - x0, fy0 - y0
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    src = small[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0].astype(np.float32)
    m = mask[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0]
    frame[fy0:fy1, fx0:fx1] = (region * (1 - m) + src * m).astype(np.uint8)


def make_video(
    faces: Path,
    passes: list[str],
    out: Path,
    size: tuple[int, int] = (1280, 720),
    fps: float = 25.0,
    pass_s: float = 2.0,
    gap_s: float = 0.6,
    seed: int = 0,
    lead_s: float = 0.0,
    pause_after: int | None = None,
    pause_s: float = 0.0,
) -> list[PassageSpec]:
    """Write the video; ``lead_s`` of empty scene first, and ``pause_s`` more after passage
    number ``pause_after`` (0-based), so a demo can act between two phases."""
    from models.engine import FaceEngine

    engine = FaceEngine()
    w, h = size
    bg = background(w, h, seed)
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    specs = []
    frame_no = 0
    n_pass, n_gap = int(pass_s * fps), int(gap_s * fps)
    for _ in range(int(lead_s * fps)):
        writer.write(bg)
        frame_no += 1
    for i, p in enumerate(passes):
        photos = p.split("+")
        cuts = [[head_cutout(faces / ph, engine) for ph in walker.split(">")] for walker in photos]
        lanes = [0.5] if len(cuts) == 1 else [0.33, 0.67]
        drift = rng.uniform(-0.06, 0.06, size=len(cuts))
        start = frame_no
        for k in range(n_pass):
            t = k / (n_pass - 1)
            frame = bg.copy()
            for cut, lane, dx in zip(cuts, lanes, drift, strict=True):
                width = w * (0.07 + 0.16 * t)  # face grows as the person nears the camera
                cx = w * (lane + dx * t)
                cy = h * (0.30 + 0.62 * t)  # and moves down and out of the bottom
                paste(frame, segment(cut, t), cx, cy, width)
            noise = rng.normal(0, 2.5, frame.shape).astype(np.int16)
            writer.write(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
            frame_no += 1
        specs.append(
            PassageSpec(
                i, photos, [Path(ph.split(">")[0]).parent.name for ph in photos], start,
                frame_no - 1,
            )
        )
        for _ in range(n_gap + (int(pause_s * fps) if i == pause_after else 0)):
            writer.write(bg)
            frame_no += 1
    writer.release()
    Path(str(out) + ".json").write_text(json.dumps([asdict(s) for s in specs], indent=1))
    return specs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=Path, default=Path("../shared/faces"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pass", dest="passes", action="append", required=True)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--pass-seconds", type=float, default=2.0)
    ap.add_argument("--gap-seconds", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    specs = make_video(
        args.faces, args.passes, args.out, (w, h), args.fps, args.pass_seconds, args.gap_seconds,
        args.seed,
    )  # fmt: skip
    print(f"wrote {args.out}: {len(specs)} passages, {specs[-1].end_frame + 1} frames + gaps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
