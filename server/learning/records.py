"""Typed rows of the learning tables (captures, review items, templates with provenance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from server.states import ReviewKind, ReviewState, TemplateSource
from server.store.records import Record, UtcDatetime

F32 = npt.NDArray[np.float32]


def vector(raw: bytes) -> F32:
    """A stored template (little-endian float32) as an array."""
    return np.frombuffer(raw, "<f4").astype(np.float32)


class CaptureRow(Record):
    """A stored gate capture, without its pictures."""

    capture_id: str
    event_id: str
    gate: str
    camera: str
    ts: UtcDatetime
    purpose: str
    person_id: str
    identity: str | None
    score: float
    margin: float
    frames: int
    threshold: float
    review_floor: float
    gallery_version: int
    model_id: str
    template: bytes
    dim: int
    outcome: str | None
    received: UtcDatetime

    @property
    def vector(self) -> F32:
        return vector(self.template)


class TemplateRow(Record):
    """A person's template with where it came from."""

    id: int
    person_id: str
    embedding: bytes
    model_id: str
    quality: float | None
    created: UtcDatetime
    source: TemplateSource
    gate: str | None
    camera: str | None
    captured_at: UtcDatetime | None
    confirmed_by: str | None
    capture_id: str | None

    @property
    def vector(self) -> F32:
        return vector(self.embedding)


class ReviewRow(Record):
    """A review item with what the workbench shows beside it (person, capture)."""

    id: int
    kind: ReviewKind
    state: ReviewState
    person_id: str
    person_name: str
    building: str | None
    unit: str | None
    capture_id: str
    visitor_id: str | None
    score: float
    gate: str
    camera: str
    ts: UtcDatetime
    created: UtcDatetime
    decided_by: str | None
    decided_at: UtcDatetime | None
    template_id: int | None
    has_face: bool
    has_reference: bool


@dataclass(frozen=True)
class Rejection:
    """A pair an officer said "no" to: the person, the visitor id, the face's template."""

    person_id: str
    visitor_id: str | None
    template: F32


@dataclass(frozen=True)
class VisitorCapture:
    """A review capture of a passage named as a visitor, for the returning-visitor rule."""

    capture_id: str
    visitor_id: str
    person_id: str
    score: float
