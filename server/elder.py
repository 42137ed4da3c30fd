"""Elder watch: residents aged 70+ (or with care flags) who have not been seen, or went out and
have not come back. Each rule fires once per episode, with its evidence."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from contract.events import Alert
from server.config import ElderWatchConfig
from server.store import Store, utc

log = logging.getLogger(__name__)


def years_ago(today: date, years: int) -> date:
    """The date ``years`` before ``today`` (29 February becomes 28 February)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@dataclass(frozen=True)
class Finding:
    rule: str
    person_id: str
    episode: str
    evidence: dict[str, str | float | int | None]


class ElderWatch:
    def __init__(
        self, cfg: ElderWatchConfig, store: Store, publish: Callable[[Alert], None] = lambda a: None
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.publish = publish
        self.tz = timezone(timedelta(hours=cfg.utc_offset_h))

    def _is_night(self, ts: datetime) -> bool:
        h = ts.astimezone(self.tz).hour
        s, e = self.cfg.night_start_h, self.cfg.night_end_h
        return (s <= h or h < e) if s > e else (s <= h < e)

    def findings(self, now: datetime) -> list[Finding]:
        """What the rules see at ``now`` (pure: nothing stored)."""
        today_local = now.astimezone(self.tz).date()
        watched = self.store.watched_persons(years_ago(today_local, self.cfg.age_years))
        ids = [p["id"] for p in watched]
        last = self.store.last_passages(ids)
        out: list[Finding] = []
        for p in watched:
            pid = p["id"]
            lp = last.get(pid)
            ref = lp.ts if lp else utc(p["created"])
            assert ref is not None
            hours = (now - ref).total_seconds() / 3600
            if hours >= self.cfg.not_seen_h:
                out.append(
                    Finding(
                        "not_seen",
                        pid,
                        f"since:{ref.isoformat()}",
                        {
                            "last_seen": lp.ts.isoformat() if lp else None,
                            "gate": lp.gate if lp else None,
                            "hours": round(hours, 1),
                        },
                    )
                )
            if lp and lp.direction == "out" and hours >= self.cfg.out_not_back_h:
                out.append(
                    Finding(
                        "out_not_back",
                        pid,
                        lp.event_id,
                        {"went_out": lp.ts.isoformat(), "gate": lp.gate, "hours": round(hours, 1)},
                    )
                )
            if "lives_alone" in (p["care_flags"] or []) and hours >= 24:
                out.append(
                    Finding(
                        "no_passage_today",
                        pid,
                        f"day:{today_local.isoformat()}",
                        {"last_seen": lp.ts.isoformat() if lp else None, "hours": round(hours, 1)},
                    )
                )
        for ev in self.store.out_passages_since(ids, now - timedelta(hours=24)):
            if self._is_night(ev.ts):
                local = ev.ts.astimezone(self.tz).strftime("%H:%M")
                out.append(
                    Finding(
                        "out_at_night",
                        ev.identity or "",
                        ev.event_id,
                        {"went_out": ev.ts.isoformat(), "local_time": local, "gate": ev.gate},
                    )
                )
        return out

    def scan(self, now: datetime) -> list[Alert]:
        """Store and publish the findings that are new episodes."""
        alerts = []
        for f in self.findings(now):
            alert_id = self.store.add_alert(f.rule, f.person_id, f.episode, dict(f.evidence))
            if alert_id is None:
                continue
            a = Alert(
                alert_id=alert_id,
                rule=f.rule,
                person_id=f.person_id,
                created=now,  # type: ignore[arg-type]
                evidence=f.evidence,
            )
            log.warning("alert %d: %s for %s %s", alert_id, f.rule, f.person_id, f.evidence)
            self.publish(a)
            alerts.append(a)
        return alerts
