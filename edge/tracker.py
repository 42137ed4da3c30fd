"""A simple tracker: one track per person in view, continued by box overlap or centre distance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.decision import Decision
from models.detector import Detections

F32 = npt.NDArray[np.float32]


@dataclass
class Sample:
    """One embedded face of a track."""

    embedding: F32
    quality: float
    captured: float


@dataclass
class Track:
    """A person in view. Mutable: the tracker and the decision step update it frame by frame."""

    id: int
    box: F32
    first_seen: float
    last_seen: float
    first_centre: F32
    centre: F32
    hits: int = 1
    missed: int = 0
    samples: list[Sample] = field(default_factory=list)
    last_embed_at: float = -1e9
    best_quality: float = 0.0
    decided: bool = False
    first_captured: float = 0.0
    held: Decision | None = None  # a decision waiting for the direction ('both' cameras)


@dataclass(frozen=True)
class Match:
    """A detection of this frame continuing (or starting) a track."""

    track: Track
    detection: int  # index into the frame's Detections


@dataclass(frozen=True)
class TrackUpdate:
    """What one frame did to the tracks: every detection's track, and the tracks that ended."""

    matches: tuple[Match, ...]
    ended: tuple[Track, ...]


def iou_matrix(a: F32, b: F32) -> F32:
    """IoU of every box in ``a`` [n, 4] with every box in ``b`` [m, 4]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)).astype(np.float32)


class Tracker:
    """Greedy association, best IoU first; a detection close to a track's centre also continues it
    (faces walking toward a camera grow fast, so IoU alone loses them)."""

    def __init__(self, iou_match: float = 0.25, max_missed: int = 8) -> None:
        self.iou_match = iou_match
        self.max_missed = max_missed
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, dets: Detections, now: float, captured: float) -> TrackUpdate:
        """Continue or start a track for each of ``dets``; end tracks unseen for too long."""
        live = list(self.tracks.values())
        boxes = np.stack([t.box for t in live]) if live else np.zeros((0, 4), np.float32)
        iou = iou_matrix(boxes, dets.xyxy)
        centres = (dets.xyxy[:, :2] + dets.xyxy[:, 2:]) / 2
        score = iou.copy()
        for i, t in enumerate(live):
            width = float(t.box[2] - t.box[0])
            dist = np.linalg.norm(centres - t.centre, axis=1) if len(centres) else np.zeros(0)
            near = dist < 0.6 * width
            # Centre proximity counts as a weak match, below any real overlap.
            score[i] = np.where((score[i] < self.iou_match) & near, self.iou_match, score[i])
        matches: list[Match] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        order = np.dstack(np.unravel_index(np.argsort(-score, axis=None), score.shape))[0]
        for ti, di in order:
            if score[ti, di] < self.iou_match:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(int(ti))
            used_d.add(int(di))
            t = live[ti]
            t.box = dets.xyxy[di].copy()
            t.centre = centres[di].copy()
            t.last_seen = now
            t.hits += 1
            t.missed = 0
            matches.append(Match(t, int(di)))
        for di in range(len(dets)):
            if di in used_d:
                continue
            t = Track(
                id=self._next_id,
                box=dets.xyxy[di].copy(),
                first_seen=now,
                last_seen=now,
                first_centre=centres[di].copy(),
                centre=centres[di].copy(),
                first_captured=captured,
            )
            self._next_id += 1
            self.tracks[t.id] = t
            matches.append(Match(t, di))
        ended: list[Track] = []
        for i, t in enumerate(live):
            if i not in used_t:
                t.missed += 1
                if t.missed > self.max_missed:
                    ended.append(self.tracks.pop(t.id))
        return TrackUpdate(tuple(matches), tuple(ended))

    def flush(self) -> list[Track]:
        """End every track (the source ended or the process stops)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended
