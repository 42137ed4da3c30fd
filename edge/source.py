"""Frame sources and the capture thread that keeps only the newest frame."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from contract.events import CameraState
from edge.config import SourceConfig, SourceKind
from edge.errors import SourceError
from edge.frames import FrameQueue
from models.imageio import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    ``captured`` is time.monotonic() at capture (for latency); ``video_s`` is the frame's time in
    the scene: the same clock for a live camera, the frame's position for a file read lossless.
    """

    image: npt.NDArray[np.uint8]
    index: int
    captured: float
    video_s: float


class FrameReader(Protocol):
    """An opened source: ``read`` returns the next image, None at the end of a finite source.

    ``live`` sources (cameras, streams) pace themselves; recorded ones (files, folders) are
    played at their own ``fps`` when the capture runs in realtime.
    """

    @property
    def fps(self) -> float | None: ...

    @property
    def live(self) -> bool: ...

    def read(self) -> npt.NDArray[np.uint8] | None: ...

    def close(self) -> None: ...


class _OpenCvReader:
    """A source OpenCV's VideoCapture opens."""

    def __init__(self, target: str | int, label: str) -> None:
        self.label = label
        self.cap = cv2.VideoCapture(target)
        if not self.cap.isOpened():
            raise SourceError(f"cannot open {label}")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = float(fps) if fps and fps > 0 else None

    def _next(self) -> npt.NDArray[np.uint8] | None:
        ok, img = self.cap.read()
        return np.asarray(img, dtype=np.uint8) if ok else None

    def close(self) -> None:
        self.cap.release()


class VideoFileReader(_OpenCvReader):
    """A video file; at its end None, or its first frame again with ``loop``."""

    live = False

    def __init__(self, location: str, loop: bool) -> None:
        if not Path(location).is_file():
            raise SourceError(f"video file {location} does not exist")
        super().__init__(location, f"file {location}")
        self.loop = loop

    def read(self) -> npt.NDArray[np.uint8] | None:
        img = self._next()
        if img is None and self.loop:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            img = self._next()
        return img


class StreamReader(_OpenCvReader):
    """An RTSP/HTTP URL or a USB device: it never ends, so no frame means the camera is lost."""

    live = True

    def read(self) -> npt.NDArray[np.uint8] | None:
        img = self._next()
        if img is None:
            raise SourceError(f"{self.label} stopped delivering frames")
        return img


class FolderReader:
    """Still images in name order, each repeated for ``frames_per_image`` frames."""

    live = False

    def __init__(self, location: str, frames_per_image: int, fps: float, loop: bool) -> None:
        folder = Path(location)
        if not folder.is_dir():
            raise SourceError(f"image folder {location} does not exist")
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise SourceError(f"image folder {location} holds no images")
        self.frames_per_image, self.loop = frames_per_image, loop
        self.fps: float | None = fps
        self._iter = self._frames()

    def _frames(self) -> Iterator[npt.NDArray[np.uint8]]:
        while True:
            for p in self.paths:
                img = cv2.imread(str(p))
                if img is None:
                    log.warning("folder source: %s is not a readable image, skipped", p)
                    continue
                for _ in range(self.frames_per_image):
                    yield np.asarray(img, dtype=np.uint8)
            if not self.loop:
                return

    def read(self) -> npt.NDArray[np.uint8] | None:
        return next(self._iter, None)

    def close(self) -> None:
        pass


ReaderFactory = Callable[[SourceConfig], FrameReader]

# One opener per source kind (SourceConfig.kind); a new kind is one more entry here.
READERS: Mapping[SourceKind, ReaderFactory] = MappingProxyType(
    {
        "file": lambda cfg: VideoFileReader(cfg.location, cfg.loop),
        "url": lambda cfg: StreamReader(cfg.location, f"url {cfg.location}"),
        "device": lambda cfg: StreamReader(int(cfg.location), f"device {cfg.location}"),
        "folder": lambda cfg: FolderReader(
            cfg.location, cfg.frames_per_image, cfg.folder_fps, cfg.loop
        ),
    }
)


