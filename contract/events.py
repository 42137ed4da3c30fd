"""Payloads on the wire (MQTT, JSON): passages, edge status, acks, search orders, sightings, alerts.

Every payload carries ``schema_version``; a receiver refuses a version it does not know.
No names and no face images (except a sighting candidate's evidence for an active search):
persons travel as opaque ids, visitors as pseudonymous ids.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.roles import Role
from contract.topics import ID_PATTERN

SCHEMA_VERSION: Literal[1] = 1
Direction = Literal["in", "out", "none"]
RoleSource = Literal["gallery", "visitor-gallery", "appearance"]
IdentityKind = Literal["person", "visitor", "none"]
CameraState = Literal["starting", "ok", "camera_lost"]
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
INT64_MAX = 2**63 - 1  # what a 64-bit (BigInteger) column holds
INT32_MAX = 2**31 - 1  # what a 32-bit (Integer) column holds
MODEL_ID_PATTERN = r"^[\x20-\x7e]{1,200}$"  # printable ASCII: no NUL, fits String(200)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def _utc_in_range(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    try:
        utc = v.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+08:00 has no UTC datetime
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"time {v.isoformat()} is outside {EARLIEST.year}..{LATEST.year}")
    return utc


class Passage(_Payload):
    """One person passing one camera: one event per track, never one per frame."""

    event_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="uuid4().hex made at the edge")
    seq: int = Field(ge=1, le=INT64_MAX, description="Per-camera sequence number, gapless, from 1")
    site: str = Field(pattern=ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    direction: Direction
    ts: AwareDatetime = Field(description="UTC time the decision was made")
    track_id: int = Field(ge=0, le=INT64_MAX)
    identity: str | None = Field(None, pattern=ID_PATTERN)
    identity_kind: IdentityKind
    role: Role
    role_source: RoleSource
    score: float | None = Field(None, ge=-1, le=1)
    margin: float | None = Field(None, ge=0, le=2)
    quality: float = Field(ge=0, le=1)
    frames_used: int = Field(ge=1, le=10_000)
    gallery_version: int = Field(ge=0, le=INT64_MAX)
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    search_id: str | None = Field(None, pattern=ID_PATTERN)

    _ts = field_validator("ts")(_utc_in_range)

    @model_validator(mode="after")
    def _identity_matches_kind(self) -> Passage:
        if (self.identity is None) != (self.identity_kind == "none"):
            raise ValueError("identity must be set exactly when identity_kind is not 'none'")
        return self


OutboxErrorCode = Literal["disk_full", "corrupt", "read_only", "io_error", "sqlite_error"]


class OutboxTrouble(_Payload):
    """The edge cannot use its outbox file: since when, why, how many passages wait in memory."""

    code: OutboxErrorCode
    since: AwareDatetime
    waiting: int = Field(0, ge=0)


class EdgeStatus(_Payload):
    """Retained on ``.../gates/<gate>/status``; the last will says ``offline``."""

    site: str = Field(pattern=ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    state: Literal["online", "offline"]
    camera_state: CameraState | None = None
    fps: float | None = Field(None, ge=0, le=10_000, allow_inf_nan=False)
    latency_ms: dict[str, float] = Field(default_factory=dict, max_length=64)
    gallery_version: int | None = Field(None, ge=0, le=INT64_MAX)
    outbox_depth: int | None = Field(None, ge=0, le=INT64_MAX)
    dropped_frames: int | None = Field(None, ge=0, le=INT64_MAX)
    refused_events: int | None = Field(None, ge=0, le=INT64_MAX)
    outbox_error: OutboxTrouble | None = None
    lost_events: int | None = Field(None, ge=0, le=INT64_MAX)
    refused_publishes: int | None = Field(
        None,
        ge=0,
        le=INT64_MAX,
        description="Publishes the broker refused (PUBACK reason code) since start",
    )
    match_threshold: float | None = Field(
        None, ge=-1, le=1, description="Score at or above which the edge names a gallery person."
    )
    match_threshold_why: str | None = Field(
        None, max_length=500, description="Where the threshold comes from (target FPIR, size)."
    )
    calibration: str | None = Field(
        None,
        max_length=300,
        description="The calibration curve in use: pack, population and development sets "
        "(none: no curve, or a configured threshold without one).",
    )
    gallery_templates: int | None = Field(
        None,
        ge=0,
        le=INT64_MAX,
        description="Templates in the gallery in use: the N of the threshold.",
    )
    captures_sent: int | None = Field(
        None,
        ge=0,
        le=INT64_MAX,
        description="Gate captures (review and learn, GateCapture) published since start.",
    )
    status_interval_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="Seconds between this edge's statuses: the server calls it offline when a "
        "status is overdue.",
    )
    software: str | None = Field(
        None, max_length=100, description="The edge's software and version (gatewatch 0.1.0)."
    )
    ts: AwareDatetime | None = None

    _ts = field_validator("ts")(_utc_in_range)

    @field_validator("latency_ms")
    @classmethod
    def _finite_latencies(cls, v: dict[str, float]) -> dict[str, float]:
        for stage, ms in v.items():
            if not (0 <= ms <= 3_600_000) or len(stage) > 64:
                raise ValueError(f"latency {stage[:64]!r}: {ms} ms is not a duration")
        return v


class Ack(_Payload):
    """Server -> edge on ``.../gates/<gate>/acks``: these events are committed."""

    event_ids: list[str] = Field(min_length=1, max_length=10_000)

    @field_validator("event_ids")
    @classmethod
    def _hex_ids(cls, v: list[str]) -> list[str]:
        for e in v:
            if len(e) != 32 or any(c not in "0123456789abcdef" for c in e):
                raise ValueError(f"event id {e!r} is not a uuid4 hex")
        return v


class SearchOrder(_Payload):
    """Retained on ``.../searches/<search_id>``: report any track matching this, at once.

    There is no priority: every active search is a missing person and every edge reports a
    match at once. (Orders had a ``priority`` field that no edge read; one retained by an older
    server still parses, the field dropped.)
    """

    search_id: str = Field(pattern=ID_PATTERN)
    person_id: str | None = Field(None, pattern=ID_PATTERN)
    template: list[float] | None = Field(None, min_length=16, max_length=4096)
    model_id: str | None = None
    threshold: float | None = Field(None, ge=-1, le=1)
    created: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_priority(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("priority") in ("normal", "urgent"):
            data = {k: v for k, v in data.items() if k != "priority"}
        return data

    @model_validator(mode="after")
    def _one_target(self) -> SearchOrder:
        if (self.person_id is None) == (self.template is None):
            raise ValueError("a search names exactly one of person_id or template")
        if self.template is not None and self.model_id is None:
            raise ValueError("a template search must say which model_id made the template")
        return self


AlertRuleName = Literal[
    "not_seen",
    "out_not_back",
    "out_at_night",
    "no_passage_today",
    "sighting",
    "watchlist_seen",
    "visitor_inside_at_night",
]


class Alert(_Payload):
    """Published on ``.../alerts``: an elder-watch, search or watchlist alert. Person id only.

    An alert is published again with ``state: resolved`` when its condition ended by itself
    (the elder came back); the evidence then names the passage that ended it.
    """

    alert_id: int = Field(ge=1)
    rule: AlertRuleName
    person_id: str = Field(pattern=ID_PATTERN)
    created: AwareDatetime
    evidence: dict[str, str | float | int | None] = Field(default_factory=dict)
    priority: Literal["normal", "high"] = "normal"
    state: Literal["open", "resolved"] = "open"


JPEG_B64_MAX = 200_000  # a small evidence JPEG, base64: ~150 kB at most


def jpeg_b64(v: str, what: str = "a picture") -> str:
    """``v`` if it is base64 of a JPEG (its first bytes); a ValueError naming ``what`` if not."""
    try:
        head = base64.b64decode(v[:8], validate=True)
    except binascii.Error as e:
        raise ValueError(f"{what} must be base64") from e
    if not head.startswith(b"\xff\xd8\xff"):
        raise ValueError(f"{what} must be a JPEG")
    return v


class EvidencePicture(_Payload):
    """The face of a sighting candidate, for an officer to confirm by eye (active searches only).

    ``aligned``: the aligned face crop the model embedded; ``context``: about 320 px around the
    head. Both JPEG, base64.
    """

    aligned_jpeg_b64: str = Field(min_length=8, max_length=JPEG_B64_MAX)
    context_jpeg_b64: str = Field(min_length=8, max_length=JPEG_B64_MAX)

    _is_jpeg = field_validator("aligned_jpeg_b64", "context_jpeg_b64")(
        lambda v: jpeg_b64(v, "an evidence picture")
    )


class SightingCandidate(_Payload):
    """Edge -> server on ``.../gates/<gate>/sightings``: a track that may be a searched person.

    It never names the passage: the passage's identity comes from the decision rule alone. The
    candidate says how well the track matched the search's target and on how many frames. The
    topic also carries ``VisitorMatch`` (look back); ``kind`` tells them apart.
    """

    kind: Literal["candidate"] = "candidate"
    candidate_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="uuid4().hex made at the edge")
    search_id: str = Field(pattern=ID_PATTERN)
    site: str = Field(pattern=ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime
    # The server's column is a 32-bit integer (PostgreSQL int4): a larger id would be lost there.
    track_id: int = Field(ge=0, le=INT32_MAX)
    score: float = Field(ge=-1, le=1, description="The track's best score against the target")
    frames_at_threshold: int = Field(ge=2, le=10_000, description="Frames >= search threshold")
    frames_considered: int = Field(ge=2, le=10_000)
    threshold: float = Field(ge=-1, le=1)
    event_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$", description="Its passage")
    model_id: str = Field(min_length=1, max_length=200)
    evidence: EvidencePicture | None = None

    _ts = field_validator("ts")(_utc_in_range)

    @model_validator(mode="after")
    def _frames(self) -> SightingCandidate:
        if self.frames_at_threshold > self.frames_considered:
            raise ValueError("frames_at_threshold cannot exceed frames_considered")
        return self


CapturePurpose = Literal["review", "learn"]


class GateCapture(_Payload):
    """Edge -> server on ``.../gates/<gate>/sightings`` (``kind: capture``): a passage's face for
    the gallery that learns at the gate, sent for two kinds of passage only.

    ``review``: the passage was not named, but its best enrolled person scored in the review
    band just below the naming threshold (``score >= review_floor``); the server may make it a
    review item ("是否为 王秀华？") for an officer to confirm or reject, or keep it for the
    returning-visitor rule. ``learn``: the passage was named far above the threshold (the
    stricter learning point, enough frames, a clear margin); the server may add the template
    after its own checks (the anchor against the person's enrollment photos, one per person per
    day, a cap).

    ``template`` is the track's fused template (quality-weighted mean of its best frames,
    L2-normalised), the one the server would store; ``face`` the aligned crop and context picture
    an officer looks at. ``identity`` is what the passage itself said (the person for ``learn``,
    the visitor id or none for ``review``).
    """

    kind: Literal["capture"] = "capture"
    capture_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="uuid4().hex made at the edge")
    event_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Its passage")
    site: str = Field(pattern=ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime
    purpose: CapturePurpose
    person_id: str = Field(pattern=ID_PATTERN, description="The best enrolled person")
    identity: str | None = Field(None, pattern=ID_PATTERN, description="What the passage said")
    score: float = Field(ge=-1, le=1, description="Mean score over the voting frames")
    margin: float = Field(ge=0, le=2, description="Over the runner-up person")
    frames: int = Field(ge=1, le=10_000, description="Frames that voted")
    threshold: float = Field(ge=-1, le=1, description="The naming threshold in force")
    review_floor: float = Field(ge=-1, le=1, description="Lower edge of the review band")
    gallery_version: int = Field(ge=0, le=INT64_MAX)
    model_id: str = Field(pattern=MODEL_ID_PATTERN)
    template: list[float] = Field(min_length=16, max_length=4096)
    face: EvidencePicture

    _ts = field_validator("ts")(_utc_in_range)

    @field_validator("template")
    @classmethod
    def _finite_unit(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("template holds NaN or infinity")
        norm = math.sqrt(sum(x * x for x in v))
        if not 0.98 <= norm <= 1.02:
            raise ValueError(f"template must be L2-normalised (norm {norm:.3f})")
        return v

    @model_validator(mode="after")
    def _purpose(self) -> GateCapture:
        if self.purpose == "learn" and self.identity != self.person_id:
            raise ValueError("a learn capture's passage must name its person")
        if self.purpose == "review" and self.identity == self.person_id:
            raise ValueError("a review capture is of a passage that did not name its person")
        return self
