"""One visitor id across the compound: this edge's visitors shared with the site's other edges.

A visitor minted or seen again here is published on ``.../visitors/<this gate>/<id>``
(retained, MQTT 5 message expiry = ``visitors.expiry_s``), so every edge, and this one after a
restart, knows it until it expires. The broker's ACL lets a gate write only under its own name:
the topic says which gate shared a template, and no gate can rewrite or withdraw another's. Two
ids for one visitor (minted at two gates at nearly the same time) are merged by the older-wins
rule; the merge is reported to the server and this gate's own copy of the loser withdrawn. A
template search is matched against the live visitors (look back).

When a template this edge published expires, the edge replaces it by an empty retained message:
Mosquitto keeps an expired retained message in its persistence file until a client subscribes,
and a visitor's template must not outlive its expiry on disk.

Templates heard from the broker are only queued on paho's network thread (a bounded queue; when
it is full they are dropped, counted and logged): a worker thread parses and matches them, so a
flood of templates never holds up keepalives, acks or search orders.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import faiss
import paho.mqtt.client as mqtt
from pydantic import ValidationError

from contract.events import SearchOrder
from contract.mqtt import Subscription, remaining_expiry_s
from contract.topics import Topics
from contract.visitors import VisitorAlias, VisitorMatch, VisitorTemplate
from edge.visitors import Merged, Seen, VisitorGallery
from models.engine import embedding_space

log = logging.getLogger(__name__)

# (topic, payload, retain, expiry_s): EdgeLink.publish
Publish = Callable[[str, bytes, bool, float | None], None]
QUEUE_MAX = 5000  # templates waiting for the worker; more are dropped (counted, logged)
SWEEP_EVERY_S = 0.5  # how often the worker looks for this edge's expired templates
LOG_EVERY_S = 60.0  # the least time between two warnings of one kind


@dataclass(frozen=True)
class _Heard:
    topic: str
    payload: bytes
    left_s: float | None
    at: float  # monotonic, when paho handed it over


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
        queue_max: int = QUEUE_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gallery = gallery
        self.topics = topics
        self.gate = gate
        self.model_id = model_id
        self.search_threshold = search_threshold
        self.name = name
        self.clock = clock
        self.publish: Publish = lambda topic, payload, retain, expiry_s: None
        self.heard = 0
        self.merged = 0
        self.dropped = 0  # templates dropped because the queue was full
        self.malformed = 0
        self.cleared = 0  # this edge's templates replaced by an empty message at expiry
        self._queue: queue.Queue[_Heard] = queue.Queue(maxsize=queue_max)
        self._mine: dict[str, float] = {}  # visitor id -> when this gate's copy expires
        self._mine_lock = threading.Lock()
        self._stop = threading.Event()
        self._logged: dict[str, float] = {}
        self._worker = threading.Thread(target=self._work, name=f"visitors-{gate}", daemon=True)
        gallery.on_seen = self.seen

    def subscriptions(self) -> list[Subscription]:
        """What the MQTT link must subscribe to for this share."""
        return [Subscription(self.topics.all_visitors(), self.on_template)]

    def start(self) -> None:
        if not self._worker.is_alive():
            self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=5)

    def backlog(self) -> int:
        return self._queue.qsize()

    # -- out -------------------------------------------------------------------------------

    def seen(self, s: Seen) -> None:
        """Minted or seen again here: (re)publish its template with a fresh expiry, under this
        gate's name."""
        t = VisitorTemplate(
            visitor_id=s.visitor_id,
            model_id=self.model_id,
            template=[round(float(x), 6) for x in s.template],
            first_seen=s.first_seen,
            last_seen=max(datetime.now(UTC), s.first_seen),
            minted_by=s.minted_by,
        )
        expiry_s = self.gallery.expiry_s
        with self._mine_lock:
            self._mine[s.visitor_id] = self.clock() + expiry_s
        self.publish(self.topics.visitor(self.gate, s.visitor_id), t.to_json(), True, expiry_s)
        if s.minted:
            log.info("[%s] visitor %s minted and shared", self.name, s.visitor_id)

    def _withdraw(self, visitor_id: str) -> None:
        """Replace this gate's copy of a template by an empty retained message (if it has one)."""
        with self._mine_lock:
            had = self._mine.pop(visitor_id, None) is not None
        if had:
            self.publish(self.topics.visitor(self.gate, visitor_id), b"", True, None)

    def clear_expired(self) -> int:
        """This gate's templates whose expiry has come: cleared on the broker; returns how many."""
        now = self.clock()
        with self._mine_lock:
            due = [vid for vid, until in self._mine.items() if until <= now]
            for vid in due:
                del self._mine[vid]
        for vid in due:
            self.publish(self.topics.visitor(self.gate, vid), b"", True, None)
        self.cleared += len(due)
        return len(due)

    def _report_merge(self, m: Merged) -> None:
        self.merged += 1
        log.info("[%s] visitor %s is %s (the older id wins)", self.name, m.alias, m.visitor_id)
        alias = VisitorAlias(
            alias=m.alias, visitor_id=m.visitor_id, gate=self.gate, ts=datetime.now(UTC)
        )
        self.publish(self.topics.visitor_aliases(self.gate), alias.to_json(), False, None)
        self._withdraw(m.alias)  # this gate's copy of the loser; the others withdraw their own

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

    # -- in --------------------------------------------------------------------------------

    def on_template(self, msg: mqtt.MQTTMessage) -> None:
        """A template shared by an edge of the site (this one included), or withdrawn (paho's
        thread): queued for the worker, or dropped and counted when the queue is full."""
        if self.topics.visitor_of(msg.topic) is None:
            raise ValueError(f"{msg.topic} is not a visitor topic of site {self.topics.site}")
        item = _Heard(msg.topic, bytes(msg.payload), remaining_expiry_s(msg), time.monotonic())
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            self._warn("dropped", "visitor templates arrive faster than they can be matched: "
                       "%d dropped so far (queue of %d full)", self.dropped,
                       self._queue.maxsize)  # fmt: skip

    def handle(self, item: _Heard) -> None:
        """One queued template into the gallery (the worker; tests call it directly)."""
        where = self.topics.visitor_of(item.topic)
        if where is None:
            raise ValueError(f"{item.topic} is not a visitor topic of site {self.topics.site}")
        gate, vid = where
        if not item.payload:
            # A gate withdrew its copy (a merge's loser, or expired). The visitor lives here until
            # its own expiry: another gate's copy may still hold it, and no gate's withdrawal
            # makes this edge forget a visitor.
            if gate == self.gate:
                with self._mine_lock:
                    self._mine.pop(vid, None)
            return
        t = VisitorTemplate.model_validate_json(item.payload)
        if t.visitor_id != vid:
            raise ValueError(f"visitor id {t.visitor_id} does not match the topic")
        if embedding_space(t.model_id) != embedding_space(self.model_id):
            raise ValueError(f"visitor {vid}: template from model {t.model_id}, "
                             f"this edge runs {self.model_id}")  # fmt: skip
        if gate == self.gate and item.left_s is not None:
            # This gate's own copy from before a restart: cleared when it expires.
            until = self.clock() - (time.monotonic() - item.at) + item.left_s
            with self._mine_lock:
                self._mine[vid] = max(self._mine.get(vid, until), until)
        self.heard += 1
        merged = self.gallery.heard(t, item.left_s, item.at, gate=gate)
        if merged is not None:
            self._report_merge(merged)

    def _work(self) -> None:
        # One query at a time: OpenMP threads only cost here (ten times over on a busy machine).
        # The setting is this thread's own; the frame loop's searches keep theirs.
        faiss.omp_set_num_threads(1)
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=SWEEP_EVERY_S)
            except queue.Empty:
                item = None
            if item is not None:
                try:
                    self.handle(item)
                except (ValidationError, ValueError) as e:
                    self.malformed += 1
                    self._warn("malformed", "malformed visitor template on %s refused: %s",
                               item.topic, e)  # fmt: skip
                except Exception:  # a bug must not end the worker
                    self.malformed += 1
                    log.exception("[%s] visitor template on %s could not be handled", self.name,
                                  item.topic)  # fmt: skip
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_S
                try:
                    self.clear_expired()
                except Exception:
                    log.exception("[%s] clearing expired visitor templates failed", self.name)

    def _warn(self, kind: str, fmt: str, *args: object) -> None:
        """A warning at most once a minute per kind (a flood must not flood the log too)."""
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[kind] = now
            log.warning("[%s] " + fmt, self.name, *args)
        else:
            log.debug("[%s] " + fmt, self.name, *args)
