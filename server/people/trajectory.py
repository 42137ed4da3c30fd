"""Trajectories: ordered passages, the stays they imply, and where a person is now."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from server.store import Store
from server.store.records import PassageRow

RECENT_H = 48  # how far back "since" of the current stay is looked for


@dataclass(frozen=True)
class Stay:
    """A stretch of time inside or outside the compound, between two passages."""

    where: str  # "inside" | "outside"
    since: datetime
    until: datetime | None  # None: still there (as far as the cameras know)
    entered_by: str  # gate/camera of the passage that started it
    internal: list[PassageRow] = field(default_factory=list)  # internal cameras' sightings in it
    earlier: bool = False  # began before the window: ``since`` is the window's start


@dataclass(frozen=True)
class Whereabouts:
    last_seen: datetime | None
    gate: str | None
    camera: str | None
    inside: bool | None  # None: never seen
    since: datetime | None  # start of the current stay


def side_after(direction: str) -> str:
    """Internal cameras (direction none) see people inside."""
    return "outside" if direction == "out" else "inside"


def stays(
    passages: list[PassageRow], before: PassageRow | None = None, start: datetime | None = None
) -> list[Stay]:
    """Consecutive passages on the same side merge into one stay; a change of side starts a new
    one. ``before`` is the last passage before the window (which starts at ``start``): the side
    it left the person on is a stay drawn from the window's start, marked ``earlier``. Without
    it the first stay starts at the first passage (nothing is known before it)."""
    out: list[Stay] = []
    if before is not None and start is not None:
        side = side_after(before.direction)
        out.append(Stay(side, start, None, f"{before.gate}/{before.camera}", earlier=True))
    for p in passages:
        side = side_after(p.direction)
        seen_inside = [p] if p.direction == "none" else []
        if out and out[-1].where == side:
            out[-1] = replace(out[-1], internal=out[-1].internal + seen_inside)
            continue
        if out:
            out[-1] = replace(out[-1], until=p.ts)
        out.append(Stay(side, p.ts, None, f"{p.gate}/{p.camera}", seen_inside))
    return out


def whereabouts(recent: list[PassageRow], last: PassageRow | None) -> Whereabouts:
    """Where a person is now: from the last passage; ``since`` from the stays of ``recent``."""
    if last is None:
        return Whereabouts(None, None, None, None, None)
    current = stays(recent)
    since = (
        current[-1].since
        if current and current[-1].where == side_after(last.direction)
        else last.ts
    )
    return Whereabouts(
        last.ts, last.gate, last.camera, side_after(last.direction) == "inside", since
    )


@dataclass(frozen=True)
class Trajectory:
    """An identity's passages since a time, the stays they imply, and where they are now."""

    identity: str
    since: datetime
    passages: list[PassageRow]
    stays: list[Stay]
    whereabouts: Whereabouts


def trace(
    store: Store, identity: str, since: datetime, until: datetime | None = None
) -> Trajectory:
    """The identity's trajectory in [since, until) from the store; a stay that began before
    ``since`` (the last passage before it) is its first stay, from ``since``."""
    ps = store.passages(identity, since, until)
    before = store.last_passage(identity, before=since)
    known = [before, *ps] if before is not None else ps
    w = whereabouts(known, store.last_passage(identity))
    return Trajectory(identity, since, ps, stays(ps, before, since), w)


def locate(store: Store, identity: str, now: datetime) -> Whereabouts:
    """Where the identity is now, from their last passage and the last ``RECENT_H`` hours."""
    recent = store.passages(identity, now - timedelta(hours=RECENT_H))
    return whereabouts(recent, store.last_passage(identity))
