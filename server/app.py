"""The server: store, ingest, elder watch, searches, galleries and retention, in a visible order.

Start: database (migrated), face models (for photos and galleries), MQTT bus, periodic jobs
(elder watch, purge), then the HTTP API. Stop in reverse.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from contract.events import Alert, EdgeStatus
from contract.gallery import GalleryManifest
from contract.mqtt import Subscription
from contract.topics import Topics
from server.config import ServerConfig
from server.db import make_engine, migrate
from server.faces.service import PassageFaces
from server.gallery import KEEP, build_snapshot
from server.ingest.bus import ServerBus
from server.learning.service import Learning
from server.live import Hub
from server.notify.compose import Composer
from server.notify.sender import Notifier
from server.people.photos import PhotoDecoder
from server.people.reference import ReferencePhotos
from server.people.trajectory import Trajectory, Whereabouts, locate, trace
from server.people.visitors import VisitorInside, VisitorReports, VisitorWatch, visitors_inside
from server.search.service import Searches
from server.states import UserRole
from server.store import Ingested, Store, now_utc
from server.store.records import PassageRow
from server.tokens import check_token_strength
from server.watch.elder import ElderWatch
from server.watch.watchlist import WatchlistWatch

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from models.engine import FaceEngine

log = logging.getLogger(__name__)


class ServerApp:
    def __init__(self, cfg: ServerConfig, bus_client_id: str | None = None) -> None:
        self.cfg = cfg
        if token := os.environ.get(cfg.admin_token_env):  # before any database work
            check_token_strength(token, cfg.admin_token_env)
        self.topics = Topics(cfg.site)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(cfg.db_url())
        migrate(self.engine)
        self.store = Store(self.engine)
        self.store.dead_letter_max_rows = cfg.retention.dead_letter_max_rows
        self.store.repeat_window = cfg.alerts.repeat_window
        self.hub = Hub()
        self.tz = cfg.tz  # the compound's local time
        self.visitor_reports = VisitorReports(self.store, self.topics, self.hub)
        self._face: FaceEngine | None = None
        self._face_lock = threading.Lock()
        self.faces = PassageFaces(
            cfg.faces, self.engine, self.topics,
            publish=lambda topic, payload, props: self.bus.publish(topic, payload,
                                                                   properties=props),
            gate_interval_s=cfg.wall.gate_interval_s, gate_grace_s=cfg.wall.gate_grace_s,
        )  # fmt: skip
        self.bus = ServerBus(
            cfg,
            self.store,
            on_new=self._on_new,
            on_status=self._on_status,
            client_id=bus_client_id,
            extra=self._subscriptions(),
        )
        self.watch = ElderWatch(cfg.elder, self.store, publish=self._publish_alert, tz=self.tz)
        self.searches = Searches(
            self.store,
            self.topics,
            self.hub,
            publish=self.bus.publish,
            alert=self._publish_alert,
            face=lambda: self.face,
            photos=PhotoDecoder(cfg.http.max_photo_pixels),
            tz=self.tz,
            cfg=cfg.search,
            locale=cfg.locale,
        )
        self.references = ReferencePhotos(self.store, face=lambda: self.face)
        self.watchlist = WatchlistWatch(self.store, publish=self._publish_alert, tz=self.tz)
        self.visitor_watch = VisitorWatch(cfg.visitors, self.store, self.tz, self._publish_alert)
        self.learning = Learning(cfg, self.store, self.tz, self.publish_gallery)
        self.notify = Notifier(cfg.notify, self.engine, self._composer(), cfg.site)
        self._stop = threading.Event()
        self._jobs = threading.Thread(target=self._job_loop, name="server-jobs", daemon=True)
        self._bootstrap_admin()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ServerApp:
        self.learning.start()
        self.notify.start()
        self.bus.start()
        self._jobs.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._jobs.join(timeout=5)
        self.learning.stop()  # a pending gallery version goes out before the bus closes
        self.bus.stop()
        self.notify.stop()
        self.engine.dispose()

    def _bootstrap_admin(self) -> None:
        token = os.environ.get(self.cfg.admin_token_env)
        if token and not self.store.has_users():
            self.store.add_user("admin", UserRole.ADMIN, token)
            log.info("first admin created from $%s", self.cfg.admin_token_env)

    def _job_loop(self) -> None:
        next_scan = time.monotonic() + self.cfg.elder.scan_interval_s
        next_purge = time.monotonic() + self.cfg.retention.purge_interval_s
        next_returning = time.monotonic() + self.cfg.learning.scan_interval_s
        while not self._stop.wait(1.0):
            now = time.monotonic()
            try:
                if now >= next_scan:
                    next_scan = now + self.cfg.elder.scan_interval_s
                    self.watch.scan(now_utc())
                    self.visitor_watch.scan(now_utc())
                if now >= next_returning:
                    next_returning = now + self.cfg.learning.scan_interval_s
                    self.learning.scan(now_utc())
                if now >= next_purge:
                    next_purge = now + self.cfg.retention.purge_interval_s
                    self.purge(now_utc())
            except Exception:  # a failed scan must not end the jobs; the next one retries
                log.exception("periodic job failed")

    # -- models (lazy: only photos and galleries need them) --------------------------------

    @property
    def face(self) -> FaceEngine:
        with self._face_lock:
            if self._face is None:
                from models.engine import FaceEngine

                self._face = FaceEngine(self.cfg.face)
            return self._face

    # -- ingest hooks (MQTT thread) --------------------------------------------------------

    def _on_new(self, ingested: Ingested) -> None:
        for p in ingested.new:
            self.hub.publish("passage", p.model_dump(mode="json"))
        self.searches.announce(ingested.sightings)
        self.watchlist.seen(ingested.new)
        back = [PassageRow.model_validate(p.model_dump()) for p in ingested.new]
        self.watch.resolve_returns(back)

    def _subscriptions(self) -> list[Subscription]:
        """The visitor reports' topics, and the sightings topic for both of its kinds."""
        topic = self.topics.all_sightings()
        subs = [s for s in self.visitor_reports.subscriptions() if s.topic_filter != topic]
        return [*subs, Subscription(topic, self._on_sighting), *self.faces.subscriptions()]

    def _on_sighting(self, msg: mqtt.MQTTMessage) -> None:
        """A search's sighting candidate, a visitor a template search matched (look back), a
        gate capture for the gallery that learns, or a watchlist passage's face crop."""
        try:
            kind = json.loads(msg.payload).get("kind")
        except (ValueError, AttributeError) as e:
            raise ValueError(f"a sighting must be a JSON object: {e}") from e
        if kind == "visitor_match":
            self.visitor_reports.on_match(msg)
        elif kind == "capture":
            self.learning.on_message(msg)
        elif kind == "passage_face":
            self.faces.on_pushed(msg)
        else:
            self.searches.on_message(msg)

    def _on_status(self, st: EdgeStatus) -> None:
        self.hub.publish("gate", st.model_dump(mode="json"))

    def _publish_alert(self, alert: Alert) -> None:
        self.bus.publish(self.topics.alerts(), alert.to_json())
        self.hub.publish("alert", alert.model_dump(mode="json"))
        count = alert.evidence.get("count")  # a repeat merged into an open alert (watch/repeats)
        repeat = count if isinstance(count, int) and count > 1 else None
        self.on_alert_raised(alert, repeat)

    def on_alert_raised(self, alert: Alert, repeat_count: int | None = None) -> None:
        """Queue the alert's pushes (server/notify/); a merged repeat passes its count and is
        pushed only where ``repeats`` is set. A failure here must not lose the alert itself: the
        start's catch-up queues recent open alerts again."""
        try:
            self.notify.on_alert_raised(alert, repeat_count)
        except Exception:
            log.exception("alert %d: queueing its pushes failed", alert.alert_id)

    def _composer(self) -> Composer:
        def lookup(person_id: str) -> tuple[str, str | None] | None:
            p = self.store.get_person(person_id)
            return None if p is None else (p.name, p.building)

        c = self.cfg
        return Composer(c.notify, c.site, c.locale, self.tz, c.http.public_url, lookup, c.names)

    # -- registry and galleries ------------------------------------------------------------

    def base_url(self) -> str:
        h = self.cfg.http
        return h.public_url or f"{'https' if h.tls else 'http'}://{h.host}:{h.port}"

    def publish_gallery(self, now: datetime | None = None, keep: int = KEEP) -> GalleryManifest:
        """Build the next gallery snapshot and announce it (retained) to every edge; a courier's
        validity ends with its last day in the compound's time zone. ``keep``: snapshots kept
        (1 after a removal: no served file holds the removed person any more)."""
        face = self.face
        m = build_snapshot(
            self.store,
            face.model_id,
            face.dim,
            self.cfg.data_dir / "galleries",
            self.base_url(),
            (now or now_utc()).astimezone(self.tz).date(),
            self.cfg.site_population,
            keep,
        )
        self.bus.publish(self.topics.gallery(), m.model_dump_json().encode(), retain=True)
        return m

    # -- trajectories ----------------------------------------------------------------------

    def trajectory(
        self, identity: str, since: datetime, until: datetime | None = None
    ) -> Trajectory:
        return trace(self.store, identity, since, until)

    def whereabouts(self, identity: str) -> Whereabouts:
        return locate(self.store, identity, now_utc())

    def visitors_inside(self) -> list[VisitorInside]:
        """Visitors in without a later out, longest inside first."""
        return visitors_inside(self.store, now_utc(), self.cfg.visitors.lookback_h)

    # -- retention -------------------------------------------------------------------------

    def purge(self, now: datetime) -> dict[str, int]:
        r = self.cfg.retention
        n = self.store.purge(now, r.visitor_days, r.resident_days, r.audit_days)
        # Home visits are kept as long as the resident's passages (the same retention).
        n["home_visits"] = self.store.purge_visits(now - timedelta(days=r.resident_days))
        n |= {f"learning_{k}": v for k, v in self.learning.purge(now).items()}
        n["notify_outbox"] = self.notify.purge(now)
        n["watchlist_faces"] = self.faces.purge(now)  # faces.watchlist_days
        if any(n.values()):
            log.info("retention purge: %s", n)
        pictures = self.searches.purge_evidence(now)
        if pictures:
            log.info("retention purge: %d evidence pictures of sighting candidates", pictures)
        ended = self.store.purge_closed(
            now,
            closed_search_days=r.closed_search_days,
            closed_alert_days=r.closed_alert_days,
            removed_person_days=r.removed_person_days,
            dead_letter_days=r.visitor_days,  # a refused passage may be a visitor's
        )
        if any(ended.values()):
            log.info("retention purge: %s", ended)
        self.store.wipe_traces()  # SQLite: no copy of a deleted row left in the WAL
        return n
