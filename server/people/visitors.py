"""Visitors on the server: by id only, never a template (the edges share those among themselves).

What the edges report (two ids for one visitor, live visitors a template search matches), the
visitors inside now, the rule "a visitor inside longer than N hours at night", and the look-back
answer of a template search: the matched visitor's passages in the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

import paho.mqtt.client as mqtt

from contract.events import Alert
from contract.mqtt import Subscription
from contract.topics import Topics
from contract.visitors import VisitorAlias, VisitorMatch
from server.config import VisitorWatchConfig
from server.i18n import DEFAULT_LOCALE, text
from server.live import Hub
from server.localtime import local_text
from server.states import AlertRule
from server.store import Store, now_utc
from server.store.records import Evidence, PassageRow
from server.watch.repeats import counted

log = logging.getLogger(__name__)

Confidence = Literal["high", "possible"]


@dataclass(frozen=True)
class VisitorInside:
    """A visitor whose newest passage is in: since when, by which gate."""

    visitor_id: str
    since: datetime
    gate: str
    camera: str
    event_id: str
    hours: float


@dataclass(frozen=True)
class VisitorLookBack:
    """A live visitor a template search matched, with its passages in the search's window."""

    visitor_id: str
    score: float
    confidence: Confidence
    gates: list[str]  # the edges that reported the match
    passages: list[PassageRow]
    inside: bool
    summary: str


def is_night(local_hour: int, start_h: int, end_h: int) -> bool:
    return (
        (start_h <= local_hour or local_hour < end_h)
        if start_h > end_h
        else (start_h <= local_hour < end_h)
    )


def visitors_inside(store: Store, now: datetime, lookback_h: float) -> list[VisitorInside]:
    """Visitors (ids merged through aliases) whose newest in/out passage is in, longest first."""
    aliases = store.visitor_aliases()
    latest: dict[str, PassageRow] = {}
    for p in store.last_visitor_moves(now - timedelta(hours=lookback_h)):
        assert p.identity is not None
        vid = aliases.get(p.identity, p.identity)
        if vid not in latest or p.ts > latest[vid].ts:
            latest[vid] = p
    inside = [
        VisitorInside(vid, p.ts, p.gate, p.camera, p.event_id,
                      round((now - p.ts).total_seconds() / 3600, 2))
        for vid, p in latest.items()
        if p.direction == "in"
    ]  # fmt: skip
    return sorted(inside, key=lambda v: v.since)


def summary(passages: Sequence[PassageRow], tz: tzinfo, locale: str = DEFAULT_LOCALE) -> str:
    """'entered 14:02 by the north gate, not seen leaving', in the compound's local time and the
    site's language (catalogue keys ``lookback.*``)."""
    moves = [p for p in passages if p.direction in ("in", "out")]
    if not moves:
        return text(locale, "lookback.none")

    def hm(p: PassageRow) -> str:
        return p.ts.astimezone(tz).strftime("%H:%M")

    last = moves[-1]
    if last.direction == "in":
        return text(locale, "lookback.inside", time=hm(last), gate=last.gate)
    entered = next((p for p in reversed(moves) if p.direction == "in"), None)
    if entered is None:
        return text(locale, "lookback.out", time=hm(last), gate=last.gate)
    return text(locale, "lookback.in_out", in_time=hm(entered), in_gate=entered.gate,
                out_time=hm(last), out_gate=last.gate)  # fmt: skip


def look_back(
    store: Store, search_id: str, since: datetime, tz: tzinfo, locale: str = DEFAULT_LOCALE
) -> list[VisitorLookBack]:
    """The visitors the edges matched to a template search, best first, with their passages
    since ``since``. Confidence is high when the best score reaches the edges' same-visitor
    threshold (the naming threshold), 'possible' when it reaches only the search threshold."""
    aliases = store.visitor_aliases()
    best: dict[str, tuple[float, float, set[str]]] = {}
    for m in store.visitor_matches(search_id):
        vid = aliases.get(m.visitor_id, m.visitor_id)
        score, threshold, gates = best.get(vid, (-1.0, m.threshold, set()))
        best[vid] = (max(score, m.score), min(threshold, m.threshold), gates | {m.gate})
    out = []
    for vid, (score, threshold, gates) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        passages = store.passages(vid, since)
        moves = [p for p in passages if p.direction in ("in", "out")]
        out.append(
            VisitorLookBack(
                visitor_id=vid,
                score=score,
                confidence="high" if score >= threshold else "possible",
                gates=sorted(gates),
                passages=passages,
                inside=bool(moves) and moves[-1].direction == "in",
                summary=summary(passages, tz, locale),
            )
        )
    return out


class VisitorReports:
    """The server's side of the edges' visitor reports: aliases and look-back matches."""

    def __init__(self, store: Store, topics: Topics, hub: Hub) -> None:
        self.store = store
        self.topics = topics
        self.hub = hub

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(self.topics.all_visitor_aliases(), self.on_alias),
            Subscription(self.topics.all_sightings(), self.on_match),
        ]

    def _gate_checked(self, msg: mqtt.MQTTMessage, gate: str) -> None:
        if self.topics.gate_of(msg.topic) != gate:
            raise ValueError(f"a report of gate {gate} on topic {msg.topic}")

    def on_alias(self, msg: mqtt.MQTTMessage) -> None:
        a = VisitorAlias.model_validate_json(msg.payload)
        self._gate_checked(msg, a.gate)
        if self.store.add_alias(a):
            log.info("visitor %s is %s (reported by %s)", a.alias, a.visitor_id, a.gate)

    def on_match(self, msg: mqtt.MQTTMessage) -> None:
        m = VisitorMatch.model_validate_json(msg.payload)
        self._gate_checked(msg, m.gate)
        if self.store.add_visitor_match(m):
            self.hub.publish(f"search:{m.search_id}", m.model_dump(mode="json"))


class VisitorWatch:
    """Alerts (a visitor id, never a name) for visitors inside longer than N hours at night."""

    def __init__(
        self, cfg: VisitorWatchConfig, store: Store, tz: tzinfo, publish: Callable[[Alert], None]
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.tz = tz
        self.publish = publish

    def scan(self, now: datetime | None = None) -> list[Alert]:
        """Store and publish an alert for each new episode; nothing outside the night window."""
        now = now or now_utc()
        c = self.cfg
        if not is_night(now.astimezone(self.tz).hour, c.night_start_h, c.night_end_h):
            return []
        alerts = []
        for v in visitors_inside(self.store, now, c.lookback_h):
            if v.hours < c.inside_at_night_h:
                continue
            evidence: Evidence = {"since": v.since.isoformat(),
                                  "since_local": local_text(v.since, self.tz), "gate": v.gate,
                                  "hours": round(v.hours, 1)}  # fmt: skip
            rule = AlertRule.VISITOR_INSIDE_AT_NIGHT
            stored = self.store.raise_alert(rule, v.visitor_id, v.event_id, evidence, now)
            if stored is None:
                continue
            alert_id = stored.id
            a = Alert(alert_id=alert_id, rule=rule.value, person_id=v.visitor_id, created=now,
                      evidence=counted(evidence, stored))  # fmt: skip
            log.warning("alert %d: visitor %s inside for %.1f h at night", alert_id,
                        v.visitor_id, v.hours)  # fmt: skip
            self.publish(a)
            alerts.append(a)
        return alerts
