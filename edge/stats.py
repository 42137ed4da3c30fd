"""Latency statistics of the frame loop: stage times, frame rate, capture-to-publish latency."""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict, deque


class StageTimer:
    """Times one frame's stages: ``lap(stage)`` closes the stage that ran since the last lap.

    With several cameras in one frame loop, a frame's stages are interleaved with the other
    cameras' frames: ``skip`` leaves out the time since the last lap (another camera's work) and
    ``add`` counts a stage timed elsewhere (the tick's one batched embedding)."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps_ms: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.add(stage, (now - self._last) * 1000)
        self._last = now

    def add(self, stage: str, ms: float) -> None:
        self.laps_ms[stage] = self.laps_ms.get(stage, 0.0) + ms

    def skip(self) -> None:
        self._last = time.perf_counter()

    @property
    def total_ms(self) -> float:
        """The stages' sum (from the start to the last lap, when nothing was skipped)."""
        return sum(self.laps_ms.values())


class EdgeStats:
    """Recent stage times (per stage and the whole ``frame``), frame rate, and the latency from
    capture to publish. The frame loop writes, the status thread and the publisher read."""

    def __init__(self, window: int = 500, fps_window: int = 200) -> None:
        self.frames = 0
        self.events = 0
        self._stage_ms: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
        self._frame_times: deque[float] = deque(maxlen=fps_window)
        self._captured_at: dict[int, float] = {}  # seq -> capture time of an unpublished event
        self._lock = threading.Lock()

    def frame_done(self, timer: StageTimer, at: float) -> None:
        """A frame went through the pipeline at ``at`` (time.monotonic()), with these laps."""
        with self._lock:
            for stage, ms in timer.laps_ms.items():
                self._stage_ms[stage].append(ms)
            self._stage_ms["frame"].append(timer.total_ms)
            self._frame_times.append(at)
            self.frames += 1

    def queued(self, seq: int, captured: float) -> None:
        """Event ``seq`` is in the outbox; its frame was captured at ``captured``."""
        with self._lock:
            self.events += 1
            self._captured_at[seq] = captured

    def published(self, seq: int) -> None:
        """Event ``seq`` left for the broker (the publisher's thread)."""
        with self._lock:
            captured = self._captured_at.pop(seq, None)
            if captured is not None:  # None: an event of an earlier run, or a replay
                self._stage_ms["capture_to_publish"].append((time.monotonic() - captured) * 1000)

    def fps(self) -> float:
        """Frames processed per second over the recent frames."""
        with self._lock:
            if len(self._frame_times) < 2:
                return 0.0
            span = self._frame_times[-1] - self._frame_times[0]
            return (len(self._frame_times) - 1) / span if span > 0 else 0.0

    def latency_ms(self) -> dict[str, float]:
        """Median recent milliseconds per stage."""
        with self._lock:
            return {k: round(statistics.median(v), 2) for k, v in self._stage_ms.items() if v}

    def samples_ms(self, stage: str) -> list[float]:
        """The recent times of one stage (benchmarks take their own percentiles)."""
        with self._lock:
            return list(self._stage_ms.get(stage, ()))
