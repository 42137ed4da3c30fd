"""``gatewatch enroll capture``: three photos at the desk camera, each after a prompt (straight,
slightly left, slightly right), each the best frame of exactly one good face that fits its prompt.

A live camera gives each prompt a few seconds of wall time; a video file stands in for the camera
in tests and rehearsals, and the prompts then advance through consecutive segments of the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from enroll.client import EnrollError
from models.engine import FaceEngine
from models.enrollment import Shot, one_good_face
from models.imageio import BGRImage

# Yaw from the 5 landmarks (models.quality.estimate_pose), positive when the person turns to their
# own left (../shared/faces: obama/1 reads +0, obama/4 +25 turned to his left, obama/2 -20).
# "Straight" allows the estimate's scatter; "slightly turned" must be clearly turned and still pass
# the quality gate's max_yaw_deg, so every kept photo is a template the gates can use. Web photos
# of faces_east_asian_dev sort as 62 % straight, 18 % left, 19 % right (bench_enroll_photos.py
# --poses).
STRAIGHT_MAX_YAW_DEG = 12.0
TURNED_MIN_YAW_DEG = 10.0
SAMPLES_PER_S = 8.0  # frames analysed per second of a video file (a live camera: as fast as it can)
SETTLE_S = 1.0  # a live camera: time to turn after the prompt before frames count


@dataclass(frozen=True)
class Prompt:
    """What the person is asked to do, and the yaw range that answers it."""

    key: str
    text: str  # read to the person at the desk: Chinese first
    min_yaw_deg: float
    max_yaw_deg: float

    def misfit(self, yaw_deg: float) -> str | None:
        """Why a face turned ``yaw_deg`` does not answer the prompt; None when it does."""
        if self.min_yaw_deg <= yaw_deg <= self.max_yaw_deg:
            return None
        return f"yaw {yaw_deg:+.0f} deg, wanted {self.min_yaw_deg:+.0f}..{self.max_yaw_deg:+.0f}"


def prompts(max_yaw_deg: float) -> tuple[Prompt, ...]:
    """Straight, slightly left, slightly right, within the quality gate's ``max_yaw_deg``."""
    s, t = STRAIGHT_MAX_YAW_DEG, TURNED_MIN_YAW_DEG
    return (
        Prompt("straight", "正视镜头 / look straight", -s, s),
        Prompt("left", "头稍向左 / turn slightly left", t, max_yaw_deg),
        Prompt("right", "头稍向右 / turn slightly right", -max_yaw_deg, -t),
    )


@dataclass(frozen=True)
class PromptResult:
    """One prompt's best shot, or why there is none (the frames seen and what was wrong)."""

    prompt: Prompt
    shot: Shot | None
    frames: int
    reason: str | None


class DeskCamera:
    """Frames for one prompt after another: a live camera's (wall clock) or a video file's
    consecutive segments (the file's own clock)."""

    def __init__(self, spec: str, seconds_per_prompt: float) -> None:
        import cv2

        self.is_file = Path(spec).is_file()
        self.seconds = seconds_per_prompt
        self._cap = cv2.VideoCapture(int(spec) if spec.isdigit() else spec)
        if not self._cap.isOpened():
            raise EnrollError(f"cannot open camera {spec}")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS)) if self.is_file else 0.0
        self._fps = fps if fps > 0 else 25.0
        self._index = 0  # the next frame of a file
        self._segment = 0

    def frames(self) -> Iterator[BGRImage]:
        """The next prompt's frames: a file's next segment (sampled), or a live camera's."""
        if self.is_file:
            yield from self._file_segment()
        else:
            yield from self._live()

    def _file_segment(self) -> Iterator[BGRImage]:
        start, self._segment = self._segment * self.seconds, self._segment + 1
        end, step, next_t = start + self.seconds, 1.0 / SAMPLES_PER_S, start
        while (t := self._index / self._fps) < end:
            ok = self._cap.grab()
            self._index += 1
            if not ok:
                return
            if t >= next_t:
                next_t = t + step
                ok, img = self._cap.retrieve()
                if ok:
                    yield img

    def _live(self) -> Iterator[BGRImage]:
        start = time.monotonic() + SETTLE_S
        while (now := time.monotonic()) < start + self.seconds:
            ok, img = self._cap.read()
            if not ok:
                raise EnrollError("the camera stopped delivering frames")
            if now >= start:
                yield img

    def close(self) -> None:
        self._cap.release()


def best_shot(engine: FaceEngine, prompt: Prompt, frames: Iterator[BGRImage]) -> PromptResult:
    """The best-quality frame of exactly one good face that fits the prompt."""
    best: Shot | None = None
    seen = 0
    wrong: Counter[str] = Counter()
    last_misfit = ""
    for img in frames:
        seen += 1
        face = one_good_face(engine, img)
        if isinstance(face, str):
            wrong[face.split(";")[0].split(":")[0]] += 1
            continue
        misfit = prompt.misfit(face.quality.yaw_deg)
        if misfit:
            wrong["not turned as asked"] += 1
            last_misfit = misfit
            continue
        if best is None or face.quality.score > best.quality:
            best = Shot(f"camera: {prompt.text}", img, face)
    if best is not None:
        return PromptResult(prompt, best, seen, None)
    if not seen:
        return PromptResult(prompt, None, 0, "no frames from the camera")
    what = ", ".join(
        f"{n} {why}" + (f" ({last_misfit})" if why == "not turned as asked" else "")
        for why, n in wrong.most_common()
    )
    return PromptResult(prompt, None, seen, f"no usable frame in {seen} frames: {what}")


def capture(
    engine: FaceEngine, camera: DeskCamera, say: Callable[[str], None]
) -> list[PromptResult]:
    """Each prompt in turn (``say`` prints it), with its best shot or the reason for none."""
    results = []
    for n, prompt in enumerate(prompts(engine.config.quality.max_yaw_deg), 1):
        say(f"[{n}/3] {prompt.text}")
        results.append(best_shot(engine, prompt, camera.frames()))
    return results
