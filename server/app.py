"""The server: store, ingest, elder watch, searches, galleries and retention, in a visible order.

Start: database (migrated), face models (for photos and galleries), MQTT bus, periodic jobs
(elder watch, purge), then the HTTP API. Stop in reverse.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from contract.events import Alert, EdgeStatus, Passage, SearchOrder
from contract.topics import Topics
from server.bus import ServerBus
from server.config import ServerConfig
from server.db import make_engine, migrate
from server.elder import ElderWatch
from server.gallery import build_snapshot
from server.live import Hub
from server.store import Store, now_utc
from server.trajectory import stays, whereabouts

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """A person, search or alert that does not exist."""


class BadRequest(ValueError):
    """The request cannot be served as asked; the message says why."""


class ServerApp:
    def __init__(self, cfg: ServerConfig, bus_client_id: str | None = None) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.site)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(cfg.db_url())
        migrate(self.engine)
        self.store = Store(self.engine)
        self.hub = Hub()
        self._face = None
        self._face_lock = threading.Lock()
        self.bus = ServerBus(
            cfg, self.store, on_new=self._on_new, on_status=self._on_status, client_id=bus_client_id
        )
        self.watch = ElderWatch(cfg.elder, self.store, publish=self._publish_alert)
        self._stop = threading.Event()
        self._jobs = threading.Thread(target=self._job_loop, name="server-jobs", daemon=True)
        self._bootstrap_admin()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ServerApp:
        self.bus.start()
        self._jobs.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._jobs.join(timeout=5)
        self.bus.stop()
        self.engine.dispose()

    def _bootstrap_admin(self) -> None:
        token = os.environ.get(self.cfg.admin_token_env)
        if token and not self.store.has_users():
            self.store.add_user("admin", "admin", token)
            log.info("first admin created from $%s", self.cfg.admin_token_env)

    def _job_loop(self) -> None:
        next_scan = time.monotonic() + self.cfg.elder.scan_interval_s
        next_purge = time.monotonic() + self.cfg.retention.purge_interval_s
        while not self._stop.wait(1.0):
            now = time.monotonic()
            try:
                if now >= next_scan:
                    next_scan = now + self.cfg.elder.scan_interval_s
                    self.watch.scan(now_utc())
                if now >= next_purge:
                    next_purge = now + self.cfg.retention.purge_interval_s
                    self.purge(now_utc())
            except Exception:  # a failed scan must not end the jobs; the next one retries
                log.exception("periodic job failed")

    # -- models (lazy: only photos and galleries need them) --------------------------------

    @property
    def face(self):  # noqa: ANN201
        with self._face_lock:
            if self._face is None:
                from models.engine import FaceEngine

                self._face = FaceEngine(self.cfg.face)
            return self._face

    # -- ingest hooks (MQTT thread) --------------------------------------------------------

    def _on_new(self, passages: list[Passage]) -> None:
        for p in passages:
            self.hub.publish("passage", p.model_dump(mode="json"))
            if p.search_id:
                s = self.store.search(p.search_id)
                if s and s["state"] == "active":
                    item = {
                        "search_id": p.search_id,
                        "event_id": p.event_id,
                        "ts": p.ts.isoformat(),
                        "gate": p.gate,
                        "camera": p.camera,
                        "identity": p.identity,
                        "score": p.score,
                    }
                    self.hub.publish(f"search:{p.search_id}", item)
                    self._sighting_alert(p, s)

    def _sighting_alert(self, p: Passage, search: dict[str, Any]) -> None:
        who = search["person_id"] or p.identity or p.search_id
        evidence = {
            "search_id": p.search_id,
            "gate": p.gate,
            "camera": p.camera,
            "ts": p.ts.isoformat(),
            "score": p.score,
        }
        alert_id = self.store.add_alert("sighting", who, p.event_id, evidence)
        if alert_id is not None:
            self._publish_alert(
                Alert(
                    alert_id=alert_id,
                    rule="sighting",
                    person_id=who,
                    created=now_utc(),
                    evidence=evidence,
                )
            )

    def _on_status(self, st: EdgeStatus) -> None:
        self.hub.publish("gate", st.model_dump(mode="json"))

    def _publish_alert(self, alert: Alert) -> None:
        self.bus.publish(self.topics.alerts(), alert.to_json())
        self.hub.publish("alert", alert.model_dump(mode="json"))

    # -- registry and galleries ------------------------------------------------------------

    def base_url(self) -> str:
        h = self.cfg.http
        return h.public_url or f"http://{h.host}:{h.port}"

    def publish_gallery(self) -> dict[str, Any]:
        face = self.face
        m = build_snapshot(
            self.store,
            face.model_id,
            face.dim,
            self.cfg.data_dir / "galleries",
            self.base_url(),
            datetime.now(UTC).date(),
        )
        self.bus.publish(self.topics.gallery(), m.model_dump_json().encode(), retain=True)
        return m.model_dump(mode="json")

    # -- trajectories ----------------------------------------------------------------------

    def trajectory(self, identity: str, since: datetime, until: datetime | None = None) -> dict:
        ps = self.store.passages(identity, since, until)
        last = self.store.last_passage(identity)
        return {
            "identity": identity,
            "since": since.isoformat(),
            "passages": [asdict(p) | {"ts": p.ts.isoformat()} for p in ps],
            "stays": [
                asdict(s)
                | {"since": s.since.isoformat(), "until": s.until.isoformat() if s.until else None}
                for s in stays(ps)
            ],
            "whereabouts": self.whereabouts(identity, last=last, recent=ps),
        }

    def whereabouts(self, identity: str, last=None, recent=None) -> dict:  # noqa: ANN001
        last = last if last is not None else self.store.last_passage(identity)
        if recent is None:
            recent = self.store.passages(identity, now_utc() - timedelta(hours=48))
        w = whereabouts(recent, last)
        now = now_utc()
        return {
            "last_seen": w.last_seen.isoformat() if w.last_seen else None,
            "gate": w.gate,
            "camera": w.camera,
            "inside": w.inside,
            "since": w.since.isoformat() if w.since else None,
            "for_hours": round((now - w.since).total_seconds() / 3600, 2) if w.since else None,
        }

    # -- searches --------------------------------------------------------------------------

    def raise_search(
        self, user: str, reason: str, person_id: str | None = None, photo: bytes | None = None
    ) -> dict:
        if (person_id is None) == (photo is None):
            raise BadRequest("name a person_id or upload a photo, not both")
        template = model_id = None
        if person_id is not None and self.store.get_person(person_id) is None:
            raise NotFound(f"no person {person_id}")
        if photo is not None:
            template, model_id = self._template_from_photo(photo)
        sid = "s-" + secrets.token_hex(5)
        self.store.add_search(
            {
                "id": sid,
                "person_id": person_id,
                "model_id": model_id,
                "template": None if template is None else template.tobytes(),
                "reason": reason,
                "raised_by": user,
            }
        )
        order = SearchOrder(
            search_id=sid,
            person_id=person_id,
            model_id=model_id,
            template=None if template is None else template.tolist(),
            created=now_utc(),
        )
        self.bus.publish(self.topics.search(sid), order.to_json(), retain=True)
        log.info("search %s raised by %s", sid, user)
        return self.search_answer(sid)

    def _template_from_photo(self, photo: bytes) -> tuple[np.ndarray, str]:
        import cv2

        img = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise BadRequest("the upload is not an image (JPEG or PNG expected)")
        faces = self.face.analyze(img, embed="all")
        if len(faces) != 1:
            raise BadRequest(f"the photo shows {len(faces)} faces; upload a photo of one person")
        emb = faces[0].embedding
        assert emb is not None
        return emb.astype("<f4"), self.face.model_id

    def search_answer(self, sid: str) -> dict:
        s = self.store.search(sid)
        if s is None:
            raise NotFound(f"no search {sid}")
        out: dict[str, Any] = {
            "search_id": sid,
            "state": s["state"],
            "person_id": s["person_id"],
            "reason": s["reason"],
            "raised_by": s["raised_by"],
            "sightings": [x | {"ts": x["ts"].isoformat()} for x in self.store.sightings(sid)],
        }
        if s["person_id"]:
            since = now_utc() - timedelta(hours=48)
            traj = self.trajectory(s["person_id"], since)
            out["trajectory_48h"] = traj
            out["whereabouts"] = traj["whereabouts"]
            out["believed_inside"] = traj["whereabouts"]["inside"]
            out["seen_last_48h"] = bool(traj["passages"])
            if not traj["passages"]:
                out["note"] = "not seen by any camera of the compound in the last 48 h"
        return out

    def close_search(self, sid: str, user: str) -> dict:
        if self.store.search(sid) is None:
            raise NotFound(f"no search {sid}")
        self.store.close_search(sid, user)
        self.bus.publish(self.topics.search(sid), b"", retain=True)  # clears the retained order
        return self.search_answer(sid)

    # -- retention -------------------------------------------------------------------------

    def purge(self, now: datetime) -> dict[str, int]:
        r = self.cfg.retention
        n = self.store.purge(now, r.visitor_days, r.resident_days, r.audit_days)
        if any(n.values()):
            log.info("retention purge: %s", n)
        return n
