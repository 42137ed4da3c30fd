"""MQTT topic builders: the only place topic strings are spelled."""

from __future__ import annotations

import re
from dataclasses import dataclass

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_ID = re.compile(ID_PATTERN)
ROOT = "gatewatch"


def check_id(kind: str, value: str) -> str:
    """``value`` if it is safe inside a topic level; ValueError naming ``kind`` otherwise."""
    if not _ID.match(value):
        raise ValueError(
            f"{kind} {value!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
        )
    return value


@dataclass(frozen=True)
class Topics:
    """Topics of one site (``gatewatch/<site>/...``)."""

    site: str

    def __post_init__(self) -> None:
        check_id("site", self.site)

    @property
    def root(self) -> str:
        return f"{ROOT}/{self.site}"

    def events(self, gate: str) -> str:
        return f"{self.root}/gates/{check_id('gate', gate)}/events"

    def status(self, gate: str) -> str:
        return f"{self.root}/gates/{check_id('gate', gate)}/status"

    def acks(self, gate: str) -> str:
        return f"{self.root}/gates/{check_id('gate', gate)}/acks"

    def sightings(self, gate: str) -> str:
        return f"{self.root}/gates/{check_id('gate', gate)}/sightings"

    def all_sightings(self) -> str:
        return f"{self.root}/gates/+/sightings"

    def all_events(self) -> str:
        return f"{self.root}/gates/+/events"

    def all_status(self) -> str:
        return f"{self.root}/gates/+/status"

    def gallery(self) -> str:
        return f"{self.root}/gallery"

    def search(self, search_id: str) -> str:
        return f"{self.root}/searches/{check_id('search_id', search_id)}"

    def all_searches(self) -> str:
        return f"{self.root}/searches/+"

    def alerts(self) -> str:
        return f"{self.root}/alerts"

    def visitor(self, gate: str, visitor_id: str) -> str:
        """``gate``'s copy of a visitor's template, shared by the site's edges only (never read by
        the server). Only that gate's user may write it (the broker's ACL): the topic, not the
        payload, says which gate shared it."""
        return f"{self.root}/visitors/{check_id('gate', gate)}/{check_id('visitor_id', visitor_id)}"

    def all_visitors(self) -> str:
        return f"{self.root}/visitors/+/+"

    def visitor_aliases(self, gate: str) -> str:
        """Edge -> server: two visitor ids found to be one visitor."""
        return f"{self.root}/gates/{check_id('gate', gate)}/visitor-aliases"

    def all_visitor_aliases(self) -> str:
        return f"{self.root}/gates/+/visitor-aliases"

    def faces_req(self, gate: str) -> str:
        """Server -> edge: a request for a passage's face crop (MQTT 5 request/response)."""
        return f"{self.root}/gates/{check_id('gate', gate)}/faces/req"

    def faces_res(self, gate: str) -> str:
        """Edge -> server: the answer to a face request (the request's ResponseTopic)."""
        return f"{self.root}/gates/{check_id('gate', gate)}/faces/res"

    def all_faces_res(self) -> str:
        return f"{self.root}/gates/+/faces/res"

    def faces_gate_of(self, topic: str) -> str | None:
        """The gate id in a ``.../gates/<gate>/faces/<req|res>`` topic of this site, else None."""
        parts = topic.split("/")
        if (
            len(parts) == 6
            and parts[:3] == [ROOT, self.site, "gates"]
            and parts[4] == "faces"
            and parts[5] in ("req", "res")
            and _ID.match(parts[3])
        ):
            return parts[3]
        return None

    def gate_of(self, topic: str) -> str | None:
        """The gate id in a ``.../gates/<gate>/...`` topic of this site, else None."""
        parts = topic.split("/")
        if len(parts) == 5 and parts[:3] == [ROOT, self.site, "gates"] and _ID.match(parts[3]):
            return parts[3]
        return None

    def search_id_of(self, topic: str) -> str | None:
        return self._leaf(topic, "searches")

    def visitor_of(self, topic: str) -> tuple[str, str] | None:
        """(gate, visitor id) of a ``.../visitors/<gate>/<id>`` topic of this site, else None."""
        parts = topic.split("/")
        if (
            len(parts) == 5
            and parts[:3] == [ROOT, self.site, "visitors"]
            and all(_ID.match(p) for p in parts[3:])
        ):
            return parts[3], parts[4]
        return None

    def _leaf(self, topic: str, kind: str) -> str | None:
        """The id in a ``gatewatch/<site>/<kind>/<id>`` topic of this site, else None."""
        parts = topic.split("/")
        if len(parts) == 4 and parts[:3] == [ROOT, self.site, kind] and _ID.match(parts[3]):
            return parts[3]
        return None
