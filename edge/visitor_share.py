"""One visitor id across the compound: this edge's visitors shared with the site's other edges.

A visitor minted or seen again here is published on ``.../visitors/<id>`` (retained, MQTT 5
message expiry = ``visitors.expiry_s``), so every edge, and this one after a restart, knows it
until it expires. Two ids for one visitor (minted at two gates at nearly the same time) are
merged by the older-wins rule; the merge is reported to the server and the loser's retained
template withdrawn. A template search is matched against the live visitors (look back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from contract.events import SearchOrder
from contract.mqtt import Subscription, remaining_expiry_s
from contract.topics import Topics
from contract.visitors import VisitorAlias, VisitorMatch, VisitorTemplate
from edge.visitors import Merged, Seen, VisitorGallery
from models.engine import embedding_space

log = logging.getLogger(__name__)

# (topic, payload, retain, expiry_s): EdgeLink.publish
Publish = Callable[[str, bytes, bool, float | None], None]


class VisitorShare:
    """Publishes this edge's visitors, takes in the site's, reports merges and look-back hits."""

    def __init__(
        self,
        gallery: VisitorGallery,
        topics: Topics,
        gate: str,
        model_id: str,
        search_threshold: float,
        name: str,
    ) -> None:
        self.gallery = gallery
        self.topics = topics
        self.gate = gate
        self.model_id = model_id
        self.search_threshold = search_threshold
        self.name = name
        self.publish: Publish = lambda topic, payload, retain, expiry_s: None
        self.heard = 0
        self.merged = 0
        gallery.on_seen = self.seen

    def subscriptions(self) -> list[Subscription]:
        """What the MQTT link must subscribe to for this share."""
        return [Subscription(self.topics.all_visitors(), self.on_template)]

    # -- out -------------------------------------------------------------------------------

    def seen(self, s: Seen) -> None:
        """Minted or seen again here: (re)publish its template with a fresh expiry."""
        t = VisitorTemplate(
            visitor_id=s.visitor_id,
            model_id=self.model_id,
            template=[round(float(x), 6) for x in s.template],
            first_seen=s.first_seen,
            last_seen=max(datetime.now(UTC), s.first_seen),
            minted_by=s.minted_by,
        )
        self.publish(self.topics.visitor(s.visitor_id), t.to_json(), True, self.gallery.expiry_s)
        if s.minted:
            log.info("[%s] visitor %s minted and shared", self.name, s.visitor_id)

    def _report_merge(self, m: Merged) -> None:
        self.merged += 1
        log.info("[%s] visitor %s is %s (the older id wins)", self.name, m.alias, m.visitor_id)
        alias = VisitorAlias(
            alias=m.alias, visitor_id=m.visitor_id, gate=self.gate, ts=datetime.now(UTC)
        )
        self.publish(self.topics.visitor_aliases(self.gate), alias.to_json(), False, None)
        self.publish(self.topics.visitor(m.alias), b"", True, None)  # withdraw the loser

    def look_back(self, search_id: str, order: SearchOrder) -> int:
        """Report the live visitors a template search's target matches; returns how many."""
        if order.template is None or order.model_id is None:
            return 0
        if embedding_space(order.model_id) != embedding_space(self.model_id):
            return 0
        limit = order.threshold if order.threshold is not None else self.search_threshold
        self.gallery.expire(time.monotonic())
        hits = self.gallery.matches(order.template, limit)
        for h in hits:
            match = VisitorMatch(
                search_id=search_id,
                visitor_id=h.visitor_id,
                score=round(max(-1.0, min(1.0, h.score)), 4),
                threshold=self.gallery.threshold,
                gate=self.gate,
                ts=datetime.now(UTC),
            )
            self.publish(self.topics.sightings(self.gate), match.to_json(), False, None)
        if hits:
            log.info("[%s] search %s: %d live visitors match (look back)", self.name, search_id,
                     len(hits))  # fmt: skip
        return len(hits)

    # -- in (paho's thread) ----------------------------------------------------------------

    def on_template(self, msg: mqtt.MQTTMessage) -> None:
        """A visitor shared by an edge of the site (this one included), or withdrawn."""
        vid = self.topics.visitor_id_of(msg.topic)
        if vid is None:
            raise ValueError(f"{msg.topic} is not a visitor topic of site {self.topics.site}")
        if not msg.payload:
            self.gallery.forget(vid)
            return
        t = VisitorTemplate.model_validate_json(msg.payload)
        if t.visitor_id != vid:
            raise ValueError(f"visitor id {t.visitor_id} does not match the topic")
        if embedding_space(t.model_id) != embedding_space(self.model_id):
            raise ValueError(f"visitor {vid}: template from model {t.model_id}, "
                             f"this edge runs {self.model_id}")  # fmt: skip
        self.heard += 1
        merged = self.gallery.heard(t, remaining_expiry_s(msg), time.monotonic())
        if merged is not None:
            self._report_merge(merged)
