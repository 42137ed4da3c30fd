"""Decisions become passage events: direction, one event per passage, the payload in the outbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from contract.events import Direction, Passage
from edge.config import EdgeConfig, LineRule
from edge.decision import Decision
from edge.errors import OutboxFull
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
        """True if ``decision`` repeats a recent passage; records it either way. A search's
        sighting and a passage without identity are never repeats."""
        if decision.identity is None or decision.search_id is not None:
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


class PassageWriter:
    """Builds the ``Passage`` for a decision and commits it to the outbox, once per passage."""

    def __init__(self, cfg: EdgeConfig, model_id: str, outbox: Outbox, name: str) -> None:
        self.cfg = cfg
        self.model_id = model_id
        self.outbox = outbox
        self.name = name
        self.repeats = RepeatWindow(cfg.decision.repeat_window_s)
        self.written = 0

    def passage(
        self,
        track: Track,
        decision: Decision,
        direction: Direction,
        gallery_version: int,
        seq: int,
        event_id: str,
    ) -> Passage:
        """The wire payload; scores clipped to the contract's ranges."""
        quality = max((s.quality for s in track.samples), default=track.best_quality)
        return Passage(
            event_id=event_id,
            seq=seq,
            site=self.cfg.site,
            gate=self.cfg.gate,
            camera=self.cfg.camera,
            direction=direction,
            ts=datetime.now(UTC),
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
        self, track: Track, decision: Decision, direction: Direction, gallery_version: int
    ) -> OutboxEvent | None:
        """The committed event, or None for a repeat or when the outbox is full (logged)."""
        if self.repeats.is_repeat(decision, track.last_seen):
            log.debug("[%s] track %d is %s again: same passage", self.name, track.id,
                      decision.identity)  # fmt: skip
            return None
        try:
            ev = self.outbox.add(
                lambda seq, event_id: self.passage(
                    track, decision, direction, gallery_version, seq, event_id
                ).to_json()
            )
        except OutboxFull as e:
            log.error("[%s] %s", self.name, e)
            return None
        self.written += 1
        log.info("[%s] passage #%d track %d %s %s %s%s", self.name, ev.seq, track.id, direction,
                 decision.role, decision.identity or "-",
                 f" search {decision.search_id}" if decision.search_id else "")  # fmt: skip
        return ev
