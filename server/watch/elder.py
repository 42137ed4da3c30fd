"""Elder watch: residents aged 70+ (or with care flags) who have not been seen, or went out and
have not come back. Each rule is a small class with its own settings, registered in ``RULES``;
each fires once per episode, with its evidence."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

from contract.events import Alert
from server.config import ElderWatchConfig
from server.localtime import local_text
from server.states import AlertRule
from server.store import Store
from server.store.records import Evidence, PassageRow, Person, as_utc
from server.watch.repeats import counted

log = logging.getLogger(__name__)
SITE_TZ = ZoneInfo("Asia/Shanghai")  # ServerConfig.timezone's default


def years_ago(today: date, years: int) -> date:
    """The date ``years`` before ``today`` (29 February becomes 28 February)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@dataclass(frozen=True)
class Finding:
    rule: AlertRule
    person_id: str
    episode: str
    evidence: Evidence


@dataclass(frozen=True)
class Watched:
    """One watched resident at scan time: their newest passage and the hours since it."""

    person: Person
    last: PassageRow | None
    hours: float  # since the last passage, or since enrollment when never seen
    since: datetime  # the time ``hours`` counts from


@dataclass(frozen=True)
class Scan:
    """What every rule may look at in one scan."""

    now: datetime
    tz: tzinfo
    watched: Sequence[Watched]
    store: Store

    @property
    def today_local(self) -> date:
        return self.now.astimezone(self.tz).date()


class Rule(Protocol):
    def findings(self, scan: Scan) -> Iterable[Finding]: ...


@dataclass(frozen=True)
class NotSeen:
    """Not seen by any camera for ``hours``."""

    hours: float

    def findings(self, scan: Scan) -> Iterable[Finding]:
        for w in scan.watched:
            if w.hours >= self.hours:
                evidence: Evidence = {
                    "last_seen": w.last.ts.isoformat() if w.last else None,
                    "last_seen_local": local_text(w.last.ts, scan.tz) if w.last else None,
                    "gate": w.last.gate if w.last else None,
                    "hours": round(w.hours, 1),
                }
                yield Finding(
                    AlertRule.NOT_SEEN, w.person.id, f"since:{w.since.isoformat()}", evidence
                )


@dataclass(frozen=True)
class OutNotBack:
    """Went out and not back for ``hours``."""

    hours: float

    def findings(self, scan: Scan) -> Iterable[Finding]:
        for w in scan.watched:
            if w.last and w.last.direction == "out" and w.hours >= self.hours:
                evidence: Evidence = {
                    "went_out": w.last.ts.isoformat(),
                    "went_out_local": local_text(w.last.ts, scan.tz),
                    "gate": w.last.gate,
                    "hours": round(w.hours, 1),
                }
                yield Finding(AlertRule.OUT_NOT_BACK, w.person.id, w.last.event_id, evidence)


@dataclass(frozen=True)
class NoPassageToday:
    """A resident who lives alone with no passage for ``hours``; once per local day."""

    hours: float

    def findings(self, scan: Scan) -> Iterable[Finding]:
        for w in scan.watched:
            if "lives_alone" in w.person.care_flags and w.hours >= self.hours:
                evidence: Evidence = {
                    "last_seen": w.last.ts.isoformat() if w.last else None,
                    "last_seen_local": local_text(w.last.ts, scan.tz) if w.last else None,
                    "hours": round(w.hours, 1),
                }
                episode = f"day:{scan.today_local.isoformat()}"
                yield Finding(AlertRule.NO_PASSAGE_TODAY, w.person.id, episode, evidence)


@dataclass(frozen=True)
class OutAtNight:
    """Went out between ``start_h`` and ``end_h`` local time, within the last ``lookback_h``."""

    start_h: int
    end_h: int
    lookback_h: float

    def is_night(self, local_hour: int) -> bool:
        s, e = self.start_h, self.end_h
        return (s <= local_hour or local_hour < e) if s > e else (s <= local_hour < e)

    def findings(self, scan: Scan) -> Iterable[Finding]:
        ids = [w.person.id for w in scan.watched]
        since = scan.now - timedelta(hours=self.lookback_h)
        for ev in scan.store.out_passages_since(ids, since):
            local = ev.ts.astimezone(scan.tz)
            if self.is_night(local.hour):
                evidence: Evidence = {
                    "went_out": ev.ts.isoformat(),
                    "went_out_local": local_text(ev.ts, scan.tz),
                    "local_time": local.strftime("%H:%M"),
                    "gate": ev.gate,
                }
                yield Finding(AlertRule.OUT_AT_NIGHT, ev.identity or "", ev.event_id, evidence)


