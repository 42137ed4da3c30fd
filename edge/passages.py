"""Decisions become passage events: direction, one event per passage, the payload in the outbox."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contract.events import Direction, Passage
from edge.config import EdgeConfig, LineRule
from edge.decision import Decision
from edge.errors import OutboxError, OutboxFull
from edge.outbox import Outbox, OutboxEvent
from edge.tracker import Track

log = logging.getLogger(__name__)


def passage_direction(
    direction: Literal["in", "out", "both", "none"],
    line: LineRule | None,
    track: Track,
    shape: tuple[int, ...],
) -> Direction | None:
    """in/out/none for a camera's configured direction; for 'both', from how far the track moved
    along the line rule's axis (None while it has not moved far enough to tell)."""
    if direction != "both":
        return direction
    assert line is not None  # EdgeConfig requires a line rule for 'both'
    axis = 1 if line.axis == "y" else 0
    travel = float(track.centre[axis] - track.first_centre[axis]) / shape[1 - axis]
    if abs(travel) < line.min_travel:
        return None
    increasing = travel > 0
    return "in" if increasing == (line.in_when == "increasing") else "out"


class RepeatWindow:
    """The same identity again at this camera within ``window_s`` (scene time) of its last
    passage is the same passage: a track that broke up, not a second event."""

    # Tracks end slightly out of scene-time order; entries this much older than the window are
    # certainly stale and are dropped once the table grows, so months of visitors do not pile up.
    SLACK_S = 60.0
    PRUNE_ABOVE = 10_000

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.merged = 0
        self._last: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._last)

    def is_repeat(self, decision: Decision, seen_at: float) -> bool:
        """True if ``decision`` repeats a recent passage; records it either way. A passage
        without identity is never a repeat; one that answers a search is like any other (one
        walk gave two passages 0.16 s apart when searches were exempt)."""
        if decision.identity is None:
            return False
        last = self._last.get(decision.identity)
        self._last[decision.identity] = seen_at
        if len(self._last) > self.PRUNE_ABOVE:
            self._prune(seen_at)
        if last is not None and seen_at - last < self.window_s:
            self.merged += 1
            return True
        return False

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s - self.SLACK_S
        self._last = {k: t for k, t in self._last.items() if t >= horizon}


@dataclass(frozen=True)
class DecidedPassage:
    """A passage decided at ``ts`` that is to be committed to the outbox."""

    track: Track
    decision: Decision
    direction: Direction
    gallery_version: int
    ts: datetime
    captured: float | None  # time.monotonic() of its frame, for the latency statistics


@dataclass(frozen=True)
class StoredPassage:
    """A passage committed to the outbox after waiting in memory."""

    event: OutboxEvent
    captured: float | None


