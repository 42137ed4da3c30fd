"""Risk persons: a passage of a watchlist person raises a high-priority alert at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo

from contract.events import Alert, Passage
from server.localtime import local_text
from server.states import HIGH_PRIORITY, AlertRule
from server.store import Store
from server.store.records import Evidence
from server.watch.repeats import counted

log = logging.getLogger(__name__)


class WatchlistWatch:
    """A ``watchlist_seen`` alert per passage of a person enrolled with the watchlist role (repeats
    within the merge window counted on one alert, each still published)."""

    def __init__(self, store: Store, publish: Callable[[Alert], None], tz: tzinfo = UTC) -> None:
        self.store = store
        self.publish = publish
        self.tz = tz  # the compound's, for the evidence's local time

    def seen(self, passages: Sequence[Passage]) -> list[Alert]:
        """Store and publish an alert for each new watchlist passage (one per event id)."""
        alerts = []
        for p in passages:
            if p.role != "watchlist" or p.identity_kind != "person" or p.identity is None:
                continue
            evidence: Evidence = {
                "event_id": p.event_id,
                "gate": p.gate,
                "camera": p.camera,
                "direction": p.direction,
                "ts": p.ts.isoformat(),
                "ts_local": local_text(p.ts, self.tz),
                "score": p.score,
            }
            rule = AlertRule.WATCHLIST_SEEN
            stored = self.store.raise_alert(rule, p.identity, p.event_id, evidence)
            if stored is None:
                continue
            alert_id = stored.id
            a = Alert(
                alert_id=alert_id,
                rule=rule.value,
                person_id=p.identity,
                created=p.ts,
                evidence=counted(evidence, stored),
                priority="high" if rule in HIGH_PRIORITY else "normal",
            )
            log.warning("alert %d: watchlist person %s at %s/%s", alert_id, p.identity, p.gate,
                        p.camera)  # fmt: skip
            self.publish(a)
            alerts.append(a)
        return alerts
