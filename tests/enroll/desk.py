"""A desk camera's video from real photos: one segment per photo (None: nobody in front of it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gatewatch.gatevideo import background, head_cutout, paste

FPS = 25.0


def desk_video(
    engine, photos: list[Path | None], out: Path, seconds_each: float, size=(640, 480)
) -> Path:  # noqa: ANN001
    """Write ``out``: for each photo, ``seconds_each`` of its head held in front of the camera
    (slightly moving, sensor noise), as a person sitting at the reception desk."""
    w, h = size
    bg = background(w, h, seed=1)
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    assert writer.isOpened(), f"cannot write {out}"
    n = int(seconds_each * FPS)
    for photo in photos:
        cut = head_cutout(photo, engine) if photo is not None else None
        for k in range(n):
            frame = bg.copy()
            if cut is not None:
                sway = np.sin(k / n * np.pi * 2)
                paste(frame, cut, w * (0.5 + 0.01 * sway), h * 0.45, w * (0.36 + 0.01 * sway))
            noise = rng.normal(0, 2.0, frame.shape).astype(np.int16)
            writer.write(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    writer.release()
    return out