class PassageWriter:
    """Builds the ``Passage`` for a decision and commits it to the outbox, once per passage.

    While the outbox file fails (a full disk), decided passages wait in a bounded queue, in
    order, and ``retry`` commits them with backoff; what overflows the queue is lost, counted
    and logged with its details.
    """

    MAX_BACKOFF_S = 60.0

    def __init__(
        self,
        cfg: EdgeConfig,
        model_id: str,
        outbox: Outbox,
        name: str,
        max_unstored: int = 1000,
        camera: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.camera = camera or cfg.camera_list()[0].camera  # whose passages these are
        self.model_id = model_id
        self.outbox = outbox
        self.name = name
        self.repeats = RepeatWindow(cfg.decision.repeat_window_s)
        self.written = 0
        self.lost = 0
        self.max_unstored = max_unstored
        self.unstored: deque[DecidedPassage] = deque()
        self._backoff_s = 1.0
        self._retry_at = 0.0

    def passage(
        self,
        track: Track,
        decision: Decision,
        direction: Direction,
        gallery_version: int,
        seq: int,
        event_id: str,
        ts: datetime | None = None,
    ) -> Passage:
        """The wire payload (``ts``: when it was decided, default now); scores clipped to the
        contract's ranges."""
        quality = max((s.quality for s in track.samples), default=track.best_quality)
        return Passage(
            event_id=event_id,
            seq=seq,
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=self.camera,
            direction=direction,
            ts=ts or datetime.now(UTC),
            track_id=track.id,
            identity=decision.identity,
            identity_kind=decision.identity_kind,
            role=decision.role,
            role_source=decision.role_source,
            score=None if decision.score is None else round(max(-1.0, min(1.0, decision.score)), 4),
            margin=None if decision.margin is None else round(max(0.0, decision.margin), 4),
            quality=round(min(max(quality, 0.0), 1.0), 4),
            frames_used=max(1, decision.frames_used),
            gallery_version=gallery_version,
            model_id=self.model_id,
            search_id=decision.search_id,
        )

    def write(
        self,
        track: Track,
        decision: Decision,
        direction: Direction,
        gallery_version: int,
        captured: float | None = None,
    ) -> OutboxEvent | None:
        """The committed event, or None for a repeat, when the outbox is full (logged), or when
        the outbox file fails (the passage waits in memory for ``retry``)."""
        if self.repeats.is_repeat(decision, track.last_seen):
            log.debug("[%s] track %d is %s again: same passage", self.name, track.id,
                      decision.identity)  # fmt: skip
            return None
        decided = DecidedPassage(
            track, decision, direction, gallery_version, datetime.now(UTC), captured
        )
        if self.unstored:  # earlier passages wait: keep the order
            self._wait(decided)
            return None
        try:
            return self._store(decided)
        except OutboxFull as e:
            log.error("[%s] %s", self.name, e)
        except OutboxError:  # logged by the outbox's health, once a minute
            self._wait(decided)
        return None

    def retry(self, now: float, force: bool = False) -> list[StoredPassage]:
        """Commit the waiting passages, oldest first, when their backoff is over (``now``:
        time.monotonic()) or ``force``; stops at the first failure."""
        stored: list[StoredPassage] = []
        if not self.unstored or (now < self._retry_at and not force):
            return stored
        while self.unstored:
            decided = self.unstored[0]
            try:
                ev = self._store(decided)
            except OutboxFull as e:
                log.error("[%s] %s", self.name, e)
            except OutboxError:
                self._backoff_s = min(self._backoff_s * 2, self.MAX_BACKOFF_S)
                self._retry_at = now + self._backoff_s
                return stored
            else:
                stored.append(StoredPassage(ev, decided.captured))
            self.unstored.popleft()
        self._backoff_s = 1.0
        log.warning("[%s] outbox writable again: %d waiting passages stored", self.name,
                    len(stored))  # fmt: skip
        return stored

    def _store(self, d: DecidedPassage) -> OutboxEvent:
        ev = self.outbox.add(
            lambda seq, event_id: self.passage(
                d.track, d.decision, d.direction, d.gallery_version, seq, event_id, d.ts
            ).to_json()
        )
        self.written += 1
        log.info("[%s] passage #%d track %d %s %s %s%s", self.name, ev.seq, d.track.id,
                 d.direction, d.decision.role, d.decision.identity or "-",
                 f" search {d.decision.search_id}" if d.decision.search_id else "")  # fmt: skip
        return ev

    def _wait(self, d: DecidedPassage) -> None:
        if len(self.unstored) < self.max_unstored:
            if not self.unstored:
                self._retry_at = time.monotonic() + self._backoff_s
            self.unstored.append(d)
            return
        self.lost += 1
        log.error("[%s] PASSAGE LOST: the outbox cannot store and %d passages already wait in "
                  "memory; lost #%d: %s track %d %s %s %s at %s", self.name, len(self.unstored),
                  self.lost, self.cfg.gate, d.track.id, d.direction, d.decision.role,
                  d.decision.identity or "-", d.ts.isoformat())  # fmt: skip
