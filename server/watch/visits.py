"""Home visits: who is due a visit (care-flag residents not visited within N days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from server.config import ElderWatchConfig
from server.states import SEEN_AT_VISIT, VisitOutcome
from server.store import Store
from server.store.people import Brief
from server.watch.elder import years_ago
from server.watch.roster import age_on


@dataclass(frozen=True)
class Due:
    """A resident due a visit: the last visit (None: never) and the days since it."""

    person: Brief
    age: int | None
    last_visit: datetime | None
    days_since: float | None
    not_home: datetime | None = None  # the latest visit that found nobody home, if later


def due_visits(
    store: Store,
    cfg: ElderWatchConfig,
    tz: tzinfo,
    now: datetime,
    days: int,
) -> list[Due]:
    """Care-flag residents (living alone is one of the flags) not seen at a visit in the last
    ``days`` days (a visit that found nobody home does not count); never visited first, then the
    longest since the last visit."""
    today = now.astimezone(tz).date()
    cut = now - timedelta(days=days)
    last = store.last_visits(sorted(SEEN_AT_VISIT))
    tried = store.last_visits([VisitOutcome.NOT_HOME])
    out = []
    for p in store.watched_brief(years_ago(today, cfg.age_years)):
        if not p.care_flags:
            continue
        seen = last.get(p.id)
        if seen is not None and seen >= cut:
            continue
        since = None if seen is None else (now - seen).total_seconds() / 86400
        door = tried.get(p.id)
        door = door if door is not None and (seen is None or door > seen) else None
        out.append(Due(p, age_on(p.birth_date, today), seen, since, door))
    out.sort(key=lambda d: (d.last_visit is not None, -(d.days_since or 0), d.person.name))
    return out
