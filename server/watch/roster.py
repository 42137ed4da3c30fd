"""The elder roster: every resident aged 70+ and every care-flag resident, where each was last
seen, open alerts and a risk order; and its CSV (UTF-8 with a BOM, so Excel reads Chinese)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from server.config import ElderWatchConfig
from server.i18n import text
from server.localtime import local_text
from server.people.trajectory import side_after
from server.store import Store
from server.store.people import Brief, LastSeen
from server.watch.elder import years_ago

NEVER_H = float("inf")  # a resident never seen sorts as the longest unseen


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass(slots=True)
class RosterRow:
    """One watched resident: who, where last seen, since when, open alerts, rank by risk."""

    person: Brief
    age: int | None
    last: LastSeen | None
    hours: float | None  # since the last passage or sighting; None: never seen
    alerts: list[str]  # rules of the open alerts
    risk: int = 0  # 1 = most at risk

    @property
    def inside(self) -> bool | None:
        return None if self.last is None else side_after(self.last.direction) == "inside"

    def risk_key(self) -> tuple:
        """Open alerts first, then out and not back, then longest unseen, then living alone."""
        out = self.last is not None and self.last.direction == "out"
        alone = "lives_alone" in self.person.care_flags
        hours = NEVER_H if self.hours is None else self.hours
        return (-len(self.alerts), not out, -hours, not alone, self.person.name, self.person.id)


@dataclass(frozen=True)
class RosterFilter:
    flag: str | None = None
    building: str | None = None
    q: str | None = None  # a part of the name

    def keep(self, p: Brief) -> bool:
        return (
            (not self.flag or self.flag in p.care_flags)
            and (not self.building or (p.building or "") == self.building)
            and (not self.q or self.q.strip().lower() in p.name.lower())
        )


def roster(
    store: Store, cfg: ElderWatchConfig, tz: tzinfo, now: datetime, only: RosterFilter
) -> list[RosterRow]:
    """The watched residents ranked by risk (the rank is over the whole roster, then filtered)."""
    today = now.astimezone(tz).date()
    born_before = years_ago(today, cfg.age_years)
    alerts = store.open_alert_rules()
    rows = []
    for p, lp in store.watched_last_seen(born_before):
        hours = None if lp is None else max(0.0, (now - lp.ts).total_seconds() / 3600)
        rows.append(RosterRow(p, age_on(p.birth_date, today), lp, hours, alerts.get(p.id, [])))
    rows.sort(key=RosterRow.risk_key)
    for i, r in enumerate(rows):
        r.risk = i + 1
    return [r for r in rows if only.keep(r.person)]


# fmt: off
CSV_COLUMNS = ("elders.col.risk", "common.person", "common.age", "common.building",
               "common.unit", "flows.room", "common.phone", "common.flags", "elders.col.where",
               "elders.col.last_seen", "common.gate", "elders.col.hours", "elders.col.alerts")
# fmt: on


def entry(r: RosterRow) -> dict[str, object]:
    """A row as the API answers it (plain JSON: 5,000 rows skip model validation)."""
    p, last = r.person, r.last
    return {
        "id": p.id, "name": p.name, "age": r.age, "building": p.building, "unit": p.unit,
        "room": p.room, "flags": p.care_flags, "last_seen": last.ts.isoformat() if last else None,
        "gate": last.gate if last else None, "camera": last.camera if last else None,
        "direction": last.direction if last else None, "inside": r.inside,
        "hours": None if r.hours is None else round(r.hours, 2), "alerts": len(r.alerts),
        "alert_rules": r.alerts, "risk": r.risk,
    }  # fmt: skip


def cell(v: object) -> str:
    """A CSV cell Excel will not run as a formula (names are typed by people)."""
    s = str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def roster_csv(rows: Sequence[RosterRow], lang: str, tz: tzinfo) -> bytes:
    """The roster as CSV in ``lang`` with local times, UTF-8 with a BOM (Excel opens it)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([text(lang, k) for k in CSV_COLUMNS])
    for r in rows:
        p = r.person
        where = {True: "common.inside", False: "common.outside", None: "common.unknown"}[r.inside]
        w.writerow(map(cell, [
                r.risk,
                p.name,
                "" if r.age is None else r.age,
                p.building or "",
                p.unit or "",
                p.room or "",
                p.phone or "",
                " ".join(text(lang, f"flag.{f}") for f in p.care_flags),
                text(lang, where),
                local_text(r.last.ts if r.last else None, tz),
                f"{r.last.gate}/{r.last.camera}" if r.last else "",
                "" if r.hours is None else f"{r.hours:.1f}",
                " ".join(text(lang, f"rule.{a}") for a in r.alerts),
            ]))  # fmt: skip
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")
