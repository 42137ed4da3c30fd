"""The gallery that learns at the gate: the unit the server starts.

Gate captures (``kind: capture`` on ``.../gates/<gate>/sightings``) are checked and stored by
capture id; a ``review`` capture becomes a review item at once (a near miss) unless the pair was
rejected before or is open already; a ``learn`` capture becomes a template only when the server's
own checks pass (``decide.learn_outcome``). Officers confirm or reject items; a periodic scan
raises returning visitors. Every change to a person's templates moves the gallery version, once
per burst (``publish.DebouncedGallery``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from contract.events import GateCapture
from contract.gallery import GalleryManifest
from contract.topics import Topics
from server.config import ServerConfig
from server.errors import NotFound, ServerError
from server.learning.decide import eligible, learn_outcome, rejected_before, same_space
from server.learning.points import Points, points, site_curve
from server.learning.publish import DebouncedGallery
from server.learning.records import CaptureRow, ReviewRow, TemplateRow
from server.learning.returning import local_days, returning_pairs
from server.learning.store import LearningStore
from server.localtime import local_midnight
from server.states import GATE_SOURCES, ReviewKind, ReviewState, ReviewVerdict, TemplateSource
from server.store import Store, now_utc

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class Decided(ServerError):
    """A review item an officer has decided already."""


class Learning:
    """Captures in, review items and learned templates out."""

    def __init__(
        self,
        cfg: ServerConfig,
        store: Store,
        tz: tzinfo,
        publish_gallery: Callable[[], GalleryManifest],
    ) -> None:
        self.site_cfg, self.cfg = cfg, cfg.learning
        self.policy = cfg.learning.policy()
        self.curve = site_curve(cfg)
        self.registry = store
        self.store = LearningStore(store.engine)
        self.topics = Topics(cfg.site)
        self.tz = tz
        self.gallery = DebouncedGallery(
            publish_gallery, cfg.learning.gallery_quiet_s, cfg.learning.gallery_max_wait_s
        )

    def start(self) -> None:
        self.gallery.start()

    def stop(self) -> None:
        self.gallery.stop()

    def points(self) -> Points:
        """The points in force for the registry's gallery as it is now."""
        return points(self.site_cfg, self.curve, self.policy, self.store.gallery_size())

    # -- captures in -------------------------------------------------------------------------

    def on_message(self, msg: mqtt.MQTTMessage) -> None:
        """A capture on ``.../gates/<gate>/sightings``; a bad one raises ValueError (refused)."""
        c = GateCapture.model_validate_json(msg.payload)
        if self.topics.gate_of(msg.topic) != c.gate or c.site != self.site_cfg.site:
            raise ValueError(f"a capture of {c.site}/{c.gate} on topic {msg.topic}")
        skew = timedelta(seconds=self.site_cfg.ingest.max_future_skew_s)
        if c.ts > now_utc() + skew:  # as for passages: a gate clock far ahead is refused
            raise ValueError(f"a capture dated {c.ts.isoformat()}, more than {skew} ahead")
        self.take(c)

    def take(self, c: GateCapture) -> str | None:
        """Store and act on one capture; its outcome, or None when it was stored before."""
        if not self.cfg.enabled:
            return None
        person = self.registry.get_person(c.person_id)
        if person is None or not eligible(person, now_utc().astimezone(self.tz).date()):
            log.info("capture %s names %s, who takes no gate templates", c.capture_id,
                     c.person_id)  # fmt: skip
            return None  # nothing kept of a face no one can be asked about
        if not self.store.add_capture(c, "received"):
            return None
        row = self.store.capture(c.capture_id)
        assert row is not None
        templates = self.store.person_templates(c.person_id)
        if not same_space(row.model_id, templates) or any(
            len(t.vector) != len(row.vector) for t in templates
        ):
            outcome = "wrong_model"  # another embedder, or a template of the wrong length
        elif c.purpose == "learn":
            outcome = self._learn(row, templates)
        else:
            outcome = self._review(row)
        if outcome != "learned":
            self.store.set_outcome(c.capture_id, outcome)
        if outcome not in ("review_item", "kept"):
            self.store.drop_faces(c.capture_id)  # no one will be shown them
        log.info("capture %s (%s) of %s at %s: %s", c.capture_id, c.purpose, c.person_id, c.gate,
                 outcome)  # fmt: skip
        return outcome

    def _learn(self, c: CaptureRow, templates: list[TemplateRow]) -> str:
        if not self.cfg.auto:
            return "auto_off"
        start = local_midnight(c.received, self.tz)
        today = self.store.learned_between(c.person_id, start, start + timedelta(days=1))
        pts = self.points()
        if rejected_before(c, None, self.store.rejections(c.person_id), pts.same_face):
            return "rejected_before"  # an officer said no to this face: never learned
        outcome = learn_outcome(c, templates, pts, self.policy, today)
        if outcome == "learned":
            tid = self.store.learn(c, self.cfg.max_gate_templates)
            log.warning("learned template %d of %s from gate %s (capture %s)", tid, c.person_id,
                        c.gate, c.capture_id)  # fmt: skip
            self.gallery.request()
        return outcome

    def _review(self, c: CaptureRow) -> str:
        pts = self.points()
        vid = c.identity if c.identity and c.identity.startswith("v-") else None
        if c.score < pts.review_floor:
            # Below the band: only a visitor who keeps coming back is asked about (scan).
            return "kept" if vid is not None and c.score >= pts.visitor_floor else "below_floor"
        if rejected_before(c, vid, self.store.rejections(c.person_id), pts.same_face):
            return "rejected_before"
        if self.store.open_item(c.person_id, vid) is not None:
            return "open_item"
        if vid is not None and self.store.confirmed_pair(c.person_id, vid):
            return "confirmed_before"
        item = self.store.add_item(ReviewKind.NEAR_MISS, c, vid)
        log.info("review item %d: is %s %s? (score %.3f)", item, vid or "the face", c.person_id,
                 c.score)  # fmt: skip
        return "review_item"

    # -- returning visitors ------------------------------------------------------------------

    def scan(self, now: datetime | None = None) -> list[int]:
        """Raise (or upgrade) one item per visitor id and person for visitors seen on enough
        local days of the window whose captures name a person; the items touched."""
        if not self.cfg.enabled:
            return []
        now = now or now_utc()
        since = local_midnight(now, self.tz, self.cfg.returning_window_days - 1)
        pts = self.points()
        caps = [x for x in self.store.visitor_captures(since) if x.score >= pts.visitor_floor]
        times = self.store.visitor_passage_times((x.visitor_id for x in caps), since)
        touched = []
        for best in returning_pairs(caps, times, self.tz, self.cfg.returning_days):
            c = self.store.capture(best.capture_id)
            if c is None or rejected_before(
                c, best.visitor_id, self.store.rejections(c.person_id), pts.same_face
            ):
                continue
            if self.store.confirmed_pair(c.person_id, best.visitor_id):
                continue
            open_id = self.store.open_item(c.person_id, best.visitor_id)
            if open_id is None:
                touched.append(self.store.add_item(ReviewKind.RETURNING_VISITOR, c,
                                                   best.visitor_id))  # fmt: skip
                continue
            item = self.store.item(open_id)
            if item is not None and (item.kind != ReviewKind.RETURNING_VISITOR or
                                     item.score < c.score):  # fmt: skip
                self.store.upgrade_item(open_id, ReviewKind.RETURNING_VISITOR, c)
                touched.append(open_id)
        if touched:
            log.info("returning visitors: review items %s", touched)
        return touched

    # -- the officer's answers ---------------------------------------------------------------

    def listing(self, state: ReviewState | None, limit: int) -> list[tuple[ReviewRow, int | None]]:
        """Review items, each with the local days its visitor id passed in the window."""
        items = self.store.items(state, limit)
        since = local_midnight(now_utc(), self.tz, self.cfg.returning_window_days - 1)
        vids = {i.visitor_id for i in items if i.visitor_id}
        times = self.store.visitor_passage_times(vids, since)
        return [(i, local_days(times[i.visitor_id], self.tz) if i.visitor_id else None)
                for i in items]  # fmt: skip

    def item(self, item_id: int) -> ReviewRow:
        it = self.store.item(item_id)
        if it is None:
            raise NotFound(f"no review item {item_id}")
        return it

    def judge(self, item_id: int, verdict: ReviewVerdict, by: str) -> ReviewRow:
        """Confirm (the capture becomes a template of the person) or reject (never asked
        again); Decided when the item is decided already."""
        it = self.item(item_id)
        c = self.store.capture(it.capture_id)
        if it.state != ReviewState.OPEN or c is None:
            raise Decided(f"review item {item_id} is {it.state.value} already")
        if verdict == ReviewVerdict.CONFIRM:
            p = self.registry.get_person(it.person_id)
            today = now_utc().astimezone(self.tz).date()
            if p is None or not eligible(p, today):
                raise Decided(f"{it.person_id} takes no gate templates now (removed, expired or "
                              "on the watchlist): reject the item")  # fmt: skip
            tid = self.store.confirm(item_id, c, by, self.cfg.max_gate_templates)
            if tid is None:
                raise Decided(f"review item {item_id} was decided meanwhile")
            log.warning("review item %d confirmed by %s: template %d of %s", item_id, by, tid,
                        it.person_id)  # fmt: skip
            self.gallery.request()
        elif not self.store.reject(item_id, c, it.visitor_id, by):
            raise Decided(f"review item {item_id} was decided meanwhile")
        return self.item(item_id)

    def templates(self, person_id: str) -> list[TemplateRow]:
        p = self.registry.get_person(person_id)
        if p is None or p.removed:
            raise NotFound.person(person_id)
        return self.store.person_templates(person_id)

    def remove_template(
        self, person_id: str, template_id: int, admin: bool, by: str | None = None
    ) -> TemplateRow:
        """Remove one template (an officer: gate templates only); the gallery moves at once."""
        have = {x.id: x for x in self.templates(person_id)}
        if template_id not in have:
            raise NotFound(f"no template {template_id} of {person_id}")
        if not admin and have[template_id].source not in GATE_SOURCES:
            raise PermissionError("only an admin removes an enrollment template")
        gone = self.store.remove_template(person_id, template_id, by)
        if gone is None:
            raise NotFound(f"no template {template_id} of {person_id}")
        log.warning("template %d (%s) of %s removed", template_id, gone.source.value, person_id)
        return gone

    def purge(self, now: datetime) -> dict[str, int]:
        c = self.cfg
        return self.store.purge(now, c.capture_days, c.review_days, c.rejection_days)


__all__ = ["Decided", "Learning", "TemplateSource"]