def open_source(cfg: SourceConfig) -> FrameReader:
    """Open the source ``cfg`` names; SourceError if it cannot be opened now."""
    return READERS[cfg.kind](cfg)


class Capture:
    """Reads frames in its own thread.

    realtime: keeps the newest ``queue_size`` frames (older ones are dropped, oldest first, and
    counted) and plays files at their own fps; lossless: hands over every frame. A source that
    fails or stalls is reopened with exponential backoff while ``state`` says ``camera_lost``.
    """

    def __init__(self, cfg: SourceConfig, name: str, queue_size: int = 1) -> None:
        self.cfg = cfg
        self.name = name
        self._state: CameraState = "starting"
        self.captured = 0
        self.reopens = 0
        self.finished = False
        self.frames: FrameQueue[Frame] = FrameQueue(queue_size)
        self._cond = self.frames.cond  # a notify on it (stop, the end) wakes get and _put
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)

    def start(self) -> Capture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def get(self, timeout_s: float) -> Frame | None:
        """The oldest frame not yet taken, waiting up to ``timeout_s``; None if none came."""
        return self.frames.get(timeout_s, done=lambda: self.finished or self._stop.is_set())

    def _put(self, frame: Frame) -> None:
        lossless = self.cfg.pace == "lossless"
        if self.frames.put(frame, block=lossless, done=self._stop.is_set):
            self.captured += 1

    @property
    def dropped(self) -> int:
        """Frames dropped, oldest first, because the frame loop was behind (realtime only)."""
        return self.frames.dropped

    @property
    def state(self) -> CameraState:
        """starting, ok or camera_lost; changed only through ``_set_state``, which logs it."""
        return self._state

    def mark_lost(self) -> None:
        """The frame loop saw no frame for too long: the camera is lost."""
        self._set_state("camera_lost")

    def _set_state(self, state: CameraState) -> None:
        if state != self._state:
            log.log(
                logging.WARNING if state == "camera_lost" else logging.INFO,
                "[%s] camera %s",
                self.name,
                state,
            )
            self._state = state

    def _run(self) -> None:
        backoff_min, backoff_max = self.cfg.reopen_backoff_s
        backoff = backoff_min
        index = 0
        while not self._stop.is_set():
            try:
                reader = open_source(self.cfg)
            except SourceError as e:
                backoff = self._lost(e, backoff, backoff_max)
                continue
            paced = self.cfg.pace == "realtime" and not reader.live
            period = 1.0 / reader.fps if paced and reader.fps else 0.0
            try:
                next_at = time.monotonic()
                while not self._stop.is_set():
                    img = self._read_with_stall_check(reader)
                    if img is None:
                        self.finished = True
                        with self._cond:
                            self._cond.notify_all()
                        return
                    self._set_state("ok")
                    backoff = backoff_min
                    index += 1
                    now = time.monotonic()
                    lossless = self.cfg.pace == "lossless" and reader.fps
                    video_s = index / reader.fps if lossless and reader.fps else now
                    self._put(Frame(img, index, now, video_s))
                    if period:
                        next_at += period
                        self._stop.wait(max(0.0, next_at - time.monotonic()))
            except SourceError as e:
                backoff = self._lost(e, backoff, backoff_max)
            finally:
                reader.close()

    def _lost(self, e: SourceError, backoff: float, backoff_max: float) -> float:
        """Say the camera is lost, wait, and return the next (doubled) wait."""
        self._set_state("camera_lost")
        log.warning("[%s] %s; retrying in %.1f s", self.name, e, backoff)
        self._stop.wait(backoff)
        self.reopens += 1
        return min(backoff * 2, backoff_max)

    def _read_with_stall_check(self, reader: FrameReader) -> npt.NDArray[np.uint8] | None:
        t0 = time.monotonic()
        img = reader.read()
        if time.monotonic() - t0 > self.cfg.stall_timeout_s:
            raise SourceError(f"source stalled for more than {self.cfg.stall_timeout_s:g} s")
        return img
