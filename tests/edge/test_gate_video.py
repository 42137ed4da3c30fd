"""The gate-video generator's changing walk: one walker shows each of its photos in turn."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.imageio import read_image
from tests.conftest import FACES, needs_shared


def _face(engine, image: np.ndarray) -> np.ndarray:  # noqa: ANN001
    found = engine.analyze(image)
    assert found, "a walker's face must be found in the frame"
    return max(found, key=lambda f: f.area).embedding


@needs_shared
def test_a_walk_changes_photo_segment_by_segment(tmp_path: Path, engine) -> None:  # noqa: ANN001
    from gatewatch.gatevideo import make_video

    photos = ["obama/1.jpg", "kit_harington/1.jpg", "bbt_amy/1.jpg"]
    out = tmp_path / "walk.mp4"
    make_video(FACES, [">".join(photos)], out, pass_s=3.0, gap_s=0.2)
    spec = json.loads(Path(str(out) + ".json").read_text())
    assert spec[0]["photos"] == [">".join(photos)] and spec[0]["people"] == ["obama"]
    refs = np.stack([_face(engine, read_image(FACES / p)) for p in photos])
    cap = cv2.VideoCapture(str(out))
    frames = []
    ok, frame = cap.read()
    while ok:
        frames.append(frame)
        ok, frame = cap.read()
    cap.release()
    n = spec[0]["end_frame"] - spec[0]["start_frame"] + 1
    # The middle of each third of the walk shows that third's photo (still on screen by then).
    for seg in range(3):
        k = spec[0]["start_frame"] + int((seg + 0.5) * n / 3)
        scores = refs @ _face(engine, frames[k])
        assert int(np.argmax(scores)) == seg, (seg, scores.round(3).tolist())
