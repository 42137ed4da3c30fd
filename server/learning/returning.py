"""Returning visitors: a visitor id seen on several local days whose gate captures name a person."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo

from server.learning.records import VisitorCapture


def local_days(times: Iterable[datetime], tz: tzinfo) -> int:
    """How many distinct local days ``times`` fall on."""
    return len({ts.astimezone(tz).date() for ts in times})


def returning_pairs(
    captures: Sequence[VisitorCapture],
    passages: Mapping[str, Sequence[datetime]],
    tz: tzinfo,
    min_days: int,
) -> list[VisitorCapture]:
    """The best capture of each (visitor id, person) whose visitor passed on ``min_days``+ days."""
    best: dict[tuple[str, str], VisitorCapture] = {}
    for c in captures:
        key = (c.visitor_id, c.person_id)
        if key not in best or c.score > best[key].score:
            best[key] = c
    return [
        c
        for (vid, _pid), c in sorted(best.items())
        if local_days(passages.get(vid, ()), tz) >= min_days
    ]
