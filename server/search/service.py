"""Searches for a missing person and the sightings that answer them.

A search is raised for an enrolled person or a photo, announced to every edge as a retained order,
answered by sightings (passages the decision rule named as the person, carrying the search id) and
by sighting candidates (tracks that matched the target on several frames, with an evidence
picture an officer confirms or rejects), and closed by an officer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from contract.events import Alert, SearchOrder, SightingCandidate
from contract.topics import Topics
from server.config import SearchConfig
from server.errors import BadRequest, NotFound
from server.i18n import DEFAULT_LOCALE
from server.live import Hub
from server.localtime import local_text
from server.people.photos import PhotoDecoder
from server.people.trajectory import Trajectory, trace
from server.people.visitors import VisitorLookBack, look_back
from server.states import AlertRule, SearchState, Verdict
from server.store import SightingHit, Store, now_utc
from server.store.records import (
    AlertRecord,
    Candidate,
    Evidence,
    EvidenceRecord,
    PassageRow,
    Search,
    Sighting,
)
from server.watch.repeats import counted

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from models.engine import FaceEngine

log = logging.getLogger(__name__)

TRAJECTORY_H = 48  # a search's answer shows the person's trajectory this far back


@dataclass(frozen=True)
class SearchReport:
    """A search with its sightings and, for a person search, the person's recent trajectory."""

    search: Search
    sightings: list[Sighting]
    trajectory: Trajectory | None
    at: datetime
    candidates: list[Candidate] = field(default_factory=list)

    visitors: list[VisitorLookBack] = field(default_factory=list)  # look back (template search)

    @property
    def last_return(self) -> PassageRow | None:
        """The person's last passage in through a gate, in the trajectory."""
        if self.trajectory is None:
            return None
        return next((p for p in reversed(self.trajectory.passages) if p.direction == "in"), None)

    @property
    def last_internal(self) -> PassageRow | None:
        """The last internal camera (direction none) that saw the person after their last
        return (a building camera from a stay before it says nothing of where they are now);
        None when none has seen them since."""
        if self.trajectory is None:
            return None
        back = self.last_return
        return next(
            (
                p
                for p in reversed(self.trajectory.passages)
                if p.direction == "none" and (back is None or p.ts > back.ts)
            ),
            None,
        )


@dataclass(frozen=True)
class ClosedSearch:
    """A search just closed, with the sighting alerts its close resolved."""

    report: SearchReport
    resolved: list[AlertRecord]