# The rules a scan runs, in this order, each built from the watch's config.
RULES: dict[AlertRule, Callable[[ElderWatchConfig], Rule]] = {
    AlertRule.NOT_SEEN: lambda c: NotSeen(c.not_seen_h),
    AlertRule.OUT_NOT_BACK: lambda c: OutNotBack(c.out_not_back_h),
    AlertRule.NO_PASSAGE_TODAY: lambda c: NoPassageToday(c.no_passage_today_h),
    AlertRule.OUT_AT_NIGHT: lambda c: OutAtNight(
        c.night_start_h, c.night_end_h, c.night_lookback_h
    ),
}


class ElderWatch:
    def __init__(
        self,
        cfg: ElderWatchConfig,
        store: Store,
        publish: Callable[[Alert], None] = lambda a: None,
        tz: tzinfo = SITE_TZ,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.publish = publish
        self.tz = tz  # the compound's (ServerConfig.timezone)
        self.rules = [make(cfg) for make in RULES.values()]

    def watched(self, now: datetime) -> list[Watched]:
        """The watched residents with their newest passage, in two queries."""
        today_local = now.astimezone(self.tz).date()
        persons = self.store.watched_persons(years_ago(today_local, self.cfg.age_years))
        last = self.store.last_passages([p.id for p in persons])
        out = []
        for p in persons:
            lp = last.get(p.id)
            since = lp.ts if lp else as_utc(p.created)
            out.append(Watched(p, lp, (now - since).total_seconds() / 3600, since))
        return out

    def findings(self, now: datetime) -> list[Finding]:
        """What the rules see at ``now`` (pure: nothing stored)."""
        scan = Scan(now, self.tz, self.watched(now), self.store)
        return [f for rule in self.rules for f in rule.findings(scan)]

    def resolve_returns(self, passages: Sequence[PassageRow]) -> list[Alert]:
        """Resolve the open ``out_not_back`` alerts of those seen inside again, each with the
        passage that ended it (a passage in, or an internal camera's), and publish them."""
        back = [p for p in passages if p.identity and p.direction in ("in", "none")]
        done = []
        for a in self.store.open_alerts(AlertRule.OUT_NOT_BACK, [p.identity or "" for p in back]):
            went_out = a.evidence.get("went_out")
            after = datetime.fromisoformat(went_out) if isinstance(went_out, str) else None
            ret = next(
                (p for p in back if p.identity == a.person_id and (after is None or p.ts > after)),
                None,
            )
            if ret is None:
                continue
            evidence: Evidence = {
                "returned": ret.ts.isoformat(),
                "returned_local": local_text(ret.ts, self.tz),
                "return_event_id": ret.event_id,
                "return_gate": ret.gate,
                "return_camera": ret.camera,
            }
            r = self.store.resolve_alert(a.id, evidence)
            if r is None:
                continue
            log.info("alert %d resolved: %s is back (%s)", a.id, a.person_id, ret.event_id)
            done.append(
                Alert(
                    alert_id=r.id,
                    rule=r.rule.value,
                    person_id=r.person_id,
                    created=r.created,
                    evidence=r.evidence,
                    state="resolved",
                )
            )
            self.publish(done[-1])
        return done

    def scan(self, now: datetime) -> list[Alert]:
        """Resolve alerts whose condition ended, then store and publish the new episodes."""
        still_out = [a.person_id for a in self.store.open_alerts(AlertRule.OUT_NOT_BACK)]
        self.resolve_returns(list(self.store.last_passages(still_out).values()))
        alerts = []
        for f in self.findings(now):
            stored = self.store.raise_alert(f.rule, f.person_id, f.episode, dict(f.evidence), now)
            if stored is None:
                continue
            alert_id = stored.id
            a = Alert(
                alert_id=alert_id,
                rule=f.rule.value,
                person_id=f.person_id,
                created=now,
                evidence=counted(dict(f.evidence), stored),
            )
            log.warning("alert %d: %s for %s %s", alert_id, f.rule, f.person_id, f.evidence)
            self.publish(a)
            alerts.append(a)
        return alerts
