"""The wall screen's data: a public screen in the police room, read from three metres.

Counts are of people (distinct identities), by role; "today" is the site's local day; names are
shown as the site's ``wall.names`` setting says (masked 王*华, roles only, or full) and a person
id never leaves for the screen. Everything reads the presence and hourly tables kept at ingest,
so one answer costs a handful of small queries whatever the size of the events table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from server.config import ServerConfig
from server.ingest.gatecheck import GateTrouble
from server.localtime import local_midnight
from server.states import AlertRule, AlertState
from server.store import Store, now_utc
from server.store.records import AlertRecord, Gate
from server.wall.gates import heard_cameras, with_troubles
from server.wall.gates import online as gate_online
from server.watch.elder import years_ago

Names = Literal["masked", "roles", "full"]
ROLES = ("resident", "visitor", "courier", "staff", "watchlist")
# Alerts by priority: a watchlist person at the gate first, then search sightings, then the
# elder rules, then visitors at night.
PRIORITY = {
    AlertRule.WATCHLIST_SEEN: 0,
    AlertRule.SIGHTING: 1,
    AlertRule.VISITOR_INSIDE_AT_NIGHT: 3,
}
ELDER_PRIORITY = 2
ALERTS_SHOWN = 8
WEEKS = 4


class Shown(BaseModel):
    """Who, as the wall may show them: a masked or full name and building, or nothing."""

    role: str
    name: str | None = None
    building: str | None = None


class WallPassage(Shown):
    ts: datetime
    gate: str
    camera: str
    direction: str


class WallAlert(Shown):
    id: int
    rule: str
    high: bool
    gate: str | None
    ts: datetime  # when it (its latest occurrence) happened: the evidence's time, else raised
    created: datetime
    count: int = 1  # occurrences merged into it


class WallGate(BaseModel):
    """A gate camera as the wall shows it: online (its status says so and is not overdue) and
    its last passage; the workbench's /gates page has the rest."""

    gate: str
    camera: str
    online: bool
    state: str | None
    camera_state: str | None
    last_status: datetime | None
    last_passage: datetime | None
    # The gate's passages refused over gates.refusal_window_s, and its problem when most are
    # (clock_skew, malformed, oversized, database; None: fine). The same for each of its cameras.
    refused_recent: int = 0
    problem: str | None = None


class Hourly(BaseModel):
    """Passages per local hour (0-23) today, and the same weekday's average over past weeks."""

    today_in: list[int]
    today_out: list[int]
    avg_in: list[float]
    avg_out: list[float]
    weeks: int  # how many past weeks the average is over (those with any passage)


class Elders(BaseModel):
    age_years: int
    total: int
    seen_24h: int
    seen_48h: int
    not_seen_48h: int


class Wall(BaseModel):
    now: datetime
    day: date  # the local day "today" is
    names: Names
    inside: dict[str, int]  # people inside now by role
    inside_total: int
    people_in: dict[str, int]  # people (distinct) who came in today, by role
    people_out: dict[str, int]
    passages_today: int
    hourly: Hourly
    passages: list[WallPassage]
    passages_max: int  # how many live passages the wall shows (wall.passages)
    alerts: list[WallAlert]
    alerts_open: int
    alerts_high: int
    elders: Elders
    gates: list[WallGate]