class Searches:
    """Raise, answer and close searches; turn new sightings into live items and alerts."""

    def __init__(
        self,
        store: Store,
        topics: Topics,
        hub: Hub,
        publish: Callable[[str, bytes, bool], None],
        alert: Callable[[Alert], None],
        face: Callable[[], FaceEngine],
        photos: PhotoDecoder,
        tz: tzinfo = UTC,
        cfg: SearchConfig | None = None,
        locale: str = DEFAULT_LOCALE,
    ) -> None:
        self.cfg = cfg or SearchConfig()
        self.photos = photos
        self.store = store
        self.topics = topics
        self.hub = hub
        self.publish = publish
        self.alert = alert
        self.face = face
        self.tz = tz  # the compound's local time, for the look-back summaries and the evidence
        self.locale = locale  # the site's language, for the look-back summaries

    def raise_search(
        self, user: str, reason: str, person_id: str | None = None, photo: bytes | None = None
    ) -> SearchReport:
        """Store the search and announce its order (retained) to every edge; a person who
        already has an open search gets that one back, so every sighting goes to one search."""
        if (person_id is None) == (photo is None):
            raise BadRequest("name a person_id or upload a photo, not both")
        if person_id is not None and self.store.get_person(person_id) is None:
            raise NotFound.person(person_id)
        if person_id is not None and (open_one := self.store.open_search_for(person_id)):
            log.info("search for %s asked by %s: %s is open already", person_id, user,
                     open_one.id)  # fmt: skip
            return self.report(open_one.id)
        template, model_id = self._template_from_photo(photo) if photo is not None else (None, None)
        sid = "s-" + secrets.token_hex(5)
        self.store.add_search(
            sid,
            reason=reason,
            raised_by=user,
            person_id=person_id,
            model_id=model_id,
            template=None if template is None else template.tobytes(),
        )
        order = SearchOrder(
            search_id=sid,
            person_id=person_id,
            model_id=model_id,
            template=None if template is None else template.tolist(),
            created=now_utc(),
        )
        self.publish(self.topics.search(sid), order.to_json(), True)
        log.info("search %s raised by %s", sid, user)
        return self.report(sid)

    def _template_from_photo(self, photo: bytes) -> tuple[npt.NDArray[np.float32], str]:
        self.photos.check(photo)  # refuse before waiting for a slot
        face = self.face()
        with self.photos.slot():  # detection and embedding hold the image's copies too
            faces = face.analyze(self.photos.decode(photo), embed="all")
        if len(faces) != 1:
            raise BadRequest(f"the photo shows {len(faces)} faces; upload a photo of one person")
        emb = faces[0].embedding
        assert emb is not None
        return emb.astype("<f4"), face.model_id

    def get(self, sid: str) -> Search:
        s = self.store.search(sid)
        if s is None:
            raise NotFound(f"no search {sid}")
        return s

    def report(self, sid: str) -> SearchReport:
        """The search, its sightings and where the person it looks for was lately."""
        s = self.get(sid)
        now = now_utc()
        traj = (
            trace(self.store, s.person_id, now - timedelta(hours=TRAJECTORY_H))
            if s.person_id
            else None
        )
        since = now - timedelta(hours=TRAJECTORY_H)
        visitors = [] if s.person_id else look_back(self.store, sid, since, self.tz, self.locale)
        return SearchReport(
            s, self.store.sightings(sid), traj, now, self.store.candidates(sid), visitors
        )

    def close(self, sid: str, user: str, note: str | None = None) -> ClosedSearch:
        """Close the search (with the officer's note), clear its retained order and resolve its
        open sighting alerts (each resolution announced, as the elder watch announces its own)."""
        self.get(sid)
        resolved = self.store.close_search(sid, user, note) or []
        self.publish(self.topics.search(sid), b"", True)
        for a in resolved:
            self.alert(Alert(alert_id=a.id, rule=a.rule.value, person_id=a.person_id,
                             created=a.created, evidence=a.evidence, state="resolved"))  # fmt: skip
        if resolved:
            log.info("search %s closed by %s: %d sighting alerts resolved", sid, user,
                     len(resolved))  # fmt: skip
        return ClosedSearch(self.report(sid), resolved)

    def announce(self, hits: Sequence[SightingHit]) -> None:
        """Each new sighting to its search's live stream, and as a sighting alert."""
        for hit in hits:
            s = hit.sighting
            self.hub.publish(f"search:{s.search_id}", s.model_dump(mode="json", exclude={"id"}))
            who = hit.searched_person or s.identity or s.search_id
            evidence: Evidence = {
                "search_id": s.search_id,
                "gate": s.gate,
                "camera": s.camera,
                "ts": s.ts.isoformat(),
                "ts_local": local_text(s.ts, self.tz),
                "score": s.score,
            }
            stored = self.store.raise_alert(AlertRule.SIGHTING, who, s.event_id, evidence)
            if stored is not None:
                self.alert(
                    Alert(
                        alert_id=stored.id,
                        rule=AlertRule.SIGHTING.value,
                        person_id=who,
                        created=now_utc(),
                        evidence=counted(evidence, stored),
                    )
                )

    # -- sighting candidates ---------------------------------------------------------------

    def on_message(self, msg: mqtt.MQTTMessage) -> None:
        """A message on ``.../gates/<gate>/sightings`` (paho's thread); ValueError if malformed."""
        c = SightingCandidate.model_validate_json(msg.payload)
        if self.topics.gate_of(msg.topic) != c.gate or c.site != self.topics.site:
            raise ValueError(f"candidate of {c.site}/{c.gate} on topic {msg.topic}")
        self.take_candidate(c)

    def take_candidate(self, c: SightingCandidate) -> Candidate | None:
        """Store an edge's candidate (its evidence unless ``search.evidence`` is off), stream it
        and raise a sighting alert; None for a duplicate or a search no longer active."""
        stored = self.store.add_candidate(c, keep_evidence=self.cfg.evidence)
        if stored is None:
            return None
        self.hub.publish(f"search:{c.search_id}", {"candidate": stored.model_dump(mode="json")})
        search = self.store.search(c.search_id)
        who = (search.person_id if search else None) or c.search_id
        evidence: Evidence = {
            "search_id": c.search_id,
            "candidate_id": c.candidate_id,
            "gate": c.gate,
            "camera": c.camera,
            "ts": c.ts.isoformat(),
            "ts_local": local_text(c.ts, self.tz),
            "score": c.score,
            "frames_at_threshold": c.frames_at_threshold,
            "event_id": c.event_id,
        }
        # One sighting alert per passage: a candidate and the passage that carries the search id
        # share the episode (the event id), whichever arrives first raises it.
        episode = c.event_id or c.candidate_id
        a = self.store.raise_alert(AlertRule.SIGHTING, who, episode, evidence)
        if a is not None:
            self.alert(Alert(alert_id=a.id, rule=AlertRule.SIGHTING.value, person_id=who,
                             created=now_utc(), evidence=counted(evidence, a)))  # fmt: skip
        return stored

    def candidate(self, sid: str, candidate_id: str) -> Candidate:
        c = self.store.candidate(candidate_id)
        if c is None or c.search_id != sid:
            raise NotFound(f"no candidate {candidate_id} in search {sid}")
        return c

    def judge(self, sid: str, candidate_id: str, verdict: Verdict, user: str) -> Candidate:
        """An officer confirms or rejects a candidate; stored with who and when. A closed
        search takes no more verdicts (BadRequest)."""
        self.candidate(sid, candidate_id)
        if self.get(sid).state != SearchState.ACTIVE:
            raise BadRequest(f"search {sid} is closed: its candidates take no more verdicts")
        self.store.judge_candidate(candidate_id, verdict, user)
        log.info("candidate %s of %s %s by %s", candidate_id, sid, verdict, user)
        return self.candidate(sid, candidate_id)

    def evidence(self, sid: str, candidate_id: str) -> EvidenceRecord:
        """A candidate's evidence pictures (404 once purged or when never kept)."""
        self.candidate(sid, candidate_id)
        ev = self.store.evidence(candidate_id)
        if ev is None:
            raise NotFound(f"candidate {candidate_id} has no evidence picture (not kept or purged)")
        return ev

    def purge_evidence(self, now: datetime) -> int:
        """Delete evidence pictures older than ``search.evidence_retention_days``."""
        return self.store.purge_evidence(now - timedelta(days=self.cfg.evidence_retention_days))
