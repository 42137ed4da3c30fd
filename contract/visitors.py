"""Visitor payloads: the template edges share, and what an edge tells the server about visitors.

A ``VisitorTemplate`` travels only between the edges of a site (``.../visitors/<gate>/<id>``,
retained, MQTT 5 message expiry = the visitor expiry); the broker's ACL keeps it from the server
and lets each gate write only under its own name, so the topic tells which gate shared it.
``VisitorAlias`` and ``VisitorMatch`` go to the server and carry ids and scores, never a template.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from contract.events import _Payload, _utc_in_range
from contract.topics import ID_PATTERN

VISITOR_ID_PATTERN = r"^v-[0-9a-f]{12}$"


class VisitorTemplate(_Payload):
    """A visitor's template as the edge that minted it made it; refreshed while it is seen."""

    visitor_id: str = Field(pattern=VISITOR_ID_PATTERN)
    model_id: str = Field(min_length=1, max_length=200)
    template: list[float] = Field(min_length=16, max_length=4096)
    first_seen: AwareDatetime = Field(description="UTC time the id was minted")
    last_seen: AwareDatetime = Field(description="UTC time any edge last saw this visitor")
    minted_by: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="Gate whose edge minted the id, as the publisher says. Informative only: a "
        "receiving edge takes the gate from the topic (.../visitors/<gate>/<id>), which the "
        "broker's ACL ties to the publisher's login.",
    )

    _times = field_validator("first_seen", "last_seen")(_utc_in_range)

    @field_validator("template")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if any(not -1.0 <= x <= 1.0 for x in v):
            raise ValueError("a template is a unit vector: every value within [-1, 1]")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> VisitorTemplate:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self

    def precedes(self, other: VisitorTemplate) -> bool:
        """The conflict rule: the older id wins (first seen, then the id's text)."""
        return (self.first_seen, self.visitor_id) < (other.first_seen, other.visitor_id)


class VisitorAlias(_Payload):
    """Edge -> server on ``.../gates/<gate>/visitor-aliases``: ``alias`` is the same visitor as
    ``visitor_id`` (two edges minted an id at nearly the same time; the older one won)."""

    alias: str = Field(pattern=VISITOR_ID_PATTERN)
    visitor_id: str = Field(pattern=VISITOR_ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime

    _ts = field_validator("ts")(_utc_in_range)

    @model_validator(mode="after")
    def _two_ids(self) -> VisitorAlias:
        if self.alias == self.visitor_id:
            raise ValueError("a visitor id cannot be its own alias")
        return self


class VisitorMatch(_Payload):
    """Edge -> server on ``.../gates/<gate>/sightings``: a template search's target matches a
    visitor in this edge's live visitor gallery (a past sighting: look back)."""

    kind: Literal["visitor_match"] = "visitor_match"
    search_id: str = Field(pattern=ID_PATTERN)
    visitor_id: str = Field(pattern=VISITOR_ID_PATTERN)
    score: float = Field(ge=-1, le=1)
    threshold: float = Field(ge=-1, le=1, description="This edge's same-visitor threshold")
    gate: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime

    _ts = field_validator("ts")(_utc_in_range)