def mask(name: str) -> str:
    """王秀华 -> 王*华, 李明 -> 李*: the first and last characters kept, the rest starred."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def shown(
    names: Names, role: str, identity: str | None, labels: dict[str, tuple[str, str | None]]
) -> dict[str, Any]:
    """The role, and the name and building as ``names`` allows (never the id)."""
    label = labels.get(identity or "") if names != "roles" else None
    if label is None:
        return {"role": role}
    name, building = label
    return {"role": role, "name": name if names == "full" else mask(name), "building": building}


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _inside(came: datetime | None, left: datetime | None) -> bool:
    return came is not None and (left is None or left < came)


def _per_local_hour(counts: list, tz: Any, direction: str) -> list[int]:  # noqa: ANN401
    out = [0] * 24
    for c in counts:
        if c.direction == direction:
            out[c.hour.astimezone(tz).hour] += c.n
    return out


def wall_alert(
    names: Names,
    alert_id: int,
    rule: str,
    person_id: str,
    evidence: dict[str, Any],
    created: datetime,
    labels: dict[str, tuple[str, str | None]],
    count: int = 1,
) -> WallAlert:
    """An alert as the wall shows it: who (masked), where, when it happened."""
    when = evidence.get("ts") or evidence.get("went_out") or evidence.get("last_seen")
    role = {AlertRule.VISITOR_INSIDE_AT_NIGHT: "visitor", AlertRule.WATCHLIST_SEEN: "watchlist"}
    gate = evidence.get("gate")
    return WallAlert(
        id=alert_id,
        rule=str(rule),
        high=rule == AlertRule.WATCHLIST_SEEN,
        gate=str(gate) if gate else None,
        ts=datetime.fromisoformat(str(when)) if when else created,
        created=created,
        count=count,
        **shown(names, role.get(AlertRule(rule), "resident"), person_id, labels),
    )


class WallData:
    """Builds the wall's answer; the past weeks' hourly average is kept per local day, the whole
    answer for a second."""

    def __init__(
        self,
        store: Store,
        cfg: ServerConfig,
        troubles: Callable[[], Mapping[str, GateTrouble]] = dict,
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.troubles = troubles  # the ingest's GateRefusals.report
        self._avg: tuple[date, tuple[list[float], list[float], int]] | None = None
        self._lock = threading.Lock()
        self._last: Wall | None = None
        self._version = -1  # the store's alerts_version when _last was built

    def latest(self, max_age_s: float = 1.0) -> Wall:
        """The answer built at most ``max_age_s`` ago (several screens and a burst of passages
        share one) unless an alert changed since, else a new one."""
        now = now_utc()
        last, version = self._last, self.store.alerts_version
        fresh = last is not None and timedelta(0) <= now - last.now < timedelta(seconds=max_age_s)
        if fresh and version == self._version:  # and no alert changed since (in this process)
            return last
        self._version = version
        self._last = self.build(now)
        return self._last

    def build(self, now: datetime | None = None) -> Wall:
        now = now or now_utc()
        tz, names = self.cfg.tz, self.cfg.wall.names
        inside, people_in, people_out = self.people(now)
        hourly = self.hourly(now)
        alerts = self.alerts()
        return Wall(
            now=now,
            day=now.astimezone(tz).date(),
            names=names,
            inside=inside,
            inside_total=sum(inside.values()),
            people_in=people_in,
            people_out=people_out,
            passages_today=sum(hourly.today_in) + sum(hourly.today_out),
            hourly=hourly,
            passages=self.passages(now),
            passages_max=self.cfg.wall.passages,
            alerts=alerts[:ALERTS_SHOWN],
            alerts_open=len(alerts),
            alerts_high=sum(a.high for a in alerts),
            elders=self.elders(now),
            gates=self.gates(now),
        )

    def people(self, now: datetime) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """People inside now, and in / out today (local day), by role. Visitors are counted by
        the shared visitor ids with aliases merged, inside by visitors_inside's rule (their
        newest move in or out within visitors.lookback_h is in)."""
        lookback = now - timedelta(hours=self.cfg.visitors.lookback_h)
        midnight = local_midnight(now, self.cfg.tz)
        by_role = self.store.presence_summary(lookback, midnight)
        v = by_role.setdefault("visitor", {"inside": 0, "in": 0, "out": 0})
        aliases = self.store.visitor_aliases()  # only these ids need merging
        raw, merged = self._visitor_groups(aliases, lookback, midnight)
        for k in v:
            v[k] += merged[k] - raw[k]
        roles = [*ROLES, *(r for r in by_role if r not in ROLES)]
        inside, came, left = ({r: by_role.get(r, {}).get(k, 0) for r in roles}
                              for k in ("inside", "in", "out"))  # fmt: skip
        return inside, came, left

    def _visitor_groups(
        self, aliases: dict[str, str], lookback: datetime, midnight: datetime
    ) -> tuple[dict[str, int], dict[str, int]]:
        """The aliased visitor ids counted one by one (as the summary did) and as groups."""
        raw = {"inside": 0, "in": 0, "out": 0}
        groups: dict[str, tuple[datetime | None, datetime | None]] = {}
        for vid, came, left in self.store.visitor_moves(lookback, list(aliases)):
            raw["inside"] += _inside(came, left)
            raw["in"] += bool(came and came >= midnight)
            raw["out"] += bool(left and left >= midnight)
            c0, l0 = groups.get(aliases[vid], (None, None))
            groups[aliases[vid]] = (_later(c0, came), _later(l0, left))
        merged = {
            "inside": sum(_inside(c, o) for c, o in groups.values()),
            "in": sum(bool(c and c >= midnight) for c, _ in groups.values()),
            "out": sum(bool(o and o >= midnight) for _, o in groups.values()),
        }
        return raw, merged

    def hourly(self, now: datetime) -> Hourly:
        tz = self.cfg.tz
        today = self.store.hour_counts(local_midnight(now, tz), local_midnight(now, tz, -1))
        avg_in, avg_out, weeks = self.weekday_average(now)
        return Hourly(
            today_in=_per_local_hour(today, tz, "in"),
            today_out=_per_local_hour(today, tz, "out"),
            avg_in=avg_in,
            avg_out=avg_out,
            weeks=weeks,
        )

    def weekday_average(self, now: datetime) -> tuple[list[float], list[float], int]:
        """The same weekday's passages per local hour over the past WEEKS weeks, averaged over
        the weeks that had any; computed once per local day."""
        tz = self.cfg.tz
        day = now.astimezone(tz).date()
        with self._lock:
            if self._avg is not None and self._avg[0] == day:
                return self._avg[1]
        sums_in, sums_out, weeks = [0] * 24, [0] * 24, 0
        for k in range(1, WEEKS + 1):
            rows = self.store.hour_counts(
                local_midnight(now, tz, 7 * k), local_midnight(now, tz, 7 * k - 1)
            )
            if not rows:
                continue
            weeks += 1
            for acc, d in ((sums_in, "in"), (sums_out, "out")):
                for h, n in enumerate(_per_local_hour(rows, tz, d)):
                    acc[h] += n
        div = max(weeks, 1)
        value = ([n / div for n in sums_in], [n / div for n in sums_out], weeks)
        with self._lock:
            self._avg = (day, value)
        return value

    def passages(self, now: datetime) -> list[WallPassage]:
        events = self.store.events(now - timedelta(days=7), limit=self.cfg.wall.passages)
        labels = self.labels([e.identity for e in events if e.identity_kind == "person"])
        return [
            WallPassage(ts=e.ts, gate=e.gate, camera=e.camera, direction=e.direction,
                        **shown(self.cfg.wall.names, e.role, e.identity, labels))
            for e in events
        ]  # fmt: skip

    def labels(self, ids: list[str | None]) -> dict[str, tuple[str, str | None]]:
        if self.cfg.wall.names == "roles":
            return {}
        return self.store.person_labels([i for i in ids if i])

    def alerts(self) -> list[WallAlert]:
        """Open alerts, the most urgent first, newest first within a priority."""
        records = self.store.alerts(AlertState.OPEN)
        records.sort(key=lambda a: (PRIORITY.get(a.rule, ELDER_PRIORITY), -a.last_ts.timestamp(),
                                    -a.id))  # fmt: skip
        labels = self.labels([a.person_id for a in records[:ALERTS_SHOWN]])
        return [self.alert(a, labels) for a in records]

    def alert(self, a: AlertRecord, labels: dict[str, tuple[str, str | None]]) -> WallAlert:
        return wall_alert(self.cfg.wall.names, a.id, a.rule, a.person_id, a.evidence, a.created,
                          labels, a.count)  # fmt: skip

    def elders(self, now: datetime) -> Elders:
        age = self.cfg.elder.age_years
        born = years_ago(now.astimezone(self.cfg.tz).date(), age)
        total, (d1, d2) = self.store.elders_seen(
            born, [now - timedelta(hours=24), now - timedelta(hours=48)]
        )
        return Elders(age_years=age, total=total, seen_24h=d1, seen_48h=d2, not_seen_48h=total - d2)

    def gates(self, now: datetime | None = None) -> list[WallGate]:
        """Every camera heard of (status or passage) within gates.camera_stale_days, with both;
        at most gates.max_cameras per gate (those with a status first, then the newest)."""
        now = now or now_utc()
        out = [
            self.gate(h.status, h.last_passage, now) if h.status is not None
            else WallGate(gate=h.gate, camera=h.camera, online=False, state=None,
                          camera_state=None, last_status=None, last_passage=h.last_passage)
            for h in heard_cameras(self.store, self.cfg.gates, now)
        ]  # fmt: skip
        out = with_troubles(out, self.troubles())
        return sorted(out, key=lambda g: (g.gate, g.camera))

    def gate(self, g: Gate, last_passage: datetime | None, now: datetime) -> WallGate:
        w = self.cfg.wall
        return WallGate(
            gate=g.gate,
            camera=g.camera,
            online=gate_online(g, now, w.gate_interval_s, w.gate_grace_s),
            state=g.state,
            camera_state=g.camera_state,
            last_status=g.last_status,
            last_passage=last_passage,
        )
