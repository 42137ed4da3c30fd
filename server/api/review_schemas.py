"""Bodies of the review queue and the templates-with-provenance API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contract.gallery import GalleryManifest
from server.learning.records import ReviewRow, TemplateRow
from server.localtime import local_text
from server.states import ReviewKind, ReviewState, ReviewVerdict, TemplateSource

MAX_INT = 2**31 - 1


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, protected_namespaces=())


class ReviewItemOut(_Out):
    """"是否为 <name>？": the gate's face beside the person's reference photo."""

    id: int
    kind: ReviewKind
    state: ReviewState
    person_id: str
    person_name: str
    building: str | None
    unit: str | None
    score: float = Field(description="The passage's score for the person.")
    gate: str
    camera: str
    ts: datetime = Field(description="When the gate saw the face (UTC).")
    ts_local: str = Field(description="The same in the compound's local time.")
    visitor_id: str | None
    days: int | None = Field(description="Local days the visitor id passed in the window.")
    created: datetime
    decided_by: str | None
    decided_at: datetime | None
    template_id: int | None = Field(description="The template a confirmation added.")
    has_face: bool
    has_reference: bool = Field(description="False: the person has no reference photo.")

    @classmethod
    def of(cls, r: ReviewRow, days: int | None, tz) -> ReviewItemOut:  # noqa: ANN001
        return cls(**r.model_dump(), days=days, ts_local=local_text(r.ts, tz))


class ReviewList(_Out):
    open: int = Field(description="Open items in all.")
    items: list[ReviewItemOut]


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: ReviewVerdict


class BulkVerdict(VerdictIn):
    id: int = Field(ge=1, le=MAX_INT)


class BulkVerdictsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdicts: list[BulkVerdict] = Field(min_length=1, max_length=200)


class BulkResult(_Out):
    id: int
    state: ReviewState | None = Field(description="The item's state after; None: no such item.")
    error: str | None


class BulkVerdictsOut(_Out):
    results: list[BulkResult]
    confirmed: int
    rejected: int


class TemplateOut(_Out):
    """A face template and where it came from."""

    id: int
    source: TemplateSource
    gate: str | None
    camera: str | None
    captured_at: datetime | None
    confirmed_by: str | None
    created: datetime
    quality: float | None
    model_id: str

    @classmethod
    def of(cls, r: TemplateRow) -> TemplateOut:
        return cls.model_validate(r.model_dump(exclude={"embedding", "person_id", "capture_id"}))


class TemplateRemoved(_Out):
    person_id: str
    removed: TemplateOut
    gallery: GalleryManifest
